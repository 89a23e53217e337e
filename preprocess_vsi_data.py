"""Turn VSI-Bench-style question files into ms-swift training rows: one row per question, with its frames.

Input rows may come in any of the layouts seen in the wild, detected row by row:

* benchmark / question-options rows (`nyu-visionx/VSI-Bench`, vsGRPO, SpaceR): `id, dataset, scene_name,
  question_type, question, options, ground_truth` (and sometimes `mc_answer`), as JSON, JSONL or parquet;
* VLM-3R "conversations" rows: `id, data_source, scene_name, question_type, video, conversations`, whose human turn
  already holds a prompt;
* ms-swift rows (`messages`, `images`/`videos`, `solution`, ...), e.g. the output of an earlier run; their media
  are replaced by the scene's frames from `--frames_dir`.

Every question is rebuilt the same way: the question (and options) are taken out of the row, the prompt is made by
`vsi_scoring.build_prompt` (the official VSI-Bench prompt word for word, or its `think` variant) and the frames are
taken from the folders written by `extract_frames.py`. So the same question gives the same text whatever its layout,
and training sees exactly the prompt the evaluation uses. From a prompt already in a row (conversations and swift
layouts) only these pieces are removed before the question and options are read: `<image>` / `<video>` tags, the
leading `These are frames of a video.`, the `Options:` block, and a trailing instruction line that is one of the
bundle's four post-prompts (`Please answer the question using a single word or phrase.`, `Answer with the
option's letter from the given choices directly.` and the two `think` ones; case and final dot ignored), and `\\r\\n`
becomes `\\n`. Any other text stays part of the question. A benchmark row's `question` is cleaned the same way (some
exporters store the whole prompt there, which would then reach the model twice); an options block in it is dropped
only when it is the row's `options`, else the row is skipped (`question_holds_prompt`), as is one that holds only the
fixed parts. Benchmark options lose media tags too: swift's template reads each tag as a frame. A conversation with
several user turns asks several questions about one scene: each turn becomes a row of its own (ids `<id>`, `<id>_2`,
...).

Text inputs are UTF-8, with or without a byte order mark; invalid UTF-8 stops the run naming the file and line.

Output rows (JSONL, written atomically)::

    {"messages": [{"role": "user", "content": "<image><image>...These are frames of a video.\\n..."},
                  {"role": "assistant", "content": "B"}],
     "images": ["frames/scannet/scene0000_00/frame_0000.jpg", ...],
     "solution": "B", "question_type": "object_rel_distance", "options": ["A. chair", ...],
     "id": "12", "scene_name": "scene0000_00", "prompt_style": "direct"}

`--media video` writes the chosen frames as one H.264 clip per frame folder and frame count (`videos: [clip]`, one
`<video>` tag): Qwen3-VL merges frame pairs, so a clip costs about half the visual tokens of the same frames as
images. Clips run at `--video_fps` (2, qwen-vl-utils' default `FPS`); keep the `FPS` environment variable equal to
it and `FPS_MAX_FRAMES` >= `--num_frames` (its default is 768) and the Qwen3-VL processor reads every frame of every
clip.

Image paths are relative to the output file's folder by default. ms-swift opens a relative path from the current
directory or, failing that, from `ROOT_IMAGE_DIR`: train with `ROOT_IMAGE_DIR=<that folder>`, or load the file
through `vsi_dataset.py` (`--dataset vsi_train`), which resolves the paths itself.

Usage::

    python extract_frames.py --video_dir videos --output_dir frames --num_frames 32
    python preprocess_vsi_data.py --input_path train_qa.jsonl --frames_dir frames --output_path data/train.jsonl \\
        --num_frames 32 --exclude_scenes vsi_bench_test.jsonl
    ROOT_IMAGE_DIR=data swift rlhf --rlhf_type grpo --dataset data/train.jsonl ...

Nothing is dropped silently: every question is written or counted under a reason, the summary is printed and written
next to the output (`train.summary.json`, with the output's size and SHA-256 and the run's settings), and `--strict`
turns every problem into an error. A run without `--exclude_scenes` warns: training on benchmark scenes is the classic
leak. A scene is excluded however it is spelt (`scannet/scene0000_00`, `./scene0000_00/`, any letter case, in the list
or in the row) and whichever folder the row's frames come from (its `video` comes first); scene names and datasets that
are absolute or contain `..` are skipped (`bad_scene_name`), never looked up (a `video` path that leaves --frames_dir is
ignored). A row without an id is given `<file name without its extension>:<index>` (`train:3`, 0-based); one whose id is
no string or number (a list, an object, `""`) is skipped (`bad_id`). Output ids are unique: a row whose id is taken by
the same question is skipped (`duplicate_question`, as is a question read before without an id, or a row without an
id that repeats a question read under any id), by another question it is written as `<id>#2` and counted.
Temporary files that killed runs left beside the output are removed by the next run.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import decimal
import errno
import fcntl
import functools
import hashlib
import itertools
import json
import logging
import math
import os
import random
import re
import secrets
import signal
import socket
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any, BinaryIO

from tqdm import tqdm

from extract_frames import (
    RECORD_NAME,
    file_problem,
    frames_dir_problem,
    frames_identity,
    is_video,
    raise_terminated,
    run_main,
    sample_indices,
    stopped,
)
from vsi_scoring import (
    KNOWN_QUESTION_TYPES,
    MCA_POST_PROMPT,
    NA_POST_PROMPT,
    PRE_PROMPT,
    PROMPT_STYLES,
    THINK_MCA_POST_PROMPT,
    THINK_NA_POST_PROMPT,
    build_prompt,
    check_type_selection,
    ground_truth_number,
    option_letters,
    prompt_is_multiple_choice,
    type_selected,
)

MEDIA_MODES = ('image', 'video')
PATH_MODES = ('relative', 'absolute')
# the suffixes swift reads a dataset file by as JSON (JSON lines or one list), exactly as written: swift_json_name
SWIFT_JSON_SUFFIXES = ('.jsonl', '.json')
# qwen-vl-utils' default FPS: a clip written at this rate is read back frame for frame with the default env.
DEFAULT_VIDEO_FPS = 2.0
MIN_VIDEO_FPS = 0.001  # clip_rate keeps denominators up to 1000
CLIP_CRF = 18  # visually lossless H.264; the clip is decoded again by the processor, so quality matters more than size

# Problems with a row: counted, and errors under --strict.
SKIP_REASONS = (
    'malformed_row',  # no JSON object, a conversation that is no list of objects, or text UTF-8 cannot store
    'unknown_layout',  # no `question`, `conversations` or `messages` field (one that is null is missing_field)
    'missing_field',  # no scene, question type, question or answer, or one that is not text (the example says which)
    'bad_id',  # an id that is there but no string or number (a list, an object, `""`): null or absent ones are made
    'bad_options',  # a multiple-choice question without options written as `A. text`
    'answer_not_in_options',  # a multiple-choice answer that names none of the options
    'non_numeric_answer',  # a numeric question whose answer is not a finite number
    'ambiguous_answer',  # an answer that names two options, or mc_answer and ground_truth naming different ones
    'bad_scene_name',  # a scene or dataset that is absolute or has `..`: it would reach outside frames_dir
    'missing_frames',  # no frame folder for the scene, or an empty file among the frames chosen from it
    'duplicate_question',  # the id of an earlier row, with the same question (same frames, type, text and answer)
    'question_holds_prompt',  # a benchmark question holding an options block that is not its options, or no question
)
# Rows left out on purpose by the options: counted, never errors.
DROP_REASONS = ('excluded_scene', 'question_type_not_selected', 'over_max_per_type')
# A row written under another id than its own (`<id>#2`, ...): its id is an earlier row's, its question is not.
RENAMED_ID = 'duplicate_id'

_FRAME_RE = re.compile(r'frame_(\d+)\.(?:jpe?g|png)$', re.IGNORECASE)
_MEDIA_TAG_RE = re.compile(r'<(?:image|video)>')
_CLIP_SUFFIX_RE = re.compile(r'_k[0-9]+_fps[^_/]+_[0-9a-f]{12}$')  # what MediaWriter._clip adds to a folder's name
_LINE_END_RE = re.compile(r'\r\n?')
_LIST_SEPARATOR_RE = re.compile(r'[,;\s]')  # in no benchmark scene's name
_OPTION_LINE_RE = re.compile(r'\s*([A-Z])\.\s+\S')
_TEXT_LIST_EXTENSIONS = ('.txt', '.lst', '.list')
_INSTRUCTION_LINES = frozenset(
    text.lower().rstrip('.') for text in (NA_POST_PROMPT, MCA_POST_PROMPT, THINK_NA_POST_PROMPT, THINK_MCA_POST_PROMPT)
)
_EXAMPLES_PER_REASON = 5
# Why an even subset of a folder's frames is not the benchmark's sampling (preprocessing's summary, the evaluator).
SUBSET_OF_FRAMES = (
    'an even subset of the extracted frames is used, which is not round(linspace(0, n - 1, num_frames)) over the '
    "video's n frames, the benchmark's sampling; extract_frames.py with the same --num_frames gives exactly those"
)
NO_EXCLUSION_WARNING = (
    'no scenes excluded (--exclude_scenes / VSI_EXCLUDE_SCENES): training on a benchmark scene inflates its score; '
    'pass the benchmark question file to keep its scenes out'
)

logger = logging.getLogger('preprocess_vsi_data')

# atomic_path's temporary names; the host tells whether the writing process can be looked up here.
_HOST = re.sub(r'[^A-Za-z0-9_.-]', '_', socket.gethostname()) or 'localhost'
_TEMP_RE = re.compile(r'(?P<target>.+)\.(?P<pid>[0-9]+)-[0-9a-f]{8}\.(?P<host>[A-Za-z0-9_.-]+)\.tmp')
STALE_TEMP_SECONDS = 3600
# How long atomic_paths waits for a folder another process holds before renaming into it unheld (_renaming_together)
RENAME_LOCK_SECONDS = 2


class VsiDataError(ValueError):
    """Input that cannot be converted; the message names the file and line or row."""


class RowSkipped(Exception):
    """One row that is left out, with a reason from SKIP_REASONS (or DROP_REASONS) and a message for the summary."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class SceneExcluded(RowSkipped):
    """RowSkipped('excluded_scene') naming the listed scene (scene_key) that matched: the summary counts the listed
    scenes that matched no row, a sign of a list spelt differently from the input."""

    def __init__(self, key: str, detail: str):
        super().__init__('excluded_scene', detail)
        self.key = key


@dataclass
class Question:
    """One question, whatever layout it came in."""

    id: str
    scene_name: str
    question_type: str
    question: str
    options: list[str] | None  # None for numeric questions
    solution: str  # the option letter, or the number as text
    dataset: str | None = None
    video: str | None = None  # the source video's path relative to the video root, when the row names it
    location: str = ''  # `file:line N` / `file[row N]`, for messages


@dataclass
class PreprocessConfig:
    """Everything that decides how questions become rows (the CLI flags, minus input and output)."""

    frames_dir: str
    num_frames: int = 32
    prompt_style: str = 'direct'
    media: str = 'image'
    path_mode: str = 'relative'
    base_dir: str = '.'  # relative paths are relative to this folder (the output file's)
    clips_dir: str | None = None  # where `--media video` writes clips; defaults to <base_dir>/clips
    video_fps: float = DEFAULT_VIDEO_FPS
    allow_fewer_frames: bool = False
    exclude_scenes: frozenset[str] = frozenset()
    question_types: tuple[str, ...] | None = None
    max_per_type: int | None = None
    shuffle: bool = False
    seed: int = 42
    strict: bool = False
    progress: bool = True

    def __post_init__(self):
        if self.num_frames < 1:
            raise VsiDataError(f'--num_frames must be at least 1, got {self.num_frames}')
        if self.prompt_style not in PROMPT_STYLES:
            raise VsiDataError(f'--prompt_style must be one of {PROMPT_STYLES}, got {self.prompt_style!r}')
        if self.media not in MEDIA_MODES:
            raise VsiDataError(f'--media must be one of {MEDIA_MODES}, got {self.media!r}')
        if self.path_mode not in PATH_MODES:
            raise VsiDataError(f'--path_mode must be one of {PATH_MODES}, got {self.path_mode!r}')
        if self.max_per_type is not None and self.max_per_type < 1:
            raise VsiDataError(f'--max_per_type must be at least 1, got {self.max_per_type}')
        if not (math.isfinite(self.video_fps) and self.video_fps >= MIN_VIDEO_FPS):
            # clip_rate keeps denominators up to 1000: below 0.0005 the rate rounds to 0 (the encoder then wrote
            # 24 fps), and up to 0.001 it is not the rate asked for
            raise VsiDataError(f'--video_fps must be a frame rate of at least {MIN_VIDEO_FPS:g}, got {self.video_fps}')
        if self.media == 'video':
            _check_clip_rate(self.video_fps, self.num_frames, self.allow_fewer_frames)
        problem = frames_dir_problem(self.frames_dir)
        if problem:
            raise VsiDataError(problem)
        if self.question_types is not None:  # checked once the input is read (_check_selection)
            self.question_types = tuple(self.question_types)
        if self.clips_dir is None:
            self.clips_dir = os.path.join(self.base_dir, 'clips')
        # Compared with scene_key of what each row uses, so `scannet/scene0000_00` excludes `scene0000_00`.
        self.exclude_scenes = frozenset(scene_key(name) for name in self.exclude_scenes)


@dataclass
class Summary:
    """What happened to every input row: `rows_read + extra_turns == written + sum(skipped) + sum(dropped)`.

    Written beside the output; it belongs to the output file there only if `output_sha256` matches that file (a
    run killed between the two renames leaves a new summary beside the old output, never the other way round).
    """

    inputs: list[str]
    # input name (as locations name it) -> rows_read, extra_turns, written, skipped, dropped: the balance per file
    per_input: dict[str, dict[str, int]] = field(default_factory=dict)
    rows_read: int = 0
    extra_turns: int = 0  # questions after the first of multi-turn conversation rows, each written or counted
    written: int = 0
    per_type: dict[str, int] = field(default_factory=dict)
    layouts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    renamed: dict[str, int] = field(default_factory=dict)  # RENAMED_ID -> rows written under a made-unique id
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> first few `location: detail`
    scenes: int = 0
    scenes_with_fewer_frames: list[str] = field(default_factory=list)
    scenes_with_more_frames: list[str] = field(default_factory=list)  # an even subset of their frames used
    question_types_not_found: list[str] = field(default_factory=list)
    excluded_scenes_not_found: list[str] = field(default_factory=list)  # listed (as scene_key) but in no row read
    unknown_question_types: dict[str, int] = field(default_factory=dict)  # written, scored by their answer's form
    clips_written: int = 0
    clips_reused: int = 0
    stale_temps_removed: int = 0  # temporary files of killed runs (for this output, or in the clips folder)
    video_env: dict[str, str] = field(default_factory=dict)
    # image folder as the rows name it -> its extract_frames.frames_identity when the rows were written
    frame_records: dict[str, str] = field(default_factory=dict)
    output: str | None = None
    output_bytes: int | None = None
    output_sha256: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    rows_per_second: float = 0.0

    def count(self, table: dict[str, int], reason: str, location: str, detail: str) -> None:
        table[reason] = table.get(reason, 0) + 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < _EXAMPLES_PER_REASON:
            examples.append(f'{location}: {detail}')

    def lines(self) -> list[str]:
        turns = f' (+{self.extra_turns} questions from later conversation turns)' if self.extra_turns else ''
        out = [
            f'read {self.rows_read} rows from {len(self.inputs)} file(s){turns}; wrote {self.written} rows'
            + (f' to {self.output}' if self.output else '')
            + f' ({self.scenes} scenes, {self.seconds:.2f} s, {self.rows_per_second:,.0f} rows/s)'
        ]
        if len(self.per_input) > 1:
            out.append(
                '  per input: '
                + '; '.join(
                    f'{name} read {c["rows_read"]}, wrote {c["written"]}, '
                    f'skipped {c["skipped"]}, dropped {c["dropped"]}'
                    for name, c in self.per_input.items()
                )
            )
        if self.layouts:
            parsed = ', '.join(f'{k} {v}' for k, v in sorted(self.layouts.items()))
            out.append(f'  questions parsed, by layout: {parsed}')
        if self.per_type:
            out.append('  per type: ' + ', '.join(f'{k} {v}' for k, v in sorted(self.per_type.items())))
        for title, table in (
            ('skipped (problems)', self.skipped),
            ('dropped (by choice)', self.dropped),
            ('written under a new id', self.renamed),
        ):
            for reason, number in sorted(table.items()):
                out.append(f'  {title}: {reason} {number}, e.g. {self.examples[reason][0]}')
        if self.scenes_with_fewer_frames:
            out.append(
                f'  {len(self.scenes_with_fewer_frames)} scene(s) used fewer than the requested frames: '
                + ', '.join(self.scenes_with_fewer_frames[:5])
            )
        listed = self.settings.get('exclude_scenes')
        if listed and not self.dropped.get('excluded_scene'):
            out.append(f'  --exclude_scenes: none of the {listed} listed scenes is in the input, so no row is excluded')
        elif self.excluded_scenes_not_found:
            missing = self.excluded_scenes_not_found
            out.append(
                f'  --exclude_scenes: {len(missing)} of the {listed} listed scenes matched no row, e.g. '
                + ', '.join(missing[:5])
            )
        if self.scenes_with_more_frames:
            out.append(
                f'  {len(self.scenes_with_more_frames)} scene(s) have more frames than --num_frames, e.g. '
                f'{self.scenes_with_more_frames[0]}: {SUBSET_OF_FRAMES}'
            )
        if self.question_types_not_found:
            out.append('  --question_types not found in the input: ' + ', '.join(self.question_types_not_found))
        if self.unknown_question_types:
            out.append(
                '  question types outside VSI-Bench and its training variants (multiple choice when they have '
                'options): ' + ', '.join(f'{k} {v}' for k, v in sorted(self.unknown_question_types.items()))
            )
        if self.video_env:
            env = self.video_env
            out.append(
                f'  clips: {self.clips_written} written, {self.clips_reused} reused; train with '
                f'FPS={env["FPS"]} and FPS_MAX_FRAMES>={env["FPS_MAX_FRAMES"]} so every frame is used'
            )
        if self.stale_temps_removed:
            out.append(f'  removed {self.stale_temps_removed} temporary file(s) left by killed runs')
        return out


# ----------------------------------------------------------------------------------------------------------
# Reading input files
# ----------------------------------------------------------------------------------------------------------


def read_rows(path: str, name: str | None = None) -> Iterator[tuple[str, Any]]:
    """(location, row) for every row of a JSON list, a JSONL file or a parquet file. Raises on malformed input.

    Locations name the file by `name`, by default its file name (`train.jsonl:line 3`).

    Text is UTF-8 with or without a byte order mark (editors on Windows and pandas' `to_json` may write one);
    anything else is an error naming the line, because a guessed encoding would alter question text silently.
    A bare `NaN` is read as null: `json.dump(df.to_dict('records'))` writes it for a pandas frame's empty cell,
    where `to_json` and parquet write null, and a NaN would count as a value (an answer, a layout's field).
    """
    name = name or os.path.basename(path)
    check_input_file(path)
    if path.lower().endswith('.parquet'):
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise VsiDataError(f'{path}: not a readable parquet file ({e})') from e
        for index, row in enumerate(rows):
            yield f'{name}[row {index}]', row
        return
    with open(path, 'rb') as f:
        is_list = f.read(4096).removeprefix(codecs.BOM_UTF8).lstrip().startswith(b'[')
        f.seek(0)
        if is_list:
            # A JSON list; a file that starts with `[` but holds one list per line is not supported.
            data = f.read()
            try:
                text = data.decode('utf-8-sig')
            except UnicodeDecodeError as e:
                raise _not_utf8(path, data.count(b'\n', 0, e.start) + 1, e) from e
            try:
                rows = json.loads(text, parse_constant=_nan_as_null)
            except json.JSONDecodeError as e:
                raise VsiDataError(
                    f'{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}{_formats_note(path)}'
                ) from e
            except (ValueError, RecursionError) as e:
                raise VsiDataError(f'{path}: the JSON list cannot be read ({_unreadable_json(e)})') from e
            for index, row in enumerate(rows):
                yield f'{name}[row {index}]', row
            return
        first = True
        for number, line in _text_lines(path, f):
            if not line.strip():
                continue
            try:
                row = json.loads(line, parse_constant=_nan_as_null)
            except (ValueError, RecursionError) as e:
                if not isinstance(e, json.JSONDecodeError):
                    raise VsiDataError(f'{path}: line {number} cannot be read ({_unreadable_json(e)})') from e
                if first:  # perhaps one object spread over several lines, or several (pretty-printed rows)
                    f.seek(0)
                    whole, text, end = None, '', 0
                    with contextlib.suppress(ValueError, RecursionError):  # bad JSON or UTF-8: the line's error says it
                        text = f.read().decode('utf-8-sig').lstrip()
                        whole, end = json.JSONDecoder(parse_constant=_nan_as_null).raw_decode(text)
                    if isinstance(whole, dict) and not text[end:].strip():
                        raise _top_level_object(path, whole) from None
                    if isinstance(whole, dict) and '\n' in text[:end]:
                        raise VsiDataError(
                            f'{path}: holds JSON objects written over several lines each (pretty-printed); expected '
                            f'one row per line (JSONL: `jq -c . {path}` writes it) or a JSON list'
                        ) from None
                raise VsiDataError(
                    f'{path}: line {number} is not valid JSON ({e.msg} at column {e.colno}){_formats_note(path)}'
                ) from e
            if isinstance(row, dict) and detect_layout(row) is None and any(map(_holds_rows, row.values())):
                # on one line: counted as one unknown row, its rows would be lost
                raise _top_level_object(path, row, None if first else number)
            first = False
            yield f'{name}:line {number}', row


def _unreadable_json(error: ValueError | RecursionError) -> str:
    """What stopped json.loads on valid JSON syntax: Python's recursion limit, or its 4,300-digit limit on integers."""
    if isinstance(error, RecursionError):
        return 'nested too deeply for Python to decode'
    return str(error)


def check_input_file(path: str, flag: str = 'input file') -> None:
    """Raise unless `path` is a file this process may read; the message starts with `flag`, the option that named it
    where a caller knows it (the reader alone does not: the evaluator's --dataset is read with it too). Checked for
    every file before any is read: an unreadable one used to stop the run after the inputs before it converted."""
    if os.path.isdir(path):  # it does exist: `does not exist` sent users looking for a typo
        raise VsiDataError(f'{flag} {path} is a folder, not a file; name the file itself')
    problem = file_problem(path)
    if problem:
        raise VsiDataError(f'{flag} {path} {problem}')
    if not os.access(path, os.R_OK):
        raise VsiDataError(f'{flag} {path} cannot be read (no read permission)')


def _formats_note(path: str) -> str:
    """What is read, for JSON that fails to parse in a file not named .json or .jsonl: any name but .parquet is read
    as JSON, so a JSONL file named .txt works, and a CSV file's error would otherwise only say `not valid JSON`."""
    if os.path.splitext(path)[1].lower() in ('.json', '.jsonl'):
        return ''
    return '; rows are read from JSON, JSONL or parquet files only'


def _nan_as_null(constant: str) -> float | None:
    """json.loads' reading of the non-JSON constants Python writes: `NaN` as null, `Infinity` as a float."""
    return None if constant == 'NaN' else float(constant)


def _holds_rows(value: Any) -> bool:
    """A list of question rows (objects with a layout or a scene), as a wrapping object holds them."""
    return isinstance(value, list) and any(
        isinstance(item, dict) and (detect_layout(item) or item.get('scene_name')) for item in value
    )


def _top_level_object(path: str, value: dict, line: int | None = None) -> VsiDataError:
    """The error for a file that wraps its rows in an object, or (`line`, past the first row of a JSONL file) for a
    line that does: there it is no top level, and the line is what to look for."""
    key = next((key for key, item in value.items() if _holds_rows(item)), None)
    rows = f' holding its rows under {key!r}' if key else ''
    if line is not None:
        return VsiDataError(f'{path}: line {line} is a JSON object{rows}; expected one row per line (JSONL)')
    return VsiDataError(
        f'{path}: the top level is a JSON object{rows}; expected a list of rows or one row per line (JSONL)'
    )


def _text_lines(path: str, f: BinaryIO) -> Iterator[tuple[int, str]]:
    """(line number, text) of a file opened in binary, decoded as UTF-8 line by line so an error names its line."""
    for number, raw in enumerate(f, start=1):
        try:
            yield number, raw.decode('utf-8-sig' if number == 1 else 'utf-8')
        except UnicodeDecodeError as e:
            raise _not_utf8(path, number, e) from e


def _not_utf8(path: str, line: int, error: UnicodeDecodeError) -> VsiDataError:
    return VsiDataError(f'{path}: line {line} is not valid UTF-8 ({error.reason}); save the file as UTF-8')


def detect_layout(row: dict) -> str | None:
    """`swift`, `conversations`, `benchmark` or None.

    A field counts only when it holds a value: parquet, pandas and Hugging Face exports of files that mix layouts
    give every row every column, with nulls where a layout has no such field.
    """
    if row.get('messages') is not None:
        return 'swift'
    if row.get('conversations') is not None:
        return 'conversations'
    if row.get('question') is not None:
        return 'benchmark'
    return None


def _prompt_text(text: str) -> str:
    """`text` without media tags (one more than the row's frames to swift's template) and with `\\n` line ends,
    the only ones the official prompt has: text written on Windows arrives with `\\r\\n`, and a `\\r` left inside
    a question would make it a different text from the same benchmark question."""
    return _MEDIA_TAG_RE.sub('', _LINE_END_RE.sub('\n', text))


def parse_prompt(text: str) -> tuple[str, list[str] | None]:
    """(question, options or None) from a prompt in the official layout, with or without media tags.

    Removes the media tags, the leading pre-prompt, one trailing known instruction line and the options block
    (an `Options:` line and the lines after it, or else trailing `A. ...` lines). Multi-line questions keep their
    inner line breaks (as `\\n`, _prompt_text).
    """
    lines = _prompt_text(text).strip().split('\n')
    if lines and lines[0].strip() == PRE_PROMPT:
        lines = lines[1:]
    elif lines and lines[0].startswith(PRE_PROMPT + ' '):
        lines[0] = lines[0][len(PRE_PROMPT) :].strip()
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and lines[-1].strip().lower().rstrip('.') in _INSTRUCTION_LINES:
        lines.pop()
    options = None
    header = [i for i, line in enumerate(lines) if line.strip().lower() == 'options:']
    if header:
        options = [line.strip() for line in lines[header[-1] + 1 :] if line.strip()]
        lines = lines[: header[-1]]
    else:
        start = len(lines)
        while start > 0 and _OPTION_LINE_RE.match(lines[start - 1]):
            start -= 1
        letters = [_OPTION_LINE_RE.match(line).group(1) for line in lines[start:]]
        if len(letters) >= 2 and letters == [chr(ord('A') + i) for i in range(len(letters))]:
            options = [line.strip() for line in lines[start:]]
            lines = lines[:start]
    return '\n'.join(lines).strip(), options


def _text(value: Any) -> str | None:
    """A non-empty string field as text (numbers as their JSON text), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return _number_text(value)
    if isinstance(value, decimal.Decimal):  # a parquet decimal column: its digits as stored (`2.50`)
        return str(value) if value.is_finite() else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _name(value: Any) -> str | None:
    """An id or scene name as text, as _text but a whole float as an integer: pandas stores an integer column with
    gaps as floats, so parquet and JSON exports of it give `1.0` for id 1 and `41069025.0` for ARKitScenes scene
    41069025, whose frame folder would not be found."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _text(value)


def _row_id(value: Any, default: str) -> str:
    """A row's id as text (_name), or `default`, the made `<file name without extension>:<index>`, for a row without
    one (null, absent, a NaN cell of a pandas export). An id that is there but gives no text (a list, an object, `""`,
    `true`) is RowSkipped('bad_id'): replaced by a made id it used to be written without a word, and the row's own
    id, which a resumed evaluation matches predictions by, was lost."""
    if _absent(value):
        return default
    name = _name(value)
    if name is None:
        raise RowSkipped('bad_id', _not_text('id', value))
    return name


def _absent(value: Any) -> bool:
    """A field with no value: null (or absent), or NaN, which pandas and parquet exports hold in an empty cell."""
    return value is None or (isinstance(value, float) and math.isnan(value))


_VALUE_KINDS = {dict: 'an object', list: 'a list', bool: 'a boolean', int: 'a number', float: 'a number'}
_SHOWN_VALUE_CHARS = 60


def _not_text(name: str, value: Any, expected: str = 'text or a number') -> str:
    """What is wrong with a field that is there but gives no text (_text), for a skip's message: `id is a list, not
    text or a number: [1]`, `id is empty`. Reported as missing, a wrong value sent users looking for a field that
    was there."""
    if isinstance(value, str):
        return f'{name} is empty'
    shown = repr(value)
    if len(shown) > _SHOWN_VALUE_CHARS:
        shown = shown[: _SHOWN_VALUE_CHARS - 3] + '...'
    if isinstance(value, float) and not math.isfinite(value):
        return f'{name} is not a finite number: {shown}'
    kind = _VALUE_KINDS.get(type(value), f'a {type(value).__name__}')
    return f'{name} is {kind}, not {expected}: {shown}'


def _number_text(value: int | float) -> str | None:
    if isinstance(value, int):
        return str(value)
    return repr(value) if math.isfinite(value) else None


def _stem_path(path: str) -> str:
    """`scannet/scene0000_00.mp4` -> `scannet/scene0000_00` (the extractor's folder for that video)."""
    return os.path.splitext(os.path.normpath(path))[0]


def _first_string(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        return value[0]
    return None


def _field(message: dict, name: str, other_name: str) -> Any:
    """`name`, else `other_name`: mixed-layout exports carry both namings of a message, one of them null."""
    value = message.get(name)
    return message.get(other_name) if value is None else value


def _pairs(messages: Any) -> list[tuple[Any, Any]]:
    """(user content, answer content or None) for each user turn of a conversation, in either role naming.

    The answer is the first assistant turn after the user turn; system turns and assistant turns before the first
    user turn belong to no question.
    """
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        found = _json_type(messages) if not isinstance(messages, list) else 'an array holding other values'
        raise RowSkipped('malformed_row', f'conversation is not an array of objects but {found}')
    pairs: list[list[Any]] = []
    for message in messages:
        role = _field(message, 'role', 'from')
        if role in ('user', 'human'):
            pairs.append([_field(message, 'content', 'value'), None])
        elif role in ('assistant', 'gpt') and pairs and pairs[-1][1] is None:
            pairs[-1][1] = _field(message, 'content', 'value')
    return [tuple(pair) for pair in pairs]


def expand_turns(row: Any, location: str, default_id: str) -> list[tuple[str, Any]]:
    """(location, row) for each question of a row: a conversation with several user turns is one row per turn.

    Every turn asks about the same scene, so each becomes a question of its own with the row's media and fields
    (ids `<id>`, `<id>_2`, `<id>_3`, ...; `default_id` stands in for a missing id, and an unusable one stays on every
    turn, each then skipped as `bad_id`). Row-level `solution`, `ground_truth` and
    `options` can describe one question only; they are kept for the last turn (in a swift row the one a model
    answers), and earlier turns take their options and answer from their own text. Any other row comes back as is.
    """
    layout = detect_layout(row) if isinstance(row, dict) else None
    if layout not in ('conversations', 'swift'):
        return [(location, row)]
    key = 'conversations' if layout == 'conversations' else 'messages'
    try:
        pairs = _pairs(row[key])
    except RowSkipped:  # one row, skipped (and counted) as row_to_question reads it
        return [(location, row)]
    if len(pairs) < 2:
        return [(location, row)]
    base_id = None  # an unusable id: every turn keeps it, and row_to_question skips each as bad_id
    with contextlib.suppress(RowSkipped):
        base_id = _row_id(row.get('id'), default_id)
    turns = []
    for number, (user, answer) in enumerate(pairs, start=1):
        turn = {**row, key: [{'role': 'user', 'content': user}, {'role': 'assistant', 'content': answer}]}
        if number > 1 and base_id is not None:
            turn['id'] = f'{base_id}_{number}'
        if number < len(pairs):
            # every row-level statement of one question's answer or choices: vsi_reward reads `ground_truth` where
            # a row has no `solution`, and row_to_question takes it before the turn's own assistant answer
            turn['solution'] = turn['ground_truth'] = turn['options'] = None
        turns.append((f'{location} turn {number}', turn))
    return turns


def _single_turn(row: dict, key: str, location: str) -> tuple[str, str | None]:
    """(user text, answer text or None) of a conversation that asks one question."""
    pairs = _pairs(row[key])
    if len(pairs) > 1:
        raise VsiDataError(
            f'{location}: a conversation with {len(pairs)} questions; split it into one row per question '
            '(preprocess_vsi_data.expand_turns)'
        )
    if not pairs or not isinstance(pairs[0][0], str):
        # content given as a list of parts (OpenAI's layout) is there, but not text
        raise RowSkipped(
            'missing_field',
            'no user turn' if not pairs or _absent(pairs[0][0]) else _not_text('user turn', pairs[0][0], 'text'),
        )
    return pairs[0][0], _answer_text(pairs[0][1])


def _answer_text(value: Any) -> str | None:
    """An answer as text; None only when there is none. Any other value (`true`, NaN, a list) comes back as its JSON
    text, so the answer checks reject it as a wrong answer rather than as a missing one; one JSON has no text for
    (parquet's binary column gives bytes) comes back as its repr, rejected the same way."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _text(value) or json.dumps(value, default=repr)


@functools.lru_cache(maxsize=1 << 16)  # per row, over a few thousand scene names: cached, conversion stays fast
def _leaves_folder(path: str) -> bool:
    """True for a path that, joined to a folder, points outside it: absolute, or with a `..`."""
    return os.path.isabs(path) or '..' in path.replace(os.sep, '/').split('/')


def _inside_path(value: str | None, name: str) -> str | None:
    """A scene name or dataset, normalised (`./scannet/scene0000_00/` -> `scannet/scene0000_00`).

    These are joined to --frames_dir to find frames, so an absolute path or a `..` would use frames from outside it,
    where the exclusion of benchmark scenes cannot see them: RowSkipped instead. (A `video` path is only a hint:
    FrameIndex.locate ignores one that leaves --frames_dir, as generators often record their own absolute paths.)
    """
    if value is None:
        return None
    if '\0' in value:  # no file name holds one (the OS refuses it)
        raise RowSkipped('bad_scene_name', f'{name} {value!r} holds a NUL character')
    path = os.path.normpath(value)
    if _leaves_folder(value) or path == '.':
        raise RowSkipped('bad_scene_name', f'{name} {value!r} is not a path inside --frames_dir')
    return path


@functools.lru_cache(maxsize=1 << 16)  # as _leaves_folder
def scene_key(name: str) -> str:
    """The scene that a scene name, frame folder, video or exclusion-list entry denotes: `scannet/scene0000_00/`,
    `scannet/scene0000_00.mp4`, `scannet\\scene0000_00` and `SCENE0000_00` -> `scene0000_00`. Exclusion compares
    these, so a benchmark scene is found however a row or a list spells it (a scene of the same name in another
    dataset, or in another case, is excluded too: over-excluding costs a few rows, a leak costs the score)."""
    # NFC: a list typed on macOS may spell an accented name in decomposed form; casefold: a list typed in capitals
    key = os.path.basename(os.path.normpath(unicodedata.normalize('NFC', name.strip()).replace('\\', '/'))).casefold()
    return os.path.splitext(key)[0] if is_video(key) else key


def row_to_question(row: Any, location: str, index: int, source: str) -> tuple[str, Question]:
    """(layout, Question) for one input row. Raises RowSkipped for a row that cannot be used as it is."""
    if not isinstance(row, dict):
        raise RowSkipped('malformed_row', f'expected a JSON object, got {_json_type(row)}')
    layout = detect_layout(row)
    if layout is None:
        # a null field is there without a value: parquet gives every row every column, null where a row has none
        null = [f'`{key}`' for key in ('question', 'conversations', 'messages') if key in row]
        if null:
            raise RowSkipped('missing_field', f'no question: {", ".join(null)} null')
        raise RowSkipped('unknown_layout', 'no `question`, `conversations` or `messages` field')
    scene, video = _row_scene(row, layout)
    options = row.get('options')
    other_answer = None  # a second statement of the answer, which must agree with the first
    if layout == 'benchmark':
        if isinstance(options, (list, tuple)):
            options = [_prompt_text(o) if isinstance(o, str) else o for o in options]
        question = _benchmark_question(_text(row.get('question')), options)
        answer, other_answer = _answer_text(row.get('mc_answer')), _answer_text(row.get('ground_truth'))
        if answer is None:
            answer, other_answer = other_answer, None
    elif layout == 'conversations':
        prompt, answer = _single_turn(row, 'conversations', location)
        question, parsed = parse_prompt(prompt)
        options = parsed or options
    else:
        prompt, answer = _single_turn(row, 'messages', location)
        question, parsed = parse_prompt(prompt)
        options = options or parsed
        # vsi_reward reads `ground_truth` where a row has no `solution`
        answer = _answer_text(row.get('solution')) or _answer_text(row.get('ground_truth')) or answer
    question_type = _text(row.get('question_type'))
    for name, value, given in (  # given: the row's own field, to tell a value that is not text from a missing one
        ('scene_name', scene, row.get('scene_name')),
        ('question_type', question_type, row.get('question_type')),
        ('question', question, row.get('question') if layout == 'benchmark' else None),
        ('answer', answer, None),  # _answer_text returns any answer that is there as text
    ):
        if not value:
            missing = _absent(given) or isinstance(given, str)  # an empty string is no value either
            raise RowSkipped('missing_field', f'no {name}' if missing else _not_text(name, given))
    identifier = _row_id(row.get('id'), f'{source}:{index}')
    dataset = _text(row.get('dataset')) or _text(row.get('data_source'))
    texts = [identifier, scene, question_type, question, answer, other_answer, dataset, video]
    _check_unicode(texts + (list(options) if isinstance(options, (list, tuple)) else []))
    scene, dataset = _inside_path(scene, 'scene'), _inside_path(dataset, 'dataset')
    options, letters = _check_options(question_type, options)
    solution = _check_answer(question_type, answer, options, letters)
    if other_answer is not None and options is not None:
        # mc_answer beside ground_truth: a ground_truth that names no option is another wording of the answer (the
        # letter decides); one that names a different option than mc_answer leaves the answer unknown.
        other = None
        with contextlib.suppress(RowSkipped):
            other = _check_answer(question_type, other_answer, options, letters)
        if other not in (None, solution):
            raise RowSkipped(
                'ambiguous_answer',
                f'mc_answer {answer!r} is option {solution} but ground_truth {other_answer!r} is option {other}',
            )
    return layout, Question(identifier, scene, question_type, question, options, solution, dataset, video, location)


def _benchmark_question(text: str | None, options: Any) -> str | None:
    """A benchmark row's question without the prompt parts some exporters leave in it, as parse_prompt takes them
    out of the other layouts' prompts: build_prompt adds them again, so kept they would reach the model twice.

    An options block in the text is dropped only when it is the row's `options`; one that differs (or a numeric
    row's) would be a second, contradicting statement of the choices: RowSkipped('question_holds_prompt').
    """
    if text is None:
        return None
    question, parsed = parse_prompt(text)
    if parsed is not None:
        given = (
            [o.strip() for o in options]
            if isinstance(options, (list, tuple)) and all(isinstance(o, str) for o in options)
            else options
        )
        if parsed != given:
            raise RowSkipped(
                'question_holds_prompt', f'question holds the options {parsed}, which are not its options {options}'
            )
    if not question:
        raise RowSkipped('question_holds_prompt', f'question holds only the fixed parts of a prompt: {text!r}')
    return question


def _row_scene(row: dict, layout: str | None) -> tuple[str | None, str | None]:
    """(scene name, video) as a row of this layout gives them, unchecked: its scene_name, else (swift) its first frame's
    folder or its first clip's name, else (conversations) its video's file name."""
    scene = _name(row.get('scene_name'))
    video = _first_string(row.get('video')) if layout == 'conversations' else None
    if scene is None and layout == 'swift':  # a frame sits in its scene's folder; a clip is named after its scene
        frame, clip = _first_string(row.get('images')), _first_string(row.get('videos'))
        if frame or clip:
            name = os.path.dirname(frame) if frame else _CLIP_SUFFIX_RE.sub('', _stem_path(clip))
            scene = os.path.basename(name) or None
    if scene is None and video:
        scene = os.path.basename(_stem_path(video))
    return scene, video


def _option_text(option: str) -> str:
    """`B. Lamp ` -> `lamp`."""
    return option.split('.', 1)[1].strip().lower()


def _check_options(question_type: str, options: Any) -> tuple[list[str] | None, list[str]]:
    """(options, their letters) for a multiple-choice question, (None, []) for a numeric one."""
    if not prompt_is_multiple_choice(question_type, options):
        return None, []
    if not isinstance(options, (list, tuple)) or not options or not all(isinstance(o, str) for o in options):
        raise RowSkipped('bad_options', f'{question_type} question without a list of options')
    options = [option.strip() for option in options]
    letters = option_letters(options)
    if len(letters) != len(options) or len(set(letters)) != len(letters):
        raise RowSkipped('bad_options', f'options are not all written as distinct `A. text`: {options}')
    # Two options with the same text are left alone: a letter answer is still exact (the evaluator must take every
    # benchmark row), and an answer given as that text names both options, which _check_answer refuses.
    return options, letters


def _check_answer(question_type: str, answer: str, options: list[str] | None, letters: list[str]) -> str:
    """The answer as the option letter (from `B`, `b`, `(B).`, `B. lamp` or `lamp`), or the number as given."""
    if options is not None:
        core = answer.strip('()[]. ')
        named = {core.upper()} & set(letters) if len(core) == 1 else set()
        named |= {
            letter
            for letter, option in zip(letters, options, strict=True)
            if answer.lower() in (option.lower(), _option_text(option))
        }
        if len(named) > 1:  # `a` with options `A. back` and `C. a`
            raise RowSkipped('ambiguous_answer', f'answer {answer!r} names options {sorted(named)} of {options}')
        if not named:
            raise RowSkipped('answer_not_in_options', f'answer {answer!r} is none of {options}')
        return named.pop()
    # vsi_scoring's rule, so a row written here is a row the evaluator accepts; 0 and negative values pass (the
    # scorers score both).
    if ground_truth_number(answer) is None:
        raise RowSkipped('non_numeric_answer', f'{question_type} answer {answer!r} is not a number')
    return answer


def _check_unicode(values: Iterable[Any]) -> None:
    """RowSkipped('malformed_row') for text holding a lone UTF-16 surrogate: JSON can spell one (`"\\ud83d"`), no
    UTF-8 file can hold it, and the write (or the summary listing the row) would otherwise fail at the end of the run
    without saying where."""
    for value in values:
        if isinstance(value, str):
            try:
                value.encode('utf-8')
            except UnicodeEncodeError as e:
                raise RowSkipped(
                    'malformed_row',
                    f'{value!r} holds {value[e.start : e.end]!r}, half of a UTF-16 surrogate pair, which UTF-8 cannot '
                    'store; fix the text in the input',
                ) from None


_JSON_TYPES = {type(None): 'null', bool: 'a boolean', int: 'a number', float: 'a number', str: 'a string'}


def _json_type(value: Any) -> str:
    """What a value is, in JSON's words (`null`, `an array`, `a string`), for a message about a file written in JSON:
    Python's names (NoneType, list, str) are not what the user sees in the file."""
    if isinstance(value, (list, tuple)):
        return 'an array'
    if isinstance(value, dict):
        return 'an object'
    return _JSON_TYPES.get(type(value), f'a {type(value).__name__}')


def load_scene_names(*paths: str) -> frozenset[str]:
    """Scene names to exclude, from any number of files: text lists (one a line, `#` comments), or JSON / JSONL /
    parquet holding rows in any supported layout or scene names as strings (`["scene0000_00", ...]`).

    A file that lists no scene (empty, `[]`, comments only) is an error naming it: it was passed to keep the benchmark
    out, so it is the wrong file or a cut-off copy, and training would go on with every benchmark scene in it (only
    the warning for runs given no list at all, which does not name the file, said so).
    """
    scenes: set[str] = set()
    for path in paths:
        names = _scene_names_in(path)
        if not names:
            raise VsiDataError(
                f'{path} lists no scenes to exclude; pass the benchmark question file or a list of its scenes'
            )
        scenes |= names
    return frozenset(scenes)


def _scene_names_in(path: str) -> set[str]:
    if path.lower().endswith(_TEXT_LIST_EXTENSIONS):
        # Read like every other input (a byte order mark would otherwise glue itself to the first scene name, and
        # that scene would silently stay in training).
        names = set()
        with open(path, 'rb') as f:
            for number, line in _text_lines(path, f):
                name = line.split('#', 1)[0].strip()
                if name:
                    names.add(_one_scene(name, f'{path}: line {number}'))
        return names
    scenes = set()
    for location, row in read_rows(path, name=path):  # the whole path: this error names no flag of its own
        if isinstance(row, str):  # a JSON list of scene names, as a script dumps a list
            if row.strip():
                scenes.add(_one_scene(row.strip(), location))
            continue
        if (isinstance(row, int) and not isinstance(row, bool)) or (isinstance(row, float) and row.is_integer()):
            scenes.add(_name(row))  # ARKitScenes names are numbers: a dumped list of them holds ints (41069025)
            continue
        if not isinstance(row, dict):
            raise VsiDataError(f'{location}: expected a scene name or a row (a JSON object), got {_json_type(row)}')
        scene, _ = _row_scene(row, detect_layout(row))  # as the rows to convert are read: a swift row's media too
        video = _first_string(row.get('video'))
        if scene is None and video:
            scene = os.path.basename(_stem_path(video))
        if scene is None:
            raise VsiDataError(f'{location}: no scene_name (nor video, images or videos) to exclude')
        scenes.add(scene)
    return scenes


def _one_scene(name: str, location: str) -> str:
    """`name`, an entry of an exclusion list; VsiDataError for `a, b`, which would exclude neither a nor b."""
    if _LIST_SEPARATOR_RE.search(scene_key(name)):
        raise VsiDataError(f'{location}: {name!r} is not one scene: list each scene on its own')
    return name


# ----------------------------------------------------------------------------------------------------------
# Frames and clips
# ----------------------------------------------------------------------------------------------------------


# Every media file of this many first rows of a swift JSONL is checked (media_to_check); past them, each frame folder
# and each clip once.
MEDIA_CHECK_ROWS = 8


def media_to_check(rows: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, str, str]]:
    """(line, path, target) for the media of swift rows `(line, row)` that a check before training looks at.

    `target` is the path itself for every image and clip of the first MEDIA_CHECK_ROWS rows, then a frame's folder,
    each distinct folder and clip once: one pass and no file access, so cheap enough for every load, and it catches a
    JSONL moved away from its frames and a frame folder or clip missing from a copy, which swift would otherwise drop
    row by row once the model has loaded. Paths written as `{"path": ...}` are read too; values that are no path are
    left to swift. One source for the loader (first_missing_media, which vsi_dataset.py calls) and the launchers'
    preflight (train_vsi_grpo.media_problem), which resolve the targets each as its reader will.
    """
    seen = set()
    for line, row in rows:
        for key in ('images', 'videos') if isinstance(row, dict) else ():
            media = row.get(key)
            for item in [media] if isinstance(media, (str, dict)) else media if isinstance(media, list) else ():
                path = item.get('path') if isinstance(item, dict) else item
                if not isinstance(path, str):
                    continue
                # rpartition: five times faster than os.path.dirname
                target = path if key == 'videos' or line <= MEDIA_CHECK_ROWS else path.rpartition('/')[0]
                if target not in seen:
                    seen.add(target)
                    yield line, path, target


FIRST_ROW_MAX_BYTES = 16 << 20  # a swift row of 32 frames is a few kB: past this, the file is not JSON rows


def first_json_row(path: str) -> Any:
    """The first row of a JSON list or JSON-lines file (either suffix holds either, as for swift), decoded from the
    start of the file only: a training set can be gigabytes. None when it has no rows; ValueError when the start of the
    file (up to FIRST_ROW_MAX_BYTES) holds no JSON value, or one nested too deeply to decode."""
    decoder = json.JSONDecoder()
    text, error = '', None
    with open(path, encoding='utf-8-sig') as f:
        while len(text) < FIRST_ROW_MAX_BYTES and (chunk := f.read(1 << 20)):
            text += chunk
            body = text.lstrip()
            body = body[1:].lstrip() if body.startswith('[') else body
            if body.startswith(']'):
                return None
            if not body:  # blank so far: a file of blank lines has no rows
                continue
            try:
                return decoder.raw_decode(body)[0]
            except json.JSONDecodeError as last:
                error = last  # the first row goes on in the next chunk, or the file is not JSON
            except RecursionError:
                raise ValueError('its first row is nested too deeply to decode') from None
    if error:
        raise error
    return None


def first_json_object(path: str) -> dict:
    """first_json_row, which must be a JSON object (a swift row); else VsiDataError naming the file: no rows, not JSON
    (or not UTF-8), a first row that is no object. The launchers' dataset check and vsi_train's loader both ask."""
    try:
        row = first_json_row(path)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise VsiDataError(f'{path} cannot be read as a dataset: {error}'.replace('\n', ' ')) from None
    if row is None:
        raise VsiDataError(f'{path} has no rows')
    if not isinstance(row, dict):
        raise VsiDataError(f'{path} does not hold JSON rows (objects): its first row is {type(row).__name__}')
    return row


def jsonl_objects(path: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line of a JSON-lines file; VsiDataError naming the first line that does
    not decode (a file cut short, a line edited by hand), which swift's loader reports naming neither file nor line."""
    with open(path, 'rb') as f:
        for number, line in _text_lines(path, f):  # a BOM, as swift's reader takes it; bad UTF-8 named by its line
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except (ValueError, RecursionError) as e:
                reason = 'nested too deeply' if isinstance(e, RecursionError) else e
                raise VsiDataError(
                    f'{path}: line {number} is not valid JSON ({reason}): fix or remove the line'
                ) from None


def is_json_lines(path: str) -> bool:
    """Whether a .json/.jsonl file holds JSON lines rather than one JSON array (either suffix holds either)."""
    with open(path, encoding='utf-8-sig') as f:
        while chunk := f.read(1 << 16):
            body = chunk.lstrip()
            if body:
                return not body.startswith('[')
    return True


def media_rows(path: str) -> Iterator[tuple[int, Any]]:
    """The (line, row) pairs whose media a check before training looks at (media_to_check): each line of a JSON-lines
    file (one that does not decode is jsonl_objects' VsiDataError); of a JSON array only its first row, since decoding
    it all may take gigabytes (a first row that does not decode is first_json_row's ValueError)."""
    if is_json_lines(path):
        yield from jsonl_objects(path)
    elif (row := first_json_row(path)) is not None:
        yield 1, row


def is_local_path(path: Any) -> bool:
    """Whether a media entry is a file path (swift also takes URLs and base64 `data:` URIs)."""
    return isinstance(path, str) and '://' not in path and not path.startswith('data:')


def first_missing_media(jsonl: str, base_dir: str) -> tuple[int, str] | None:
    """(line, path) of the JSONL's first local image or clip, among those media_to_check picks from media_rows, that
    does not exist with relative paths taken from `base_dir`; None when all do."""
    for line, path, target in media_to_check(media_rows(jsonl)):
        # normpath, as the loader joins them: `linked/../frames` is the folder beside the link, not the link target's
        if is_local_path(path) and not os.path.exists(os.path.normpath(os.path.join(base_dir, target))):
            return line, os.path.normpath(os.path.join(base_dir, path))
    return None


def media_folder(jsonl: str) -> tuple[str, tuple[int, str] | None]:
    """(folder, None): the folder the JSONL's relative media paths are meant from, its media found there; else (the
    real file's folder, the first missing media there as first_missing_media gives it).

    This script writes them relative to the output path it was given, symlinks unresolved. For a symlink to the file
    (`runs/train.jsonl -> /data/out/train.jsonl`) that is the real file's folder, but for a file written through a
    symlinked folder (`data/out -> /mnt/out`, frames in `data/frames`) it is the link's: both are tried, the real one
    first, and the first whose media exist is kept. The loader (vsi_dataset.py) and the launchers' ROOT_IMAGE_DIR
    (train_vsi_grpo.image_root) use it, so training reads the frames the evaluator reads.
    """
    folders = list(dict.fromkeys(os.path.dirname(p) for p in (os.path.realpath(jsonl), os.path.abspath(jsonl))))
    first = None
    for folder in folders:
        missing = first_missing_media(jsonl, folder)
        if missing is None:
            return folder, None
        first = first or (folder, missing)
    return first


class FrameIndex:
    """Finds each scene's frame folder and picks its frames; every directory is listed once.

    A chosen frame that is an empty file (a disk that filled up, a copy cut short) or a link to nothing gives the
    folder's rows `missing_frames`: image rows would point the trainer at a file no reader opens, and a clip could not
    be written. Only the chosen frames are looked at, once per folder (one stat each; bench/bench_preprocess.py
    measures it), so an empty frame that is not used costs no row.
    """

    def __init__(self, frames_dir: str, num_frames: int, allow_fewer: bool):
        self.frames_dir = os.path.abspath(frames_dir)
        self.num_frames = num_frames
        self.allow_fewer = allow_fewer
        self._listing: dict[str, list[str] | None] = {}
        self._chosen: dict[str, list[str]] = {}
        self._unusable: dict[str, str] = {}  # folder -> why its chosen frames cannot be used
        self._nested: dict[str, list[str]] | None = None
        # A video file in frames_dir or a folder below it (relative path) when no folder there holds frames, found by
        # the scan for scene folders: pointing frames_dir at the videos is a common mix-up, which a missing-frames
        # message then names. (Frames extracted beside their videos are a supported layout: no hint then.)
        self.video_example: str | None = None
        self.fewer: dict[str, int] = {}  # folder -> frames found, when fewer than asked were allowed
        # folder -> frames found, when more than asked (an even subset is used) and not every frame of the video, whose
        # even subset is the benchmark's sampling
        self.more: dict[str, int] = {}

    def _frames_in(self, folder: str) -> list[str] | None:
        if folder not in self._listing:
            try:
                with os.scandir(os.path.join(self.frames_dir, folder)) as entries:
                    found = [(int(m.group(1)), e.name) for e in entries if (m := _FRAME_RE.match(e.name))]
            except (FileNotFoundError, NotADirectoryError):
                found = []
            except OSError as e:  # a scene name longer than a file name may be cannot have frames either
                if e.errno != errno.ENAMETOOLONG:
                    raise
                found = []
            self._listing[folder] = [name for _, name in sorted(found)] or None
        return self._listing[folder]

    def _scene_folders(self, scene: str) -> list[str]:
        """`<dataset>/<scene>` folders with frames, for rows that do not say their dataset."""
        if self._nested is None:
            self._nested = defaultdict(list)
            videos, folders = [], []
            with os.scandir(self.frames_dir) as top:
                for entry in top:
                    if entry.is_dir():
                        folders.append(entry.name)
                        with os.scandir(entry.path) as inner:
                            for sub in inner:
                                if sub.is_dir():
                                    self._nested[sub.name].append(f'{entry.name}/{sub.name}')
                                elif is_video(sub.name):
                                    videos.append(f'{entry.name}/{sub.name}')
                    elif is_video(entry.name):
                        videos.append(entry.name)
            folders += [folder for nested in self._nested.values() for folder in nested]
            if videos and not any(self._frames_in(folder) for folder in folders):  # stops at the first frame folder
                self.video_example = min(videos)  # min: the same example whatever the listing order
        return [folder for folder in self._nested.get(scene, []) if self._frames_in(folder)]

    def locate(self, question: Question) -> str:
        """The folder (relative to frames_dir) holding the question's frames. Raises RowSkipped if none."""
        candidates = []
        if question.video and not _leaves_folder(question.video):
            candidates.append(_stem_path(question.video))
        if question.dataset:
            candidates.append(f'{question.dataset}/{question.scene_name}')
        candidates.append(question.scene_name)
        candidates = list(dict.fromkeys(candidates))  # a row's video is often <dataset>/<scene>: name it once
        for folder in candidates:
            if self._frames_in(folder):
                return folder
        nested = self._scene_folders(question.scene_name)
        if len(nested) == 1:
            return nested[0]
        where = ' or '.join(os.path.join(self.frames_dir, c) for c in candidates)
        if nested:
            raise RowSkipped(
                'missing_frames',
                f'scene {question.scene_name!r} has frames in several folders '
                f'({", ".join(sorted(nested))}); give the row a dataset',  # sorted: the same whatever the listing
            )
        hint = ''
        if self.video_example:
            hint = (
                f'; {self.frames_dir} holds videos ({self.video_example}), not the frame folders extract_frames.py '
                'writes: run extract_frames.py on them first'
            )
        raise RowSkipped('missing_frames', f'no frames for scene {question.scene_name!r} in {where}{hint}')

    def choose(self, folder: str, scene: str, location: str = '') -> list[str]:
        """The file names of the frames to use: an even subset when there are more than asked. RowSkipped when one of
        them is an empty file, VsiDataError for a folder with fewer frames than asked (unless allowed)."""
        if folder in self._unusable:
            raise RowSkipped('missing_frames', self._unusable[folder])
        if folder not in self._chosen:
            names = self._frames_in(folder)
            if len(names) < self.num_frames:
                if not self.allow_fewer:
                    where = os.path.join(self.frames_dir, folder)
                    raise VsiDataError(
                        f'{location}: scene {scene!r} has only {len(names)} frames in {where} but --num_frames '
                        f'is {self.num_frames}; extract more frames or pass --allow_fewer_frames'
                    )
                chosen = names
            else:
                chosen = [names[i] for i in sample_indices(len(names), self.num_frames)]
            source = os.path.join(self.frames_dir, folder)
            empty = next((name for name in chosen if not _has_bytes(os.path.join(source, name))), None)
            if empty is not None:
                self._unusable[folder] = (
                    f'frame {os.path.join(source, empty)} is empty (or a link to nothing): a damaged extraction; run '
                    'extract_frames.py again, which redoes such folders'
                )
                raise RowSkipped('missing_frames', self._unusable[folder])
            if len(names) < self.num_frames:  # for the summary, once the chosen frames are known to be usable
                self.fewer[folder] = len(names)
            elif len(names) > self.num_frames and not _every_frame(source, len(names)):
                self.more[folder] = len(names)
            self._chosen[folder] = chosen
        return self._chosen[folder]


def _every_frame(folder: str, count: int) -> bool:
    """Whether the `count` frames of `folder` are every frame its video decodes to, by its extract_frames record (an
    even subset of them is then round(linspace(0, n - 1, num_frames)) over the video). False without a record:
    frames from elsewhere, where a dump at a lower rate cannot be told from a whole one."""
    try:
        with open(os.path.join(folder, RECORD_NAME), 'rb') as f:
            record = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get('total_frames') == count == record.get('num_frames')


def _has_bytes(path: str) -> bool:
    """Whether a file holds anything; False for an empty file and for a link to nothing."""
    try:
        return os.stat(path).st_size > 0
    except OSError:
        return False


def _changed_ns(path: str) -> int:
    """When the file at `path` last changed, by its content (mtime) or by being put there (ctime)."""
    stat = os.stat(path)
    return max(stat.st_mtime_ns, stat.st_ctime_ns)


def write_clip(frame_paths: Sequence[str], clip_path: str, fps: float) -> None:
    """Encode frames as a constant-frame-rate H.264 clip (atomically).

    An odd count gets its last frame repeated: Qwen3-VL reads clips in pairs of frames (qwen-vl-utils rounds the
    frame count down to even), so an odd last frame would otherwise be dropped. Frames of another size than the
    first are resized to it; yuv420p needs even sides, so an odd side loses its last pixel row or column.
    """
    import av
    import numpy as np
    from PIL import Image

    images = [_rgb_frame(path) for path in frame_paths]
    width, height = images[0].size
    width, height = width - width % 2, height - height % 2
    if width < 2 or height < 2:
        raise VsiDataError(f'frame {frame_paths[0]} is too small for a video clip ({images[0].size})')
    if len(images) % 2:
        images.append(images[-1])
    with atomic_path(clip_path) as tmp, av.open(tmp, 'w', format='mp4') as container:
        stream = container.add_stream('libx264', rate=clip_rate(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        # No B-frames: every reader (decord, torchvision, torchcodec) then maps index i to frame i.
        stream.options = {'crf': str(CLIP_CRF), 'preset': 'veryfast', 'bf': '0'}
        for image in images:
            if image.size != (width, height):
                image = (
                    image.resize((width, height), Image.BICUBIC)
                    if image.size != images[0].size
                    else image.crop((0, 0, width, height))
                )
            frame = av.VideoFrame.from_ndarray(np.asarray(image), format='rgb24')
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _rgb_frame(path: str) -> Any:
    """The frame at `path` as an RGB PIL image; VsiDataError naming it when it does not decode (Pillow says only
    `Truncated File Read` of a cut-off JPEG)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.convert('RGB')
    except OSError as e:
        raise VsiDataError(
            f'frame {path} cannot be read as an image ({e}); extract the frames of its video again'
        ) from e


def video_env(num_frames: int, fps: float = DEFAULT_VIDEO_FPS) -> dict[str, str]:
    """Environment for swift's Qwen3-VL template (qwen-vl-utils) under which every frame of our clips is read.

    qwen-vl-utils samples `frames / clip_fps * FPS` frames, at most FPS_MAX_FRAMES, rounded down to even: with FPS
    equal to the clip's rate and FPS_MAX_FRAMES at least the (even) clip length, that is every frame, for the rates
    PreprocessConfig accepts (_check_clip_rate refuses the others). The values returned are the least that work; a
    larger FPS_MAX_FRAMES (the default is 768) works too.
    """
    return {'FPS': f'{fps:g}', 'FPS_MAX_FRAMES': str(num_frames + num_frames % 2)}


def clip_rate(fps: float) -> Fraction:
    """The frame rate of a clip written for `fps`: the nearest fraction with a denominator up to 1000."""
    return Fraction(fps).limit_denominator(1000)


def frames_read(frames: int, fps: float) -> int:
    """How many frames of a clip of `frames` frames (even) written for `fps` qwen-vl-utils reads under video_env: its
    smart_nframes takes `frames / clip rate * FPS` in floating point, rounded down to even, at most `frames`."""
    wanted = frames / float(clip_rate(fps)) * float(video_env(frames, fps)['FPS'])
    return math.floor(min(wanted, frames) / 2) * 2


def _check_clip_rate(fps: float, num_frames: int, allow_fewer: bool) -> None:
    """VsiDataError for a --video_fps at which the processor would not read every frame of a clip this run can write
    (from 2 frames when fewer are allowed): a rate the clip cannot hold exactly, or one whose float arithmetic ends
    just below the frame count (1/3 reads 30 of 32 frames; 25 reads 56 of 58), which video_env's FPS cannot fix."""
    longest = num_frames + num_frames % 2
    for frames in range(2, longest + 1, 2) if allow_fewer else (longest,):
        read = frames_read(frames, fps)
        if read < frames:
            raise VsiDataError(
                f'--video_fps {fps:g}: Qwen3-VL would read {read} of the {frames} frames of a clip (qwen-vl-utils '
                'takes frames / clip rate * FPS in floating point, rounded down to even); choose another rate, e.g. '
                f'the default {DEFAULT_VIDEO_FPS:g}'
            )


class MediaWriter:
    """Turns a scene's chosen frames into the row's `images` or `videos` value, cached per scene folder."""

    def __init__(self, config: PreprocessConfig, index: FrameIndex, summary: Summary):
        self.config = config
        self.index = index
        self.summary = summary
        self._values: dict[str, list[str]] = {}
        self._base = os.path.abspath(config.base_dir)
        self._clip_folders: set[str] = set()  # folders already rid of clips half-written by killed runs

    def _path(self, absolute: str) -> str:
        return absolute if self.config.path_mode == 'absolute' else os.path.relpath(absolute, self._base)

    def value(self, folder: str, scene: str) -> list[str]:
        if folder not in self._values:
            names = self.index.choose(folder, scene)
            source = os.path.join(self.index.frames_dir, folder)
            if self.config.media == 'image':
                prefix = self._path(source)
                self._values[folder] = [os.path.join(prefix, name) for name in names]
            else:
                self._values[folder] = [self._path(self._clip(source, folder, names))]
        return self._values[folder]

    def _clip(self, source: str, folder: str, names: list[str]) -> str:
        frames = [os.path.abspath(os.path.join(source, name)) for name in names]
        # Named by the frames it holds too: frame folders of two extractions (32 and 64 frames, two sizes) share
        # the scene names and, by default, the clips folder, and must not share a clip.
        digest = hashlib.sha256('\n'.join(frames).encode('utf-8', 'surrogateescape')).hexdigest()[:12]
        clip = os.path.join(
            os.path.abspath(self.config.clips_dir),
            f'{folder}_k{self.config.num_frames}_fps{self.config.video_fps:g}_{digest}.mp4',
        )
        if os.path.dirname(clip) not in self._clip_folders:
            self._clip_folders.add(os.path.dirname(clip))
            self.summary.stale_temps_removed += len(remove_stale_temps(os.path.dirname(clip)))
        # A clip from an earlier run is reused unless one of its frames was written after it, or put in place after
        # it: the change time too, as `cp -p` and `rsync -a` keep a replaced frame's older modification time.
        if os.path.exists(clip) and os.stat(clip).st_mtime_ns >= max(_changed_ns(f) for f in frames):
            self.summary.clips_reused += 1
        else:
            write_clip(frames, clip, self.config.video_fps)
            self.summary.clips_written += 1
        return clip


# ----------------------------------------------------------------------------------------------------------
# Conversion
# ----------------------------------------------------------------------------------------------------------


def make_row(question: Question, media: list[str], config: PreprocessConfig) -> dict[str, Any]:
    """The swift row for one question: media tags then the prompt; the bare answer as the assistant turn."""
    prompt = build_prompt(question.question, question.question_type, question.options, config.prompt_style)
    tags = '<video>' if config.media == 'video' else '<image>' * len(media)
    return {
        'messages': [{'role': 'user', 'content': tags + prompt}, {'role': 'assistant', 'content': question.solution}],
        ('videos' if config.media == 'video' else 'images'): media,
        'solution': question.solution,
        'question_type': question.question_type,
        'options': question.options,
        'id': question.id,
        'scene_name': question.scene_name,
        'prompt_style': config.prompt_style,  # vsi_reward_strict scores think rows as the evaluator does
    }


def _check_selection(names: Sequence[str], seen_types: Collection[str]) -> None:
    """VsiDataError for a selected name that is neither a VSI-Bench type (vsi_scoring's rule, as the evaluator
    applies it) nor a type of the input: a typo must fail, not select nothing. Types of other generators that the
    input holds (written and reported as unknown types) can be selected."""
    try:
        check_type_selection(name for name in names if name not in seen_types)
    except ValueError as e:
        raise VsiDataError(f'--question_types / VSI_QUESTION_TYPES: {e}; nor is it a type of the input') from None


def _check_excluded(excluded: Collection[str], *names: str | None) -> None:
    """SceneExcluded if any of the scene names or paths denotes an excluded scene."""
    for name in names if excluded else ():
        if name and (key := scene_key(name)) in excluded:
            raise SceneExcluded(key, f'scene {key!r}' + (f' (from {name!r})' if name != key else ''))


def _left_out(row: dict, config: PreprocessConfig) -> None:
    """RowSkipped with a DROP_REASONS reason for a row the options leave out, judged from its fields as given: on an
    excluded scene (by its scene or video), or of a question type not selected."""
    scene, video = _row_scene(row, detect_layout(row))
    _check_excluded(config.exclude_scenes, scene, video and _stem_path(video))
    question_type = _text(row.get('question_type'))
    if question_type is not None and not type_selected(question_type, config.question_types):
        raise RowSkipped('question_type_not_selected', question_type)


class UniqueIds:
    """Gives every written row an id of its own.

    Input files commonly number their rows from 0 each, and a generated `<source>:<index>` or a later turn's
    `<id>_2` may equal an explicit id: dropping a row for its id would lose questions. So an id already used by the
    same question (same frames, type, text, options and answer), or a question read without an id, marks a
    duplicate, which is skipped (`check`, as the rows are read); used by another question, the row is written as
    `<id>#2` (`#3`, ...: the first free one) and counted (`assign`, once the selection has decided which rows are
    written, so only those claim ids).
    """

    def __init__(self):
        self._seen: dict[str | None, dict[tuple, str]] = {}  # id (None: none) -> {content read with it: location}
        self._anywhere: dict[tuple, str] = {}  # content of every question read -> where it was first read

    def check(self, question: Question, folder: str, id_made: bool = False) -> None:
        """RowSkipped('duplicate_question') for a question already read under the same id or without one. A row that
        had no id (`id_made`: its `<source>:<index>` says nothing) is a duplicate of the same question read under any
        id or none: the same file's rows with and without ids (a conversations export beside the benchmark rows).
        A number is the same answer however it is written (`3`, `3.0`, `"3.00"`: a parquet export of a JSON file)."""
        options = tuple(question.options) if question.options is not None else None
        solution = question.solution if options is not None else ground_truth_number(question.solution)
        content = (folder, question.question_type, question.question, options, solution)
        if id_made:
            earlier = self._anywhere.get(content)
        else:
            earlier = self._seen.get(question.id, {}).get(content) or self._seen.get(None, {}).get(content)
        if earlier:
            named = 'no id' if id_made else f'id {question.id!r}'
            raise RowSkipped('duplicate_question', f'{named}: same question as {earlier}')
        self._seen.setdefault(None if id_made else question.id, {})[content] = question.location
        self._anywhere.setdefault(content, question.location)

    @staticmethod
    def assign(questions: Iterable[Question]) -> Iterator[tuple[Question, str | None]]:
        """Each question with the first free one of its id, `<id>#2`, `<id>#3` ... (set on it), in the order given,
        and what was renamed (for the summary), or None when its own id was free."""
        taken: dict[str, str] = {}  # id -> location of the question given it
        for question in questions:
            chain = itertools.chain([question.id], (f'{question.id}#{n}' for n in itertools.count(2)))
            candidate = next(candidate for candidate in chain if candidate not in taken)
            taken[candidate] = question.location
            renamed = None
            if candidate != question.id:
                renamed = f'id {question.id!r} already used at {taken[question.id]}; written as {candidate!r}'
                question.id = candidate
            yield question, renamed


def _input_names(paths: Sequence[str]) -> list[str]:
    """How locations (`train.jsonl:line 3`) and, without the extension, made ids (`train:3`) name each input: by its
    file name, or where two inputs share a file name, by its path from the folder they all sit in
    (`scannet/train.jsonl`, `arkitscenes/train.jsonl`; ids `scannet/train:3`)."""
    names = [os.path.basename(path) for path in paths]
    shared = {name for name, count in Counter(names).items() if count > 1}
    if not shared:
        return names
    root = os.path.commonpath(
        [os.path.dirname(os.path.abspath(path)) for path, name in zip(paths, names, strict=True) if name in shared]
    )
    return [
        os.path.relpath(os.path.abspath(path), root) if name in shared else name
        for path, name in zip(paths, names, strict=True)
    ]


def _check_distinct_inputs(paths: Sequence[str]) -> None:
    """VsiDataError for a file given twice under any spelling (a link, `./`): every row of it would be read twice,
    the second time skipped as a duplicate of itself."""
    seen: dict[tuple[int, int], str] = {}
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:  # the reader says what is wrong with it
            continue
        key = (stat.st_dev, stat.st_ino)
        if key in seen:
            raise VsiDataError(f'--input_path: {path} is the same file as {seen[key]}; give each file once')
        seen[key] = path


def convert(input_paths: Sequence[str], config: PreprocessConfig) -> tuple[list[dict[str, Any]], Summary]:
    """Read every input file and return (swift rows, summary). Raises VsiDataError on malformed input, on a file
    given twice, on a scene with fewer frames than asked (unless allowed) and, under `config.strict`, on any skipped
    row."""
    _check_distinct_inputs(input_paths)
    if not config.exclude_scenes:
        # Both entry points (the script and vsi_dataset.py's vsi_raw) come through here.
        logger.warning(NO_EXCLUSION_WARNING)
    started = time.perf_counter()
    summary = Summary(inputs=[os.path.abspath(p) for p in input_paths])
    index = FrameIndex(config.frames_dir, config.num_frames, config.allow_fewer_frames)
    layouts: Counter = Counter()
    ids = UniqueIds()
    kept: list[tuple[Question, str]] = []
    seen_types: set[str] = set()  # of every row read, selected or not (_check_selection)
    excluded_found: set[str] = set()  # listed scenes that excluded a row
    input_of: dict[int, dict[str, int]] = {}  # id() of each kept question -> its input's counts
    for path, name in zip(input_paths, _input_names(input_paths), strict=True):
        source = os.path.splitext(name)[0]
        counts = summary.per_input[name] = dict.fromkeys(
            ('rows_read', 'extra_turns', 'written', 'skipped', 'dropped'), 0
        )
        rows = read_rows(path, name)
        for number, (row_location, row) in enumerate(
            tqdm(rows, desc=os.path.basename(path), unit=' rows', disable=not config.progress, mininterval=1.0)
        ):
            counts['rows_read'] += 1
            turns = expand_turns(row, row_location, f'{source}:{number}')
            counts['extra_turns'] += len(turns) - 1
            for location, turn in turns:
                # Before the row's checks: a type of another generator whose rows are all skipped is still no typo.
                if isinstance(turn, dict) and (question_type := _text(turn.get('question_type'))):
                    seen_types.add(question_type)
                try:
                    layout, question = row_to_question(turn, location, number, source)
                    layouts[layout] += 1
                    _left_out(turn, config)
                    folder = index.locate(question)
                    # The frames the row uses decide too: they may be its `video`'s, or a folder found by dataset.
                    _check_excluded(config.exclude_scenes, folder)
                    index.choose(folder, question.scene_name, location)
                    ids.check(question, folder, id_made=isinstance(row, dict) and _absent(row.get('id')))
                except RowSkipped as skip:
                    if skip.reason not in DROP_REASONS and skip.reason != 'bad_scene_name' and isinstance(turn, dict):
                        # A row the options leave out is left out whatever is wrong with its content: counted as such
                        # (a benchmark scene's rows are excluded ones), and no error under --strict.
                        try:
                            _left_out(turn, config)
                        except RowSkipped as choice:
                            skip = choice
                    if isinstance(skip, SceneExcluded):
                        excluded_found.add(skip.key)
                    if skip.reason in DROP_REASONS:
                        summary.count(summary.dropped, skip.reason, location, skip.detail)
                        counts['dropped'] += 1
                        continue
                    if config.strict:
                        raise VsiDataError(f'{location}: {skip.reason}: {skip.detail} (--strict)') from None
                    summary.count(summary.skipped, skip.reason, location, skip.detail)
                    counts['skipped'] += 1
                    continue
                kept.append((question, folder))
                input_of[id(question)] = counts
        if not counts['rows_read']:  # an empty or cut-off file, or the wrong one: its questions are missing
            logger.warning('%s holds no rows', path)
    summary.rows_read = sum(each['rows_read'] for each in summary.per_input.values())
    summary.extra_turns = sum(each['extra_turns'] for each in summary.per_input.values())

    if config.question_types:  # before any clip is encoded: a typo used to fail only after them all
        _check_selection(config.question_types, seen_types)
    questions_read = [question for question, _ in kept]
    if config.shuffle:
        random.Random(config.seed).shuffle(kept)
    if config.max_per_type is not None:
        taken: Counter = Counter()
        capped = []
        for question, folder in kept:
            taken[question.question_type] += 1
            if taken[question.question_type] > config.max_per_type:
                summary.count(summary.dropped, 'over_max_per_type', question.location, question.question_type)
                input_of[id(question)]['dropped'] += 1
            else:
                capped.append((question, folder))
        kept = capped
    # ids in reading order, whatever the shuffle: a row keeps its id however the others are ordered
    written = {id(question) for question, _ in kept}
    for question, renamed in UniqueIds.assign(q for q in questions_read if id(q) in written):
        if renamed:
            if config.strict:
                raise VsiDataError(f'{question.location}: {RENAMED_ID}: {renamed} (--strict)')
            summary.count(summary.renamed, RENAMED_ID, question.location, renamed)

    media = MediaWriter(config, index, summary)
    rows = [
        make_row(q, media.value(folder, q.scene_name), config)
        for q, folder in tqdm(kept, desc='rows', unit=' rows', disable=not config.progress or config.media == 'image')
    ]

    summary.written = len(rows)
    for question, _ in kept:
        input_of[id(question)]['written'] += 1
    summary.layouts = dict(layouts)
    summary.per_type = dict(Counter(q.question_type for q, _ in kept))
    summary.unknown_question_types = {t: n for t, n in summary.per_type.items() if t not in KNOWN_QUESTION_TYPES}
    folders = {folder for _, folder in kept}
    summary.scenes = len(folders)
    # Only folders whose frames are written: those of rows capped or skipped later were chosen from too.
    summary.scenes_with_fewer_frames = sorted(folder for folder in index.fewer if folder in folders)
    summary.scenes_with_more_frames = sorted(folder for folder in index.more if folder in folders)
    if config.question_types:
        # In the input, not among the rows written: a type whose rows were all skipped is counted under their reasons.
        # A category counts as found when any of its levels or variants is.
        summary.question_types_not_found = [
            name for name in config.question_types if not any(type_selected(t, (name,)) for t in seen_types)
        ]
    if config.media == 'video':
        summary.video_env = video_env(config.num_frames, config.video_fps)
    settings = asdict(config)
    settings['exclude_scenes'] = len(config.exclude_scenes)
    summary.excluded_scenes_not_found = sorted(config.exclude_scenes - excluded_found)
    summary.settings = settings
    summary.seconds = time.perf_counter() - started
    summary.rows_per_second = summary.rows_read / max(summary.seconds, 1e-9)
    return rows, summary


# ----------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """A temporary file beside `path` to write to, renamed onto `path` only if the block ends without error
    (atomic_paths, for one file)."""
    with atomic_paths(path) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[list[str]]:
    """A temporary file beside each of `paths` to write to, renamed onto them in the order given only if the block
    ends without error, and only once every one is on disk (_fsync): a failure writing any of them (a full disk, found
    at the write or at the fsync) leaves all of `paths` as they were.

    Several files are renamed while their folder is held (_renaming_together): another writer of the same files
    cannot put its own between them.

    Readers never see a half-written file, and an interrupted run leaves no file that looks complete (the
    temporary ones are removed; after a SIGKILL, which nothing can catch, remove_stale_temps finds them by their name,
    `<name>.<pid>-<random>.<host>.tmp`). Writers that name a format (mp4, png) may write a temporary path
    directly. The files get the permissions a plain open() would give (0666 less the umask, so others on a shared
    cluster can read them), not mkstemp's 0600.
    """
    temps: list[str] = []
    try:
        for path in paths:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            while True:  # a unique name, created exclusively as mkstemp does
                tmp = os.path.join(folder, f'{os.path.basename(path)}.{os.getpid()}-{secrets.token_hex(4)}.{_HOST}.tmp')
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                    temps.append(tmp)
                    break
        yield temps
        for tmp in temps:
            _fsync(tmp)
        with _renaming_together(paths):
            for tmp, path in zip(temps, paths, strict=True):
                os.replace(tmp, path)
    except BaseException:
        for tmp in temps:
            if os.path.exists(tmp):  # not renamed yet
                os.unlink(tmp)
        raise


@contextlib.contextmanager
def _renaming_together(paths: Sequence[str | os.PathLike]) -> Iterator[None]:
    """Hold the folders of `paths` (flock) while the block renames them, so that another writer of the same files
    renames its own before or after, not between: two preprocess runs on one --output_path renamed their summaries
    and outputs in turn, leaving one run's output beside the other's summary. One file's rename is one step already.
    A kill (Ctrl-C, SIGKILL, power loss) can still stop between two renames: the summary then matches no file.

    The lock is a courtesy among writers of this bundle, which hold it for the renames alone: a folder locked longer
    (a wrapper's `flock FOLDER command`, say) is waited for RENAME_LOCK_SECONDS, then renamed into without it, with a
    warning. Where a folder cannot be opened or locked (no read permission, a file system without folder locks)
    nothing is held; on NFS the lock is local to the machine (the kernel's fallback), so writers on two machines are
    not kept apart."""
    with contextlib.ExitStack() as held:
        if len(paths) > 1:
            for folder in sorted({os.path.realpath(os.path.dirname(os.path.abspath(path))) for path in paths}):
                _hold_folder(folder, held)
        yield


def _hold_folder(folder: str, held: contextlib.ExitStack) -> None:
    """flock `folder` until `held` closes, waiting at most RENAME_LOCK_SECONDS (see _renaming_together)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # a folder one may write to but not read: renamed into without the lock
        return
    held.callback(os.close, fd)
    deadline = time.monotonic() + RENAME_LOCK_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                logger.warning(
                    '%s has been locked by another process for %g s (writers of this bundle hold it only while they '
                    'rename); renaming into it without the lock',
                    folder,
                    RENAME_LOCK_SECONDS,
                )
                return
            time.sleep(0.01)
        except OSError:  # ENOLCK, EOPNOTSUPP...: a folder lock is a courtesy, not a must
            return


def _fsync(path: str) -> None:
    """Force the file's data to disk. Renamed into place without it, a file can come back empty after a power loss or
    a node crash (the rename reaches the disk before the data): an empty run_config.json made a resumable evaluation
    ask for --overwrite, which discards its predictions."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(folder: str, targets: Collection[str] | None = None, locked: bool = False) -> list[str]:
    """Remove the temporary files of atomic_path in `folder` (for the file names `targets` only, if given) whose
    writer is gone, and return their paths.

    A killed run leaves one behind, as large as the output (hundreds of MB at 100k rows). Gone means: written by a
    process of this machine that no longer runs, or untouched for STALE_TEMP_SECONDS (a writer appends as it goes;
    one on another machine of a shared file system cannot be looked up, and one here may have had the pid of a process
    that runs now). Other files are never touched.
    `locked`: the caller holds a lock that every writer of these files here takes, so those of this machine are all
    gone, whatever their pid (in a container each run may get the same pid, so the killed run's pid looks alive).
    """
    removed: list[str] = []
    try:
        with os.scandir(folder) as scan:
            entries = list(scan)
    except FileNotFoundError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP_RE.fullmatch(entry.name)
        if not match or (targets is not None and match['target'] not in targets) or not entry.is_file():
            continue
        # untouched for STALE_TEMP_SECONDS: gone, wherever it was written; this machine's go as soon as their
        # process has, unless its pid runs again (in a container every run may be pid 1)
        try:
            stale = now - entry.stat().st_mtime > STALE_TEMP_SECONDS
        except FileNotFoundError:  # its writer renamed it into place (or another run removed it) since the listing
            continue
        if match['host'] == _HOST:
            stale = stale or locked or not _process_runs(int(match['pid']))
        if stale:
            with contextlib.suppress(FileNotFoundError):  # another run cleaning up at the same time
                os.unlink(entry.path)
                removed.append(entry.path)
    return removed


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write_text_atomic(path: str, chunks: Iterable[str]) -> None:
    """Write the chunks to `path` through atomic_path."""
    with atomic_path(path) as tmp, open(tmp, 'w', encoding='utf-8') as f:
        for chunk in chunks:
            f.write(chunk)


def json_text(value: Any) -> str:
    """`value` as the JSON files of this bundle are written: indented, non-ASCII kept, a final newline."""
    return json.dumps(value, indent=2, ensure_ascii=False) + '\n'


def write_json_atomic(path: str, value: Any) -> None:
    """`value` as JSON (json_text), through atomic_path."""
    write_text_atomic(path, [json_text(value)])


def summary_path(output_path: str) -> str:
    """`data/train.jsonl` -> `data/train.summary.json`."""
    return os.path.splitext(output_path)[0] + '.summary.json'


def file_sha256(path: str) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def matching_summary(output_path: str) -> Summary | None:
    """The summary beside `output_path` if it describes that very file (its size and SHA-256), else None.

    This is how a finished output is told from a partial or foreign one (see `preprocess` for the order of the two
    renames): no output, no summary, an unreadable summary, one written by another version of Summary, or one whose
    `output_sha256` differs all give None. A symlink's summary is the real file's: none lies beside the link, and
    without it, rows read through a link skipped the check that their frames were not extracted again.
    """
    output_path = os.path.realpath(output_path)
    try:
        with open(summary_path(output_path), encoding='utf-8') as f:
            summary = Summary(**json.load(f))
        if summary.output_bytes != os.path.getsize(output_path):  # cheap; the hash below is the proof
            return None
        return summary if summary.output_sha256 == file_sha256(output_path) else None
    except (OSError, ValueError, TypeError):
        return None


def frame_records(rows: Iterable[dict], base_dir: str) -> dict[str, str]:
    """extract_frames.frames_identity of each frame folder the image rows use, keyed by the folder as the rows name it
    (relative paths from `base_dir`); folders without an extract_frames record are left out. A row's frames all come
    from one folder: its first image names it."""
    folders = {os.path.dirname(row['images'][0]) for row in rows if row.get('images')}
    identities = {
        folder: frames_identity(os.path.normpath(os.path.join(base_dir, folder))) for folder in sorted(folders)
    }
    return {folder: identity for folder, identity in identities.items() if identity}


def changed_frames(jsonl: str, base_dir: str, summary: Summary | None = None) -> str | None:
    """The first frame folder of `jsonl` whose frames are not those it was written from (extracted again since, with
    other settings or from a changed video: its frames_identity differs from the one the summary beside it kept), as
    a path; None when none is, or when no summary describes this very file (an edited or foreign one). One small
    read per folder, after a hash of the file (matching_summary), unless the caller has its `summary` already."""
    summary = summary or matching_summary(jsonl)
    for folder, identity in (summary.frame_records if summary else {}).items():
        path = os.path.normpath(os.path.join(base_dir, folder))
        if frames_identity(path) != identity:
            return path
    return None


def changed_frames_problem(jsonl: str, base_dir: str) -> str | None:
    """changed_frames as a problem line starting with the file's name, for the loader and the launchers' preflight."""
    changed = changed_frames(jsonl, base_dir)
    if changed is None:
        return None
    return (
        f'{jsonl} was written from other frames than {changed} holds now (extracted again since: with another '
        '--num_frames, other frames under the same file names, or from its video changed in size or modification time, '
        'e.g. copied without keeping times); run preprocess_vsi_data.py again'
    )


def swift_json_name(path: str) -> bool:
    """Whether swift reads `path` as JSON rows by its name: its suffix, as os.path.splitext gives it, is exactly one of
    SWIFT_JSON_SUFFIXES (swift's own test: `data/.jsonl` has no suffix, `.JSONL` is not read as JSON)."""
    return os.path.splitext(path)[1] in SWIFT_JSON_SUFFIXES


# `datasets` (swift's JSON reader) reads JSON lines in blocks of this many bytes, each to the end of its line
# (packaged_modules/json/json.py, JsonConfig.chunksize), and casts every later block to the first block's columns
JSON_LINES_BLOCK_BYTES = 10 << 20
# The columns of the rows make_row writes, and the answer column vsi_reward also reads
ROW_COLUMNS = (
    'messages',
    'images',
    'videos',
    'solution',
    'question_type',
    'options',
    'id',
    'scene_name',
    'prompt_style',
    'ground_truth',
)


def column_types_problem(path: str) -> str | None:
    """_column_types_problem, once per file as it is now (its size and mtime): the launchers' preflight checks
    VSI_TRAIN_JSONL both as a dataset (train_vsi_grpo.dataset_problem) and as vsi_train's loader does
    (checked_media_folder), seconds each for a file of gigabytes."""
    stat = os.stat(path)
    return _column_types_problem(path, os.path.abspath(path), stat.st_size, stat.st_mtime_ns, JSON_LINES_BLOCK_BYTES)


@functools.lru_cache(maxsize=16)
def _column_types_problem(path: str, *_identity: object) -> str | None:
    """Why `datasets` cannot load this JSON-lines file of rows, or None: a column null on every row of its first block
    (JSON_LINES_BLOCK_BYTES), or one of ROW_COLUMNS missing from all of them, that a later row has. The first block
    fixes the columns and their types, and that row's block fails to cast (`Couldn't cast array of type
    list<item: string> to null`), found only when swift loads the data, after the model (and vLLM). `options` is null
    on numeric questions, so a file of more than ~5,000 numeric questions before its first multiple-choice one failed
    (preprocess writes one first: multiple_choice_first).

    The first block is decoded; past it only those columns' names are searched for (a literal search: seconds for
    gigabytes, where decoding every row takes minutes), and a find's line is decoded to confirm it. A JSON array
    (read whole) and rows that do not decode are the loader's to take or report.
    """
    with open(path, 'rb') as f:
        head = f.read(JSON_LINES_BLOCK_BYTES)
        if head.removeprefix(codecs.BOM_UTF8).lstrip()[:1] == b'[':
            return None
        head += f.readline()
        try:
            rows = [json.loads(line) for line in head.splitlines() if line.strip()]
        except (ValueError, RecursionError):
            return None
        present = {key for row in rows if isinstance(row, dict) for key in row}
        typed = {key for row in rows if isinstance(row, dict) for key, value in row.items() if value is not None}
        null_only, missing = present - typed, set(ROW_COLUMNS) - present
        if not null_only and not missing:
            return None

        def names(keys: set) -> bytes:  # as JSON spells them; b'(?!)' matches nothing
            return b'|'.join(re.escape(json.dumps(key)[1:-1].encode()) for key in sorted(keys)) or b'(?!)'

        # a null-only column with a value other than null, or a missing one with any
        finds = re.compile(b'"(' + names(null_only) + rb')"\s*+:\s*+(?!null)|"(' + names(missing) + rb')"\s*:')
        head_lines = lines_before = head.count(b'\n')
        while block := f.read(JSON_LINES_BLOCK_BYTES) + f.readline():
            for match in finds.finditer(block):
                key = json.loads(b'"' + (match[1] or match[2]) + b'"')
                start = block.rfind(b'\n', 0, match.start()) + 1
                end = block.find(b'\n', match.end())
                try:
                    row = json.loads(block[start : end if end >= 0 else len(block)])
                except (ValueError, RecursionError):
                    continue
                if isinstance(row, dict) and key in row and (key not in present or row[key] is not None):
                    line = lines_before + block.count(b'\n', 0, start) + 1
                    how = 'null on every row' if key in present else 'on no row'
                    return (
                        f'{path}: column {key!r} is {how} of its first {JSON_LINES_BLOCK_BYTES >> 20} MB (lines '
                        f'1-{head_lines}), whose rows fix the columns of the `datasets` library swift loads it with, '
                        f'but line {line} has it: loading would fail there ("Couldn\'t cast"), once the model has '
                        'loaded. Write the file with preprocess_vsi_data.py again (it writes a multiple-choice row '
                        'first), or move a row with that column to the top'
                    )
            lines_before += block.count(b'\n')
    return None


def swift_rows_file(path: str) -> None:
    """VsiDataError naming `path` unless swift reads it as JSON rows: swift picks its reader by the suffix, exactly
    (swift/dataset/loader.py: `.jsonl` and `.json` get the JSON reader; no suffix or `.JSONL` failed with an IndexError
    or a ValueError from `datasets`, `.txt` read each line as text and dropped every row), and its first row must be a
    JSON object (first_json_object: an empty file failed with a bare StopIteration), and `datasets` must be able to
    type its columns (column_types_problem)."""
    if not swift_json_name(path):
        raise VsiDataError(
            f'{path} does not end in .jsonl or .json, by which swift would read it as JSON rows: rename it (run '
            'preprocess_vsi_data.py with an --output_path ending in .jsonl)'
        )
    first_json_object(path)
    problem = column_types_problem(path)
    if problem:
        raise VsiDataError(problem)


def checked_media_folder(jsonl: str) -> str:
    """media_folder's folder, once the JSONL is one swift reads as rows (swift_rows_file) and its media are found there
    and its frames are those it was written from; else VsiDataError (not rows, changed_frames_problem) or
    FileNotFoundError (media missing), each naming the file. The one check behind vsi_train's loader
    (vsi_dataset.media_folder) and the launchers' preflight of VSI_TRAIN_JSONL, so the two refuse the same files with
    the same words."""
    swift_rows_file(jsonl)
    folder, missing = media_folder(jsonl)
    if missing is not None:
        line, path = missing
        raise FileNotFoundError(
            f'{jsonl} (folder {folder}) names media that do not exist, first {path} (line {line}); relative paths are '
            'resolved against the folder of the file: keep it where preprocess_vsi_data.py wrote it, or run that again'
        )
    changed = changed_frames_problem(jsonl, folder)
    if changed:
        raise VsiDataError(changed)
    return folder


def multiple_choice_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` with the first multiple-choice one moved to the top, the others in their order: the first block of the
    file then gives `options` its type (column_types_problem), however many numeric questions come first. Training
    shuffles the rows anyway (swift's dataset_shuffle)."""
    first = next((i for i, row in enumerate(rows) if row.get('options') is not None), 0)
    return [rows[first], *rows[:first], *rows[first + 1 :]]


def preprocess(input_paths: Sequence[str], output_path: str, config: PreprocessConfig) -> Summary:
    """Convert the inputs, write the JSONL and its summary (both atomically) and return the summary.

    Temporary files that killed runs left for these two files are removed first. The summary records the output's
    size and SHA-256 and is renamed into place before the output is: a run killed in between leaves a summary that
    does not match the (previous) output beside it, rather than an old summary that seems to describe a new output.
    """
    _check_output_path(input_paths, output_path)
    _check_path_names([*input_paths, output_path, config.frames_dir, config.clips_dir])
    folder, name = os.path.split(os.path.abspath(output_path))
    check_writable_folder(folder, '--output_path')
    if config.media == 'video':  # clips are written during the conversion
        check_writable_folder(os.path.abspath(config.clips_dir), '--clips_dir')
    removed = remove_stale_temps(folder, {name, os.path.basename(summary_path(output_path))})
    rows, summary = convert(input_paths, config)
    if not rows:
        # one line (the launchers' preflight shows one line per problem), without the summary's indentation
        raise VsiDataError('no rows to write: ' + '; '.join(line.strip() for line in summary.lines()))
    rows = multiple_choice_first(rows)
    summary.stale_temps_removed += len(removed)
    summary.frame_records = frame_records(rows, folder)
    summary.output = os.path.join(folder, name)
    digest = hashlib.sha256()
    try:
        with atomic_paths(summary_path(output_path), output_path) as (summary_tmp, tmp):
            with open(tmp, 'wb') as f:
                for row in rows:
                    line = _utf8_line(row)
                    digest.update(line)
                    f.write(line)
                summary.output_bytes = f.tell()
            summary.output_sha256 = digest.hexdigest()
            with open(summary_tmp, 'w', encoding='utf-8') as f:
                f.write(json_text(asdict(summary)))
    except OSError as e:  # a full disk said `[Errno 28] No space left on device`, naming no file
        raise VsiDataError(
            f'cannot write {output_path} or its summary {summary_path(output_path)} ({e.strerror or e}); files '
            'already there are unchanged'
        ) from e
    return summary


def _file_state(path: str) -> tuple | None:
    """What tells a file apart from the one that was there before: a rename puts another inode in place. Not the time
    alone: a file system of whole-second times, or an NFS server whose clock is behind, would not show the change."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def _unwritable_name(path: str) -> str:
    return (
        f'{path!r}: its name is not valid UTF-8 (a file or folder named in another encoding), which the UTF-8 '
        'output cannot record; rename it'
    )


def _check_path_names(paths: Iterable[str]) -> None:
    """Refuse, before the conversion, a file or folder the output would name but UTF-8 cannot spell (Python reads
    such names with surrogate escapes); found only when writing, the error would come at the end of the run."""
    for path in paths:
        if not _encodable(path):
            raise VsiDataError(_unwritable_name(path))


def _utf8_line(row: dict) -> bytes:
    """The row's JSONL line. Its frame paths may come from folders found on disk (a dataset folder that rows do not
    name), and such a folder may be named in another encoding: then the error names the row and the path."""
    try:
        return (json.dumps(row, ensure_ascii=False) + '\n').encode('utf-8')
    except UnicodeEncodeError:
        media = row.get('images') or row.get('videos') or []
        bad = next((path for path in media if not _encodable(path)), repr(row))
        raise VsiDataError(f'row {row["id"]}: {_unwritable_name(bad)}') from None


def _encodable(text: str) -> bool:
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


def check_writable_folder(folder: str, flag: str) -> None:
    """Write a file (removed at once) in the folder given by `flag`, or in the nearest existing folder above it that
    the write will create it in, before the conversion: found at the write, a folder that cannot be made or written
    cost the whole conversion (with --media video, every clip) and the error did not name the flag. Nothing is
    created, so a run that fails later leaves no empty folder; trying beats os.access, which says yes to root on any
    folder."""
    existing = folder
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.exists(existing):  # a link to nowhere, which the walk up by os.path.exists passed and the write hit
        raise VsiDataError(f'{flag}: cannot write to the folder {folder}: {existing} {file_problem(existing)}')
    try:
        if not os.path.isdir(existing):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise VsiDataError(f'{flag}: cannot write to the folder {folder} ({e.strerror})') from None


def _check_output_path(input_paths: Sequence[str], output_path: str, role: str = 'the input file') -> None:
    """Refuse, before anything is written, an output (or its summary) that is a folder or one of the files read
    (`role` says which) under any spelling: the rename at the end would fail after the summary was written, or
    replace what was read. An output that replaced an --exclude_scenes list would, on the next run, exclude the
    training scenes instead of the benchmark's. Last, a name swift would not read as JSON rows (no .jsonl/.json)."""
    if not os.path.basename(output_path):  # `out/`: refused now rather than after the whole conversion
        raise VsiDataError(f'--output_path: {output_path} names a folder; name the JSONL file to write')
    for target in (output_path, summary_path(output_path)):
        if os.path.isdir(target):
            raise VsiDataError(f'--output_path: {target} is a folder; name the JSONL file to write')
        for source in input_paths:
            if os.path.exists(target) and os.path.exists(source) and os.path.samefile(source, target):
                raise VsiDataError(f'--output_path: {target} is {role} {source}; write the output elsewhere')
    if not swift_json_name(output_path):  # swift could not load it (swift_rows_file)
        raise VsiDataError(
            f'--output_path: {output_path} does not end in .jsonl or .json, by which swift reads a dataset file as '
            'JSON rows; name it train.jsonl or the like'
        )
    other = _summary_owner(output_path)
    if other:
        raise VsiDataError(
            f'--output_path: {output_path} would share its summary {summary_path(output_path)} with {other}, which '
            'it describes now (the summary is named without the suffix); name the output otherwise, or remove '
            f'{other} first'
        )


def _summary_owner(output_path: str) -> str | None:
    """Another file of the folder that the summary this output would get describes, such as `train.json` for
    `train.jsonl`: replaced, that file's summary was lost without a word (and with it the check that its frames
    have not changed since). None when the summary describes no other file as it is now (matching_summary), or names
    this output under another spelling (`Train.jsonl` on a file system that ignores case)."""
    try:
        with open(summary_path(output_path), encoding='utf-8') as f:
            recorded = json.load(f).get('output')
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(recorded, str) or os.path.basename(recorded) == os.path.basename(output_path):
        return None
    other = os.path.join(os.path.dirname(output_path), os.path.basename(recorded))
    if os.path.exists(output_path) and os.path.exists(other) and os.path.samefile(other, output_path):
        return None
    return other if matching_summary(other) else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '--input_path',
        type=os.path.expanduser,
        nargs='+',
        required=True,
        help='QA files: JSON, JSONL or parquet, in the benchmark, conversations or swift layout.',
    )
    parser.add_argument(
        '--frames_dir',
        type=os.path.expanduser,
        required=True,
        help='Output folder of extract_frames.py (<dataset>/<scene>/frame_0000.jpg or <scene>/...).',
    )
    parser.add_argument('--output_path', type=os.path.expanduser, required=True, help='The swift JSONL to write.')
    parser.add_argument(
        '--num_frames',
        type=int,
        default=32,
        help='Frames per question (default 32); an even subset when more were extracted.',
    )
    parser.add_argument(
        '--allow_fewer_frames',
        action='store_true',
        help='Use all frames of a scene that has fewer than --num_frames instead of failing.',
    )
    parser.add_argument(
        '--prompt_style',
        choices=PROMPT_STYLES,
        default='direct',
        help='direct (default): the official VSI-Bench prompt; think: reasoning in <think>, answer in <answer>.',
    )
    parser.add_argument(
        '--media',
        choices=MEDIA_MODES,
        default='image',
        help='image (default): one <image> per frame; video: the frames as one clip and one <video> tag.',
    )
    parser.add_argument(
        '--path_mode',
        choices=PATH_MODES,
        default='relative',
        help="Media paths relative to the output file's folder (default: portable) or absolute.",
    )
    parser.add_argument(
        '--clips_dir',
        type=os.path.expanduser,
        default=None,
        help='Where --media video writes its clips (default: clips/ next to the output).',
    )
    parser.add_argument(
        '--video_fps',
        type=float,
        default=DEFAULT_VIDEO_FPS,
        help=f'Frame rate of the clips (default {DEFAULT_VIDEO_FPS:g}); train with the FPS environment variable set '
        'to the same.',
    )
    parser.add_argument(
        '--exclude_scenes',
        type=os.path.expanduser,
        nargs='+',
        default=[],
        help='Files whose scenes are dropped (benchmark rows in any layout, a JSON list of scene names, or a .txt list '
        'of scenes or videos; an entry `dataset/scene` or `dataset/scene.mp4` drops that scene in every dataset).',
    )
    parser.add_argument(
        '--question_types',
        nargs='+',
        default=None,
        help='Keep only these question types: benchmark types (each also keeps its training variants), '
        'object_rel_direction (all three levels), training variants, or other types the input holds; any other '
        'name is an error.',
    )
    parser.add_argument('--max_per_type', type=int, default=None, help='Keep at most this many questions per type.')
    parser.add_argument('--shuffle', action='store_true', help='Shuffle the rows (before --max_per_type).')
    parser.add_argument('--seed', type=int, default=42, help='Seed for --shuffle (default 42).')
    parser.add_argument(
        '--strict',
        action='store_true',
        help=f'Fail on the first row skipped for a problem ({", ".join(SKIP_REASONS)}) or written under a new id '
        f'({RENAMED_ID}); rows dropped by choice ({", ".join(DROP_REASONS)}) are only counted.',
    )
    parser.add_argument('--no_progress', action='store_true', help='No progress bars.')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    summary_file = summary_path(args.output_path)
    before = {path: _file_state(path) for path in (args.output_path, summary_file)}  # to tell what a stop left
    # SIGTERM (a cluster's preemption or time limit) unwinds like Ctrl-C, so atomic_path removes its temporary file
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    config = None
    try:
        # Here, naming the flag, and not in the readers: vsi_dataset calls them with paths its variables gave
        for flag, paths in (('--input_path', args.input_path), ('--exclude_scenes', args.exclude_scenes)):
            for path in paths:
                check_input_file(path, flag)
        _check_output_path(args.exclude_scenes, args.output_path, role='the --exclude_scenes file')
        try:
            excluded = load_scene_names(*args.exclude_scenes)
        except VsiDataError as e:  # the loader names the file, not the flag (vsi_dataset calls it for a variable)
            raise VsiDataError(f'--exclude_scenes: {e}') from None
        config = PreprocessConfig(
            frames_dir=args.frames_dir,
            num_frames=args.num_frames,
            prompt_style=args.prompt_style,
            media=args.media,
            path_mode=args.path_mode,
            base_dir=os.path.dirname(os.path.abspath(args.output_path)),
            clips_dir=args.clips_dir,
            video_fps=args.video_fps,
            allow_fewer_frames=args.allow_fewer_frames,
            exclude_scenes=excluded,
            question_types=tuple(args.question_types) if args.question_types else None,
            max_per_type=args.max_per_type,
            shuffle=args.shuffle,
            seed=args.seed,
            strict=args.strict,
            progress=not args.no_progress,
        )
        summary = preprocess(args.input_path, args.output_path, config)
    except (VsiDataError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM raised as Terminated: one line on what is on disk, no traceback
        stop, status = stopped(e)
        # atomic_path removed the temporary output; finished clips are whole files (atomic too) that the next run reuses
        clips = (
            f'; the finished clips in {config.clips_dir} are kept for the next run'
            if config and config.media == 'video'
            else ''
        )
        output_replaced = _file_state(args.output_path) != before[args.output_path]
        summary_replaced = _file_state(summary_file) != before[summary_file]
        # matching_summary hashes the whole output: once, and only where this run replaced the summary (renamed first)
        matches = summary_replaced and matching_summary(args.output_path) is not None
        if matches and output_replaced:
            # after both renames (while returning): this run's output and summary are in place
            print(f"{stop} after writing {args.output_path} and {summary_file}, both this run's", file=sys.stderr)
            return status
        if summary_replaced and not matches:
            # between the two renames (microseconds): this run's summary beside the output it did not replace
            print(
                f"{stop} between the renames: {summary_file} is this run's, {args.output_path} was not replaced "
                f'(it matches no summary now); run the same command again{clips}',
                file=sys.stderr,
            )
            return status
        print(
            f'{stop}: nothing was written to {args.output_path} (a file already there is unchanged){clips}',
            file=sys.stderr,
        )
        return status
    finally:
        signal.signal(signal.SIGTERM, previous)
    print('\n'.join(summary.lines()))
    print(f'summary: {summary_path(args.output_path)}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
