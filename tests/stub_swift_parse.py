"""swift's own front end without the training, for tests/test_launchers.py: command lines in, RLHFArguments out.

Reads a JSON list of command lines (what follows `swift rlhf`) on stdin. For each it expands a leading YAML
exactly as the `swift` command does (`swift.cli.main.parse_yaml_args`, which also exports the YAML's ENV block)
and parses the result with swift's parser into `RLHFArguments`, so every check swift makes before it loads the
model runs, and an unknown or renamed flag fails. Prints one line, `RESULT <json>`: per command line,
{"ok": true, "args": {field: value}} or {"ok": false, "error": "..."}.

Run as a subprocess: RLHFArguments writes RANK / WORLD_SIZE / MASTER_ADDR into os.environ and creates output
folders. Server-mode arguments would connect to the vLLM server while being built; there is none here, so that
connection (`_init_external_vllm`) is skipped and the server address is checked as a plain argument.
"""

import dataclasses
import json
import sys

from swift.arguments import RLHFArguments
from swift.cli.main import parse_yaml_args
from swift.utils import parse_args

RLHFArguments._init_external_vllm = lambda self: None


def build(argv: list[str]) -> dict:
    argv = list(argv)
    try:
        parse_yaml_args(argv)
        args, remaining = parse_args(RLHFArguments, argv)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - report whatever swift raises
        return {'ok': False, 'error': f'{type(error).__name__}: {error}'}
    if remaining:
        return {'ok': False, 'error': f'remaining_argv: {remaining}'}
    fields = {field.name: getattr(args, field.name, None) for field in dataclasses.fields(args)}
    return {'ok': True, 'args': json.loads(json.dumps(fields, default=str))}


if __name__ == '__main__':
    results = [build(argv) for argv in json.load(sys.stdin)]
    print('RESULT ' + json.dumps(results))
