"""How fast the reward scores completions, on one core, next to the official extraction on the same input.

Targets: at least 50,000 completions/s on a realistic mix, and a 1 MB adversarial completion in
under 50 ms. Prints measured figures and ratios from this one run; nothing is asserted (machines are noisy).
Times are CPU seconds of this process (the scorers run on one thread): wall-clock time on a shared machine
measured its load (15,809/s and 50,159/s minutes apart).

Usage::

    python bench/bench_reward.py [--completions 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsi_scoring import format_score, official_score, reward_score  # noqa: E402

OPTIONS = ['A. chair', 'B. table', 'C. sofa', 'D. lamp']
MCA_FORMS = [
    'B',
    'B.',
    '(B)',
    'The answer is B.',
    'Answer: C',
    'A or B',
    'table',
    '<think>near</think><answer>B</answer>',
]
NUMERIC_FORMS = ['3', '3.5', '3.5 m', '350 cm', 'twelve', '1,250', '<think>count</think><answer>4</answer>', 'no idea']
ADVERSARIAL = {
    'letters "A A A ..."': 'A ' * 500_000,
    'digits "1 1 1 ..."': '1 ' * 500_000,
    'comma chain "1,1,1,..."': '1,' * 500_000,
    'open tags "<answer><answer>..."': '<answer>' * 125_000,
    'one word "aaaa..."': 'a' * 1_000_000,
    'long think then answer': '<think>' + 'x ' * 500_000 + '</think><answer>B</answer>',
}


def realistic_mix(n: int) -> list[tuple[str, str, str, list | None]]:
    rng = random.Random(0)  # every run times the same mix
    rows = []
    for _ in range(n):
        if rng.random() < 0.6:
            rows.append((rng.choice(MCA_FORMS), 'B', 'object_rel_distance', OPTIONS))
        else:
            rows.append((rng.choice(NUMERIC_FORMS), '3.5', 'object_abs_distance', None))
    return rows


def best_of(repeats: int, fn) -> float:
    """The least CPU time `fn` took in `repeats` calls."""
    best = float('inf')
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--completions', type=int, default=200_000, help='size of the realistic mix (default: %(default)s)'
    )
    parser.add_argument(
        '--repeats', type=int, default=3, help='timing repeats; the best is reported (default: %(default)s)'
    )
    args = parser.parse_args()
    for name in ('completions', 'repeats'):  # with none, 0 completions/s and inf ms were printed as measured
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be at least 1, got {getattr(args, name)}')

    rows = realistic_mix(args.completions)
    lenient = best_of(args.repeats, lambda: [reward_score(*row) for row in rows])
    official = best_of(args.repeats, lambda: [official_score(c, s, q) for c, s, q, _ in rows])
    print(f'realistic mix, {len(rows):,} completions (60% multiple choice, 40% numeric), one core (CPU time):')
    rate = len(rows) / lenient
    print(f'  reward_score   {rate:>12,.0f} completions/s  (target 50,000: {rate / 5e4:.1f}x)')
    print(f'  official_score {len(rows) / official:>12,.0f} completions/s  (lenient costs {lenient / official:.1f}x)')

    print('1 MB adversarial completions (reward_score for a letter and a number question, plus format_score):')
    worst = 0.0
    for name, completion in ADVERSARIAL.items():
        elapsed = best_of(
            args.repeats,
            lambda c=completion: (
                reward_score(c, 'B', 'object_rel_distance', OPTIONS),
                reward_score(c, '3', 'object_counting'),
                format_score(c),
            ),
        )
        worst = max(worst, elapsed)
        print(f'  {name:<34} {elapsed * 1000:7.2f} ms')
    print(f'  worst {worst * 1000:.2f} ms (target 50 ms: {0.05 / worst:.1f}x headroom)')


if __name__ == '__main__':
    main()
