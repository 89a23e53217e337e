"""The whole pipeline end to end on a CPU, with the bundle's own scripts, in a few minutes.

Every stage runs the same command a user runs on a GPU cluster (printed before it runs), only smaller:
synthetic scene videos -> `extract_frames.py` -> `preprocess_vsi_data.py` (test scenes excluded) -> GRPO through
`run_vsi_grpo.sh` and `vsi_grpo_config.yaml` (MODE=local, a tiny random Qwen3-VL, overrides only) ->
`eval_vsi_bench.py` for the base model and for the trained adapter -> the comparison table.

Usage::

    make demo                                   # = python demo/run_demo.py --output_dir demo_out
    python demo/run_demo.py --output_dir demo_out --grpo_steps 20 --num_scenes 8

The tiny model's answers start random (it is built with an answer prior so its completions are letters and
digits and GRPO sees rewards that vary); the point is that every stage runs and every artefact is real.

A second run reuses the scenes, the model, the frames and the training rows where they are complete, and trains
and evaluates again from scratch: the previous run's `grpo/` and `eval/` are removed before training, so no report
of an adapter that is gone outlives it. Stopping the demo (Ctrl-C, `kill PID`) stops the running stage too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the bundle's modules, when run as `python demo/run_demo.py`

from train_vsi_grpo import DEFAULT_CONFIG, load_config  # noqa: E402


@dataclass
class DemoConfig:
    """Sizes of the demo run; the defaults fit `make demo` in a few minutes on 2 cores."""

    output_dir: Path = Path('demo_out')
    num_scenes: int = 6
    num_frames: int = 4  # frames per question (the real protocol uses 32)
    grpo_steps: int = 20
    num_generations: int = 8  # as in the production YAML: 8 samples per question
    questions_per_step: int = 2
    # The direct prompt asks for one letter or number. A random model never learns to stop within a few dozen
    # steps, so the demo trains and evaluates one-token answers: each sampled token is then a whole answer.
    max_completion_length: int = 1
    learning_rate: float = 1e-3  # a tiny random model needs large steps to move within 20 (the YAML has 1e-6)
    eval_limit: int | None = None  # questions per evaluation (None: every test question)
    seed: int = 0


class Stopped(SystemExit):
    """SIGTERM (`kill PID`, a scheduler's stop) while a stage ran: exits 143, as the signal itself would."""


def _stop(signum: int, frame: object) -> None:
    raise Stopped(128 + signum)


@contextlib.contextmanager
def _stage(command: list[str], **popen: Any) -> Iterator[subprocess.Popen]:
    """The stage, started; a stop meanwhile (SIGTERM, as Stopped, or Ctrl-C) sends it SIGTERM and waits for it. A TERM
    sent to the demo alone left its training running without a parent, writing a checkpoint for a run that had ended
    (run_vsi_grpo.sh stops training on TERM). The handler is set from before the start to the end of the stage only,
    for whatever calls _run (the demo, bench/bench_learning.py)."""
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        stage = subprocess.Popen(command, **popen)
        try:
            yield stage
        except BaseException:
            stage.terminate()
            stage.wait()
            raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(command: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> None:
    """Run one stage from the bundle folder, echoing it as a user would type it; a failing stage stops the demo."""
    shown = ' '.join(f'{k}={shlex.quote(v)}' for k, v in (env or {}).items())
    print(f'\n$ {shown + " " if shown else ""}{shlex.join(command)}', flush=True)
    full_env = {**os.environ, 'PYTHONUNBUFFERED': '1', **(env or {})}
    if log is None:
        with _stage(command, cwd=ROOT, env=full_env) as stage:
            returncode = stage.wait()
        if returncode:
            raise subprocess.CalledProcessError(returncode, command)
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f'(its output goes to {log}: `tail -f` it to follow; this stage takes the longest)', flush=True)
    with (
        open(log, 'w') as stream,
        _stage(command, cwd=ROOT, env=full_env, stdout=stream, stderr=subprocess.STDOUT) as stage,
    ):
        returncode = stage.wait()
    if returncode:
        tail = ''.join(log.read_text(errors='replace').splitlines(keepends=True)[-40:])
        raise RuntimeError(f'{command[0]} failed (exit {returncode}); last lines of {log}:\n{tail}')


def grpo_command(
    config: DemoConfig, model_dir: Path, dataset: Path, grpo_dir: Path, **extra: object
) -> tuple[list[str], dict[str, str]]:
    """The launcher call: the production YAML, with only what a CPU and a 24 MB model need overridden."""
    env = {
        'MODE': 'local',
        'MODEL': str(model_dir),
        'DATASET': str(dataset),
        'OUTPUT_DIR': str(grpo_dir),
        'PYTHON': sys.executable,
    }
    overrides = {
        'torch_dtype': 'float32',
        'max_steps': config.grpo_steps,
        'num_generations': config.num_generations,
        'per_device_train_batch_size': config.num_generations * config.questions_per_step,
        'gradient_accumulation_steps': 1,
        'max_completion_length': config.max_completion_length,
        'learning_rate': config.learning_rate,
        'warmup_ratio': 0,
        'save_steps': config.grpo_steps,
        'gradient_checkpointing': 'false',
        'report_to': 'none',
        'dataloader_num_workers': 0,
        'dataset_num_proc': 1,
        'add_version': 'false',
        'seed': config.seed,
        **extra,
    }
    command = ['bash', 'run_vsi_grpo.sh']
    for key, value in overrides.items():
        command += [f'--{key}', str(value)]
    return command, env


@dataclass
class DemoPaths:
    """Where each stage writes, below one output folder."""

    out: Path

    def __post_init__(self) -> None:
        self.out = self.out if self.out.is_absolute() else Path.cwd() / self.out
        self.scenes = self.out / 'scenes'
        self.frames = self.out / 'frames'
        self.model_dir = self.out / 'tiny_qwen3_vl'
        self.dataset = self.out / 'data' / 'train.jsonl'
        self.grpo_dir = self.out / 'grpo'
        self.grpo_log = self.out / 'grpo.log'
        self.eval_dir = self.out / 'eval'
        self.marker = self.out / '.vsi_demo_output'  # written by the demo: what it wrote may be replaced


def _claim_output(paths: DemoPaths) -> None:
    """Refuse to replace or remove what the demo did not make (--output_dir pointed at a folder of other work)."""
    ours = paths.marker.is_file() or paths.grpo_log.is_file()  # grpo.log: a folder of a demo run before the marker
    if not ours:
        written = (paths.scenes, paths.frames, paths.model_dir, paths.dataset, paths.grpo_dir, paths.eval_dir)
        foreign = [str(d) for d in written if d.exists()]
        if foreign:
            raise RuntimeError(
                f'not made by the demo, which would replace or remove them: {", ".join(foreign)}; choose another '
                '--output_dir or remove them yourself'
            )
    paths.out.mkdir(parents=True, exist_ok=True)
    paths.marker.write_text('made by demo/run_demo.py\n')


def prepare(config: DemoConfig, paths: DemoPaths, preprocess_args: tuple[str, ...] = ()) -> None:
    """Scenes, tiny model, frames and swift training rows (test scenes excluded)."""
    _claim_output(paths)
    py = sys.executable
    _run(
        [py, 'demo/make_synthetic_scenes.py', '--output_dir', str(paths.scenes)]
        + ['--num_scenes', str(config.num_scenes), '--seed', str(config.seed)]
    )
    _run(
        [py, 'demo/build_tiny_qwen3_vl.py', '--output_dir', str(paths.model_dir), '--seed', str(config.seed)]
        + ['--answer_prior']
    )
    _run(
        [py, 'extract_frames.py', '--video_dir', str(paths.scenes / 'videos'), '--output_dir', str(paths.frames)]
        + ['--num_frames', str(config.num_frames), '--no_progress']
    )
    _run(
        [py, 'preprocess_vsi_data.py', '--input_path', str(paths.scenes / 'train.json')]
        + ['--frames_dir', str(paths.frames), '--output_path', str(paths.dataset)]
        + ['--num_frames', str(config.num_frames), '--exclude_scenes', str(paths.scenes / 'test.jsonl')]
        + ['--no_progress', *preprocess_args]
    )


def train(config: DemoConfig, paths: DemoPaths, **overrides: object) -> Path:
    """GRPO through run_vsi_grpo.sh; returns the LoRA checkpoint. A previous run's folder is removed first: swift
    appends to its logging.jsonl, and its checkpoint of the same step would pass for this run's. So are the previous
    evaluations: their reports describe that adapter, and would stay beside a new run that fails or is stopped."""
    command, env = grpo_command(config, paths.model_dir, paths.dataset, paths.grpo_dir, **overrides)
    if paths.dataset.is_file():  # too few: swift trains no step and writes no checkpoint, after a minute of start-up
        rows = sum(1 for line in paths.dataset.open(encoding='utf-8') if line.strip())
        if rows < config.questions_per_step:
            raise RuntimeError(
                f'{paths.dataset} holds {rows} training questions, fewer than --questions_per_step '
                f'{config.questions_per_step}: GRPO would train no step; use more --num_scenes or fewer questions '
                'per step'
            )
    _claim_output(paths)
    shutil.rmtree(paths.eval_dir, ignore_errors=True)
    shutil.rmtree(paths.grpo_dir, ignore_errors=True)
    _run(command, env=env, log=paths.grpo_log)
    adapter = paths.grpo_dir / f'checkpoint-{config.grpo_steps}'
    if not (adapter / 'adapter_config.json').is_file():
        raise RuntimeError(f'GRPO wrote no LoRA checkpoint at {adapter}; see {paths.grpo_log}')
    return adapter


def evaluate(config: DemoConfig, paths: DemoPaths, name: str, adapter: Path | None) -> Path:
    """eval_vsi_bench.py on the test scenes; returns the results.json it wrote (results_subset.json under
    --eval_limit: fewer questions than the test set are reported as a subset). `--overwrite`: a rerun trains a new
    adapter at the same path, and the evaluator would resume the old one's predictions (it records paths)."""
    out = paths.eval_dir / name
    command = [sys.executable, 'eval_vsi_bench.py', '--model', str(paths.model_dir), '--model_type', 'qwen3_vl']
    command += ['--overwrite']
    command += ['--dataset', str(paths.scenes / 'test.jsonl'), '--frames_dir', str(paths.frames)]
    command += ['--num_frames', str(config.num_frames), '--output_dir', str(out), '--infer_backend', 'pt']
    command += ['--batch_size', '8', '--max_new_tokens', str(config.max_completion_length)]
    if adapter is not None:
        command += ['--adapters', str(adapter)]
    if config.eval_limit is not None:
        command += ['--limit', str(config.eval_limit)]
    # the pixel budget training used, as the README asks of every evaluation: the YAML's ENV block sets it only when
    # the shell does not (train_vsi_grpo.resolve), so a MAX_PIXELS the user exported is what training used
    max_pixels = os.environ.get('MAX_PIXELS') or str(load_config(DEFAULT_CONFIG)[0]['MAX_PIXELS'])
    _run(command, env={'MAX_PIXELS': max_pixels})
    written = [out / 'results.json', out / 'results_subset.json']
    return max((path for path in written if path.is_file()), key=lambda path: path.stat().st_mtime_ns)


def read_rewards(grpo_dir: Path) -> list[float]:
    """Mean `vsi_reward` per logged step, from swift's logging.jsonl."""
    rewards = []
    for line in (grpo_dir / 'logging.jsonl').read_text().splitlines():
        record = json.loads(line)
        if 'rewards/VsiReward/mean' in record:
            rewards.append(float(record['rewards/VsiReward/mean']))
    return rewards


def run_demo(config: DemoConfig) -> dict[str, Path]:
    """Run every stage into `config.output_dir` and return where each artefact is."""
    paths = DemoPaths(Path(config.output_dir))
    start = time.time()
    prepare(config, paths)
    adapter = train(config, paths)
    base = evaluate(config, paths, 'base', None)
    trained = evaluate(config, paths, 'grpo', adapter)
    _run([sys.executable, 'eval_vsi_bench.py', '--compare', str(base), str(trained)])

    artefacts = {
        'scenes (videos, test.jsonl, train.json)': paths.scenes,
        'frames': paths.frames,
        'training data': paths.dataset,
        'tiny model': paths.model_dir,
        'GRPO log (logging.jsonl in grpo/)': paths.grpo_log,
        'LoRA adapter': adapter,
        'base model results': base.with_suffix('.md'),
        'adapter results': trained.with_suffix('.md'),
        'comparison': trained.parent / 'comparison.md',
    }
    rewards = ' '.join(f'{r:.2f}' for r in read_rewards(paths.grpo_dir))
    print(f'\nDemo finished in {time.time() - start:.0f} s. Mean vsi_reward per GRPO step: {rewards}')
    for name, path in artefacts.items():
        print(f'  {name:<40} {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}')
    return artefacts


def main() -> None:
    defaults = DemoConfig()
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--output_dir',
        type=lambda path: Path(path).expanduser(),  # `make demo DEMO_DIR=~/x` passes the ~ on: the Makefile quotes it
        default=defaults.output_dir,
        help='where every artefact goes (default: %(default)s)',
    )
    parser.add_argument(
        '--num_scenes',
        type=int,
        default=defaults.num_scenes,
        help='synthetic scenes (train+test) (default: %(default)s)',
    )
    parser.add_argument(
        '--num_frames', type=int, default=defaults.num_frames, help='frames per question (default: %(default)s)'
    )
    parser.add_argument(
        '--grpo_steps', type=int, default=defaults.grpo_steps, help='GRPO optimizer steps (default: %(default)s)'
    )
    parser.add_argument(
        '--num_generations', type=int, default=defaults.num_generations, help='GRPO group size (default: %(default)s)'
    )
    parser.add_argument(
        '--questions_per_step',
        type=int,
        default=defaults.questions_per_step,
        help='questions per GRPO step (default: %(default)s)',
    )
    parser.add_argument(
        '--eval_limit', type=int, default=None, help='evaluate only this many test questions (default: all)'
    )
    parser.add_argument(
        '--seed', type=int, default=defaults.seed, help='seed for scenes, model and training (default: %(default)s)'
    )
    args = parser.parse_args()
    # Checked before the first stage: a bad size otherwise fails minutes later in swift, and --eval_limit 0
    # evaluated every question.
    least = {
        'num_scenes': 2,
        'num_frames': 1,
        'grpo_steps': 1,
        'num_generations': 2,
        'questions_per_step': 1,
        'eval_limit': 1,
        'seed': 0,
    }
    for name, low in least.items():
        value = getattr(args, name)
        if value is not None and value < low:
            parser.error(f'--{name} must be at least {low}, got {value}')
    config = DemoConfig(**vars(args))
    try:
        run_demo(config)
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f'demo failed: {error}', file=sys.stderr)
        sys.exit(1)
    except (Stopped, KeyboardInterrupt) as stop:
        print('demo stopped, and its running stage with it', file=sys.stderr)
        sys.exit(stop.code if isinstance(stop, Stopped) else 130)


if __name__ == '__main__':
    main()
