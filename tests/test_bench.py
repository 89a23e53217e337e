"""The benchmarks `make bench` runs, at small sizes: they keep running, and the figures each prints agree with the
counts and files it reports on. Timings themselves are never asserted (these machines are noisy);
bench/bench_extract.py's run and bench/visual_tokens.py have their own tests (test_extract_frames.py,
test_launchers.py).
"""

import ast
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from video_utils import draw_frame

from extract_frames import RECORD_NAME, sample_indices

ROOT = Path(__file__).resolve().parents[1]


def run_bench(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'bench' / script), *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def number(text: str) -> float:
    return float(text.replace(',', ''))


def test_bench_reward_prints_ratios_of_its_own_rates():
    out = run_bench('bench_reward.py', '--completions', '2000', '--repeats', '1')
    assert 'realistic mix, 2,000 completions' in out
    lenient = number(re.search(r'reward_score +([\d,]+) completions/s +\(target 50,000: ([\d.]+)x\)', out)[1])
    official = number(re.search(r'official_score +([\d,]+) completions/s +\(lenient costs ([\d.]+)x\)', out)[1])
    assert lenient > 0 and official > 0
    target_ratio = float(re.search(r'\(target 50,000: ([\d.]+)x\)', out)[1])
    cost_ratio = float(re.search(r'\(lenient costs ([\d.]+)x\)', out)[1])
    assert math.isclose(target_ratio, lenient / 50_000, abs_tol=0.051)
    assert math.isclose(cost_ratio, official / lenient, abs_tol=0.051)
    shapes = [float(ms) for ms in re.findall(r'^  \S.*? +([\d.]+) ms$', out, re.MULTILINE)]
    assert len(shapes) == 6
    worst = float(re.search(r'worst ([\d.]+) ms \(target 50 ms: ([\d.]+)x headroom\)', out)[1])
    assert worst == max(shapes)


def test_bench_preprocess_accounts_for_every_row():
    from bench.bench_preprocess import HELD_OUT_EVERY  # every such scene stands for a benchmark scene

    out = run_bench(
        'bench_preprocess.py', '--rows', '400', '--scenes', '10', '--frames_per_scene', '4', '--num_frames', '4'
    )
    lines = re.findall(
        r'^(\S+) +(\d+) rows read .*?; (\d+) written \(\d+ MiB, (\d+) scenes, layouts (\{.*?\}), dropped (\{.*?\})\)$',
        out,
        re.MULTILINE,
    )
    assert [line[0] for line in lines] == ['bench.jsonl', 'conv.json']
    for _, read, written, scenes, layouts, dropped in lines:
        dropped = ast.literal_eval(dropped)  # counts by reason, as printed
        assert int(read) == 400 and int(written) + sum(dropped.values()) == 400  # nothing silently lost
        assert sum(ast.literal_eval(layouts).values()) == 400
        assert set(dropped) == {'excluded_scene'} and int(scenes) == 10 - len(range(0, 10, HELD_OUT_EVERY))


def test_bench_learning_curve_is_the_rewards_the_trainer_logged(tmp_path):
    out = run_bench('bench_learning.py', '--output_dir', str(tmp_path), '--steps', '2', '--window', '1')
    printed = [float(r) for r in re.search(r'^mean vsi_reward per step: (.*)$', out, re.MULTILINE)[1].split()]
    assert len(printed) == 2
    # swift's completions log, one line per step (the last may be written twice): every question's answer is B
    steps = {}
    for line in (tmp_path / 'grpo' / 'completions.jsonl').read_text().splitlines():
        row = json.loads(line)
        assert set(row['solution']) == {'B'}
        steps.setdefault(row['step'][0], list(zip(row['completion'], row['VsiReward'], strict=True)))
    assert sorted(steps) == ['1', '2']
    letters = [(completion, reward) for pairs in steps.values() for completion, reward in pairs]
    letters = [(completion, reward) for completion, reward in letters if re.fullmatch(r'[A-Z]', completion)]
    assert letters  # the tiny model's one-token answers are mostly letters
    for completion, reward in letters:  # a bare letter is right exactly when it is B
        assert reward == (1.0 if completion == 'B' else 0.0)
    means = [sum(reward for _, reward in steps[step]) / len(steps[step]) for step in ('1', '2')]
    assert printed == [round(mean, 2) for mean in means]
    assert (tmp_path / 'reward_curve.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


@pytest.mark.parametrize('flag', ['--frames', '--max_pixels', '--video_max_pixels'])
def test_visual_tokens_refuses_a_zero_instead_of_counting_the_yaml_value(flag, monkeypatch, capsys):
    """`--frames 0` counted the YAML's 32 frames and printed them as the answer (0 was taken as unset)."""
    import bench.visual_tokens as visual_tokens

    monkeypatch.setattr(visual_tokens, 'setup_qwen_vl_utils', lambda *args: pytest.fail(f'counted with {args}'))
    with pytest.raises(SystemExit) as exit_info:
        visual_tokens.main([flag, '0'])
    assert exit_info.value.code == 2 and f'{flag[2:]} must be positive' in capsys.readouterr().err


@pytest.mark.parametrize('flag', ['--completions', '--repeats'])
def test_bench_reward_refuses_to_measure_nothing(flag):
    """`--repeats 0` printed 0 completions/s and inf ms, figures nothing had measured."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'bench' / 'bench_reward.py'), flag, '0'], capture_output=True, text=True
    )
    assert proc.returncode == 2 and f'{flag} must be at least 1' in proc.stderr and not proc.stdout


@pytest.mark.parametrize(
    ('flags', 'message'),
    [
        (['--window', '0'], '--window must be at least 1'),
        (['--steps', '0'], '--steps must be at least 1'),
        (['--num_generations', '0'], '--num_generations must be at least 2'),
        # the first and last 5 of 2 steps are the same 2 steps: "first 5 steps 0.250 -> last 5 steps 0.250 (1.0x)"
        (['--steps', '2'], '--window must be at most half of --steps (1), got 5'),
    ],
)
def test_bench_learning_refuses_sizes_it_cannot_report_before_training(flags, message, monkeypatch, capsys):
    """`--window 0` trained for minutes, then divided by zero."""
    import bench.bench_learning as bench_learning

    monkeypatch.setattr(bench_learning, 'prepare', lambda *args, **kwargs: pytest.fail('prepared a run'))
    monkeypatch.setattr(sys, 'argv', ['bench_learning.py', *flags])
    with pytest.raises(SystemExit) as exit_info:
        bench_learning.main()
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_bench_learning_prints_no_ratio_from_a_start_of_zero(monkeypatch, capsys, tmp_path):
    """A first window scoring 0 (the tiny model's first step did) printed 1000000000.0x: a division by 1e-9."""
    import bench.bench_learning as bench_learning

    for name in ('prepare', 'train', 'plot'):
        monkeypatch.setattr(bench_learning, name, lambda *args, **kwargs: None)
    monkeypatch.setattr(bench_learning, 'keep_answer', lambda *args: 6)
    rewards = [0.0, 0.0, 0.125, 0.25, 1.0, 0.5]
    monkeypatch.setattr(bench_learning, 'read_rewards', lambda grpo_dir: rewards)
    # by hand: window 2 starts at (0 + 0) / 2; window 3 gives (0.25 + 1 + 0.5) / 3 over (0 + 0 + 0.125) / 3 = 14
    for window, expected in ((2, '0.000 -> last 2 steps 0.750 (no ratio: the first steps scored 0)'), (3, '(14.0x)')):
        argv = ['bench_learning.py', '--output_dir', str(tmp_path), '--steps', '6', '--window', str(window)]
        monkeypatch.setattr(sys, 'argv', argv)
        bench_learning.main()
        assert expected in capsys.readouterr().out


@pytest.mark.parametrize('flag', ['--repeats', '--copies', '--num_frames', '--workers'])
def test_bench_extract_refuses_to_measure_nothing(flag, capsys):
    from bench import bench_extract

    with pytest.raises(SystemExit) as stop:
        bench_extract.parse_args([flag, '0'])
    assert stop.value.code == 2
    assert f'{flag} must be at least 1, got 0' in capsys.readouterr().err


def _numbered_frame(number: int) -> np.ndarray:
    return draw_frame(number, 160, 120).astype(np.float64)


def test_bench_extract_same_frames_means_the_same_indices_and_frame_numbers():
    from bench.bench_extract import compare

    reference = [_numbered_frame(3), _numbered_frame(7)]
    assert compare(reference, [_numbered_frame(3), _numbered_frame(7) + 2], True) == (True, 2.0)
    assert compare(reference, [_numbered_frame(3), _numbered_frame(8)], True)[0] is False
    # a frame one repeated part away: the same number and pixels, another index
    assert compare(reference, reference, False) == (False, 0.0)


@pytest.mark.parametrize('shifted', ['ours', 'decord'])
def test_bench_extract_tells_a_frame_one_part_away_from_the_wanted_one(shifted, tmp_path, monkeypatch):
    """The bench's long videos repeat one encoded part: frame k and frame k + part show the same number and pixels,
    so a method that picks a whole part off printed `yes (0.00)`."""
    from bench import bench_extract

    part, repeat, num_frames = 100, 3, 4
    wanted = sample_indices(part * repeat, num_frames)  # [0, 100, 199, 299]: k and k % part differ
    shift = {'ours': 0, 'decord': 0, shifted: part}

    class Pool:
        def map(self, run_one, jobs, chunksize=1):
            for method, _video, out_dir, _count, _threads in jobs:
                out_dir.mkdir(parents=True, exist_ok=True)
                indices = [min(k + shift.get(method, 0), part * repeat - 1) for k in wanted]
                for slot, k in enumerate(indices):
                    frame = Image.fromarray(draw_frame(k % part, 160, 120))
                    frame.save(out_dir / f'frame_{slot:04d}.jpg', quality=95)
                if method != 'full':
                    (out_dir / RECORD_NAME).write_text(json.dumps({'indices': indices}))
            return [1.0] * len(jobs)

    monkeypatch.setattr(bench_extract, 'make_videos', lambda work_dir, config, copies: [work_dir / 'v.mp4'])
    args = SimpleNamespace(copies=1, repeats=1, num_frames=num_frames, threads=1)
    result = bench_extract.bench_config(Pool(), tmp_path, (640, 480, 30, part, repeat), args)
    assert result['ours_vs_full'][0] is (shifted != 'ours')
    assert result['decord_vs_full'][0] is (shifted != 'decord')


def test_bench_extract_prints_the_ratios_of_its_rates(monkeypatch, capsys):
    """Ratios and targets from stubbed measurements: ours/decord and ours/full, wall clock and (CPU)."""
    from bench import bench_extract

    result = {
        'name': '640x480 GOP 30',
        'video': Path('v.mp4'),
        'frames': 2400,
        'per_minute': {'ours': 60.0, 'decord': 30.0, 'full': 20.0},
        'cpu': {'ours': 1.0, 'decord': 2.5, 'full': 6.0},
        'ours_vs_full': (True, 0.0),
        'decord_vs_full': (False, 1.5),
    }

    class Pool:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    context = SimpleNamespace(Pool=lambda workers: Pool())
    monkeypatch.setattr(bench_extract.multiprocessing, 'get_context', lambda method: context)
    monkeypatch.setattr(bench_extract, 'bench_config', lambda *args: result)
    monkeypatch.setattr(bench_extract, 'edit_list_check', lambda *args: 'edit list note')
    monkeypatch.setattr(bench_extract, 'decoding_alone', lambda *args: 'ceiling note')
    assert bench_extract.main(['--quick', '--workers', '1', '--repeats', '1']) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith('640x480 GOP 30'))
    # 60/30 = 2.00x (CPU 2.5/1), 60/20 = 3.00x (CPU 6/1)
    assert re.search(r' 2\.00x \(2\.50x\) +3\.00x \(6\.00x\)  ours yes \(0\.00\), decord NO \(1\.50\)$', row), row
    assert 'target ours >= 1.2x decord on 640x480 GOP 30: met (2.00x wall clock, 2.50x CPU, 2400-frame' in out
    assert 'target ours >= 4.0x full decoding on 640x480 GOP 30: MISSED (3.00x wall clock, 6.00x CPU' in out
