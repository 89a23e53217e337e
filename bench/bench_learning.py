"""Proof that `vsi_reward` drives learning: GRPO on a trivially learnable subset raises the mean reward.

The subset is every multiple-choice training question of the synthetic scenes whose answer is `B`; the model
is the tiny random Qwen3-VL with its answer prior (its one-token answers are letters and digits, so a group
of 8 samples often disagrees and GRPO gets a gradient). Training runs through the production launcher
(`run_vsi_grpo.sh`, MODE=local) exactly as the demo does. Prints the mean reward of the first and last steps and
their ratio, and saves the reward curve as a PNG. Nothing is asserted: read the figures.

Usage::

    python bench/bench_learning.py --output_dir demo_out/learning --steps 40
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.run_demo import DemoConfig, DemoPaths, prepare, read_rewards, train  # noqa: E402
from vsi_scoring import MCA_QUESTION_TYPES  # noqa: E402

TARGET = 'B'


def keep_answer(dataset: Path, target: Path, answer: str) -> int:
    """Copy the rows whose solution is `answer` into `target` (same folder, so relative image paths hold)."""
    rows = [line for line in dataset.read_text().splitlines() if json.loads(line)['solution'] == answer]
    target.write_text('\n'.join(rows) + '\n')
    return len(rows)


def plot(rewards: list[float], path: Path, window: int) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    steps = range(1, len(rewards) + 1)
    smooth = [
        sum(rewards[max(0, i - window + 1) : i + 1]) / len(rewards[max(0, i - window + 1) : i + 1])
        for i in range(len(rewards))
    ]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(steps, rewards, 'o', alpha=0.4, label='mean vsi_reward per step')
    axis.plot(steps, smooth, '-', label=f'moving mean ({window} steps)')
    axis.set(xlabel='GRPO step', ylabel='reward', ylim=(-0.02, 1.02), title='GRPO with vsi_reward: answer-is-B subset')
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--output_dir',
        type=lambda path: Path(path).expanduser(),  # `make bench DEMO_DIR=~/x` passes the ~ on
        default=Path('demo_out/learning'),
        help='work folder (default: %(default)s)',
    )
    parser.add_argument('--steps', type=int, default=30, help='GRPO steps (default: %(default)s)')
    parser.add_argument('--num_generations', type=int, default=8, help='GRPO group size (default: %(default)s)')
    parser.add_argument(
        '--learning_rate', type=float, default=1e-3, help='LoRA learning rate (tiny model) (default: %(default)s)'
    )
    parser.add_argument(
        '--window', type=int, default=5, help='steps averaged at the start and the end (default: %(default)s)'
    )
    args = parser.parse_args()
    # Checked before training: --window 0 trained for minutes, then divided by zero.
    for name, low in (('steps', 1), ('num_generations', 2), ('window', 1)):
        if getattr(args, name) < low:
            parser.error(f'--{name} must be at least {low}, got {getattr(args, name)}')
    if args.window > args.steps // 2:  # the first and last windows would share steps and show one mean twice
        parser.error(f'--window must be at most half of --steps ({args.steps // 2}), got {args.window}')

    config = DemoConfig(
        output_dir=args.output_dir,
        num_scenes=10,
        grpo_steps=args.steps,
        num_generations=args.num_generations,
        learning_rate=args.learning_rate,
    )
    paths = DemoPaths(config.output_dir)
    prepare(config, paths, preprocess_args=('--question_types', *MCA_QUESTION_TYPES))
    subset = paths.dataset.with_name(f'train_answer_{TARGET}.jsonl')
    kept = keep_answer(paths.dataset, subset, TARGET)
    paths.dataset = subset
    train(config, paths)

    rewards = read_rewards(paths.grpo_dir)
    first, last = rewards[: args.window], rewards[-args.window :]
    start, end = sum(first) / len(first), sum(last) / len(last)
    curve = paths.out / 'reward_curve.png'
    plot(rewards, curve, args.window)
    print(
        f'{kept} questions whose answer is {TARGET}; {len(rewards)} GRPO steps of {config.questions_per_step} '
        f'questions x {args.num_generations} samples'
    )
    print('mean vsi_reward per step: ' + ' '.join(f'{r:.2f}' for r in rewards))
    ratio = f'{end / start:.1f}x' if start else 'no ratio: the first steps scored 0'
    print(f'first {args.window} steps {start:.3f} -> last {args.window} steps {end:.3f} ({ratio})')
    print(f'reward curve: {curve}')


if __name__ == '__main__':
    main()
