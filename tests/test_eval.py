"""eval_vsi_bench.py: model input, resumable predictions, run folders, and reports that equal vsi_scoring's numbers.

Model tests run the tiny random Qwen3-VL through swift's TransformersEngine on a handful of hand-made benchmark rows
with 32x32 frames. Scores in the score-only tests are worked out by hand in the comments, never by the code under
test.
"""

import ast
import contextlib
import errno
import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import eval_vsi_bench as ev
import extract_frames
import preprocess_vsi_data
import train_vsi_grpo
from tests.report_oracle import official_overall, recompute_scores
from vsi_scoring import OFFICIAL_RULES, build_prompt, official_score

NUM_FRAMES = 4
DIRECTION_OPTIONS = ['A. left', 'B. right', 'C. back']
ROUTE_OPTIONS = ['A. Turn Left', 'B. Turn Right', 'C. Go forward']
# Two scenes in the benchmark layout; frames as extract_frames.py writes them (<dataset>/<scene>/frame_0000.jpg).
BENCH_ROWS = [
    {
        'id': 0,
        'dataset': 'scannet',
        'scene_name': 'scene0000_00',
        'question_type': 'object_counting',
        'question': 'How many chair(s) are in this room?',
        'options': None,
        'ground_truth': '3',
    },
    {
        'id': 1,
        'dataset': 'scannet',
        'scene_name': 'scene0000_00',
        'question_type': 'object_rel_direction_easy',
        'question': 'If I am standing by the bed and facing the door, is the lamp to my left or right?',
        'options': DIRECTION_OPTIONS[:2],
        'ground_truth': 'A',
    },
    {
        'id': 2,
        'dataset': 'scannet',
        'scene_name': 'scene0000_00',
        'question_type': 'room_size_estimation',
        'question': 'What is the size of this room (in square meters)?',
        'options': None,
        'ground_truth': '24.5',
    },
    {
        'id': 3,
        'dataset': 'arkitscenes',
        'scene_name': '41069025',
        'question_type': 'route_planning',
        'question': 'You are a robot beginning at the door. How do you reach the sofa?',
        'options': ROUTE_OPTIONS,
        'ground_truth': 'B',
    },
    {
        'id': 4,
        'dataset': 'arkitscenes',
        'scene_name': '41069025',
        'question_type': 'object_abs_distance',
        'question': 'What is the direct distance between the sofa and the table (in meters)?',
        'options': None,
        'ground_truth': '1.8',
    },
    {
        'id': 5,
        'dataset': 'arkitscenes',
        'scene_name': '41069025',
        'question_type': 'object_rel_direction_medium',
        'question': 'Standing by the sofa facing the table, is the tv to my left, right or back?',
        'options': DIRECTION_OPTIONS,
        'ground_truth': 'C',
    },
]


class CountingEngine:
    """Wraps an engine (or answers by itself) and records every request it is asked to predict."""

    def __init__(self, inner=None, answer='B'):
        self.inner, self.answer, self.requests = inner, answer, []

    def infer(self, infer_requests, request_config=None, *, use_tqdm=None):
        self.requests += infer_requests
        if self.inner is not None:
            return self.inner.infer(infer_requests, request_config, use_tqdm=use_tqdm)
        message = SimpleNamespace(content=self.answer)
        usage = SimpleNamespace(prompt_tokens=7)
        return [SimpleNamespace(choices=[SimpleNamespace(message=message)], usage=usage) for _ in infer_requests]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text(''.join(json.dumps(row) + '\n' for row in rows), encoding='utf-8')
    return path


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    """test.jsonl and a frames folder with NUM_FRAMES distinct 32x32 frames per scene."""
    root = tmp_path_factory.mktemp('bench')
    rng = np.random.default_rng(0)
    for row in BENCH_ROWS:
        folder = root / 'frames' / row['dataset'] / row['scene_name']
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(NUM_FRAMES):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f'frame_{k:04d}.jpg')
    return SimpleNamespace(dataset=write_jsonl(root / 'test.jsonl', BENCH_ROWS), frames=root / 'frames')


@pytest.fixture(scope='module')
def tiny_engine(tiny_model_dir):
    import torch
    from swift.infer_engine import TransformersEngine

    return TransformersEngine(str(tiny_model_dir), model_type='qwen3_vl', torch_dtype=torch.float32, max_batch_size=4)


def eval_args(model, dataset, output_dir, *extra):
    return ev.parse_args(eval_argv(model, dataset, output_dir, *extra))


def eval_argv(model, dataset, output_dir, *extra):
    return [
        '--model',
        str(model),
        '--model_type',
        'qwen3_vl',
        '--torch_dtype',
        'float32',
        '--infer_backend',
        'pt',
        '--dataset',
        str(dataset),
        '--num_frames',
        str(NUM_FRAMES),
        '--output_dir',
        str(output_dir),
        *map(str, extra),
    ]


def scene_video(video_dir: Path, num_frames: int) -> None:
    """`<video_dir>/scannet/scene0000_00.mp4`, the first benchmark row's video: numbered 64x48 frames."""
    from video_utils import encode_video

    (video_dir / 'scannet').mkdir(parents=True)
    encode_video(video_dir / 'scannet' / 'scene0000_00.mp4', num_frames=num_frames, width=64, height=48)


def prediction_lines(path: Path) -> list:
    return [json.loads(line) for line in path.read_text(encoding='utf-8').splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------------------
# Inference with the tiny model
# ----------------------------------------------------------------------------------------------------------


def test_resume_redoes_only_unfinished_rows_and_report_equals_vsi_scoring(
    bench, tiny_engine, tiny_model_dir, tmp_path, caplog
):
    out = tmp_path / 'run'
    engine = CountingEngine(tiny_engine)
    ev.evaluate(
        eval_args(tiny_model_dir, bench.dataset, out, '--frames_dir', bench.frames, '--limit', 3, '--batch_size', 2),
        engine=engine,
    )
    assert len(engine.requests) == 3
    first = prediction_lines(out / 'predictions.jsonl')
    # --limit takes questions round-robin over the types: the first three rows all have different types
    assert [row['id'] for row in first] == ['0', '1', '2']

    # The model input is preprocessing's: one <image> per frame, then the official prompt word for word.
    request = engine.requests[1]
    row = BENCH_ROWS[1]
    assert request.messages == [
        {
            'role': 'user',
            'content': '<image>' * NUM_FRAMES + build_prompt(row['question'], row['question_type'], row['options']),
        }
    ]
    assert request.images == [
        str(bench.frames / 'scannet' / 'scene0000_00' / f'frame_{k:04d}.jpg') for k in range(NUM_FRAMES)
    ]

    # A kill in the middle of writing the third row leaves half a line without its newline.
    text = (out / 'predictions.jsonl').read_text(encoding='utf-8')
    complete = text[: text.rindex('\n', 0, len(text) - 1) + 1]
    (out / 'predictions.jsonl').write_text(complete + text[len(complete) : len(complete) + 20], encoding='utf-8')

    with caplog.at_level(logging.WARNING):
        results = ev.evaluate(
            eval_args(tiny_model_dir, bench.dataset, out, '--frames_dir', bench.frames, '--batch_size', 2),
            engine=engine,
        )
    cut = [r.name for r in caplog.records if 'ignoring the cut-off last line (20 bytes)' in r.getMessage()]
    assert cut == ['eval_vsi_bench']  # said once, not by each reading, in the evaluator's name
    # 3 first, then the cut row and the 3 never predicted: 4 more calls, none for rows 0 and 1
    assert len(engine.requests) == 3 + 4
    assert [
        r.messages[0]['content'].endswith(build_prompt(row['question'], row['question_type'], row['options']))
        for r, row in zip(engine.requests[3:], BENCH_ROWS[2:], strict=True)
    ] == [True] * 4
    rows = prediction_lines(out / 'predictions.jsonl')
    assert sorted(row['id'] for row in rows) == ['0', '1', '2', '3', '4', '5']
    assert rows[:2] == first[:2]  # finished rows are kept as they were
    for row in rows:
        assert row['num_images'] == NUM_FRAMES and isinstance(row['prediction'], str)

    # The report is vsi_scoring applied to the written predictions, nothing else.
    official, lenient = recompute_scores(rows)
    saved = json.loads((out / 'results.json').read_text(encoding='utf-8'))
    assert saved['official'] == official == results['official']
    assert saved['lenient'] == lenient
    assert saved['overall'] == official['overall'] and saved['num_questions'] == 6
    assert saved['overall'] == official_overall(rows)  # an independent copy of the official code agrees exactly
    assert {row['prompt_style'] for row in rows} == {'direct'} and saved['prompt_style'] == 'direct'
    assert saved['official_protocol'] is False and saved['official_protocol_differences'] == [
        '4 frames (official: 32, the common setting for Qwen models)',
        '6 questions (official: all 5,130)',
    ]
    markdown = (out / 'results.md').read_text(encoding='utf-8')
    assert (
        'Protocol: differs from the official VSI-Bench evaluation in 4 frames (official: 32, the common setting for '
        'Qwen models); 6 questions (official: all 5,130).'
    ) in markdown
    assert f'| **Overall** | 6 | **{official["overall"]:.2f}** | {lenient["overall"]:.2f} |' in markdown
    assert (out / 'results.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    # Everything predicted: a third run scores without calling the model, and another protocol is refused.
    ev.evaluate(eval_args(tiny_model_dir, bench.dataset, out, '--frames_dir', bench.frames), engine=engine)
    assert len(engine.requests) == 7
    with pytest.raises(ev.EvalError, match='prompt_style'):
        ev.evaluate(
            eval_args(tiny_model_dir, bench.dataset, out, '--frames_dir', bench.frames, '--prompt_style', 'think'),
            engine=engine,
        )


def test_enable_thinking_ends_the_prompt_with_the_templates_prefix(bench, tiny_engine, tiny_model_dir, tmp_path):
    """A model trained with swift's --enable_thinking true saw `<think>\n` after `assistant\n`: so does its evaluation.
    swift writes the prefix at the start of the answer too, so the think rule reads it as it stands."""
    runs, engine = {}, CountingEngine(tiny_engine)
    for name, extra in (('plain', ()), ('thinking', ('--enable_thinking',))):
        argv = ['--frames_dir', bench.frames, '--prompt_style', 'think', '--limit', 2, '--max_new_tokens', 2, *extra]
        runs[name] = ev.evaluate(eval_args(tiny_model_dir, bench.dataset, tmp_path / name, *argv), engine=engine)
    assert [r.chat_template_kwargs for r in engine.requests] == [
        {},
        {},
        {'enable_thinking': True},
        {'enable_thinking': True},
    ]
    prefix = tiny_engine.template.tokenizer.encode('<think>\n', add_special_tokens=False)
    assert len(prefix) == 2
    plain, thinking = (prediction_lines(tmp_path / name / 'predictions.jsonl') for name in ('plain', 'thinking'))
    assert [t['prompt_tokens'] - p['prompt_tokens'] for p, t in zip(plain, thinking, strict=True)] == [2, 2]
    assert [row['prediction'][:8] == '<think>\n' for row in plain + thinking] == [False, False, True, True]
    assert runs['thinking']['config']['enable_thinking'] is True and runs['plain']['config']['enable_thinking'] is False
    assert "the template's thinking prefix" in (tmp_path / 'thinking' / 'results_subset.md').read_text()
    # another protocol: the folder refuses the other setting
    with pytest.raises(ev.EvalError, match='enable_thinking: True there, False now'):
        ev.evaluate(
            eval_args(
                tiny_model_dir,
                bench.dataset,
                tmp_path / 'thinking',
                '--frames_dir',
                bench.frames,
                '--prompt_style',
                'think',
            ),
            engine=engine,
        )
    # the direct prompt's official rule reads the first word, which would be <think>
    with pytest.raises(SystemExit):
        eval_args('m', bench.dataset, tmp_path / 'direct', '--enable_thinking')


def test_adapter_is_applied_and_a_folder_of_another_adapter_is_refused(bench, tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    # A LoRA with random (not zero) B matrices, so that it changes the tiny model's answers.
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    config = LoraConfig(
        r=4,
        lora_alpha=32,
        init_lora_weights=False,
        target_modules=r'.*language_model.*\.(q_proj|v_proj|up_proj|down_proj)',
    )
    get_peft_model(model, config).save_pretrained(tmp_path / 'lora')

    common = ('--frames_dir', bench.frames, '--limit', 2, '--batch_size', 2)
    # through the command line, with the engine the script builds itself
    assert ev.main(eval_argv(tiny_model_dir, bench.dataset, tmp_path / 'base', *common)) == 0
    argv = eval_argv(tiny_model_dir, bench.dataset, tmp_path / 'lora_run', '--adapters', tmp_path / 'lora', *common)
    assert ev.main(argv) == 0
    # 2 of the 6 questions: a subset, reported beside (never as) results.json
    base = json.loads((tmp_path / 'base' / 'results_subset.json').read_text())
    tuned = json.loads((tmp_path / 'lora_run' / 'results_subset.json').read_text())
    assert tuned['config']['adapters'] == [str(tmp_path / 'lora')]
    base_rows = prediction_lines(tmp_path / 'base' / 'predictions.jsonl')
    tuned_rows = prediction_lines(tmp_path / 'lora_run' / 'predictions.jsonl')
    assert [r['id'] for r in base_rows] == [r['id'] for r in tuned_rows] == ['0', '1']
    assert [r['prediction'] for r in base_rows] != [r['prediction'] for r in tuned_rows]
    assert base['label'] != tuned['label']

    with pytest.raises(ev.EvalError, match='adapters'):
        ev.evaluate(eval_args(tiny_model_dir, bench.dataset, tmp_path / 'lora_run', *common))
    # --overwrite starts that folder over with the base model
    ev.evaluate(
        eval_args(tiny_model_dir, bench.dataset, tmp_path / 'lora_run', '--overwrite', *common),
        engine=CountingEngine(answer='A'),
    )
    assert [r['prediction'] for r in prediction_lines(tmp_path / 'lora_run' / 'predictions.jsonl')] == ['A', 'A']


def record_loaded_adapters(monkeypatch) -> list:
    """The adapters of each engine evaluate() builds, appended to the list returned; no model is loaded."""
    loaded = []

    def make_engine(args, backend, max_images, model_dtype):
        loaded.append(args.adapters)
        return CountingEngine(answer='A')

    monkeypatch.setattr(ev, 'make_engine', make_engine)
    monkeypatch.setattr(ev, 'resolve_model', lambda model, model_type: (None, None))
    return loaded


def think_rows_file(path: Path, style: str) -> str:
    write_jsonl(path, [{'messages': [], 'solution': 'A', 'prompt_style': style}])
    return str(path)


@pytest.mark.parametrize(
    ('saved', 'flags', 'trained', 'asked', 'advice'),
    [
        (
            {'reward_funcs': ['vsi_reward', 'vsi_format']},
            (),
            'the think prompt',
            'the direct prompt',
            ('; its rewards include vsi_format', 'pass --prompt_style think'),
        ),
        (
            {'enable_thinking': True},
            (),
            'the think prompt with enable_thinking true',
            'the direct prompt',
            ('; enable_thinking was true', 'pass --prompt_style think --enable_thinking'),
        ),
        (
            {'enable_thinking': True, 'reward_funcs': ['vsi_format']},
            ('--prompt_style', 'think'),
            'the think prompt with enable_thinking true',
            'the think prompt',
            ('', 'pass --enable_thinking'),
        ),
        (
            {'enable_thinking': None, 'dataset': ['DATA#500'], 'data': 'direct'},
            ('--prompt_style', 'think', '--enable_thinking'),
            'the direct prompt',
            'the think prompt with --enable_thinking',
            ('; its training data DATA holds direct rows', 'pass --prompt_style direct and drop --enable_thinking'),
        ),
        (
            {'enable_thinking': False, 'dataset': ['DATA'], 'data': 'think'},
            ('--prompt_style', 'think', '--enable_thinking'),
            'the think prompt',
            'the think prompt with --enable_thinking',
            ('', 'drop --enable_thinking'),
        ),
    ],
    ids=['vsi_format', 'enable_thinking', 'prefix only', 'direct data', 'prefix not trained'],
)
def test_an_adapter_evaluated_otherwise_than_it_was_trained_is_warned_about(
    bench, tmp_path, monkeypatch, caplog, saved, flags, trained, asked, advice
):
    """swift saves args.json with each checkpoint; an adapter trained on think rows and asked with the default direct
    prompt (or without the <think> prefix it learned after) scored what the prompt change cost, without a word."""
    adapter = tmp_path / 'checkpoint-10'
    adapter.mkdir()
    (adapter / 'adapter_config.json').write_text('{}')
    saved = dict(saved)
    if 'data' in saved:
        data = think_rows_file(tmp_path / 'train.jsonl', saved.pop('data'))
        saved['dataset'] = [entry.replace('DATA', data) for entry in saved['dataset']]
    (adapter / 'args.json').write_text(json.dumps(saved))
    record_loaded_adapters(monkeypatch)
    with caplog.at_level(logging.WARNING, logger='eval_vsi_bench'):
        ev.evaluate(
            eval_args(
                'm',
                bench.dataset,
                tmp_path / 'eval',
                '--frames_dir',
                bench.frames,
                '--limit',
                1,
                '--adapters',
                adapter,
                *flags,
            )
        )
    evidence, fix = (part.replace('DATA', str(tmp_path / 'train.jsonl')) for part in advice)
    expected = (
        f'adapter {adapter} was trained with {trained} (its args.json{evidence}), and this run asks with {asked}: its '
        f'score would measure the change of prompt; {fix} to evaluate it as it was trained'
    )
    assert [r.getMessage() for r in caplog.records if 'args.json' in r.getMessage()] == [expected]


@pytest.mark.parametrize(
    ('saved', 'flags'),
    [
        ({'reward_funcs': ['vsi_reward', 'vsi_format']}, ('--prompt_style', 'think')),
        ({'enable_thinking': True}, ('--prompt_style', 'think', '--enable_thinking')),
        ({'reward_funcs': ['vsi_reward'], 'dataset': ['DATA']}, ()),
        ({'reward_funcs': ['vsi_reward'], 'dataset': ['vsi_raw']}, ('--prompt_style', 'think')),  # unknown
        ({'dataset': ['GONE']}, ('--prompt_style', 'think')),  # a file no longer there tells nothing
        ({}, ('--prompt_style', 'think')),
    ],
    ids=['think', 'think with prefix', 'direct data', 'registered name', 'data gone', 'no args.json fields'],
)
def test_an_adapter_evaluated_as_it_was_trained_is_not_warned_about(tmp_path, saved, flags):
    adapter = tmp_path / 'checkpoint-10'
    adapter.mkdir()
    data = think_rows_file(tmp_path / 'train.jsonl', 'direct')
    entries = [
        entry.replace('DATA', data).replace('GONE', str(tmp_path / 'gone.jsonl')) for entry in saved.get('dataset', [])
    ]
    saved = {**saved, 'dataset': entries}
    (adapter / 'args.json').write_text(json.dumps(saved))
    args = eval_args('m', 'test.jsonl', tmp_path / 'eval', *flags)
    assert ev.training_mismatch(str(adapter), args.prompt_style, args.enable_thinking) is None


@pytest.mark.parametrize('args_json', [None, 'not json', '[]'], ids=['none', 'unreadable', 'not an object'])
def test_an_adapter_without_a_readable_args_json_is_not_warned_about(tmp_path, args_json):
    """A PEFT adapter trained elsewhere has no args.json: it tells nothing, but --enable_thinking was warned about
    as `trained with the think prompt (its args.json)` with the advice to drop the flag."""
    adapter = tmp_path / 'checkpoint-10'
    adapter.mkdir()
    if args_json is not None:
        (adapter / 'args.json').write_text(args_json)
    assert ev.training_mismatch(str(adapter), 'think', True) is None


def test_an_adapter_named_by_last_checkpoint_is_the_checkpoint_it_names_and_a_run_folder_is_refused(
    bench, tmp_path, monkeypatch
):
    # swift's last-checkpoint link moves on to each new checkpoint while training goes on. Recorded as written, the
    # resume of an evaluation of it went on with the newer adapter and mixed two adapters' predictions in one report.
    run = tmp_path / 'v0-20261126-101500'
    for step in (100, 200):
        (run / f'checkpoint-{step}').mkdir(parents=True)
        for name in ('adapter_config.json', 'trainer_state.json'):  # the trainer writes trainer_state.json last
            (run / f'checkpoint-{step}' / name).write_text('{}')
    link = run / 'last-checkpoint'
    link.symlink_to('checkpoint-100')
    loaded = record_loaded_adapters(monkeypatch)
    common = ('--frames_dir', bench.frames, '--batch_size', 1, '--adapters', link)
    ev.evaluate(eval_args('m', bench.dataset, tmp_path / 'eval', '--limit', 2, *common))
    first = str((run / 'checkpoint-100').resolve())
    assert loaded == [[first]]  # the engine loads what is recorded
    assert json.loads((tmp_path / 'eval' / 'run_config.json').read_text())['adapters'] == [first]
    link.unlink()
    link.symlink_to('checkpoint-200')  # training saved again
    with pytest.raises(ev.EvalError, match=r"adapters: \[.*checkpoint-100'\] there, \[.*checkpoint-200'\] now"):
        ev.evaluate(eval_args('m', bench.dataset, tmp_path / 'eval', '--limit', 4, *common))
    assert len(prediction_lines(tmp_path / 'eval' / 'predictions.jsonl')) == 2 and len(loaded) == 1
    # the run folder instead of a checkpoint: swift said "Mixed using with peft is not allowed now" once the frames
    # and the model had loaded
    (run / 'checkpoint-300').mkdir()  # being saved: no trainer_state.json yet
    (run / 'checkpoint-300' / 'adapter_config.json').write_text('{}')
    (run / 'checkpoint-400').mkdir()  # cut off before its adapter was written
    full = (run / 'checkpoint-200').resolve()

    def refusal(adapter):
        with pytest.raises(ev.EvalError) as error:
            args = eval_args(
                'm', bench.dataset, tmp_path / 'eval2', '--adapters', adapter, '--frames_dir', bench.frames
            )
            ev.evaluate(args)
        return str(error.value)

    assert refusal(run) == (
        f'adapter {run.resolve()} is not a LoRA checkpoint (no adapter_config.json): it is a run folder; use {full}, '
        'the latest checkpoint saved in full'
    )
    assert refusal(run / 'checkpoint-400') == (
        f'adapter {(run / "checkpoint-400").resolve()} is not a LoRA checkpoint (no adapter_config.json): it was '
        f'cut off while saving (no whole trainer_state.json, the file saved last); use {full}, the latest checkpoint '
        'saved in full'
    )
    assert (
        refusal(full / 'adapter_config.json')
        == f'adapter {full / "adapter_config.json"} is a file, not a checkpoint folder'
    )
    assert refusal(tmp_path).endswith(
        f': it is an output folder holding runs; use {full}, the latest checkpoint of its latest run saved in full'
    )
    assert len(loaded) == 1 and not (tmp_path / 'eval2').exists()
    # only a link given as the adapter is resolved: folders recorded through a linked parent (output -> /scratch)
    # before links were resolved still resume
    (tmp_path / 'linked').symlink_to(run)
    ev.evaluate(
        eval_args(
            'm', bench.dataset, tmp_path / 'eval3', '--limit', 1, *common[:-1], tmp_path / 'linked' / 'checkpoint-200'
        )
    )
    recorded = json.loads((tmp_path / 'eval3' / 'run_config.json').read_text())['adapters']
    assert recorded == [str(tmp_path / 'linked' / 'checkpoint-200')] and loaded[-1] == recorded


@pytest.mark.parametrize(
    ('text', 'problem'),
    [
        ('{"r": 16', 'cannot be read as JSON (Expecting'),
        ('[16]', 'holds no JSON object'),
        ('{"r": "16"}', 'r is "16", not a positive whole number'),
        ('{"r": 0}', 'r is 0, not a positive whole number'),
        ('{"r": true}', 'r is true, not a positive whole number'),
    ],
)
def test_a_damaged_adapter_config_is_refused_before_anything_loads(bench, tmp_path, monkeypatch, text, problem):
    """A checkpoint whose adapter_config.json is no JSON object or has a LoRA rank that is not a positive whole number
    failed with a traceback in PEFT, or in vllm_engine_kwargs once the frames were extracted."""
    loaded = record_loaded_adapters(monkeypatch)
    (tmp_path / 'ckpt').mkdir()
    (tmp_path / 'ckpt' / 'adapter_config.json').write_text(text)
    args = eval_args(
        'm', bench.dataset, tmp_path / 'eval', '--adapters', tmp_path / 'ckpt', '--frames_dir', bench.frames
    )
    with pytest.raises(ev.EvalError) as error:
        ev.evaluate(args)
    assert str(error.value).startswith(f'{tmp_path / "ckpt" / "adapter_config.json"}') and problem in str(error.value)
    assert loaded == [] and not (tmp_path / 'eval').exists()


def test_a_folder_without_an_adapter_config_is_refused_but_swifts_layout_loads(bench, tmp_path, monkeypatch):
    """An empty folder or the base model's folder as --adapters failed with a traceback once the model had loaded."""
    loaded = record_loaded_adapters(monkeypatch)
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'base_model').mkdir()
    (tmp_path / 'base_model' / 'config.json').write_text('{}')
    for folder in (tmp_path / 'empty', tmp_path / 'base_model'):
        args = eval_args('m', bench.dataset, tmp_path / 'eval', '--adapters', folder, '--frames_dir', bench.frames)
        with pytest.raises(ev.EvalError) as error:
            ev.evaluate(args)
        assert str(error.value) == (
            f'adapter {folder} is not a LoRA checkpoint (no adapter_config.json): nor in a folder directly inside; '
            'name a checkpoint-N folder that training saved'
        )
    assert loaded == [] and not (tmp_path / 'eval').exists()
    (tmp_path / 'tuners' / 'default').mkdir(parents=True)  # swift's own layout: one folder per adapter name
    (tmp_path / 'tuners' / 'default' / 'adapter_config.json').write_text('{}')  # a PEFT config: swift refuses it
    args = eval_args(
        'm', bench.dataset, tmp_path / 'eval', '--adapters', tmp_path / 'tuners', '--frames_dir', bench.frames
    )
    with pytest.raises(ev.EvalError) as error:
        ev.evaluate(args)
    assert str(error.value) == (
        f'adapter {tmp_path / "tuners"} is not a LoRA checkpoint (no adapter_config.json): the folder(s) default in it '
        'hold a PEFT adapter: name one of them'
    )
    (tmp_path / 'tuners' / 'default' / 'adapter_config.json').write_text('{"swift_type": "LORA"}')
    args = eval_args(
        'm', bench.dataset, tmp_path / 'eval', '--adapters', tmp_path / 'tuners', '--frames_dir', bench.frames
    )
    with pytest.raises(ev.EvalError) as error:  # vLLM's LoRARequest reads the config at the top only
        ev.evaluate(SimpleNamespace(**{**vars(args), 'infer_backend': 'vllm', 'torch_dtype': 'bfloat16'}))
    assert str(error.value) == (
        f"adapter {tmp_path / 'tuners'} keeps its adapter_config.json in default (swift's tuner layout), which vLLM "
        'cannot load: use --infer_backend transformers'
    )
    assert loaded == [] and not (tmp_path / 'eval').exists()
    ev.evaluate(args)
    assert loaded == [[str(tmp_path / 'tuners')]]


def test_blind_sends_the_prompt_without_images(bench, tiny_engine, tiny_model_dir, tmp_path):
    engine = CountingEngine(tiny_engine)
    ev.evaluate(eval_args(tiny_model_dir, bench.dataset, tmp_path / 'blind', '--blind', '--limit', 4), engine=engine)
    assert len(engine.requests) == 4
    for request, row in zip(engine.requests, BENCH_ROWS, strict=False):
        assert not request.images
        assert request.messages == [
            {'role': 'user', 'content': build_prompt(row['question'], row['question_type'], row['options'])}
        ]
        assert '<image>' not in request.messages[0]['content']
    config = json.loads((tmp_path / 'blind' / 'run_config.json').read_text())
    assert config['blind'] is True and config['frames'] is None and config['label'].endswith('(blind)')


# ----------------------------------------------------------------------------------------------------------
# Frames from videos, swift rows, think prompts (no model: a counting stand-in answers)
# ----------------------------------------------------------------------------------------------------------


def test_the_report_of_scripted_answers_is_the_hand_worked_score(bench, tmp_path):
    """The tiny model's answers score 0 under every metric, so the report checks above compare 0 with 0: scripted
    answers here give scores worked out by hand, through evaluate's own prediction rows, among them an answer in an
    option's words (right for the lenient score only, which must be given the options)."""
    answers = {0: '3', 1: 'A', 2: '20', 3: 'turn right', 4: '1.8 meters', 5: 'C'}
    by_question = {row['question']: answers[row['id']] for row in BENCH_ROWS}

    class ScriptedEngine(CountingEngine):
        def infer(self, infer_requests, request_config=None, *, use_tqdm=None):
            self.requests += infer_requests
            texts = [next(a for q, a in by_question.items() if q in r.messages[0]['content']) for r in infer_requests]
            return [
                SimpleNamespace(
                    choices=[SimpleNamespace(message=SimpleNamespace(content=text))],
                    usage=SimpleNamespace(prompt_tokens=7),
                )
                for text in texts
            ]

    out = tmp_path / 'run'
    ev.evaluate(eval_args('some/model', bench.dataset, out, '--frames_dir', bench.frames), engine=ScriptedEngine())
    saved = json.loads((out / 'results.json').read_text(encoding='utf-8'))
    # official: counting 1, relative direction 2/3 (easy 1, medium 1, hard absent: 0, as the official code's KeyError
    # case is scored), room size 0.7 (20 is 18% off 24.5: within 7 of the 10 tolerances 0.50 ... 0.05), route 0
    # ('turn' is no letter), absolute distance 1 ('1.8'): (1 + 2/3 + 0.7 + 0 + 1) / 5 categories
    assert saved['overall'] == pytest.approx((1 + 2 / 3 + 0.7 + 0 + 1) / 5 * 100)
    assert saved['official']['categories']['route_planning']['score'] == 0.0
    # lenient: `turn right` is option B's text
    assert saved['lenient']['categories']['route_planning']['score'] == pytest.approx(100.0)
    assert saved['lenient_overall'] == pytest.approx((1 + 2 / 3 + 0.7 + 1 + 1) / 5 * 100)
    assert saved['overall'] == official_overall(prediction_lines(out / 'predictions.jsonl'))


def test_video_dir_frames_are_extracted_once_into_the_cache(tmp_path, caplog):
    scene_video(tmp_path / 'videos', num_frames=20)
    rows = [dict(BENCH_ROWS[0]), dict(BENCH_ROWS[1])]
    dataset = write_jsonl(tmp_path / 'test.jsonl', rows)
    out = tmp_path / 'run'
    engine = CountingEngine(answer='3')
    ev.evaluate(eval_args('some/model', dataset, out, '--video_dir', tmp_path / 'videos', '--limit', 1), engine=engine)
    cache = out / 'frames' / 'scannet' / 'scene0000_00'
    assert engine.requests[0].images == [str(cache / f'frame_{k:04d}.jpg') for k in range(NUM_FRAMES)]
    stamp = (cache / 'frame_0000.jpg').stat().st_mtime_ns
    ev.evaluate(eval_args('some/model', dataset, out, '--video_dir', tmp_path / 'videos'), engine=engine)
    assert engine.requests[1].images == engine.requests[0].images
    assert (cache / 'frame_0000.jpg').stat().st_mtime_ns == stamp  # reused, not extracted again
    assert json.loads((out / 'results.json').read_text())['num_questions'] == 2
    # --frames_dir beside --video_dir: the frames are read from there, nothing is extracted, and the log says so
    extra = ['--frames_dir', out / 'frames', '--video_dir', tmp_path / 'videos']
    with caplog.at_level(logging.INFO, logger='eval_vsi_bench'):
        ev.evaluate(eval_args('some/model', dataset, tmp_path / 'run2', *extra), engine=engine)
    assert engine.requests[-1].images == engine.requests[0].images and not (tmp_path / 'run2' / 'frames').exists()
    assert f'using the frames in --frames_dir {out / "frames"}; --video_dir is not read' in caplog.text


def test_a_shared_frames_cache_keeps_each_setting_apart(tmp_path):
    """Two evaluations sharing --frames_cache with other --num_frames: the second extracted its frames over the ones
    the first was reading, which then answered on frames of the other setting."""
    from video_utils import read_frame_number

    scene_video(tmp_path / 'videos', num_frames=20)
    dataset = write_jsonl(tmp_path / 'test.jsonl', [BENCH_ROWS[0]])
    cache = tmp_path / 'cache'
    shown = {}
    for num_frames, pixels in ((2, None), (4, None), (2, 1024)):
        engine = CountingEngine(answer='3')
        extra = ['--video_dir', tmp_path / 'videos', '--frames_cache', cache, '--num_frames', num_frames]
        extra += ['--frames_max_pixels', pixels] if pixels else []
        out = tmp_path / f'run{num_frames}_{pixels}'
        ev.evaluate(eval_args('m', dataset, out, *extra), engine=engine)
        (request,) = engine.requests
        shown[num_frames, pixels] = request.images
    # the frames of round(linspace(0, 19, n)), each setting in its own folder, none overwritten by a later run
    assert [read_frame_number(np.asarray(Image.open(p))) for p in shown[2, None]] == [0, 19]
    assert [read_frame_number(np.asarray(Image.open(p))) for p in shown[4, None]] == [0, 6, 13, 19]
    assert Image.open(shown[2, None][0]).size == (64, 48)
    assert all(math.prod(Image.open(p).size) <= 1024 for p in shown[2, 1024])  # --frames_max_pixels applied
    for (num_frames, pixels), images in shown.items():
        folder = cache / ev.cache_folder(num_frames, pixels) / 'scannet' / 'scene0000_00'
        assert images == [str(folder / f'frame_{k:04d}.jpg') for k in range(num_frames)]
    assert sorted(p.name for p in cache.iterdir()) == ['2f', '2f_1024px', '4f']


def test_a_run_of_the_earlier_cache_layout_resumes_on_its_frames(tmp_path):
    """The earlier version extracted into --frames_cache itself: its run folders resume there, not refused."""
    scene_video(tmp_path / 'videos', num_frames=20)
    dataset = write_jsonl(tmp_path / 'test.jsonl', BENCH_ROWS[:2])
    cache, out, engine = tmp_path / 'cache', tmp_path / 'run', CountingEngine(answer='3')
    extra = ['--video_dir', tmp_path / 'videos', '--frames_cache', cache]
    ev.evaluate(eval_args('m', dataset, out, *extra, '--limit', 1), engine=engine)
    for path in (cache / '4f').iterdir():  # as the earlier version left them
        path.rename(cache / path.name)
    (cache / '4f').rmdir()
    config = json.loads((out / 'run_config.json').read_text())
    (out / 'run_config.json').write_text(json.dumps({**config, 'frames': str(cache)}))
    ev.evaluate(eval_args('m', dataset, out, *extra), engine=engine)
    assert len(engine.requests) == 2 and not (cache / '4f').exists()
    assert engine.requests[1].images[0] == str(cache / 'scannet' / 'scene0000_00' / 'frame_0000.jpg')
    # --overwrite starts the run over: its frames go to the setting's own folder of the cache, as a new run's do
    ev.evaluate(eval_args('m', dataset, out, *extra, '--overwrite'), engine=engine)
    assert engine.requests[-1].images[0] == str(cache / '4f' / 'scannet' / 'scene0000_00' / 'frame_0000.jpg')


def test_a_frames_cache_that_cannot_be_written_is_refused_before_extracting(tmp_path, monkeypatch):
    """A link to a disk not mounted failed after swift loaded, naming extract_frames' --output_dir; a shared cache made
    read-only failed on its lock file's bare `Permission denied`, though --frames_dir reads its frames."""
    scene_video(tmp_path / 'videos', num_frames=20)
    dataset = write_jsonl(tmp_path / 'test.jsonl', BENCH_ROWS[:2])  # one scene
    cache, engine = tmp_path / 'cache', CountingEngine(answer='3')
    extra = ['--video_dir', tmp_path / 'videos', '--frames_cache', cache]
    ev.evaluate(eval_args('m', dataset, tmp_path / 'run1', *extra, '--limit', 1), engine=engine)  # fills the cache
    monkeypatch.setattr(ev, 'extract_all', lambda **kwargs: pytest.fail('extraction was tried'))
    real_temporary_file = preprocess_vsi_data.tempfile.TemporaryFile

    def read_only(*args, dir=None, **kwargs):  # as the cache is to others than root, whom permissions do not stop
        if dir == str(cache / '4f'):
            raise PermissionError(errno.EACCES, 'Permission denied')
        return real_temporary_file(*args, dir=dir, **kwargs)

    monkeypatch.setattr(preprocess_vsi_data.tempfile, 'TemporaryFile', read_only)
    with pytest.raises(ev.EvalError) as error:
        ev.evaluate(eval_args('m', dataset, tmp_path / 'run2', *extra), engine=engine)
    refused = (
        f'--frames_cache: cannot write to the folder {cache / "4f"} (Permission denied); to read the frames already '
        f'there without writing, pass --frames_dir {cache / "4f"}'
    )
    assert str(error.value) == refused
    with pytest.raises(ev.EvalError) as error:  # run1's predictions were made with --video_dir, a protocol field
        ev.evaluate(eval_args('m', dataset, tmp_path / 'run1', *extra), engine=engine)
    assert (
        str(error.value) == f"{refused} with another --output_dir (this one's predictions were made with --video_dir)"
    )
    ev.evaluate(eval_args('m', dataset, tmp_path / 'run2', '--frames_dir', cache / '4f'), engine=engine)  # the hint
    assert len(engine.requests) == 3 and engine.requests[1].images == engine.requests[0].images
    (tmp_path / 'link').symlink_to(tmp_path / 'unmounted')
    linked = ['--video_dir', tmp_path / 'videos', '--frames_cache', tmp_path / 'link']
    with pytest.raises(ev.EvalError) as error:
        ev.evaluate(eval_args('m', dataset, tmp_path / 'run3', *linked), engine=engine)
    assert str(error.value) == (
        f'--frames_cache: cannot write to the folder {tmp_path / "link" / "4f"}: {tmp_path / "link"} is a link to '
        f'{tmp_path / "unmounted"}, which does not exist (a disk not mounted?)'
    )
    assert len(engine.requests) == 3 and not (tmp_path / 'unmounted').exists()


def test_extraction_flags_without_extraction_are_refused(bench, tmp_path, capsys):
    for extra in (['--frames_dir', bench.frames], ['--video_dir', tmp_path, '--blind'], []):
        for flag, value in (('--frames_cache', tmp_path / 'cache'), ('--frames_max_pixels', 4096)):
            with pytest.raises(SystemExit) as stopped:
                eval_args('m', bench.dataset, tmp_path / 'run', *extra, flag, value)
            assert stopped.value.code == 2
            assert (
                f'{flag}: only for frames extracted from --video_dir (not with --frames_dir or --blind), so nothing '
                'would read it; drop it\n'
            ) in capsys.readouterr().err
    assert not (tmp_path / 'cache').exists()
    # nor are frames for a blind run, which shows none (it ran, silently ignoring them)
    for extra in (['--frames_dir', bench.frames], ['--video_dir', tmp_path, '--allow_fewer_frames']):
        with pytest.raises(SystemExit) as stopped:
            eval_args('m', bench.dataset, tmp_path / 'run', '--blind', *extra)
        assert stopped.value.code == 2
        flags = ', '.join(flag for flag in extra if str(flag).startswith('--'))
        assert f'{flags}: --blind shows the model no frames, so nothing would read them; drop them\n' in (
            capsys.readouterr().err
        )


def test_relative_images_of_swift_rows_are_read_beside_the_dataset_wherever_it_runs(bench, tmp_path, monkeypatch):
    row = BENCH_ROWS[0]
    swift_row = {
        'messages': [{'role': 'user', 'content': '<image>' + build_prompt(row['question'], row['question_type'])}],
        'images': ['frames/scannet/scene0000_00/frame_0000.jpg'],
        'solution': row['ground_truth'],
        'question_type': row['question_type'],
        'id': 'r0',
        'scene_name': row['scene_name'],
    }
    shutil.copytree(bench.frames, tmp_path / 'data' / 'frames')
    dataset = write_jsonl(tmp_path / 'data' / 'heldout.jsonl', [swift_row])
    shutil.copytree(bench.frames, tmp_path / 'cwd' / 'frames')  # the same relative path from the current folder
    monkeypatch.chdir(tmp_path / 'cwd')
    engine = CountingEngine(answer='3')
    ev.evaluate(eval_args('m', dataset, tmp_path / 'run'), engine=engine)
    (request,) = engine.requests
    assert request.images == [str(tmp_path / 'data' / 'frames' / 'scannet' / 'scene0000_00' / 'frame_0000.jpg')]
    (tmp_path / 'links').mkdir()  # a link to the file elsewhere: beside the real file, as vsi_dataset.py reads it
    (tmp_path / 'links' / 'heldout.jsonl').symlink_to(dataset)
    ev.evaluate(eval_args('m', tmp_path / 'links' / 'heldout.jsonl', tmp_path / 'run3'), engine=engine)
    assert engine.requests[-1].images == request.images
    del engine.requests[1:]
    shutil.rmtree(tmp_path / 'data' / 'frames')  # a JSONL written with paths from the current folder still works
    ev.evaluate(eval_args('m', dataset, tmp_path / 'run2'), engine=engine)
    assert engine.requests[1].images == ['frames/scannet/scene0000_00/frame_0000.jpg']


def test_swift_rows_use_their_own_images_and_the_think_prompt(bench, tmp_path):
    frames = [str(bench.frames / 'scannet' / 'scene0000_00' / f'frame_{k:04d}.jpg') for k in range(2)]
    row = BENCH_ROWS[1]
    swift_row = {
        'messages': [
            {
                'role': 'user',
                'content': '<image><image>' + build_prompt(row['question'], row['question_type'], row['options']),
            },
            {'role': 'assistant', 'content': 'A'},
        ],
        'images': frames,
        'solution': 'A',
        'question_type': row['question_type'],
        'options': row['options'],
        'id': 'heldout-1',
        'scene_name': row['scene_name'],
    }
    dataset = write_jsonl(tmp_path / 'heldout.jsonl', [swift_row])
    engine = CountingEngine(answer='<think>left</think><answer>A</answer>')
    results = ev.evaluate(eval_args('m', dataset, tmp_path / 'run', '--prompt_style', 'think'), engine=engine)
    (request,) = engine.requests
    assert request.images == frames
    assert request.messages == [
        {
            'role': 'user',
            'content': '<image><image>'
            + build_prompt(row['question'], row['question_type'], row['options'], style='think'),
        }
    ]
    assert results['config']['max_new_tokens'] == 1024
    # The official rule reads the <answer> block: easy 1.0, the absent medium and hard levels 0, so relative
    # direction (1 + 0 + 0) / 3 is the only category and the overall. The first word, `<think>`, would score 0.
    assert results['overall'] == pytest.approx(100 / 3)
    assert results['lenient']['overall'] == pytest.approx(100 / 3)
    assert results['prompt_style'] == 'think' and results['official_rule'] == OFFICIAL_RULES['think']
    assert 'last <answer> block' in results['official_rule'] and 'must be closed' in results['official_rule']
    (row,) = prediction_lines(tmp_path / 'run' / 'predictions.jsonl')
    assert row['prompt_style'] == 'think'
    assert results['overall'] == official_overall([row], 'think')
    markdown = (tmp_path / 'run' / 'results.md').read_text()
    assert OFFICIAL_RULES['think'] in markdown
    assert results['official_protocol'] is False and results['official_protocol_differences'] == [
        "the dataset rows' own frames (official: 32)",
        'prompt think (official: direct)',
        '1,024 new tokens (official: 16)',
        '1 question (official: all 5,130)',
    ]
    assert 'Protocol: differs from the official VSI-Bench evaluation in ' in markdown
    assert 'prompt style `think`' not in markdown  # the protocol line says it; that note is for files without a config
    # --num_frames does not apply to rows that list their frames: not recorded, not reported, not bound on resume
    assert results['config']['num_frames'] is None and "the dataset rows' own frames" in markdown
    ev.evaluate(eval_args('m', dataset, tmp_path / 'run', '--prompt_style', 'think', '--num_frames', 2), engine=engine)
    assert len(engine.requests) == 1
    # Rescoring the file alone applies the same rule (the rows record the style).
    assert ev.main(['--predictions', str(tmp_path / 'run' / 'predictions.jsonl')]) == 0
    assert json.loads((tmp_path / 'run' / 'results.json').read_text())['overall'] == pytest.approx(100 / 3)


def test_missing_frames_and_duplicate_ids_are_reported_before_inference(bench, tmp_path):
    rows = BENCH_ROWS + [dict(BENCH_ROWS[0], id=9, scene_name='scene9999_00')]
    engine = CountingEngine()
    with pytest.raises(ev.EvalError, match='scene9999_00'):
        ev.evaluate(
            eval_args('m', write_jsonl(tmp_path / 'a.jsonl', rows), tmp_path / 'a', '--frames_dir', bench.frames),
            engine=engine,
        )
    with pytest.raises(ev.EvalError, match="id '0' already used"):
        ev.evaluate(
            eval_args('m', write_jsonl(tmp_path / 'b.jsonl', BENCH_ROWS + BENCH_ROWS[:1]), tmp_path / 'b', '--blind'),
            engine=engine,
        )
    assert engine.requests == []


def test_an_id_that_is_no_string_or_number_is_refused_not_replaced(tmp_path):
    """Preprocessing's row reader, which the evaluation shares, gave such a row the id `<file>:<index>`."""
    dataset = write_jsonl(tmp_path / 'ids.jsonl', [BENCH_ROWS[0], dict(BENCH_ROWS[1], id=[1])])
    with pytest.raises(ev.EvalError, match=r'^ids.jsonl:line 2: bad_id: id is a list, not text or a number: \[1\]$'):
        ev.load_questions(str(dataset))
    questions, _ = ev.load_questions(str(write_jsonl(tmp_path / 'none.jsonl', [dict(BENCH_ROWS[1], id=None)])))
    assert [q.id for q in questions] == ['none:0']


def test_question_types_the_benchmark_lacks_are_refused_when_the_dataset_is_read(tmp_path):
    engine = CountingEngine()
    typo = write_jsonl(
        tmp_path / 'typo.jsonl', [BENCH_ROWS[0], dict(BENCH_ROWS[2], question_type='room_size_estimaton')]
    )
    with pytest.raises(ev.EvalError, match=r"typo.jsonl:line 2: question type 'room_size_estimaton' .*did you mean"):
        ev.evaluate(eval_args('m', typo, tmp_path / 'a', '--blind'), engine=engine)
    category = write_jsonl(tmp_path / 'category.jsonl', [dict(BENCH_ROWS[1], question_type='object_rel_direction')])
    with pytest.raises(ev.EvalError, match='category.jsonl:line 1: .*reporting category'):
        ev.evaluate(eval_args('m', category, tmp_path / 'b', '--blind'), engine=engine)
    assert engine.requests == []
    # Training variants are accepted as the benchmark type they stand for (v3: easy).
    variant = write_jsonl(tmp_path / 'variant.jsonl', [dict(BENCH_ROWS[1], question_type='object_rel_direction_v3')])
    results = ev.evaluate(eval_args('m', variant, tmp_path / 'c', '--blind'), engine=CountingEngine(answer='A'))
    assert results['official']['categories']['object_rel_direction']['score'] == pytest.approx(100 / 3)


def test_question_types_are_checked_by_the_rule_preprocessing_uses(bench, tmp_path):
    engine = CountingEngine()
    # One typo among valid names is refused, not silently dropped from the selection.
    selection = ('--question_types', 'object_counting', 'route_plannin')
    args = eval_args('m', bench.dataset, tmp_path / 'a', '--blind', *selection)
    with pytest.raises(ev.EvalError, match=r"--question_types: unknown question type 'route_plannin' \(did you mean"):
        ev.evaluate(args, engine=engine)
    assert engine.requests == []
    # The category keeps its levels' training variants, as preprocessing's selection does.
    variants = [dict(BENCH_ROWS[1], id=10 + i, question_type=f'object_rel_direction_v{i}') for i in (1, 2, 3)]
    questions, _ = ev.load_questions(str(write_jsonl(tmp_path / 'v.jsonl', variants + BENCH_ROWS[3:4])))
    chosen = ev.select_questions(questions, ['object_rel_direction'])
    assert [q.question_type for q in chosen] == [f'object_rel_direction_v{i}' for i in (1, 2, 3)]


def test_frames_dir_holding_videos_points_to_video_dir(tmp_path, monkeypatch):
    (tmp_path / 'videos' / 'scannet').mkdir(parents=True)
    (tmp_path / 'videos' / 'scannet' / 'scene0000_00.mp4').write_bytes(b'not decoded')
    dataset = write_jsonl(tmp_path / 'test.jsonl', BENCH_ROWS[:1])
    engine = CountingEngine()
    hint = r'holds videos \(scannet/scene0000_00.mp4\).*pass that folder as --video_dir'
    with pytest.raises(ev.EvalError, match=hint) as e:
        ev.evaluate(eval_args('m', dataset, tmp_path / 'run', '--frames_dir', tmp_path / 'videos'), engine=engine)
    assert engine.requests == []
    # the example is the question's own line, without preprocessing's hint (run extract_frames.py), which this replaces
    example = "1 question(s) have no frames, e.g. test.jsonl:line 1: no frames for scene 'scene0000_00' in "
    assert str(e.value).startswith(example) and 'extract_frames.py on them first' not in str(e.value)
    # said before swift is imported to look at the model (seconds to minutes), not after
    looked_up = []
    monkeypatch.setattr(ev, 'resolve_model', lambda model, model_type: looked_up.append(model))
    with pytest.raises(ev.EvalError, match=hint):
        ev.evaluate(eval_args('m', dataset, tmp_path / 'run', '--frames_dir', tmp_path / 'videos'))
    assert looked_up == []
    # Frames extracted beside their videos (a supported layout), one scene's missing: that scene is named, no hint.
    frames = tmp_path / 'videos' / 'scannet' / 'scene0000_00'
    frames.mkdir()
    for i in range(4):
        Image.new('RGB', (16, 12)).save(frames / f'frame_{i:04d}.jpg')
    (tmp_path / 'videos' / 'arkitscenes').mkdir()
    (tmp_path / 'videos' / 'arkitscenes' / '41069025.mp4').write_bytes(b'its frames failed')
    dataset = write_jsonl(tmp_path / 'test2.jsonl', [BENCH_ROWS[0], BENCH_ROWS[3]])
    args = eval_args('m', dataset, tmp_path / 'run2', '--frames_dir', tmp_path / 'videos', '--num_frames', 4)
    with pytest.raises(
        ev.EvalError, match=r"1 question\(s\) have no frames, e\.g\. .*no frames for scene '41069025'"
    ) as e:
        ev.evaluate(args, engine=engine)
    assert 'holds videos' not in str(e.value)


def test_a_model_swift_cannot_type_fails_before_frames_are_extracted(tmp_path, monkeypatch, capsys):
    # A local Qwen3-VL folder: its architecture matches qwen3_vl, qwen3_vl_emb and qwen3_vl_reranker.
    model = tmp_path / 'my_qwen3_vl'
    model.mkdir()
    (model / 'config.json').write_text(
        json.dumps({'architectures': ['Qwen3VLForConditionalGeneration'], 'model_type': 'qwen3_vl'}), encoding='utf-8'
    )

    def no_extraction(*args, **kwargs):
        raise AssertionError('frames extracted before the model type was known')

    monkeypatch.setattr(ev, 'prepare_frames_cache', no_extraction)
    argv = eval_argv(model, write_jsonl(tmp_path / 'test.jsonl', BENCH_ROWS[:1]), tmp_path / 'run')
    argv = [*argv[:2], *argv[4:], '--video_dir', str(tmp_path / 'videos')]  # without --model_type
    assert ev.main(argv) == 1
    (error,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith('error:')]  # swift logs too
    assert error.endswith(': add --model_type qwen3_vl') and "['qwen3_vl', 'qwen3_vl_emb'" in error
    assert ev.resolve_model(str(model), 'qwen3_vl')[0] == 'qwen3_vl'
    with pytest.raises(ev.EvalError) as refused:
        ev.resolve_model(str(model), 'qwen3vl')
    guess = str(refused.value).removeprefix("--model_type 'qwen3vl' is not a swift model type; did you mean ")
    assert guess.startswith('qwen3_vl or ') and guess.endswith('?')
    assert len(guess.split(' or ')) == 3  # the three closest of swift's 200+ types
    with pytest.raises(ev.EvalError) as refused:  # nothing close: no guess
        ev.resolve_model(str(model), 'zzzz')
    assert str(refused.value) == "--model_type 'zzzz' is not a swift model type"


def test_resume_refuses_other_frames(bench, tmp_path):
    out = tmp_path / 'run'
    common = ('--limit', 2)
    ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, *common), engine=CountingEngine())
    other = tmp_path / 'frames2'
    shutil.copytree(bench.frames, other)
    with pytest.raises(ev.EvalError, match='frames: .* there, .*frames2'):
        ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', other), engine=CountingEngine())
    with pytest.raises(ev.EvalError, match='allow_fewer_frames: False there, True now'):
        ev.evaluate(
            eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, '--allow_fewer_frames'),
            engine=CountingEngine(),
        )
    engine = CountingEngine()
    ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', other, '--overwrite', *common), engine=engine)
    assert len(engine.requests) == 2 and engine.requests[0].images[0].startswith(str(other))

    # Frames extracted from videos: another video folder, or another extraction size, is another protocol.
    scene_video(tmp_path / 'videos', num_frames=8)
    shutil.copytree(tmp_path / 'videos', tmp_path / 'videos2')
    dataset = write_jsonl(tmp_path / 'test.jsonl', BENCH_ROWS[:2])
    ev.evaluate(
        eval_args('m', dataset, tmp_path / 'v', '--video_dir', tmp_path / 'videos', '--limit', 1), engine=engine
    )
    with pytest.raises(ev.EvalError, match='frames_max_pixels: None there, 1024 now'):
        ev.evaluate(
            eval_args('m', dataset, tmp_path / 'v', '--video_dir', tmp_path / 'videos', '--frames_max_pixels', 1024),
            engine=engine,
        )
    with pytest.raises(ev.EvalError, match='video_dir: .*videos2'):
        ev.evaluate(eval_args('m', dataset, tmp_path / 'v', '--video_dir', tmp_path / 'videos2'), engine=engine)

    # Frames extracted into the run folder move with it: a folder renamed as a whole resumes (it was refused, its
    # frames recorded by their absolute path), and so does one whose run_config.json recorded that path.
    config = json.loads((tmp_path / 'v' / 'run_config.json').read_text())
    assert config['frames'] == '<output_dir>/frames'
    (tmp_path / 'v').rename(tmp_path / 'moved')
    engine = CountingEngine()
    ev.evaluate(eval_args('m', dataset, tmp_path / 'moved', '--video_dir', tmp_path / 'videos'), engine=engine)
    assert len(engine.requests) == 1 and engine.requests[0].images[0].startswith(str(tmp_path / 'moved' / 'frames'))
    (tmp_path / 'moved' / 'predictions.jsonl').write_text(
        (tmp_path / 'moved' / 'predictions.jsonl').read_text().splitlines(keepends=True)[0]
    )
    config['frames'] = str(tmp_path / 'moved' / 'frames')  # as the earlier version wrote it
    (tmp_path / 'moved' / 'run_config.json').write_text(json.dumps(config))
    ev.evaluate(eval_args('m', dataset, tmp_path / 'moved', '--video_dir', tmp_path / 'videos'), engine=engine)
    assert len(engine.requests) == 2


# RunConfig's fields before the protocol grew video_dir, frames_max_pixels and allow_fewer_frames (`git show
# 25b634e:eval_vsi_bench.py`): a run_config.json written then holds only these.
OLD_RUN_CONFIG_FIELDS = (
    'model',
    'adapters',
    'dataset',
    'dataset_sha256',
    'prompt_style',
    'num_frames',
    'max_new_tokens',
    'blind',
    'image_env',
    'infer_backend',
    'frames',
    'label',
)


def as_written_by_the_earlier_version(folder: Path, fields=(*OLD_RUN_CONFIG_FIELDS, 'torch_dtype')) -> Path:
    """The folder's run_config.json cut down to `fields` (by default those of 25b634e, and torch_dtype, recorded since
    2026-11-26, which test_torch_dtype_is_part_of_the_protocol covers)."""
    path = folder / 'run_config.json'
    config = json.loads(path.read_text())
    path.write_text(json.dumps({name: config[name] for name in fields}))
    return path


def test_a_folder_of_the_earlier_version_resumes_under_an_unchanged_protocol(bench, tmp_path):
    out, engine = tmp_path / 'run', CountingEngine()
    ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, '--limit', 2), engine=engine)
    as_written_by_the_earlier_version(out)
    ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames), engine=engine)
    assert len(engine.requests) == len(BENCH_ROWS)  # 2, then the other 4: nothing was predicted twice
    config = json.loads((out / 'run_config.json').read_text())
    assert (config['video_dir'], config['frames_max_pixels'], config['allow_fewer_frames']) == (None, None, False)
    as_written_by_the_earlier_version(out)
    with pytest.raises(ev.EvalError, match='allow_fewer_frames: False there .not recorded by the version'):
        ev.evaluate(
            eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, '--allow_fewer_frames'), engine=engine
        )

    # Frames from --video_dir (the README's first example): the earlier version did not record the videos, so the
    # resume is refused with the one line that keeps the predictions, not only --overwrite.
    scene_video(tmp_path / 'videos', num_frames=8)
    dataset = write_jsonl(tmp_path / 'test.jsonl', BENCH_ROWS[:2])
    videos = str(tmp_path / 'videos')
    ev.evaluate(eval_args('m', dataset, tmp_path / 'v', '--video_dir', videos, '--limit', 1), engine=engine)
    path = as_written_by_the_earlier_version(tmp_path / 'v')
    with pytest.raises(ev.EvalError) as refused:
        ev.evaluate(eval_args('m', dataset, tmp_path / 'v', '--video_dir', videos), engine=engine)
    assert f'if that run was made with video_dir as now, add "video_dir": "{videos}" to {path} to resume it' in str(
        refused.value
    )
    path.write_text(json.dumps({**json.loads(path.read_text()), 'video_dir': videos}))
    before = len(engine.requests)
    ev.evaluate(eval_args('m', dataset, tmp_path / 'v', '--video_dir', videos), engine=engine)
    assert len(engine.requests) == before + 1  # only the question not predicted yet


def test_torch_dtype_is_part_of_the_protocol(bench, tmp_path):
    """Another dtype gives other predictions: one report must not mix two."""
    out, engine = tmp_path / 'run', CountingEngine()
    run = eval_argv('m', bench.dataset, out, '--blind', '--limit', 2)
    ev.evaluate(ev.parse_args(run), engine=engine)
    with pytest.raises(ev.EvalError, match="torch_dtype: 'float32' there, 'bfloat16' now"):
        ev.evaluate(ev.parse_args([*run, '--torch_dtype', 'bfloat16']), engine=engine)
    # A folder of a version that did not record the dtype stands for the default, the model's own dtype.
    path = as_written_by_the_earlier_version(out, fields=OLD_RUN_CONFIG_FIELDS)
    with pytest.raises(ev.EvalError, match='add "torch_dtype": "float32" to'):
        ev.evaluate(ev.parse_args(run), engine=engine)
    start = run.index('--torch_dtype')
    ev.evaluate(ev.parse_args(run[:start] + run[start + 2 :] + ['--limit', '3']), engine=engine)
    assert len(engine.requests) == 3 and json.loads(path.read_text())['torch_dtype'] is None


def test_the_inference_backend_is_part_of_the_protocol(bench, tmp_path):
    """A run begun on vLLM (bfloat16 LoRA serving, its own kernels) resumed with transformers mixed two backends."""
    out, engine = tmp_path / 'run', CountingEngine()
    run = eval_argv('m', bench.dataset, out, '--blind', '--limit', 2)
    ev.evaluate(ev.parse_args(run), engine=engine)
    path = out / 'run_config.json'
    path.write_text(path.read_text().replace('"infer_backend": "pt"', '"infer_backend": "vllm"'))  # begun on a GPU
    with pytest.raises(ev.EvalError, match="infer_backend: 'vllm' there, 'pt' now"):
        ev.evaluate(ev.parse_args([*run, '--limit', '3']), engine=engine)
    assert len(engine.requests) == 2


@pytest.mark.parametrize(
    'content',
    [None, b'', b'\n \n', b'{"id": "0", "prediction": "B", "ques'],
    ids=['no predictions file', 'an empty one', 'blank lines', 'a cut-off first line'],
)
def test_a_run_stopped_before_predicting_binds_nothing(bench, tmp_path, content):
    """A first attempt that failed on its frames leaves run_config.json and no predictions: the corrected command
    runs instead of being refused as a run made differently. So does an empty predictions.jsonl (touched, or a first
    line cut back by the repair), which holds no prediction of the recorded protocol either, and one holding only the
    cut-off first line of a run killed while writing it (refused as a run made differently)."""
    partial = tmp_path / 'frames'
    shutil.copytree(bench.frames / 'scannet' / 'scene0000_00', partial / 'scannet' / 'scene0000_00')
    out = tmp_path / 'run'
    with pytest.raises(ev.EvalError, match='have no frames'):
        ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', partial), engine=CountingEngine())
    assert (out / 'run_config.json').exists() and not (out / 'predictions.jsonl').exists()
    if content is not None:
        (out / 'predictions.jsonl').write_bytes(content)
    engine = CountingEngine()
    ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames), engine=engine)
    assert len(engine.requests) == len(BENCH_ROWS)
    assert json.loads((out / 'run_config.json').read_text(encoding='utf-8'))['frames'] == str(bench.frames)
    # With predictions there, a config that is valid JSON but no object is an error, not a traceback.
    (out / 'run_config.json').write_text('[]')
    with pytest.raises(ev.EvalError, match='holds no run configuration'):
        ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames), engine=engine)


def test_a_whole_first_row_that_lost_its_newline_binds_its_protocol(bench, tmp_path):
    """The predictions file is read as its reader reads it (extract_frames.read_jsonl_log): a complete last row that
    lost only its newline is a prediction. Counting lines that end in a newline took it for none, replaced the blind
    run's config and appended frames predictions to the blind one."""
    out = tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--limit', 1), engine=CountingEngine())
    predictions = out / 'predictions.jsonl'
    assert predictions.read_bytes().count(b'\n') == 1
    predictions.write_bytes(predictions.read_bytes().rstrip(b'\n'))
    made_differently = r' holds a run made differently \(num_frames: None there, 4 now; blind: True there, False now'
    with pytest.raises(ev.EvalError, match=f'^{re.escape(str(out))}{made_differently}'):
        ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames), engine=CountingEngine())
    assert json.loads((out / 'run_config.json').read_text(encoding='utf-8'))['blind'] is True


def test_the_pixel_advice_is_read_from_the_training_yaml(tmp_path, monkeypatch):
    yaml_path = tmp_path / 'grpo.yaml'
    yaml_path.write_text('ENV:\n  MAX_PIXELS: 100352\nmodel: m\n')
    monkeypatch.setattr(ev, 'DEFAULT_CONFIG', str(yaml_path))
    assert ev.training_max_pixels() == '100352'
    yaml_path.write_text('model: m\n')
    assert ev.training_max_pixels() is None
    monkeypatch.setattr(ev, 'DEFAULT_CONFIG', str(tmp_path / 'missing.yaml'))
    assert ev.training_max_pixels() is None  # the advice then names no number; evaluation goes on


def test_pixel_budget_is_recorded_and_an_unset_one_is_warned_about(bench, tmp_path, monkeypatch, caplog):
    monkeypatch.delenv('MAX_PIXELS', raising=False)
    monkeypatch.delenv('IMAGE_MAX_TOKEN_NUM', raising=False)
    caplog.set_level(logging.WARNING, logger='eval_vsi_bench')
    ev.evaluate(eval_args('m', bench.dataset, tmp_path / 'a', '--frames_dir', bench.frames), engine=CountingEngine())
    config = json.loads((tmp_path / 'a' / 'run_config.json').read_text())
    # qwen-vl-utils' default: 16384 tokens of 32 x 32 px = 16,777,216 px per frame
    assert config['qwen3_vl_image_max_pixels'] == 16_777_216 and config['image_env'] == {}
    (warning,) = [r.getMessage() for r in caplog.records if 'MAX_PIXELS' in r.getMessage()]
    assert 'MAX_PIXELS is not set' in warning and '16,777,216 px for Qwen3-VL' in warning
    # the advice is the YAML's own value, read from the file
    assert f'MAX_PIXELS=262144 (the ENV block of {train_vsi_grpo.DEFAULT_CONFIG})' in warning

    caplog.clear()
    monkeypatch.setenv('MAX_PIXELS', '262144')
    ev.evaluate(eval_args('m', bench.dataset, tmp_path / 'b', '--frames_dir', bench.frames), engine=CountingEngine())
    config = json.loads((tmp_path / 'b' / 'run_config.json').read_text())
    assert config['qwen3_vl_image_max_pixels'] == 262_144 and config['image_env'] == {'MAX_PIXELS': '262144'}
    shown = Image.open(next(bench.frames.rglob('frame_0000.jpg'))).size
    assert (
        f'4 frames of {shown[0] * shown[1]:,} px (Qwen3-VL sees at most 262,144 px of each)'
        in (tmp_path / 'b' / 'results.md').read_text()
    )
    # predictions that do not record their frames' size (before 2026-11-28) say only the budget
    row = {'id': '0', 'question_type': 'object_counting', 'ground_truth': '3', 'prediction': '3'}
    old = ev.build_results([row], 'old', 'direct', config)
    assert '4 frames of at most 262,144 px (as Qwen3-VL counts them)' in ev.results_markdown(old)
    # rows of two sizes say the range; without a budget (blind configs have none) only the sizes
    sized = ev.build_results(
        [{**row, 'frame_pixels': 4800}, {**row, 'id': '1', 'frame_pixels': 19200}], 'two', 'direct'
    )
    assert ev.frame_sizes(sized) == '4,800 to 19,200 px'
    sized['config'] = {**config, 'qwen3_vl_image_max_pixels': None}
    assert '; 4 frames of 4,800 to 19,200 px, prompt `direct`' in ev.results_markdown(sized)
    monkeypatch.setenv('IMAGE_MAX_TOKEN_NUM', '100')  # swift lets the token count win over MAX_PIXELS
    ev.evaluate(eval_args('m', bench.dataset, tmp_path / 'c', '--blind'), engine=CountingEngine())
    assert json.loads((tmp_path / 'c' / 'run_config.json').read_text())['qwen3_vl_image_max_pixels'] is None
    assert ev.qwen3_vl_image_max_pixels({'MAX_PIXELS': '262144', 'IMAGE_MAX_TOKEN_NUM': '100'}) == 102_400
    assert ev.qwen3_vl_image_max_pixels({'MAX_PIXELS': '262200'}) == 262_144  # whole 32 x 32 px tokens, as swift
    assert not [r for r in caplog.records if 'MAX_PIXELS' in r.getMessage()]


def test_vllm_backend_without_vllm_is_a_usage_error_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ev, 'vllm_installed', lambda: False)
    with pytest.raises(SystemExit) as exit_info:
        ev.main(eval_argv('m', tmp_path / 'test.jsonl', tmp_path / 'run', '--infer_backend', 'vllm'))
    assert exit_info.value.code == 2
    assert '--infer_backend vllm needs vllm' in capsys.readouterr().err
    assert not (tmp_path / 'run').exists()


def test_a_float32_model_is_served_with_a_lora_adapter_in_bfloat16(tiny_model_dir, tmp_path, caplog):
    # vLLM's LoRA kernels assert half precision (seen on an H200 with vLLM 0.23.0 and the float32 tiny model).
    import torch

    assert json.loads((tiny_model_dir / 'config.json').read_text())['dtype'] == 'float32'
    model_type, model_dtype = ev.resolve_model(str(tiny_model_dir), 'qwen3_vl')
    assert (model_type, model_dtype) == ('qwen3_vl', torch.float32)
    with caplog.at_level(logging.WARNING, logger='eval_vsi_bench'):
        assert ev.lora_serving_dtype(str(tiny_model_dir), model_dtype) is torch.bfloat16
    assert 'evaluating in bfloat16' in caplog.text
    half = tmp_path / 'half'
    shutil.copytree(tiny_model_dir, half)
    config = json.loads((half / 'config.json').read_text())
    (half / 'config.json').write_text(json.dumps({**config, 'dtype': 'bfloat16'}))
    _, half_dtype = ev.resolve_model(str(half), 'qwen3_vl')
    assert ev.lora_serving_dtype(str(half), half_dtype) is None  # the model's own, as for real Qwen3-VL weights


def test_warnings_logged_after_swift_is_imported_are_still_shown():
    # swift's get_logger turns plain root StreamHandlers down to ERROR: the evaluator's bfloat16 warning (and the
    # frame extractor's) went unseen on a GPU run.
    script = (
        'import eval_vsi_bench as ev\n'
        'ev.setup_logging()\n'
        'from swift.utils import get_logger\n'
        'get_logger()\n'  # swift's first logger set-up turns the root's plain StreamHandlers down to ERROR
        "ev.logger.warning('heard after swift')\n"
    )
    result = subprocess.run(
        [sys.executable, '-c', script], cwd=Path(ev.__file__).parent, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert 'WARNING eval_vsi_bench: heard after swift' in result.stderr


def test_the_command_line_prints_the_report_and_logs_on_stderr(tmp_path):
    """`python eval_vsi_bench.py` prints results.md on stdout and logs its progress and warnings on stderr."""
    path = hand_predictions(tmp_path / 'predictions.jsonl')
    result = subprocess.run(
        [sys.executable, 'eval_vsi_bench.py', '--predictions', str(path)],
        cwd=Path(ev.__file__).parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (tmp_path / 'results.md').read_text() + '\n'
    assert f'INFO eval_vsi_bench: writing {tmp_path / "results"}.{{json,md,png}}\n' in result.stderr
    assert 'WARNING eval_vsi_bench: completeness unknown: 10 questions, and nothing says' in result.stderr


def test_float32_with_an_adapter_on_vllm_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ev, 'vllm_installed', lambda: True)
    dataset = write_jsonl(tmp_path / 'test.jsonl', BENCH_ROWS)  # checked before the backend is chosen
    argv = eval_argv('m', dataset, tmp_path / 'run', '--infer_backend', 'vllm', '--adapters', 'ckpt')
    assert argv[argv.index('--torch_dtype') + 1] == 'float32'
    with pytest.raises(SystemExit) as exit_info:
        ev.main(argv)
    assert exit_info.value.code == 2
    assert "vLLM's LoRA kernels take bfloat16 or float16" in capsys.readouterr().err
    assert not (tmp_path / 'run').exists()
    # --infer_backend auto that picks vLLM (a GPU node) is refused as soon as it has, before anything is written.
    monkeypatch.setattr(ev, 'resolve_backend', lambda name: 'vllm')
    assert ev.main([*argv, '--infer_backend', 'auto']) == 1
    assert "vLLM's LoRA kernels take bfloat16 or float16" in capsys.readouterr().err
    assert not (tmp_path / 'run').exists()


def test_vllm_engine_arguments_exist_in_swifts_signature(tmp_path):
    # vllm is not installed here, so the real VllmEngine cannot be imported: read its signature from the source.
    import swift.infer_engine

    source = Path(swift.infer_engine.__file__).with_name('vllm_engine.py').read_text(encoding='utf-8')
    engine_class = next(
        node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ClassDef) and node.name == 'VllmEngine'
    )
    init = next(node for node in engine_class.body if isinstance(node, ast.FunctionDef) and node.name == '__init__')
    accepted = {a.arg for a in init.args.args + init.args.kwonlyargs}

    (tmp_path / 'ckpt').mkdir()
    (tmp_path / 'ckpt' / 'adapter_config.json').write_text(json.dumps({'r': 24}))
    kwargs = ev.vllm_engine_kwargs([str(tmp_path / 'ckpt')], 'qwen3_vl', 'bfloat16', 32, 32768, 0.8, 2, 64)
    assert set(kwargs) <= accepted
    assert kwargs == {
        'model_type': 'qwen3_vl',
        'torch_dtype': 'bfloat16',
        'adapters': [str(tmp_path / 'ckpt')],  # VllmEngine turns this into enable_lora + LoRARequest
        'limit_mm_per_prompt': {'image': 32, 'video': 0},
        'max_model_len': 32768,
        'gpu_memory_utilization': 0.8,
        'tensor_parallel_size': 2,
        'max_num_seqs': 64,
        'max_lora_rank': 32,  # rank 24 rounded up to a rank vLLM accepts
    }
    assert 'max_lora_rank' not in ev.vllm_engine_kwargs([], None, None, 0, None, 0.9, 1, 64)


@pytest.mark.parametrize(
    ('config', 'served_rank'),
    [({'r': 32}, 32), ({'r': 33}, 64), ({'r': 512}, 512), ({}, 8), ({'r': 0}, 8)],
    ids=['a rank vLLM accepts', 'rounded up', 'the largest', 'no rank', 'rank 0'],
)
def test_an_adapters_rank_is_served_at_the_smallest_vllm_rank_that_holds_it(tmp_path, config, served_rank):
    (tmp_path / 'adapter_config.json').write_text(json.dumps(config))
    kwargs = ev.vllm_engine_kwargs([str(tmp_path)], None, None, 1, None, 0.9, 1, 64)
    assert kwargs['max_lora_rank'] == served_rank


def test_an_adapter_above_vllms_largest_rank_is_refused(tmp_path):
    (tmp_path / 'adapter_config.json').write_text(json.dumps({'r': 513}))
    with pytest.raises(ev.EvalError) as refused:
        ev.vllm_engine_kwargs([str(tmp_path)], None, None, 1, None, 0.9, 1, 64)
    assert str(refused.value) == (
        f'adapter {tmp_path} has LoRA rank 513, above what vLLM supports (512); use --infer_backend pt or merge the '
        'adapter'
    )


# ----------------------------------------------------------------------------------------------------------
# Score-only mode on hand-worked prediction sets
# ----------------------------------------------------------------------------------------------------------

# Official score per row (first word, trailing dots removed; letters case-insensitive; numbers by MRA, whose
# tolerances are 0.50, 0.45, ..., 0.05) and the lenient (reward) score:
HAND_ROWS = [
    # counting: 10 vs 10 exact -> 1; 7.2 vs 10 is 28% off, within 0.50..0.30 (5 of 10) -> 0.5;
    # 'four chairs': first word is not a number -> 0 officially, 4 leniently -> 1
    ('c1', 'object_counting', '10', '10', None, 1.0, 1.0),
    ('c2', 'object_counting', '10', '7.2', None, 0.5, 0.5),
    ('c3', 'object_counting', '4', 'four chairs', None, 0.0, 1.0),
    # route planning: 'B.' -> B right; '(A)' is not the letter officially, is leniently
    ('r1', 'route_planning', 'B', 'B.', ROUTE_OPTIONS, 1.0, 1.0),
    ('r2', 'route_planning', 'A', '(A)', ROUTE_OPTIONS, 0.0, 1.0),
    # relative direction: easy 2 of 3 right ('b' matches B); medium 1 of 1; hard 'The answer is D' -> 'The'
    ('e1', 'object_rel_direction_easy', 'A', 'A', DIRECTION_OPTIONS[:2], 1.0, 1.0),
    ('e2', 'object_rel_direction_easy', 'B', 'b', DIRECTION_OPTIONS[:2], 1.0, 1.0),
    ('e3', 'object_rel_direction_easy', 'B', 'A', DIRECTION_OPTIONS[:2], 0.0, 0.0),
    ('m1', 'object_rel_direction_medium', 'C', 'C', DIRECTION_OPTIONS, 1.0, 1.0),
    (
        'h1',
        'object_rel_direction_hard',
        'D',
        'The answer is D',
        ['A. front-left', 'B. front-right', 'C. back-left', 'D. back-right'],
        0.0,
        1.0,
    ),
]


def hand_predictions(path: Path, changes=None) -> Path:
    rows = [
        {
            'id': i,
            'question_type': qt,
            'ground_truth': gt,
            'prediction': (changes or {}).get(i, pred),
            'options': options,
        }
        for i, qt, gt, pred, options, _, _ in HAND_ROWS
    ]
    return write_jsonl(path, rows)


def test_temporary_files_a_killed_run_left_are_removed_by_the_next(tmp_path):
    """A SIGKILL while a report was written left `results.png.<pid>-<hex>.<host>.tmp`, which no later run removed.

    Under the folder's lock every writer of this machine is gone, whatever its pid: in a container each run may get
    the same pid, so a killed run's files carried the pid of the run now looking at them, and were kept for good."""
    path = hand_predictions(tmp_path / 'predictions.jsonl')
    ended = subprocess.Popen([sys.executable, '-c', ''])
    ended.wait()  # reaped: the pid runs nothing now
    gone = ended.pid
    host = preprocess_vsi_data._HOST
    stale = [
        f'results.png.{gone}-0123abcd.{host}.tmp',
        f'run_config.json.{gone}-89abcdef.{host}.tmp',
        f'results.md.{os.getpid()}-0123abcd.{host}.tmp',  # the pid this run has now
    ]
    kept = [
        'results.json.1-0123abcd.other-node.tmp',  # another machine's, touched just now
        f'notes.json.{gone}-0123abcd.{host}.tmp',  # not a file this script writes
    ]
    for name in stale + kept:
        (tmp_path / name).write_text('half a file')
    assert ev.main(['--predictions', str(path)]) == 0
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith('.tmp'))
    assert left == sorted(kept)
    assert json.loads((tmp_path / 'results.json').read_text())['official']['num_questions'] == len(HAND_ROWS)


def test_score_only_matches_the_hand_worked_official_score(tmp_path):
    path = hand_predictions(tmp_path / 'predictions.jsonl')
    rows = prediction_lines(path)
    assert [official_score(p, g, t) for _, t, g, p, _, _, _ in HAND_ROWS] == [r[5] for r in HAND_ROWS]
    assert ev.main(['--predictions', str(path)]) == 0
    results = json.loads((path.parent / 'results.json').read_text())
    official, lenient = results['official'], results['lenient']

    # categories: counting (1 + 0.5 + 0) / 3 = 0.5; route (1 + 0) / 2 = 0.5;
    # relative direction = mean of the three level means = (2/3 + 1 + 0) / 3 = 5/9 (by questions it would be 3/5)
    assert official['categories']['object_counting'] == {'score': pytest.approx(50.0), 'count': 3}
    assert official['categories']['route_planning'] == {'score': pytest.approx(50.0), 'count': 2}
    assert official['categories']['object_rel_direction'] == {'score': pytest.approx(500 / 9), 'count': 5}
    assert official['per_type']['object_rel_direction_easy'] == {'score': pytest.approx(200 / 3), 'count': 3}
    # overall = unweighted mean of the 3 categories = (0.5 + 0.5 + 5/9) / 3 = 14/27 = 51.85%,
    # while the mean over the 10 questions would be 5.5 / 10 = 55%
    assert results['overall'] == pytest.approx(1400 / 27)
    assert results['overall'] == official_overall(rows)
    assert not math.isclose(results['overall'], 55.0)
    assert results['prompt_style'] == 'direct'  # nothing recorded: the official protocol
    assert results['predictions'] == str(path.resolve())  # the file these scores are of
    # nor how many questions the dataset holds: 10 predictions are not reported as a full VSI-Bench result unflagged
    completeness = (
        'completeness unknown: 10 questions, and nothing says how many the dataset holds (no run_config.json of the '
        'run beside the predictions, or one whose dataset cannot be read); VSI-Bench has 5,130'
    )
    assert results['completeness_warning'] == completeness and results['subset'] is False
    # lenient: counting 2.5/3 = 5/6; route 1; direction (2/3 + 1 + 1) / 3 = 8/9; overall (5/6 + 1 + 8/9) / 3 = 49/54
    assert lenient['categories']['object_counting']['score'] == pytest.approx(500 / 6)
    assert lenient['categories']['object_rel_direction']['score'] == pytest.approx(800 / 9)
    assert results['lenient_overall'] == pytest.approx(4900 / 54)
    markdown = (path.parent / 'results.md').read_text()
    assert '| **Overall** | 10 | **51.85** | 90.74 |' in markdown and f'**{completeness}**' in markdown
    assert '| Rel. Dir. | 5 | 55.56 | 88.89 |' in markdown
    assert '| &nbsp;&nbsp;object_rel_direction_hard | 1 | 0.00 | 100.00 |' in markdown
    # Categories in the paper's Table 1 order (count, ..., relative direction, route plan), not by internal name
    # (which put route_planning before object_rel_direction); scores in percent as published.
    names = [
        line.split(' | ')[0][2:] for line in markdown.splitlines() if line.startswith('| ') and '&nbsp;' not in line
    ]
    assert names == ['Category', '**Overall**', 'Obj. Count', 'Rel. Dir.', 'Route Plan']
    assert results['category_order'] == ['object_counting', 'object_rel_direction', 'route_planning']
    assert results['category_names'] == {
        'object_counting': 'Obj. Count',
        'object_rel_direction': 'Rel. Dir.',
        'route_planning': 'Route Plan',
    }
    assert results['score_unit'] == 'percent (0-100), as published'
    # no run_config.json names the dataset, so the file is taken as the whole of it
    assert results['subset'] is False and results['subset_warning'] is None


# The settings of the published runs (official_protocol_differences finds none).
PROTOCOL_CONFIG = {
    'model': 'Qwen/Qwen3-VL-8B-Instruct',
    'adapters': [],
    'prompt_style': 'direct',
    'num_frames': 32,
    'max_new_tokens': 16,
    'blind': False,
    'infer_backend': 'vllm',
    'enable_thinking': False,
}


def test_reports_say_whether_the_run_followed_the_official_protocol():
    """Published VSI-Bench scores are measured with the direct prompt, 16 new tokens and all 5,130 questions (32
    frames for Qwen models): a report says whether its run was, and how it differed."""
    rows = [
        {'id': str(i), 'question_type': 'object_counting', 'ground_truth': '3', 'prediction': '3'} for i in range(5130)
    ]
    config = dict(PROTOCOL_CONFIG)
    official = ev.build_results(rows, 'base', 'direct', config)
    assert official['official_protocol'] is True and official['official_protocol_differences'] == []
    assert (
        'Protocol: the official VSI-Bench evaluation (direct prompt, greedy, 16 new tokens, 32 frames, all 5,130 '
        'questions), as published scores; re-run the base model here to compare.'
    ) in ev.results_markdown(official).splitlines()
    think = {**config, 'prompt_style': 'think', 'enable_thinking': True, 'max_new_tokens': 1024, 'num_frames': 8}
    results = ev.build_results(rows[:-1], 'think', 'think', think)
    assert results['official_protocol'] is False and results['official_protocol_differences'] == [
        '8 frames (official: 32, the common setting for Qwen models)',
        'prompt think (official: direct)',
        "the template's thinking prefix (official: none)",
        '1,024 new tokens (official: 16)',
        '5,129 questions (official: all 5,130)',
    ]
    assert (
        'Protocol: differs from the official VSI-Bench evaluation in 8 frames (official: 32, the common setting for '
        "Qwen models); prompt think (official: direct); the template's thinking prefix (official: none); 1,024 new "
        'tokens (official: 16); 5,129 questions (official: all 5,130). Published scores were not measured this way: '
        'compare this score with runs of the same settings.'
    ) in ev.results_markdown(results).splitlines()
    one_token = ev.build_results(rows, 'short', 'direct', {**config, 'max_new_tokens': 1})
    assert one_token['official_protocol_differences'] == ['1 new token (official: 16)']
    assert 'greedy, 1 new token, backend vllm.' in ev.results_markdown(one_token)
    blind = ev.build_results(rows, 'blind', 'direct', {**config, 'blind': True, 'num_frames': None})
    assert blind['official_protocol_differences'] == ['blind, no frames (official: 32 frames); a baseline']
    # a config of before enable_thinking was recorded: no thinking prefix, as that version ran
    assert ev.build_results(rows, 'old', 'direct', {k: v for k, v in config.items() if k != 'enable_thinking'})[
        'official_protocol'
    ]
    # predictions alone: the protocol is unknown, and says so (silence read as no difference); the prompt style the
    # rows record is still noted
    unknown = ev.build_results(rows, 'file', 'think')
    assert unknown['official_protocol'] is None and unknown['official_protocol_differences'] is None
    markdown = ev.results_markdown(unknown)
    assert [line for line in markdown.splitlines() if line.startswith('Protocol:')] == [
        'Protocol: unknown (no run_config.json beside the predictions says how they were made: frames, prompt, token '
        'limit); do not set this score beside published VSI-Bench scores, only beside runs known to be made the same '
        'way.'
    ]
    assert 'Note: prompt style `think`; published VSI-Bench scores' in markdown


def test_questions_given_fewer_frames_than_asked_are_a_protocol_difference(bench, tmp_path):
    """--allow_fewer_frames on scenes with 4 frames: the run asked for the official 32, its questions saw 4, and the
    report called its frames official."""
    args = eval_args('m', bench.dataset, tmp_path, '--frames_dir', bench.frames, '--num_frames', 32)
    args.allow_fewer_frames = True
    results = ev.evaluate(args, engine=CountingEngine())
    assert results['official_protocol_differences'] == [
        '6 questions with fewer than 32 frames (--allow_fewer_frames; official: 32 each)',
        '6 questions (official: all 5,130)',
    ]
    assert '6 questions with fewer than 32 frames' in (tmp_path / 'results.md').read_text()


def test_frames_subsampled_or_of_another_size_are_a_protocol_difference(bench, tmp_path):
    """Frame folders of 8 frames evaluated with --num_frames 4 gave each question an even subset of them, not the
    benchmark's sampling over the video, and the report called the run official; frames of another size (extracted
    with --max_pixels into another --frames_dir) were compared with full-size ones without a word."""
    frames = {'full': tmp_path / 'full', 'small': tmp_path / 'small'}
    for row in BENCH_ROWS:
        source = bench.frames / row['dataset'] / row['scene_name']
        for name, side in (('full', 32), ('small', 16)):
            folder = frames[name] / row['dataset'] / row['scene_name']
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(2 * NUM_FRAMES):  # twice the frames asked for
                frame = Image.open(source / f'frame_{k % NUM_FRAMES:04d}.jpg').resize((side, side))
                frame.save(folder / f'frame_{k:04d}.jpg')
    for name, folder in frames.items():
        args = eval_args('m', bench.dataset, tmp_path / f'run_{name}', '--frames_dir', folder)
        results = ev.evaluate(args, engine=CountingEngine(answer='A'))
        assert results['official_protocol_differences'][-2:] == [
            f'{len(BENCH_ROWS)} questions given an even subset of the frames extracted for their scene (official: '
            'round(linspace(0, n - 1, 32)) over the video; extract_frames.py --num_frames 32 gives exactly those)',
            f'{len(BENCH_ROWS)} questions (official: all 5,130)',
        ]
        rows = [json.loads(line) for line in (tmp_path / f'run_{name}' / 'predictions.jsonl').open()]
        side = 32 if name == 'full' else 16
        assert {(row['subset_of_frames'], row['frame_pixels'], row['num_images']) for row in rows} == {
            (2 * NUM_FRAMES, side * side, NUM_FRAMES)
        }
    # compared scene by scene: full against small frames is said, the same run is alike
    full = ev.load_results(str(tmp_path / 'run_full'))
    scenes = sorted({f'{row["dataset"]}/{row["scene_name"]}' for row in BENCH_ROWS})
    assert full['frame_pixels_by_scene'] == dict.fromkeys(scenes, 32 * 32)
    assert results['frame_pixels_by_scene'] == dict.fromkeys(scenes, 16 * 16)

    def warning(shared):
        return (
            f'the runs were not measured alike (frames of another size in {len(shared)} of the {len(shared)} scenes '
            f'both ran (e.g. {shared[0]}: 1,024 px vs 256 px)): deltas mix the models with the protocol'
        )

    assert ev.compare_results(full, results)['protocol_warning'] == warning(scenes)
    assert ev.compare_results(results, full)['protocol_warning'] == warning(scenes).replace(
        '1,024 px vs 256 px', '256 px vs 1,024 px'
    )  # larger frames in the second run are as much another protocol
    assert ev.compare_results(full, full)['protocol_warning'] is None
    # results of earlier versions record no sizes: not compared on them
    older = {k: v for k, v in full.items() if k != 'frame_pixels_by_scene'}
    assert ev.compare_results(older, results)['protocol_warning'] is None
    # a run of fewer questions (its videos' sizes may differ by dataset) is compared on the scenes both ran
    args = eval_args('m', bench.dataset, tmp_path / 'run_two', '--frames_dir', frames['small'], '--limit', 2)
    two = ev.evaluate(args, engine=CountingEngine(answer='A'))
    assert 0 < len(two['frame_pixels_by_scene']) <= len(scenes)
    assert ev.compare_results(full, two)['protocol_warning'] == warning(sorted(two['frame_pixels_by_scene']))
    # rows of before the sizes were recorded (a run resumed after the upgrade): the scenes of those that record them
    rows = [json.loads(line) for line in (tmp_path / 'run_small' / 'predictions.jsonl').open()]
    for row in rows:
        if f'{row["dataset"]}/{row["scene_name"]}' == scenes[0]:
            del row['frame_pixels']
    assert ev.build_results(rows, 'resumed', 'direct')['frame_pixels_by_scene'] == dict.fromkeys(scenes[1:], 256)
    # a scene whose rows were given two sizes (frames extracted again while a run was resumed) counts its largest
    first = next(row for row in rows if f'{row["dataset"]}/{row["scene_name"]}' == scenes[1])
    first['frame_pixels'] = 1024
    rows.append({**first, 'frame_pixels': 64})
    resumed = ev.build_results(rows, 'resumed', 'direct')
    assert resumed['frame_pixels_by_scene'][scenes[1]] == 1024
    assert (resumed['frame_pixels_min'], resumed['frame_pixels_max']) == (64, 1024)  # the 64 px question is said
    # a size that is no whole number (a hand-edited or foreign file) is refused naming the field
    edited = json.loads((tmp_path / 'run_full' / 'results.json').read_text())
    edited['frame_pixels_by_scene'][scenes[0]] = '1024'
    (tmp_path / 'edited.json').write_text(json.dumps(edited))
    with pytest.raises(ev.EvalError, match=f'frame_pixels_by_scene.{scenes[0]} is "1024", not a whole number'):
        ev.load_results(str(tmp_path / 'edited.json'))
    # folders that hold every frame of their videos (extract_frames' record says so): the even subset is the
    # benchmark's sampling
    for row in BENCH_ROWS:
        record = {'total_frames': 2 * NUM_FRAMES, 'num_frames': 2 * NUM_FRAMES}
        (frames['full'] / row['dataset'] / row['scene_name'] / '.record.json').write_text(json.dumps(record))
    args = eval_args('m', bench.dataset, tmp_path / 'run_every', '--frames_dir', frames['full'])
    every = ev.evaluate(args, engine=CountingEngine(answer='A'))
    assert every['official_protocol_differences'] == [
        f'{NUM_FRAMES} frames (official: 32, the common setting for Qwen models)',
        f'{len(BENCH_ROWS)} questions (official: all 5,130)',
    ]


def test_training_variants_are_listed_under_a_direction_level_scored_as_a_category():
    """Held-out training-style rows of _v1 and _v2 (hard and medium) and no easy ones: each level is a category of its
    own, and the variants that make it up were missing from the table (listed only under object_rel_direction)."""
    options = ['A. left', 'B. right']
    rows = [
        {'id': str(i), 'question_type': qt, 'ground_truth': 'A', 'prediction': answer, 'options': options}
        for i, (qt, answer) in enumerate(
            [('object_rel_direction_v1', 'A'), ('object_rel_direction_v2', 'B'), ('object_rel_distance_v1', 'B')]
        )
    ]
    table = ev.results_table(ev.build_results(rows, 'held-out', 'direct'))
    assert '| object_rel_direction_hard | 1 | 100.00 | 100.00 |\n| &nbsp;&nbsp;object_rel_direction_v1 | 1 |' in table
    assert '| object_rel_direction_medium | 1 | 0.00 | 0.00 |\n| &nbsp;&nbsp;object_rel_direction_v2 | 1 |' in table
    assert '| Rel. Dist. | 1 | 0.00 | 0.00 |\n| &nbsp;&nbsp;object_rel_distance_v1 | 1 |' in table
    # the levels sit where Rel. Dir. would, in difficulty order (by name, hard came before medium)
    categories = [line.split(' | ')[0][2:] for line in table.splitlines()[3:] if '&nbsp;' not in line]
    assert categories == ['Rel. Dist.', 'object_rel_direction_medium', 'object_rel_direction_hard']


def test_a_comparison_reads_the_runs_under_the_lock_of_the_folder_it_goes_to(tmp_path, monkeypatch):
    """The second run rescored between --compare's reading and its lock: the rescoring found no comparison to remove,
    and the comparison then written showed that run's old scores beside its new results. Overall 51.85 before, 62.96
    once 'four chairs' is rescored as '4' (see the next test)."""
    base = hand_predictions(tmp_path / 'base.jsonl')
    assert ev.main(['--predictions', str(base), '--output_dir', str(tmp_path / 'base')]) == 0
    tuned = hand_predictions(tmp_path / 'tuned.jsonl')  # the base's answers, until rescored below
    assert ev.main(['--predictions', str(tuned), '--output_dir', str(tmp_path / 'new')]) == 0
    hand_predictions(tuned, {'c3': '4'})
    lock = ev.run_folder_lock

    @contextlib.contextmanager
    def rescored_first(folder):
        monkeypatch.setattr(ev, 'run_folder_lock', lock)
        assert ev.main(['--predictions', str(tuned), '--output_dir', str(tmp_path / 'new')]) == 0
        with lock(folder):
            yield

    monkeypatch.setattr(ev, 'run_folder_lock', rescored_first)
    assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'new')]) == 0
    comparison = json.loads((tmp_path / 'new' / 'comparison.json').read_text())
    assert comparison['rows'][0]['new'] == pytest.approx(3400 / 54)


def test_compare_two_runs_side_by_side_and_standalone(tmp_path, capsys, monkeypatch):
    plotted = []
    plot_results = ev.plot_results
    monkeypatch.setattr(ev, 'plot_results', lambda **kwargs: plotted.append(kwargs) or plot_results(**kwargs))
    base = hand_predictions(tmp_path / 'base.jsonl')
    assert ev.main(['--predictions', str(base), '--output_dir', str(tmp_path / 'base'), '--label', 'base']) == 0
    # the second run answers 'four chairs' as '4': counting becomes (1 + 0.5 + 1) / 3 = 5/6, up 33.33 points;
    # overall (5/6 + 1/2 + 5/9) / 3 = (15 + 9 + 10) / 54 = 34/54 = 62.96%, up from 28/54 = 51.85% by 1/9 = 11.11
    tuned = hand_predictions(tmp_path / 'tuned.jsonl', {'c3': '4'})
    assert (
        ev.main(
            [
                '--predictions',
                str(tuned),
                '--output_dir',
                str(tmp_path / 'tuned'),
                '--label',
                'tuned',
                '--compare',
                str(tmp_path / 'base' / 'results.json'),
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / 'tuned' / 'results.json').read_text())
    deltas = {row['category']: row['delta'] for row in results['comparison']['rows']}
    assert deltas['overall'] == pytest.approx(100 / 9)
    assert deltas['object_counting'] == pytest.approx(100 / 3)
    assert deltas['route_planning'] == pytest.approx(0.0) and deltas['object_rel_direction'] == pytest.approx(0.0)
    tuned_markdown = (tmp_path / 'tuned' / 'results.md').read_text()
    assert '\n\n## Compared with base (official scores)\n\n**base: completeness unknown: 10 questions' in tuned_markdown
    assert '| **overall** (10) | 51.85 | 62.96 | +11.11 |' in tuned_markdown
    # results.png of the run compared shows the comparison's bars (base and tuned), not the run's own
    assert plotted[-1]['comparison'] == results['comparison'] and plotted[-1]['results']['label'] == 'tuned'
    assert plotted[0]['comparison'] is None
    capsys.readouterr()

    assert (
        ev.main(
            [
                '--compare',
                str(tmp_path / 'base' / 'results.json'),
                str(tmp_path / 'tuned' / 'results.json'),
                '--output_dir',
                str(tmp_path / 'reports' / 'cmp'),  # made with its parent
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert '| Obj. Count (3) | 50.00 | 83.33 | +33.33 |' in printed
    # both runs answered the same questions: the table ends with the lenient overall (c3's '4' was right leniently
    # already), no sentence about question sets, then where the report went
    assert printed.endswith(
        '| overall (lenient) (10) | 90.74 | 90.74 | +0.00 |\n\n'
        f'written to {tmp_path / "reports" / "cmp" / "comparison"}.{{json,md,png}}\n'
    )
    comparison = json.loads((tmp_path / 'reports' / 'cmp' / 'comparison.json').read_text())
    assert comparison['base'] == 'base' and comparison['new'] == 'tuned' and comparison['same_questions']
    assert (tmp_path / 'reports' / 'cmp' / 'comparison.png').read_bytes()[:4] == b'\x89PNG'
    # one results file alone: it is shown next to a model's run, and the error says so
    with pytest.raises(SystemExit) as stop:
        ev.main(['--compare', str(tmp_path / 'base')])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith(
        f'error: --compare {tmp_path / "base"}: one results file is shown next to the run of --model; give two to '
        'compare them (--compare A B)'
    )

    # A results file that lacks what a comparison reads is an error naming it, not a KeyError.
    broken = tmp_path / 'broken.json'
    cuts = [('lenient',), ('official', 'categories'), ('official', 'categories', 'route_planning', 'score')]
    for *where, cut in cuts:
        saved = json.loads((tmp_path / 'base' / 'results.json').read_text())
        part = saved
        for key in where:
            part = part[key]
        del part[cut]
        broken.write_text(json.dumps(saved))
        assert ev.main(['--compare', str(broken), str(tmp_path / 'tuned' / 'results.json')]) == 1
        assert f'{broken} is not a results.json written by eval_vsi_bench.py' in capsys.readouterr().err


def test_a_comparison_report_goes_when_the_run_folder_it_is_in_is_rescored(tmp_path, capsys):
    """`--compare A B` writes into B's folder; rescoring B rewrote results.* and left comparison.* with B's old
    scores (helper-139: overall 0.0 in results.json, +50.00 in comparison.md). The comparison now records the files
    it read, and rewriting one of them in its folder removes it; one of other files, or from before, stays."""
    base, tuned = hand_predictions(tmp_path / 'base.jsonl'), hand_predictions(tmp_path / 'tuned.jsonl', {'c3': '4'})
    for name, path in (('base', base), ('tuned', tuned)):
        assert ev.main(['--predictions', str(path), '--output_dir', str(tmp_path / name), '--label', name]) == 0
    assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'tuned')]) == 0
    made = [tmp_path / 'tuned' / f'comparison.{suffix}' for suffix in ('json', 'md', 'png')]
    assert json.loads(made[0].read_text())['sources'] == {
        'base': str(tmp_path / 'base' / 'results.json'),
        'new': str(tmp_path / 'tuned' / 'results.json'),
    }
    assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'tuned'), '--output_dir', str(tmp_path)]) == 0
    legacy = tmp_path / 'base' / 'comparison.json'  # written before comparisons recorded their sources
    legacy.write_text(json.dumps({'base': 'x', 'new': 'base'}))
    hand_predictions(tuned, {'c3': '7'})  # tuned answers otherwise now, and is scored again
    assert ev.main(['--predictions', str(tuned), '--output_dir', str(tmp_path / 'tuned'), '--label', 'tuned']) == 0
    assert not any(path.exists() for path in made) and (tmp_path / 'tuned' / 'results.json').is_file()
    assert (tmp_path / 'comparison.json').is_file()  # in another folder: not this folder's to remove
    assert ev.main(['--predictions', str(base), '--output_dir', str(tmp_path / 'base'), '--label', 'base']) == 0
    assert legacy.is_file()
    # made from a results_subset.json (a run stopped early) that the finished run's results.json supersedes
    (tmp_path / 'tuned' / 'results.json').rename(tmp_path / 'tuned' / 'results_subset.json')
    assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'tuned')]) == 0
    assert json.loads(made[0].read_text())['sources']['new'] == str(tmp_path / 'tuned' / 'results_subset.json')
    assert ev.main(['--predictions', str(tuned), '--output_dir', str(tmp_path / 'tuned'), '--label', 'tuned']) == 0
    assert not (tmp_path / 'tuned' / 'results_subset.json').exists() and not any(path.exists() for path in made)
    capsys.readouterr()


def test_comparison_labels_and_prompt_styles_are_shown_apart(tmp_path, capsys, caplog):
    """A `|` in a label split the table's header into 5 cells over 4 columns (no renderer showed a table); two runs of
    one model had the same header twice; runs rescored under different prompt styles (no run config) were only
    "of unknown protocol", though each results.json records the rule it was scored by."""
    path = hand_predictions(tmp_path / 'predictions.jsonl')
    for name, flags in (('a', ['--label', 'base | v1']), ('b', ['--label', 'Qwen']), ('c', ['--label', 'Qwen'])):
        assert ev.main(['--predictions', str(path), '--output_dir', str(tmp_path / name), *flags]) == 0
    assert ev.main(['--predictions', str(path), '--output_dir', str(tmp_path / 'd'), '--prompt_style', 'think']) == 0
    assert ev.main(['--compare', str(tmp_path / 'a'), str(tmp_path / 'b')]) == 0
    lines = (tmp_path / 'b' / 'comparison.md').read_text().split('\n')
    header = next(line for line in lines if line.startswith('| Category'))
    separator = lines[lines.index(header) + 1]
    assert header == '| Category | base \\| v1 | Qwen | Δ |'
    assert header.replace('\\|', '').count('|') == separator.count('|') == 5
    assert ev.main(['--compare', str(tmp_path / 'b'), str(tmp_path / 'c')]) == 0
    assert '| Category | Qwen (base) | Qwen (new) | Δ |' in capsys.readouterr().out
    caplog.clear()
    assert ev.main(['--compare', str(tmp_path / 'c'), str(tmp_path / 'd')]) == 0
    warning = json.loads((tmp_path / 'd' / 'comparison.json').read_text())['protocol_warning']
    assert warning.startswith(
        "the runs were not measured alike (prompt_style 'direct' vs 'think', each scored by its own official rule): "
    )


BAD_RESULTS = [
    (('overall',), '40', 'overall is "40", not a number or null'),
    (('official', 'overall'), '40', 'official.overall is "40", not a number or null'),  # was a TypeError traceback
    (('label',), ['x'], 'label is ["x"], not text'),  # was a ValueError traceback from the plot
    (('official', 'categories', 'object_counting', 'score'), '50', 'official.categories.object_counting.score is "50"'),
    (('lenient', 'categories', 'route_planning', 'count'), 2.5, 'lenient.categories.route_planning.count is 2.5, not'),
    (('official', 'num_questions'), True, 'official.num_questions is true, not a whole number'),
    (('config',), 'x', 'config is "x", not an object or null'),
    # NaN compared as a score ("+nan") and went into comparison.json as bare NaN, which strict readers refuse
    (('official', 'overall'), float('nan'), 'official.overall is NaN, not a number or null'),
    (
        ('official', 'categories', 'object_counting', 'score'),
        float('inf'),
        'official.categories.object_counting.score is',
    ),
]


@pytest.mark.parametrize(('where', 'value', 'message'), BAD_RESULTS)
def test_compare_refuses_results_of_wrong_types_naming_file_and_field(tmp_path, capsys, where, value, message):
    path = hand_predictions(tmp_path / 'predictions.jsonl')
    assert ev.main(['--predictions', str(path)]) == 0
    results = json.loads((tmp_path / 'results.json').read_text())
    broken = results
    for key in where[:-1]:
        broken = broken[key]
    broken[where[-1]] = value
    (tmp_path / 'broken.json').write_text(json.dumps(results))
    capsys.readouterr()
    assert (
        ev.main(['--compare', str(tmp_path / 'broken.json'), str(tmp_path), '--output_dir', str(tmp_path / 'c')]) == 1
    )
    error = capsys.readouterr().err
    assert error.startswith(f'error: {tmp_path / "broken.json"}: {message}') and error.count('\n') == 1
    assert not (tmp_path / 'c').exists()  # refused before anything is written


def test_a_report_that_fails_to_render_replaces_none_of_its_files(tmp_path, capsys, monkeypatch):
    """The json and md were replaced before the plot was drawn: a failing plot left them beside the previous png."""
    import matplotlib.figure

    base = hand_predictions(tmp_path / 'base.jsonl')
    assert ev.main(['--predictions', str(base), '--output_dir', str(tmp_path / 'base'), '--label', 'base']) == 0
    for name, change in (('tuned', {'c3': '4'}), ('other', {'c3': '4', 'r2': 'A'})):
        path = hand_predictions(tmp_path / f'{name}.jsonl', change)
        assert ev.main(['--predictions', str(path), '--output_dir', str(tmp_path / name), '--label', name]) == 0
    cmp = tmp_path / 'cmp'
    assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'tuned'), '--output_dir', str(cmp)]) == 0
    before = {path.name: path.read_bytes() for path in cmp.iterdir()}
    assert json.loads(before['comparison.json'])['new'] == 'tuned'

    def fail(*args, **kwargs):
        raise OSError('No space left on device')

    with monkeypatch.context() as patch:
        patch.setattr(matplotlib.figure.Figure, 'savefig', fail)
        capsys.readouterr()
        assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'other'), '--output_dir', str(cmp)]) == 1
    assert capsys.readouterr().err == 'error: No space left on device\n'
    assert {path.name: path.read_bytes() for path in cmp.iterdir()} == before  # no temporary file left either

    # Drawn, but the disk is found full when a file is forced to disk (an fsync), for the png as it is written, or
    # for the md after the png was written: the json and md, or the png, were already in place.
    real_fsync = os.fsync
    argv = ['--compare', str(tmp_path / 'base'), str(tmp_path / 'other'), '--output_dir', str(cmp)]
    for failing in ('.png.', '.md.'):

        def fsync(fd, failing=failing):
            if failing in os.readlink(f'/proc/self/fd/{fd}'):
                raise OSError(errno.ENOSPC, 'No space left on device')
            real_fsync(fd)

        with monkeypatch.context() as patch:
            patch.setattr(os, 'fsync', fsync)
            assert ev.main(argv) == 1
        assert capsys.readouterr().err == (
            f'error: cannot write {cmp / "comparison"}.{{json,md,png}} (No space left on device); the reports there '
            'before are unchanged: make room and run the same command again\n'
        )
        assert {path.name: path.read_bytes() for path in cmp.iterdir()} == before


def test_results_of_an_earlier_version_are_compared_with_a_warning(tmp_path, caplog):
    """Before official_protocol was recorded (2026-11-27), versions scored subsets by other rules: a comparison with
    such a file says so, in the log and in the comparison itself."""
    for name, change in (('base', None), ('tuned', {'c3': '4'})):
        path = hand_predictions(tmp_path / f'{name}.jsonl', change)
        assert ev.main(['--predictions', str(path), '--output_dir', str(tmp_path / name), '--label', name]) == 0
    assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'tuned')]) == 0
    assert 'earlier' not in caplog.text
    assert 'earlier' not in json.loads((tmp_path / 'tuned' / 'comparison.json').read_text())['subset_warning']
    old = tmp_path / 'base' / 'results.json'
    results = json.loads(old.read_text())
    del results['official_protocol'], results['official_protocol_differences']
    old.write_text(json.dumps(results))
    assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'tuned')]) == 0
    warning = (
        f'{old} was written by an earlier eval_vsi_bench.py (no official_protocol field), maybe under earlier scoring '
        'rules (until 2026-11-26 a run lacking a category or a relative-direction level was scored differently): '
        'rescore its predictions with --predictions to compare like with like'
    )
    assert caplog.text.count(warning) == 1  # once, though --compare reads the file before its lock and under it
    comparison = json.loads((tmp_path / 'tuned' / 'comparison.json').read_text())
    assert f'; base: {warning}; tuned: completeness unknown' in comparison['subset_warning']
    assert f'base: {warning}; tuned: completeness unknown' in (tmp_path / 'tuned' / 'comparison.md').read_text()
    deltas = {row['category']: row['delta'] for row in comparison['rows']}
    assert deltas['overall'] == pytest.approx(100 / 9)  # compared all the same, as before


def test_results_with_a_size_range_but_no_sizes_by_scene_are_compared_with_a_warning(tmp_path, caplog):
    """results.json of 2026-11-28 between frame_pixels_min/max and frame_pixels_by_scene record the frames' range
    only: their sizes cannot be compared scene by scene, and the comparison says so rather than stay silent."""
    for name in ('base', 'tuned'):
        path = hand_predictions(tmp_path / f'{name}.jsonl')
        assert ev.main(['--predictions', str(path), '--output_dir', str(tmp_path / name), '--label', name]) == 0
    old = tmp_path / 'base' / 'results.json'
    results = json.loads(old.read_text())
    assert results['frame_pixels_by_scene'] == {} and results['frame_pixels_min'] is None  # hand rows give no size
    for ranged in (False, True):
        del results['frame_pixels_by_scene']
        results.update(frame_pixels_min=4800 if ranged else None, frame_pixels_max=19200 if ranged else None)
        old.write_text(json.dumps(results))
        caplog.clear()
        assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'tuned')]) == 0
        comparison = json.loads((tmp_path / 'tuned' / 'comparison.json').read_text())
        warning = (
            f'{old} was written by an earlier eval_vsi_bench.py (frame sizes without frame_pixels_by_scene, '
            "2026-11-28): its frames' sizes are not compared scene by scene; rescore its predictions with "
            '--predictions to compare them'
        )
        assert (warning in caplog.text) is ranged  # a run that records no size at all has nothing to compare
        assert (f'base: {warning}' in (comparison['subset_warning'] or '')) is ranged
        results['frame_pixels_by_scene'] = {}


def test_compare_takes_run_folders_and_keeps_the_subset_warning(bench, tmp_path, capsys):
    """Two quick runs (--limit) write only results_subset.json: their folders compare, and the table says it covers
    a subset, so it is never shared as a full-benchmark result."""
    for name, answer in (('base', 'A'), ('tuned', 'B')):
        argv = eval_args('m', bench.dataset, tmp_path / name, '--blind', '--limit', 2, '--label', name)
        ev.evaluate(argv, engine=CountingEngine(answer=answer))
    missing = tmp_path / 'base' / 'results.json'
    assert ev.main(['--compare', str(missing), str(tmp_path / 'tuned')]) == 1
    assert (
        capsys.readouterr()
        .err.rstrip()
        .endswith(f'(a run on fewer questions writes {tmp_path / "base" / "results_subset.json"}, which is there)')
    )
    assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'tuned')]) == 0
    comparison = json.loads((tmp_path / 'tuned' / 'comparison.json').read_text())  # beside the run judged
    warning = 'subset: 2 of 6 questions — not comparable to published full-benchmark numbers (chosen by --limit 2)'
    assert comparison['subset_warning'] == f'base: {warning}; tuned: {warning}'
    # --limit 2 takes counting ('3') and easy direction ('A'): base's 'A' scores the latter only; direction is
    # (1 + 0 + 0) / 3 with its absent levels at 0, the overall (0 + 100/3) / 2; tuned's 'B' scores nothing
    assert [(row['base'], row['new']) for row in comparison['rows'][:1]] == [(pytest.approx(100 / 6), 0.0)]
    markdown = (tmp_path / 'tuned' / 'comparison.md').read_text()
    assert f'**base: {warning}; tuned: {warning}**' in markdown


def test_compare_says_when_the_runs_were_not_measured_alike(bench, tmp_path, monkeypatch):
    """A base run with 4 frames at 262144 px against an adapter run with 2 frames at 4096 px compared as if the
    adapter alone made the difference."""
    runs = {'base': (4, '262144'), 'same': (4, '262144'), 'other': (2, '4096')}
    for name in ev.IMAGE_ENV:  # swift, imported by an earlier test, may have set IMAGE_MAX_TOKEN_NUM from MAX_PIXELS
        monkeypatch.delenv(name, raising=False)
    for name, (num_frames, pixels) in runs.items():
        monkeypatch.setenv('MAX_PIXELS', pixels)
        args = eval_args('m', bench.dataset, tmp_path / name, '--frames_dir', bench.frames, '--num_frames', num_frames)
        ev.evaluate(args, engine=CountingEngine(answer='A'))
    assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'same')]) == 0
    assert json.loads((tmp_path / 'same' / 'comparison.json').read_text())['protocol_warning'] is None
    assert ev.main(['--compare', str(tmp_path / 'base'), str(tmp_path / 'other')]) == 0
    comparison = json.loads((tmp_path / 'other' / 'comparison.json').read_text())
    warning = (
        'the runs were not measured alike (num_frames 4 vs 2; qwen3_vl_image_max_pixels 262144 vs 4096): deltas mix '
        'the models with the protocol'
    )
    assert comparison['protocol_warning'] == warning
    assert f'**{warning}**' in (tmp_path / 'other' / 'comparison.md').read_text()
    # a results file of a version that recorded no pixel budget: worked out from its image_env (unset: qwen-vl-utils'
    # 16384 tokens of 32 x 32 px)
    older = json.loads((tmp_path / 'same' / 'results.json').read_text())
    del older['config']['qwen3_vl_image_max_pixels']
    older['config']['image_env'] = {}
    (tmp_path / 'older.json').write_text(json.dumps(older))
    assert ev.compare_results(older, ev.load_results(str(tmp_path / 'base')))['protocol_warning'] == (
        'the runs were not measured alike (qwen3_vl_image_max_pixels 16777216 vs 262144): deltas mix the models '
        'with the protocol'
    )
    # the same check where a run is compared as it is scored (--compare beside --model); the run is finished, so its
    # model is not loaded
    args = eval_args('m', bench.dataset, tmp_path / 'other', '--frames_dir', bench.frames, '--num_frames', 2)
    args.compare = [str(tmp_path / 'base')]
    monkeypatch.setattr(ev, 'resolve_model', lambda *args: pytest.fail('a finished run loaded its model'))
    results = ev.evaluate(args)
    assert results['comparison']['protocol_warning'] == warning
    # a run rescored from its predictions alone (no run_config.json): nothing to compare, which is said, not silence
    (tmp_path / 'loose').mkdir()
    shutil.copy(tmp_path / 'same' / 'predictions.jsonl', tmp_path / 'loose' / 'predictions.jsonl')
    assert ev.main(['--predictions', str(tmp_path / 'loose')]) == 0
    loose = ev.load_results(str(tmp_path / 'loose'))
    unknown = (
        'the protocol of loose is unknown (scored from predictions without their run_config.json): deltas may mix the '
        'models with the protocol'
    )
    assert ev.compare_results(ev.load_results(str(tmp_path / 'base')), loose)['protocol_warning'] == unknown
    assert ev.compare_results(loose, loose)['protocol_warning'] == unknown.replace('loose', 'loose and loose', 1)
    assert ev.compare_results(loose, ev.load_results(str(tmp_path / 'other')))['protocol_warning'] == unknown


def test_a_mistyped_compare_fails_before_anything_is_predicted(bench, tmp_path):
    """--compare beside --model was read only once every question had been predicted: a typo in its path cost the
    whole run (hours on the benchmark) and then ended without a report."""
    engine = CountingEngine()
    args = eval_args('m', bench.dataset, tmp_path / 'run', '--blind', '--compare', tmp_path / 'base' / 'results.json')
    with pytest.raises(ev.EvalError, match='cannot read results file .*base/results.json'):
        ev.evaluate(args, engine=engine)
    assert engine.requests == [] and not (tmp_path / 'run' / ev.PREDICTIONS_NAME).exists()


def test_a_renamed_dataset_without_ids_is_refused_before_predicting_it_again(bench, tmp_path, caplog):
    """Rows without an id are `<file name>:<index>`: after a rename the resume predicted every question again (with
    a warning), and the folder's predictions then mixed two runs, which rescoring refuses for good. The rename is
    refused before any inference, naming the file the run read; under that name the run resumes."""
    rows = [{k: v for k, v in row.items() if k != 'id'} for row in BENCH_ROWS]
    first = write_jsonl(tmp_path / 'a.jsonl', rows)
    engine = CountingEngine(answer='A')
    out = tmp_path / 'run'
    with caplog.at_level(logging.WARNING, logger='eval_vsi_bench'):
        ev.evaluate(eval_args('m', first, out, '--frames_dir', bench.frames, '--limit', 3), engine=engine)
    assert 'match no question' not in caplog.text  # nothing to say while every prediction has its question
    renamed = first.rename(tmp_path / 'b.jsonl')
    with pytest.raises(ev.EvalError) as error:
        ev.evaluate(eval_args('m', renamed, out, '--frames_dir', bench.frames), engine=engine)
    assert str(error.value) == (
        f'3 prediction(s) in {out / "predictions.jsonl"} match no question of {renamed} ({first} then), whose '
        'contents are those the run read: rows without an id are named by their file, `<file name without '
        'extension>:<index>`, so under another name each would be predicted again. Give the file the name it had, '
        'or pass --overwrite to predict it all again'
    )
    assert len(engine.requests) == 3
    renamed.rename(first)
    results = ev.evaluate(eval_args('m', first, out, '--frames_dir', bench.frames), engine=engine)
    assert len(engine.requests) == 6 and results['num_questions'] == 6 and not results['subset']
    assert ev.main(['--predictions', str(out)]) == 0


def test_rescoring_refuses_predictions_of_a_renamed_dataset_whether_more_or_fewer_than_its_questions(
    bench, tmp_path, capsys
):
    """3 questions predicted as `a:<index>`, the same 3 again as `b:<index>` in another folder, the two files joined
    by hand: rescoring scored all 6 rows as the full benchmark (6 of 6 questions, the same questions twice). With
    all 6 of b.jsonl beside them (9 rows), it is refused for holding more rows than the dataset has questions."""
    first = write_jsonl(tmp_path / 'a.jsonl', [{k: v for k, v in row.items() if k != 'id'} for row in BENCH_ROWS])
    out, other = tmp_path / 'run', tmp_path / 'other'
    ev.evaluate(eval_args('m', first, out, '--frames_dir', bench.frames, '--limit', 3), engine=CountingEngine())
    second = write_jsonl(tmp_path / 'b.jsonl', [json.loads(line) for line in first.open()])
    for limit in ('3', '6'):
        ev.evaluate(eval_args('m', second, other, '--frames_dir', bench.frames, '--limit', limit), CountingEngine())
        joined = (out / 'predictions.jsonl').read_text() + (other / 'predictions.jsonl').read_text()
        (tmp_path / 'joined').mkdir(exist_ok=True)
        shutil.copy(out / 'run_config.json', tmp_path / 'joined' / 'run_config.json')
        (tmp_path / 'joined' / 'predictions.jsonl').write_text(joined)
        assert ev.main(['--predictions', str(tmp_path / 'joined')]) == 1
        error = capsys.readouterr().err
        path = tmp_path / 'joined' / 'predictions.jsonl'
        if limit == '3':
            assert (
                f'{path} holds predictions for 3 question(s) that the dataset its run_config.json records does not '
                "have (e.g. id 'b:0'; rows without an id are named `<file name without extension>:<index>`: was it "
                'renamed?): it mixes runs'
            ) in error
        else:
            assert f'{path} holds predictions for 9 questions, but the dataset its run_config.json' in error
            assert error.rstrip().endswith(
                "records has 6: it mixes runs; evaluate again with --model (only the dataset's questions are scored)"
            )
        assert not (tmp_path / 'joined' / 'results.json').exists()


def test_no_progress_keeps_bars_out_of_logs(bench, tmp_path, capsys):
    scene_video(tmp_path / 'videos', num_frames=8)
    dataset = write_jsonl(tmp_path / 'test.jsonl', BENCH_ROWS[:2])
    for name, extra in (('bars', ()), ('quiet', ('--no_progress',))):
        argv = eval_args('m', dataset, tmp_path / name, '--video_dir', tmp_path / 'videos', *extra)
        ev.evaluate(argv, engine=CountingEngine())
        err = capsys.readouterr().err
        # the frame extraction's bar and the inference bar
        assert ('extract frames' in err, 'VSI-Bench' in err) == ((True, True) if name == 'bars' else (False, False))


def test_flags_the_rescoring_modes_do_not_read_are_refused(tmp_path, capsys):
    """--predictions scores the file whole: a --limit or --question_types there would silently select nothing."""
    predictions = str(hand_predictions(tmp_path / 'p.jsonl'))
    for argv in (
        ['--predictions', predictions, '--question_types', 'object_counting', '--limit', '3'],
        ['--compare', predictions, predictions, '--label', 'x'],
    ):
        with pytest.raises(SystemExit) as usage:
            ev.parse_args(argv)
        assert usage.value.code == 2
    errors = capsys.readouterr().err
    assert (
        '--question_types, --limit: not read by --predictions, which reads only --predictions, --prompt_style' in errors
    )
    assert errors.count('; drop them\n') == 1
    assert (
        '--label: not read by --compare A B, which reads only --compare, --output_dir, --no_progress; drop it\n'
        in errors
    )
    assert not list(tmp_path.glob('results*'))
    # --no_progress, which scripts pass to every call for their logs, is taken by every mode
    assert ev.parse_args(['--predictions', predictions, '--no_progress']).no_progress
    assert ev.parse_args(['--compare', predictions, predictions, '--no_progress']).no_progress


def test_a_report_given_for_predictions_or_predictions_for_a_report_is_named_as_such(bench, tmp_path, capsys):
    """Every run folder holds predictions.jsonl beside results.json: results.json as --predictions was refused as
    another run's, and a copy of it elsewhere with `line 1: not a prediction row ...; fix or delete the line`;
    predictions.jsonl given to --compare said only `Extra data: line 2 column 1`."""
    run = tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, run, '--frames_dir', bench.frames), engine=CountingEngine())
    copy = tmp_path / 'loose' / 'results.json'
    copy.parent.mkdir()
    shutil.copy(run / 'results.json', copy)
    capsys.readouterr()
    for given, advice in (
        (run / 'results.json', f'{run / "predictions.jsonl"}, or the run folder {run}'),
        (run / 'run_config.json', f'{run / "predictions.jsonl"}, or the run folder {run}'),
        (copy, 'the predictions.jsonl it was made from'),
    ):
        assert ev.main(['--predictions', str(given)]) == 1
        assert capsys.readouterr().err == (
            f'error: --predictions {given} is a file this script writes about a run, not its predictions: pass '
            f'{advice}\n'
        )
    assert ev.main(['--compare', str(run / 'predictions.jsonl'), str(run)]) == 1
    assert capsys.readouterr().err == (
        f'error: {run / "predictions.jsonl"} holds prediction rows, not results: pass its run folder or the '
        'results.json beside it (a predictions file is scored with --predictions first)\n'
    )
    assert sorted(path.name for path in copy.parent.iterdir()) == ['results.json']  # nothing written


def test_a_token_budget_of_zero_or_less_is_a_usage_error(tmp_path, capsys):
    """`--max_new_tokens 0` was taken as unset and ran with the default (16, or 1024 for think), recorded as that."""
    for tokens in (0, -5):
        with pytest.raises(SystemExit) as usage:
            eval_args('m', tmp_path / 'test.jsonl', tmp_path / 'out', '--max_new_tokens', tokens)
        assert usage.value.code == 2
    assert capsys.readouterr().err.count('--max_new_tokens must be positive') == 2


def test_prediction_files_tolerate_only_a_cut_last_line_and_repeated_rows(tmp_path, capsys, caplog):
    good = [{'id': i, 'question_type': 'object_counting', 'ground_truth': '2', 'prediction': '2'} for i in range(3)]
    lines = [json.dumps(row) for row in good]
    cut = tmp_path / 'cut.jsonl'
    cut.write_text('\n'.join(lines[:2]) + '\n' + lines[2][:15], encoding='utf-8')
    assert sorted(ev.read_predictions(cut, repair=True)) == ['0', '1']
    assert cut.read_text(encoding='utf-8') == '\n'.join(lines[:2]) + '\n'  # cut back so appends stay clean

    no_newline = tmp_path / 'no_newline.jsonl'
    no_newline.write_text('\n'.join(lines), encoding='utf-8')  # a hand-made file without a final newline
    assert sorted(ev.read_predictions(no_newline)) == ['0', '1', '2']
    # a complete last row that is not a prediction is an error like any other line, not a cut-off write to drop
    (invalid := tmp_path / 'invalid_last.jsonl').write_text(
        '\n'.join([*lines[:2], json.dumps({**good[2], 'prediction': 2})]), encoding='utf-8'
    )
    with pytest.raises(ev.EvalError, match=r'invalid_last.jsonl:3: not a prediction row \(prediction 2 is not text\)'):
        ev.read_predictions(invalid, repair=True)
    assert invalid.read_text(encoding='utf-8').endswith('"prediction": 2}')  # nothing cut off

    broken = tmp_path / 'broken.jsonl'
    broken.write_text(lines[0] + '\n{oops\n' + lines[1] + '\n', encoding='utf-8')
    with pytest.raises(ev.EvalError, match='broken.jsonl:2'):
        ev.read_predictions(broken)
    # A row written twice word for word (two evaluations of one folder did that) counts once, with a warning; an
    # id predicted twice differently is an error naming both lines.
    duplicate = tmp_path / 'duplicate.jsonl'
    duplicate.write_text('\n'.join([lines[0], lines[1], lines[0], lines[1]]) + '\n', encoding='utf-8')
    with caplog.at_level(logging.WARNING, logger='eval_vsi_bench'):
        assert ev.read_predictions(duplicate) == {'0': good[0], '1': good[1]}
    assert '2 line(s) repeat an earlier prediction of the same id word for word' in caplog.text
    conflict = tmp_path / 'conflict.jsonl'
    conflict.write_text('\n'.join([lines[0], lines[1], json.dumps(dict(good[0], prediction='3'))]) + '\n')
    with pytest.raises(ev.EvalError, match=r"conflict.jsonl:3: id '0' was already predicted at line 1, differently"):
        ev.read_predictions(conflict)
    # after a word-for-word repeat the conflict still names the id's first line
    conflict.write_text('\n'.join([lines[0], lines[0], json.dumps(dict(good[0], prediction='3'))]) + '\n')
    with pytest.raises(ev.EvalError) as refused:
        ev.read_predictions(conflict)
    assert str(refused.value) == (
        f"{conflict}:3: id '0' was already predicted at line 1, differently; keep one of the two lines"
    )
    missing = tmp_path / 'missing.jsonl'
    missing.write_text(json.dumps({'id': 1, 'prediction': 'A'}) + '\n', encoding='utf-8')
    assert ev.main(['--predictions', str(missing)]) == 1
    assert 'missing question_type, ground_truth' in capsys.readouterr().err


def test_score_only_takes_the_prompt_style_from_the_rows_the_run_config_or_the_flag(tmp_path, capsys, caplog):
    row = {
        'id': 1,
        'question_type': 'object_counting',
        'ground_truth': '3',
        'prediction': '<think>3</think><answer>3</answer>',
    }
    (tmp_path / 'a').mkdir()
    plain = write_jsonl(tmp_path / 'a' / 'predictions.jsonl', [row])

    def overall(*extra) -> float:
        assert ev.main(['--predictions', str(plain), *extra]) == 0
        return json.loads((plain.parent / 'results.json').read_text())['overall']

    assert overall() == 0.0  # no style recorded: direct, whose first word is '<think>3</think><answer>3</answer>'
    assert 'records no prompt style' in caplog.text  # with a hint at --prompt_style think
    assert overall('--prompt_style', 'think') == 100.0
    # A run_config.json next to the file names the style.
    config = {'model': 'm', 'adapters': [], 'prompt_style': 'think', 'num_frames': 4, 'max_new_tokens': 1024}
    (plain.parent / 'run_config.json').write_text(
        json.dumps({**config, 'blind': False, 'infer_backend': 'pt', 'label': 'm'})
    )
    assert overall() == 100.0
    assert ev.main(['--predictions', str(plain), '--prompt_style', 'direct']) == 1
    assert 'conflicting prompt styles' in capsys.readouterr().err
    # So does each row.
    recorded = write_jsonl(tmp_path / 'recorded.jsonl', [dict(row, prompt_style='think')])
    assert ev.main(['--predictions', str(recorded)]) == 0
    assert json.loads((tmp_path / 'results.json').read_text())['overall'] == 100.0


BAD_PREDICTIONS = [
    ({'question_type': 5}, 'question type 5 is not a VSI-Bench question type'),
    ({'question_type': 'object_countng'}, "did you mean 'object_counting'"),
    ({'question_type': 'object_rel_direction'}, 'reporting category'),
    ({'ground_truth': 'three'}, "ground_truth 'three' of a numeric question is not a plain finite number"),
    ({'ground_truth': True}, 'is not a plain finite number'),
    ({'ground_truth': float('nan')}, 'ground_truth nan of a numeric question is not a plain finite number'),
    # float() reads these; preprocessing skips them (vsi_scoring.ground_truth_number), so the evaluator refuses them
    ({'ground_truth': '1_200'}, "ground_truth '1_200' of a numeric question is not a plain finite number"),
    ({'ground_truth': '1e999'}, "ground_truth '1e999' of a numeric question is not a plain finite number"),
    ({'question_type': 'route_planning', 'ground_truth': ['B']}, 'multiple-choice question is not an option letter'),
    # multiple-choice ground truths no answer can match under the official rule: they would score 0 silently
    *[
        (
            {'question_type': 'route_planning', 'options': ['A. chair', 'B. table'], 'ground_truth': truth},
            f'ground_truth {truth!r} of a multiple-choice question is not one of its option letters (A, B)',
        )
        for truth in ('E', '', 'B. table', 'B.', ' B')
    ],
    (
        {'question_type': 'route_planning', 'ground_truth': 'B.'},
        "ground_truth 'B.' of a multiple-choice question is not an option letter (A-Z)",
    ),
    ({'options': 'A. x'}, "options 'A. x' is not a list of strings"),
    ({'prediction': 3}, 'prediction 3 is not text'),
    ({'id': [2]}, 'id [2] is not a string or an integer'),
    ({'prompt_style': 'cot'}, "prompt_style 'cot' is not one of"),
    ({'prompt_style': 'think'}, "p.jsonl:2: prompt_style 'think', but line 1 has 'direct'"),
]


@pytest.mark.parametrize(('change', 'message'), BAD_PREDICTIONS)
def test_score_only_refuses_malformed_rows_naming_file_and_line(tmp_path, capsys, change, message):
    good = {'id': 1, 'question_type': 'object_counting', 'ground_truth': 3, 'prediction': '3', 'prompt_style': 'direct'}
    bad = {**good, 'id': 2, 'prompt_style': None, **change}
    path = write_jsonl(tmp_path / 'p.jsonl', [good, bad])
    assert ev.main(['--predictions', str(path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith('error: ') and error.count('\n') == 1  # one line, no traceback
    assert 'p.jsonl:2' in error and message in error


BAD_RUN_CONFIGS = [
    ({'max_new_tokens': None}, 'max_new_tokens is null, not a whole number'),  # was a TypeError traceback
    ({'max_new_tokens': '16'}, 'max_new_tokens is "16", not a whole number'),  # was a ValueError traceback
    ({'blind': 'no'}, 'blind is "no", not true or false'),  # was read as true: a blind baseline
    ({'num_frames': True}, 'num_frames is true, not a whole number or null'),
    ({'adapters': 'ckpt'}, 'adapters is "ckpt", not a list of text'),
    ({'label': ['x']}, 'label is ["x"], not text'),
    ({'enable_thinking': 'false'}, 'enable_thinking is "false", not true or false'),
    ({'qwen3_vl_image_max_pixels': '4096'}, 'qwen3_vl_image_max_pixels is "4096", not a whole number or null'),
    ({'prompt_style': 'cot'}, "prompt_style is \"cot\", not one of ('direct', 'think')"),
]


# A run_config.json as an evaluation writes it, less the fields a rescoring does without.
RUN_CONFIG = {
    'model': 'tiny_qwen3_vl',
    'adapters': [],
    'prompt_style': 'direct',
    'num_frames': 32,
    'max_new_tokens': 16,
    'blind': False,
    'infer_backend': 'pt',
    'label': 'tiny_qwen3_vl',
}


@pytest.mark.parametrize(('change', 'message'), BAD_RUN_CONFIGS)
def test_score_only_refuses_a_run_config_of_wrong_types_naming_file_and_field(tmp_path, capsys, change, message):
    path = hand_predictions(tmp_path / 'predictions.jsonl')
    config = {**RUN_CONFIG, 'model': 'm', 'label': 'm', 'enable_thinking': False, 'qwen3_vl_image_max_pixels': 4096}
    (tmp_path / 'run_config.json').write_text(json.dumps(config))
    assert ev.main(['--predictions', str(path)]) == 0  # the same config with the right types scores
    assert json.loads((tmp_path / 'results.json').read_text())['config'] == config
    (tmp_path / 'results.json').unlink()
    capsys.readouterr()
    (tmp_path / 'run_config.json').write_text(json.dumps({**config, **change}))
    assert ev.main(['--predictions', str(path)]) == 1
    assert capsys.readouterr().err == f'error: {tmp_path / "run_config.json"}: {message}\n'
    assert not (tmp_path / 'results.json').exists()


def test_a_multiple_choice_ground_truth_is_any_case_of_an_option_letter(tmp_path):
    """The official comparison ignores case, so `b` is option B and scores as `B` does; a row without options takes
    any single letter."""
    rows = [
        {'id': 1, 'question_type': 'route_planning', 'ground_truth': 'b', 'prediction': 'B', 'options': ROUTE_OPTIONS},
        {'id': 2, 'question_type': 'route_planning', 'ground_truth': 'C', 'prediction': 'b.', 'options': ROUTE_OPTIONS},
        {'id': 3, 'question_type': 'route_planning', 'ground_truth': 'Q', 'prediction': 'q'},
    ]
    path = write_jsonl(tmp_path / 'predictions.jsonl', rows)
    assert ev.main(['--predictions', str(path)]) == 0
    results = json.loads((tmp_path / 'results.json').read_text())
    assert results['overall'] == pytest.approx(200 / 3) == official_overall(prediction_lines(path))


def test_score_only_names_a_bare_file_by_its_folder(tmp_path, monkeypatch):
    (tmp_path / 'grpo_run').mkdir()
    hand_predictions(tmp_path / 'grpo_run' / 'p.jsonl')
    monkeypatch.chdir(tmp_path / 'grpo_run')
    assert ev.main(['--predictions', 'p.jsonl']) == 0
    results = json.loads((tmp_path / 'grpo_run' / 'results.json').read_text())
    assert results['label'] == 'grpo_run'
    assert '# VSI-Bench: grpo_run' in (tmp_path / 'grpo_run' / 'results.md').read_text()


def test_rescoring_another_file_is_neither_labelled_as_the_folders_run_nor_written_over_its_results(
    tmp_path, capsys, caplog
):
    """A run folder's run_config.json describes its predictions.jsonl alone. Another run's predictions copied beside
    it were reported as the base model (its label and adapter) over its results.json, and so were another folder's
    predictions rescored with --output_dir naming a run folder."""
    base = tmp_path / 'base'
    base.mkdir()
    hand_predictions(base / 'predictions.jsonl')
    (base / 'run_config.json').write_text(json.dumps(RUN_CONFIG))
    assert ev.main(['--predictions', str(base)]) == 0  # the folder's own predictions rescore in place
    kept = (base / 'results.json').read_bytes()
    assert json.loads(kept)['config'] == RUN_CONFIG
    (tmp_path / 'grpo').mkdir()
    grpo = hand_predictions(tmp_path / 'grpo' / 'predictions.jsonl', {'c1': '3'})
    copy = base / 'grpo_preds.jsonl'
    shutil.copy(grpo, copy)
    capsys.readouterr()

    for argv, scored in (([str(copy)], copy), ([str(tmp_path / 'grpo'), '--output_dir', str(base)], grpo)):
        assert ev.main(['--predictions', *argv]) == 1
        assert capsys.readouterr().err == (
            f'error: {base} holds another run ({base / "predictions.jsonl"}), whose results would be replaced by the '
            f'scores of {scored}; pass --output_dir with a folder of their own (a new one) for them\n'
        )
        assert (base / 'results.json').read_bytes() == kept

    # In a folder of its own the copy is scored as a file of unknown origin, named by itself, not by the run folder.
    assert ev.main(['--predictions', str(copy), '--output_dir', str(tmp_path / 'new')]) == 0
    results = json.loads((tmp_path / 'new' / 'results.json').read_text())
    assert results['label'] == 'grpo_preds' and results['config'] is None and results['predictions'] == str(copy)
    assert results['official_protocol'] is None and results['official_protocol_differences'] is None
    assert f'{copy} is not predictions.jsonl, so the run_config.json beside it' in caplog.text
    assert (base / 'results.json').read_bytes() == kept


# ----------------------------------------------------------------------------------------------------------
# Subsets, one process per run folder, --overwrite (no model: a counting stand-in answers)
# ----------------------------------------------------------------------------------------------------------

NOT_COMPARABLE = 'not comparable to published full-benchmark numbers'


def test_ctrl_c_during_evaluation_says_in_one_line_how_to_resume_and_exits_130(bench, tmp_path, monkeypatch, capsys):
    """Ctrl-C printed a 30-line KeyboardInterrupt traceback and nothing of the predictions kept."""

    class InterruptedEngine(CountingEngine):
        def infer(self, infer_requests, request_config=None, *, use_tqdm=None):
            if self.requests:  # Ctrl-C during the second batch
                raise KeyboardInterrupt
            return super().infer(infer_requests, request_config, use_tqdm=use_tqdm)

    engines = iter([InterruptedEngine(), CountingEngine()])
    monkeypatch.setattr(ev, 'make_engine', lambda *args: next(engines))
    monkeypatch.setattr(ev, 'resolve_model', lambda model, model_type: (None, None))
    out = tmp_path / 'run'
    argv = eval_argv('m', bench.dataset, out, '--blind', '--batch_size', 2, '--no_progress')
    capsys.readouterr()
    try:
        status = ev.main(argv)
    except KeyboardInterrupt:  # caught here, lest it stop the whole test session as it stopped the run
        pytest.fail('the KeyboardInterrupt left main(): a traceback')
    assert status == 130
    assert capsys.readouterr().err == (
        f'interrupted: the predictions written so far are kept in {out / "predictions.jsonl"}; run the same command '
        'again to resume\n'
    )
    assert [row['id'] for row in prediction_lines(out / 'predictions.jsonl')] == ['0', '1']
    assert not (out / 'results.json').exists()
    # the same command resumes: the lock was released, and only the 4 questions left are predicted
    assert ev.main(argv) == 0
    assert [row['id'] for row in prediction_lines(out / 'predictions.jsonl')] == ['0', '1', '2', '3', '4', '5']
    assert json.loads((out / 'results.json').read_text())['num_questions'] == 6


@pytest.mark.parametrize('stop, status', [(KeyboardInterrupt, 130), (extract_frames.Terminated, 143)])
@pytest.mark.parametrize('compare', [False, True])
def test_a_stopped_rescoring_or_comparison_says_so_in_one_line(stop, status, compare, tmp_path, monkeypatch, capsys):
    """They printed a KeyboardInterrupt traceback; the lock is released and no report file is half replaced."""
    path = hand_predictions(tmp_path / 'predictions.jsonl')
    assert ev.main(['--predictions', str(path)]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    def stopped_while_drawing(**kwargs):
        raise stop

    monkeypatch.setattr(ev, 'plot_results', stopped_while_drawing)
    results = str(tmp_path / 'results.json')
    argv = (
        ['--compare', results, results, '--output_dir', str(tmp_path / 'cmp')]
        if compare
        else ['--predictions', str(path)]
    )
    capsys.readouterr()
    try:
        assert ev.main(argv) == status
    except KeyboardInterrupt:  # caught here, lest it stop the whole test session
        pytest.fail('the KeyboardInterrupt left main(): a traceback')
    assert (
        capsys.readouterr().err
        == f'{"terminated" if status == 143 else "interrupted"}: nothing to resume; run the same command again\n'
    )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    monkeypatch.undo()
    assert ev.main(argv) == 0  # the folder's lock was released


def test_ctrl_c_before_any_prediction_names_no_predictions_file(bench, tmp_path, monkeypatch, capsys):
    """Stopped while frames were extracted or the first batch ran, the run said the predictions were kept in a file
    that did not exist."""

    class InterruptedEngine(CountingEngine):
        def infer(self, infer_requests, request_config=None, *, use_tqdm=None):
            raise KeyboardInterrupt

    monkeypatch.setattr(ev, 'make_engine', lambda *args: InterruptedEngine())
    monkeypatch.setattr(ev, 'resolve_model', lambda model, model_type: (None, None))
    out = tmp_path / 'run'
    capsys.readouterr()
    assert ev.main(eval_argv('m', bench.dataset, out, '--blind', '--no_progress')) == 130
    assert capsys.readouterr().err == (
        'interrupted: before any prediction was written; run the same command again to resume\n'
    )
    assert not (out / 'predictions.jsonl').exists()


def test_sigterm_during_evaluation_stops_as_ctrl_c_does_with_143(bench, tmp_path, monkeypatch, capsys):
    """A cluster's preemption or time limit sends SIGTERM: it ended the process at once, silently."""

    class TerminatedEngine(CountingEngine):
        def infer(self, infer_requests, request_config=None, *, use_tqdm=None):
            if self.requests:  # SIGTERM during the second batch
                os.kill(os.getpid(), signal.SIGTERM)
            return super().infer(infer_requests, request_config, use_tqdm=use_tqdm)

    monkeypatch.setattr(ev, 'make_engine', lambda *args: TerminatedEngine())
    monkeypatch.setattr(ev, 'resolve_model', lambda model, model_type: (None, None))
    out = tmp_path / 'run'

    def reached_the_caller(signum, frame):  # without main's own handler SIGTERM would end the test session
        raise RuntimeError('SIGTERM reached the caller: main() set no handler')

    before = signal.signal(signal.SIGTERM, reached_the_caller)
    try:
        assert ev.main(eval_argv('m', bench.dataset, out, '--blind', '--batch_size', 2, '--no_progress')) == 143
        assert signal.getsignal(signal.SIGTERM) is reached_the_caller  # the caller's handler is back
    finally:
        signal.signal(signal.SIGTERM, before)
    assert capsys.readouterr().err.endswith(
        f'terminated: the predictions written so far are kept in {out / "predictions.jsonl"}; run the same command '
        'again to resume\n'
    )
    assert [row['id'] for row in prediction_lines(out / 'predictions.jsonl')] == ['0', '1']


def test_a_subset_is_flagged_and_never_replaces_the_full_benchmark_report(bench, tmp_path):
    out = tmp_path / 'run'
    # Answering 'A' gets only question 1 (relative direction, easy) right: direction (1 + 0 + 0) / 3, and with the
    # other four categories at 0 the overall is (1/3) / 5 = 6.67.
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind'), engine=CountingEngine(answer='A'))
    full = (out / 'results.json').read_bytes()
    saved = json.loads(full)
    assert saved['overall'] == pytest.approx(100 / 15) and saved['num_questions'] == 6
    assert saved['subset'] is False and saved['subset_warning'] is None and saved['completeness_warning'] is None
    assert saved['selection'] == {
        'limit': None,
        'question_types': None,
        'questions_in_dataset': 6,
        'questions_scored': 6,
    }
    assert saved['config']['dataset_questions'] == 6

    # A quick look at 2 questions in that folder: predicted already, scored (ids 0 and 1: counting 0, direction
    # 1/3, overall 1/6 = 16.67) and reported beside the full report, flagged.
    engine = CountingEngine()
    results = ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--limit', 2), engine=engine)
    assert engine.requests == []
    assert (out / 'results.json').read_bytes() == full
    subset = json.loads((out / 'results_subset.json').read_text())
    assert subset['overall'] == results['overall'] == pytest.approx(100 / 6)
    assert subset['subset'] is True and subset['num_questions'] == 2
    assert subset['selection'] == {'limit': 2, 'question_types': None, 'questions_in_dataset': 6, 'questions_scored': 2}
    assert subset['subset_warning'] == f'subset: 2 of 6 questions — {NOT_COMPARABLE} (chosen by --limit 2)'
    assert f'**{subset["subset_warning"]}**' in (out / 'results_subset.md').read_text()
    assert NOT_COMPARABLE not in (out / 'results.md').read_text()

    ev.evaluate(
        eval_args('m', bench.dataset, out, '--blind', '--question_types', 'object_rel_direction', 'route_planning'),
        engine=engine,
    )
    subset = json.loads((out / 'results_subset.json').read_text())
    assert subset['selection']['question_types'] == ['object_rel_direction', 'route_planning']
    assert subset['subset_warning'] == (
        f'subset: 3 of 6 questions — {NOT_COMPARABLE} (chosen by --question_types object_rel_direction route_planning)'
    )
    assert (out / 'results.json').read_bytes() == full


def test_rescoring_the_predictions_of_a_stopped_run_is_flagged_as_a_subset(bench, tmp_path, caplog):
    out = tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind'), engine=CountingEngine(answer='A'))
    # The run as a kill after 3 of the 6 questions leaves it: no reports, half the predictions.
    predictions = out / 'predictions.jsonl'
    rows = prediction_lines(predictions)[:3]
    write_jsonl(predictions, rows)
    for name in ('results.json', 'results.md', 'results.png'):
        (out / name).unlink()
    caplog.set_level(logging.WARNING, logger='eval_vsi_bench')
    assert ev.main(['--predictions', str(predictions)]) == 0
    assert not (out / 'results.json').exists()
    partial = json.loads((out / 'results_subset.json').read_text())
    # ids 0, 1, 2: counting 0, direction (1 + 0 + 0) / 3, room size 0: overall (1/3) / 3 = 11.11, the official value
    assert partial['overall'] == pytest.approx(100 / 9) == official_overall(rows)
    assert partial['subset'] is True
    assert partial['selection'] == {
        'limit': None,
        'question_types': None,
        'questions_in_dataset': 6,
        'questions_scored': 3,
    }
    warning = f'subset: 3 of 6 questions — {NOT_COMPARABLE} (the predictions file holds no others)'
    assert partial['subset_warning'] == warning
    assert warning in caplog.text and warning in (out / 'results_subset.md').read_text()
    # the run folder stands for its predictions file
    (out / 'results_subset.json').unlink()
    assert ev.main(['--predictions', str(out)]) == 0
    assert json.loads((out / 'results_subset.json').read_text())['overall'] == partial['overall']
    with pytest.raises(ev.EvalError, match=f'--predictions {tmp_path} is a folder without predictions.jsonl'):
        ev.score_only(ev.parse_args(['--predictions', str(tmp_path)]))

    # A run_config.json written before the count was recorded: the dataset is counted, as it has the recorded hash.
    config = json.loads((out / 'run_config.json').read_text())
    del config['dataset_questions']
    (out / 'run_config.json').write_text(json.dumps(config))
    (out / 'results_subset.json').unlink()
    assert ev.main(['--predictions', str(predictions)]) == 0
    assert json.loads((out / 'results_subset.json').read_text())['selection']['questions_in_dataset'] == 6


HOLD_LOCK = """
import fcntl, sys, time
lock = open(sys.argv[1], 'a+')
fcntl.flock(lock, fcntl.LOCK_EX)
print('held', flush=True)
time.sleep(60)
"""


def test_a_folder_in_use_by_another_evaluation_is_refused_at_once(bench, tmp_path, capsys):
    import subprocess
    import sys

    out = tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--limit', 2), engine=CountingEngine(answer='A'))
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    # Another process holds the folder, as a running evaluation does.
    holder = subprocess.Popen(
        [sys.executable, '-c', HOLD_LOCK, str(out / '.eval_vsi_bench.lock')], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == 'held\n'
        engine = CountingEngine()
        with pytest.raises(ev.EvalError) as refused:
            ev.evaluate(eval_args('m', bench.dataset, out, '--blind'), engine=engine)
        assert str(refused.value).startswith(f'{out} is in use by another evaluation (pid ')
        assert str(refused.value).endswith('wait for it to finish or choose another --output_dir')
        assert engine.requests == []
        assert ev.main(['--predictions', str(out / 'predictions.jsonl')]) == 1  # rescoring writes there too
        assert 'is in use by another evaluation' in capsys.readouterr().err
        assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # nothing written
    finally:
        holder.kill()
        holder.wait()
    # The kernel frees the lock with the process, however it ends: the folder resumes (4 questions to go).
    engine = CountingEngine(answer='A')
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind'), engine=engine)
    assert len(engine.requests) == 4

    # A folder two evaluations wrote at once before the lock (every row twice, word for word) resumes and rescores.
    predictions = out / 'predictions.jsonl'
    predictions.write_text(predictions.read_text() * 2)
    results = ev.evaluate(eval_args('m', bench.dataset, out, '--blind'), engine=engine)
    assert len(engine.requests) == 4 and results['num_questions'] == 6
    assert results['overall'] == pytest.approx(100 / 15)  # as in the subset test: each question counted once


def test_an_output_dir_that_is_a_file_is_refused_naming_it(bench, tmp_path, capsys):
    """mkdir said only `[Errno 17] File exists: '...'`; each mode says the path is a file, and the file is kept."""
    predictions = hand_predictions(tmp_path / 'predictions.jsonl')
    assert ev.main(['--predictions', str(predictions)]) == 0
    results = tmp_path / 'results.json'
    taken = tmp_path / 'notes.txt'
    taken.write_text('mine')
    for argv in (['--predictions', str(predictions)], ['--compare', str(results), str(results)]):
        capsys.readouterr()
        assert ev.main([*argv, '--output_dir', str(taken)]) == 1
        assert capsys.readouterr().err == (
            f'error: --output_dir {taken} is a file, not a folder; name a folder for the results\n'
        )
        assert ev.main([*argv, '--output_dir', str(taken / 'run')]) == 1
        assert capsys.readouterr().err == (
            f'error: --output_dir {taken / "run"}: {taken} is a file, not a folder; name a folder for the results\n'
        )
    engine = CountingEngine()
    with pytest.raises(ev.EvalError, match=f'^--output_dir {taken} is a file, not a folder; name a folder'):
        ev.evaluate(eval_args('m', bench.dataset, taken, '--blind'), engine=engine)
    assert engine.requests == [] and taken.read_text() == 'mine'


def test_overwrite_removes_every_output_of_the_previous_run(bench, tmp_path):
    base, out = tmp_path / 'base', tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, base, '--blind'), engine=CountingEngine(answer='A'))
    blind = ('--blind', '--compare', base / 'results.json')
    ev.evaluate(eval_args('m', bench.dataset, out, *blind), engine=CountingEngine(answer='B'))
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--limit', 2), engine=CountingEngine())
    assert ev.main(['--compare', str(base / 'results.json'), str(out / 'results.json')]) == 0  # into out
    assert {'results.json', 'results.md', 'results.png', 'comparison.json'} <= {path.name for path in out.iterdir()}

    class Killed(Exception):
        pass

    class DyingEngine:
        def infer(self, infer_requests, request_config=None, *, use_tqdm=None):
            raise Killed

    # A new protocol (frames instead of blind) over that folder, killed before its first batch is saved.
    with pytest.raises(Killed):
        ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, '--overwrite'), DyingEngine())
    left = sorted(path.name for path in out.iterdir() if not path.name.startswith('.'))
    assert left == ['run_config.json']  # nothing of the blind run, whose reports would pass for this one
    assert json.loads((out / 'run_config.json').read_text())['blind'] is False


def test_overwrite_removes_the_predictions_last(bench, tmp_path, monkeypatch):
    """A kill during --overwrite's removals left the old reports and run_config.json without their predictions: a
    plain re-run called them another run's, and --compare read them without a word. Removed last, the predictions
    are there as long as anything else of the old run is."""
    out = tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind'), engine=CountingEngine(answer='A'))
    removed, real_unlink = [], Path.unlink

    def unlink(self, missing_ok=False):
        if self.parent == out and self.exists():
            removed.append(self.name)
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, 'unlink', unlink)
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--overwrite'), engine=CountingEngine(answer='B'))
    assert sorted(removed[:3]) == ['results.json', 'results.md', 'results.png']
    assert removed[3:] == ['run_config.json', 'predictions.jsonl']


def _stopped_and_rescored(bench, out: Path) -> dict:
    """A run killed after 3 of the 6 questions, then rescored as the README suggests: its results_subset.json."""
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind'), engine=CountingEngine(answer='A'))
    predictions = out / 'predictions.jsonl'
    write_jsonl(predictions, prediction_lines(predictions)[:3])
    for name in ('results.json', 'results.md', 'results.png'):
        (out / name).unlink()
    assert ev.main(['--predictions', str(predictions)]) == 0
    return json.loads((out / 'results_subset.json').read_text())


def test_a_finished_run_removes_the_subset_report_of_its_stopped_self(bench, tmp_path):
    """`subset: 3 of 6 (the predictions file holds no others)` stayed beside the finished run's results.json, naming
    the same predictions file, which by then held all 6."""
    out = tmp_path / 'run'
    assert _stopped_and_rescored(bench, out)['selection']['questions_scored'] == 3
    engine = CountingEngine(answer='A')
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind'), engine=engine)
    assert len(engine.requests) == 3
    assert json.loads((out / 'results.json').read_text())['num_questions'] == 6
    assert not list(out.glob('results_subset.*'))

    # a subset report of another predictions file stays
    other = tmp_path / 'other'
    subset = _stopped_and_rescored(bench, other)
    subset['predictions'] = str(tmp_path / 'copy' / 'predictions.jsonl')
    (other / 'results_subset.json').write_text(json.dumps(subset))
    ev.evaluate(eval_args('m', bench.dataset, other, '--blind'), engine=CountingEngine(answer='A'))
    assert sorted(path.name for path in other.glob('results_subset.*')) == [
        'results_subset.json',
        'results_subset.md',
        'results_subset.png',
    ]

    # and so does a subset chosen by --limit, which still says what it scored
    limited = tmp_path / 'limited'
    ev.evaluate(eval_args('m', bench.dataset, limited, '--blind', '--limit', 2), engine=CountingEngine(answer='A'))
    chosen = (limited / 'results_subset.json').read_bytes()
    ev.evaluate(eval_args('m', bench.dataset, limited, '--blind'), engine=CountingEngine(answer='A'))
    assert (limited / 'results_subset.json').read_bytes() == chosen
    assert json.loads((limited / 'results.json').read_text())['num_questions'] == 6


@pytest.mark.parametrize('flags', [('--limit', 2), ('--question_types', 'route_planning', 'object_counting')])
def test_rescoring_a_chosen_subset_keeps_what_chose_it(bench, tmp_path, flags):
    """Rescored in place, a --limit / --question_types run's report said `the predictions file holds no others`, as
    if the run had stopped early, and the next full run in the folder then removed it."""
    out = tmp_path / 'run'
    first = ev.evaluate(eval_args('m', bench.dataset, out, '--blind', *flags), engine=CountingEngine(answer='A'))
    assert ev.main(['--predictions', str(out), '--no_progress']) == 0
    rescored = json.loads((out / 'results_subset.json').read_text())
    assert rescored['subset_warning'] == first['subset_warning'] and 'chosen by --' in first['subset_warning']
    assert rescored['selection'] == first['selection']
    chosen = (out / 'results_subset.json').read_bytes()
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind'), engine=CountingEngine(answer='A'))
    assert (out / 'results_subset.json').read_bytes() == chosen  # kept beside the full run's report
    # the folder's last command chose them all: rescored, it is the whole benchmark, not the old selection
    assert ev.main(['--predictions', str(out), '--no_progress']) == 0
    assert json.loads((out / 'results.json').read_text())['selection']['limit'] is None
    # a later selection that does not account for the predictions (all 6 there) is not what chose them
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', *flags), engine=CountingEngine(answer='A'))
    assert ev.main(['--predictions', str(out), '--no_progress']) == 0
    assert json.loads((out / 'results.json').read_text())['num_questions'] == 6


def test_a_full_disk_while_predicting_says_what_is_kept_and_the_run_resumes(bench, tmp_path, monkeypatch):
    """It said only `error: [Errno 28] No space left on device`, naming no file and not that the run resumes."""
    out = tmp_path / 'run'
    argv = ('--blind', '--batch_size', 2)
    real_fsync, synced = os.fsync, []

    def fsync(fd):
        if os.readlink(f'/proc/self/fd/{fd}').endswith('predictions.jsonl'):
            synced.append(fd)
            if len(synced) == 2:  # the second batch
                raise OSError(errno.ENOSPC, 'No space left on device')
        real_fsync(fd)

    with monkeypatch.context() as patch:
        patch.setattr(os, 'fsync', fsync)
        with pytest.raises(ev.EvalError) as error:
            ev.evaluate(eval_args('m', bench.dataset, out, *argv), engine=CountingEngine(answer='A'))
    assert str(error.value) == (
        f'cannot write {out / "predictions.jsonl"} (No space left on device); the predictions written before are '
        'kept: make room and run the same command again without --overwrite (which would remove them) to resume'
    )
    engine = CountingEngine(answer='A')
    resumed = ev.evaluate(eval_args('m', bench.dataset, out, *argv), engine=engine)
    assert len(engine.requests) == len(BENCH_ROWS) - 4  # the second batch was written before its fsync failed
    whole = ev.evaluate(eval_args('m', bench.dataset, tmp_path / 'whole', *argv), engine=CountingEngine(answer='A'))
    assert resumed['official'] == whole['official'] and resumed['num_questions'] == len(BENCH_ROWS)
    # room is the remedy for a full disk only
    gone = tmp_path / 'gone' / 'predictions.jsonl'
    with pytest.raises(ev.EvalError) as error:
        ev.append_predictions(gone, [{'id': 1}])
    assert str(error.value).endswith(
        '(No such file or directory); the predictions written before are kept: run the same command again without '
        '--overwrite (which would remove them) to resume'
    )


@pytest.mark.parametrize('failing', ['run_config.json', 'results.md', 'results.json'])
def test_a_full_disk_while_writing_the_reports_or_run_config_names_them(bench, tmp_path, monkeypatch, failing):
    """They said only `error: [Errno 28] No space left on device`, naming no file and not what was kept; after
    --overwrite, the same command again would have removed the predictions just made."""
    out = tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind'), engine=CountingEngine(answer='A'))  # an earlier run
    real_fsync = os.fsync

    def fsync(fd):
        if os.path.basename(os.readlink(f'/proc/self/fd/{fd}')).startswith(f'{failing}.'):  # its temporary file
            raise OSError(errno.ENOSPC, 'No space left on device')
        real_fsync(fd)

    with monkeypatch.context() as patch:
        patch.setattr(os, 'fsync', fsync)
        with pytest.raises(ev.EvalError) as error:
            ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--overwrite'), engine=CountingEngine(answer='A'))
    if failing == 'run_config.json':
        what, kept, rerun = out / 'run_config.json', 'no prediction of this run was made yet', ''
    else:
        what, kept = f'{out / "results"}.{{json,md,png}}', 'the predictions are kept'
        rerun = ' without --overwrite (which would remove them): nothing is predicted again'
    assert str(error.value) == (
        f'cannot write {what} (No space left on device); {kept}: make room and run the same command again{rerun}'
    )
    assert not list(out.glob('results.*')) and not list(out.glob('*.tmp'))  # the earlier run's removed by --overwrite
    engine = CountingEngine(answer='A')
    resumed = ev.evaluate(eval_args('m', bench.dataset, out, '--blind'), engine=engine)
    assert len(engine.requests) == (len(BENCH_ROWS) if failing == 'run_config.json' else 0)  # nothing predicted twice
    assert resumed['num_questions'] == len(BENCH_ROWS) and (out / 'results.png').exists()


def test_more_frames_than_asked_are_an_even_subset_with_a_warning(bench, caplog):
    """A frames folder extracted with more frames than --num_frames: the evaluator uses an even subset of them, which
    is not the benchmark's sampling over the video, and says so."""
    questions, _ = ev.load_questions(str(bench.dataset))
    with caplog.at_level(logging.WARNING, logger='eval_vsi_bench'):
        items = ev.build_items(questions, 'direct', str(bench.frames), NUM_FRAMES - 2)
    assert [Path(image).name for image in items[0].images] == ['frame_0000.jpg', 'frame_0003.jpg']
    scenes = {(row['dataset'], row['scene_name']) for row in BENCH_ROWS}
    assert f'{len(scenes)} scene(s) have more than {NUM_FRAMES - 2} frames, e.g. ' in caplog.text
    assert "is not round(linspace(0, n - 1, num_frames)) over the video's n frames" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger='eval_vsi_bench'):
        ev.build_items(questions, 'direct', str(bench.frames), NUM_FRAMES)
    assert 'more than' not in caplog.text


def test_missing_images_of_swift_rows_are_counted_by_question(bench, tmp_path, capsys, monkeypatch):
    """Rows of preprocessing whose frames were removed: --limit 2 of rows with 4 images each said 8 questions."""
    shutil.copytree(bench.frames, tmp_path / 'frames')
    rows = tmp_path / 'rows.jsonl'
    argv = ['--input_path', str(bench.dataset), '--frames_dir', str(tmp_path / 'frames'), '--output_path', str(rows)]
    assert preprocess_vsi_data.main([*argv, '--num_frames', str(NUM_FRAMES), '--no_progress']) == 0
    shutil.rmtree(tmp_path / 'frames')
    (tmp_path / 'cwd').mkdir()
    monkeypatch.chdir(tmp_path / 'cwd')
    capsys.readouterr()
    assert ev.main([*eval_argv('m', rows, tmp_path / 'run', '--limit', 2), '--no_progress']) == 1
    assert capsys.readouterr().err == (
        'error: 2 question(s) have no frames, e.g. rows.jsonl:line 1: image frames/scannet/scene0000_00/frame_0000.jpg '
        f'does not exist beside the dataset file nor in the current folder {tmp_path / "cwd"}\n'
    )


def test_a_tilde_in_the_path_flags_is_the_home_folder(bench, tmp_path, monkeypatch):
    """bash leaves `~` unexpanded after `=` and in quotes: `--output_dir=~/r` wrote to ./~/r, and run_config.json
    recorded `--model=~/m` as written, while swift loads it from the home folder."""
    home, cwd = tmp_path / 'home', tmp_path / 'cwd'
    (home / 'm').mkdir(parents=True)
    shutil.copy(bench.dataset, home / 'test.jsonl')
    cwd.mkdir()
    monkeypatch.setenv('HOME', str(home))
    monkeypatch.chdir(cwd)
    engine = CountingEngine(answer='3')
    ev.evaluate(eval_args('~/m', '~/test.jsonl', '~/run', '--blind', '--limit', 1), engine=engine)
    config = json.loads((home / 'run' / 'run_config.json').read_text())
    assert (config['model'], config['dataset']) == (str(home / 'm'), str(home / 'test.jsonl'))
    assert ev.main(['--predictions=~/run/predictions.jsonl', '--output_dir=~/rescored']) == 0
    assert (
        json.loads((home / 'rescored' / 'results_subset.json').read_text())['overall'] == 100.0
    )  # counting: 3 is right
    assert list(cwd.iterdir()) == []


# ---- cases that mutation testing showed unchecked ------------------------------------------------------------

ONE_DIFFERENCE = [
    ({'num_frames': None}, [], ["the dataset rows' own frames (official: 32)"]),
    ({'num_frames': 8}, [], ['8 frames (official: 32, the common setting for Qwen models)']),
    ({'num_frames': 64}, [], ['64 frames (official: 32, the common setting for Qwen models)']),  # more is no better
    ({'blind': True, 'num_frames': 32}, [0, 0], ['blind, no frames (official: 32 frames); a baseline']),
    ({}, [32, 40, None], []),  # as many frames as asked (or more) is no difference; no count is none known
    ({}, [31, 32, 4], ['2 questions with fewer than 32 frames (--allow_fewer_frames; official: 32 each)']),
    (
        {'num_frames': 8},
        [7],
        [
            '8 frames (official: 32, the common setting for Qwen models)',
            '1 question with fewer than 8 frames (--allow_fewer_frames; official: 32 each)',
        ],
    ),
    ({'prompt_style': 'think'}, [], ['prompt think (official: direct)']),
    ({'enable_thinking': True}, [], ["the template's thinking prefix (official: none)"]),
    ({'max_new_tokens': 17}, [], ['17 new tokens (official: 16)']),
    ({'max_new_tokens': 15}, [], ['15 new tokens (official: 16)']),
]


@pytest.mark.parametrize(('change', 'num_images', 'differences'), ONE_DIFFERENCE)
def test_each_protocol_difference_is_named_alone(change, num_images, differences):
    rows = [{'id': str(i), 'num_images': n} for i, n in enumerate(num_images)]
    config = {**PROTOCOL_CONFIG, **change}
    assert ev.official_protocol_differences(config, 5130, rows) == differences
    assert ev.official_protocol_differences(config, 5131, rows) == [
        *differences,
        '5,131 questions (official: all 5,130)',
    ]
    assert ev.official_protocol_differences(None, 5130, rows) is None


def counting_rows(n: int) -> list:
    return [
        {'id': str(i), 'question_type': 'object_counting', 'ground_truth': '4', 'prediction': '3'} for i in range(n)
    ]


SUBSETS = [  # selection, the subset warning (None: not a subset), the completeness warning
    ({'questions_in_dataset': 3}, None, None),
    (
        {'questions_in_dataset': 5, 'limit': 3},
        'subset: 3 of 5 questions — not comparable to published full-benchmark numbers (chosen by --limit 3)',
        None,
    ),
    (
        {'questions_in_dataset': 5, 'question_types': ['object_counting', 'route_planning'], 'limit': 3},
        'subset: 3 of 5 '
        'questions — not comparable to published full-benchmark numbers (chosen by --question_types object_counting '
        'route_planning, --limit 3)',
        None,
    ),
    (
        {'questions_in_dataset': 4},
        'subset: 3 of 4 questions — not comparable to published full-benchmark numbers (the '
        'predictions file holds no others)',
        None,
    ),
    (
        None,
        None,
        'completeness unknown: 3 questions, and nothing says how many the dataset holds (no run_config.json '
        'of the run beside the predictions, or one whose dataset cannot be read); VSI-Bench has 5,130',
    ),
]


@pytest.mark.parametrize(('selection', 'subset', 'completeness'), SUBSETS)
def test_a_subset_and_unknown_completeness_are_flagged_and_logged(selection, subset, completeness, caplog):
    # MRA of 3 for 4: |3 - 4| / 4 = 0.25 <= 1 - θ for θ in 0.50..0.75 (6 of 10 thresholds): 60%
    with caplog.at_level(logging.WARNING, logger='eval_vsi_bench'):
        results = ev.build_results(counting_rows(3), 'run', 'direct', selection=selection)
    assert results['overall'] == pytest.approx(60.0) and results['num_questions'] == 3
    assert results['subset'] is (subset is not None) and results['subset_warning'] == subset
    assert results['completeness_warning'] == completeness
    assert results['selection']['questions_scored'] == 3
    assert results['official_protocol'] is None and results['official_protocol_differences'] is None
    assert [r.getMessage() for r in caplog.records] == [w for w in (subset, completeness) if w]


def test_all_5130_questions_need_no_completeness_warning_and_an_official_run_is_official():
    results = ev.build_results(counting_rows(5130), 'full', 'direct', PROTOCOL_CONFIG)
    assert results['completeness_warning'] is None and results['subset'] is False
    assert results['official_protocol'] is True and results['official_protocol_differences'] == []
    assert results['num_questions'] == 5130 and results['overall'] == pytest.approx(60.0)
    think = ev.build_results(counting_rows(5130), 'full', 'direct', {**PROTOCOL_CONFIG, 'prompt_style': 'think'})
    assert think['official_protocol'] is False


def test_more_than_5130_questions_with_no_dataset_size_are_of_unknown_completeness():
    """Only the benchmark's exact size passes unflagged when nothing says how many the dataset holds: a rescored
    file with one question more (a duplicate, or another dataset) is not taken for VSI-Bench."""
    results = ev.build_results(counting_rows(5131), 'rescored', 'direct')
    assert results['completeness_warning'].startswith('completeness unknown: 5,131 questions, and nothing says')
    assert results['subset'] is False and results['num_questions'] == 5131


def test_a_dataset_without_questions_is_refused(tmp_path):
    for name, text in (('empty.jsonl', ''), ('empty.json', '[]')):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ev.EvalError, match=f'^{path} holds no questions$'):
            ev.load_questions(str(path))


def test_swift_rows_without_images_and_no_frames_flag_have_no_frames(tmp_path):
    questions, _ = ev.load_questions(str(write_jsonl(tmp_path / 'bench.jsonl', BENCH_ROWS[:2])))
    for row_images in (None, {'1': ['a.jpg']}):
        with pytest.raises(
            ev.EvalError, match=r'^2 question\(s\) have no frames, e\.g\. .*no frames \(give --frames_dir'
        ):
            ev.build_items(questions, 'direct', None, 4, row_images=row_images)
    assert [item.images for item in ev.build_items(questions, 'direct', None, 4, blind=True)] == [[], []]


def test_swift_rows_with_a_video_clip_ask_for_frames_dir_and_evaluate_with_it(bench, tmp_path, capsys):
    """Rows of `preprocess_vsi_data.py --media video` (one clip in `videos`, a <video> tag) said `no frames (give
    --frames_dir or --video_dir, or --blind)` of every row, although each has its clip."""
    rows = tmp_path / 'rows.jsonl'
    argv = ['--input_path', str(bench.dataset), '--frames_dir', str(bench.frames), '--output_path', str(rows)]
    assert preprocess_vsi_data.main([*argv, '--num_frames', str(NUM_FRAMES), '--media', 'video', '--no_progress']) == 0
    first = json.loads(rows.read_text(encoding='utf-8').splitlines()[0])
    assert len(first['videos']) == 1 and 'images' not in first
    capsys.readouterr()
    out = tmp_path / 'run'
    assert ev.main([*eval_argv('m', rows, out), '--no_progress']) == 1
    assert capsys.readouterr().err == (
        'error: rows.jsonl:line 1: the row brings a video clip (`videos`, as preprocess_vsi_data.py --media video '
        'writes), which the evaluator does not read as frames; pass --frames_dir with the frames the clips were made '
        'from (extract_frames.py output), or rows preprocessed without --media video\n'
    )
    assert not out.exists()
    engine = CountingEngine()
    ev.evaluate(eval_args('m', rows, out, '--frames_dir', bench.frames, '--limit', 1), engine=engine)
    frames = bench.frames / 'scannet' / 'scene0000_00'
    assert engine.requests[0].images == [str(frames / f'frame_{k:04d}.jpg') for k in range(NUM_FRAMES)]
    ev.evaluate(eval_args('m', rows, tmp_path / 'blind', '--blind', '--limit', 1), engine=engine)
    assert engine.requests[1].images == []


def test_swift_rows_whose_frames_were_extracted_again_are_refused(bench, tmp_path):
    """Rows evaluated with their own images, whose folders extract_frames.py filled again since preprocessing (another
    --num_frames keeps the names frame_0000.jpg ...), would score the model on other frames than the rows say."""
    frames = tmp_path / 'frames'
    shutil.copytree(bench.frames, frames)
    scene = frames / BENCH_ROWS[0]['dataset'] / BENCH_ROWS[0]['scene_name']
    record = {
        'video': 'videos/scene.mp4',
        'source_size': 1,
        'source_mtime_ns': 2,
        'total_frames': 90,
        'width': 32,
        'height': 32,
        'quality': 95,
        'backend': 'pyav',
        'indices': list(range(0, 90, 90 // NUM_FRAMES))[:NUM_FRAMES],
    }  # the fields extract_frames.frames_identity reads
    (scene / '.record.json').write_text(json.dumps(record))
    rows = tmp_path / 'out' / 'rows.jsonl'
    argv = ['--input_path', str(bench.dataset), '--frames_dir', str(frames), '--output_path', str(rows)]
    assert preprocess_vsi_data.main([*argv, '--num_frames', str(NUM_FRAMES), '--no_progress']) == 0
    questions, row_images = ev.load_questions(str(rows))
    items = ev.build_items(questions, 'direct', None, NUM_FRAMES, row_images=row_images, dataset=str(rows))
    assert len(items) == len(questions) and items[0].images[0].endswith('/frames/scannet/scene0000_00/frame_0000.jpg')
    (scene / '.record.json').write_text(json.dumps({**record, 'indices': list(range(NUM_FRAMES))}))
    with pytest.raises(ev.EvalError) as refused:
        ev.build_items(questions, 'direct', None, NUM_FRAMES, row_images=row_images, dataset=str(rows))
    assert str(refused.value) == (
        f'{rows} was written from other frames than {scene} holds now (extracted again since: with another '
        '--num_frames, other frames under the same file names, or from its video changed in size or modification time, '
        'e.g. copied without keeping times); run preprocess_vsi_data.py again'
    )
    # frames found through --frames_dir are not the rows' own: nothing to compare with
    assert len(ev.build_items(questions, 'direct', str(frames), NUM_FRAMES)) == len(questions)


def test_swift_rows_of_another_prompt_style_than_the_runs_are_warned_about(bench, tmp_path, caplog):
    """Rows preprocessed with --prompt_style think, evaluated without it, were asked with the direct prompt (the rows
    carry the question, and the prompt is rebuilt) and reported as direct, without a word."""
    rows = tmp_path / 'think.jsonl'
    argv = ['--input_path', str(bench.dataset), '--frames_dir', str(bench.frames), '--output_path', str(rows)]
    assert (
        preprocess_vsi_data.main([*argv, '--num_frames', str(NUM_FRAMES), '--prompt_style', 'think', '--no_progress'])
        == 0
    )
    caplog.set_level(logging.WARNING, logger='eval_vsi_bench')
    results = ev.evaluate(eval_args('m', rows, tmp_path / 'direct'), engine=CountingEngine())
    assert results['prompt_style'] == 'direct'
    assert [r.getMessage() for r in caplog.records if 'prompt_style' in r.getMessage()] == [
        f'{len(BENCH_ROWS)} rows of {rows} were written with --prompt_style think, and this run asks with the direct '
        'prompt (the rows carry only the question: their prompt is rebuilt); pass --prompt_style think to evaluate '
        'them as they were trained'
    ]
    caplog.clear()
    engine = CountingEngine()
    ev.evaluate(eval_args('m', rows, tmp_path / 'think', '--prompt_style', 'think'), engine=engine)
    assert not [r for r in caplog.records if 'prompt_style' in r.getMessage()]
    assert '<answer>' in json.dumps(engine.requests[0].messages)  # asked as trained


def test_a_missing_image_is_named_with_the_folders_looked_in_only_when_it_is_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dataset = write_jsonl(tmp_path / 'bench.jsonl', BENCH_ROWS[:1])
    questions, _ = ev.load_questions(str(dataset))
    gone = str(tmp_path / 'gone.jpg')
    beside = f' beside the dataset file nor in the current folder {tmp_path}'
    for images, where in (([gone, 'rel.jpg'], ''), (['rel.jpg', gone], beside)):
        with pytest.raises(ev.EvalError) as refused:
            ev.build_items(questions, 'direct', None, 4, row_images={'0': images}, dataset=str(dataset))
        assert str(refused.value) == (
            f'1 question(s) have no frames, e.g. bench.jsonl:line 1: image {images[0]} does not exist{where}'
        )


def test_a_scene_with_fewer_frames_than_asked_is_refused_naming_it(bench):
    questions, _ = ev.load_questions(str(bench.dataset))
    with pytest.raises(ev.EvalError) as refused:
        ev.build_items(questions, 'direct', str(bench.frames), NUM_FRAMES + 1)
    assert str(refused.value) == (  # the location once
        f"test.jsonl:line 1: scene 'scene0000_00' has only {NUM_FRAMES} frames in "
        f'{bench.frames / "scannet" / "scene0000_00"} but --num_frames is {NUM_FRAMES + 1}; extract more frames or '
        'pass --allow_fewer_frames'
    )


@pytest.mark.parametrize(
    ('model', 'adapters', 'blind', 'label'),
    [
        ('Qwen/Qwen3-VL-8B-Instruct', [], False, 'Qwen3-VL-8B-Instruct'),
        ('/models/Qwen3-VL-8B-Instruct/', [], True, 'Qwen3-VL-8B-Instruct (blind)'),
        # an adapter is named by its last two folders (the run's version folder and the checkpoint)
        (
            'Qwen/Qwen3-VL-8B-Instruct',
            ['output/vsi_grpo/v0-20261127-101010/checkpoint-200/', 'other/checkpoint-1'],
            False,
            'Qwen3-VL-8B-Instruct + v0-20261127-101010/checkpoint-200',
        ),
        ('m', ['ckpt'], True, 'm + ckpt (blind)'),
    ],
)
def test_the_default_label_names_the_model_and_the_first_adapters_last_two_folders(model, adapters, blind, label):
    assert ev.default_label(model, adapters, blind) == label


def test_a_resume_that_differs_in_a_recorded_field_too_gets_no_hint_to_record_the_unrecorded_one(bench, tmp_path):
    """The hint `add ... to resume it` is right only where every changed field is one the old version did not record:
    with max_new_tokens changed as well, recording torch_dtype would not make the run resumable."""
    out, engine = tmp_path / 'run', CountingEngine()
    run = eval_argv('m', bench.dataset, out, '--blind', '--limit', 2)
    ev.evaluate(ev.parse_args(run), engine=engine)
    as_written_by_the_earlier_version(out, fields=OLD_RUN_CONFIG_FIELDS)
    with pytest.raises(ev.EvalError) as refused:
        ev.evaluate(ev.parse_args([*run, '--max_new_tokens', '8']), engine=engine)
    assert str(refused.value) == (
        f'{out} holds a run made differently (max_new_tokens: 16 there, 8 now; torch_dtype: None there (not recorded '
        "by the version that wrote it: the default), 'float32' now); choose another --output_dir or pass --overwrite "
        'to discard its predictions'
    )
    assert len(engine.requests) == 2


def test_a_results_file_without_a_label_is_named_by_its_folder(tmp_path):
    (tmp_path / 'base').mkdir()
    path = hand_predictions(tmp_path / 'base' / 'predictions.jsonl')
    assert ev.main(['--predictions', str(path), '--label', 'x']) == 0
    results = json.loads((tmp_path / 'base' / 'results.json').read_text())
    del results['label']
    (tmp_path / 'base' / 'results.json').write_text(json.dumps(results))
    assert ev.load_results(str(tmp_path / 'base'))['label'] == 'base'


PROTOCOL_DIFFERENCES = [
    # a config that records only some fields (a hand-made or old results file): compared on what both give
    ({'num_frames': 8}, {'num_frames': 32}, ['num_frames 8 vs 32']),
    ({'max_new_tokens': 16, 'blind': False}, {'blind': True}, ['blind False vs True']),
    # in COMPARED_PROTOCOL_FIELDS order, whatever the configs' order
    (
        {'max_new_tokens': 16, 'prompt_style': 'direct'},
        {'prompt_style': 'think', 'max_new_tokens': 1024},
        ["prompt_style 'direct' vs 'think'", 'max_new_tokens 16 vs 1024'],
    ),
    (None, {'num_frames': 32}, []),
    ({}, {'num_frames': 32}, []),
    # the frames' size counts only where the run extracted them from videos
    ({'video_dir': None, 'frames_max_pixels': 1000}, {'video_dir': None, 'frames_max_pixels': 2000}, []),
    (
        {'video_dir': 'v', 'frames_max_pixels': 1000},
        {'video_dir': 'w', 'frames_max_pixels': 2000},
        ['frames_max_pixels 1000 vs 2000'],
    ),
    ({'video_dir': 'v', 'frames_max_pixels': 1000}, {'video_dir': None, 'frames_max_pixels': 2000}, []),
    # the pixel budget of a config that predates its field, from image_env: unset is 16384 tokens of 32 x 32 px
    ({'image_env': {}}, {'qwen3_vl_image_max_pixels': 262144}, ['qwen3_vl_image_max_pixels 16777216 vs 262144']),
    ({'image_env': {'MAX_PIXELS': '262144'}}, {'qwen3_vl_image_max_pixels': 262144}, []),
    (
        {'image_env': {'IMAGE_MAX_TOKEN_NUM': '64'}},
        {'image_env': {'MAX_PIXELS': '262144'}},
        ['qwen3_vl_image_max_pixels 65536 vs 262144'],
    ),
    ({'image_env': {}, 'blind': True}, {'qwen3_vl_image_max_pixels': None, 'blind': True}, []),
    # a recorded budget is taken as recorded
    ({'qwen3_vl_image_max_pixels': 4096, 'image_env': {}}, {'qwen3_vl_image_max_pixels': 4096}, []),
]


@pytest.mark.parametrize(('base', 'new', 'differences'), PROTOCOL_DIFFERENCES)
def test_protocol_differences_of_two_configs(base, new, differences):
    before = json.dumps([base, new])
    assert ev.protocol_differences(base, new) == differences
    assert json.dumps([base, new]) == before  # the runs' configs are not changed (they are written to reports)


def aggregate_of(overall, num_questions, **categories):
    """An `aggregate` result as a results.json holds it: categories given as name=(score, count)."""
    return {
        'overall': overall,
        'num_questions': num_questions,
        'categories': {name: {'score': score, 'count': count} for name, (score, count) in categories.items()},
    }


def test_frame_sizes_of_swift_rows_without_a_dataset_are_compared_by_scene_name():
    """Swift rows from preprocess_vsi_data.py do not say their dataset (keys `/scene`): a run on them against one on
    the benchmark file had no scene in common, and frames at 4x the pixels went unnamed (found by helper-121)."""
    benchmark = {'arkitscenes/41069025': 256, 'scannet/scene0000_00': 256}
    swift = {'/41069025': 1024, '/scene0000_00': 256}
    said = 'frames of another size in 1 of the 2 scenes both ran (e.g. {}: {} px vs {} px)'
    assert ev.frame_size_difference(benchmark, swift) == said.format('arkitscenes/41069025', '256', '1,024')
    assert ev.frame_size_difference(swift, benchmark) == said.format('/41069025', '1,024', '256')
    # a name in two datasets of the other run is no one scene; other datasets are other scenes
    assert ev.frame_size_difference({'/s': 256}, {'a/s': 1024, 'b/s': 1024}) is None
    assert ev.frame_size_difference({'a/s': 256}, {'b/s': 1024}) is None


def test_categories_are_shown_in_the_order_of_the_papers_table_1():
    """Written out from Table 1 of the VSI-Bench paper (numerical answers first, then multiple choice); a category
    it lacks, from a foreign results file, comes last. Alphabetical order would put Appr. Order first."""
    table_1 = [
        'object_counting',
        'object_abs_distance',
        'object_size_estimation',
        'room_size_estimation',
        'object_rel_distance',
        'object_rel_direction',
        'route_planning',
        'obj_appearance_order',
    ]
    assert ev.paper_order(sorted([*table_1, 'a_foreign_one'])) == [*table_1, 'a_foreign_one']
    assert [ev.paper_name(name) for name in table_1] == [
        'Obj. Count',
        'Abs. Dist.',
        'Obj. Size',
        'Room Size',
        'Rel. Dist.',
        'Rel. Dir.',
        'Route Plan',
        'Appr. Order',
    ]


def test_runs_of_as_many_questions_in_other_categories_are_not_the_same_questions():
    """Equal totals are not the same questions: 2 counting + 1 route plan against 1 + 2."""
    base = {
        'label': 'base',
        'official': aggregate_of(50.0, 3, object_counting=(50.0, 2), route_planning=(50.0, 1)),
        'lenient': aggregate_of(50.0, 3, object_counting=(50.0, 2), route_planning=(50.0, 1)),
    }
    new = {
        **base,
        'label': 'new',
        'official': aggregate_of(50.0, 3, object_counting=(50.0, 1), route_planning=(50.0, 2)),
    }
    assert not ev.compare_results(base, new)['same_questions']
    assert ev.compare_results(base, base)['same_questions']


def record_plot(monkeypatch) -> dict:
    """What plot_results draws: each bar series (label, x positions, heights), each delta note (text, x, y), the tick
    labels and the title."""
    from matplotlib.axes import Axes

    drawn = {'bars': [], 'notes': [], 'ticks': [], 'title': []}

    def record(method, key, read):
        original = getattr(Axes, method)

        def recording(self, *args, **kwargs):
            drawn[key].append(read(*args, **kwargs))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Axes, method, recording)

    record(
        'bar',
        'bars',
        lambda x, height, width, label: (
            label,
            [round(float(v), 2) for v in x],
            [None if math.isnan(v) else v for v in height],  # NaN: no bar
            width,
        ),
    )
    record('annotate', 'notes', lambda text, xy, **_: (text, float(xy[0]), float(xy[1])))
    record('set_xticks', 'ticks', lambda ticks, labels, **_: list(labels))
    record('set_title', 'title', lambda title: title)
    return drawn


def test_a_comparison_of_runs_over_different_categories_shows_each_gap_and_count(caplog, monkeypatch):
    """Each run lacks a category the other has (a subset, a foreign file): no delta there, counts `a vs b`, and the
    report says the question sets differ. Every number below is read off the two hand-made results."""
    base = {
        'label': 'base',
        'official': aggregate_of(50.0, 3, object_counting=(50.0, 2), route_planning=(100.0, 1)),
        'lenient': aggregate_of(60.0, 3, object_counting=(70.0, 2), route_planning=(100.0, 1)),
        'subset_warning': 'subset: 3 of 6 questions',
        'config': {'num_frames': 8, 'max_new_tokens': 16},
    }
    new = {
        'label': 'tuned',
        'official': aggregate_of(40.0, 5, object_counting=(40.0, 2), object_rel_direction=(20.0, 3)),
        'lenient': aggregate_of(45.0, 5, object_counting=(55.0, 2), object_rel_direction=(25.0, 3)),
        'completeness_warning': 'completeness unknown',
        'version_warning': 'written by an earlier version',
        'config': {'num_frames': 32, 'max_new_tokens': 16},
    }
    with caplog.at_level(logging.WARNING, logger='eval_vsi_bench'):
        comparison = ev.compare_results(base, new)
    row = ('category', 'base', 'new', 'base_count', 'new_count', 'delta')
    assert comparison['rows'] == [
        dict(zip(row, values, strict=True))
        for values in (
            ('overall', 50.0, 40.0, 3, 5, -10.0),
            ('object_counting', 50.0, 40.0, 2, 2, -10.0),
            ('object_rel_direction', None, 20.0, 0, 3, None),  # in the paper's order, not by name or by run
            ('route_planning', 100.0, None, 1, 0, None),
            ('overall (lenient)', 60.0, 45.0, 3, 5, -15.0),
        )
    ]
    warning = 'the runs were not measured alike (num_frames 8 vs 32): deltas mix the models with the protocol'
    assert {k: v for k, v in comparison.items() if k != 'rows'} == {
        'base': 'base',
        'new': 'tuned',
        'same_questions': False,
        'subset_warning': (
            'base: subset: 3 of 6 questions; tuned: completeness unknown; tuned: written by an earlier version'
        ),
        'protocol_warning': warning,
    }
    assert warning in caplog.text
    assert ev.comparison_markdown(comparison) == (
        '# VSI-Bench: tuned vs base (official scores)\n'
        '\n'
        '**base: subset: 3 of 6 questions; tuned: completeness unknown; tuned: written by an earlier version**\n'
        '\n'
        f'**{warning}**\n'
        '\n'
        '| Category | base | tuned | Δ |\n'
        '|---|---:|---:|---:|\n'
        '| **overall** (3 vs 5) | 50.00 | 40.00 | -10.00 |\n'
        '| Obj. Count (2) | 50.00 | 40.00 | -10.00 |\n'
        '| Rel. Dir. (0 vs 3) | - | 20.00 | - |\n'
        '| Route Plan (1 vs 0) | 100.00 | - | - |\n'
        '| overall (lenient) (3 vs 5) | 60.00 | 45.00 | -15.00 |\n'
        '\n'
        'The runs cover different questions (counts in brackets): deltas mix model and question set.\n'
    )
    # the plot: both runs' official scores (no bar where a run lacks the category: a 0 bar read as a score of 0) with a
    # delta over each pair that has one
    drawn = record_plot(monkeypatch)
    assert ev.plot_results(comparison=comparison)[:4] == b'\x89PNG'
    assert drawn == {
        'bars': [
            ('base', [-0.19, 0.81, 1.81, 2.81], [50.0, 50.0, None, 100.0], 0.38),
            ('tuned', [0.19, 1.19, 2.19, 3.19], [40.0, 40.0, 20.0, None], 0.38),
        ],
        'notes': [('-10.0', 0.0, 50.0), ('-10.0', 1.0, 50.0)],
        'ticks': [['overall', 'Obj. Count', 'Rel. Dir.', 'Route Plan']],
        'title': ['VSI-Bench: tuned vs base (official)'],
    }
    # one run's plot: its official and lenient scores, overall first, no deltas
    drawn = record_plot(monkeypatch)
    ev.plot_results(results=new)
    assert drawn == {
        'bars': [
            ('official', [-0.19, 0.81, 1.81], [40.0, 40.0, 20.0], 0.38),
            ('lenient', [0.19, 1.19, 2.19], [45.0, 55.0, 25.0], 0.38),
        ],
        'notes': [],
        'ticks': [['overall', 'Obj. Count', 'Rel. Dir.']],
        'title': ['VSI-Bench: tuned'],
    }


UNREADABLE_DATASET = 'the dataset of this run cannot be read, so whether its predictions cover all of it is unknown'


@pytest.mark.parametrize(
    ('config', 'ids', 'size', 'warned'),
    [
        (None, None, None, False),  # predictions alone: nothing to count
        ({'dataset_questions': 5130}, None, 5130, False),  # recorded: the dataset file need not be readable
        ({'dataset_questions': 5130}, {'a', 'b'}, 5130, False),  # the record wins
        ({}, {'a', 'b'}, 2, False),  # a folder of before the count was recorded: counted in its dataset
        ({'dataset_questions': None}, {'a'}, 1, False),
        ({}, None, None, True),
    ],
)
def test_the_recorded_dataset_size(config, ids, size, warned, caplog):
    with caplog.at_level(logging.WARNING, logger='eval_vsi_bench'):
        assert ev.recorded_dataset_size(config, ids) == size
    assert (UNREADABLE_DATASET in caplog.text) is warned


@pytest.mark.parametrize(
    ('given', 'error'),
    [
        ('missing.jsonl', '--predictions {} does not exist'),
        ('missing', '--predictions {} does not exist'),
        ('empty', '--predictions {} is a folder without predictions.jsonl'),
    ],
)
def test_rescoring_a_path_without_predictions_says_so(tmp_path, capsys, given, error):
    (tmp_path / 'empty').mkdir()
    path = tmp_path / given
    assert ev.main(['--predictions', str(path)]) == 1
    assert capsys.readouterr().err == f'error: {error.format(path)}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['empty'] and not any((tmp_path / 'empty').iterdir())


REPORT_CONFIG = {**PROTOCOL_CONFIG, 'qwen3_vl_image_max_pixels': 262144}


@pytest.mark.parametrize(
    ('change', 'line'),
    [
        (
            {},
            'Model `Qwen/Qwen3-VL-8B-Instruct`, adapter `none`; 32 frames of at most 262,144 px (as Qwen3-VL counts '
            'them), prompt `direct`, greedy, 16 new tokens, backend vllm.',
        ),
        (
            {
                'model': 'm',
                'adapters': ['out/v0/checkpoint-200'],
                'blind': True,
                'num_frames': None,
                'qwen3_vl_image_max_pixels': None,
                'prompt_style': 'think',
                'max_new_tokens': 1024,
                'infer_backend': 'pt',
                'enable_thinking': True,
            },
            'Model `m`, adapter `out/v0/checkpoint-200`; no frames (blind), prompt `think`, greedy, 1,024 new tokens, '
            "backend pt, the template's thinking prefix (enable_thinking).",
        ),
        (
            {'num_frames': None, 'max_new_tokens': 1},
            "Model `Qwen/Qwen3-VL-8B-Instruct`, adapter `none`; the dataset rows' own frames of at most 262,144 px (as "
            'Qwen3-VL counts them), prompt `direct`, greedy, 1 new token, backend vllm.',
        ),
    ],
)
def test_the_report_states_the_runs_settings_in_one_line(change, line):
    rows = [{'id': '0', 'question_type': 'object_counting', 'ground_truth': '3', 'prediction': '3'}]
    config = {**REPORT_CONFIG, **change}
    markdown = ev.results_markdown(ev.build_results(rows, 'run', config['prompt_style'], config))
    assert [text for text in markdown.splitlines() if text.startswith('Model ')] == [line]
    # under the title the one warning there is (nothing says how many questions the dataset holds), the settings
    # and the table, each a paragraph
    title, warning, settings, table = markdown.split('\n\n')[:4]
    assert (title, settings) == ('# VSI-Bench: run', line)
    assert warning.startswith('**completeness unknown: 1 question, and nothing says how many the dataset holds')
    # the one question is answered right: 100 in both readings, but for the think rule, which reads only an
    # <answer> block
    official = '0.00' if config['prompt_style'] == 'think' else '100.00'
    assert table == (
        '| Category | Questions | Official | Lenient |\n|---|---:|---:|---:|\n'
        f'| **Overall** | 1 | **{official}** | 100.00 |\n| Obj. Count | 1 | {official} | 100.00 |'
    )
    # the scoring's warnings (one category of eight here) end the report, one note each
    warnings = ev.build_results(rows, 'run', config['prompt_style'], config)['official']['warnings']
    assert warnings and markdown.endswith(''.join(f'\nNote: {warning}\n' for warning in warnings))
    # what the official score is, as the official code computes it
    (explained,) = [text for text in markdown.splitlines() if text.startswith('Official: ')]
    assert (
        '; exact option letter, or Mean Relative Accuracy for numbers, in percent (0-100) as published; ' in explained
    )
    assert 'overall is the unweighted mean of the category scores' in explained


def test_no_predictions_are_no_score():
    with pytest.raises(ev.EvalError, match='^no predictions to score$'):
        ev.score_predictions([], 'direct')


@pytest.mark.parametrize(
    ('row_style', 'config_style', 'requested', 'found'),
    [
        ('think', None, 'direct', "'think' in the prediction rows, 'direct' in --prompt_style"),
        (None, 'direct', 'think', "'direct' in {folder}/run_config.json, 'think' in --prompt_style"),
        ('direct', 'think', None, "'direct' in the prediction rows, 'think' in {folder}/run_config.json"),
    ],
)
def test_conflicting_prompt_styles_name_each_source(tmp_path, row_style, config_style, requested, found):
    rows = [{'id': '0', 'prediction': 'A', 'prompt_style': row_style}]
    config = None if config_style is None else {'prompt_style': config_style}
    path = tmp_path / 'predictions.jsonl'
    with pytest.raises(ev.EvalError) as refused:
        ev.predictions_prompt_style(path, rows, config, requested)
    found = found.format(folder=tmp_path)
    assert str(refused.value) == f'{path}: conflicting prompt styles ({found}); the official rule depends on it'


def test_the_completeness_warning_counts_one_question_in_the_singular():
    results = ev.build_results(counting_rows(1), 'one', 'direct')
    assert results['completeness_warning'].startswith('completeness unknown: 1 question, and nothing says how many')


# ----------------------------------------------------------------------------------------------------------
# I/O paths: reading predictions, rescoring, comparing, the command line
# ----------------------------------------------------------------------------------------------------------


def test_rescoring_only_reads_the_predictions_and_ignores_a_cut_off_last_line(tmp_path, caplog):
    """--predictions of a run still writing (or killed): the half-written last line is ignored, not cut away; only a
    resumed evaluation, which appends to the file, mends it."""
    rows = [
        {'id': i, 'question_type': 'object_counting', 'ground_truth': '2', 'prediction': p}
        for i, p in enumerate(['2', '4', '2'])
    ]
    text = ''.join(json.dumps(row) + '\n' for row in rows[:2]) + json.dumps(rows[2])[:15]
    path = tmp_path / 'predictions.jsonl'
    path.write_text(text, encoding='utf-8')
    with caplog.at_level(logging.WARNING):
        assert ev.main(['--predictions', str(path)]) == 0
    assert path.read_text(encoding='utf-8') == text
    assert 'ignoring the cut-off last line (15 bytes)' in caplog.text
    results = json.loads((tmp_path / 'results.json').read_text(encoding='utf-8'))
    # 2 is right (1); 4 for 2 is 100% off, beyond every MRA threshold (0)
    assert results['official']['num_questions'] == 2 and results['overall'] == pytest.approx(50.0)


def test_predictions_without_a_run_config_are_refused_unless_overwritten(bench, tmp_path):
    out = tmp_path / 'run'
    out.mkdir()
    predictions = hand_predictions(out / 'predictions.jsonl')
    engine = CountingEngine()
    with pytest.raises(ev.EvalError) as refused:
        ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames), engine=engine)
    assert str(refused.value) == (
        f'{predictions} exists but {out / "run_config.json"} does not, so its protocol is unknown; choose another '
        '--output_dir or pass --overwrite'
    )
    assert not engine.requests and not (out / 'run_config.json').exists()
    ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, '--overwrite'), engine=engine)
    assert [row['id'] for row in prediction_lines(predictions)] == [str(row['id']) for row in BENCH_ROWS]


def test_results_of_another_run_without_predictions_are_refused_unless_overwritten(bench, tmp_path):
    """A rescoring's folder holds results.json and no predictions: an evaluation there was accepted, and a subset of
    it (results_subset.*) left that results.json for --compare to read as this run's."""
    out = tmp_path / 'run'
    assert ev.main(['--predictions', str(hand_predictions(tmp_path / 'p.jsonl')), '--output_dir', str(out)]) == 0
    stale = (out / 'results.json').read_bytes()
    engine = CountingEngine()
    args = eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, '--limit', 2)
    with pytest.raises(ev.EvalError) as refused:
        ev.evaluate(args, engine=engine)
    assert str(refused.value) == (
        f'{out} holds results.json but no predictions.jsonl, so they are of another run; choose another --output_dir '
        'or pass --overwrite to remove them'
    )
    assert not engine.requests and not (out / 'run_config.json').exists()
    assert (out / 'results.json').read_bytes() == stale
    args = eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, '--limit', 2, '--overwrite')
    ev.evaluate(args, engine=engine)
    assert not (out / 'results.json').exists()
    assert json.loads((out / 'results_subset.json').read_text())['num_questions'] == 2


def test_a_run_config_that_is_not_json_is_refused_beside_predictions(bench, tmp_path):
    out = tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, '--limit', 1), engine=CountingEngine())
    (out / 'run_config.json').write_text('not json', encoding='utf-8')
    engine = CountingEngine()
    with pytest.raises(ev.EvalError) as refused:
        ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames), engine=engine)
    assert str(refused.value) == (
        f'{out / "run_config.json"} is not valid JSON (Expecting value: line 1 column 1 (char 0)); pass --overwrite '
        'to start over'
    )
    assert not engine.requests


def test_a_missing_dataset_is_one_line_of_error_naming_the_flag_and_writes_nothing(tmp_path, capsys, monkeypatch):
    """The reader's `input file X does not exist` named no flag, nor the folder a relative path starts at."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / 'run'
    for dataset, problem in (
        (tmp_path / 'missing.jsonl', 'does not exist'),
        ('data/vsi_bench/tst.jsonl', f'does not exist (relative paths start at {tmp_path})'),
        (tmp_path, 'is a folder, not a file; name the file itself'),
    ):
        assert ev.main(eval_argv('m', dataset, out, '--frames_dir', tmp_path)) == 1
        assert capsys.readouterr().err == f'error: --dataset {dataset} {problem}\n'
    assert not out.exists()


def test_question_types_no_question_has_are_refused_naming_those_the_dataset_has(tmp_path):
    questions, _ = ev.load_questions(str(write_jsonl(tmp_path / 'bench.jsonl', BENCH_ROWS[:3])))
    with pytest.raises(ev.EvalError) as refused:
        ev.select_questions(questions, ['route_planning'])
    assert str(refused.value) == (
        "no question has a type in --question_types ['route_planning']; the dataset has ['object_counting', "
        "'object_rel_direction_easy', 'room_size_estimation']"
    )


def test_images_of_benchmark_rows_are_not_taken_as_frames(tmp_path):
    """Only swift rows bring their own frames; an `images` column of a benchmark row is not read."""
    rows = [{**BENCH_ROWS[0], 'images': ['a.jpg']}]
    questions, row_images = ev.load_questions(str(write_jsonl(tmp_path / 'bench.jsonl', rows)))
    assert [q.id for q in questions] == ['0'] and row_images == {}


@pytest.mark.parametrize(
    ('argv', 'message'),
    [
        ([], 'give exactly one of --model (evaluate), --predictions (rescore) or --compare A.json B.json'),
        (
            ['--model', 'm', '--predictions', 'p.jsonl'],
            'give exactly one of --model (evaluate), --predictions (rescore) or --compare A.json B.json; got --model, '
            '--predictions',
        ),
        (['--compare', 'a', 'b', 'c'], '--compare takes one results.json (next to a run) or two (to compare them)'),
        (
            ['--compare', 'a.json'],
            '--compare a.json: one results file is shown next to the run of --model; give two to compare them '
            '(--compare A B)',
        ),
        (['--model', 'm'], '--model needs --dataset'),
        (['--model', 'm', '--dataset', 'd', '--num_frames', '0'], '--num_frames and --limit must be positive'),
        (['--model', 'm', '--dataset', 'd', '--limit', '0'], '--num_frames and --limit must be positive'),
        (
            ['--model', 'm', '--dataset', 'd', '--adapters', 'a', 'b'],
            "--adapters takes one checkpoint (swift's vLLM engine serves one LoRA at a time)",
        ),
        (['--model', 'm', '--dataset', 'd', '--batch_size', '0'], '--batch_size must be positive'),
        (
            ['--model', 'm', '--dataset', 'd', '--torch_dtype', 'float64'],
            "argument --torch_dtype: invalid choice: 'float64' (choose from 'bfloat16', 'float16', 'float32')",
        ),
        (
            ['--model', 'm', '--dataset', 'd', '--infer_backend', 'sglang'],
            "argument --infer_backend: invalid choice: 'sglang' (choose from 'auto', 'pt', 'transformers', 'vllm')",
        ),
        (
            ['--model', 'm', '--dataset', 'd', '--prompt_style', 'cot'],
            "argument --prompt_style: invalid choice: 'cot' (choose from 'direct', 'think')",
        ),
    ],
)
def test_usage_errors_are_one_line_of_argparse(capsys, argv, message):
    with pytest.raises(SystemExit) as usage:
        ev.parse_args(argv)
    assert usage.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f': error: {message}')


def test_the_command_line_defaults_and_the_types_of_its_values(monkeypatch):
    assert vars(ev.parse_args(['--model', 'm', '--dataset', 'd'])) == {
        'model': 'm',
        'adapters': [],
        'model_type': None,
        'torch_dtype': None,
        'infer_backend': 'auto',
        'batch_size': None,
        'max_model_len': None,
        'gpu_memory_utilization': 0.9,
        'tensor_parallel_size': 1,
        'dataset': 'd',
        'frames_dir': None,
        'video_dir': None,
        'frames_cache': None,
        'frames_max_pixels': None,
        'num_frames': 32,
        'allow_fewer_frames': False,
        'question_types': None,
        'limit': None,
        'prompt_style': 'direct',
        'enable_thinking': False,
        'max_new_tokens': None,
        'blind': False,
        'output_dir': 'output/eval',
        'overwrite': False,
        'label': None,
        'no_progress': False,
        'predictions': None,
        'compare': None,
    }
    monkeypatch.setenv('HOME', '/home/u')  # every path flag expands a `~` that the shell left
    argv = (
        '--model ~/m --dataset ~/d --adapters ~/a --model_type qwen3_vl --torch_dtype float16 --infer_backend pt '
        '--batch_size 4 --max_model_len 4096 --gpu_memory_utilization 0.5 --tensor_parallel_size 2 --video_dir ~/v '
        '--frames_cache ~/c --frames_max_pixels 1000 --num_frames 8 --allow_fewer_frames --question_types a b '
        '--limit 3 --prompt_style think --enable_thinking --max_new_tokens 5 --output_dir ~/o --overwrite --label L '
        '--no_progress --compare ~/r.json'
    )
    assert vars(ev.parse_args(argv.split())) == {
        'model': '/home/u/m',
        'adapters': ['/home/u/a'],
        'model_type': 'qwen3_vl',
        'torch_dtype': 'float16',
        'infer_backend': 'pt',
        'batch_size': 4,
        'max_model_len': 4096,
        'gpu_memory_utilization': 0.5,
        'tensor_parallel_size': 2,
        'dataset': '/home/u/d',
        'frames_dir': None,
        'video_dir': '/home/u/v',
        'frames_cache': '/home/u/c',
        'frames_max_pixels': 1000,
        'num_frames': 8,
        'allow_fewer_frames': True,
        'question_types': ['a', 'b'],
        'limit': 3,
        'prompt_style': 'think',
        'enable_thinking': True,
        'max_new_tokens': 5,
        'blind': False,
        'output_dir': '/home/u/o',
        'overwrite': True,
        'label': 'L',
        'no_progress': True,
        'predictions': None,
        'compare': ['/home/u/r.json'],
    }
    assert ev.parse_args(['--model', 'm', '--dataset', 'd', '--frames_dir', '~/f']).frames_dir == '/home/u/f'
    assert ev.parse_args(['--model', 'm', '--dataset', 'd', '--blind']).blind is True
    rescore = ev.parse_args(['--predictions', '~/p'])
    assert (rescore.predictions, rescore.prompt_style) == ('/home/u/p', None)  # the rows or the run config say
    assert ev.parse_args(['--compare', '~/a', '~/b']).compare == ['/home/u/a', '/home/u/b']


def test_a_local_model_path_that_is_not_a_folder_is_refused_before_anything_loads(bench, tmp_path, capsys, monkeypatch):
    """`--model ./demo_out/tiny_qwen3` (a typo) went to the ModelScope hub and failed after ~29 s of retries with
    `[E1020] Connection failed: .../api/v1/models/demo_out/tiny_qwen3/repo/files`."""
    monkeypatch.chdir(tmp_path)

    def load(*args):  # swift's model look-up: the hub for a path that is not here
        raise AssertionError(f'the model was looked up: {args}')

    monkeypatch.setattr(ev, 'resolve_model', load)
    out = tmp_path / 'run'
    (tmp_path / 'weights.safetensors').write_text('')
    hint = 'give the local model folder, or a hub id such as Qwen/Qwen3-VL-8B-Instruct'
    for model, problem in (
        ('./demo_out/tiny_qwen3', f'not found (relative paths start at {tmp_path})'),
        ('demo_out/qwen/tiny', f'not found (relative paths start at {tmp_path})'),  # two slashes: a path
        (tmp_path / 'gone', 'not found'),
        ('weights.safetensors', 'is a file, not a folder'),
    ):
        assert ev.main(eval_argv(model, bench.dataset, out, '--frames_dir', bench.frames)) == 1
        assert capsys.readouterr().err == f'error: --model {model} {problem}; {hint}\n'
    assert not out.exists()


def test_a_model_and_adapter_under_home_are_found_and_recorded_expanded(tmp_path, monkeypatch):
    """swift expands `~` in a model path (hub_utils.safe_snapshot_download); `--model=~/x` reaches us unexpanded
    (no shell expands `~` after `=`), and the model check refused the folder that swift would have loaded."""
    monkeypatch.setenv('HOME', str(tmp_path))
    (tmp_path / 'models' / 'qwen').mkdir(parents=True)
    (tmp_path / 'models' / 'weights.bin').write_text('')
    assert train_vsi_grpo.model_folder_problem('~/models/qwen') is None
    assert train_vsi_grpo.model_folder_problem('~/models/gone') == 'not found'
    assert train_vsi_grpo.model_folder_problem('~/models/weights.bin') == 'is a file, not a folder'
    assert ev._local_or_hub('~/models/qwen') == str(tmp_path / 'models' / 'qwen')
    assert ev._local_or_hub('~/models/gone') == '~/models/gone'
    assert ev._local_or_hub('Qwen/Qwen3-VL-8B-Instruct') == 'Qwen/Qwen3-VL-8B-Instruct'


def test_a_missing_adapter_or_frames_folder_is_an_error_before_anything_is_written(
    bench, tmp_path, capsys, monkeypatch
):
    out = tmp_path / 'run'
    adapter = tmp_path / 'checkpoint-1'
    assert ev.main(eval_argv('m', bench.dataset, out, '--frames_dir', bench.frames, '--adapters', adapter)) == 1
    assert capsys.readouterr().err == f'error: --adapters {adapter} does not exist\n'
    frames = tmp_path / 'frames'
    assert ev.main(eval_argv('m', bench.dataset, out, '--frames_dir', frames)) == 1
    assert capsys.readouterr().err == f'error: --frames_dir {frames} is not a folder; run extract_frames.py first\n'
    monkeypatch.chdir(tmp_path)  # a relative path says where it was read from
    assert ev.main(eval_argv('m', bench.dataset, out, '--frames_dir', 'frame')) == 1
    assert capsys.readouterr().err == (
        f'error: --frames_dir frame is not a folder (relative paths start at {tmp_path}); run extract_frames.py first\n'
    )
    argv = eval_argv('m', bench.dataset, out, '--frames_dir', bench.frames, '--adapters', 'output/checkpoint-1')
    assert ev.main(argv) == 1
    assert capsys.readouterr().err == (
        f'error: --adapters output/checkpoint-1 does not exist (relative paths start at {tmp_path})\n'
    )
    assert not out.exists()


def test_the_ids_of_a_recorded_dataset_that_is_gone_or_changed_are_unknown(bench, tmp_path):
    recorded = {'dataset': str(bench.dataset), 'dataset_sha256': preprocess_vsi_data.file_sha256(str(bench.dataset))}
    assert ev.recorded_dataset_ids(recorded) == {str(row['id']) for row in BENCH_ROWS}
    assert ev.recorded_dataset_ids({**recorded, 'dataset_sha256': '0' * 64}) is None
    assert ev.recorded_dataset_ids({**recorded, 'dataset': str(tmp_path / 'gone.jsonl')}) is None


def test_inference_is_greedy_within_the_token_budget_batch_by_batch(bench, tmp_path):
    calls = []

    class RecordingEngine(CountingEngine):
        def infer(self, infer_requests, request_config=None, *, use_tqdm=None):
            calls.append((len(infer_requests), request_config.temperature, request_config.max_tokens, use_tqdm))
            return super().infer(infer_requests, request_config, use_tqdm=use_tqdm)

    out = tmp_path / 'run'
    engine = RecordingEngine()
    ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, '--batch_size', 4), engine=engine)
    # the official protocol: greedy decoding, 16 new tokens for the direct prompt; 6 questions in batches of 4
    assert calls == [(4, 0, 16, False), (2, 0, 16, False)]
    assert [request.chat_template_kwargs for request in engine.requests] == [{}] * len(BENCH_ROWS)
    assert len(prediction_lines(out / 'predictions.jsonl')) == len(BENCH_ROWS)


def test_an_engine_answering_fewer_requests_than_asked_writes_no_prediction(bench, tmp_path):
    class ShortEngine(CountingEngine):
        def infer(self, infer_requests, request_config=None, *, use_tqdm=None):
            return super().infer(infer_requests, request_config, use_tqdm=use_tqdm)[:-1]

    out = tmp_path / 'run'
    with pytest.raises(ValueError, match='zip'):
        ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames), engine=ShortEngine())
    assert not (out / 'predictions.jsonl').exists()


def test_a_results_file_that_is_not_there_is_named_with_a_hint_to_the_subset(tmp_path):
    run = tmp_path / 'run'
    run.mkdir()
    expected = run / 'results.json'  # a folder with neither report names the full-benchmark one
    with pytest.raises(ev.EvalError) as refused:
        ev.load_results(str(run))
    missing = f"[Errno 2] No such file or directory: '{expected}'"
    assert str(refused.value) == f'cannot read results file {expected}: {missing}'
    (run / 'results_subset.json').write_text('{}', encoding='utf-8')
    with pytest.raises(ev.EvalError) as refused:
        ev.load_results(str(expected))
    subset = run / 'results_subset.json'
    assert str(refused.value).endswith(f' (a run on fewer questions writes {subset}, which is there)')


def test_a_recorded_think_style_gives_no_advice_about_answer_blocks(tmp_path, caplog):
    rows = [{'id': '0', 'prediction': '<think>two</think><answer>2</answer>', 'prompt_style': 'think'}]
    with caplog.at_level(logging.WARNING, logger='eval_vsi_bench'):
        assert ev.predictions_prompt_style(tmp_path / 'predictions.jsonl', rows, None, None) == 'think'
        unrecorded = [{'id': '0', 'prediction': '<answer>2</answer>'}]  # the run_config.json says it instead
        assert ev.predictions_prompt_style(tmp_path / 'p.jsonl', unrecorded, {'prompt_style': 'think'}, None) == 'think'
    assert caplog.text == ''


def test_a_damaged_frame_names_its_question_and_file_and_the_run_resumes_once_replaced(
    bench, tmp_path, monkeypatch, capsys
):
    """A cut-off JPEG stopped the run with Pillow's bare `error: image file is truncated`: no frame, no question,
    nothing about the predictions kept. Batches of 2: questions 0 and 1 (scannet) are predicted, then the batch of
    question 3 (test.jsonl line 4), the first on the arkitscenes scene, fails on its damaged frame."""

    class LoadingEngine(CountingEngine):  # opens the images as swift's template does
        def infer(self, infer_requests, request_config=None, *, use_tqdm=None):
            for request in infer_requests:
                for path in request.images:
                    with Image.open(path) as image:
                        image.load()
            return super().infer(infer_requests, request_config, use_tqdm=use_tqdm)

    frames = tmp_path / 'frames'
    shutil.copytree(bench.frames, frames)
    damaged = frames / 'arkitscenes' / '41069025' / 'frame_0001.jpg'
    whole = damaged.read_bytes()
    damaged.write_bytes(whole[: len(whole) // 2])
    monkeypatch.setattr(ev, 'make_engine', lambda *args: LoadingEngine())
    monkeypatch.setattr(ev, 'resolve_model', lambda model, model_type: (None, None))
    out = tmp_path / 'run'
    argv = eval_argv('m', bench.dataset, out, '--frames_dir', frames, '--batch_size', 2, '--no_progress')
    capsys.readouterr()
    assert ev.main(argv) == 1
    error = capsys.readouterr().err
    assert error.startswith(f'error: test.jsonl:line 4: image {damaged} does not decode (')
    assert error.endswith(
        f'); the predictions before this batch are kept in {out / "predictions.jsonl"}: replace the frame (extract '
        'the video again) and run the same command to resume\n'
    )
    assert [row['id'] for row in prediction_lines(out / 'predictions.jsonl')] == ['0', '1']
    damaged.write_bytes(whole)
    assert ev.main(argv) == 0
    assert [row['id'] for row in prediction_lines(out / 'predictions.jsonl')] == ['0', '1', '2', '3', '4', '5']


# ----------------------------------------------------------------------------------------------------------
# Cases a mutation test of the scoring/reporting side found unpinned (helper-177)
# ----------------------------------------------------------------------------------------------------------


def test_limit_takes_each_types_questions_in_file_order(tmp_path):
    # two counting questions, then two room-size ones: --limit 2 takes the first of each type
    rows = [
        dict(BENCH_ROWS[0], id=10),
        dict(BENCH_ROWS[0], id=11),
        dict(BENCH_ROWS[2], id=20),
        dict(BENCH_ROWS[2], id=21),
    ]
    questions, _ = ev.load_questions(str(write_jsonl(tmp_path / 'q.jsonl', rows)))
    assert [q.id for q in ev.select_questions(questions, limit=2)] == ['10', '20']
    assert [q.id for q in ev.select_questions(questions, limit=3)] == ['10', '11', '20']


def test_a_resume_under_another_pixel_budget_is_refused(bench, tmp_path, monkeypatch):
    """MAX_PIXELS changes what the model sees of each frame: one report must not mix two budgets."""
    for name in ev.IMAGE_ENV:
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, '--limit', 2), engine=CountingEngine())
    monkeypatch.setenv('MAX_PIXELS', '262144')
    engine = CountingEngine()
    with pytest.raises(ev.EvalError, match=r"image_env: \{\} there, \{'MAX_PIXELS': '262144'\} now"):
        ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames), engine=engine)
    assert engine.requests == []


def test_a_boolean_id_in_a_prediction_row_is_refused():
    row = {'id': True, 'question_type': 'object_counting', 'ground_truth': '3', 'prediction': '3'}
    with pytest.raises(ValueError, match='id True is not a string or an integer'):
        ev.check_prediction_row(row)
    assert ev.check_prediction_row({**row, 'id': 1}) == {**row, 'id': 1}


def test_a_subset_report_of_another_run_without_predictions_is_refused(bench, tmp_path):
    """results_subset.json alone (a rescoring of a --limit run into this folder) is another run's, as results.json."""
    out = tmp_path / 'run'
    out.mkdir()
    (out / 'results_subset.json').write_text('{}')
    engine = CountingEngine()
    with pytest.raises(ev.EvalError, match='holds results_subset.json but no predictions.jsonl'):
        ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', bench.frames, '--limit', 2), engine=engine)
    assert not engine.requests and not (out / 'run_config.json').exists()


@pytest.mark.parametrize(
    ('change', 'differs'),
    [({'options': ['A. left', 'B. back']}, 'options'), ({'prompt_style': 'think'}, 'prompt_style')],
)
def test_a_repeated_id_that_differs_only_in_options_or_prompt_style_is_refused(tmp_path, change, differs):
    """options (the lenient score reads them) and prompt_style (the official rule) are scored: such a row is another
    prediction, not the same one written twice."""
    row = {
        'id': 1,
        'question_type': 'object_rel_direction_easy',
        'ground_truth': 'A',
        'options': ['A. left', 'B. right'],
        'prediction': 'A',
        'prompt_style': 'direct',
    }
    path = write_jsonl(tmp_path / 'p.jsonl', [row, {**row, **change}])
    with pytest.raises(ev.EvalError, match=r"p.jsonl:2: id '1' was already predicted at line 1, differently"):
        ev.read_predictions(path)
    assert list(ev.read_predictions(write_jsonl(tmp_path / 'same.jsonl', [row, row]))) == ['1']


def test_the_prompt_style_note_is_only_for_reports_without_a_config():
    """With a config, the protocol line already names the think prompt; the note stands in only where none says it."""
    rows = [{'id': '0', 'question_type': 'object_counting', 'ground_truth': '3', 'prediction': '3'}]
    configured = ev.results_markdown(ev.build_results(rows, 'r', 'think', {**PROTOCOL_CONFIG, 'prompt_style': 'think'}))
    assert 'prompt think (official: direct)' in configured and 'Note: prompt style' not in configured
    assert 'Note: prompt style `think`' in ev.results_markdown(ev.build_results(rows, 'r', 'think'))


def test_runs_of_other_token_budgets_are_not_measured_alike():
    """16 tokens cut a reasoning answer short: a comparison must say the budgets differ."""
    assert ev.protocol_differences(PROTOCOL_CONFIG, {**PROTOCOL_CONFIG, 'max_new_tokens': 1024}) == [
        'max_new_tokens 16 vs 1024'
    ]


def test_the_extraction_size_of_a_run_given_frames_dir_is_not_compared():
    """--frames_dir does not record its frames' size: None there is no difference from a --video_dir run's size."""
    frames_dir = {**PROTOCOL_CONFIG, 'video_dir': None, 'frames_max_pixels': None}
    extracted = {**PROTOCOL_CONFIG, 'video_dir': '/videos', 'frames_max_pixels': 1024}
    assert ev.protocol_differences(frames_dir, extracted) == []


def test_configs_of_other_prompt_styles_name_the_difference_once():
    rows = [{'id': '0', 'question_type': 'object_counting', 'ground_truth': '3', 'prediction': '3'}]
    base = ev.build_results(rows, 'a', 'direct', PROTOCOL_CONFIG)
    new = ev.build_results(rows, 'b', 'think', {**PROTOCOL_CONFIG, 'prompt_style': 'think'})
    warning = ev.compare_results(base, new)['protocol_warning']
    assert warning.count('prompt_style') == 1 and "prompt_style 'direct' vs 'think'" in warning


def test_a_recorded_limit_below_the_predictions_did_not_choose_them():
    """A folder resumed under a smaller --limit holds more rows than it: the limit did not choose them."""
    rows = [{'id': str(i), 'question_type': 'object_counting'} for i in range(3)]
    assert ev.recorded_selection({'limit': 2, 'question_types': None}, rows) == {}
    assert ev.recorded_selection({'limit': 3, 'question_types': None}, rows) == {'limit': 3, 'question_types': None}


def test_limit_goes_round_the_types_in_the_order_they_first_appear(tmp_path):
    # three counting questions, then two room-size ones: --limit 3 takes counting, room size, counting (round-robin
    # in order of first appearance), whatever the sizes of the types
    rows = [dict(BENCH_ROWS[0], id=10), dict(BENCH_ROWS[0], id=11), dict(BENCH_ROWS[0], id=12)]
    rows += [dict(BENCH_ROWS[2], id=20), dict(BENCH_ROWS[2], id=21)]
    questions, _ = ev.load_questions(str(write_jsonl(tmp_path / 'q.jsonl', rows)))
    assert [q.id for q in ev.select_questions(questions, limit=3)] == ['10', '11', '20']
    assert [q.id for q in ev.select_questions(questions, limit=4)] == ['10', '11', '20', '21']


def test_the_frame_size_recorded_is_width_times_height(tmp_path):
    Image.new('RGB', (40, 30)).save(tmp_path / 'frame_0000.jpg')
    assert ev._frame_pixels([str(tmp_path / 'frame_0000.jpg')]) == 1200
    assert ev._frame_pixels([]) is None
    (tmp_path / 'broken.jpg').write_bytes(b'not a jpeg')
    assert ev._frame_pixels([str(tmp_path / 'broken.jpg')]) is None


def test_an_image_over_pillows_size_limit_is_named_not_a_traceback(tmp_path, monkeypatch):
    """Pillow refuses an image over twice Image.MAX_IMAGE_PIXELS (about 358M pixels) with DecompressionBombError,
    which is neither an OSError nor a ValueError: a hand-made row's huge image crashed build_items."""
    from preprocess_vsi_data import Question

    path = tmp_path / 'frame_0000.png'
    Image.new('RGB', (40, 30)).save(path)
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 500)  # 1200 pixels: over twice the limit, as a 400M-pixel scan
    assert ev._frame_pixels([str(path)]) is None
    q = Question('0', 'scene0000_00', 'object_counting', 'How many?', None, '3', location='test.jsonl:line 1')
    assert (
        ev._unreadable_image([ev.EvalItem(q, images=[str(path)])]) == f'test.jsonl:line 1: image {path} does not decode'
    )


def test_auto_backend_is_vllm_only_with_vllm_and_a_gpu(monkeypatch):
    import torch

    assert ev.resolve_backend('transformers') == 'pt'
    assert ev.resolve_backend('pt') == 'pt'
    assert ev.resolve_backend('vllm') == 'vllm'
    for installed, gpu, chosen in [(False, True, 'pt'), (True, False, 'pt'), (True, True, 'vllm')]:
        monkeypatch.setattr(ev, 'vllm_installed', lambda installed=installed: installed)
        monkeypatch.setattr(torch.cuda, 'is_available', lambda gpu=gpu: gpu)
        assert ev.resolve_backend('auto') == chosen, (installed, gpu)


def test_a_half_precision_model_is_served_with_a_lora_in_its_own_dtype():
    import torch

    assert ev.lora_serving_dtype('m', torch.float16) is None
    assert ev.lora_serving_dtype('m', torch.bfloat16) is None
    assert ev.lora_serving_dtype('m', torch.float32) is torch.bfloat16


def test_make_engine_passes_the_batch_size_dtype_and_adapter(tmp_path, monkeypatch):
    import swift.infer_engine
    import torch

    built = []

    def fake(kind):
        def engine(model, **kwargs):
            built.append((kind, model, kwargs))
            return kind

        return engine

    # set in the module's namespace: getattr would import vllm_engine, which needs vllm
    monkeypatch.setitem(vars(swift.infer_engine), 'TransformersEngine', fake('pt'))
    monkeypatch.setitem(vars(swift.infer_engine), 'VllmEngine', fake('vllm'))
    (tmp_path / 'adapter_config.json').write_text(json.dumps({'r': 16}))
    args = SimpleNamespace(
        model='m',
        model_type='qwen3_vl',
        torch_dtype=None,
        adapters=[str(tmp_path)],
        batch_size=3,
        max_model_len=None,
        gpu_memory_utilization=0.9,
        tensor_parallel_size=1,
    )
    assert ev.make_engine(args, 'pt', 4, torch.float32) == 'pt'
    assert built[-1] == (
        'pt',
        'm',
        {'adapters': [str(tmp_path)], 'model_type': 'qwen3_vl', 'torch_dtype': None, 'max_batch_size': 3},
    )
    # vLLM with a LoRA: a float32 model is served in bfloat16 unless --torch_dtype says otherwise
    assert ev.make_engine(args, 'vllm', 4, torch.float32) == 'vllm'
    assert built[-1][2]['torch_dtype'] is torch.bfloat16
    assert (built[-1][2]['max_num_seqs'], built[-1][2]['max_lora_rank']) == (3, 16)
    args.torch_dtype = 'float16'
    ev.make_engine(args, 'vllm', 4, torch.float32)
    assert built[-1][2]['torch_dtype'] is torch.float16
    args.adapters, args.torch_dtype = [], None
    ev.make_engine(args, 'vllm', 4, torch.float32)
    assert built[-1][2]['torch_dtype'] is None and 'max_lora_rank' not in built[-1][2]


def test_a_rows_own_video_is_read_under_video_dir_else_the_benchmark_layout(tmp_path):
    from preprocess_vsi_data import Question

    q = Question('0', 'scene0000_00', 'object_counting', 'How many?', None, '3', dataset='scannet')
    assert ev.video_path(q, '/videos') == Path('/videos/scannet/scene0000_00.mp4')
    q.video = 'clips/scene0000_00.mp4'  # a conversations row names its video, relative to the video root
    assert ev.video_path(q, '/videos') == Path('/videos/clips/scene0000_00.mp4')
    q.video, q.dataset = None, None
    with pytest.raises(ev.EvalError, match='names no dataset'):
        ev.video_path(q, '/videos')


def test_a_video_that_does_not_decode_stops_the_frame_extraction(tmp_path):
    from preprocess_vsi_data import Question

    (tmp_path / 'videos' / 'scannet').mkdir(parents=True)
    (tmp_path / 'videos' / 'scannet' / 'scene0000_00.mp4').write_bytes(b'not a video')
    q = Question('0', 'scene0000_00', 'object_counting', 'How many?', None, '3', dataset='scannet')
    with pytest.raises(ev.EvalError, match=r'^1 video\(s\) could not be decoded, e\.g\. .*scene0000_00\.mp4: '):
        ev.prepare_frames_cache([q], str(tmp_path / 'videos'), str(tmp_path / 'cache'), 4, progress=False)
    with pytest.raises(ev.EvalError, match=r'^1 video\(s\) missing under --video_dir'):
        ev.prepare_frames_cache([q], str(tmp_path / 'elsewhere'), str(tmp_path / 'cache'), 4, progress=False)


def test_frames_dir_beside_video_dir_extracts_nothing_and_refuses_extraction_flags(bench, tmp_path, capsys):
    both = SimpleNamespace(video_dir=str(tmp_path), frames_dir=str(bench.frames), blind=False)
    assert not ev.extracts_frames(both)
    assert ev.extracts_frames(SimpleNamespace(video_dir=str(tmp_path), frames_dir=None, blind=False))
    with pytest.raises(SystemExit) as stopped:
        eval_args(
            'm',
            bench.dataset,
            tmp_path / 'run',
            '--frames_dir',
            bench.frames,
            '--video_dir',
            tmp_path,
            '--frames_cache',
            tmp_path / 'cache',
        )
    assert stopped.value.code == 2
    assert '--frames_cache: only for frames extracted from --video_dir' in capsys.readouterr().err


def test_the_vllm_backend_predicts_in_batches_of_64_by_default(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(ev, 'resolve_backend', lambda name: 'vllm')
    sizes = []

    class RecordingEngine(CountingEngine):
        def infer(self, infer_requests, request_config=None, *, use_tqdm=None):
            sizes.append(len(infer_requests))
            return super().infer(infer_requests, request_config, use_tqdm=use_tqdm)

    ev.evaluate(eval_args('m', bench.dataset, tmp_path / 'run', '--frames_dir', bench.frames), engine=RecordingEngine())
    assert sizes == [len(BENCH_ROWS)]  # 6 questions, one call (pt's default is 1 a call)


def test_image_max_token_num_alone_sets_the_budget_without_a_warning(bench, tmp_path, monkeypatch, caplog):
    monkeypatch.delenv('MAX_PIXELS', raising=False)
    monkeypatch.setenv('IMAGE_MAX_TOKEN_NUM', '256')
    caplog.set_level(logging.WARNING, logger='eval_vsi_bench')
    ev.evaluate(eval_args('m', bench.dataset, tmp_path / 'a', '--frames_dir', bench.frames), engine=CountingEngine())
    config = json.loads((tmp_path / 'a' / 'run_config.json').read_text())
    assert config['qwen3_vl_image_max_pixels'] == 256 * 32 * 32
    assert config['image_env'] == {'IMAGE_MAX_TOKEN_NUM': '256'}
    assert 'MAX_PIXELS is not set' not in caplog.text


def test_scenes_of_one_name_in_two_folders_record_each_its_own_frame_size(tmp_path):
    rows = [dict(BENCH_ROWS[0], id=0), dict(BENCH_ROWS[0], id=1, dataset='scannetpp')]
    for dataset, side in (('scannet', 32), ('scannetpp', 16)):
        folder = tmp_path / 'frames' / dataset / BENCH_ROWS[0]['scene_name']
        folder.mkdir(parents=True)
        for k in range(NUM_FRAMES):
            Image.new('RGB', (side, side)).save(folder / f'frame_{k:04d}.jpg')
    questions, _ = ev.load_questions(str(write_jsonl(tmp_path / 'q.jsonl', rows)))
    items = ev.build_items(questions, 'direct', str(tmp_path / 'frames'), NUM_FRAMES)
    assert [item.frame_pixels for item in items] == [32 * 32, 16 * 16]


def test_a_frame_whose_header_reads_but_whose_data_is_cut_off_is_named(tmp_path):
    from preprocess_vsi_data import Question

    path = tmp_path / 'frame_0000.jpg'
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    whole = path.read_bytes()
    path.write_bytes(whole[:-400])  # the header is whole: Image.open succeeds, only decoding the pixels fails
    with Image.open(path) as image:
        assert image.size == (64, 64)
    q = Question('0', 'scene0000_00', 'object_counting', 'How many?', None, '3', location='test.jsonl:line 1')
    batch = [ev.EvalItem(q, images=[str(path)])]
    assert ev._unreadable_image(batch) == f'test.jsonl:line 1: image {path} does not decode'
    path.write_bytes(whole)
    assert ev._unreadable_image(batch) is None


def test_each_prediction_row_records_the_prompt_tokens_the_engine_reports(bench, tmp_path):
    class NoUsageEngine(CountingEngine):
        def infer(self, infer_requests, request_config=None, *, use_tqdm=None):
            responses = super().infer(infer_requests, request_config, use_tqdm=use_tqdm)
            return [SimpleNamespace(choices=response.choices) for response in responses]

    for name, engine, tokens in (('usage', CountingEngine(), 7), ('none', NoUsageEngine(), None)):
        ev.evaluate(
            eval_args('m', bench.dataset, tmp_path / name, '--frames_dir', bench.frames, '--limit', 2), engine=engine
        )
        assert [row['prompt_tokens'] for row in prediction_lines(tmp_path / name / 'predictions.jsonl')] == [tokens] * 2


def test_rescoring_refuses_a_folder_holding_the_scores_of_another_predictions_file(tmp_path, capsys):
    """A folder of rescored scores has no predictions.jsonl: the scores of another file silently replaced them."""
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    a = hand_predictions(tmp_path / 'a' / 'model_a.jsonl')
    b = hand_predictions(tmp_path / 'b' / 'model_b.jsonl', {'c1': '3'})
    out = tmp_path / 'out'
    assert ev.main(['--predictions', str(a), '--output_dir', str(out)]) == 0
    kept = (out / 'results.json').read_bytes()
    assert ev.main(['--predictions', str(a), '--output_dir', str(out)]) == 0  # the same file: rescored in place
    capsys.readouterr()
    assert ev.main(['--predictions', str(b), '--output_dir', str(out)]) == 1
    assert (
        f'{out} holds another run ({a}), whose results would be replaced by the scores of {b}'
        in capsys.readouterr().err
    )
    assert json.loads((out / 'results.json').read_bytes())['predictions'] == json.loads(kept)['predictions'] == str(a)
    a.unlink()  # the file they scored is gone: they are still its scores, not b's
    assert ev.main(['--predictions', str(b), '--output_dir', str(out)]) == 1


def test_rescoring_refuses_the_scores_of_a_removed_file_of_the_same_name(tmp_path):
    """Every run folder's file is predictions.jsonl: the name says nothing about whose scores a folder holds."""
    for name in ('a', 'b'):
        (tmp_path / 'runs' / name).mkdir(parents=True)
    a = hand_predictions(tmp_path / 'runs' / 'a' / 'predictions.jsonl')
    b = hand_predictions(tmp_path / 'runs' / 'b' / 'predictions.jsonl', {'c1': '3'})
    out = tmp_path / 'out'
    assert ev.main(['--predictions', str(a), '--output_dir', str(out)]) == 0
    kept = (out / 'results.json').read_bytes()
    a.unlink()
    assert ev.main(['--predictions', str(b), '--output_dir', str(out)]) == 1
    assert (out / 'results.json').read_bytes() == kept


def test_comparison_sources_are_absolute_when_named_relatively(tmp_path, monkeypatch):
    """--compare with relative paths: `sources` must be absolute, or rescoring B from another folder keeps the stale
    comparison (remove_stale_comparison resolves them against its own working folder)."""
    for name, change in (('base', None), ('tuned', {'c3': '4'})):
        path = hand_predictions(tmp_path / f'{name}.jsonl', change)
        assert ev.main(['--predictions', str(path), '--output_dir', str(tmp_path / name), '--label', name]) == 0
    monkeypatch.chdir(tmp_path)
    assert ev.main(['--compare', 'base', 'tuned']) == 0
    sources = json.loads((tmp_path / 'tuned' / 'comparison.json').read_text())['sources']
    assert sources == {'base': str(tmp_path / 'base' / 'results.json'), 'new': str(tmp_path / 'tuned' / 'results.json')}
    monkeypatch.chdir(tmp_path / 'tuned')
    assert ev.main(['--predictions', str(tmp_path / 'tuned.jsonl'), '--output_dir', '.', '--label', 'tuned']) == 0
    assert not (tmp_path / 'tuned' / 'comparison.json').exists()


def test_rescoring_with_compare_warns_once_of_a_report_by_an_earlier_version(tmp_path, caplog):
    """The base's report lacks what an earlier version did not record: said once, with --predictions as with
    --compare alone."""
    base = hand_predictions(tmp_path / 'base.jsonl')
    assert ev.main(['--predictions', str(base), '--output_dir', str(tmp_path / 'base')]) == 0
    old = tmp_path / 'base' / 'results.json'
    results = json.loads(old.read_text())
    del results['official_protocol']
    old.write_text(json.dumps(results))
    caplog.clear()
    tuned = hand_predictions(tmp_path / 'tuned.jsonl', {'c3': '4'})
    argv = ['--predictions', str(tuned), '--output_dir', str(tmp_path / 'tuned'), '--compare', str(old)]
    assert ev.main(argv) == 0
    assert caplog.text.count(f'{old} was written by an earlier eval_vsi_bench.py') == 1


def test_a_recorded_dataset_the_reader_now_refuses_does_not_stop_rescoring(tmp_path, monkeypatch):
    """An unchanged dataset that a later, stricter reader refuses leaves its ids unknown; the rescoring goes on."""
    dataset = tmp_path / 'dataset.jsonl'
    dataset.write_text('{}\n')
    config = {'dataset': str(dataset), 'dataset_sha256': ev.file_sha256(str(dataset))}

    def refuse(*args, **kwargs):
        raise ev.EvalError('a row this version refuses')

    monkeypatch.setattr(ev, 'load_questions', refuse)
    assert ev.recorded_dataset_ids(config) is None


def test_a_rescored_run_keeps_the_label_its_run_config_records(tmp_path):
    """Not the folder's name: reports and comparisons name the run as its evaluation did (--label still wins)."""
    run = tmp_path / 'some_folder'
    run.mkdir()
    hand_predictions(run / 'predictions.jsonl')
    (run / 'run_config.json').write_text(json.dumps({**RUN_CONFIG, 'label': 'grpo-step-500'}))
    assert ev.main(['--predictions', str(run)]) == 0
    assert json.loads((run / 'results.json').read_text())['label'] == 'grpo-step-500'
    assert ev.main(['--predictions', str(run), '--label', 'renamed']) == 0  # the flag wins
    assert json.loads((run / 'results.json').read_text())['label'] == 'renamed'


def test_recorded_question_types_that_do_not_cover_the_predictions_did_not_choose_them():
    """A folder a full run filled after a --question_types run is reported whole, not as chosen by the flag."""
    config = {'limit': None, 'question_types': ['object_counting']}
    assert ev.recorded_selection(config, [{'question_type': 'object_counting'}]) == config
    assert (
        ev.recorded_selection(config, [{'question_type': 'object_counting'}, {'question_type': 'route_planning'}]) == {}
    )


def test_rescoring_a_moved_folder_of_rescored_scores_is_the_same_file(tmp_path):
    """A folder of one file's rescored scores, moved (or copied from a cluster): its results name the old path, which
    is gone; the file of the same name in it is the one they scored, not another run."""
    (tmp_path / 'data').mkdir()
    preds = hand_predictions(tmp_path / 'data' / 'model_a.jsonl')
    assert ev.main(['--predictions', str(preds)]) == 0
    recorded = json.loads((tmp_path / 'data' / 'results.json').read_text())
    assert recorded['predictions_sha256'] == hashlib.sha256(preds.read_bytes()).hexdigest()
    (tmp_path / 'data').rename(tmp_path / 'archive')
    assert ev.main(['--predictions', str(tmp_path / 'archive' / 'model_a.jsonl')]) == 0
    # ... known by what it holds: changed since, it is another file's
    (tmp_path / 'archive').rename(tmp_path / 'moved_again')
    hand_predictions(tmp_path / 'moved_again' / 'model_a.jsonl', {'c1': '3'})
    assert ev.main(['--predictions', str(tmp_path / 'moved_again' / 'model_a.jsonl')]) == 1


def test_the_model_is_part_of_the_protocol(bench, tmp_path):
    """A folder begun with one model and resumed with another would report two models' answers as one run."""
    out, engine = tmp_path / 'run', CountingEngine()
    ev.evaluate(eval_args('org/base', bench.dataset, out, '--blind', '--limit', 2), engine=engine)
    with pytest.raises(ev.EvalError, match="model: 'org/base' there, 'org/tuned' now"):
        ev.evaluate(eval_args('org/tuned', bench.dataset, out, '--blind'), engine=engine)
    assert len(engine.requests) == 2


def test_a_dataset_changed_since_the_run_began_is_refused(bench, tmp_path):
    """Same file name and ids, other contents (a corrected ground truth): the resume would score the earlier rows
    against the answers they were predicted under and the rest against the new ones."""
    dataset = write_jsonl(tmp_path / 'test.jsonl', BENCH_ROWS)
    out, engine = tmp_path / 'run', CountingEngine()
    ev.evaluate(eval_args('m', dataset, out, '--blind', '--limit', 2), engine=engine)
    write_jsonl(dataset, [{**BENCH_ROWS[0], 'ground_truth': '4'}, *BENCH_ROWS[1:]])
    with pytest.raises(ev.EvalError) as error:
        ev.evaluate(eval_args('m', dataset, out, '--blind'), engine=engine)
    assert len(engine.requests) == 2
    before, now = json.loads((out / 'run_config.json').read_text())['dataset_sha256'], ev.file_sha256(str(dataset))
    assert f"(dataset_sha256: '{before}' there, '{now}' now (the file's contents differ: edited since?));" in str(
        error.value
    )


def test_frames_extracted_again_at_another_size_while_the_run_was_stopped_are_refused(bench, tmp_path):
    """--frames_dir's settings are no part of the recorded protocol: frames extracted again with another
    --max_pixels between a stop and its resume gave one report of predictions on two frame sizes."""
    frames = tmp_path / 'frames'
    shutil.copytree(bench.frames, frames)
    out, engine = tmp_path / 'run', CountingEngine()
    ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', frames, '--limit', 2), engine=engine)
    first = BENCH_ROWS[0]
    scene = frames / first['dataset'] / first['scene_name']
    assert all(row['scene_name'] == first['scene_name'] for row in BENCH_ROWS[:2])  # the scene predicted on
    later = [row for row in BENCH_ROWS[2:] if row['scene_name'] == first['scene_name']]
    assert later  # and questions of it still to come
    for path in scene.iterdir():
        Image.open(path).resize((16, 16)).save(path)
    with pytest.raises(ev.EvalError) as error:
        ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', frames), engine=engine)
    assert str(error.value) == (
        f'the frames of {first["dataset"]}/{first["scene_name"]} have 256 pixels now and had 1,024 when this run began '
        'on them (extracted again since?): the run would mix frame sizes; restore them, or pass --overwrite to '
        'predict every question again'
    )
    assert len(engine.requests) == 2
    shutil.rmtree(frames)
    shutil.copytree(bench.frames, frames)  # restored: the run resumes
    resumed = ev.evaluate(eval_args('m', bench.dataset, out, '--frames_dir', frames), engine=engine)
    assert len(engine.requests) == len(BENCH_ROWS) and resumed['num_questions'] == len(BENCH_ROWS)


def test_the_prompt_style_is_part_of_the_protocol(bench, tmp_path):
    """Even at the same token limit, a direct run resumed with think prompts would mix two prompt styles."""
    out, engine = tmp_path / 'run', CountingEngine()
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--limit', 2), engine=engine)
    with pytest.raises(ev.EvalError, match="prompt_style: 'direct' there, 'think' now"):
        ev.evaluate(
            eval_args('m', bench.dataset, out, '--blind', '--prompt_style', 'think', '--max_new_tokens', '16'),
            engine=engine,
        )
    assert len(engine.requests) == 2


def test_a_resume_records_the_command_that_finished_the_run(bench, tmp_path):
    """run_config.json is rewritten on each resume: rescoring the folder later names the run as its last command did,
    not as the stopped first attempt."""
    out = tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--limit', 2, '--label', 'first try'), CountingEngine())
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--label', 'tuned'), CountingEngine())
    config = json.loads((out / 'run_config.json').read_text())
    assert (config['label'], config['limit']) == ('tuned', None)
    assert ev.main(['--predictions', str(out), '--no_progress']) == 0
    assert json.loads((out / 'results.json').read_text())['label'] == 'tuned'


def test_a_folder_resumed_with_other_question_types_predicts_only_those_and_keeps_the_others(bench, tmp_path, caplog):
    """Predictions of questions the new selection leaves out are the dataset's own, not strays of a renamed file."""
    out, engine = tmp_path / 'run', CountingEngine()
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--question_types', 'route_planning'), engine=engine)
    first = len(engine.requests)
    results = ev.evaluate(
        eval_args('m', bench.dataset, out, '--blind', '--question_types', 'object_counting'), engine=engine
    )
    counting = sum(row['question_type'] == 'object_counting' for row in BENCH_ROWS)
    assert first and len(engine.requests) == first + counting and results['num_questions'] == counting
    assert 'match no question' not in caplog.text


def test_a_reports_json_goes_into_place_last(tmp_path, monkeypatch):
    """A kill between the renames then leaves the previous json, which says what the report was, beside new md and png
    (remove_report removes it last for the same reason), never a new json beside an old plot."""
    renamed, real_replace = [], os.replace

    def replace(src, dst, *args, **kwargs):
        renamed.append(os.path.basename(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(preprocess_vsi_data.os, 'replace', replace)
    report = {'label': 'x'}
    monkeypatch.setattr(ev, 'plot_results', lambda **plot: b'png')
    ev.write_report(tmp_path, 'results', report, '# x\n', results=report)
    assert renamed[-1] == 'results.json' and sorted(renamed) == ['results.json', 'results.md', 'results.png']


def test_a_comparison_of_a_subset_report_goes_when_that_report_is_rewritten(bench, tmp_path):
    """A --limit run compared, then resumed with a larger --limit: its results_subset.json has new figures, so the
    comparison made from it is stale."""
    base, out = tmp_path / 'base', tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, base, '--blind'), engine=CountingEngine(answer='A'))
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--limit', 2), engine=CountingEngine(answer='B'))
    assert ev.main(['--compare', str(base / 'results.json'), str(out / 'results_subset.json')]) == 0
    assert (out / 'comparison.json').is_file()
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--limit', 3), engine=CountingEngine(answer='B'))
    assert json.loads((out / 'results_subset.json').read_text())['num_questions'] == 3
    assert not list(out.glob('comparison.*'))


def test_a_report_is_removed_json_last(tmp_path, monkeypatch):
    """A run stopped while removing a report leaves its json, which says what the report was, for the next to find."""
    for suffix in ('json', 'md', 'png'):
        (tmp_path / f'comparison.{suffix}').write_text('x')
    removed, real_unlink = [], Path.unlink
    monkeypatch.setattr(Path, 'unlink', lambda self, missing_ok=False: removed.append(self.suffix) or real_unlink(self))
    ev.remove_report(tmp_path, 'comparison')
    assert removed[-1] == '.json' and len(removed) == 3 and not list(tmp_path.iterdir())


def test_a_run_of_a_relative_model_path_resumes_from_another_folder(bench, tmp_path, monkeypatch):
    """The model's path is recorded absolute: the same model named from another folder resumes the run."""
    (tmp_path / 'models' / 'base').mkdir(parents=True)
    out, engine = tmp_path / 'run', CountingEngine()
    monkeypatch.chdir(tmp_path)
    ev.evaluate(eval_args('models/base', bench.dataset, out, '--blind', '--limit', 2), engine=engine)
    assert json.loads((out / 'run_config.json').read_text())['model'] == str(tmp_path / 'models' / 'base')
    monkeypatch.chdir(tmp_path / 'models')
    ev.evaluate(eval_args('base', bench.dataset, out, '--blind', '--limit', 3), engine=engine)
    assert len(engine.requests) == 3


def test_each_prediction_row_records_its_prompt_style(bench, tmp_path):
    """Rescoring the file alone (copied elsewhere, no run_config.json) must apply the think rule to think rows."""
    out = tmp_path / 'run'
    ev.evaluate(eval_args('m', bench.dataset, out, '--blind', '--prompt_style', 'think'), engine=CountingEngine())
    assert {row['prompt_style'] for row in prediction_lines(out / 'predictions.jsonl')} == {'think'}


def test_rescoring_in_a_copy_of_a_folder_of_rescored_scores_is_rescoring_the_same_file(tmp_path):
    """A copy (another machine's mounts, an archive) whose original is still there: the same contents, the same run."""
    (tmp_path / 'data').mkdir()
    hand_predictions(tmp_path / 'data' / 'model_a.jsonl')
    assert ev.main(['--predictions', str(tmp_path / 'data' / 'model_a.jsonl')]) == 0
    shutil.copytree(tmp_path / 'data', tmp_path / 'copy')
    assert ev.main(['--predictions', str(tmp_path / 'copy' / 'model_a.jsonl')]) == 0
    assert json.loads((tmp_path / 'copy' / 'results.json').read_text())['predictions'] == str(
        tmp_path / 'copy' / 'model_a.jsonl'
    )


@pytest.mark.parametrize(('name', 'refused'), [('model_a.jsonl', False), ('predictions.jsonl', True)])
def test_a_moved_folder_of_an_earlier_versions_rescored_scores(name, refused, tmp_path):
    """Reports written before predictions_sha256 name the file only: moved, the same file is known by its name, unless
    that name is every run folder's (then any run's predictions.jsonl would pass for it)."""
    (tmp_path / 'data').mkdir()
    hand_predictions(tmp_path / 'data' / name)
    out = tmp_path / 'data' / 'scores'
    assert ev.main(['--predictions', str(tmp_path / 'data' / name), '--output_dir', str(out)]) == 0
    report = json.loads((out / 'results.json').read_text())
    del report['predictions_sha256']
    (out / 'results.json').write_text(json.dumps(report))
    (tmp_path / 'data').rename(tmp_path / 'archive')
    moved = ['--predictions', str(tmp_path / 'archive' / name), '--output_dir', str(tmp_path / 'archive' / 'scores')]
    assert ev.main(moved) == (1 if refused else 0)
