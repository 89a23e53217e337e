"""How fast preprocess_vsi_data.py turns question files into swift rows when the frame folders already exist.

Target: 100,000 rows in well under a minute. Builds a synthetic frame tree (one-byte `frame_XXXX.jpg` files: image
mode lists the folders and checks that no frame is empty, it never opens them) and question files in the benchmark
(JSONL) and conversations (JSON) layouts, then times the whole script path (read, convert, pick frames, exclude the
held-out scenes as a real run does, write the JSONL and summary) for each layout, and prints rows read per second.
Nothing is asserted: machines are noisy.

Usage::

    python bench/bench_preprocess.py [--rows 100000] [--scenes 1500] [--frames_per_scene 32] [--num_frames 32]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import preprocess_vsi_data as pp  # noqa: E402
from demo.make_synthetic_scenes import conversations_row  # noqa: E402

DATASETS = ('arkitscenes', 'scannet', 'scannetpp')
MC_TYPES = ('object_rel_direction_v1', 'object_rel_distance_v2', 'route_planning', 'obj_appearance_order')
NUMERIC_TYPES = ('object_counting', 'object_abs_distance', 'object_size_estimation', 'room_size_estimation')
HELD_OUT_EVERY = 20  # every 20th scene plays a benchmark scene, excluded as --exclude_scenes does


def make_frames(root: Path, scenes: int, frames: int) -> list[tuple[str, str]]:
    names = []
    for i in range(scenes):
        dataset, scene = DATASETS[i % len(DATASETS)], f'scene{i:04d}_00'
        folder = root / dataset / scene
        folder.mkdir(parents=True)
        for k in range(frames):
            (folder / f'frame_{k:04d}.jpg').write_bytes(b'\xff')  # not empty: an empty frame skips its scene
        names.append((dataset, scene))
    return names


def make_rows(scenes: list[tuple[str, str]], count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        dataset, scene = rng.choice(scenes)
        if i % 2:
            question_type = rng.choice(MC_TYPES)
            options = [
                f'{letter}. object {number}' for letter, number in zip('ABCD', rng.sample(range(100), 4), strict=True)
            ]
            answer = rng.choice('ABCD')
        else:
            question_type, options, answer = rng.choice(NUMERIC_TYPES), None, f'{rng.uniform(0.5, 20):.1f}'
        question = f'Question {i} about the {rng.choice(["chair", "table", "sofa", "lamp"])} in this room?'
        rows.append(
            {
                'id': i,
                'dataset': dataset,
                'scene_name': scene,
                'question_type': question_type,
                'question': question,
                'options': options,
                'ground_truth': answer,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rows', type=int, default=100_000, help='Questions per input file. (default: %(default)s)')
    parser.add_argument('--scenes', type=int, default=1500, help='Scene folders to create. (default: %(default)s)')
    parser.add_argument(
        '--frames_per_scene', type=int, default=32, help='Frame files per scene folder. (default: %(default)s)'
    )
    parser.add_argument(
        '--num_frames', type=int, default=32, help='--num_frames of the conversion. (default: %(default)s)'
    )
    parser.add_argument('--seed', type=int, default=0, help='Seed for the synthetic questions. (default: %(default)s)')
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix='bench_preprocess_') as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        scenes = make_frames(root / 'frames', args.scenes, args.frames_per_scene)
        rows = make_rows(scenes, args.rows, args.seed)
        (root / 'bench.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
        (root / 'conv.json').write_text(json.dumps([conversations_row(r) for r in rows]))
        print(
            f'setup: {args.scenes} scenes x {args.frames_per_scene} frames, {args.rows} rows per file '
            f'({time.perf_counter() - started:.1f} s)'
        )
        held_out = frozenset(scene for _, scene in scenes[::HELD_OUT_EVERY])
        for name in ('bench.jsonl', 'conv.json'):
            output = root / 'out' / f'{name}.train.jsonl'
            config = pp.PreprocessConfig(
                frames_dir=str(root / 'frames'),
                num_frames=args.num_frames,
                base_dir=str(output.parent),
                exclude_scenes=held_out,
                progress=False,
            )
            started = time.perf_counter()
            summary = pp.preprocess([str(root / name)], str(output), config)
            seconds = time.perf_counter() - started
            size = os.path.getsize(output) / 2**20
            rate = summary.rows_read / seconds
            print(
                f'{name:12s} {summary.rows_read:>7d} rows read in {seconds:5.2f} s = {rate:>9,.0f} rows/s; '
                f'{summary.written} written ({size:.0f} MiB, {summary.scenes} scenes, layouts {summary.layouts}, '
                f'dropped {summary.dropped})'
            )


if __name__ == '__main__':
    main()
