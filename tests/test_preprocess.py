"""preprocess_vsi_data.py: every input layout, every skip reason, filters, both prompt styles and both media modes.

Each test builds its own tiny frame folders (JPEGs whose grey level encodes the frame number) and question files;
expected prompts are written out here from the official VSI-Bench wording, not taken from the code under test.
"""

import codecs
import contextlib
import dataclasses
import decimal
import errno
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import preprocess_vsi_data as pp
from vsi_scoring import THINK_MCA_POST_PROMPT, THINK_NA_POST_PROMPT

PRE = 'These are frames of a video.'
NUMERIC_POST = 'Please answer the question using a single word or phrase.'
MC_POST = "Answer with the option's letter from the given choices directly."
GREY_STEP = 12  # frame i is filled with grey level 12 * i (JPEG keeps it within a few levels)

MC_ROW = {
    'id': 7,
    'dataset': 'scannet',
    'scene_name': 'scene0001_00',
    'question_type': 'object_rel_direction_medium',
    'question': 'If I am standing by the bed and facing the desk, is the lamp to my left, right, or back?\n'
    'An object is to my back if I would have to turn at least 135 degrees in order to face it.',
    'options': ['A. left', 'B. right', 'C. back'],
    'ground_truth': 'B',
}
NUMERIC_ROW = {
    'id': 8,
    'dataset': 'scannet',
    'scene_name': 'scene0001_00',
    'question_type': 'object_counting',
    'question': 'How many chair(s) are in this room?',
    'options': None,
    'ground_truth': '4',
}


def official_prompt(row: dict) -> str:
    if row['options']:
        return '\n'.join([PRE, row['question'], 'Options:', *row['options'], MC_POST])
    return '\n'.join([PRE, row['question'], NUMERIC_POST])


def make_frames(folder: Path, count: int, size: tuple = (20, 16)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new('RGB', size, (GREY_STEP * i,) * 3).save(folder / f'frame_{i:04d}.jpg', quality=95)


def grey(path: Path) -> float:
    return float(np.asarray(Image.open(os.path.normpath(path)).convert('L'), dtype=np.float64).mean())


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text(''.join(json.dumps(row) + '\n' for row in rows), encoding='utf-8')
    return path


def read_jsonl(path: Path) -> list:
    return [json.loads(line) for line in path.read_text(encoding='utf-8').splitlines()]


def config(tmp_path: Path, **kwargs) -> pp.PreprocessConfig:
    kwargs.setdefault('num_frames', 4)
    kwargs.setdefault('base_dir', str(tmp_path / 'out'))
    return pp.PreprocessConfig(frames_dir=str(tmp_path / 'frames'), progress=False, **kwargs)


def conversations_row(row: dict, prompt: str | None = None, video: str | None = None) -> dict:
    return {
        'id': str(row['id']),
        'data_source': row['dataset'],
        'scene_name': row['scene_name'],
        'question_type': row['question_type'],
        'video': video or f'{row["dataset"]}/{row["scene_name"]}.mp4',
        'conversations': [
            {'from': 'human', 'value': '<image>\n' + (prompt or official_prompt(row))},
            {'from': 'gpt', 'value': row['ground_truth']},
        ],
    }


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    make_frames(tmp_path / 'frames' / 'scannet' / 'scene0001_00', 10)
    return tmp_path


def test_benchmark_rows_become_swift_rows_with_the_official_prompt(scene):
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    summary = pp.preprocess([str(source)], str(output), config(scene))

    rows = read_jsonl(output)
    assert [r['id'] for r in rows] == ['7', '8']
    mc, numeric = rows
    assert mc['messages'] == [
        {'role': 'user', 'content': '<image>' * 4 + official_prompt(MC_ROW)},
        {'role': 'assistant', 'content': 'B'},
    ]
    assert (mc['solution'], mc['question_type'], mc['options']) == ('B', MC_ROW['question_type'], MC_ROW['options'])
    assert mc['scene_name'] == 'scene0001_00'
    assert numeric['messages'][0]['content'] == '<image>' * 4 + official_prompt(NUMERIC_ROW)
    assert (numeric['solution'], numeric['options']) == ('4', None)
    # Paths are relative to the output's folder and pick round(linspace(0, 9, 4)) = frames 0, 3, 6, 9.
    expected = [int(i) for i in np.linspace(0, 9, 4).round()]
    assert mc['images'] == [f'../frames/scannet/scene0001_00/frame_{i:04d}.jpg' for i in expected]
    assert [round(grey(output.parent / p) / GREY_STEP) for p in mc['images']] == expected
    assert summary.written == summary.rows_read == 2 and not summary.skipped
    # 10 frames extracted, 4 asked: an even subset of them, which the summary says is not the benchmark's sampling
    assert summary.scenes_with_more_frames == ['scannet/scene0001_00']
    assert (
        '  1 scene(s) have more frames than --num_frames, e.g. scannet/scene0001_00: an even subset of the extracted '
        "frames is used, which is not round(linspace(0, n - 1, num_frames)) over the video's n frames"
    ) in '\n'.join(summary.lines())
    saved = json.loads((scene / 'out' / 'train.summary.json').read_text())
    assert saved['written'] == 2 and saved['per_type'] == {'object_rel_direction_medium': 1, 'object_counting': 1}


def test_absolute_paths(scene):
    source = write_jsonl(scene / 'qa.jsonl', [NUMERIC_ROW])
    rows, summary = pp.convert([str(source)], config(scene, path_mode='absolute', num_frames=10))
    assert summary.scenes_with_more_frames == []  # as many as asked: the extractor's own choice, used as it is
    paths = rows[0]['images']
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in paths)
    assert [round(grey(Path(p)) / GREY_STEP) for p in paths] == list(range(10))


def test_a_folder_of_every_frame_of_its_video_is_no_subset_of_another_sampling(scene):
    """A folder that extract_frames.py filled with every frame of its video (its record says so): the even subset of
    them is round(linspace(0, n - 1, num_frames)) over the video, the benchmark's sampling, not a difference."""
    source = write_jsonl(scene / 'qa.jsonl', [NUMERIC_ROW])
    folder = scene / 'frames' / 'scannet' / 'scene0001_00'
    for total, listed in ((10, []), (300, ['scannet/scene0001_00'])):  # every frame; 10 of a 300-frame video
        (folder / '.record.json').write_text(json.dumps({'total_frames': total, 'num_frames': 10}))
        _, summary = pp.convert([str(source)], config(scene))
        assert summary.scenes_with_more_frames == listed


def test_all_layouts_give_identical_rows(scene):
    """Benchmark, conversations (VLM-3R, flat frame layout via `video`), parquet and swift rows agree."""
    make_frames(scene / 'flat' / 'scene0001_00', 10)
    bench = write_jsonl(scene / 'bench.jsonl', [MC_ROW, NUMERIC_ROW])
    conv = scene / 'conv.json'
    conv.write_text(json.dumps([conversations_row(MC_ROW), conversations_row(NUMERIC_ROW)]), encoding='utf-8')
    parquet = scene / 'bench.parquet'
    pq.write_table(pa.Table.from_pylist([MC_ROW, NUMERIC_ROW]), parquet)

    cfg = config(scene)
    reference, _ = pp.convert([str(bench)], cfg)
    from_conv, summary = pp.convert([str(conv)], cfg)
    from_parquet, _ = pp.convert([str(parquet)], cfg)
    assert summary.layouts == {'conversations': 2}
    assert from_conv == reference  # ids were the same strings
    assert from_parquet == reference
    both, summary = pp.convert([str(bench), str(conv)], cfg)  # several inputs, one output
    assert summary.layouts == {'benchmark': 2, 'conversations': 2}
    assert both == reference and summary.skipped == {'duplicate_question': 2}  # same ids, same questions
    # The output fed back in (swift layout) reproduces itself; so does a think-style output.
    output = scene / 'out' / 'direct.jsonl'
    pp.preprocess([str(bench)], str(output), cfg)
    again, summary = pp.convert([str(output)], cfg)
    assert summary.layouts == {'swift': 2} and again == reference
    think_output = scene / 'out' / 'think.jsonl'
    pp.preprocess([str(bench)], str(think_output), config(scene, prompt_style='think'))
    assert pp.convert([str(think_output)], cfg)[0] == reference


def test_conversation_prompts_lose_only_the_documented_parts(scene):
    think_prompt = '\n'.join([PRE, MC_ROW['question'], 'Options:', *MC_ROW['options'], THINK_MCA_POST_PROMPT])
    no_header = '\n'.join([MC_ROW['question'], *MC_ROW['options']])  # no pre-prompt, no `Options:`, no post-prompt
    custom = NUMERIC_ROW['question'] + '\nCount carefully.'  # an unknown instruction stays in the question
    windows = official_prompt(MC_ROW).replace('\n', '\r\n')  # MC_ROW's question has a line break of its own
    assert MC_ROW['question'].count('\n') == 1
    rows = [
        conversations_row(MC_ROW, think_prompt),
        conversations_row(MC_ROW, no_header),
        conversations_row(NUMERIC_ROW, '<video>' + PRE + ' ' + custom + '\n' + NUMERIC_POST.upper()),
        conversations_row(MC_ROW, windows),
    ]
    rows = [{**row, 'id': str(i)} for i, row in enumerate(rows)]  # one question thrice: ids tell them apart
    source = scene / 'conv.json'
    source.write_text(json.dumps(rows), encoding='utf-8')
    out, _ = pp.convert([str(source)], config(scene))
    expected_mc = '<image>' * 4 + official_prompt(MC_ROW)
    assert [r['messages'][0]['content'] for r in out] == [
        expected_mc,
        expected_mc,
        '<image>' * 4 + '\n'.join([PRE, custom, NUMERIC_POST]),
        expected_mc,
    ]
    # a benchmark row written on Windows: its question and options give the same prompt
    windows_row = {**MC_ROW, 'question': MC_ROW['question'].replace('\n', '\r\n')}
    windows_row['options'] = [option + '\r\n' for option in MC_ROW['options']]
    (bench_row,), _ = pp.convert([str(write_jsonl(scene / 'windows.jsonl', [windows_row]))], config(scene))
    assert bench_row['messages'][0]['content'] == expected_mc and bench_row['options'] == MC_ROW['options']


def test_think_prompt_style(scene):
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    rows, _ = pp.convert([str(source)], config(scene, prompt_style='think'))
    mc, numeric = (r['messages'][0]['content'] for r in rows)
    assert mc == '<image>' * 4 + '\n'.join([PRE, MC_ROW['question'], 'Options:', *MC_ROW['options']]) + (
        '\n' + THINK_MCA_POST_PROMPT
    )
    assert numeric == '<image>' * 4 + '\n'.join([PRE, NUMERIC_ROW['question'], THINK_NA_POST_PROMPT])
    assert '<think>' in THINK_MCA_POST_PROMPT and '<answer>' in THINK_NA_POST_PROMPT
    assert [r['solution'] for r in rows] == ['B', '4']
    # the column that tells vsi_reward_strict to score these rows on their <answer> block, as eval does
    assert [r['prompt_style'] for r in rows] == ['think', 'think']
    assert {r['prompt_style'] for r in pp.convert([str(source)], config(scene))[0]} == {'direct'}


def test_answers_are_normalised_to_the_option_letter(scene):
    variants = [
        {**MC_ROW, 'id': 1, 'ground_truth': 'c'},
        {**MC_ROW, 'id': 2, 'ground_truth': '(C).'},
        {**MC_ROW, 'id': 3, 'ground_truth': 'back'},
        {**MC_ROW, 'id': 4, 'ground_truth': 'C. back'},
        {**MC_ROW, 'id': 5, 'ground_truth': 'back', 'mc_answer': 'C'},
        {**NUMERIC_ROW, 'id': 6, 'ground_truth': 2.5},
        {**MC_ROW, 'id': 7, 'ground_truth': '[C]'},
    ]
    rows, _ = pp.convert([str(write_jsonl(scene / 'qa.jsonl', variants))], config(scene))
    assert [r['solution'] for r in rows] == ['C', 'C', 'C', 'C', 'C', '2.5', 'C']
    assert [r['messages'][1]['content'] for r in rows] == ['C', 'C', 'C', 'C', 'C', '2.5', 'C']


def test_numeric_answers_are_plain_decimals(scene):
    """Signs, a decimal point, an exponent, 0 and negatives pass (scoring handles them); spaces are stripped."""
    answers = [' 3 ', '-2', '0', '1e3', '.5', '3.', '+4.25', 7]
    rows = [{**NUMERIC_ROW, 'id': i, 'ground_truth': answer} for i, answer in enumerate(answers)]
    out, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene))
    assert [r['solution'] for r in out] == ['3', '-2', '0', '1e3', '.5', '3.', '+4.25', '7'] and not summary.skipped


def test_a_numeric_answer_written_here_is_one_the_evaluator_accepts(scene):
    """Both decide by vsi_scoring.ground_truth_number: no row passes one and fails the other."""
    import eval_vsi_bench

    answers = ['3', ' 3 ', '-2', '3.', '.5', '1e3', 7, 2.5, '1_200', 'nan', 'inf', '1e999', '1,200', '\u0663']
    rows = [{**NUMERIC_ROW, 'id': i, 'ground_truth': answer} for i, answer in enumerate(answers)]
    out, _ = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene))
    written = {int(r['id']) for r in out}
    for i, answer in enumerate(answers):
        row = {'id': i, 'question_type': 'object_counting', 'ground_truth': answer, 'prediction': '3'}
        try:
            eval_vsi_bench.check_prediction_row(row)
            accepted = True
        except ValueError:
            accepted = False
        assert accepted == (i in written), answer
    assert written == {0, 1, 2, 3, 4, 5, 6, 7}


def test_unknown_question_types_are_written_and_reported(scene):
    rows = [
        {**MC_ROW, 'id': 1, 'question_type': 'object_height_order', 'ground_truth': 'A'},
        {**NUMERIC_ROW, 'id': 2, 'question_type': 'object_height', 'ground_truth': '1.5'},
    ]
    out, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene))
    assert [r['messages'][0]['content'] for r in out] == [
        '<image>' * 4 + official_prompt(MC_ROW),
        '<image>' * 4 + official_prompt(NUMERIC_ROW),
    ]
    assert [(r['solution'], r['options']) for r in out] == [('A', MC_ROW['options']), ('1.5', None)]
    assert summary.unknown_question_types == {'object_height_order': 1, 'object_height': 1}


BAD_ROWS = [
    ('unknown_layout', {'id': 1, 'prompt': 'what?', 'answer': 'A'}),
    ('missing_field', {**NUMERIC_ROW, 'scene_name': None}),
    ('missing_field', {**NUMERIC_ROW, 'ground_truth': ''}),
    ('bad_id', {**NUMERIC_ROW, 'id': ['8']}),
    ('bad_options', {**MC_ROW, 'options': None}),
    ('bad_options', {**MC_ROW, 'options': ['left', 'right']}),
    ('bad_options', {**MC_ROW, 'options': ['A. left', 'A. right']}),  # one letter twice
    ('answer_not_in_options', {**MC_ROW, 'ground_truth': 'D'}),
    ('non_numeric_answer', {**NUMERIC_ROW, 'ground_truth': 'four'}),
    ('non_numeric_answer', {**NUMERIC_ROW, 'ground_truth': 'nan'}),
    # float() takes all of these; none is a number as a dataset writes one.
    ('non_numeric_answer', {**NUMERIC_ROW, 'ground_truth': '1_200'}),
    ('non_numeric_answer', {**NUMERIC_ROW, 'ground_truth': '-Infinity'}),
    ('non_numeric_answer', {**NUMERIC_ROW, 'ground_truth': '1e999'}),  # overflows to inf
    ('non_numeric_answer', {**NUMERIC_ROW, 'ground_truth': '\u0663'}),  # Arabic-Indic three
    ('missing_frames', {**NUMERIC_ROW, 'scene_name': 'scene0404_00'}),
    ('missing_frames', {**NUMERIC_ROW, 'scene_name': 'x' * 300}),  # longer than a file name may be
    ('ambiguous_answer', {**MC_ROW, 'options': ['A. left', 'B. left', 'C. back'], 'ground_truth': 'left'}),
    ('ambiguous_answer', {**MC_ROW, 'options': ['A. back', 'B. right', 'C. a'], 'ground_truth': 'a'}),
    ('ambiguous_answer', {**MC_ROW, 'mc_answer': 'A', 'ground_truth': 'back'}),  # back is option C
    # a question that holds its prompt, with options other than its own
    ('question_holds_prompt', {**MC_ROW, 'question': official_prompt({**MC_ROW, 'options': ['A. left', 'B. right']})}),
    ('malformed_row', None),
    ('malformed_row', {**conversations_row(NUMERIC_ROW), 'conversations': 'hello'}),
    ('non_numeric_answer', {**NUMERIC_ROW, 'ground_truth': True}),  # not a missing answer
    ('answer_not_in_options', {**MC_ROW, 'ground_truth': True}),
    ('bad_scene_name', {**NUMERIC_ROW, 'scene_name': '../scannet/scene0001_00'}),
    ('bad_scene_name', {**NUMERIC_ROW, 'dataset': None, 'scene_name': str(Path('/abs/scannet/scene0001_00'))}),
    ('bad_scene_name', {**NUMERIC_ROW, 'dataset': '/abs/scannet'}),
    ('bad_scene_name', {**NUMERIC_ROW, 'scene_name': 'scene\x00x'}),  # JSON can spell a NUL, no file name holds one
    ('duplicate_question', {**MC_ROW}),  # the first row again
]


def test_media_tags_in_a_benchmark_question_are_not_frames(scene):
    """swift's template reads every `<image>` in the prompt as a frame: one in the question would be one too many."""
    row = {**MC_ROW, 'question': 'How many <image> frames show a <video>?', 'options': ['A. chair<image>', 'B. table']}
    rows, _ = pp.convert([str(write_jsonl(scene / 'qa.jsonl', [row]))], config(scene))
    content = rows[0]['messages'][0]['content']
    assert content.count('<image>') == len(rows[0]['images']) == 4 and '<video>' not in content
    assert 'How many  frames show a ?' in content and rows[0]['options'] == ['A. chair', 'B. table']


def test_a_benchmark_question_holding_its_prompt_gets_the_prompt_once(scene):
    """Exporters that store the whole prompt as `question` must not give the model the prompt's parts twice."""
    rows = [
        {**MC_ROW, 'question': official_prompt(MC_ROW)},
        {**NUMERIC_ROW, 'question': NUMERIC_ROW['question'] + '\n' + NUMERIC_POST},
        {**NUMERIC_ROW, 'id': 9, 'question': official_prompt(NUMERIC_ROW).replace('\n', ' ', 1)},  # one-line pre-prompt
    ]
    out, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene))
    assert [r['messages'][0]['content'] for r in out] == [
        '<image>' * 4 + official_prompt(MC_ROW),
        '<image>' * 4 + official_prompt(NUMERIC_ROW),
        '<image>' * 4 + official_prompt(NUMERIC_ROW),
    ]
    assert summary.skipped == {}
    other = official_prompt({**MC_ROW, 'options': ['A. left', 'B. right']})
    bad = [{**MC_ROW, 'question': other}, {**NUMERIC_ROW, 'question': other}, {**NUMERIC_ROW, 'question': PRE}]
    out, summary = pp.convert([str(write_jsonl(scene / 'bad.jsonl', bad))], config(scene))
    assert out == [] and summary.skipped == {'question_holds_prompt': 3}
    assert summary.examples['question_holds_prompt'] == [
        "bad.jsonl:line 1: question holds the options ['A. left', 'B. right'], which are not its options "
        "['A. left', 'B. right', 'C. back']",
        "bad.jsonl:line 2: question holds the options ['A. left', 'B. right'], which are not its options None",
        f"bad.jsonl:line 3: question holds only the fixed parts of a prompt: '{PRE}'",
    ]


def test_every_skip_reason_is_counted_with_its_line(scene):
    rows = [MC_ROW] + [row for _, row in BAD_ROWS] + [NUMERIC_ROW]
    source = write_jsonl(scene / 'qa.jsonl', rows)
    out, summary = pp.convert([str(source)], config(scene))
    assert [r['id'] for r in out] == ['7', '8']
    expected = {}
    for reason, _ in BAD_ROWS:
        expected[reason] = expected.get(reason, 0) + 1
    assert summary.skipped == expected and set(expected) == set(pp.SKIP_REASONS)
    assert summary.rows_read == len(rows) == summary.written + sum(summary.skipped.values())
    # Rows are numbered from 1 in the file; the first bad row is line 2.
    assert summary.examples['unknown_layout'] == ['qa.jsonl:line 2: no `question`, `conversations` or `messages` field']
    missing_frames_line = 2 + [reason for reason, _ in BAD_ROWS].index('missing_frames')
    assert summary.examples['missing_frames'][0].startswith(f'qa.jsonl:line {missing_frames_line}: ')
    assert 'scene0404_00' in summary.examples['missing_frames'][0]


@pytest.mark.parametrize('reason,row', BAD_ROWS, ids=[f'{r}-{i}' for i, (r, _) in enumerate(BAD_ROWS)])
def test_strict_turns_each_skip_into_an_error(scene, reason, row):
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, row])
    with pytest.raises(pp.VsiDataError, match=f'qa.jsonl:line 2: {reason}'):
        pp.convert([str(source)], config(scene, strict=True))


def test_fewer_frames_is_an_error_naming_the_scene_unless_allowed(scene):
    make_frames(scene / 'frames' / 'scannet' / 'scene0002_00', 3)
    row = {**NUMERIC_ROW, 'scene_name': 'scene0002_00'}
    source = write_jsonl(scene / 'qa.jsonl', [row])
    with pytest.raises(pp.VsiDataError, match=r"scene 'scene0002_00' has only 3 frames .* --allow_fewer_frames"):
        pp.convert([str(source)], config(scene))
    rows, summary = pp.convert([str(source)], config(scene, allow_fewer_frames=True))
    assert [round(grey(scene / 'out' / p) / GREY_STEP) for p in rows[0]['images']] == [0, 1, 2]
    assert rows[0]['messages'][0]['content'].startswith('<image>' * 3 + PRE)
    assert summary.scenes_with_fewer_frames == ['scannet/scene0002_00']
    # exactly as many frames as asked are not fewer
    rows, summary = pp.convert([str(source)], config(scene, num_frames=3, allow_fewer_frames=True))
    assert len(rows[0]['images']) == 3 and summary.scenes_with_fewer_frames == []


def test_the_same_question_with_another_answer_under_one_id_is_no_duplicate(scene):
    """Only the same answer too makes a duplicate: a row that says otherwise is written (under a new id), not lost."""
    source = write_jsonl(scene / 'qa.jsonl', [NUMERIC_ROW, {**NUMERIC_ROW, 'ground_truth': '5'}])
    rows, summary = pp.convert([str(source)], config(scene))
    assert [(r['id'], r['solution']) for r in rows] == [('8', '4'), ('8#2', '5')]
    assert not summary.skipped and summary.renamed == {'duplicate_id': 1}


def test_the_same_question_read_twice_is_one_however_its_number_is_written_or_if_it_has_no_id(scene):
    """`4` and `4.0` are one answer (the JSON file and its parquet export: each question was trained on twice, as
    `8` and `8#2`); the same question in two rows without an id was written twice under made ids, counted nowhere."""
    no_id = {key: value for key, value in NUMERIC_ROW.items() if key != 'id'}
    rows = [NUMERIC_ROW, {**NUMERIC_ROW, 'ground_truth': 4.0}, {**NUMERIC_ROW, 'ground_truth': '4.00'}, no_id]
    rows += [{**no_id, 'id': None}, {**no_id, 'ground_truth': 4}, {**MC_ROW, 'id': None}, {**MC_ROW, 'id': None}]
    source = write_jsonl(scene / 'qa.jsonl', rows)
    out, summary = pp.convert([str(source), str(write_jsonl(scene / 'copy.jsonl', [no_id]))], config(scene))
    assert [(r['id'], r['solution']) for r in out] == [('8', '4'), ('qa:6', 'B')]
    assert summary.skipped == {'duplicate_question': 7} and not summary.renamed
    assert summary.examples['duplicate_question'] == [  # the first 5 of the 7; the last two: line 8, copy.jsonl
        "qa.jsonl:line 2: id '8': same question as qa.jsonl:line 1",
        "qa.jsonl:line 3: id '8': same question as qa.jsonl:line 1",
        'qa.jsonl:line 4: no id: same question as qa.jsonl:line 1',
        'qa.jsonl:line 5: no id: same question as qa.jsonl:line 1',
        'qa.jsonl:line 6: no id: same question as qa.jsonl:line 1',
    ]


def test_a_question_without_an_id_repeats_one_with_an_id_either_way_round(scene):
    """Rows without an id were compared only with each other: the benchmark row with id 8 and its copy without an id
    (a conversations export beside it) were both written, as `8` and `qa:1`. Either order is one question; a row
    with another id stays a question of its own, as before."""
    no_id = {key: value for key, value in NUMERIC_ROW.items() if key != 'id'}
    rows = [NUMERIC_ROW, no_id, {**MC_ROW, 'id': None}, {**MC_ROW, 'id': 'mc'}, {**NUMERIC_ROW, 'id': '9'}]
    out, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene))
    assert [(r['id'], r['solution']) for r in out] == [('8', '4'), ('qa:2', 'B'), ('9', '4')]
    assert summary.skipped == {'duplicate_question': 2} and not summary.renamed
    assert summary.examples['duplicate_question'] == [
        'qa.jsonl:line 2: no id: same question as qa.jsonl:line 1',
        "qa.jsonl:line 4: id 'mc': same question as qa.jsonl:line 3",
    ]


@pytest.mark.parametrize('media', ['image', 'video'])
def test_an_empty_frame_file_among_the_chosen_skips_the_rows(scene, media):
    """An empty frame file (a full disk, a copy cut short) went into image rows, which the trainer cannot open, and
    stopped a video run at the clip with `cannot identify image file`. Its rows are counted under missing_frames; an
    empty frame that is not chosen costs nothing (10 frames, 4 chosen: 0, 3, 6 and 9)."""
    frames = scene / 'frames' / 'scannet'
    for name in ('scene0002_00', 'scene0003_00', 'scene0004_00'):
        make_frames(frames / name, 10)
    (frames / 'scene0002_00' / 'frame_0003.jpg').write_bytes(b'')
    (frames / 'scene0003_00' / 'frame_0006.jpg').unlink()
    (frames / 'scene0003_00' / 'frame_0006.jpg').symlink_to(scene / 'gone.jpg')
    (frames / 'scene0004_00' / 'frame_0007.jpg').write_bytes(b'')
    rows = [
        {**NUMERIC_ROW, 'id': 2, 'scene_name': 'scene0002_00'},
        {**MC_ROW, 'id': 3, 'scene_name': 'scene0002_00'},
        {**NUMERIC_ROW, 'id': 4, 'scene_name': 'scene0003_00'},
        {**NUMERIC_ROW, 'id': 5, 'scene_name': 'scene0004_00'},
    ]
    out, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene, media=media))
    assert [r['id'] for r in out] == ['5'] and summary.skipped == {'missing_frames': 3}
    assert summary.scenes_with_more_frames == ['scannet/scene0004_00']  # the skipped scenes' frames are not used
    assert summary.rows_read == summary.written + sum(summary.skipped.values())
    if media == 'image':
        assert [Path(path).name for path in out[0]['images']] == [f'frame_{i:04d}.jpg' for i in (0, 3, 6, 9)]
    damaged = 'is empty (or a link to nothing): a damaged extraction; run extract_frames.py again, which redoes such'
    assert summary.examples['missing_frames'] == [
        f'qa.jsonl:line 1: frame {frames}/scene0002_00/frame_0003.jpg {damaged} folders',
        f'qa.jsonl:line 2: frame {frames}/scene0002_00/frame_0003.jpg {damaged} folders',
        f'qa.jsonl:line 3: frame {frames}/scene0003_00/frame_0006.jpg {damaged} folders',
    ]


def test_names_utf8_cannot_spell_are_refused_naming_them(scene):
    """Files and folders named in another encoding (Python reads the bytes as surrogate escapes) cannot be written
    into the UTF-8 output: an error naming them, before the conversion or naming the row, and nothing written."""
    source = write_jsonl(scene / os.fsdecode(b'caf\xe9.jsonl'), [MC_ROW])
    output = scene / 'out' / 'train.jsonl'
    with pytest.raises(pp.VsiDataError, match=r"'.*caf\\udce9\.jsonl': its name is not valid UTF-8"):
        pp.preprocess([str(source)], str(output), config(scene))
    # a dataset folder found on disk for a row that names no dataset
    make_frames(scene / 'frames' / os.fsdecode(b'scann\xe9t') / 'scene0005_00', 4)
    source = write_jsonl(scene / 'qa.jsonl', [{**NUMERIC_ROW, 'dataset': None, 'scene_name': 'scene0005_00'}])
    with pytest.raises(pp.VsiDataError, match=r"row 8: '.*scann\\udce9t/scene0005_00/frame_0000\.jpg': its name is"):
        pp.preprocess([str(source)], str(output), config(scene))
    assert not output.parent.exists() or not list(output.parent.iterdir())


def test_malformed_input_names_file_and_line(tmp_path, scene):
    bad_line = scene / 'bad.jsonl'
    bad_line.write_text(json.dumps(MC_ROW) + '\n\n{"id": 3,\n', encoding='utf-8')
    with pytest.raises(pp.VsiDataError, match='bad.jsonl: line 3 is not valid JSON'):
        pp.convert([str(bad_line)], config(scene))
    not_object = scene / 'bad.json'
    not_object.write_text(json.dumps([MC_ROW, ['not', 'a', 'row']]), encoding='utf-8')
    _, summary = pp.convert([str(not_object)], config(scene))
    assert summary.examples['malformed_row'] == ['bad.json[row 1]: expected a JSON object, got an array']
    broken = scene / 'broken.json'
    broken.write_text('[{"id": 1},\n{"id": }]', encoding='utf-8')
    with pytest.raises(pp.VsiDataError, match='broken.json: invalid JSON at line 2'):
        pp.convert([str(broken)], config(scene))


def test_text_inputs_with_a_byte_order_mark_read_as_plain_utf8(scene):
    reference, _ = pp.convert([str(write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW]))], config(scene))
    jsonl = scene / 'bom.jsonl'
    jsonl.write_text(''.join(json.dumps(row) + '\n' for row in (MC_ROW, NUMERIC_ROW)), encoding='utf-8-sig')
    json_list = scene / 'bom.json'
    json_list.write_text(json.dumps([MC_ROW, NUMERIC_ROW], indent=1), encoding='utf-8-sig')
    assert jsonl.read_bytes().startswith(codecs.BOM_UTF8) and json_list.read_bytes().startswith(codecs.BOM_UTF8)
    assert pp.convert([str(jsonl)], config(scene))[0] == reference
    assert pp.convert([str(json_list)], config(scene))[0] == reference


def test_text_that_is_not_utf8_is_an_error_naming_file_and_line(scene, capsys):
    latin1 = scene / 'latin1.jsonl'
    latin1.write_bytes(
        json.dumps(MC_ROW).encode()
        + b'\n'
        + json.dumps({**NUMERIC_ROW, 'question': 'caf\xe9?'}, ensure_ascii=False).encode('latin-1')
    )
    latin1_list = scene / 'latin1.json'
    latin1_list.write_bytes(b'[\n' + json.dumps(MC_ROW).encode() + b',\n{"question": "caf\xe9"}]')
    latin1_scenes = scene / 'scenes.txt'
    latin1_scenes.write_bytes(b'scene0001_00\nsc\xe8ne\n')
    with pytest.raises(pp.VsiDataError, match=r'latin1.jsonl: line 2 is not valid UTF-8'):
        pp.convert([str(latin1)], config(scene))
    with pytest.raises(pp.VsiDataError, match=r'latin1.json: line 3 is not valid UTF-8'):
        pp.convert([str(latin1_list)], config(scene))
    with pytest.raises(pp.VsiDataError, match=r'scenes.txt: line 2 is not valid UTF-8'):
        pp.load_scene_names(str(latin1_scenes))
    output = scene / 'out' / 'train.jsonl'  # the CLI prints one line, no traceback, and writes nothing
    args = ['--input_path', str(latin1), '--frames_dir', str(scene / 'frames'), '--output_path', str(output)]
    assert pp.main([*args, '--num_frames', '4', '--no_progress']) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith('error: ') and latin1.name in error and not output.exists()
    # JSON can spell half of a surrogate pair, which no UTF-8 output can hold: the row is skipped naming its line, not a
    # UnicodeEncodeError when the output is written.
    surrogate = scene / 'surrogate.jsonl'
    surrogate.write_text(json.dumps(MC_ROW) + '\n' + json.dumps(NUMERIC_ROW).replace('room?', 'room\\ud83d?') + '\n')
    rows, summary = pp.convert([str(surrogate)], config(scene))
    assert [row['id'] for row in rows] == ['7'] and summary.skipped == {'malformed_row': 1}
    assert summary.examples['malformed_row'] == [
        "surrogate.jsonl:line 2: 'How many chair(s) are in this room\\ud83d?' holds '\\ud83d', half of a UTF-16 "
        'surrogate pair, which UTF-8 cannot store; fix the text in the input'
    ]


def test_layout_is_detected_from_values_not_from_null_columns(scene):
    """Parquet, pandas and Hugging Face exports of mixed files give every row every column, null where unused."""
    mc_conversation = {**conversations_row(MC_ROW), 'id': MC_ROW['id']}  # one type per parquet column
    mixed = [MC_ROW, mc_conversation, NUMERIC_ROW]
    columns = sorted({key for row in mixed for key in row})
    with_nulls = [{key: row.get(key) for key in columns} for row in mixed]
    pq.write_table(pa.Table.from_pylist(with_nulls), scene / 'mixed.parquet')
    assert pq.read_table(scene / 'mixed.parquet').to_pylist()[0]['conversations'] is None
    # A message struct column merges both role namings; the unused one is null.
    with_nulls[1]['conversations'] = [
        {'from': turn['from'], 'value': turn['value'], 'role': None, 'content': None}
        for turn in mc_conversation['conversations']
    ]
    write_jsonl(scene / 'nulls.jsonl', with_nulls)
    reference, _ = pp.convert([str(write_jsonl(scene / 'qa.jsonl', [MC_ROW, MC_ROW, NUMERIC_ROW]))], config(scene))
    for name in ('mixed.parquet', 'nulls.jsonl'):
        rows, summary = pp.convert([str(scene / name)], config(scene))
        assert rows == reference and summary.layouts == {'benchmark': 2, 'conversations': 1}, name


def test_a_null_question_is_a_missing_field_not_an_unknown_layout(scene):
    """A parquet row whose question is null has the benchmark's columns: `unknown_layout` sent users looking for a
    field that is there."""
    table = pa.Table.from_pylist([MC_ROW, {**NUMERIC_ROW, 'question': None}])
    pq.write_table(table, scene / 'qa.parquet')
    write_jsonl(scene / 'qa.jsonl', [{**NUMERIC_ROW, 'question': None, 'messages': None}, {'id': 3}])
    rows, summary = pp.convert([str(scene / 'qa.parquet'), str(scene / 'qa.jsonl')], config(scene))
    assert [row['id'] for row in rows] == ['7']
    assert summary.skipped == {'missing_field': 2, 'unknown_layout': 1}
    assert summary.examples['missing_field'] == [
        'qa.parquet[row 1]: no question: `question` null',
        'qa.jsonl:line 1: no question: `question`, `messages` null',
    ]


def test_nan_cells_of_a_pandas_export_are_nulls(scene):
    """`json.dump(df.to_dict('records'))` writes NaN (not JSON) for a frame's empty cells: nulls, not values."""
    mc_conversation = {**conversations_row(MC_ROW), 'id': MC_ROW['id']}
    mc_answer_row = {**MC_ROW, 'id': 9, 'mc_answer': 'B'}  # gives the numeric row an mc_answer cell: NaN
    frame = pd.DataFrame([MC_ROW, mc_conversation, NUMERIC_ROW, mc_answer_row])
    records = frame.to_dict('records')
    assert isinstance(records[0]['conversations'], float) and math.isnan(records[2]['mc_answer'])
    (scene / 'nan.json').write_text(json.dumps(records), encoding='utf-8')
    write_jsonl(scene / 'nan.jsonl', records)
    assert 'NaN' in (scene / 'nan.jsonl').read_text(encoding='utf-8')
    qa = write_jsonl(scene / 'qa.jsonl', [MC_ROW, MC_ROW, NUMERIC_ROW, mc_answer_row])
    reference, _ = pp.convert([str(qa)], config(scene))
    assert [r['solution'] for r in reference] == ['B', '4', 'B']
    for name in ('nan.json', 'nan.jsonl'):
        rows, summary = pp.convert([str(scene / name)], config(scene))
        assert rows == reference and summary.layouts == {'benchmark': 3, 'conversations': 1}, name


def test_every_turn_of_a_conversation_is_a_question(scene):
    """Each further user/assistant pair becomes a row of its own, id `<id>_<turn>`, counted in extra_turns."""
    make_frames(scene / 'frames' / 'scannet' / 'scene0002_00', 4)
    turns = [
        {'from': 'human', 'value': '<image>\n' + official_prompt(NUMERIC_ROW)},
        {'from': 'gpt', 'value': '4'},
        {'from': 'human', 'value': 'How many table(s) are in this room?'},
        {'from': 'gpt', 'value': '2'},
        {'from': 'human', 'value': 'How many lamp(s) are in this room?'},
        {'from': 'gpt', 'value': 'a few'},  # a problem in one turn costs that question only
    ]
    conversation = {**conversations_row(NUMERIC_ROW), 'id': 'c', 'conversations': turns}
    excluded = {
        'id': 'x',
        'scene_name': 'scene0002_00',
        'video': 'scannet/scene0002_00.mp4',
        'conversations': turns[:4],
    }
    excluded = {**conversation, **excluded}
    think_prompt = '\n'.join([PRE, MC_ROW['question'], 'Options:', *MC_ROW['options'], THINK_MCA_POST_PROMPT])
    first = {**MC_ROW, 'question': 'Which is closer to the bed?', 'options': ['A. chair', 'B. lamp']}
    swift = {  # a row-level solution and options belong to the last turn, the one the model answers
        'messages': [
            {'role': 'system', 'content': 'You are a helpful assistant.'},
            {'role': 'user', 'content': '<image>' + official_prompt(first)},
            {'role': 'assistant', 'content': 'A'},
            {'role': 'user', 'content': think_prompt},
        ],
        'solution': 'B',
        'options': MC_ROW['options'],
        'question_type': MC_ROW['question_type'],
        'scene_name': 'scene0001_00',
    }
    source = write_jsonl(scene / 'qa.jsonl', [conversation, excluded, swift])
    cfg = config(scene, exclude_scenes=frozenset({'scene0002_00'}))
    rows, summary = pp.convert([str(source)], cfg)
    assert [(r['id'], r['solution']) for r in rows] == [('c', '4'), ('c_2', '2'), ('qa:2', 'A'), ('qa:2_2', 'B')]
    tables = '\n'.join([PRE, 'How many table(s) are in this room?', NUMERIC_POST])
    assert rows[1]['messages'][0]['content'] == '<image>' * 4 + tables
    assert rows[1]['images'] == rows[0]['images'] and rows[1]['scene_name'] == 'scene0001_00'
    assert rows[2]['messages'][0]['content'] == '<image>' * 4 + official_prompt(first)
    assert rows[2]['options'] == first['options'] and rows[3]['options'] == MC_ROW['options']
    assert rows[3]['messages'][0]['content'] == '<image>' * 4 + official_prompt(MC_ROW)
    assert (summary.rows_read, summary.extra_turns, summary.written) == (3, 4, 4)
    assert summary.skipped == {'non_numeric_answer': 1} and summary.dropped == {'excluded_scene': 2}
    assert summary.rows_read + summary.extra_turns == (
        summary.written + sum(summary.skipped.values()) + sum(summary.dropped.values())
    )
    example = "qa.jsonl:line 1 turn 3: object_counting answer 'a few' is not a number"
    assert summary.examples['non_numeric_answer'] == [example]
    assert '(+4 questions from later conversation turns)' in summary.lines()[0]
    # Callers that want one question per row (the evaluation) get an error, not the first turn only.
    with pytest.raises(pp.VsiDataError, match='qa.jsonl:line 1: a conversation with 3 questions'):
        pp.row_to_question(conversation, 'qa.jsonl:line 1', 0, 'qa')


def test_an_id_that_is_no_string_or_number_is_skipped_not_replaced(scene):
    """A list, an object or "" as id was replaced by `<file>:<index>` without a word; null and absent ids still are."""
    turns = [
        {'from': 'human', 'value': '<image>\n' + official_prompt(NUMERIC_ROW)},
        {'from': 'gpt', 'value': '4'},
        {'from': 'human', 'value': 'How many table(s) are in this room?'},
        {'from': 'gpt', 'value': '2'},
    ]
    # another answer: the same question twice without an id is one question read twice (a duplicate)
    no_id = {key: value for key, value in NUMERIC_ROW.items() if key != 'id'} | {'ground_truth': '5'}
    rows = [
        {**NUMERIC_ROW, 'id': [8]},
        {**NUMERIC_ROW, 'id': {'n': 8}},
        {**NUMERIC_ROW, 'id': ''},
        {**NUMERIC_ROW, 'id': None},
        no_id,
        {**conversations_row(NUMERIC_ROW), 'id': [3], 'conversations': turns},  # no turn gets a made id either
    ]
    out, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene))
    assert [r['id'] for r in out] == ['qa:3', 'qa:4']
    assert summary.skipped == {'bad_id': 5} and summary.extra_turns == 1
    assert summary.rows_read + summary.extra_turns == summary.written + sum(summary.skipped.values())
    assert summary.examples['bad_id'] == [
        'qa.jsonl:line 1: id is a list, not text or a number: [8]',
        "qa.jsonl:line 2: id is an object, not text or a number: {'n': 8}",
        'qa.jsonl:line 3: id is empty',
        'qa.jsonl:line 6 turn 1: id is a list, not text or a number: [3]',
        'qa.jsonl:line 6 turn 2: id is a list, not text or a number: [3]',
    ]
    with pytest.raises(pp.VsiDataError, match=r'qa.jsonl:line 1: bad_id: id is a list, not text or a number: \[8\]'):
        pp.convert([str(scene / 'qa.jsonl')], config(scene, strict=True))


def test_a_field_that_is_not_text_is_reported_as_such_not_as_missing(scene):
    """`question: ["q"]` was counted as `no question` and a list scene_name as `no scene_name`: users looked for a
    field that was there. The reason stays missing_field (the summary's key); its message says what is wrong."""
    parts = [{'type': 'text', 'text': 'How many chair(s) are in this room?'}]  # OpenAI's content parts
    conversation = conversations_row(NUMERIC_ROW)
    conversation['conversations'][0]['value'] = parts
    cases = [
        ({**NUMERIC_ROW, 'question': ['q']}, "question is a list, not text or a number: ['q']"),
        (
            {**NUMERIC_ROW, 'scene_name': ['scene0001_00']},
            "scene_name is a list, not text or a number: ['scene0001_00']",
        ),
        ({**NUMERIC_ROW, 'scene_name': True}, 'scene_name is a boolean, not text or a number: True'),
        (
            {**NUMERIC_ROW, 'question_type': {'name': 'x'}},
            "question_type is an object, not text or a number: {'name': 'x'}",
        ),
        (conversation, "user turn is a list, not text: [{'type': 'text', 'text': 'How many chair(s) are in this ..."),
        ({**NUMERIC_ROW, 'scene_name': None}, 'no scene_name'),  # missing ones still say so
        ({**NUMERIC_ROW, 'question': ' '}, 'no question'),
    ]
    for row, detail in cases:
        with pytest.raises(pp.RowSkipped) as skipped:
            pp.row_to_question(row, 'qa.jsonl:line 1', 0, 'qa')
        assert (skipped.value.reason, skipped.value.detail) == ('missing_field', detail)
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, cases[0][0]])
    _, summary = pp.convert([str(source)], config(scene))
    assert summary.examples['missing_field'] == ["qa.jsonl:line 2: question is a list, not text or a number: ['q']"]


def test_whole_float_ids_and_scene_names_read_as_integers(scene):
    """pandas stores an integer column with a gap as floats: its parquet holds id 8.0 and ARKitScenes scene
    41069025.0, which must still name question 8 and the frame folder 41069025."""
    make_frames(scene / 'frames' / 'arkitscenes' / '41069025', 4)
    questions = [f'How many chair(s) are in room {i}?' for i in range(3)]
    table = pa.Table.from_pylist([{**NUMERIC_ROW, 'dataset': 'arkitscenes', 'question': q} for q in questions])
    for name, values in (('id', [8.0, None, 2.5]), ('scene_name', [41069025.0] * 3)):
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values))
    pq.write_table(table, scene / 'pandas.parquet')
    assert pq.read_table(scene / 'pandas.parquet').to_pylist()[0]['id'] == 8.0

    written, summary = pp.convert([str(scene / 'pandas.parquet')], config(scene))
    assert [r['id'] for r in written] == ['8', 'pandas:1', '2.5']
    assert [r['scene_name'] for r in written] == ['41069025'] * 3
    assert summary.written == 3 and not summary.skipped
    assert pp.load_scene_names(str(scene / 'pandas.parquet')) == {'41069025'}


@pytest.mark.parametrize(
    'kind', ['jsonl', 'parquet', 'PARQUET', 'txt', 'txt_bom', 'txt_videos', 'txt_windows', 'conversations', 'json_bom']
)
def test_exclude_scenes_in_any_layout(scene, kind):
    make_frames(scene / 'frames' / 'scannet' / 'scene0002_00', 4)
    other = {**NUMERIC_ROW, 'id': 9, 'scene_name': 'scene0002_00'}
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW, other])
    test_rows = [{**NUMERIC_ROW, 'id': 100}]  # a benchmark question on scene0001_00
    if kind == 'jsonl':
        exclude = write_jsonl(scene / 'test.jsonl', test_rows)
    elif kind in ('parquet', 'PARQUET'):  # the extension in any case
        exclude = scene / f'test.{kind}'
        pq.write_table(pa.Table.from_pylist(test_rows), exclude)
    elif kind == 'txt':
        exclude = scene / 'test_scenes.txt'
        exclude.write_text('# held-out scenes\nscene0001_00\n\n', encoding='utf-8')
    elif kind == 'txt_bom':  # as Windows Notepad saves it: a byte order mark just before the scene, CRLF
        exclude = scene / 'test_scenes.txt'
        exclude.write_bytes(codecs.BOM_UTF8 + b'scene0001_00\r\n')
    elif kind == 'txt_videos':  # the benchmark's videos, as `<dataset>/<scene>.mp4`
        exclude = scene / 'test_videos.txt'
        exclude.write_text('scannet/scene0001_00.mp4\narkitscenes/41069025.MP4\n', encoding='utf-8')
    elif kind == 'txt_windows':
        exclude = scene / 'test_scenes.txt'
        exclude.write_text('data\\scannet\\scene0001_00\\\n', encoding='utf-8')
    elif kind == 'json_bom':
        exclude = scene / 'test.json'
        exclude.write_text(json.dumps(test_rows, indent=1), encoding='utf-8-sig')
    else:
        exclude = scene / 'test.json'
        exclude.write_text(json.dumps([conversations_row(NUMERIC_ROW)]), encoding='utf-8')
    excluded = pp.load_scene_names(str(exclude))
    assert {pp.scene_key(name) for name in excluded} - {'41069025'} == {'scene0001_00'}
    rows, summary = pp.convert([str(source)], config(scene, exclude_scenes=frozenset(excluded)))
    assert [r['scene_name'] for r in rows] == ['scene0002_00']
    assert summary.dropped == {'excluded_scene': 2} and summary.rows_read == 3


def test_an_exclusion_list_that_excludes_nothing_says_so(scene):
    """Scenes on one line, comma-separated, used to become one name that matched nothing, and the summary was silent:
    benchmark scenes leaked into training."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    listing = scene / 'test_scenes.txt'
    listing.write_text('# held out\nscene0002_00\nscene0001_00, scene0003_00\n', encoding='utf-8')
    with pytest.raises(pp.VsiDataError, match=f"^{listing}: line 3: 'scene0001_00, scene0003_00' is not one scene: "):
        pp.load_scene_names(str(listing))
    listing.write_text('scene0002_00\n/data/VSI Bench/scannet/scene0003_00.mp4\n', encoding='utf-8')  # a space
    names = pp.load_scene_names(str(listing))
    rows, summary = pp.convert([str(source)], config(scene, exclude_scenes=names))
    assert len(rows) == 2 and summary.settings['exclude_scenes'] == 2
    assert '  --exclude_scenes: none of the 2 listed scenes is in the input, so no row is excluded' in summary.lines()
    _, summary = pp.convert([str(source)], config(scene, exclude_scenes=names | {'scene0001_00'}))
    assert summary.dropped == {'excluded_scene': 2} and not any('none of the' in line for line in summary.lines())
    # some matched: the others are still counted, as the list may spell them differently from the input
    assert summary.excluded_scenes_not_found == ['scene0002_00', 'scene0003_00']
    assert '  --exclude_scenes: 2 of the 3 listed scenes matched no row, e.g. scene0002_00, scene0003_00' in (
        summary.lines()
    )


def test_exclusion_ignores_the_case_of_scene_names(scene):
    """A list typed in capitals (or rows that spell their scene so) must still keep the benchmark scene out."""
    rows = [MC_ROW, {**NUMERIC_ROW, 'scene_name': 'Scene0001_00', 'dataset': None}]
    source = write_jsonl(scene / 'qa.jsonl', rows)
    (scene / 'ex.txt').write_text('SCANNET/SCENE0001_00.MP4\n', encoding='utf-8')
    cfg = config(scene, exclude_scenes=pp.load_scene_names(str(scene / 'ex.txt')))
    out, summary = pp.convert([str(source)], cfg)
    assert out == [] and summary.dropped == {'excluded_scene': 2} and summary.excluded_scenes_not_found == []
    assert summary.examples['excluded_scene'][1] == "qa.jsonl:line 2: scene 'scene0001_00' (from 'Scene0001_00')"


def test_a_folder_given_as_an_input_file_is_named_as_a_folder(scene, capsys):
    """A folder as --input_path or --exclude_scenes was said not to exist."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    base = ['--frames_dir', str(scene / 'frames'), '--output_path', str(output), '--num_frames', '4', '--no_progress']
    folder = scene / 'frames' / 'scannet'
    for flag, args in (
        ('--input_path', ['--input_path', str(folder)]),
        ('--exclude_scenes', ['--input_path', str(source), '--exclude_scenes', str(folder)]),
    ):
        assert pp.main([*args, *base]) == 1
        assert capsys.readouterr().err == f'error: {flag} {folder} is a folder, not a file; name the file itself\n'
    assert not output.parent.exists()


def test_a_missing_input_file_is_named_by_its_flag_and_where_relative_paths_start(scene, capsys, monkeypatch):
    """`--exclude_scenes data/tst.jsonl` was reported as `input file data/tst.jsonl does not exist`, which sent the
    user to --input_path, and a relative path did not say which folder it was read from (a .txt list of scenes gave
    only Python's `No such file or directory`)."""
    monkeypatch.chdir(scene)
    write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    base = ['--frames_dir', 'frames', '--output_path', 'out/train.jsonl', '--num_frames', '4', '--no_progress']
    cases = [
        (['--input_path', 'data/QA.json'], '--input_path data/QA.json'),
        (['--input_path', 'qa.jsonl', 'more.jsonl'], '--input_path more.jsonl'),
        (['--input_path', 'qa.jsonl', '--exclude_scenes', 'data/tst.jsonl'], '--exclude_scenes data/tst.jsonl'),
        (['--input_path', 'qa.jsonl', '--exclude_scenes', 'tst.txt'], '--exclude_scenes tst.txt'),
    ]
    for args, named in cases:
        assert pp.main([*args, *base]) == 1
        assert capsys.readouterr().err == f'error: {named} does not exist (relative paths start at {scene})\n'
    missing = scene / 'tst.jsonl'  # an absolute path says all there is to say
    assert pp.main(['--input_path', 'qa.jsonl', '--exclude_scenes', str(missing), *base]) == 1
    assert capsys.readouterr().err == f'error: --exclude_scenes {missing} does not exist\n'
    assert not (scene / 'out').exists()


def test_an_input_that_is_there_but_no_file_says_what_it_is(scene, capsys):
    """A pipe (bash's `<(zcat qa.jsonl.gz)`), a link to a disk not mounted and a loop of links were each reported as
    `does not exist`, though `ls` shows the name."""
    write_jsonl(scene / 'qa.jsonl', [MC_ROW])
    os.mkfifo(scene / 'pipe.jsonl')
    (scene / 'gone.jsonl').symlink_to(scene / 'unmounted' / 'qa.jsonl')
    (scene / 'loop.jsonl').symlink_to(scene / 'loop.jsonl')
    base = ['--frames_dir', str(scene / 'frames'), '--output_path', str(scene / 'out.jsonl'), '--no_progress']
    cases = [
        ('pipe.jsonl', 'is a pipe or a device, not a regular file: write it to a file first'),
        ('gone.jsonl', f'is a link to {scene / "unmounted" / "qa.jsonl"}, which does not exist (a disk not mounted?)'),
        ('loop.jsonl', 'is a loop of symbolic links'),
    ]
    for name, why in cases:
        for flag, args in (
            ('--input_path', ['--input_path', str(scene / name)]),
            ('--exclude_scenes', ['--input_path', str(scene / 'qa.jsonl'), '--exclude_scenes', str(scene / name)]),
        ):
            assert pp.main([*args, *base]) == 1
            assert capsys.readouterr().err == f'error: {flag} {scene / name} {why}\n'
    too_long = scene / ('x' * 300 + '.jsonl')  # was `does not exist` too
    assert pp.main(['--input_path', str(too_long), *base]) == 1
    assert capsys.readouterr().err == f'error: --input_path {too_long} cannot be read (File name too long)\n'
    assert not (scene / 'out.jsonl').exists()


@pytest.mark.parametrize('flag', ['--input_path', '--exclude_scenes'])
def test_an_unreadable_file_is_named_by_its_flag_before_any_input_is_read(scene, capsys, monkeypatch, flag):
    """Found when its turn came, it stopped the run after the inputs before it converted, naming no flag."""
    readable, locked = write_jsonl(scene / 'a.jsonl', [MC_ROW]), write_jsonl(scene / 'b.jsonl', [NUMERIC_ROW])
    access = os.access
    monkeypatch.setattr(os, 'access', lambda path, mode: path != str(locked) and access(path, mode))  # root reads all
    monkeypatch.setattr(pp, 'read_rows', lambda *args: pytest.fail('an input was read before all were checked'))
    inputs = [str(readable), str(locked)] if flag == '--input_path' else [str(readable)]
    args = ['--input_path', *inputs, '--frames_dir', str(scene / 'frames'), '--output_path', str(scene / 'o.jsonl')]
    if flag == '--exclude_scenes':
        args += ['--exclude_scenes', str(locked)]
    assert pp.main([*args, '--num_frames', '4', '--no_progress']) == 1
    assert capsys.readouterr().err == f'error: {flag} {locked} cannot be read (no read permission)\n'


def test_the_reader_names_a_missing_file_as_an_input_file_for_callers_without_flags(scene, monkeypatch):
    """read_rows also reads the evaluator's --dataset and vsi_dataset's files: it cannot name a flag."""
    monkeypatch.chdir(scene)
    with pytest.raises(pp.VsiDataError, match=f'^input file {re.escape(str(scene / "no.jsonl"))} does not exist$'):
        list(pp.read_rows(str(scene / 'no.jsonl')))
    with pytest.raises(pp.VsiDataError) as error:
        list(pp.read_rows('no.jsonl'))
    assert str(error.value) == f'input file no.jsonl does not exist (relative paths start at {scene})'


def test_a_missing_frames_folder_says_where_relative_paths_start(scene, monkeypatch):
    monkeypatch.chdir(scene)
    with pytest.raises(pp.VsiDataError) as error:
        pp.PreprocessConfig(frames_dir='data/frame')
    assert str(error.value) == (
        f'--frames_dir data/frame is not a folder (relative paths start at {scene}); run extract_frames.py first'
    )
    (scene / 'afile').write_text('x', encoding='utf-8')
    for frames_dir in ('afile', str(scene / 'missing')):  # it exists, or is absolute: no clause
        with pytest.raises(pp.VsiDataError) as error:
            pp.PreprocessConfig(frames_dir=frames_dir)
        assert str(error.value) == f'--frames_dir {frames_dir} is not a folder; run extract_frames.py first'


def test_an_input_that_is_not_json_by_its_suffix_says_which_formats_are_read(scene, capsys):
    """A CSV file was only `line 1 is not valid JSON`: any name but .parquet is read as JSON, so the message says
    which formats are read, unless the name already says JSON; a JSONL file named .txt or without a suffix is read."""
    output = scene / 'out' / 'train.jsonl'
    base = ['--frames_dir', str(scene / 'frames'), '--output_path', str(output), '--num_frames', '4', '--no_progress']
    csv = scene / 'q.csv'
    csv.write_text('id,question\n7,How many chairs?\n', encoding='utf-8')
    assert pp.main(['--input_path', str(csv), *base]) == 1
    assert capsys.readouterr().err.endswith(
        f'error: {csv}: line 1 is not valid JSON (Expecting value at column 1); rows are read from JSON, JSONL or '
        'parquet files only\n'
    )
    assert not output.parent.exists()
    listed = scene / 'q.txt'
    listed.write_text('[{"id": }]', encoding='utf-8')
    with pytest.raises(pp.VsiDataError) as error:
        list(pp.read_rows(str(listed)))
    assert str(error.value) == (
        f'{listed}: invalid JSON at line 1 column 9: Expecting value; rows are read from JSON, JSONL or parquet '
        'files only'
    )
    bad = write_jsonl(scene / 'bad.jsonl', [MC_ROW])
    bad.write_text(bad.read_text(encoding='utf-8') + 'id,question\n', encoding='utf-8')
    with pytest.raises(pp.VsiDataError) as error:
        list(pp.read_rows(str(bad)))
    assert str(error.value) == f'{bad}: line 2 is not valid JSON (Expecting value at column 1)'
    reference, _ = pp.convert([str(write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW]))], config(scene))
    for name in ('qa.txt', 'qa'):
        rows, _ = pp.convert([str(write_jsonl(scene / name, [MC_ROW, NUMERIC_ROW]))], config(scene))
        assert [row['messages'] for row in rows] == [row['messages'] for row in reference]


def test_an_exclusion_file_that_lists_no_scene_is_an_error(scene, capsys):
    """It only brought the warning for runs given no list, which names no file, and training went on with every
    benchmark scene: an empty file, `[]` or comments only is the wrong file or a cut-off copy."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    base = ['--frames_dir', str(scene / 'frames'), '--output_path', str(output), '--num_frames', '4', '--no_progress']
    (scene / 'empty.txt').write_text('# held-out scenes\n\n', encoding='utf-8')
    (scene / 'empty.json').write_text('[]', encoding='utf-8')
    (scene / 'empty.jsonl').write_text('', encoding='utf-8')
    listing = write_jsonl(scene / 'test.jsonl', [{**NUMERIC_ROW, 'scene_name': 'scene0002_00'}])  # a good one beside
    for empty in ('empty.txt', 'empty.json', 'empty.jsonl'):
        exclude = ['--exclude_scenes', str(listing), str(scene / empty)]
        assert pp.main(['--input_path', str(source), *exclude, *base]) == 1
        assert capsys.readouterr().err == (
            f'error: --exclude_scenes: {scene / empty} lists no scenes to exclude; pass the benchmark question file '
            'or a list of its scenes\n'
        )
    assert not output.parent.exists()


def test_exclusion_matches_names_in_either_unicode_form(scene):
    """A list typed on macOS may hold a decomposed (NFD) accent where the rows have the composed one (NFC)."""
    make_frames(scene / 'frames' / 'sc\u00e8ne_1', 4)
    source = write_jsonl(scene / 'qa.jsonl', [{**NUMERIC_ROW, 'scene_name': 'sc\u00e8ne_1'}])
    listing = scene / 'test_scenes.txt'
    listing.write_text('sce\u0300ne_1\n', encoding='utf-8')
    rows, summary = pp.convert([str(source)], config(scene, exclude_scenes=pp.load_scene_names(str(listing))))
    assert rows == [] and summary.dropped == {'excluded_scene': 1}


def test_question_type_filter_cap_and_seeded_shuffle(scene):
    rows = [{**MC_ROW, 'id': i, 'question_type': 'object_rel_direction_v2'} for i in range(6)]
    rows += [{**NUMERIC_ROW, 'id': 10 + i} for i in range(6)]
    rows += [{**NUMERIC_ROW, 'id': 20, 'question_type': 'object_abs_distance'}]
    source = str(write_jsonl(scene / 'qa.jsonl', rows))

    # A benchmark type selects its training variants too (object_rel_direction_medium <- _v2).
    selection = ('object_rel_direction_medium', 'route_planning')
    kept, summary = pp.convert([source], config(scene, question_types=selection))
    assert [r['id'] for r in kept] == [str(i) for i in range(6)]
    assert summary.dropped == {'question_type_not_selected': 7}
    assert summary.question_types_not_found == ['route_planning']

    capped, summary = pp.convert([source], config(scene, max_per_type=2))
    assert [r['id'] for r in capped] == ['0', '1', '10', '11', '20']
    assert summary.dropped == {'over_max_per_type': 8}

    first, _ = pp.convert([source], config(scene, shuffle=True, seed=1))
    again, _ = pp.convert([source], config(scene, shuffle=True, seed=1))
    other, _ = pp.convert([source], config(scene, shuffle=True, seed=2))
    ids = [r['id'] for r in first]
    assert ids == [r['id'] for r in again] != [r['id'] for r in other]
    assert sorted(ids) == sorted(str(r['id']) for r in rows) and ids != [str(r['id']) for r in rows]
    shuffled_cap, _ = pp.convert([source], config(scene, shuffle=True, seed=1, max_per_type=2))
    assert [r['id'] for r in shuffled_cap] == [i for i in ids if i in {r['id'] for r in shuffled_cap}]
    assert len(shuffled_cap) == 5


def test_question_types_follow_the_evaluators_rule_and_a_typo_is_an_error(scene, capsys):
    """One rule (vsi_scoring.check_type_selection / type_selected) for the script, vsi_raw and the evaluator: the
    category object_rel_direction keeps its levels' training variants, and an unknown name stops the run."""
    rows = [{**MC_ROW, 'id': i, 'question_type': f'object_rel_direction_v{i}'} for i in (1, 2, 3)]
    rows += [{**MC_ROW, 'id': 4, 'question_type': 'route_planning'}, {**NUMERIC_ROW, 'id': 5}]
    source = str(write_jsonl(scene / 'qa.jsonl', rows))
    output = scene / 'out' / 'train.jsonl'
    args = ['--input_path', source, '--frames_dir', str(scene / 'frames'), '--output_path', str(output)]
    args += ['--num_frames', '4', '--no_progress', '--question_types']
    assert pp.main([*args, 'object_rel_direction', 'route_planning']) == 0
    assert [r['id'] for r in read_jsonl(output)] == ['1', '2', '3', '4']
    assert 'not found in the input' not in capsys.readouterr().out

    assert pp.main([*args, 'object_countng']) == 1
    error = capsys.readouterr().err
    assert "'object_countng' (did you mean 'object_counting'?)" in error and 'valid: object_abs_distance' in error
    # One typo among valid names fails too (vsi_raw builds the same config from VSI_QUESTION_TYPES).
    with pytest.raises(pp.VsiDataError, match=r"VSI_QUESTION_TYPES: unknown question type 'route_plannin' \(did"):
        pp.convert([source], config(scene, question_types=('object_counting', 'route_plannin')))
    # and before any clip is encoded (it used to come after them all: minutes with thousands of scenes)
    with pytest.raises(pp.VsiDataError, match='route_plannin'):
        pp.convert([source], config(scene, media='video', question_types=('object_counting', 'route_plannin')))
    assert not list((scene / 'out').rglob('*.mp4'))
    # A type of another generator is not a typo when the input holds it: it can be selected.
    custom = write_jsonl(scene / 'custom.jsonl', [*rows, {**NUMERIC_ROW, 'id': 6, 'question_type': 'object_height'}])
    out, _ = pp.convert([str(custom)], config(scene, question_types=('object_height', 'route_planning')))
    assert [r['id'] for r in out] == ['4', '6']


def test_a_selected_type_whose_rows_are_all_skipped_is_in_the_input(scene):
    """A selected type is judged by the rows read, not by those that passed their checks: a type of another generator
    whose rows were all skipped was refused as `nor is it a type of the input`, and a benchmark type whose rows all
    lacked frames was reported `not found in the input` beside the skip that explains it."""
    rows = [
        {**NUMERIC_ROW, 'id': 1, 'question_type': 'object_height', 'ground_truth': 'tall'},
        {**MC_ROW, 'id': 2, 'scene_name': 'scene0009_00'},
        {**NUMERIC_ROW, 'id': 3},
    ]
    source = str(write_jsonl(scene / 'qa.jsonl', rows))
    selection = ('object_height', 'object_rel_direction_medium', 'object_counting', 'route_planning')
    out, summary = pp.convert([source], config(scene, question_types=selection))
    assert [r['id'] for r in out] == ['3']
    assert summary.skipped == {'non_numeric_answer': 1, 'missing_frames': 1}
    assert summary.question_types_not_found == ['route_planning']


def test_frame_count_notes_name_only_the_scenes_written(scene):
    """Frames are chosen as rows are read, before --max_per_type and the duplicate check: a scene none of whose rows
    is written was listed as one whose frames the output uses (2 scenes with more frames, 1 scene written)."""
    make_frames(scene / 'frames' / 'scannet' / 'scene0002_00', 10)
    make_frames(scene / 'frames' / 'scannet' / 'scene0003_00', 3)
    rows = [
        {**NUMERIC_ROW, 'id': 1},
        {**NUMERIC_ROW, 'id': 2, 'scene_name': 'scene0002_00'},
        {**NUMERIC_ROW, 'id': 3, 'scene_name': 'scene0003_00'},
    ]
    source = str(write_jsonl(scene / 'qa.jsonl', rows))
    out, summary = pp.convert([source], config(scene, max_per_type=1, allow_fewer_frames=True))
    assert [r['id'] for r in out] == ['1'] and summary.scenes == 1
    assert summary.scenes_with_more_frames == ['scannet/scene0001_00'] and summary.scenes_with_fewer_frames == []
    assert '1 scene(s) have more frames than --num_frames' in '\n'.join(summary.lines())


def test_frames_dir_holding_videos_says_to_extract_frames_first(tmp_path):
    videos = tmp_path / 'videos' / 'synthscan'
    videos.mkdir(parents=True)
    (videos / 'synth_0000.mp4').write_bytes(b'not decoded')
    row = conversations_row({**NUMERIC_ROW, 'dataset': 'synthscan', 'scene_name': 'synth_0000'})
    cfg = pp.PreprocessConfig(frames_dir=str(tmp_path / 'videos'), num_frames=4, progress=False)
    _, summary = pp.convert([str(write_jsonl(tmp_path / 'qa.jsonl', [row]))], cfg)
    (message,) = summary.examples['missing_frames']
    where = str(videos / 'synth_0000')
    assert message.count(where) == 1 and f'{where} or {tmp_path / "videos" / "synth_0000"};' in message
    assert 'holds videos (synthscan/synth_0000.mp4)' in message and 'run extract_frames.py on them first' in message
    # Frames beside their videos (extract_frames.py --output_dir = --video_dir) are a supported layout: a scene
    # whose frames are missing there gets no hint about videos.
    make_frames(videos / 'synth_0001', 4)
    (videos / 'synth_0001.mp4').write_bytes(b'extracted')
    found = conversations_row({**NUMERIC_ROW, 'id': 9, 'dataset': 'synthscan', 'scene_name': 'synth_0001'})
    out, summary = pp.convert([str(write_jsonl(tmp_path / 'qa2.jsonl', [row, found]))], cfg)
    assert [r['id'] for r in out] == ['9']
    (message,) = summary.examples['missing_frames']
    assert "no frames for scene 'synth_0000'" in message and 'holds videos' not in message


def test_output_is_written_atomically(scene, monkeypatch):
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    summary = scene / 'out' / 'train.summary.json'
    output.parent.mkdir()
    output.write_text('previous run\n', encoding='utf-8')
    real_dumps = json.dumps
    calls = []

    def failing_dumps(obj, **kwargs):
        calls.append(obj)
        if len(calls) == 2:
            raise OSError('disk full')
        return real_dumps(obj, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(pp.json, 'dumps', failing_dumps)
        with pytest.raises(
            pp.VsiDataError, match=f'^cannot write {output} or its summary {summary} \\(disk full\\); files already'
        ):
            pp.preprocess([str(source)], str(output), config(scene))
    assert output.read_text(encoding='utf-8') == 'previous run\n'
    assert sorted(p.name for p in output.parent.iterdir()) == ['train.jsonl']

    # A full disk when the output is forced to disk: it said `error: [Errno 28] No space left on device`, naming no
    # file. The previous output and its summary stay as they were.
    pp.preprocess([str(source)], str(output), config(scene))
    before = {path.name: path.read_bytes() for path in output.parent.iterdir()}

    def full(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(pp.os, 'fsync', full)
    write_jsonl(source, [MC_ROW])
    with pytest.raises(pp.VsiDataError) as error:
        pp.preprocess([str(source)], str(output), config(scene))
    assert str(error.value) == (
        f'cannot write {output} or its summary {summary} (No space left on device); files already there are unchanged'
    )
    assert {path.name: path.read_bytes() for path in output.parent.iterdir()} == before  # no temporary file either


@pytest.mark.parametrize(
    ('signum', 'media'), [(signal.SIGTERM, 'image'), (signal.SIGINT, 'image'), (signal.SIGTERM, 'video')]
)
def test_a_stopped_run_says_in_one_line_what_is_on_disk(scene, signum, media):
    """A cluster's preemption or time limit sends SIGTERM, a user Ctrl-C: the run ends the same way, leaving no
    temporary file, with one line (not a traceback, not silence) on what was written, and exit 128 + signal."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    output.parent.mkdir()
    output.write_text('previous run\n', encoding='utf-8')
    stopped_while_writing = (
        'import os, signal, sys\n'
        'import preprocess_vsi_data as pp\n'
        'line = pp._utf8_line\n'
        'def second_row_stops(row):\n'
        '    if row["id"] == "8":\n'
        f'        os.kill(os.getpid(), {int(signum)})\n'
        '    return line(row)\n'
        'pp._utf8_line = second_row_stops\n'
        'sys.exit(pp.main(sys.argv[1:]))\n'
    )
    args = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--output_path', str(output)]
    done = subprocess.run(
        [sys.executable, '-c', stopped_while_writing, *args, '--num_frames', '4', '--no_progress', '--media', media],
        cwd=Path(pp.__file__).parent,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 128 + signum
    stop = 'terminated' if signum == signal.SIGTERM else 'interrupted'
    message = f'{stop}: nothing was written to {output} (a file already there is unchanged)'
    if media == 'video':
        message += f'; the finished clips in {output.parent / "clips"} are kept for the next run'
        assert len(list((output.parent / 'clips' / 'scannet').glob('scene0001_00_k4_*.mp4'))) == 1
    assert done.stderr.splitlines()[-1] == message and 'Traceback' not in done.stderr
    assert sorted(p.name for p in output.parent.iterdir()) == (['clips'] if media == 'video' else []) + ['train.jsonl']
    assert output.read_text(encoding='utf-8') == 'previous run\n'
    assert pp.main(['--input_path', str(scene / 'missing.jsonl'), *args[2:]]) == 1  # in this process this time
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # main() puts back the handler it replaced


def test_a_reader_that_stops_early_gets_no_traceback_and_the_output_is_written(scene):
    """`preprocess_vsi_data.py ... | head -1`: the reader had gone when the summary was printed, and a BrokenPipeError
    traceback followed the work. A pipe whose reading end is closed makes every write fail, as head's exit does."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    read_end, write_end = os.pipe()
    os.close(read_end)
    args = ['--input_path', source, '--frames_dir', scene / 'frames', '--output_path', output, '--num_frames', 4]
    with os.fdopen(write_end, 'wb') as gone:
        done = subprocess.run(
            [sys.executable, 'preprocess_vsi_data.py', *map(str, args), '--no_progress'],
            cwd=Path(pp.__file__).parent,
            stdout=gone,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert done.returncode == 141 and 'Traceback' not in done.stderr and 'pipe' not in done.stderr, done.stderr
    assert [json.loads(line)['id'] for line in output.read_text(encoding='utf-8').splitlines()] == ['7', '8']


def test_a_run_started_with_stdout_closed_ends_as_it_did(scene):
    """`preprocess_vsi_data.py ... >&-`: sys.stdout is None, print() writes nothing, and run_main's flush raised
    AttributeError (a traceback and status 1) after the work was done."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    args = ['--input_path', source, '--frames_dir', scene / 'frames', '--output_path', output, '--num_frames', 4]
    done = subprocess.run(
        [
            'bash',
            '-c',
            'exec "$@" >&-',
            'bash',
            sys.executable,
            'preprocess_vsi_data.py',
            *map(str, args),
            '--no_progress',
        ],
        cwd=Path(pp.__file__).parent,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert done.returncode == 0 and 'Traceback' not in done.stderr, done.stderr
    assert output.is_file()


def test_a_run_stopped_between_its_two_renames_says_the_summary_was_replaced(scene, monkeypatch, capsys):
    """Stopped right after the summary's rename (the window is microseconds), the run said `nothing was written`
    although its summary had replaced the old one, which no longer describes the output beside it."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    args = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--output_path', str(output)]
    args += ['--num_frames', '4', '--no_progress']
    assert pp.main(args) == 0
    before = output.read_bytes()
    real_replace = os.replace

    def stopped_before_the_output(src, dst):
        if str(dst) == str(output):
            # a summary time before the run's start (whole-second times, an NFS server's clock behind) changes nothing
            os.utime(scene / 'out' / 'train.summary.json', ns=(0, 0))
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(pp.os, 'replace', stopped_before_the_output)
    write_jsonl(source, [MC_ROW])
    capsys.readouterr()
    assert pp.main(args) == 130
    summary = scene / 'out' / 'train.summary.json'
    assert capsys.readouterr().err == (
        f"interrupted between the renames: {summary} is this run's, {output} was not replaced (it matches no summary "
        'now); run the same command again\n'
    )
    assert output.read_bytes() == before and json.loads(summary.read_text(encoding='utf-8'))['written'] == 1
    monkeypatch.setattr(pp.os, 'replace', real_replace)
    assert pp.main(args) == 0 and pp.matching_summary(str(output)).written == 1


def test_a_run_stopped_after_both_renames_says_both_files_are_its_own(scene, monkeypatch, capsys):
    """Stopped after the output's rename, while returning, the run said `nothing was written` although both files
    were its own and matched (found by helper-121)."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    args = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--output_path', str(output)]
    args += ['--num_frames', '4', '--no_progress']
    assert pp.main(args) == 0
    real_replace = os.replace

    def stopped_after_the_output(src, dst):
        real_replace(src, dst)
        if str(dst) == str(output):
            raise KeyboardInterrupt

    monkeypatch.setattr(pp.os, 'replace', stopped_after_the_output)
    write_jsonl(source, [MC_ROW])
    capsys.readouterr()
    assert pp.main(args) == 130
    summary = scene / 'out' / 'train.summary.json'
    assert capsys.readouterr().err == f"interrupted after writing {output} and {summary}, both this run's\n"
    assert pp.matching_summary(str(output)).written == 1 and len(read_jsonl(output)) == 1


@pytest.mark.parametrize('umask', [0o022, 0o027])
def test_atomic_files_get_the_permissions_of_a_plain_open(tmp_path, umask):
    """Others on a shared cluster must be able to read train.jsonl or results.json (mkstemp would give 0600)."""
    previous = os.umask(umask)
    try:
        pp.write_text_atomic(str(tmp_path / 'atomic.jsonl'), ['{}\n'])
        (tmp_path / 'plain.jsonl').write_text('{}\n')
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {'atomic.jsonl': 0o666 & ~umask, 'plain.jsonl': 0o666 & ~umask}


def test_temporary_files_of_killed_runs_are_removed_by_the_next_run(scene):
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    # A run killed by SIGKILL (out of memory, a job's time limit) while it writes: nothing in it can clean up.
    kill_while_writing = (
        'import os, signal, sys\n'
        'import preprocess_vsi_data as pp\n'
        'with pp.atomic_path(sys.argv[1]) as tmp:\n'
        '    open(tmp, "w").write("half a file")\n'
        '    os.kill(os.getpid(), signal.SIGKILL)\n'
    )
    killed = subprocess.Popen([sys.executable, '-c', kill_while_writing, str(output)], cwd=Path(pp.__file__).parent)
    assert killed.wait() == -signal.SIGKILL
    (orphan,) = output.parent.iterdir()
    name = pp._TEMP_RE.fullmatch(orphan.name)
    assert name['target'] == 'train.jsonl' and int(name['pid']) == killed.pid
    here = name['host']
    kept = [
        f'train.jsonl.{os.getpid()}-0123abcd.{here}.tmp',  # a writer that still runs
        'train.jsonl.1-0123abcd.other-node.tmp',  # another machine's, touched just now
        f'other.jsonl.{killed.pid}-0123abcd.{here}.tmp',  # another output's
        'train.jsonl.tmp',  # not a name atomic_path makes
    ]
    old = 'train.summary.json.1-89abcdef.other-node.tmp'  # another machine's, untouched for two hours
    # this machine's, untouched for two hours, its pid running again (in a container every run may be pid 1)
    old_here = f'train.jsonl.{os.getpid()}-fedcba98.{here}.tmp'
    for file_name in [*kept, old, old_here]:
        (output.parent / file_name).write_text('x')
    two_hours_ago = time.time() - 7200
    os.utime(output.parent / old, (two_hours_ago, two_hours_ago))
    os.utime(output.parent / old_here, (two_hours_ago, two_hours_ago))
    clip = 'scene0001_00_k4_fps2_0123456789ab.mp4'
    clip_orphan = scene / 'out' / 'clips' / 'scannet' / f'{clip}.{killed.pid}-0123abcd.{here}.tmp'
    clip_orphan.parent.mkdir(parents=True)
    clip_orphan.write_text('x')

    summary = pp.preprocess([str(source)], str(output), config(scene))
    assert sorted(p.name for p in output.parent.iterdir() if p.is_file()) == sorted(
        [*kept, 'train.jsonl', 'train.summary.json']
    )
    assert summary.stale_temps_removed == 3 and '  removed 3 temporary file(s) left by killed runs' in summary.lines()
    _, summary = pp.convert([str(source)], config(scene, media='video'))  # clips' own temporary files
    assert summary.stale_temps_removed == 1 and not clip_orphan.exists()


def test_a_temporary_file_renamed_away_during_the_cleanup_is_passed_over(tmp_path, monkeypatch):
    """Another process's atomic write renamed its temporary file into place between the listing and the look at its
    age: the cleanup raised FileNotFoundError (ranks converting vsi_raw at once)."""
    name = f'train.jsonl.{os.getpid()}-0123abcd.{pp._HOST}.tmp'
    (tmp_path / name).write_text('x')
    scandir = os.scandir

    @contextlib.contextmanager
    def listed_then_renamed(folder):
        with scandir(folder) as scan:
            entries = list(scan)
        (tmp_path / name).rename(tmp_path / 'train.jsonl')
        yield iter(entries)

    monkeypatch.setattr(os, 'scandir', listed_then_renamed)
    assert pp.remove_stale_temps(str(tmp_path), {'train.jsonl'}) == []
    assert (tmp_path / 'train.jsonl').read_text() == 'x'


def test_atomic_path_forces_the_data_to_disk_before_the_rename(tmp_path, monkeypatch):
    """Renamed without an fsync, a file can come back empty after a power loss (the rename reaches the disk first):
    an empty run_config.json made a resumable evaluation ask for --overwrite."""
    events, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd):
        events.append(('fsync', os.readlink(f'/proc/self/fd/{fd}')))
        real_fsync(fd)

    def replace(src, dst):
        events.append(('replace', src))
        real_replace(src, dst)

    monkeypatch.setattr(pp.os, 'fsync', fsync)
    monkeypatch.setattr(pp.os, 'replace', replace)
    target = tmp_path / 'run_config.json'
    with pp.atomic_path(target) as tmp:
        Path(tmp).write_text('{"model": "m"}')
    assert events == [('fsync', tmp), ('replace', tmp)] and target.read_text() == '{"model": "m"}'


def test_the_summary_records_its_output_and_is_renamed_first(scene, monkeypatch):
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    renamed = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src, dst):
        renamed.append(os.path.basename(dst))
        real_replace(src, dst)

    def fsync(fd):
        renamed.append(('fsync', os.path.basename(os.readlink(f'/proc/self/fd/{fd}')).split('.')[:2]))
        real_fsync(fd)

    monkeypatch.setattr(pp.os, 'replace', replace)
    monkeypatch.setattr(pp.os, 'fsync', fsync)
    pp.preprocess([str(source)], str(output), config(scene, exclude_scenes=frozenset({'scene0999_00'})))
    # the output is on disk before the summary is renamed: the two renames follow each other at once
    assert renamed.index(('fsync', ['train', 'jsonl'])) < renamed.index('train.summary.json')
    assert [step for step in renamed if isinstance(step, str)] == ['train.summary.json', 'train.jsonl']
    monkeypatch.setattr(pp.os, 'fsync', real_fsync)
    saved = json.loads((scene / 'out' / 'train.summary.json').read_text(encoding='utf-8'))
    data = output.read_bytes()
    assert (saved['output_sha256'], saved['output_bytes']) == (hashlib.sha256(data).hexdigest(), len(data))
    assert saved['written'] == len(data.splitlines()) == 2 and saved['output'] == str(output)
    settings = saved['settings']
    assert (settings['num_frames'], settings['prompt_style'], settings['exclude_scenes']) == (4, 'direct', 1)
    assert pp.matching_summary(str(output)).written == 2  # the summary describes the file beside it

    # Killed between the two renames: the new summary beside the old output says it is not that output's.
    def killed_before_the_output(src, dst):
        if dst == str(output):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(pp.os, 'replace', killed_before_the_output)
    write_jsonl(source, [MC_ROW])
    with pytest.raises(KeyboardInterrupt):
        pp.preprocess([str(source)], str(output), config(scene))
    saved = json.loads((scene / 'out' / 'train.summary.json').read_text(encoding='utf-8'))
    assert output.read_bytes() == data and saved['written'] == 1
    assert saved['output_sha256'] != hashlib.sha256(data).hexdigest()
    assert pp.matching_summary(str(output)) is None


def test_files_renamed_together_hold_their_folder_against_other_writers(tmp_path, monkeypatch, caplog):
    """Two runs on one output renamed their summaries and outputs in turn, leaving one run's output beside the other's
    summary. While atomic_paths renames several files it holds their folder (another writer's flock waits); a folder
    some other process holds for long (a wrapper's `flock FOLDER command`) is waited for a while, then renamed into
    without the lock, with a warning, rather than hanging the run."""
    files = [tmp_path / 'train.summary.json', tmp_path / 'train.jsonl']
    real_replace = os.replace
    seen = []

    def replace(src, dst):
        other = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # another run's descriptor on the folder
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append('folder free')
        except BlockingIOError:
            seen.append('folder held')
        finally:
            os.close(other)
        seen.append(os.path.basename(dst))
        real_replace(src, dst)

    monkeypatch.setattr(pp.os, 'replace', replace)
    with pp.atomic_paths(*files) as temps:
        for temp in temps:
            Path(temp).write_text('new')
    assert seen == ['folder held', 'train.summary.json', 'folder held', 'train.jsonl']
    assert [file.read_text() for file in files] == ['new', 'new']
    seen.clear()
    with pp.atomic_path(files[1]) as temp:  # one file: its rename is one step already; nothing held
        Path(temp).write_text('one')
    assert seen == ['folder free', 'train.jsonl'] and files[1].read_text() == 'one'
    # held by another process for longer than any writer of the bundle holds it
    monkeypatch.setattr(pp, 'RENAME_LOCK_SECONDS', 0.2)
    wrapper = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(wrapper, fcntl.LOCK_EX)
    seen.clear()
    try:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger=pp.logger.name), pp.atomic_paths(*files) as temps:
            for temp in temps:
                Path(temp).write_text('late')
        waited = time.monotonic() - started
    finally:
        os.close(wrapper)
    assert [file.read_text() for file in files] == ['late', 'late'] and 0.2 <= waited < 5
    assert [r.getMessage() for r in caplog.records] == [
        f'{tmp_path} has been locked by another process for 0.2 s (writers of this bundle hold it only while they '
        'rename); renaming into it without the lock'
    ]
    assert sorted(os.listdir(tmp_path)) == sorted(file.name for file in files)  # no temporary file left


def test_matching_summary_only_vouches_for_the_file_it_describes(scene):
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    output = scene / 'out' / 'train.jsonl'
    summary_file = Path(pp.summary_path(str(output)))
    assert pp.matching_summary(str(output)) is None  # nothing written yet
    pp.preprocess([str(source)], str(output), config(scene))
    assert pp.matching_summary(str(output)).output_sha256 == hashlib.sha256(output.read_bytes()).hexdigest()
    data, saved = output.read_bytes(), summary_file.read_text(encoding='utf-8')
    output.write_bytes(data[:-1] + b' ')  # same size, other bytes
    assert pp.matching_summary(str(output)) is None
    output.write_bytes(data)
    summary_file.write_text(json.dumps({**json.loads(saved), 'field_of_another_version': 1}), encoding='utf-8')
    assert pp.matching_summary(str(output)) is None
    summary_file.write_text(saved[:-10], encoding='utf-8')  # cut short
    assert pp.matching_summary(str(output)) is None
    summary_file.unlink()
    assert pp.matching_summary(str(output)) is None


def test_a_conversion_without_excluded_scenes_warns(scene, caplog):
    source = str(write_jsonl(scene / 'qa.jsonl', [MC_ROW]))
    with caplog.at_level(logging.WARNING, logger='preprocess_vsi_data'):
        pp.convert([source], config(scene))
        assert caplog.messages == [pp.NO_EXCLUSION_WARNING] and 'VSI_EXCLUDE_SCENES' in caplog.messages[0]
        caplog.clear()
        pp.convert([source], config(scene, exclude_scenes=frozenset({'scene0999_00'})))
        assert caplog.messages == []


def decode(path: Path) -> tuple[list, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format='gray') for f in container.decode(stream)]
        return frames, float(stream.average_rate)


@pytest.mark.parametrize('num_frames', [4, 5])
def test_video_media_writes_one_clip_per_scene_and_reuses_it(scene, num_frames):
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    cfg = config(scene, media='video', num_frames=num_frames)
    rows, summary = pp.convert([str(source)], cfg)
    assert [r['messages'][0]['content'] for r in rows] == [
        '<video>' + official_prompt(MC_ROW),
        '<video>' + official_prompt(NUMERIC_ROW),
    ]
    assert rows[0]['videos'] == rows[1]['videos'] and len(rows[0]['videos']) == 1 and 'images' not in rows[0]
    assert (summary.clips_written, summary.clips_reused) == (1, 0)
    frames, fps = decode(Path(os.path.normpath(scene / 'out' / rows[0]['videos'][0])))
    expected = [int(i) for i in np.linspace(0, 9, num_frames).round()]
    expected += expected[-1:] * (num_frames % 2)  # an odd count repeats its last frame: Qwen3-VL reads pairs
    assert [round(float(f.mean()) / GREY_STEP) for f in frames] == expected
    assert fps == pp.DEFAULT_VIDEO_FPS
    assert summary.video_env == {'FPS': '2', 'FPS_MAX_FRAMES': str(len(expected))}

    rows_again, summary = pp.convert([str(source)], cfg)
    assert rows_again == rows and (summary.clips_written, summary.clips_reused) == (0, 1)
    # a frame re-extracted after the clip was made (set explicitly: file times have a coarse clock tick)
    newer = os.path.getmtime(scene / 'out' / rows[0]['videos'][0]) + 1
    os.utime(scene / 'frames' / 'scannet' / 'scene0001_00' / 'frame_0000.jpg', (newer, newer))
    assert pp.convert([str(source)], cfg)[1].clips_written == 1


def test_a_frame_replaced_keeping_its_older_time_makes_the_clip_again(scene):
    """`cp -p` and `rsync -a` keep a replaced frame's modification time: the clip of the old frame was reused, so the
    rows showed other frames than the folder holds. The frame's change time says it was put there after the clip."""
    source = write_jsonl(scene / 'qa.jsonl', [NUMERIC_ROW])
    cfg = config(scene, media='video')
    rows, _ = pp.convert([str(source)], cfg)
    clip = Path(os.path.normpath(scene / 'out' / rows[0]['videos'][0]))
    assert round(float(decode(clip)[0][0].mean()) / GREY_STEP) == 0
    folder = scene / 'frames' / 'scannet' / 'scene0001_00'
    made = max(max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in folder.iterdir())
    os.utime(clip, ns=(made, made))  # the clip is no older than its frames: reused
    assert pp.convert([str(source)], cfg)[1].clips_reused == 1
    probe = scene / 'probe'
    while probe.write_bytes(b'') == 0 and probe.stat().st_ctime_ns <= made:  # file times have a coarse clock tick
        time.sleep(0.005)
    Image.new('RGB', (20, 16), (GREY_STEP * 9,) * 3).save(folder / 'frame_0000.jpg', quality=95)
    os.utime(folder / 'frame_0000.jpg', ns=(made - 10**9, made - 10**9))  # as cp -p leaves it: older than the clip
    assert pp.convert([str(source)], cfg)[1].clips_written == 1
    assert round(float(decode(clip)[0][0].mean()) / GREY_STEP) == 9


def test_a_frame_that_does_not_decode_is_named(scene):
    """Pillow says only `Truncated File Read` of a cut-off JPEG; the clip's error names the frame."""
    frame = scene / 'frames' / 'scannet' / 'scene0001_00' / 'frame_0003.jpg'
    frame.write_bytes(frame.read_bytes()[: frame.stat().st_size // 2])
    source = write_jsonl(scene / 'qa.jsonl', [NUMERIC_ROW])
    with pytest.raises(pp.VsiDataError, match=f'^frame {re.escape(str(frame))} cannot be read as an image '):
        pp.convert([str(source)], config(scene, media='video'))


def test_a_swift_row_without_scene_name_finds_its_scene_from_its_clip(scene):
    """A swift row without scene_name takes its scene from its media; a clip this script wrote is named
    `<scene>_k<frames>_fps<rate>_<digest>.mp4`, and that whole stem was taken for the scene (missing_frames)."""
    output = scene / 'out' / 'video.jsonl'
    pp.preprocess([str(write_jsonl(scene / 'qa.jsonl', [NUMERIC_ROW]))], str(output), config(scene, media='video'))
    (row,) = read_jsonl(output)
    assert Path(row['videos'][0]).name.startswith('scene0001_00_k4_fps2_')
    del row['scene_name']
    out, summary = pp.convert([str(write_jsonl(scene / 'swift.jsonl', [row]))], config(scene))
    assert [r['scene_name'] for r in out] == ['scene0001_00'] and not summary.skipped


def test_swift_rows_without_scene_name_exclude_the_scene_of_their_media(scene):
    """An exclusion file is read for scenes as the rows to convert are: a swift row without scene_name names its scene
    by its frames' folder or its clip. It was an error (`no scene_name (nor video) to exclude`)."""
    bench = str(write_jsonl(scene / 'bench.jsonl', [NUMERIC_ROW]))
    for media in ('image', 'video'):
        output = scene / 'out' / f'{media}.jsonl'
        pp.preprocess([bench], str(output), config(scene, media=media))
        rows = read_jsonl(output)
        for row in rows:
            del row['scene_name']
        listing = write_jsonl(scene / 'out' / f'{media}_test.jsonl', rows)
        assert pp.load_scene_names(str(listing)) == {'scene0001_00'}, media


def test_a_video_fps_at_which_qwen_would_not_read_every_frame_is_refused(scene):
    """The summary says `train with FPS=<--video_fps>` and every frame of a clip is read. That failed silently where
    the clip cannot hold the rate (below 0.0005 it was written at 24 fps; `inf` raised OverflowError) or where
    qwen-vl-utils' `frames / clip rate * FPS` ends just below the frame count in floating point and rounds down."""
    from qwen_vl_utils import vision_process

    for fps, frames in ((1 / 3, 32), (25, 58)):  # qwen-vl-utils itself drops two frames
        env_fps = float(pp.video_env(frames, fps)['FPS'])
        rate = float(pp.clip_rate(fps))
        assert vision_process.smart_nframes({'fps': env_fps}, total_frames=frames, video_fps=rate) == frames - 2
        assert pp.frames_read(frames, fps) == frames - 2
    with pytest.raises(pp.VsiDataError, match=r'--video_fps 0.333333: Qwen3-VL would read 30 of the 32 frames'):
        config(scene, media='video', video_fps=1 / 3, num_frames=32)
    config(scene, media='video', video_fps=25, num_frames=64)  # 64 frames are read whole at 25 fps
    with pytest.raises(pp.VsiDataError, match=r'would read 56 of the 58 frames'):  # a scene with 57 or 58 frames
        config(scene, media='video', video_fps=25, num_frames=64, allow_fewer_frames=True)
    config(scene, media='image', video_fps=1 / 3)  # no clips
    config(scene, media='video', num_frames=768, allow_fewer_frames=True)  # the default rate reads any clip whole
    for fps in (math.inf, 0.0001, 0.0007, math.nan, 0):
        with pytest.raises(pp.VsiDataError, match='--video_fps must be a frame rate of at least 0.001'):
            config(scene, media='video', video_fps=fps)


def test_frame_folders_of_two_extractions_get_their_own_clips(scene):
    """Two frames dirs hold the same scene names and share the default clips folder: neither may take the other's
    clip, whichever was extracted last."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW])
    first = scene / 'frames' / 'scannet' / 'scene0001_00'
    second = scene / 'frames_b' / 'scannet' / 'scene0001_00'
    second.mkdir(parents=True)
    for i in range(10):  # the same frames in reverse order
        shutil.copyfile(first / f'frame_{9 - i:04d}.jpg', second / f'frame_{i:04d}.jpg')
    cfg = config(scene, media='video')
    rows, _ = pp.convert([str(source)], cfg)
    rows_b, summary = pp.convert([str(source)], dataclasses.replace(cfg, frames_dir=str(scene / 'frames_b')))
    assert (summary.clips_written, summary.clips_reused) == (1, 0)
    again, summary = pp.convert([str(source)], cfg)
    assert again == rows and (summary.clips_written, summary.clips_reused) == (0, 1)
    shown = {
        name: [
            round(float(f.mean()) / GREY_STEP)
            for f in decode(Path(os.path.normpath(scene / 'out' / r[0]['videos'][0])))[0]
        ]
        for name, r in (('first', rows), ('second', rows_b))
    }
    assert shown == {'first': [0, 3, 6, 9], 'second': [9, 6, 3, 0]}


def test_cli_writes_output_and_summary_and_reports_errors(scene, capsys):
    test_row = {**NUMERIC_ROW, 'id': 3, 'scene_name': 'scene0999_00'}  # a benchmark scene: no frames needed
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW, {'id': 1}, test_row])
    exclude = write_jsonl(scene / 'test.jsonl', [test_row])
    output = scene / 'out' / 'train.jsonl'
    args = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--output_path', str(output)]
    args += ['--num_frames', '4', '--exclude_scenes', str(exclude), '--no_progress']
    assert pp.main(args) == 0
    printed = capsys.readouterr().out
    assert 'wrote 2 rows' in printed and 'skipped (problems): unknown_layout 1' in printed
    assert 'dropped (by choice): excluded_scene 1' in printed
    saved = json.loads((scene / 'out' / 'train.summary.json').read_text())
    assert (saved['skipped'], saved['dropped'], saved['written']) == ({'unknown_layout': 1}, {'excluded_scene': 1}, 2)
    assert len(read_jsonl(output)) == 2
    assert pp.main([*args, '--strict']) == 1
    error = capsys.readouterr().err
    assert error.startswith('error: qa.jsonl:line 3: unknown_layout') and error.count('\n') == 1


def test_demo_question_files_agree_across_layouts(tmp_path):
    """The synthetic demo's train.json (conversations) and train_qa.jsonl (benchmark layout) give the same rows."""
    make_scenes = pytest.importorskip('demo.make_synthetic_scenes').make_scenes
    from extract_frames import extract_all

    make_scenes(str(tmp_path / 'scenes'), num_scenes=3, frames=16, questions_per_type=1, progress=False)
    extract_all(tmp_path / 'frames', video_dir=tmp_path / 'scenes' / 'videos', num_frames=8, workers=1, progress=False)
    cfg = pp.PreprocessConfig(
        frames_dir=str(tmp_path / 'frames'),
        num_frames=4,
        base_dir=str(tmp_path),
        exclude_scenes=frozenset(pp.load_scene_names(str(tmp_path / 'scenes' / 'test.jsonl'))),
        strict=True,
        progress=False,
    )
    conv, conv_summary = pp.convert([str(tmp_path / 'scenes' / 'train.json')], cfg)
    qa, _ = pp.convert([str(tmp_path / 'scenes' / 'train_qa.jsonl')], cfg)
    assert conv == qa and len(conv) == conv_summary.rows_read > 0
    test_rows, test_summary = pp.convert([str(tmp_path / 'scenes' / 'test.jsonl')], cfg)
    assert test_rows == [] and test_summary.dropped == {'excluded_scene': test_summary.rows_read}


def test_rows_a_generator_wrote_oddly_but_unambiguously_are_kept(scene):
    """A letter answer is exact even when two options share a text (the evaluator must take every benchmark row);
    a `video` path from the generator's own disk (absolute, or with `..`) is ignored and the scene's frames used."""
    dup_texts = {**MC_ROW, 'id': 1, 'options': ['A. left', 'B. left', 'C. back'], 'ground_truth': 'B'}
    absolute = {**conversations_row({**NUMERIC_ROW, 'id': 2}), 'video': '/data/gen/scannet/scene0001_00.mp4'}
    dotted = {**conversations_row({**NUMERIC_ROW, 'id': 3}), 'video': '../videos/scannet/scene0001_00.mp4'}
    source = write_jsonl(scene / 'qa.jsonl', [dup_texts, absolute, dotted])
    out, summary = pp.convert([str(source)], config(scene))
    assert [(r['id'], r['solution']) for r in out] == [('1', 'B'), ('2', '4'), ('3', '4')]
    assert summary.skipped == {}
    assert all('/frames/scannet/scene0001_00/frame_' in path for r in out for path in r['images'])
    # the video's scene still counts for exclusion
    (scene / 'ex.txt').write_text('scene0001_00\n', encoding='utf-8')
    cfg = config(scene, exclude_scenes=pp.load_scene_names(str(scene / 'ex.txt')))
    assert pp.convert([str(source)], cfg)[1].dropped == {'excluded_scene': 3}


def test_a_row_left_out_by_choice_is_left_out_whatever_its_content(scene):
    """The content was checked before the options: a benchmark-scene row with a wrong answer was counted as a problem,
    the summary then said none of the listed scenes was in the input, and --strict stopped on rows that an exclusion
    or --question_types leaves out. A scene name that leaves --frames_dir stays a problem (bad_scene_name)."""
    make_frames(scene / 'frames' / 'scannet' / 'scene0002_00', 4)
    rows = [
        {**NUMERIC_ROW, 'id': 1},
        {**MC_ROW, 'id': 2, 'scene_name': 'scene0002_00', 'ground_truth': 'E'},  # on the benchmark scene
        {**conversations_row({**NUMERIC_ROW, 'id': 3}, video='scannet/scene0002_00.mp4'), 'conversations': []},
        {**MC_ROW, 'id': 4, 'options': None},  # a type not selected
        {**NUMERIC_ROW, 'id': 5, 'scene_name': '../scene0002_00'},
    ]
    source = str(write_jsonl(scene / 'qa.jsonl', rows))
    (scene / 'bench.txt').write_text('scene0002_00\n', encoding='utf-8')
    excluded = pp.load_scene_names(str(scene / 'bench.txt'))
    cfg = config(scene, exclude_scenes=excluded, question_types=('object_counting',))
    out, summary = pp.convert([source], cfg)
    assert [r['id'] for r in out] == ['1']
    assert summary.dropped == {'excluded_scene': 2, 'question_type_not_selected': 1}
    assert summary.skipped == {'bad_scene_name': 1}
    assert not any('none of the' in line for line in summary.lines())
    assert summary.rows_read == summary.written + sum(summary.skipped.values()) + sum(summary.dropped.values())
    strict = dataclasses.replace(cfg, strict=True)
    with pytest.raises(pp.VsiDataError, match=r'qa.jsonl:line 5: bad_scene_name'):
        pp.convert([source], strict)
    out, _ = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows[:4]))], strict)
    assert [r['id'] for r in out] == ['1']


def test_exclusion_holds_however_a_row_spells_its_scene(scene):
    """A benchmark scene stays out whichever spelling leads to its frames; paths that leave --frames_dir are skipped."""
    make_frames(scene / 'frames' / 'scannet' / 'scene0000_00', 4)
    make_frames(scene / 'frames' / 'scannet' / 'scene0009_00', 4)
    make_frames(scene / 'outside' / 'scene0005_00', 4)
    bare = {**NUMERIC_ROW, 'dataset': None}
    rows = [
        {**bare, 'id': 1, 'scene_name': 'scannet/scene0000_00'},
        {**bare, 'id': 2, 'scene_name': 'scene0000_00/'},
        {**bare, 'id': 3, 'scene_name': './scene0000_00'},
        {**NUMERIC_ROW, 'id': 4, 'scene_name': '../scannet/scene0000_00'},
        {**NUMERIC_ROW, 'id': 5, 'scene_name': 'scene0000_00'},
        {
            **conversations_row({**NUMERIC_ROW, 'id': 6, 'scene_name': 'scene0009_00'}),
            'video': 'scannet/scene0000_00.mp4',
        },
        {**bare, 'id': 7, 'scene_name': str(scene / 'outside' / 'scene0005_00')},  # absolute: never looked up
        {**NUMERIC_ROW, 'id': 8, 'scene_name': 'scene0009_00'},
    ]
    source = write_jsonl(scene / 'qa.jsonl', rows)
    for entry in ('scene0000_00', 'scannet/scene0000_00', './scannet/scene0000_00/'):
        (scene / 'ex.txt').write_text(entry + '\n', encoding='utf-8')
        cfg = config(scene, exclude_scenes=pp.load_scene_names(str(scene / 'ex.txt')))
        out, summary = pp.convert([str(source)], cfg)
        assert [(r['id'], r['scene_name']) for r in out] == [('8', 'scene0009_00')], entry
        assert all('scene0009_00' in path for path in out[0]['images'])
        assert summary.dropped == {'excluded_scene': 5} and summary.skipped == {'bad_scene_name': 2}, entry
    assert summary.examples['bad_scene_name'] == [
        "qa.jsonl:line 4: scene '../scannet/scene0000_00' is not a path inside --frames_dir",
        f'qa.jsonl:line 7: scene {str(scene / "outside" / "scene0005_00")!r} is not a path inside --frames_dir',
    ]
    assert (
        summary.examples['excluded_scene'][4] == "qa.jsonl:line 6: scene 'scene0000_00' (from 'scannet/scene0000_00')"
    )
    # Without exclusion the spellings find their frames (the test above is not passing for want of frames).
    out, _ = pp.convert([str(source)], config(scene))
    assert [r['id'] for r in out] == ['1', '2', '3', '5', '6', '8']
    assert all('scene0000_00' in path for path in out[4]['images'])  # the conversation's video, not its scene_name
    assert out[0]['scene_name'] == 'scannet/scene0000_00' and out[1]['scene_name'] == 'scene0000_00'


@pytest.mark.parametrize('suffix', ['.json', '.jsonl'])
@pytest.mark.parametrize('indent', [None, 2])
def test_a_top_level_object_is_an_error_naming_file_and_key(scene, capsys, suffix, indent):
    wrapped = scene / f'wrapped{suffix}'
    wrapped.write_text(json.dumps({'version': 1, 'data': [MC_ROW, NUMERIC_ROW] * 50}, indent=indent) + '\n')
    expected = (
        f"{wrapped}: the top level is a JSON object holding its rows under 'data'; "
        'expected a list of rows or one row per line (JSONL)'
    )
    with pytest.raises(pp.VsiDataError) as error:
        pp.convert([str(wrapped)], config(scene))
    assert str(error.value) == expected
    output = scene / 'out' / 'train.jsonl'
    args = ['--input_path', str(wrapped), '--frames_dir', str(scene / 'frames'), '--output_path', str(output)]
    assert pp.main([*args, '--num_frames', '4', '--no_progress']) == 1
    assert capsys.readouterr().err == f'error: {expected}\n' and not output.exists()
    if indent:  # one row spread over several lines: the same advice, no key to name
        single = scene / f'single{suffix}'
        single.write_text(json.dumps(MC_ROW, indent=indent))
        with pytest.raises(pp.VsiDataError, match=r'single\.jsonl?: the top level is a JSON object; expected a list'):
            pp.convert([str(single)], config(scene))
        # rows pretty-printed one after another (`jq .`): said so, not `line 1 is not valid JSON` of a lone `{`
        pretty = scene / f'pretty{suffix}'
        pretty.write_text(json.dumps(MC_ROW, indent=indent) + '\n' + json.dumps(NUMERIC_ROW, indent=indent) + '\n')
        with pytest.raises(pp.VsiDataError) as error:
            pp.convert([str(pretty)], config(scene))
        assert str(error.value) == (
            f'{pretty}: holds JSON objects written over several lines each (pretty-printed); expected one row per '
            f'line (JSONL: `jq -c . {pretty}` writes it) or a JSON list'
        )


def test_a_line_of_jsonl_that_wraps_rows_is_named_by_its_line(scene):
    """Past the first line it is no top level: the message sent users looking at the start of the file."""
    lines = [json.dumps(MC_ROW), '', json.dumps({'version': 1, 'data': [NUMERIC_ROW]})]
    (scene / 'qa.jsonl').write_text('\n'.join(lines) + '\n', encoding='utf-8')
    with pytest.raises(pp.VsiDataError) as error:
        pp.convert([str(scene / 'qa.jsonl')], config(scene))
    assert str(error.value) == (
        f"{scene / 'qa.jsonl'}: line 3 is a JSON object holding its rows under 'data'; "
        'expected one row per line (JSONL)'
    )


def test_output_ids_are_unique_and_duplicates_are_skipped(scene):
    """Clashing ids of different questions are made unique and counted; the same question again is skipped."""
    import eval_vsi_bench

    def numeric(question: str, **fields) -> dict:
        return {**NUMERIC_ROW, 'question': f'How many {question}(s) are in this room?', **fields}

    turns = [
        {'from': 'human', 'value': '<image>\n' + official_prompt(NUMERIC_ROW)},
        {'from': 'gpt', 'value': '4'},
        {'from': 'human', 'value': 'How many table(s) are in this room?'},
        {'from': 'gpt', 'value': '2'},
    ]
    first = write_jsonl(
        scene / 'a.jsonl',
        [
            {**MC_ROW, 'id': 5},
            {**conversations_row(NUMERIC_ROW), 'id': 'm', 'conversations': turns},  # ids m and m_2
            numeric('sofa', id='m_2'),
        ],
    )
    second = write_jsonl(
        scene / 'dup.jsonl',
        [
            numeric('bed', id='dup:2'),
            numeric('door', id='5'),  # the string spelling of a.jsonl's 5
            {key: value for key, value in numeric('lamp').items() if key != 'id'},  # its id is made: dup:2
            {**MC_ROW, 'id': 5},  # a.jsonl's first row again
        ],
    )
    output = scene / 'out' / 'train.jsonl'
    summary = pp.preprocess([str(first), str(second)], str(output), config(scene))
    rows = read_jsonl(output)
    assert [r['id'] for r in rows] == ['5', 'm', 'm_2', 'm_2#2', 'dup:2', '5#2', 'dup:2#2']
    assert [r['messages'][0]['content'].split('\n')[1] for r in rows[3:]] == [
        'How many sofa(s) are in this room?',
        'How many bed(s) are in this room?',
        'How many door(s) are in this room?',
        'How many lamp(s) are in this room?',
    ]
    assert summary.skipped == {'duplicate_question': 1} and summary.renamed == {'duplicate_id': 3}
    assert summary.examples['duplicate_question'] == ["dup.jsonl:line 4: id '5': same question as a.jsonl:line 1"]
    assert summary.examples['duplicate_id'] == [
        "a.jsonl:line 3: id 'm_2' already used at a.jsonl:line 2 turn 2; written as 'm_2#2'",
        "dup.jsonl:line 2: id '5' already used at a.jsonl:line 1; written as '5#2'",
        "dup.jsonl:line 3: id 'dup:2' already used at dup.jsonl:line 1; written as 'dup:2#2'",
    ]
    assert any(
        line.startswith('  written under a new id: duplicate_id 3, e.g. a.jsonl:line 3') for line in summary.lines()
    )
    assert summary.rows_read + summary.extra_turns == summary.written + 1
    questions, _ = eval_vsi_bench.load_questions(str(output))  # refused clashing ids before
    assert [q.id for q in questions] == [r['id'] for r in rows]
    # --strict: the duplicate is found while reading, the renames once the rows to write are known
    with pytest.raises(pp.VsiDataError, match=r"^dup\.jsonl:line 4: duplicate_question: id '5': same .*\(--strict\)$"):
        pp.convert([str(first), str(second)], config(scene, strict=True))
    with pytest.raises(pp.VsiDataError, match=r"^a\.jsonl:line 3: duplicate_id: id 'm_2' already used .*\(--strict\)$"):
        pp.convert([str(first)], config(scene, strict=True))


def test_the_summary_counts_each_input_and_warns_about_an_empty_one(scene, caplog):
    """`read 1 rows from 3 file(s)` said nothing about the two files that held none, the wrong or cut-off files."""
    first = write_jsonl(scene / 'a.jsonl', [MC_ROW, {**NUMERIC_ROW, 'ground_truth': 'four'}, {**MC_ROW, 'id': 9}])
    (scene / 'empty.jsonl').write_text('', encoding='utf-8')
    (scene / 'empty_array.json').write_text('[]', encoding='utf-8')
    inputs = [str(first), str(scene / 'empty.jsonl'), str(scene / 'empty_array.json')]
    rows, summary = pp.convert(inputs, config(scene, max_per_type=1))
    assert [row['id'] for row in rows] == ['7']
    none = dict.fromkeys(('rows_read', 'extra_turns', 'written', 'skipped', 'dropped'), 0)
    assert summary.per_input == {
        'a.jsonl': {**none, 'rows_read': 3, 'written': 1, 'skipped': 1, 'dropped': 1},
        'empty.jsonl': none,
        'empty_array.json': none,
    }
    assert [r.getMessage() for r in caplog.records if 'holds no rows' in r.getMessage()] == [
        f'{scene / "empty.jsonl"} holds no rows',
        f'{scene / "empty_array.json"} holds no rows',
    ]
    assert (
        '  per input: a.jsonl read 3, wrote 1, skipped 1, dropped 1; '
        'empty.jsonl read 0, wrote 0, skipped 0, dropped 0; empty_array.json read 0, wrote 0, skipped 0, dropped 0'
    ) in summary.lines()


def test_a_file_given_twice_is_refused(scene, monkeypatch):
    """Read twice, each of its rows was then reported as a duplicate of itself."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW])
    (scene / 'link.jsonl').symlink_to(source)
    monkeypatch.chdir(scene)
    for again in (str(source), './qa.jsonl', str(scene / 'link.jsonl')):
        with pytest.raises(pp.VsiDataError) as error:
            pp.convert([str(source), again], config(scene))
        assert str(error.value) == f'--input_path: {again} is the same file as {source}; give each file once'


def test_the_documented_output_row_and_made_ids_are_what_is_written(scene):
    """The docstring's example row lacked `prompt_style` and said made ids hold the file name, extension and all."""
    rows, _ = pp.convert([str(write_jsonl(scene / 'train.jsonl', [{**NUMERIC_ROW, 'id': None}]))], config(scene))
    assert rows[0]['id'] == 'train:0' and '`<file name without its extension>:<index>` (`train:3`' in pp.__doc__
    example = re.search(r'Output rows \(JSONL, written atomically\)::\n\n(.*?)\n\n', pp.__doc__, re.DOTALL).group(1)
    assert set(rows[0]) <= set(re.findall(r'"(\w+)": ', example)) and '"prompt_style": "direct"' in example


def test_inputs_of_the_same_file_name_stay_apart(scene):
    """scannet/train.jsonl and arkitscenes/train.jsonl, rows without ids: each row's location and made id name its
    file by its path, so the two files' rows neither collide (train:0 twice, renamed) nor point at the same name."""
    (scene / 'scannet').mkdir()
    (scene / 'arkitscenes').mkdir()
    row = {key: value for key, value in NUMERIC_ROW.items() if key != 'id'}
    first = write_jsonl(scene / 'scannet' / 'train.jsonl', [row, {**row, 'ground_truth': 'many'}])
    second = write_jsonl(scene / 'arkitscenes' / 'train.jsonl', [{**row, 'question': 'How many bed(s)?'}])
    rows, summary = pp.convert([str(first), str(second)], config(scene, strict=False))
    assert [r['id'] for r in rows] == ['scannet/train:0', 'arkitscenes/train:0'] and not summary.renamed
    assert summary.examples['non_numeric_answer'][0].startswith('scannet/train.jsonl:line 2: ')


def test_only_the_rows_written_claim_ids(scene):
    """Two files numbering their rows from 0, capped to one row: the row written keeps its id, whichever it is, and
    --strict has no rename to refuse; and a row keeps its id however --shuffle orders the rows."""
    a = write_jsonl(scene / 'a.jsonl', [{**NUMERIC_ROW, 'id': 0}])
    b = write_jsonl(scene / 'b.jsonl', [{**NUMERIC_ROW, 'id': 0, 'question': 'How many bed(s) are in this room?'}])
    for seed in range(4):
        cfg = config(scene, max_per_type=1, shuffle=True, seed=seed, strict=True)
        (row,), summary = pp.convert([str(a), str(b)], cfg)
        assert row['id'] == '0' and not summary.renamed and summary.dropped == {'over_max_per_type': 1}
    orders = set()
    for seed in range(4):
        rows, _ = pp.convert([str(a), str(b)], config(scene, shuffle=True, seed=seed))
        assert {r['id']: r['messages'][0]['content'].count('bed') for r in rows} == {'0': 0, '0#2': 1}
        orders.add(tuple(r['id'] for r in rows))
    assert len(orders) == 2  # the seeds did shuffle


def test_the_output_may_not_be_an_input_or_a_folder(scene, capsys):
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    original = source.read_bytes()
    (scene / 'link.jsonl').symlink_to(source)
    (scene / 'adir').mkdir()
    base = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--num_frames', '4', '--no_progress']
    for output in (source, scene / 'link.jsonl', scene / 'adir' / '..' / 'qa.jsonl'):
        assert pp.main([*base, '--output_path', str(output)]) == 1
        assert (
            capsys.readouterr().err
            == f'error: --output_path: {output} is the input file {source}; write the output elsewhere\n'
        )
    assert source.read_bytes() == original
    assert pp.main([*base, '--output_path', str(scene / 'adir')]) == 1
    assert (
        capsys.readouterr().err == f'error: --output_path: {scene / "adir"} is a folder; name the JSONL file to write\n'
    )
    assert sorted(p.name for p in scene.iterdir()) == ['adir', 'frames', 'link.jsonl', 'qa.jsonl']
    assert list((scene / 'adir').iterdir()) == []


def test_an_output_folder_that_cannot_be_written_is_refused_before_the_conversion(scene, capsys, monkeypatch):
    """Found at the write, it used to cost the whole conversion and the error named no flag; --clips_dir's too."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW])
    (scene / 'a_file').write_text('', encoding='utf-8')
    monkeypatch.setattr(pp, 'convert', lambda *args: pytest.fail('converted before the output folder was checked'))
    for output, why in ((scene / 'a_file' / 'out.jsonl', 'Not a directory'), (Path('/proc/x/out.jsonl'), 'No such')):
        args = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--output_path', str(output)]
        assert pp.main([*args, '--num_frames', '4', '--no_progress']) == 1
        assert capsys.readouterr().err.startswith(
            f'error: --output_path: cannot write to the folder {output.parent} ({why}'
        )
    args = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--output_path', str(scene / 'o.jsonl')]
    clips = scene / 'a_file' / 'clips'  # written during the conversion: checked before it too
    assert pp.main([*args, '--num_frames', '4', '--no_progress', '--media', 'video', '--clips_dir', str(clips)]) == 1
    assert capsys.readouterr().err.startswith(f'error: --clips_dir: cannot write to the folder {clips} (Not a dir')
    assert sorted(p.name for p in scene.iterdir()) == ['a_file', 'frames', 'qa.jsonl']
    # a link to a disk not mounted: the walk up to an existing folder passed it (os.path.exists) and the write failed
    (scene / 'gone').symlink_to(scene / 'unmounted')
    for output in (scene / 'gone' / 'out.jsonl', scene / 'gone' / 'deeper' / 'out.jsonl'):
        args = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--output_path', str(output)]
        assert pp.main([*args, '--num_frames', '4', '--no_progress']) == 1
        assert capsys.readouterr().err == (
            f'error: --output_path: cannot write to the folder {output.parent}: {scene / "gone"} is a link to '
            f'{scene / "unmounted"}, which does not exist (a disk not mounted?)\n'
        )
    assert not (scene / 'unmounted').exists()


def test_the_output_may_not_be_an_exclusion_list_or_end_in_a_slash(scene, capsys):
    """Written over, the benchmark's scene list would next time exclude the training scenes instead; `out/` would fail
    only after the whole conversion, leaving a folder behind."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    benchmark = write_jsonl(scene / 'test.jsonl', [{**NUMERIC_ROW, 'scene_name': 'scene0999_00'}])
    original = benchmark.read_bytes()
    base = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--num_frames', '4', '--no_progress']
    assert pp.main([*base, '--exclude_scenes', str(benchmark), '--output_path', str(benchmark)]) == 1
    assert capsys.readouterr().err == (
        f'error: --output_path: {benchmark} is the --exclude_scenes file {benchmark}; write the output elsewhere\n'
    )
    assert benchmark.read_bytes() == original
    folder = f'{scene / "nodir"}/'
    assert pp.main([*base, '--output_path', folder]) == 1
    assert capsys.readouterr().err == f'error: --output_path: {folder} names a folder; name the JSONL file to write\n'
    assert sorted(p.name for p in scene.iterdir()) == ['frames', 'qa.jsonl', 'test.jsonl']


def test_the_output_must_be_named_as_swift_reads_json_rows(scene, capsys):
    """swift picks its reader by the exact suffix: `train`, `train.txt` or `train.JSONL` were written without a word
    and failed to load in swift (an IndexError, every row dropped as text, a ValueError)."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW])
    base = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--num_frames', '4', '--no_progress']
    for name in ('train', 'train.txt', 'train.JSONL', '.jsonl'):  # `.jsonl` alone has no suffix for swift either
        assert pp.main([*base, '--output_path', str(scene / name)]) == 1
        assert capsys.readouterr().err == (
            f'error: --output_path: {scene / name} does not end in .jsonl or .json, by which swift reads a dataset '
            'file as JSON rows; name it train.jsonl or the like\n'
        )
    assert sorted(p.name for p in scene.iterdir()) == ['frames', 'qa.jsonl']
    assert pp.main([*base, '--output_path', str(scene / 'train.json')]) == 0
    assert [row['solution'] for row in map(json.loads, (scene / 'train.json').open())] == [MC_ROW['ground_truth']]


def test_an_output_that_would_take_another_files_summary_is_refused(scene, capsys):
    """The summary is named without the suffix: writing train.jsonl beside train.json replaced train.json's summary
    without a word, and with it the check that train.json's frames have not changed since it was written."""
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    base = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--num_frames', '4', '--no_progress']
    first, second, summary = scene / 'train.json', scene / 'train.jsonl', scene / 'train.summary.json'
    assert pp.main([*base, '--output_path', str(first)]) == 0
    saved = summary.read_bytes()
    capsys.readouterr()
    assert pp.main([*base, '--output_path', str(second)]) == 1
    assert capsys.readouterr().err == (
        f'error: --output_path: {second} would share its summary {summary} with {first}, which it describes now (the '
        f'summary is named without the suffix); name the output otherwise, or remove {first} first\n'
    )
    assert summary.read_bytes() == saved and not second.exists()
    assert pp.main([*base, '--output_path', str(first)]) == 0  # its own summary is replaced as before
    first.write_text(first.read_text(encoding='utf-8') + '\n', encoding='utf-8')  # edited: the summary is no longer its
    assert pp.main([*base, '--output_path', str(second)]) == 0  # nothing to lose
    assert json.loads(summary.read_text(encoding='utf-8'))['output'] == str(second)
    assert pp.main([*base, '--output_path', str(first)]) == 1  # now train.jsonl's summary is the one at stake
    second.unlink()  # the file it described is gone: nothing to lose
    assert pp.main([*base, '--output_path', str(first)]) == 0


@pytest.mark.parametrize(
    'text, row',
    [
        ('', None),
        ('\n  \n\n', None),
        ('[]', None),
        (' [ \n ]', None),
        ('\n{"a": 1}\n{"b": 2}\n', {'a': 1}),
        ('[{"a": 1},\n {"b": 2}]', {'a': 1}),
        ('\ufeff{"a": 1}\n', {'a': 1}),
        ('[3]', 3),
    ],
)
def test_first_json_row_reads_lines_or_a_list_and_finds_none_in_blank_files(tmp_path, text, row):
    path = tmp_path / 'rows.jsonl'
    path.write_text(text, encoding='utf-8')
    assert pp.first_json_row(str(path)) == row


def test_first_json_row_gives_up_on_a_file_that_does_not_start_with_json(tmp_path, monkeypatch):
    """A first row that never decodes was read to the end of the file, the text growing a megabyte at a time (12 s for
    200 MB); a deeply nested one raised RecursionError, which no caller catches."""
    monkeypatch.setattr(pp, 'FIRST_ROW_MAX_BYTES', 3 << 20)
    path = tmp_path / 'rows.jsonl'
    with path.open('w') as f:
        f.write('{"a": "' + 'x' * (8 << 20))  # an unterminated string, 8 MB
    reads = []
    real_open = open

    def counting_open(*args, **kwargs):
        handle = real_open(*args, **kwargs)
        read = handle.read
        handle.read = lambda size=-1: reads.append(size) or read(size)
        return handle

    monkeypatch.setattr('builtins.open', counting_open)
    with pytest.raises(ValueError, match='Unterminated string'):
        pp.first_json_row(str(path))
    monkeypatch.undo()
    assert len(reads) == 3  # 3 MB read, not 8
    path.write_text('[' * 100_000, encoding='utf-8')
    with pytest.raises(
        pp.VsiDataError, match=f'^{re.escape(str(path))} cannot be read as a dataset: its first row is '
    ):
        pp.first_json_object(str(path))


def test_first_json_object_names_the_file_and_what_is_wrong(tmp_path):
    path = tmp_path / 'rows.jsonl'
    for text, problem in (
        ('\n\n', 'has no rows'),
        ('[1]', 'does not hold JSON rows (objects): its first row is int'),
        ('{"a": \n', 'cannot be read as a dataset: Expecting value: line 2 column 1 (char 7)'),
    ):
        path.write_text(text, encoding='utf-8')
        with pytest.raises(pp.VsiDataError, match=f'^{re.escape(f"{path} {problem}")}$'):
            pp.first_json_object(str(path))
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(pp.VsiDataError, match=f'^{re.escape(str(path))} cannot be read as a dataset: .utf-8. codec'):
        pp.first_json_object(str(path))


def test_a_tilde_in_the_path_flags_is_the_home_folder(tmp_path, monkeypatch, capsys):
    """bash leaves `~` unexpanded after `=` and in quotes: `--output_path=~/p.jsonl` wrote to ./~/p.jsonl."""
    home, cwd = tmp_path / 'home', tmp_path / 'cwd'
    make_frames(home / 'frames' / 'scannet' / 'scene0001_00', 4)
    write_jsonl(home / 'qa.jsonl', [MC_ROW])
    cwd.mkdir()
    monkeypatch.setenv('HOME', str(home))
    monkeypatch.chdir(cwd)
    paths = ['--input_path=~/qa.jsonl', '--frames_dir=~/frames', '--output_path=~/out/train.jsonl']
    argv = [*paths, '--media', 'video', '--clips_dir=~/clips', '--num_frames', '4', '--no_progress']
    assert pp.main(argv) == 0
    (row,) = read_jsonl(home / 'out' / 'train.jsonl')
    (clip,) = (home / 'clips' / 'scannet').iterdir()
    assert row['videos'] == [f'../clips/scannet/{clip.name}'] and clip.name.startswith('scene0001_00_')
    assert list(cwd.iterdir()) == []
    capsys.readouterr()
    assert pp.main([*argv, '--exclude_scenes', '~/qa.jsonl']) == 1  # its one scene excluded: no row left
    assert "excluded_scene 1, e.g. qa.jsonl:line 1: scene 'scene0001_00'" in capsys.readouterr().err


# Cases found by mutation testing of the pure functions (each kills a mutant that the tests above let through).


@pytest.mark.parametrize(
    ('settings', 'message'),
    [
        ({'num_frames': 0}, r'^--num_frames must be at least 1, got 0$'),
        ({'prompt_style': 'cot'}, r"^--prompt_style must be one of \('direct', 'think'\), got 'cot'$"),
        ({'media': 'videos'}, r"^--media must be one of \('image', 'video'\), got 'videos'$"),
        ({'path_mode': 'rel'}, r"^--path_mode must be one of \('relative', 'absolute'\), got 'rel'$"),
        ({'max_per_type': 0}, r'^--max_per_type must be at least 1, got 0$'),
        ({'video_fps': 0.0001}, r'^--video_fps must be a frame rate of at least 0.001, got 0.0001$'),  # images too
        ({'frames_dir': '/no/such/folder'}, r'^--frames_dir /no/such/folder is not a folder; run extract_frames.py'),
    ],
)
def test_the_settings_the_cli_refuses_are_refused_by_the_config_too(scene, settings, message):
    """vsi_dataset.py builds a PreprocessConfig from environment variables, without the CLI's argparse choices."""
    kwargs = {'frames_dir': str(scene / 'frames'), 'num_frames': 4, 'base_dir': str(scene / 'out'), **settings}
    with pytest.raises(pp.VsiDataError, match=message):
        pp.PreprocessConfig(progress=False, **kwargs)


def test_the_least_settings_allowed_convert(scene):
    rows, summary = pp.convert(
        [str(write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW]))], config(scene, num_frames=1, max_per_type=1)
    )
    # one frame: round(linspace(0, 9, 1)) = frame 0
    assert [row['images'] for row in rows] == [['../frames/scannet/scene0001_00/frame_0000.jpg']] * 2
    assert summary.written == 2 and not summary.dropped


def test_summary_lines_name_every_note():
    summary = pp.Summary(
        inputs=['/data/qa.jsonl'],
        rows_read=3,
        written=2,
        scenes=1,
        seconds=0.5,
        rows_per_second=6.0,
        scenes_with_fewer_frames=['s0', 's1', 's2', 's3', 's4', 's5'],
        scenes_with_more_frames=['scannet/a', 'scannet/b'],
        question_types_not_found=['route_planning', 'room_size'],
        unknown_question_types={'my_type': 2, 'another_type': 1},
        video_env={'FPS': '2', 'FPS_MAX_FRAMES': '32'},
        clips_written=1,
        clips_reused=3,
        stale_temps_removed=2,
    )
    assert summary.lines() == [
        'read 3 rows from 1 file(s); wrote 2 rows (1 scenes, 0.50 s, 6 rows/s)',
        '  6 scene(s) used fewer than the requested frames: s0, s1, s2, s3, s4',
        '  2 scene(s) have more frames than --num_frames, e.g. scannet/a: an even subset of the extracted frames is '
        "used, which is not round(linspace(0, n - 1, num_frames)) over the video's n frames, the benchmark's "
        'sampling; extract_frames.py with the same --num_frames gives exactly those',
        '  --question_types not found in the input: route_planning, room_size',
        '  question types outside VSI-Bench and its training variants (multiple choice when they have options): '
        'another_type 1, my_type 2',
        '  clips: 1 written, 3 reused; train with FPS=2 and FPS_MAX_FRAMES>=32 so every frame is used',
        '  removed 2 temporary file(s) left by killed runs',
    ]


@pytest.mark.parametrize(
    ('prompt', 'question', 'options'),
    [
        # two candidates (object_rel_distance_v3) without an `Options:` line are still the options
        (
            f'{PRE}\nWhich is closer to the bed?\nA. chair\nB. table\n{MC_POST}',
            'Which is closer to the bed?',
            ['A. chair', 'B. table'],
        ),
        # one `A. ...` line is no options block
        (f'{PRE}\nHow far is it?\nA. sofa\n{NUMERIC_POST}', 'How far is it?\nA. sofa', None),
        # nothing but options: no question (row_to_question skips it as missing_field)
        ('<image>\nA. chair\nB. table', '', ['A. chair', 'B. table']),
        # the last `Options:` line starts the options block
        ('Q?\nOptions:\nA. a\nOptions:\nA. b\nB. c', 'Q?\nOptions:\nA. a', ['A. b', 'B. c']),
    ],
)
def test_parse_prompt_edge_cases(prompt, question, options):
    assert pp.parse_prompt(prompt) == (question, options)


def test_row_values_at_the_edges_are_skipped_or_kept_as_documented(scene):
    long_id = ['x' * 56]  # its repr is 60 characters: shown whole
    longer_id = ['x' * 57]  # 61: cut to 57 and `...`
    no_scene = {key: value for key, value in conversations_row(NUMERIC_ROW).items() if key != 'scene_name'}
    rows = [
        {**NUMERIC_ROW, 'id': 1, 'ground_truth': math.inf},  # json writes a bare Infinity
        {**NUMERIC_ROW, 'id': math.inf},
        {**NUMERIC_ROW, 'id': long_id},
        {**NUMERIC_ROW, 'id': longer_id},
        # mc_answer decides; a ground_truth that names no option is another wording of it
        {**MC_ROW, 'id': 5, 'mc_answer': 'B', 'ground_truth': 'to my right'},
        # a conversation without scene_name takes its scene from its (first) video
        {**no_scene, 'id': '6', 'video': ['scannet/scene0001_00.mp4', 'scannet/scene0999_00.mp4']},
    ]
    out, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene))
    assert [(r['id'], r['solution'], r['scene_name']) for r in out] == [
        ('5', 'B', 'scene0001_00'),
        ('6', '4', 'scene0001_00'),
    ]
    assert summary.skipped == {'non_numeric_answer': 1, 'bad_id': 3}
    assert summary.examples['non_numeric_answer'] == [
        "qa.jsonl:line 1: object_counting answer 'Infinity' is not a number"
    ]
    assert summary.examples['bad_id'] == [
        'qa.jsonl:line 2: id is not a finite number: inf',
        f"qa.jsonl:line 3: id is a list, not text or a number: ['{'x' * 56}']",
        f"qa.jsonl:line 4: id is a list, not text or a number: ['{'x' * 55}...",
    ]


@pytest.mark.parametrize(
    ('text', 'message'),
    [
        ('{"id": 1,\n"question": }\n', r'qa.jsonl: line 1 is not valid JSON'),  # the whole file is no object either
    ],
)
def test_malformed_rows_are_errors_naming_the_line(scene, text, message):
    (scene / 'qa.jsonl').write_text(text, encoding='utf-8')
    with pytest.raises(pp.VsiDataError, match=message):
        pp.convert([str(scene / 'qa.jsonl')], config(scene))


def test_malformed_rows_are_counted_naming_the_line_and_the_json_type(scene):
    """One row that is no object, or whose conversation is none, used to stop the whole run; a row with a null
    question was counted: both are problems with one row, counted (errors under --strict) in the file's words."""
    lines = [
        json.dumps(MC_ROW),
        'null',
        '[1, 2]',
        '"str"',
        json.dumps({**conversations_row(NUMERIC_ROW), 'conversations': 'hello'}),
        json.dumps({**conversations_row(NUMERIC_ROW), 'conversations': ['hi']}),
        json.dumps({**MC_ROW, 'id': 9, 'messages': {'role': 'user'}}),  # a swift row's messages
    ]
    source = scene / 'qa.jsonl'
    source.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    rows, summary = pp.convert([str(source)], config(scene))
    assert [row['id'] for row in rows] == ['7'] and summary.rows_read == 7
    assert summary.skipped == {'malformed_row': 6}
    assert summary.examples['malformed_row'] == [
        'qa.jsonl:line 2: expected a JSON object, got null',
        'qa.jsonl:line 3: expected a JSON object, got an array',
        'qa.jsonl:line 4: expected a JSON object, got a string',
        'qa.jsonl:line 5: conversation is not an array of objects but a string',
        'qa.jsonl:line 6: conversation is not an array of objects but an array holding other values',
    ]
    with pytest.raises(pp.VsiDataError) as error:
        pp.convert([str(source)], config(scene, strict=True))
    assert str(error.value) == 'qa.jsonl:line 2: malformed_row: expected a JSON object, got null (--strict)'


def test_an_exclusion_file_may_be_a_json_list_of_scene_names(scene, capsys):
    """`json.dump(sorted(scenes))` is how a script saves a list: it was refused as rows that are no objects, naming
    neither the flag nor the file's path."""
    listed = write_jsonl(scene / 'scenes.jsonl', ['SCANNET/scene0001_00.mp4', ''])
    (scene / 'scenes.json').write_text(json.dumps(['scene0002_00', 'scene0003_00']), encoding='utf-8')
    names = pp.load_scene_names(str(scene / 'scenes.json'), str(listed))
    assert names == {'scene0002_00', 'scene0003_00', 'SCANNET/scene0001_00.mp4'}
    source = write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW])
    rows, summary = pp.convert([str(source)], config(scene, exclude_scenes=names))
    assert rows == [] and summary.dropped == {'excluded_scene': 2}
    # ARKitScenes names are numbers: a list of them dumped from Python holds ints (or floats, through pandas)
    (scene / 'arkit.json').write_text(json.dumps([41069025, 42445173.0, 'scene0002_00']), encoding='utf-8')
    assert pp.load_scene_names(str(scene / 'arkit.json')) == {'41069025', '42445173', 'scene0002_00'}
    base = ['--input_path', str(source), '--frames_dir', str(scene / 'frames'), '--output_path', str(scene / 'o.jsonl')]
    for entries, problem in (
        (['scene0002_00', 7.5], 'expected a scene name or a row (a JSON object), got a number'),
        (['scene0002_00', True], 'expected a scene name or a row (a JSON object), got a boolean'),
        (['scene0002_00, scene0003_00'], "'scene0002_00, scene0003_00' is not one scene: list each scene on its own"),
    ):
        (scene / 'bad.json').write_text(json.dumps(entries), encoding='utf-8')
        assert pp.main([*base, '--exclude_scenes', str(scene / 'bad.json'), '--no_progress']) == 1
        row = len(entries) - 1
        assert capsys.readouterr().err == f'error: --exclude_scenes: {scene / "bad.json"}[row {row}]: {problem}\n'


@pytest.mark.parametrize(
    ('rows', 'scenes'),
    [
        ([{'id': 1, 'video': 'scannet/scene0001_00.mp4'}], {'scene0001_00'}),  # no layout, no scene_name: its video
        ([{**MC_ROW, 'video': 'scannet/scene0002_00.mp4'}], {'scene0001_00'}),  # scene_name comes first
    ],
)
def test_exclusion_rows_name_their_scene_by_scene_name_else_video(scene, rows, scenes):
    assert pp.load_scene_names(str(write_jsonl(scene / 'test.jsonl', rows))) == scenes


def test_a_frame_folder_that_cannot_be_listed_is_an_error_not_missing_frames(scene):
    """Only a missing folder or a name too long for one means `no frames`; other errors (here a link loop) stop."""
    folder = scene / 'frames' / 'scannet' / 'scene0003_00'
    folder.symlink_to(folder)
    source = write_jsonl(scene / 'qa.jsonl', [{**NUMERIC_ROW, 'scene_name': 'scene0003_00'}])
    with pytest.raises(OSError) as raised:
        pp.convert([str(source)], config(scene))
    assert raised.value.errno == errno.ELOOP


def test_videos_at_the_top_of_frames_dir_are_named_too(tmp_path):
    (tmp_path / 'videos').mkdir()
    (tmp_path / 'videos' / 'scene0001_00.mp4').write_bytes(b'not decoded')
    cfg = pp.PreprocessConfig(frames_dir=str(tmp_path / 'videos'), num_frames=4, progress=False)
    _, summary = pp.convert([str(write_jsonl(tmp_path / 'qa.jsonl', [NUMERIC_ROW]))], cfg)
    (message,) = summary.examples['missing_frames']
    assert 'holds videos (scene0001_00.mp4), not the frame folders' in message


def test_a_scene_in_two_dataset_folders_needs_the_rows_dataset(scene):
    make_frames(scene / 'frames' / 'arkitscenes' / 'scene0001_00', 4)
    rows = [NUMERIC_ROW, {**NUMERIC_ROW, 'id': 9, 'dataset': None}]
    out, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene))
    assert [(r['id'], r['images'][0]) for r in out] == [('8', '../frames/scannet/scene0001_00/frame_0000.jpg')]
    assert summary.examples['missing_frames'] == [
        "qa.jsonl:line 2: scene 'scene0001_00' has frames in several folders (arkitscenes/scene0001_00, "
        'scannet/scene0001_00); give the row a dataset'
    ]


def test_a_swift_rows_scene_name_comes_before_its_media_folder(scene):
    """A swift row's scene is its scene_name; the folder of its first frame only stands in for a missing one. Frame
    paths of an earlier run under another folder name must not decide which scene's frames the row gets."""
    output = scene / 'out' / 'train.jsonl'
    pp.preprocess([str(write_jsonl(scene / 'qa.jsonl', [NUMERIC_ROW]))], str(output), config(scene))
    (row,) = read_jsonl(output)
    moved = {**row, 'images': [path.replace('scene0001_00', 'old_copy') for path in row['images']]}
    out, summary = pp.convert([str(write_jsonl(scene / 'swift.jsonl', [moved]))], config(scene))
    # 10 frames, 4 chosen: 0, 3, 6 and 9
    frames = [f'../frames/scannet/scene0001_00/frame_{i:04d}.jpg' for i in (0, 3, 6, 9)]
    assert [(r['scene_name'], r['images']) for r in out] == [('scene0001_00', frames)]
    assert not summary.skipped


def test_the_summary_times_the_conversion(scene):
    _, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', [MC_ROW, NUMERIC_ROW]))], config(scene))
    assert summary.rows_read == 2 and summary.seconds > 0
    assert summary.rows_per_second == pytest.approx(2 / summary.seconds)


def test_an_input_with_no_row_to_write_is_an_error_saying_why(scene):
    """Nothing is written (no empty output, no summary); the error holds the summary's lines, joined by `; `."""
    source = write_jsonl(scene / 'qa.jsonl', [{**NUMERIC_ROW, 'scene_name': 'scene0404_00'}])
    output = scene / 'out' / 'train.jsonl'
    with pytest.raises(pp.VsiDataError) as error:
        pp.preprocess([str(source)], str(output), config(scene))
    frames = scene / 'frames'
    assert re.fullmatch(
        re.escape('no rows to write: read 1 rows from 1 file(s); wrote 0 rows (0 scenes, ')
        + r'\d+\.\d\d s, [\d,]+ rows/s\)'
        + re.escape(
            '; questions parsed, by layout: benchmark 1'
            "; skipped (problems): missing_frames 1, e.g. qa.jsonl:line 1: no frames for scene 'scene0404_00' "
            f'in {frames}/scannet/scene0404_00 or {frames}/scene0404_00'
        ),
        str(error.value),
    ), str(error.value)
    assert not output.exists() and not (scene / 'out' / 'train.summary.json').exists()


def test_the_chosen_frames_of_a_folder_are_checked_once(scene, monkeypatch):
    """One stat per chosen frame, once per folder: the rows after the first on a damaged folder reuse its verdict."""
    (scene / 'frames' / 'scannet' / 'scene0001_00' / 'frame_0003.jpg').write_bytes(b'')
    checked = []
    has_bytes = pp._has_bytes
    monkeypatch.setattr(pp, '_has_bytes', lambda path: checked.append(Path(path).name) or has_bytes(path))
    rows = [{**NUMERIC_ROW, 'id': i} for i in range(3)]
    out, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene))
    assert out == [] and summary.skipped == {'missing_frames': 3}
    # 10 frames, 4 chosen (0, 3, 6, 9): the check stops at the first empty one
    assert checked == ['frame_0000.jpg', 'frame_0003.jpg']


def test_summary_lines_count_layouts_types_and_every_reason():
    summary = pp.Summary(
        inputs=['/data/a.jsonl', '/data/b.jsonl'],
        rows_read=5,
        extra_turns=1,
        written=3,
        output='/out/train.jsonl',
        scenes=2,
        seconds=0.004,
        rows_per_second=1250.0,
        layouts={'swift': 1, 'benchmark': 5},
        per_type={'room_size': 1, 'object_counting': 2},
        skipped={'missing_frames': 2, 'bad_id': 1},
        dropped={'excluded_scene': 1},
        renamed={'duplicate_id': 1},
        examples={
            'missing_frames': ['a.jsonl:line 2: no frames', 'a.jsonl:line 3: no frames'],
            'bad_id': ['a.jsonl:line 4: id is empty'],
            'excluded_scene': ["b.jsonl:line 1: scene 'scene0000_00'"],
            'duplicate_id': ["b.jsonl:line 2: id '1' already used at a.jsonl:line 1; written as '1#2'"],
        },
        settings={'exclude_scenes': 1},
    )
    assert summary.lines() == [
        'read 5 rows from 2 file(s) (+1 questions from later conversation turns); wrote 3 rows to /out/train.jsonl '
        '(2 scenes, 0.00 s, 1,250 rows/s)',
        '  questions parsed, by layout: benchmark 5, swift 1',
        '  per type: object_counting 2, room_size 1',
        '  skipped (problems): bad_id 1, e.g. a.jsonl:line 4: id is empty',
        '  skipped (problems): missing_frames 2, e.g. a.jsonl:line 2: no frames',
        "  dropped (by choice): excluded_scene 1, e.g. b.jsonl:line 1: scene 'scene0000_00'",
        "  written under a new id: duplicate_id 1, e.g. b.jsonl:line 2: id '1' already used at a.jsonl:line 1; "
        "written as '1#2'",
    ]


def test_a_json_list_after_a_blank_line_names_the_line_that_is_not_utf8(scene):
    source = scene / 'blank.json'
    source.write_bytes(b'\n[\n{"question": "caf\xe9"}]')  # the bad byte is on line 3
    with pytest.raises(pp.VsiDataError, match=r'blank.json: line 3 is not valid UTF-8'):
        pp.convert([str(source)], config(scene))


def test_inputs_of_different_file_names_are_named_by_their_file_names(scene):
    (scene / 'scannet').mkdir()
    (scene / 'arkitscenes').mkdir()
    row = {key: value for key, value in NUMERIC_ROW.items() if key != 'id'}
    first = write_jsonl(scene / 'scannet' / 'train.jsonl', [row])
    second = write_jsonl(scene / 'arkitscenes' / 'val.jsonl', [{**row, 'ground_truth': 'many'}])
    rows, summary = pp.convert([str(first), str(second)], config(scene))
    assert [r['id'] for r in rows] == ['train:0']
    assert summary.examples['non_numeric_answer'][0].startswith('val.jsonl:line 1: ')


def test_a_huge_integer_id_and_a_video_list_with_a_later_non_text_entry_are_read(scene):
    """An integer id beyond a float's range is its digits; a conversation's scene comes from its first video, whatever
    the later entries of the list hold."""
    no_scene = {key: value for key, value in conversations_row(NUMERIC_ROW).items() if key != 'scene_name'}
    rows = [
        {**NUMERIC_ROW, 'id': 10**400},
        {**no_scene, 'id': '2', 'video': ['scannet/scene0001_00.mp4', None]},
    ]
    out, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene))
    assert [(r['id'], r['scene_name']) for r in out] == [('1' + '0' * 400, 'scene0001_00'), ('2', 'scene0001_00')]
    assert not summary.skipped


def test_nan_in_an_object_spread_over_lines_is_null_as_everywhere(scene):
    """A NaN cell is null: a wrapped row whose only fields are NaN holds no question, so the error names no key."""
    source = scene / 'wrapped.jsonl'
    source.write_text('{\n  "rows": [{"question": NaN, "scene_name": NaN}]\n}\n', encoding='utf-8')
    with pytest.raises(pp.VsiDataError) as error:
        pp.convert([str(source)], config(scene))
    assert str(error.value) == (
        f'{source}: the top level is a JSON object; expected a list of rows or one row per line (JSONL)'
    )


@pytest.mark.parametrize(
    'lines, problem',
    [
        # options null in the first block (the first line), a list on line 3, spaced as other writers space it
        (
            ['{"id": "1", "options": null}', '{"id": "2", "options": null}', '{"id": "3", "options" : [ "A. x"]}'],
            "column 'options' is null on every row of its first 0 MB (lines 1-1), whose rows fix the columns of the "
            '`datasets` library swift loads it with, but line 3 has it',
        ),
        # missing from the first block: even a null later changes the columns
        (['{"id": "1"}', '{"id": "2", "solution": null}'], "column 'solution' is on no row of its first 0 MB"),
        # null later too, a list first, the name only inside a string, or a JSON array (read whole): nothing to say
        (['{"id": "1", "options": null}', '{"id": "2", "options": null}'], None),
        (['{"id": "1", "options": ["A. x"]}', '{"id": "2", "options": null}', '{"options": ["B. y"]}'], None),
        (['{"messages": "", "options": null}', '{"messages": "say \\"options\\": [1]", "options": null}'], None),
        (['[{"id": "1", "options": null},', '{"id": "2", "options": ["A. x"]}]'], None),
    ],
)
def test_column_types_problem_by_hand(tmp_path, monkeypatch, lines, problem):
    monkeypatch.setattr(pp, 'JSON_LINES_BLOCK_BYTES', 5)  # the first line is the first block
    path = tmp_path / 'rows.jsonl'
    path.write_text(''.join(line + '\n' for line in lines), encoding='utf-8')
    found = pp.column_types_problem(str(path))
    assert found == problem if problem is None else found.startswith(f'{path}: {problem}')


def test_column_types_problem_reads_a_file_once_until_it_changes(tmp_path, monkeypatch):
    """The launchers' preflight checks VSI_TRAIN_JSONL twice (as a dataset and as vsi_train's loader does): seconds
    each for gigabytes, so the second check reuses the first while the file's size and mtime are unchanged."""
    monkeypatch.setattr(pp, 'JSON_LINES_BLOCK_BYTES', 5)  # the first line is the first block
    reads = []

    def counted_open(file, *args, **kwargs):
        reads.append(file)
        return open(file, *args, **kwargs)  # noqa: SIM115 (the caller's `with` closes it)

    monkeypatch.setattr(pp, 'open', counted_open, raising=False)
    path = tmp_path / 'rows.jsonl'
    path.write_text('{"id": "1", "options": null}\n{"id": "2", "options": null}\n', encoding='utf-8')
    assert pp.column_types_problem(str(path)) is None
    assert pp.column_types_problem(str(path)) is None and reads == [str(path)]
    monkeypatch.setattr(pp, 'JSON_LINES_BLOCK_BYTES', 1 << 20)  # another block size is another answer: read again
    assert pp.column_types_problem(str(path)) is None and reads == [str(path)] * 2
    monkeypatch.setattr(pp, 'JSON_LINES_BLOCK_BYTES', 5)
    with path.open('a', encoding='utf-8') as f:  # now a later row gives options a type: found, read again
        f.write('{"id": "3", "options": ["A. x"]}\n')
    assert "column 'options' is null on every row" in pp.column_types_problem(str(path))
    os.utime(path, ns=(1, 1))  # the same size, another mtime: read again
    assert 'line 3 has it' in pp.column_types_problem(str(path)) and reads == [str(path)] * 4


@pytest.mark.parametrize(
    ('answer', 'solution', 'skipped'),
    [(decimal.Decimal('2.50'), '2.50', None), (b'3', None, 'non_numeric_answer')],
)
def test_parquet_decimal_and_binary_answers(scene, answer, solution, skipped):
    """pyarrow gives a decimal column as Decimal and a binary one as bytes; both stopped the run with a traceback
    (`Object of type Decimal is not JSON serializable`). A decimal is the number it stores; bytes are no answer."""
    row = {**NUMERIC_ROW, 'question_type': 'object_abs_distance'}
    column = pa.array([answer], type=pa.decimal128(5, 2) if solution else pa.binary())
    table = pa.Table.from_pylist([{k: v for k, v in row.items() if k not in ('ground_truth', 'options')}])
    pq.write_table(table.append_column('ground_truth', column), scene / 'qa.parquet')
    rows, summary = pp.convert([str(scene / 'qa.parquet')], config(scene))
    assert [r['solution'] for r in rows] == ([solution] if solution else [])
    assert dict(summary.skipped) == ({skipped: 1} if skipped else {})


@pytest.mark.parametrize('as_list', [False, True])
@pytest.mark.parametrize(
    ('field', 'problem'),
    [('[' * 5000 + ']' * 5000, 'nested too deeply for Python to decode'), ('9' * 4301, 'Exceeds the limit')],
)
def test_json_python_cannot_decode_is_named_with_its_line(scene, as_list, field, problem):
    """Valid JSON that json.loads still refuses (Python's recursion limit, its 4,300-digit limit on integers) stopped
    the run with a traceback naming no file."""
    good = json.dumps(NUMERIC_ROW)
    bad = good[:-1] + f', "meta": {field}}}'
    path = scene / 'qa.jsonl'
    path.write_text('[' + good + ',\n' + bad + ']\n' if as_list else good + '\n' + bad + '\n', encoding='utf-8')
    where = 'the JSON list cannot be read' if as_list else 'line 2 cannot be read'
    with pytest.raises(pp.VsiDataError, match=f'^{re.escape(str(path))}: {where} \\(.*{problem}'):
        pp.convert([str(path)], config(scene))


def test_a_swift_row_answers_by_ground_truth_without_solution(scene):
    """vsi_reward reads `ground_truth` where a row has no `solution`; preprocess skipped such a row (no answer)."""
    images = [f'frames/scannet/scene0001_00/frame_{i:04d}.jpg' for i in range(4)]
    row = {
        'messages': [{'role': 'user', 'content': '<image>' * 4 + official_prompt(NUMERIC_ROW)}],
        'images': images,
        'ground_truth': '4',
        'question_type': 'object_counting',
        'scene_name': 'scene0001_00',
        'id': 'x',
    }
    rows, summary = pp.convert([str(write_jsonl(scene / 'swift.jsonl', [row]))], config(scene))
    assert [(r['solution'], r['messages'][1]['content']) for r in rows] == [('4', '4')] and not summary.skipped


def test_a_row_level_ground_truth_belongs_to_the_last_turn_only(scene):
    """A swift row's `ground_truth` (its answer where it has no `solution`) labelled every earlier turn too."""
    swift = {
        'messages': [
            {'role': 'user', 'content': '<image>' + official_prompt(NUMERIC_ROW)},
            {'role': 'assistant', 'content': '4'},
            {'role': 'user', 'content': 'How many table(s) are in this room?'},
            {'role': 'assistant', 'content': '2'},
        ],
        'ground_truth': '2',
        'question_type': NUMERIC_ROW['question_type'],
        'scene_name': 'scene0001_00',
        'id': 's',
    }
    source = write_jsonl(scene / 'qa.jsonl', [swift])
    rows, _ = pp.convert([str(source)], config(scene))
    assert [(r['id'], r['solution']) for r in rows] == [('s', '4'), ('s_2', '2')]


# ----------------------------------------------------------------------------------------------------------
# Edge cases a mutation test of preprocess_vsi_data.py found unpinned (helper-175)
# ----------------------------------------------------------------------------------------------------------


def test_a_row_with_both_messages_and_conversations_is_read_as_swift(scene):
    """detect_layout checks `messages` first: the swift row's own prompt and answer are used."""
    row = {
        'id': 1,
        'dataset': 'scannet',
        'scene_name': 'scene0001_00',
        'question_type': 'object_counting',
        'messages': [
            {'role': 'user', 'content': official_prompt(NUMERIC_ROW)},
            {'role': 'assistant', 'content': '4'},
        ],
        'conversations': [
            {'from': 'human', 'value': 'How many tables are in this room?'},
            {'from': 'gpt', 'value': '2'},
        ],
    }
    rows, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', [row]))], config(scene))
    assert summary.layouts == {'swift': 1}
    assert rows[0]['solution'] == '4' and 'chair(s)' in rows[0]['messages'][0]['content']


def test_an_empty_messages_list_is_a_swift_row_without_a_user_turn(scene):
    """`messages: []` holds a value (a list), unlike null: the row is a swift row with no user turn."""
    source = write_jsonl(scene / 'qa.jsonl', [{'id': 1, 'messages': []}])
    rows, summary = pp.convert([str(source)], config(scene))
    assert rows == [] and summary.skipped == {'missing_field': 1}
    assert summary.examples['missing_field'] == ['qa.jsonl:line 1: no user turn']


@pytest.mark.parametrize(
    ('prompt', 'question', 'options'),
    [
        # the pre-prompt line with trailing whitespace other than a space is still the pre-prompt
        (f'{PRE}\t\nHow many chairs?\n{NUMERIC_POST}', 'How many chairs?', None),
        # `A. ... B. ...` must start at A and run in order to be an options block
        ('Which one?\nB. chair\nC. table', 'Which one?\nB. chair\nC. table', None),
        ('Which one?\nA. chair\nC. table', 'Which one?\nA. chair\nC. table', None),
    ],
)
def test_parse_prompt_more_edge_cases(prompt, question, options):
    assert pp.parse_prompt(prompt) == (question, options)


def swift_row(row: dict, **fields) -> dict:
    return {
        'id': row['id'],
        'dataset': row['dataset'],
        'scene_name': row['scene_name'],
        'question_type': row['question_type'],
        'messages': [
            {'role': 'user', 'content': '<image>' + official_prompt(row)},
            {'role': 'assistant', 'content': row['ground_truth']},
        ],
        **fields,
    }


def test_a_conversations_rows_prompt_options_come_before_its_options_field(scene):
    row = {**conversations_row(MC_ROW), 'options': ['A. up', 'B. down']}
    rows, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', [row]))], config(scene))
    assert summary.skipped == {} and rows[0]['options'] == MC_ROW['options'] and rows[0]['solution'] == 'B'


def test_a_swift_rows_options_field_comes_before_its_prompts_options(scene):
    row = swift_row(MC_ROW, options=['A. right', 'B. left', 'C. back'])
    rows, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', [row]))], config(scene))
    assert summary.skipped == {} and rows[0]['options'] == ['A. right', 'B. left', 'C. back']


def test_a_swift_rows_solution_comes_before_its_ground_truth(scene):
    row = swift_row(MC_ROW, solution='A', ground_truth='C')
    rows, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', [row]))], config(scene))
    assert summary.skipped == {} and rows[0]['solution'] == 'A'


def test_a_multiple_choice_row_with_an_empty_options_list_is_bad_options(scene):
    source = write_jsonl(scene / 'qa.jsonl', [{**MC_ROW, 'options': []}, NUMERIC_ROW])
    rows, summary = pp.convert([str(source)], config(scene))
    assert [r['id'] for r in rows] == ['8'] and summary.skipped == {'bad_options': 1}


def test_rows_left_out_by_choice_count_as_dropped_for_their_input(scene):
    rows = [MC_ROW, NUMERIC_ROW, {**NUMERIC_ROW, 'id': 9, 'question_type': 'object_abs_distance'}]
    source = write_jsonl(scene / 'a.jsonl', rows)
    kept, summary = pp.convert([str(source)], config(scene, question_types=('object_counting',)))
    assert [r['id'] for r in kept] == ['8']
    assert summary.per_input['a.jsonl'] == {'rows_read': 3, 'extra_turns': 0, 'written': 1, 'skipped': 0, 'dropped': 2}


def test_the_first_multiple_choice_row_is_written_first(scene):
    """Numeric rows first would make swift's first block type `options` as null (column_types_problem)."""
    source = write_jsonl(scene / 'qa.jsonl', [NUMERIC_ROW, {**NUMERIC_ROW, 'id': 9, 'ground_truth': '5'}, MC_ROW])
    output = scene / 'out' / 'train.jsonl'
    pp.preprocess([str(source)], str(output), config(scene))
    assert [r['id'] for r in read_jsonl(output)] == ['7', '8', '9']


def test_per_type_counts_the_rows_written_after_the_cap(scene):
    rows = [NUMERIC_ROW, {**NUMERIC_ROW, 'id': 9, 'ground_truth': '5'}, MC_ROW]
    kept, summary = pp.convert([str(write_jsonl(scene / 'qa.jsonl', rows))], config(scene, max_per_type=1))
    assert len(kept) == 2 and summary.per_type == {'object_counting': 1, 'object_rel_direction_medium': 1}
