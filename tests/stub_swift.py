"""Stand-in for the `swift` command in tests/test_launchers.py: no model and no GPU, but the same process shape.

`swift rollout ... --host H --port P` first starts one child process (in place of vLLM's workers), writes both
pids to STUB_PIDS and its argv and environment to STUB_ROLLOUT_LOG, then does what STUB_ROLLOUT says:

* ``ready``: after STUB_READY_DELAY seconds, answer GET /health and /health/ with 200 {"status": "ok"}, the routes
  swift's rollout server registers (swift/pipelines/infer/rollout.py, `_register_rl_rollout_app`);
* ``never``: stay alive without ever listening, like a server stuck loading;
* ``die``: exit with status 3 after 0.3 s, like a server that crashed while loading (its child lives on).

`swift rlhf ...` (with STUB_RLHF_CHILD set, first starting a sleeping child process, as swift's CLI runs torchrun)
appends {argv, env, health, pid, child, stdin} to STUB_RLHF_LOG, where health is the status the rollout server's
/health answered (None without a server) and stdin the file its standard input reads, writes STUB_RLHF_STEP (a JSON
row) as swift logs a training step, to <--output_dir>/v0-stub/logging.jsonl, then sleeps STUB_RLHF_SLEEP seconds and
exits with STUB_RLHF_EXIT (with STUB_RLHF_DIE set, it SIGKILLs itself instead). With STUB_RLHF_TERM_DELAY set, a
SIGTERM makes it wait for its child to end, then linger that many seconds before it exits, as a trainer saving its
state does.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

ENV_KEYS = ('CUDA_VISIBLE_DEVICES', 'NPROC_PER_NODE', 'MAX_PIXELS', 'ROOT_IMAGE_DIR', 'STUB_NOTE')


def _flag(argv: list[str], name: str, default: str | None = None) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else default


def _append(path: str, record: dict) -> None:
    with open(path, 'a', encoding='utf-8') as f:
        f.write(json.dumps(record) + '\n')


class HealthHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the name http.server calls
        if self.path.rstrip('/') == '/health':
            body = b'{"status": "ok"}'
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, *args):  # keep the rollout log short
        pass


def rollout(argv: list[str]) -> int:
    worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
    with open(os.environ['STUB_PIDS'], 'w', encoding='utf-8') as f:
        f.write(f'{os.getpid()} {worker.pid}\n')
    _append(os.environ['STUB_ROLLOUT_LOG'], {'argv': argv, 'env': {k: os.environ.get(k) for k in ENV_KEYS}})
    behaviour = os.environ.get('STUB_ROLLOUT', 'ready')
    if behaviour == 'die':
        time.sleep(0.3)
        return 3
    if behaviour == 'never':
        time.sleep(600)
        return 0
    time.sleep(float(os.environ.get('STUB_READY_DELAY', '0.5')))
    HTTPServer((_flag(argv, '--host', '0.0.0.0'), int(_flag(argv, '--port', '8000'))), HealthHandler).serve_forever()
    return 0


def rlhf(argv: list[str]) -> int:
    health = None
    host, port = _flag(argv, '--vllm_server_host'), _flag(argv, '--vllm_server_port')
    if host and port:
        try:
            with urllib.request.urlopen(f'http://{host}:{port}/health', timeout=5) as response:
                health = response.status
        except OSError:
            health = 'unreachable'
    child = None
    if os.environ.get('STUB_RLHF_CHILD'):
        child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
    if os.environ.get('STUB_RLHF_TERM_DELAY'):

        def linger(signum, frame):
            if child:
                child.wait()  # reaped: its pid is free for the kernel to give to another process
            time.sleep(float(os.environ['STUB_RLHF_TERM_DELAY']))
            sys.exit(128 + signum)

        signal.signal(signal.SIGTERM, linger)
    record = {'argv': argv, 'env': {k: os.environ.get(k) for k in ENV_KEYS}, 'health': health}
    stdin = os.path.realpath('/proc/self/fd/0')
    _append(os.environ['STUB_RLHF_LOG'], {**record, 'pid': os.getpid(), 'child': child and child.pid, 'stdin': stdin})
    if os.environ.get('STUB_RLHF_STEP'):
        run_dir = os.path.join(_flag(argv, '--output_dir'), 'v0-stub')
        os.makedirs(run_dir, exist_ok=True)
        _append(os.path.join(run_dir, 'logging.jsonl'), json.loads(os.environ['STUB_RLHF_STEP']))
    if os.environ.get('STUB_RLHF_DIE'):  # killed, as by the OOM killer: its child lives on, handed to init
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(os.environ.get('STUB_RLHF_SLEEP', '0')))
    return int(os.environ.get('STUB_RLHF_EXIT', '0'))


if __name__ == '__main__':
    command, rest = sys.argv[1], sys.argv[2:]
    sys.exit(rollout(rest) if command == 'rollout' else rlhf(rest))
