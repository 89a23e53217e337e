"""Evaluate a Qwen3-VL model (optionally with a LoRA adapter) on VSI-Bench exactly as the official code scores it.

The last stage of the pipeline. Questions are turned into model input by `preprocess_vsi_data.py`'s own functions
(one `<image>` per frame, then the prompt from `vsi_scoring.build_prompt`), so evaluation input equals training
input; answers are scored by `vsi_scoring` (official metric and the reward's lenient reading side by side).

Usage::

    # the official protocol: 32 frames, the official prompt, greedy decoding, 16 new tokens; frames at the pixel
    # budget training used (vsi_grpo_config.yaml), for the base model and the adapter alike
    MAX_PIXELS=262144 python eval_vsi_bench.py --model Qwen/Qwen3-VL-8B-Instruct \\
        --adapters output/vsi_grpo/v0-xxx/checkpoint-500 \\
        --dataset data/vsi_bench/test.jsonl --video_dir data/vsi_bench/videos --output_dir output/eval/grpo
    # the same model without frames: the baseline every VSI-Bench report should show
    python eval_vsi_bench.py --model Qwen/Qwen3-VL-8B-Instruct --dataset data/vsi_bench/test.jsonl --blind \\
        --output_dir output/eval/blind
    # a model trained to reason (scored by the official rule on its last <answer> block); next to an earlier run
    MAX_PIXELS=262144 python eval_vsi_bench.py --model Qwen/Qwen3-VL-8B-Instruct \\
        --adapters output/vsi_grpo/v0-xxx/checkpoint-500 \\
        --dataset data/vsi_bench/test.jsonl --frames_dir data/frames --prompt_style think \\
        --output_dir output/eval/grpo_think --compare output/eval/base/results.json
    # no model: rescore an existing predictions file, or compare two results files
    python eval_vsi_bench.py --predictions output/eval/grpo/predictions.jsonl
    python eval_vsi_bench.py --compare output/eval/base/results.json output/eval/grpo/results.json \\
        --output_dir output/eval/compare

`--dataset` takes benchmark rows (`nyu-visionx/VSI-Bench` as JSON, JSONL or parquet: id, dataset, scene_name,
question_type, question, options, ground_truth) or swift rows written by `preprocess_vsi_data.py` (held-out
training-style data). Frames come from `--frames_dir` (the output of `extract_frames.py`), from `--video_dir`
(extracted once into `<output_dir>/frames` or `--frames_cache` and reused), or for swift rows from the rows' own
`images` (not from the clip of `--media video` rows: give those `--frames_dir`).

Inference runs through swift's engines: vLLM (`--infer_backend vllm`, the default when vllm is installed and a GPU is
visible) or transformers (`--infer_backend pt`). Predictions are appended to `<output_dir>/predictions.jsonl` after
every batch, so a killed run resumes where it stopped; `run_config.json` records the protocol (model, adapter, dtype,
prompt, frames and where they came from, the pixel budget) and a folder whose predictions were made with another one
is refused unless `--overwrite` (which removes every output of the previous run). One process writes a folder at a
time (a lock): another evaluation of it fails at once. Without MAX_PIXELS each frame keeps up to qwen-vl-utils'
default of 16384 visual tokens, so a warning asks for the training budget. The results are written to `results.json`,
`results.md` and `results.png` (categories in the VSI-Bench paper's Table 1 order, scores in percent as published) and
the table is printed. Fewer questions than the dataset holds (`--limit`, `--question_types`, or a `--predictions` file
of a run stopped early) make a subset, written to `results_subset.*` and flagged there as not comparable to published
numbers, so that it never replaces the full-benchmark report. With `--prompt_style think` the official rule reads the
last `<answer>` block after the reasoning, which must be closed (else the prediction scores 0; the report quotes
vsi_scoring.OFFICIAL_RULES); `--predictions` rescoring applies the rule of the style the rows or their run_config.json
record.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib.util
import io
import json
import logging
import math
import os
import re
import signal
import string
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from extract_frames import (
    QWEN3_VL_TOKEN_PIXELS,
    cwd_note,
    extract_all,
    frames_dir_problem,
    pid_lock,
    raise_terminated,
    read_jsonl_log,
    run_main,
    stopped,
)
from preprocess_vsi_data import (
    SUBSET_OF_FRAMES,
    FrameIndex,
    PreprocessConfig,
    Question,
    RowSkipped,
    VsiDataError,
    atomic_paths,
    changed_frames_problem,
    check_input_file,
    check_writable_folder,
    file_sha256,
    first_json_row,
    json_text,
    make_row,
    media_folder,
    read_rows,
    remove_stale_temps,
    row_to_question,
    write_json_atomic,
)
from train_vsi_grpo import (  # imports no swift
    DEFAULT_CONFIG,
    LaunchError,
    checkpoint_hint,
    dataset_files,
    load_config,
    model_folder_problem,
)
from vsi_scoring import (
    OFFICIAL_RULES,
    PROMPT_STYLES,
    REL_DIRECTION_CATEGORY,
    REL_DIRECTION_LEVELS,
    aggregate,
    base_question_type,
    category_of,
    check_question_type,
    check_type_selection,
    exact_match,
    ground_truth_number,
    is_multiple_choice,
    official_score,
    option_letters,
    reward_score,
    type_selected,
)

logger = logging.getLogger('eval_vsi_bench')

PREDICTIONS_NAME = 'predictions.jsonl'
RUN_CONFIG_NAME = 'run_config.json'
RESULTS_NAME = 'results'  # .json, .md, .png
SUBSET_RESULTS_NAME = 'results_subset'  # the same for fewer questions than the dataset holds (never results.*)
# how score_only ends its refusal of a predictions file holding questions of another run's dataset
MIXED_RUNS = "it mixes runs; evaluate again with --model (only the dataset's questions are scored)"
COMPARISON_NAME = 'comparison'  # the standalone --compare A.json B.json outputs
REPORT_FILES = tuple(
    f'{name}.{ext}' for name in (RESULTS_NAME, SUBSET_RESULTS_NAME, COMPARISON_NAME) for ext in ('json', 'md', 'png')
)
LOCK_NAME = '.eval_vsi_bench.lock'  # held by the process writing the folder (run_folder_lock)
# The official VSI-Bench evaluation (thinking-in-space's lmms-eval task, lmms_eval/tasks/vsibench/), which published
# scores follow: the direct prompt, greedy, 16 new tokens, all 5,130 questions, and 32 frames, the common setting for
# Qwen models (published runs of other models use other counts).
# A report says where its run differs (official_protocol).
# The frame size is not among them: each model's harness sets its own, and a score should sit next to the base
# model's, run in this harness with the same settings (README).
OFFICIAL_PROTOCOL = {'prompt_style': 'direct', 'enable_thinking': False, 'max_new_tokens': 16, 'num_frames': 32}
DEFAULT_MAX_NEW_TOKENS = {'direct': OFFICIAL_PROTOCOL['max_new_tokens'], 'think': 1024}  # room to reason
DEFAULT_BATCH_SIZE = {'pt': 1, 'vllm': 64}  # vLLM batches inside one call, so it wants large calls
INFER_BACKENDS = ('auto', 'pt', 'transformers', 'vllm')
PREDICTION_FIELDS = ('id', 'question_type', 'ground_truth', 'prediction')
# What scoring reads of a row: two rows of one id that agree on these are the same prediction written twice.
SCORED_FIELDS = PREDICTION_FIELDS + ('options', 'prompt_style')
# The categories in the order of the VSI-Bench paper's Table 1 (Yang et al., Thinking in Space), with its column
# names. Reports list categories in this order; the official overall sums them in vsi_scoring's order, unchanged.
PAPER_CATEGORIES = {
    'object_counting': 'Obj. Count',
    'object_abs_distance': 'Abs. Dist.',
    'object_size_estimation': 'Obj. Size',
    'room_size_estimation': 'Room Size',
    'object_rel_distance': 'Rel. Dist.',
    'object_rel_direction': 'Rel. Dir.',
    'route_planning': 'Route Plan',
    'obj_appearance_order': 'Appr. Order',
}
SCORE_UNIT = 'percent (0-100), as published'
# Environment variables that change what the model sees of each frame (swift's Qwen-VL image budget).
IMAGE_ENV = ('MAX_PIXELS', 'MIN_PIXELS', 'IMAGE_MAX_TOKEN_NUM', 'IMAGE_MIN_TOKEN_NUM')
# swift turns MAX_PIXELS into IMAGE_MAX_TOKEN_NUM = MAX_PIXELS // (patch size x SPATIAL_MERGE_SIZE)^2 unless that is
# set (swift.model.models.qwen.compat_qwen_vl_utils); qwen-vl-utils then shrinks every image to at most that many
# visual tokens, 16384 when nothing is set. The pixels of a token are the model's: Qwen3-VL's 16 px patches merged
# 2 x 2 make 32 x 32 px (Qwen2.5-VL's 14 px patches would make 28 x 28), so the pixel budget this file computes and
# records is Qwen3-VL's and named so (qwen3_vl_image_max_pixels; QWEN3_VL_TOKEN_PIXELS comes from extract_frames).
QWEN_VL_UTILS_MAX_TOKENS = 16384
# A run folder may only be resumed under the same protocol; other settings (batch size, limit) may change.
# run_config.json's `frames` for frames extracted into the run folder itself (no --frames_cache): not its absolute path,
# so that a run folder moved or renamed as a whole still resumes
RUN_FOLDER_FRAMES = '<output_dir>/frames'
PROTOCOL_FIELDS = (
    'model',
    'adapters',
    'dataset_sha256',
    'prompt_style',
    'num_frames',
    'max_new_tokens',
    'blind',
    'image_env',
    'frames',
    'video_dir',
    'frames_max_pixels',
    'allow_fewer_frames',
    'torch_dtype',
    'enable_thinking',
    'infer_backend',  # vLLM and transformers compute in other dtypes and kernels: greedy answers can differ
)
# Protocol fields that run_config.json files written before them lack (eval_vsi_bench.py before commit 798c66a; before
# 2026-11-26 for torch_dtype and enable_thinking). Such a file stands for the flag's default, which that version used
# unless the run was given the flag (it did not record it); a resume under the default goes on, one under another
# value is refused with the way to record it.
ADDED_PROTOCOL_FIELDS = ('video_dir', 'frames_max_pixels', 'allow_fewer_frames', 'torch_dtype', 'enable_thinking')
# What two runs must share for the difference of their scores to be the models' (--compare): not the model, adapter,
# backend or frame folders, which a comparison varies or which hold the same frames under another path.
COMPARED_PROTOCOL_FIELDS = (
    'dataset_sha256',
    'prompt_style',
    'enable_thinking',
    'num_frames',
    'frames_max_pixels',
    'qwen3_vl_image_max_pixels',
    'max_new_tokens',
    'blind',
)
VSI_BENCH_QUESTIONS = 5130  # rows of nyu-visionx/VSI-Bench: a rescored file of unknown origin with fewer is flagged
ADAPTER_CONFIG = 'adapter_config.json'  # a LoRA checkpoint's (PEFT's CONFIG_NAME)
# Flags that only frame extraction from --video_dir reads (extracts_frames)
EXTRACTION_FLAGS = ('frames_cache', 'frames_max_pixels')
# The run_config.json fields a report shows, with what each must hold (JSON_KINDS); a folder whose config lacks one
# is rescored without it. prompt_style must also be one of PROMPT_STYLES.
REPORTED_CONFIG_FIELDS = {
    'model': 'text',
    'adapters': 'a list of text',
    'prompt_style': 'text',
    'num_frames': 'a whole number or null',
    'max_new_tokens': 'a whole number',
    'blind': 'true or false',
    'infer_backend': 'text',
    'label': 'text',
}
# Fields a rescoring reads where the config has them (configs of earlier versions lack some), with what each must hold.
OPTIONAL_CONFIG_FIELDS = {
    'enable_thinking': 'true or false',
    'qwen3_vl_image_max_pixels': 'a whole number or null',
    'dataset': 'text',
    'dataset_questions': 'a whole number',
    'limit': 'a whole number or null',
    'question_types': 'a list of text or null',
}
# What a comparison reads of a results.json, with what each must hold (JSON_KINDS): the run, each aggregate
# (`official`, `lenient`), each of their categories.
RESULTS_FIELDS = {
    'label': 'text',
    'overall': 'a number or null',
    'config': 'an object or null',
    'frame_pixels_min': 'a whole number or null',
    'frame_pixels_max': 'a whole number or null',
    'frame_pixels_by_scene': 'an object or null',
}
AGGREGATE_FIELDS = {'overall': 'a number or null', 'num_questions': 'a whole number'}
CATEGORY_FIELDS = {'score': 'a number or null', 'count': 'a whole number'}
# What a field of a JSON file this script reads back may hold, by the words an error uses; `<kind> or null` also takes
# null. A boolean is no number: Python's bool is an int, so `true` would pass as 1 token.
JSON_KINDS = {
    'text': lambda value: isinstance(value, str),
    'true or false': lambda value: isinstance(value, bool),
    'a whole number': lambda value: isinstance(value, int) and not isinstance(value, bool),
    # finite: json reads NaN and Infinity, which compared as scores and were written back as invalid JSON
    'a number': lambda value: isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
    'a list of text': lambda value: isinstance(value, list) and all(isinstance(item, str) for item in value),
    'an object': lambda value: isinstance(value, dict),
}
# vLLM accepts only these LoRA ranks (vllm LoRAConfig.possible_max_ranks); the adapter's rank is rounded up.
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
# vLLM's LoRA kernels (vllm/lora/ops) take half precision only: a float32 model with an adapter fails an assertion
# deep in vLLM's start-up (seen with vLLM 0.23.0 on an H200).
VLLM_LORA_FLOAT32_ERROR = (
    "vLLM's LoRA kernels take bfloat16 or float16 weights, not float32: use --torch_dtype bfloat16 (the dtype "
    'vsi_grpo_config.yaml trains in) or --infer_backend pt'
)


class EvalError(Exception):
    """A problem the user can fix (bad input, a folder from another run); the CLI prints it as one line."""


class Engine(Protocol):
    """What the evaluator needs of a swift inference engine (TransformersEngine, VllmEngine, or a test double)."""

    def infer(self, infer_requests: list, request_config: Any = None, *, use_tqdm: bool | None = None) -> list: ...


# ----------------------------------------------------------------------------------------------------------
# Questions and model input
# ----------------------------------------------------------------------------------------------------------


@dataclass
class EvalItem:
    """One question ready for the model: the swift messages and images training would have used."""

    question: Question
    messages: list[dict] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    subset_of: int | None = None  # the frames in the scene's folder, when more than asked: an even subset is given
    frame_pixels: int | None = None  # width * height of the first frame (all are one video's): what a comparison checks


def load_questions(
    path: str, frames_from_rows: bool = False, prompt_style: str | None = None
) -> tuple[list[Question], dict[str, list[str]]]:
    """Every question of a dataset file, and for swift rows the images they carry (by question id).

    Rows are read and checked by `preprocess_vsi_data` (any layout it knows); a row it would skip is an error here,
    because a benchmark score over a silently smaller question set is not comparable. So is a question type that is
    not a benchmark type (or a training variant of one): preprocessing keeps such rows for training, but the official
    code refuses them and a misspelt type would become a category of its own. Ids must be unique: they are how a
    resumed run knows what is done. With `frames_from_rows` (no --frames_dir, --video_dir or --blind), a swift row
    whose media is a clip (`preprocess_vsi_data.py --media video`) is an error too: the evaluator gives the model
    frames as images, and a clip's frames are re-encoded video that Qwen samples by itself, another protocol. Swift
    rows written with another `prompt_style` than the run's are warned about: a model trained on think rows and
    evaluated without --prompt_style think was asked with the direct prompt without a word.
    """
    questions, row_images, seen = [], {}, {}
    other_styles: dict[str, int] = {}  # swift rows written with another prompt style than `prompt_style`: a warning
    # a row without an id is `<file name without extension>:<index>` (`train:3`), as preprocessing names it
    source = Path(path).stem
    try:
        for index, (location, row) in enumerate(read_rows(path)):
            try:
                layout, question = row_to_question(row, location, index, source)
            except RowSkipped as skip:
                raise EvalError(f'{location}: {skip.reason}: {skip.detail}') from None
            try:
                check_question_type(question.question_type)
            except ValueError as e:
                raise EvalError(f'{location}: {e}') from None
            if question.id in seen:
                raise EvalError(
                    f'{location}: id {question.id!r} already used at {seen[question.id]}; ids must be '
                    'unique so that predictions can be matched to questions'
                )
            seen[question.id] = location
            questions.append(question)
            if layout == 'swift' and isinstance(row.get('images'), list):
                row_images[question.id] = [str(image) for image in row['images']]
            elif frames_from_rows and layout == 'swift' and row.get('videos'):
                raise EvalError(
                    f'{location}: the row brings a video clip (`videos`, as preprocess_vsi_data.py --media video '
                    'writes), which the evaluator does not read as frames; pass --frames_dir with the frames the clips '
                    'were made from (extract_frames.py output), or rows preprocessed without --media video'
                )
            if layout == 'swift' and prompt_style and row.get('prompt_style') not in (None, prompt_style):
                other_styles[str(row['prompt_style'])] = other_styles.get(str(row['prompt_style']), 0) + 1
    except VsiDataError as e:
        raise EvalError(str(e)) from None
    if not questions:
        raise EvalError(f'{path} holds no questions')
    for style, count in other_styles.items():
        logger.warning(
            '%s of %s were written with --prompt_style %s, and this run asks with the %s prompt (the rows carry only '
            'the question: their prompt is rebuilt); pass --prompt_style %s to evaluate them as they were trained',
            _counted(count, 'row'),
            path,
            style,
            prompt_style,
            style,
        )
    return questions, row_images


def select_questions(
    questions: Sequence[Question], question_types: Sequence[str] | None = None, limit: int | None = None
) -> list[Question]:
    """The questions to evaluate.

    `question_types` is checked and applied by vsi_scoring's rule, the one preprocessing uses: an unknown name is an
    error, `object_rel_direction` keeps all three levels, a benchmark type keeps its training variants. `limit` takes
    that many questions round-robin over the question types, in file order within a type, so that a short run still
    touches every type; the choice only depends on the file, so `--limit 20` followed by a full run resumes instead of
    starting over.
    """
    chosen = list(questions)
    if question_types:
        try:
            wanted = check_type_selection(question_types)
        except ValueError as e:
            raise EvalError(f'--question_types: {e}') from None
        chosen = [q for q in chosen if type_selected(q.question_type, wanted)]
        if not chosen:
            present = sorted({q.question_type for q in questions})
            raise EvalError(f'no question has a type in --question_types {list(wanted)}; the dataset has {present}')
    if limit is not None and limit < len(chosen):
        by_type: dict[str, list[Question]] = defaultdict(list)
        for q in chosen:
            by_type[q.question_type].append(q)
        queues = [iter(qs) for qs in by_type.values()]
        taken: set[str] = set()
        while len(taken) < limit:
            for queue in queues:
                q = next(queue, None)
                if q is not None and len(taken) < limit:
                    taken.add(q.id)
        chosen = [q for q in chosen if q.id in taken]
    return chosen


def video_path(question: Question, video_dir: str) -> Path:
    """`<video_dir>/<dataset>/<scene_name>.mp4`, the benchmark layout (or the row's own relative `video`)."""
    if question.video:
        return Path(video_dir) / question.video
    if not question.dataset:
        raise EvalError(
            f'{question.location}: the row names no dataset, so its video under --video_dir is unknown; '
            'extract frames with extract_frames.py and pass --frames_dir'
        )
    return Path(video_dir) / question.dataset / f'{question.scene_name}.mp4'


def prepare_frames_cache(
    questions: Sequence[Question],
    video_dir: str,
    cache_dir: str,
    num_frames: int,
    max_pixels: int | None = None,
    progress: bool = True,
) -> None:
    """Extract the frames of the videos these questions need into `cache_dir` (done once, reused afterwards)."""
    videos = sorted({video_path(q, video_dir) for q in questions})
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        raise EvalError(f'{len(missing)} video(s) missing under --video_dir {video_dir}, e.g. {missing[0]}')
    summary = extract_all(
        output_dir=cache_dir,
        videos=videos,
        video_dir=video_dir,
        num_frames=num_frames,
        max_pixels=max_pixels,
        progress=progress,
    )
    if summary.failed:
        first = summary.failures[0]
        raise EvalError(f'{summary.failed} video(s) could not be decoded, e.g. {first["video"]}: {first["reason"]}')
    logger.info('frames in %s: %s', cache_dir, summary)


def check_frames_folder(folder: str, flag: str, resumed: bool) -> None:
    """Refuse a folder to extract frames into that cannot be written: a link to a disk not mounted, or a shared cache
    made read-only, whose frames --frames_dir reads without writing (in another run folder than one `resumed`, whose
    predictions were made with --video_dir, a protocol field). Found by the extraction, it failed after swift loaded,
    naming extract_frames' --output_dir, or no folder (the lock file's `Permission denied`)."""
    try:
        check_writable_folder(os.path.abspath(folder), flag)
    except VsiDataError as e:
        hint = ''
        if os.path.isdir(folder):
            hint = f'; to read the frames already there without writing, pass --frames_dir {folder}'
            hint += " with another --output_dir (this one's predictions were made with --video_dir)" if resumed else ''
        raise EvalError(f'{e}{hint}') from None


def extracts_frames(args: argparse.Namespace) -> bool:
    """Whether an evaluation extracts its frames from --video_dir: not with --frames_dir (read instead) or --blind."""
    return bool(args.video_dir and not args.frames_dir and not args.blind)


def cache_folder(num_frames: int, max_pixels: int | None) -> str:
    """The folder of --frames_cache that frames extracted with these settings go to: `32f`, `32f_262144px`."""
    return f'{num_frames}f' + (f'_{max_pixels}px' if max_pixels else '')


def _resolve_image(path: str, dataset: str) -> str:
    """A row's image path as training opens it: relative to the dataset file's folder (the real file's, then the
    link's), as preprocess writes it and vsi_dataset.py resolves it; else as given (relative to the current folder, as
    swift opens a plain JSONL's), so that which frames are read does not depend on the folder the evaluation runs
    from."""
    if os.path.isabs(path):
        return path
    folders = dict.fromkeys(os.path.dirname(f(dataset)) for f in (os.path.realpath, os.path.abspath))
    return next((beside for beside in (os.path.join(d, path) for d in folders) if os.path.exists(beside)), path)


def build_items(
    questions: Sequence[Question],
    prompt_style: str,
    frames_root: str | None,
    num_frames: int,
    blind: bool = False,
    row_images: dict[str, list[str]] | None = None,
    dataset: str = 'dataset.jsonl',
    allow_fewer_frames: bool = False,
) -> list[EvalItem]:
    """Model input for each question, made by preprocessing's `make_row` (minus the answer turn).

    Frames come from `frames_root` (found and subsampled by preprocessing's FrameIndex), else from the swift row's
    own `images` (relative ones beside the `dataset` file; refused when preprocessing's summary shows their folders
    were extracted again since); `blind` gives every question no frames and hence no `<image>` tags. Every missing
    frame folder is reported before any inference starts.
    """
    # make_row reads only prompt_style and media from its config; frames_dir must merely be an existing folder.
    config = PreprocessConfig(
        frames_dir=frames_root or '.',
        num_frames=num_frames,
        prompt_style=prompt_style,
        media='image',
        path_mode='absolute',
        allow_fewer_frames=allow_fewer_frames,
        progress=False,
    )
    index = FrameIndex(frames_root, num_frames, allow_fewer_frames) if frames_root and not blind else None
    if index is None and not blind and row_images and os.path.isfile(dataset):
        # frames extracted into the rows' folders again since they were written: other frames under the same names
        changed = changed_frames_problem(dataset, media_folder(dataset)[0])
        if changed:
            raise EvalError(changed)
    items, missing = [], []
    frame_pixels: dict[tuple, int | None] = {}
    for q in questions:
        images: list[str] = []
        if index is not None:
            try:
                folder = index.locate(q)
                names = index.choose(folder, q.scene_name, q.location)
            except RowSkipped as skip:
                missing.append(f'{q.location}: {skip.detail}')
                continue
            except VsiDataError as e:  # choose's message already starts with the question's location
                raise EvalError(str(e)) from None
            images = [os.path.join(index.frames_dir, folder, name) for name in names]
        elif not blind:
            if row_images is None or q.id not in row_images:
                missing.append(f'{q.location}: no frames (give --frames_dir or --video_dir, or --blind)')
                continue
            images = [_resolve_image(path, dataset) for path in row_images[q.id]]
            absent = [path for path in images if not os.path.exists(path)]
            if absent:  # one entry a question (the count says questions), naming its first missing image
                where = (
                    ''
                    if os.path.isabs(absent[0])
                    else f' beside the dataset file nor in the current folder {os.getcwd()}'
                )
                missing.append(f'{q.location}: image {absent[0]} does not exist{where}')
                continue
        row = make_row(q, images, config)
        messages = [m for m in row['messages'] if m['role'] != 'assistant']
        subset_of = index.more.get(folder) if index is not None else None
        # one header a scene's folder: its frames are one video's (swift rows may keep several scenes in one folder)
        where = (os.path.dirname(row['images'][0]) if row['images'] else '', q.dataset, q.scene_name)
        if where not in frame_pixels:
            frame_pixels[where] = _frame_pixels(row['images'])
        items.append(EvalItem(q, messages, row['images'], subset_of, frame_pixels[where]))
    if missing and index is not None and index.video_example:  # set only when no folder there holds frames
        example = missing[0].split('; ', 1)[0]  # without preprocessing's hint, which this one replaces
        raise EvalError(
            f'{len(missing)} question(s) have no frames, e.g. {example}: --frames_dir {frames_root} holds videos '
            f'({index.video_example}), not extracted frames; pass that folder as --video_dir (frames are extracted '
            'once and reused) or run extract_frames.py on it'
        )
    if missing:
        raise EvalError(f'{len(missing)} question(s) have no frames, e.g. {missing[0]}')
    if index is not None and index.fewer:
        logger.warning(
            '%d scene(s) have fewer than %d frames (allowed by --allow_fewer_frames), e.g. %s',
            len(index.fewer),
            num_frames,
            next(iter(index.fewer)),
        )
    if index is not None and index.more:
        logger.warning(
            '%d scene(s) have more than %d frames, e.g. %s: %s',
            len(index.more),
            num_frames,
            min(index.more),
            SUBSET_OF_FRAMES,
        )
    return items


# ----------------------------------------------------------------------------------------------------------
# Run folder: configuration and predictions
# ----------------------------------------------------------------------------------------------------------


@dataclass
class RunConfig:
    """What a run folder was made with; PROTOCOL_FIELDS must match for a resume."""

    model: str
    adapters: list[str]
    dataset: str
    dataset_sha256: str
    dataset_questions: int  # questions in the whole file: a report on fewer is a subset (build_results)
    prompt_style: str
    num_frames: int | None  # frames per question asked for; None: blind, or swift rows that keep their own
    max_new_tokens: int
    blind: bool
    image_env: dict[str, str]
    qwen3_vl_image_max_pixels: int | None  # what image_env leaves of each frame, for Qwen3-VL (None: blind)
    infer_backend: str
    frames: str | None  # where the frames came from
    video_dir: str | None  # the videos frames were extracted from, if they were
    frames_max_pixels: int | None  # the size they were extracted at
    allow_fewer_frames: bool
    torch_dtype: str | None  # --torch_dtype (None: the model's own)
    enable_thinking: bool  # prompts end with the template's thinking prefix (`<think>\n`)
    label: str
    # how the command that wrote the folder chose its questions: a rescoring reports a subset they chose as such
    limit: int | None
    question_types: list[str] | None


def _local_or_hub(path: str, resolve_link: bool = False) -> str:
    """A local path made absolute (so a resume from another directory matches); a hub id kept as written.

    `resolve_link` for adapters: swift's `last-checkpoint` link moves to each new checkpoint while training goes on,
    so recorded as written, a resumed evaluation of it would have put two adapters' predictions into one report. A
    path that is a link is recorded as what it names, and such a resume is refused; any other path as before, so that
    folders recorded through linked parent folders still resume. `~` is expanded, as swift does.
    """
    expanded = os.path.expanduser(path)
    if not os.path.exists(expanded):
        return path
    path = os.path.abspath(expanded)
    return os.path.realpath(path) if resolve_link and os.path.islink(path) else path


def qwen3_vl_image_max_pixels(image_env: dict[str, str]) -> int:
    """The most pixels of a frame a Qwen3-VL model sees under these variables (through swift and qwen-vl-utils).

    Only Qwen3-VL's token size (QWEN3_VL_TOKEN_PIXELS) is known here: for another model family the number is off by
    its token size, which is why the recorded field names the model."""
    try:
        if image_env.get('IMAGE_MAX_TOKEN_NUM'):
            return int(image_env['IMAGE_MAX_TOKEN_NUM']) * QWEN3_VL_TOKEN_PIXELS
        if image_env.get('MAX_PIXELS'):
            return int(image_env['MAX_PIXELS']) // QWEN3_VL_TOKEN_PIXELS * QWEN3_VL_TOKEN_PIXELS
    except ValueError:
        raise EvalError(f'MAX_PIXELS and IMAGE_MAX_TOKEN_NUM must be whole numbers; got {image_env}') from None
    return QWEN_VL_UTILS_MAX_TOKENS * QWEN3_VL_TOKEN_PIXELS


def training_max_pixels() -> str | None:
    """MAX_PIXELS in the ENV block of the training YAML (train_vsi_grpo.DEFAULT_CONFIG), read from the file itself so
    that the evaluator's advice follows the YAML; None when the YAML sets none or cannot be read."""
    try:
        return load_config(DEFAULT_CONFIG)[0].get('MAX_PIXELS')
    except LaunchError:
        return None


def default_label(model: str, adapters: Sequence[str], blind: bool) -> str:
    label = Path(model.rstrip('/')).name
    if adapters:
        parts = Path(adapters[0].rstrip('/')).parts
        label += ' + ' + '/'.join(parts[-2:])
    return label + (' (blind)' if blind else '')


@contextmanager
def run_folder_lock(folder: Path) -> Iterator[None]:
    """Hold `folder` for this process; another evaluation or rescoring that wants to write it fails at once.

    Two evaluations of one folder would each predict every question into the same predictions.jsonl. The lock file
    (extract_frames.pid_lock) survives --overwrite. Every mode takes the lock before it writes anything, so this is
    where an --output_dir that names a file (or lies under one) is refused; mkdir said only `[Errno 17] File exists`,
    and where the temporary files of reports and run_config.json that a killed run (SIGKILL: nothing could clean up)
    left are removed, as preprocess_vsi_data.py removes its own.
    """

    def refuse(holder: str) -> None:
        raise EvalError(
            f'{folder} is in use by another evaluation (pid {holder}); wait for it to finish or choose another '
            '--output_dir'
        )

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        file = next(path for path in (folder, *folder.parents) if os.path.lexists(path))
        what = '' if file == folder else f': {file}'
        raise EvalError(f'--output_dir {folder}{what} is a file, not a folder; name a folder for the results') from None
    with pid_lock(folder / LOCK_NAME, refuse):
        for path in remove_stale_temps(str(folder), {RUN_CONFIG_NAME, *REPORT_FILES}, locked=True):
            logger.info('removed %s, left by a killed run', path)
        yield


def check_run_folder(output_dir: Path, config: RunConfig, overwrite: bool) -> dict | None:
    """Refuse to mix runs: predictions in `output_dir` must come from the same protocol (or are removed, with every
    report of the previous run, by `overwrite`). Writes run_config.json, and returns the one it replaced where
    predictions were beside it (their run's), else None."""
    config_path = output_dir / RUN_CONFIG_NAME
    predictions = output_dir / PREDICTIONS_NAME
    # A config with no predictions beside it (a run stopped before its first batch, say for missing frames, or
    # killed while writing it: a cut-off line only) binds nothing: it is replaced, so the corrected command runs.
    # Read as the resume reads them: a whole last row that lost only its newline is a prediction. Mended here (under
    # the folder's lock), as the resume would: its cut-off last line is then warned about once, not at each reading.
    predicted = not overwrite and predictions.exists() and bool(read_predictions(predictions, repair=True))
    old = None
    if overwrite:  # the frames cache stays: extract_frames.py checks its folders against their settings
        # the predictions last: a run killed in between leaves the old run whole or predictions without their config
        # (refused), never reports without the predictions they score
        for name in REPORT_FILES + (RUN_CONFIG_NAME, PREDICTIONS_NAME):
            (output_dir / name).unlink(missing_ok=True)
    elif predicted and config_path.exists():
        try:
            old = json.loads(config_path.read_text(encoding='utf-8'))
        except json.JSONDecodeError as e:
            raise EvalError(f'{config_path} is not valid JSON ({e}); pass --overwrite to start over') from None
        if not isinstance(old, dict):
            raise EvalError(f'{config_path} holds no run configuration (a JSON object); pass --overwrite to start over')
        new = asdict(config)
        unrecorded = {name: build_parser().get_default(name) for name in ADDED_PROTOCOL_FIELDS if name not in old}
        recorded = {**unrecorded, **old}
        if recorded.get('frames') == os.path.abspath(output_dir / 'frames'):  # as written before RUN_FOLDER_FRAMES
            recorded['frames'] = RUN_FOLDER_FRAMES
        changed = [name for name in PROTOCOL_FIELDS if recorded.get(name) != new[name]]
        if changed:
            details = '; '.join(
                f'{name}: {recorded.get(name)!r} there'
                + (' (not recorded by the version that wrote it: the default)' if name in unrecorded else '')
                + f', {new[name]!r} now'
                + (" (the file's contents differ: edited since?)" if name == 'dataset_sha256' else '')
                for name in changed
            )
            guess = {name: new[name] for name in changed if name in unrecorded}
            record = (
                f'if that run was made with {", ".join(guess)} as now, add {json.dumps(guess)[1:-1]} to {config_path} '
                'to resume it; otherwise '
                if guess and len(guess) == len(changed)
                else ''
            )
            raise EvalError(
                f'{output_dir} holds a run made differently ({details}); {record}choose another --output_dir or '
                'pass --overwrite to discard its predictions'
            )
    elif predicted:
        raise EvalError(
            f'{predictions} exists but {config_path} does not, so its protocol is unknown; choose another '
            '--output_dir or pass --overwrite'
        )
    else:
        # results of another run (a rescoring's folder) would stay beside this run's run_config.json until its own
        # replace them, and for good where it writes only results_subset.*: --compare reads results.json first
        reports = [name for name in (RESULTS_NAME, SUBSET_RESULTS_NAME) if (output_dir / f'{name}.json').exists()]
        if reports:
            raise EvalError(
                f'{output_dir} holds {" and ".join(f"{name}.json" for name in reports)} but no {PREDICTIONS_NAME}, '
                'so they are of another run; choose another --output_dir or pass --overwrite to remove them'
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        write_json_atomic(str(config_path), asdict(config))
    except OSError as e:
        kept = 'the predictions there are kept' if predicted else 'no prediction of this run was made yet'
        raise cannot_write(config_path, e, kept) from e
    return old


def recorded_frames(frames_root: str | None, output_dir: Path) -> str:
    """What run_config.json records of where a run's frames come from: an absolute path, RUN_FOLDER_FRAMES for the run
    folder's own, or `dataset rows` (the rows name their images)."""
    if not frames_root:
        return 'dataset rows'
    frames_root = os.path.abspath(frames_root)
    return RUN_FOLDER_FRAMES if frames_root == os.path.abspath(output_dir / 'frames') else frames_root


def check_prediction_row(row: dict) -> dict:
    """The row, if it can be scored as written; else ValueError saying why (read_predictions adds file and line).

    Types are checked because scoring cannot tell a malformed value from a wrong answer: a list ground truth or
    options given as text would silently score 0, a numeric question type would crash deep in aggregation. So would a
    multiple-choice ground truth no option letter matches under the official comparison (`exact_match`: `E` with
    options A and B, `B. table`, an empty one), so it must be one of the row's option letters, as in VSI-Bench's rows
    (any letter where the row has no options written as `A. text`). `prediction` may be null (the engine returned no
    text: it scores 0).
    """
    absent = [name for name in PREDICTION_FIELDS if name not in row]
    if absent:
        raise ValueError('missing ' + ', '.join(absent))
    check_question_type(row['question_type'])
    identifier, truth, options = row['id'], row['ground_truth'], row.get('options')
    if isinstance(identifier, bool) or not isinstance(identifier, (str, int)):
        raise ValueError(f'id {identifier!r} is not a string or an integer')
    if options is not None and not (isinstance(options, list) and all(isinstance(o, str) for o in options)):
        raise ValueError(f'options {options!r} is not a list of strings')
    if is_multiple_choice(row['question_type']):
        letters = option_letters(options)
        matched = isinstance(truth, str) and any(exact_match(c, truth) for c in letters or string.ascii_uppercase)
        if not matched:
            allowed = f'one of its option letters ({", ".join(letters)})' if letters else 'an option letter (A-Z)'
            raise ValueError(f'ground_truth {truth!r} of a multiple-choice question is not {allowed}')
    elif ground_truth_number(truth) is None:  # the rule preprocessing applies, so its rows always pass
        raise ValueError(f'ground_truth {truth!r} of a numeric question is not a plain finite number')
    if row['prediction'] is not None and not isinstance(row['prediction'], str):
        raise ValueError(f'prediction {row["prediction"]!r} is not text')
    if row.get('prompt_style') is not None and row['prompt_style'] not in PROMPT_STYLES:
        raise ValueError(f'prompt_style {row["prompt_style"]!r} is not one of {PROMPT_STYLES}')
    return row


def read_predictions(path: str | Path, repair: bool = False) -> dict[str, dict]:
    """Prediction rows by id (as text), each checked by `check_prediction_row`.

    A last line cut off by a killed writer is handled as extract_frames.read_jsonl_log says (with `repair`, the
    file is mended so appending continues cleanly). A row repeating an earlier one of its id word for word (in
    SCORED_FIELDS; two evaluations once could write one folder at the same time) is counted once, with a warning.
    Any other malformed line, an id predicted twice differently, or rows recording different prompt styles (one
    file holds one run) is an error naming the line.
    """
    try:
        lines = read_jsonl_log(path, check_prediction_row, 'a prediction row', repair, logger)
    except ValueError as e:
        raise EvalError(str(e)) from None
    rows: dict[str, dict] = {}
    lineno_of: dict[str, int] = {}
    repeated = 0
    first_style: tuple[str, int] | None = None
    for lineno, row in lines:
        key = str(row['id'])
        if key in rows:
            if any(rows[key].get(name) != row.get(name) for name in SCORED_FIELDS):
                raise EvalError(
                    f'{path}:{lineno}: id {key!r} was already predicted at line {lineno_of[key]}, differently; '
                    'keep one of the two lines'
                )
            repeated += 1
            continue
        rows[key], lineno_of[key] = row, lineno
        style = row.get('prompt_style')
        if style is not None and first_style is None:
            first_style = style, lineno
        elif style is not None and style != first_style[0]:
            raise EvalError(
                f'{path}:{lineno}: prompt_style {style!r}, but line {first_style[1]} has {first_style[0]!r}; '
                'a predictions file holds one run'
            )
    if repeated:
        logger.warning(
            '%s: %d line(s) repeat an earlier prediction of the same id word for word (two evaluations wrote the '
            'folder at once); each prediction is counted once',
            path,
            repeated,
        )
    return rows


def append_predictions(path: Path, rows: Iterable[dict]) -> None:
    """Append rows and force them to disk, so a kill loses at most the batch in flight. A full disk is an EvalError
    that says the predictions so far are kept (a cut-off last line is ignored and predicted again on resume)."""
    try:
        with open(path, 'a', encoding='utf-8') as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + '\n')
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise cannot_write(path, e, 'the predictions written before are kept', f' {NOT_OVERWRITTEN} to resume') from e


# What a rerun after a failed write must leave out where the predictions are kept: --overwrite would remove them
NOT_OVERWRITTEN = 'without --overwrite (which would remove them)'
# What a failed report write keeps where nothing else is at stake (rescoring, --compare): the writes are atomic
REPORTS_UNCHANGED = 'the reports there before are unchanged'


def cannot_write(what: str | Path, error: OSError, kept: str, rerun: str = '') -> EvalError:
    """The error for a write that failed (a full disk said `[Errno 28] No space left on device`, naming no file):
    which file, what is kept, and what to do (`rerun` ends the sentence)."""
    room = 'make room and ' if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else ''
    return EvalError(
        f'cannot write {what} ({error.strerror or error}); {kept}: {room}run the same command again{rerun}'
    )


# ----------------------------------------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------------------------------------


def vllm_installed() -> bool:
    return importlib.util.find_spec('vllm') is not None


def resolve_backend(name: str) -> str:
    """`auto` means vLLM when it is installed and a GPU is visible, else transformers (`pt`)."""
    if name == 'transformers':
        return 'pt'
    if name != 'auto':
        return name
    if not vllm_installed():
        return 'pt'
    import torch

    return 'vllm' if torch.cuda.is_available() else 'pt'


def adapter_problem(adapter: str, backend: str) -> str | None:
    """Why `adapter` is not a LoRA checkpoint when it is a file or a folder with no adapter_config.json, in it or in a
    folder directly inside (swift's own tuner layout, which the transformers backend loads; vLLM reads the config at
    the top of the folder only, and failed at the first request, once the model had loaded); for a training run's
    folder, the output folder above, or a checkpoint cut off before its adapter was written, naming the checkpoint to
    use. Else None. swift said so only once the frames and the model had loaded, as "Mixed using with peft is not
    allowed now" or a traceback (an empty folder, the base model's folder)."""
    if not os.path.isdir(adapter):
        return f'adapter {adapter} is a file, not a checkpoint folder'
    folder = Path(adapter)
    if (folder / ADAPTER_CONFIG).is_file():
        return adapter_config_problem(folder / ADAPTER_CONFIG)
    hint = checkpoint_hint(folder)  # first: a run folder holds checkpoints with their own adapter_config.json
    inside = sorted(sub for sub in folder.iterdir() if (sub / ADAPTER_CONFIG).is_file())
    if not hint and inside:
        peft = [sub.name for sub in inside if 'swift_type' not in _json_object(sub / ADAPTER_CONFIG)]
        if not peft and backend == 'vllm':
            return (
                f"adapter {adapter} keeps its {ADAPTER_CONFIG} in {', '.join(sub.name for sub in inside)} (swift's "
                f'tuner layout), which vLLM cannot load: use --infer_backend transformers'
            )
        if not peft:  # swift's tuner layout; swift refuses one with a PEFT adapter in it ("Mixed using with peft")
            return None
        hint = f'the folder(s) {", ".join(peft)} in it hold a PEFT adapter: name one of them'
    hint = hint or 'nor in a folder directly inside; name a checkpoint-N folder that training saved'
    return f'adapter {adapter} is not a LoRA checkpoint (no {ADAPTER_CONFIG}): {hint}'


def _json_object(path: Path) -> dict:
    """The JSON object in `path`; {} for a file that holds none (unreadable, not JSON, another type)."""
    try:
        value = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return {}
    return value if isinstance(value, dict) else {}


def check_fields(path: Path, values: dict, kinds: dict[str, str], prefix: str = '') -> None:
    """EvalError naming `path` and the first field of `values` (`prefix` + name) that holds something other than its
    kind in `kinds` (JSON_KINDS, or `<kind> or null`); absent fields are the caller's to judge. The files read back
    (run_config.json, results.json) may be edited by hand or come from elsewhere, and a wrong type otherwise fails
    with a traceback deep in a report, or passes for another value."""
    for name, kind in kinds.items():
        if name not in values:
            continue
        value, base = values[name], kind.removesuffix(' or null')
        if not (value is None and base != kind) and not JSON_KINDS[base](value):
            raise EvalError(f'{path}: {prefix}{name} is {json.dumps(value, ensure_ascii=False)}, not {kind}')


def adapter_config_problem(path: Path) -> str | None:
    """Why a checkpoint's adapter_config.json cannot be loaded (not a JSON object, a LoRA rank `r` that is no positive
    whole number), else None: checked before the frames and the model load, where PEFT or vLLM failed with a
    traceback."""
    try:
        config = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return f'{path} cannot be read as JSON ({error}): the checkpoint is damaged; name another one'
    if not isinstance(config, dict):
        return f'{path} holds no JSON object: the checkpoint is damaged; name another one'
    rank = config.get('r')
    if rank is not None and not (JSON_KINDS['a whole number'](rank) and rank > 0):
        return f'{path}: r is {json.dumps(rank)}, not a positive whole number (the LoRA rank)'
    return None


def training_mismatch(adapter: str, prompt_style: str, enable_thinking: bool) -> str | None:
    """How this run asks otherwise than `adapter` was trained, by the args.json swift saves with every checkpoint, as a
    warning line; None where they agree or args.json does not tell. A think-trained adapter asked with the direct
    prompt (or the other way round), or without the thinking prefix it learned after, scores what the prompt change
    costs, not what training taught, and the score alone does not show it.

    The prompt style is think where the rewards include vsi_format or enable_thinking was on (train_vsi_grpo.py
    refuses direct rows under either), else that of the first row of the first local training file still there."""
    saved = _json_object(Path(adapter) / 'args.json')
    if not saved:  # no args.json (an adapter trained elsewhere), or none readable: it tells nothing
        return None
    thinking = saved.get('enable_thinking') is True
    style, evidence = None, None
    if 'vsi_format' in (saved.get('reward_funcs') or []):  # swift saves a list
        style, evidence = 'think', 'its rewards include vsi_format'
    elif thinking:
        style, evidence = 'think', 'enable_thinking was true'
    else:
        for path in dataset_files(saved)[:1]:
            try:
                row = first_json_row(path) if os.path.isfile(path) else None
            except (OSError, ValueError):  # not this function's to report: the run goes on without the hint
                row = None
            if isinstance(row, dict) and row.get('prompt_style') in PROMPT_STYLES:
                style, evidence = row['prompt_style'], f'its training data {path} holds {row["prompt_style"]} rows'
    if (style in (None, prompt_style)) and thinking == enable_thinking:
        return None
    trained = f'the {style or prompt_style} prompt' + (' with enable_thinking true' if thinking else '')
    asked = f'the {prompt_style} prompt' + (' with --enable_thinking' if enable_thinking else '')
    flags = [f'--prompt_style {style}'] if style not in (None, prompt_style) else []
    flags += ['--enable_thinking'] if thinking and not enable_thinking else []
    advice = [f'pass {" ".join(flags)}'] if flags else []
    advice += ['drop --enable_thinking'] if enable_thinking and not thinking else []
    because = f'; {evidence}' if evidence and style != prompt_style else ''
    return (
        f'adapter {adapter} was trained with {trained} (its args.json{because}), and this run asks with {asked}: its '
        f'score would measure the change of prompt; {" and ".join(advice)} to evaluate it as it was trained'
    )


def adapter_rank(adapter: str) -> int | None:
    """The LoRA rank `r` in a PEFT/swift checkpoint's adapter_config.json (checked by adapter_problem), or None if
    it has none."""
    return _json_object(Path(adapter) / ADAPTER_CONFIG).get('r')


def vllm_engine_kwargs(
    adapters: Sequence[str],
    model_type: str | None,
    torch_dtype: Any,
    max_images: int,
    max_model_len: int | None,
    gpu_memory_utilization: float,
    tensor_parallel_size: int,
    max_num_seqs: int,
) -> dict:
    """Keyword arguments for swift's `VllmEngine(model, **kwargs)`.

    An adapter goes in `adapters`: VllmEngine then turns on `enable_lora` and sends a `LoRARequest` with every
    request. vLLM refuses adapters above `max_lora_rank` and pre-allocates `limit_mm_per_prompt` images per prompt,
    so both are set from the adapter and the questions; videos are never sent.
    """
    kwargs = {
        'model_type': model_type,
        'torch_dtype': torch_dtype,
        'adapters': list(adapters),
        'limit_mm_per_prompt': {'image': max_images, 'video': 0},
        'max_model_len': max_model_len,
        'gpu_memory_utilization': gpu_memory_utilization,
        'tensor_parallel_size': tensor_parallel_size,
        'max_num_seqs': max_num_seqs,
    }
    if adapters:
        rank = adapter_rank(adapters[0]) or VLLM_LORA_RANKS[0]
        fitting = [r for r in VLLM_LORA_RANKS if r >= rank]
        if not fitting:
            raise EvalError(
                f'adapter {adapters[0]} has LoRA rank {rank}, above what vLLM supports '
                f'({VLLM_LORA_RANKS[-1]}); use --infer_backend pt or merge the adapter'
            )
        kwargs['max_lora_rank'] = fitting[0]
    return kwargs


def resolve_model(model: str, model_type: str | None) -> tuple[str | None, Any]:
    """(the swift model type `model` loads as, its weights' torch dtype), by swift's own resolution (its name, a
    checkpoint's args.json, the architectures in config.json), run before frames are extracted: a local Qwen3-VL
    folder matches several types (qwen3_vl, qwen3_vl_emb, qwen3_vl_reranker), and swift would refuse it only when the
    engine is built, after minutes of extraction. Reads config files only (a hub model's are downloaded, as the engine
    would do anyway)."""
    from swift.model import MODEL_MAPPING, get_model_info_meta  # imports torch: only when a model is to be run

    if model_type is not None and model_type not in MODEL_MAPPING:  # swift's own message lists all 200+ types
        close = difflib.get_close_matches(model_type, list(MODEL_MAPPING), n=3)
        guess = f'; did you mean {" or ".join(close)}?' if close else ''
        raise EvalError(f'--model_type {model_type!r} is not a swift model type{guess}')
    try:
        info, meta = get_model_info_meta(model, model_type=model_type, download_model=False)
    except ValueError as e:
        if 'model_type' not in str(e):
            raise EvalError(f'--model {model}: {e}') from None
        found = re.search(r'Multiple possible types found: \[[^\]]*\]', str(e))
        reason = found.group() if found else 'no model type matches its config.json'
        raise EvalError(f'swift cannot tell the model type of {model} ({reason}): add --model_type qwen3_vl') from None
    return meta.model_type or info.model_type, info.torch_dtype


def lora_serving_dtype(model: str, model_dtype: Any) -> Any:
    """The dtype vLLM serves `model` (whose weights are `model_dtype`) in with a LoRA adapter when --torch_dtype is not
    given: None (the model's own) for a half-precision model, as real Qwen3-VL checkpoints are; bfloat16, with a
    warning, for a float32 one (the demo's tiny model), which vLLM's LoRA kernels cannot take
    (VLLM_LORA_FLOAT32_ERROR)."""
    import torch

    if model_dtype in (torch.bfloat16, torch.float16):
        return None
    logger.warning(
        '%s has %s weights, which vLLM cannot serve with a LoRA adapter: evaluating in bfloat16, the dtype training '
        'used (--torch_dtype sets it)',
        model,
        model_dtype,
    )
    return torch.bfloat16


def make_engine(args: argparse.Namespace, backend: str, max_images: int, model_dtype: Any) -> Engine:
    """swift's inference engine for `args.model` (whose weights are `model_dtype`, from resolve_model) with
    `args.adapters` (imported here: both pull in torch)."""
    import torch

    torch_dtype = getattr(torch, args.torch_dtype) if args.torch_dtype else None
    adapters = args.adapters or []
    if backend == 'vllm':
        if adapters and torch_dtype is None:
            torch_dtype = lora_serving_dtype(args.model, model_dtype)
        from swift.infer_engine import VllmEngine  # needs vllm, a GPU-only dependency

        return VllmEngine(
            args.model,
            **vllm_engine_kwargs(
                adapters,
                args.model_type,
                torch_dtype,
                max_images,
                args.max_model_len,
                args.gpu_memory_utilization,
                args.tensor_parallel_size,
                args.batch_size,
            ),
        )
    from swift.infer_engine import TransformersEngine

    return TransformersEngine(
        args.model,
        adapters=adapters or None,
        model_type=args.model_type,
        torch_dtype=torch_dtype,
        max_batch_size=args.batch_size,
    )


def _frame_pixels(images: Sequence[str]) -> int | None:
    """width * height of the first image (its header only), None without images or where it cannot be read (the model
    then fails on it, saying why)."""
    size = _image_size(images[0]) if images else None
    return size[0] * size[1] if size else None


def _image_size(path: str, whole: bool = False) -> tuple[int, int] | None:
    """(width, height) of an image from its header (`whole`: after decoding it all); None where Pillow cannot read
    it."""
    from PIL import Image  # swift's dependency, loaded by then

    try:
        with Image.open(path) as image:
            if whole:
                image.load()
            return image.size
    # UnidentifiedImageError is an OSError; DecompressionBombError (over twice Image.MAX_IMAGE_PIXELS) neither
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def prediction_row(item: EvalItem, response: Any, prompt_style: str) -> dict:
    """One line of predictions.jsonl; it records the prompt style so that rescoring the file alone applies the
    right official rule."""
    q = item.question
    usage = getattr(response, 'usage', None)
    return {
        'id': q.id,
        'question_type': q.question_type,
        'ground_truth': q.solution,
        'options': q.options,
        'prediction': response.choices[0].message.content,
        'prompt_style': prompt_style,
        'dataset': q.dataset,
        'scene_name': q.scene_name,
        'num_images': len(item.images),
        'subset_of_frames': item.subset_of,
        'frame_pixels': item.frame_pixels,
        'prompt_tokens': getattr(usage, 'prompt_tokens', None),
    }


def run_inference(
    engine: Engine,
    items: Sequence[EvalItem],
    predictions_path: Path,
    max_new_tokens: int,
    batch_size: int,
    prompt_style: str,
    enable_thinking: bool = False,
    progress: bool = True,
) -> None:
    """Predict every item with greedy decoding, appending each batch to `predictions_path`.

    `enable_thinking` asks the template for its thinking prefix, per request as swift's rollouts pass it; otherwise
    the template's own default holds, as in training without the flag.
    """
    from swift.infer_engine import InferRequest, RequestConfig

    request_config = RequestConfig(max_tokens=max_new_tokens, temperature=0)
    template_kwargs = {'enable_thinking': True} if enable_thinking else {}
    with tqdm(total=len(items), desc='VSI-Bench', unit='q', dynamic_ncols=True, disable=not progress) as bar:
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            requests = [
                InferRequest(messages=item.messages, images=item.images, chat_template_kwargs=dict(template_kwargs))
                for item in batch
            ]
            try:
                responses = engine.infer(requests, request_config, use_tqdm=False)
            except OSError as e:  # Pillow's, for a damaged frame: `Truncated File Read`, naming no file or question
                damaged = _unreadable_image(batch)
                if damaged is None:
                    raise
                raise EvalError(
                    f'{damaged} ({e}); the predictions before this batch are kept in {predictions_path}: replace the '
                    'frame (extract the video again) and run the same command to resume'
                ) from e
            append_predictions(
                predictions_path, [prediction_row(i, r, prompt_style) for i, r in zip(batch, responses, strict=True)]
            )
            bar.update(len(batch))


def _unreadable_image(batch: Sequence[EvalItem]) -> str | None:
    """`<question's location>: image <path> does not decode` for the batch's first image Pillow cannot read whole, or
    None. Frames are checked only when inference fails: decoding each twice would cost every run."""
    for item in batch:
        for path in item.images:
            if _image_size(path, whole=True) is None:
                return f'{item.question.location}: image {path} does not decode'
    return None


# ----------------------------------------------------------------------------------------------------------
# Scoring and reports
# ----------------------------------------------------------------------------------------------------------


def score_predictions(rows: Iterable[dict], prompt_style: str) -> dict:
    """`official` and `lenient` aggregates (vsi_scoring.aggregate: percent) of prediction rows.

    The official rule depends on the prompt style the predictions were made with (vsi_scoring.official_score)."""
    official, lenient = [], []
    for row in rows:
        qt, pred, truth = row['question_type'], row['prediction'], row['ground_truth']
        official.append({'question_type': qt, 'score': official_score(pred, truth, qt, prompt_style)})
        lenient.append({'question_type': qt, 'score': reward_score(pred, truth, qt, row.get('options'))})
    if not official:
        raise EvalError('no predictions to score')
    return {'official': aggregate(official), 'lenient': aggregate(lenient)}


def build_results(
    rows: Sequence[dict],
    label: str,
    prompt_style: str,
    config: dict | None = None,
    predictions: str | None = None,
    selection: dict | None = None,
) -> dict:
    """The report of one run. `selection` says how its questions were chosen (limit, question_types) and how many
    the dataset holds (questions_in_dataset; None where unknown). Scoring fewer than that makes the report a subset:
    flagged, warned about, and written as results_subset.* (write_results)."""
    scores = score_predictions(rows, prompt_style)
    selection = {'limit': None, 'question_types': None, 'questions_in_dataset': None, **(selection or {})}
    selection['questions_scored'] = scored = scores['official']['num_questions']
    total = selection['questions_in_dataset']
    subset_warning = None
    if total is not None and scored < total:
        chosen = [
            f'--{name} {" ".join(map(str, value)) if isinstance(value, list) else value}'
            for name in ('question_types', 'limit')
            if (value := selection[name]) is not None
        ]
        why = f'chosen by {", ".join(chosen)}' if chosen else 'the predictions file holds no others'
        subset_warning = (
            f'subset: {scored} of {total} questions — not comparable to published full-benchmark numbers ({why})'
        )
        logger.warning('%s', subset_warning)
    completeness_warning = None
    if total is None and scored != VSI_BENCH_QUESTIONS:  # rescored predictions with no run_config.json beside them
        completeness_warning = (
            f'completeness unknown: {_counted(scored, "question")}, and nothing says how many the dataset holds (no '
            f'{RUN_CONFIG_NAME} of the run beside the predictions, or one whose dataset cannot be read); VSI-Bench '
            f'has {VSI_BENCH_QUESTIONS:,}'
        )
        logger.warning('%s', completeness_warning)
    order = paper_order(scores['official']['categories'])
    differences = official_protocol_differences(config, scored, rows)
    # every size given (a scene given two, its frames extracted again while the run was resumed, counts both here)
    given = [row['frame_pixels'] for row in rows if JSON_KINDS['a whole number'](row.get('frame_pixels'))]
    return {
        'label': label,
        'overall': scores['official']['overall'],
        'lenient_overall': scores['lenient']['overall'],
        'num_questions': scored,
        'frame_pixels_min': min(given, default=None),
        'frame_pixels_max': max(given, default=None),
        'frame_pixels_by_scene': frame_pixels_by_scene(rows),
        'subset': subset_warning is not None,
        'subset_warning': subset_warning,
        'completeness_warning': completeness_warning,
        'selection': selection,
        'score_unit': SCORE_UNIT,
        'category_order': order,  # the paper's Table 1 order; the score dicts keep vsi_scoring's
        'category_names': {name: paper_name(name) for name in order},
        'prompt_style': prompt_style,
        'official_rule': OFFICIAL_RULES[prompt_style],
        'official_protocol': None if differences is None else not differences,  # None: no run config says
        'official_protocol_differences': differences,
        'official': scores['official'],
        'lenient': scores['lenient'],
        'config': config,
        'predictions': predictions,
        # what the file held: a folder of these scores moved with it is rescored in place (check_rescoring_folder)
        'predictions_sha256': file_sha256(predictions) if predictions and os.path.isfile(predictions) else None,
    }


def resized_frames_problem(done: dict[str, dict], items: Sequence[EvalItem]) -> str | None:
    """A scene whose frames have another size than when this run's earlier predictions were made on them: a folder of
    frames (--frames_dir) extracted again with other settings while the run was stopped. Its settings are no part of
    the recorded protocol, and the resumed run would have reported predictions on two frame sizes as one."""
    recorded = frame_pixels_by_scene(list(done.values()))
    for item in items:
        scene = f'{item.question.dataset or ""}/{item.question.scene_name}'
        then = recorded.get(scene)
        if then is not None and item.frame_pixels is not None and item.frame_pixels != then:
            return (
                f'the frames of {scene} have {item.frame_pixels:,} pixels now and had {then:,} when this run began on '
                'them (extracted again since?): the run would mix frame sizes'
            )
    return None


def frame_pixels_by_scene(rows: Sequence[dict]) -> dict[str, int]:
    """The frames' own size (width * height; a scene given two, its largest) per scene, `dataset/scene_name`, from the
    rows that record it (not those of before 2026-11-28): --frames_dir does not record it in the config, and frames
    kept at their videos' size differ by dataset, so two runs are compared scene by scene. Swift rows do not say their
    dataset: their keys are `/scene_name` (frame_size_difference matches them by name)."""
    sizes: dict[str, int] = {}
    for row in rows:
        if JSON_KINDS['a whole number'](row.get('frame_pixels')):
            scene = f'{row.get("dataset") or ""}/{row.get("scene_name")}'
            sizes[scene] = max(sizes.get(scene, 0), row['frame_pixels'])
    return dict(sorted(sizes.items()))


def official_protocol_differences(config: dict | None, scored: int, rows: Sequence[dict] = ()) -> list[str] | None:
    """How a run (its config, `scored` questions, their prediction `rows`) differs from the official VSI-Bench
    evaluation (OFFICIAL_PROTOCOL, all VSI_BENCH_QUESTIONS questions), one `what (official: what)` each; [] for none,
    None without a config (scored predictions with no run_config.json: the protocol is unknown). The frames each
    question was given come from its row (`num_images`): under --allow_fewer_frames a scene may have had fewer than
    the run asked for."""
    if config is None:
        return None
    official = OFFICIAL_PROTOCOL
    differences = []
    if config['blind']:
        differences.append(f'blind, no frames (official: {official["num_frames"]} frames); a baseline')
    elif config['num_frames'] is None:
        differences.append(f"the dataset rows' own frames (official: {official['num_frames']})")
    elif config['num_frames'] != official['num_frames']:
        differences.append(
            f'{config["num_frames"]} frames (official: {official["num_frames"]}, the common setting for Qwen models)'
        )
    asked = None if config['blind'] else config['num_frames']
    short = asked and sum(
        JSON_KINDS['a whole number'](row.get('num_images')) and row['num_images'] < asked for row in rows
    )
    if short:
        differences.append(
            f'{_counted(short, "question")} with fewer than {asked} frames (--allow_fewer_frames; official: '
            f'{official["num_frames"]} each)'
        )
    subsets = sum(JSON_KINDS['a whole number'](row.get('subset_of_frames')) for row in rows)
    if subsets:  # not in rows of before 2026-11-28
        differences.append(
            f'{_counted(subsets, "question")} given an even subset of the frames extracted for their scene (official: '
            f'round(linspace(0, n - 1, {official["num_frames"]})) over the video; extract_frames.py --num_frames '
            f'{official["num_frames"]} gives exactly those)'
        )
    if config['prompt_style'] != official['prompt_style']:
        differences.append(f'prompt {config["prompt_style"]} (official: {official["prompt_style"]})')
    if config.get('enable_thinking', False) != official['enable_thinking']:  # not in configs of before 2026-11-26
        differences.append("the template's thinking prefix (official: none)")
    if config['max_new_tokens'] != official['max_new_tokens']:
        tokens = _counted(config['max_new_tokens'], 'new token')
        differences.append(f'{tokens} (official: {official["max_new_tokens"]})')
    if scored != VSI_BENCH_QUESTIONS:
        differences.append(f'{_counted(scored, "question")} (official: all {VSI_BENCH_QUESTIONS:,})')
    return differences


def _counted(count: int, noun: str) -> str:
    """`1 question`, `5,130 questions`."""
    return f'{count:,} {noun}{"" if count == 1 else "s"}'


def results_path(path: str) -> Path:
    """A results file named as itself or by its run folder: results.json there, else results_subset.json (a run on
    fewer questions, --limit say, writes only that)."""
    given = Path(path)
    candidates = [given / f'{name}.json' for name in (RESULTS_NAME, SUBSET_RESULTS_NAME)] if given.is_dir() else []
    return next((c for c in candidates if c.is_file()), candidates[0] if candidates else given)


def load_results(path: str, warn: bool = True) -> dict:
    """A results file (results_path), checked to be one this script wrote: the parts a comparison reads, and the types
    of the values it computes with (check_fields; `"overall": "40"` failed with a traceback).

    A file without `official_protocol` (every results.json has it since 2026-11-27) was written by an earlier version,
    perhaps one that aggregated subsets by other rules (until 2026-11-26: absent categories and relative-direction
    levels). Its numbers cannot be told apart from current ones, so it is compared with `version_warning`, which
    travels with the comparison like a subset's warning; rescoring its predictions removes the doubt. Refusing it would
    also refuse the files of runs that covered every category, which scored as now."""
    path = results_path(path)
    try:
        results = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, json.JSONDecodeError) as e:
        if isinstance(e, json.JSONDecodeError) and path.suffix == '.jsonl':  # a run folder's predictions.jsonl, say
            raise EvalError(
                f'{path} holds prediction rows, not results: pass its run folder or the results.json beside it (a '
                'predictions file is scored with --predictions first)'
            ) from None
        subset = path.with_name(f'{SUBSET_RESULTS_NAME}.json')
        hint = f' (a run on fewer questions writes {subset}, which is there)' if subset.is_file() else ''
        raise EvalError(f'cannot read results file {path}: {e}{hint}') from None
    if not isinstance(results, dict) or not all(_is_aggregate(results.get(key)) for key in ('official', 'lenient')):
        raise EvalError(
            f'{path} is not a results.json written by eval_vsi_bench.py (no "official" and "lenient" scores with '
            'their categories)'
        )
    results.setdefault('label', path.parent.name or str(path))
    check_fields(path, results, RESULTS_FIELDS)
    sizes = results.get('frame_pixels_by_scene') or {}
    check_fields(path, sizes, dict.fromkeys(sizes, 'a whole number'), 'frame_pixels_by_scene.')
    for kind in ('official', 'lenient'):
        check_fields(path, results[kind], AGGREGATE_FIELDS, f'{kind}.')
        for name, category in results[kind]['categories'].items():
            check_fields(path, category, CATEGORY_FIELDS, f'{kind}.categories.{name}.')
    warning = None
    if 'official_protocol' not in results:
        warning = (
            f'{path} was written by an earlier eval_vsi_bench.py (no official_protocol field), maybe under earlier '
            'scoring rules (until 2026-11-26 a run lacking a category or a relative-direction level was scored '
            'differently): rescore its predictions with --predictions to compare like with like'
        )
    elif 'frame_pixels_by_scene' not in results and results.get('frame_pixels_min') is not None:
        warning = (
            f'{path} was written by an earlier eval_vsi_bench.py (frame sizes without frame_pixels_by_scene, '
            "2026-11-28): its frames' sizes are not compared scene by scene; rescore its predictions with "
            '--predictions to compare them'
        )
    if warning:
        results['version_warning'] = warning
        if warn:
            logger.warning('%s', warning)
    return results


def _is_aggregate(scores: Any) -> bool:
    """Whether `scores` has what a comparison reads of an `aggregate` result: overall, num_questions, categories."""
    return (
        isinstance(scores, dict)
        and {'overall', 'num_questions'} <= scores.keys()
        and isinstance(scores.get('categories'), dict)
        and all(isinstance(c, dict) and {'score', 'count'} <= c.keys() for c in scores['categories'].values())
    )


def paper_order(categories: Iterable[str]) -> list[str]:
    """Category names in the order of the paper's Table 1 (a name it lacks, from a foreign results file, last).
    Relative-direction levels scored as categories of their own (the official code merges them only with the easy
    level present) take Rel. Dir.'s place, in difficulty order: by name, hard came before medium."""
    order = list(PAPER_CATEGORIES)
    after = order.index(REL_DIRECTION_CATEGORY) + 1
    order[after:after] = REL_DIRECTION_LEVELS
    return sorted(categories, key=lambda name: order.index(name) if name in order else len(order))


def paper_name(category: str) -> str:
    """The paper's column name of a category (Obj. Count), or the name itself where it has none."""
    return PAPER_CATEGORIES.get(category, category)


def _overall_row(category: str, base: dict, new: dict) -> dict:
    """A comparison row for the overall score of two `aggregate` results (official or lenient)."""
    return {
        'category': category,
        'base': base['overall'],
        'new': new['overall'],
        'base_count': base['num_questions'],
        'new_count': new['num_questions'],
    }


def compare_results(base: dict, new: dict) -> dict:
    """Per-category official scores of two runs and `new - base` (None where a run lacks the category)."""
    categories = paper_order({**base['official']['categories'], **new['official']['categories']})
    rows = [_overall_row('overall', base['official'], new['official'])]
    for name in categories:
        a, b = base['official']['categories'].get(name), new['official']['categories'].get(name)
        rows.append(
            {
                'category': name,
                'base': a['score'] if a else None,
                'new': b['score'] if b else None,
                'base_count': a['count'] if a else 0,
                'new_count': b['count'] if b else 0,
            }
        )
    rows.append(_overall_row('overall (lenient)', base['lenient'], new['lenient']))
    for row in rows:
        row['delta'] = None if row['base'] is None or row['new'] is None else row['new'] - row['base']
    # a subset's warning (and an earlier version's) travels with every table made from it, so that none is shared as
    # a full-benchmark result
    subsets = [
        f'{run["label"]}: {warning}'
        for run in (base, new)
        for warning in (run.get('subset_warning'), run.get('completeness_warning'), run.get('version_warning'))
        if warning
    ]
    differences = protocol_differences(base.get('config'), new.get('config'))
    styles = base.get('prompt_style'), new.get('prompt_style')  # recorded by rescored runs too, which lack a config
    if None not in styles and styles[0] != styles[1] and not any(d.startswith('prompt_style ') for d in differences):
        differences.append(f'prompt_style {styles[0]!r} vs {styles[1]!r}, each scored by its own official rule')
    sizes = frame_size_difference(base.get('frame_pixels_by_scene'), new.get('frame_pixels_by_scene'))
    if sizes:
        differences.append(sizes)
    warnings = []
    if differences:
        warnings.append(
            f'the runs were not measured alike ({"; ".join(differences)}): deltas mix the models with the protocol'
        )
    # a run rescored without its run_config.json: nothing to compare, which must not read as "measured alike"
    unknown = [run['label'] for run in (base, new) if not run.get('config')]
    if unknown:
        warnings.append(
            f'the protocol of {" and ".join(unknown)} is unknown (scored from predictions without their '
            f'{RUN_CONFIG_NAME}): deltas may mix the models with the protocol'
        )
    protocol_warning = '; '.join(warnings) or None
    if protocol_warning:
        logger.warning('%s', protocol_warning)
    labels = [base['label'], new['label']]
    if labels[0] == labels[1]:  # two runs of one model (16 and 32 frames, say): the table must tell them apart
        labels = [f'{labels[0]} (base)', f'{labels[1]} (new)']
    return {
        'base': labels[0],
        'new': labels[1],
        'rows': rows,
        'same_questions': all(r['base_count'] == r['new_count'] for r in rows),
        'subset_warning': '; '.join(subsets) or None,
        'protocol_warning': protocol_warning,
    }


def frame_size_difference(base: dict | None, new: dict | None) -> str | None:
    """Where two runs gave the same scenes' frames at other sizes (other images, other visual tokens), over the scenes
    both ran; None where they agree or a run does not record sizes."""
    if not base or not new:
        return None
    pairs = _same_scenes(base, new)
    differ = [(a, b) for a, b in pairs if base[a] != new[b]]
    if not differ:
        return None
    a, b = differ[0]
    return (
        f'frames of another size in {len(differ)} of the {len(pairs)} scenes both ran (e.g. {a}: '
        f'{base[a]:,} px vs {new[b]:,} px)'
    )


def _same_scenes(base: dict, new: dict) -> list[tuple[str, str]]:
    """The `dataset/scene_name` keys of two runs that name one scene, sorted: the same key, or where a run's rows do not
    say their dataset (swift rows from preprocess_vsi_data.py: `/scene_name`) the one key of the other run with that
    scene name."""
    by_name = defaultdict(list)
    for key in new:
        by_name[key.partition('/')[2]].append(key)
    pairs = []
    for key in sorted(base):
        dataset, _, name = key.partition('/')
        if key in new:
            pairs.append((key, key))
            continue
        others = [other for other in by_name[name] if not dataset or not other.partition('/')[0]]
        if len(others) == 1:
            pairs.append((key, others[0]))
    return pairs


def frame_sizes(results: dict) -> str | None:
    """The sizes of the frames a run gave, from the smallest to the largest (`19,200 px`, `4,800 to 19,200 px`); None
    where its results do not say (blind, or predictions of before 2026-11-28)."""
    least, most = results.get('frame_pixels_min'), results.get('frame_pixels_max')
    if least is None or most is None:
        return None
    return f'{least:,} px' if least == most else f'{least:,} to {most:,} px'


def protocol_differences(base: dict | None, new: dict | None) -> list[str]:
    """`field: base value vs new value` for each COMPARED_PROTOCOL_FIELDS field two runs' configs give differently
    (a config without the field, from an older version, is not compared on it); none where a run has no config."""
    if not base or not new:
        return []
    base, new = _compared_protocol(base), _compared_protocol(new)
    return [f'{name} {value!r} vs {new[name]!r}' for name, value in base.items() if name in new and value != new[name]]


def _compared_protocol(config: dict) -> dict:
    """A run config's COMPARED_PROTOCOL_FIELDS as far as they are known, in that order: the pixel budget worked out
    from image_env where the config predates its field, frames_max_pixels only where the run extracted its frames
    (with --frames_dir their size is not recorded)."""
    config = dict(config)
    if 'qwen3_vl_image_max_pixels' not in config and isinstance(config.get('image_env'), dict):
        budget = None if config.get('blind') else qwen3_vl_image_max_pixels(config['image_env'])
        config['qwen3_vl_image_max_pixels'] = budget
    if not config.get('video_dir'):
        config.pop('frames_max_pixels', None)
    return {name: config[name] for name in COMPARED_PROTOCOL_FIELDS if name in config}


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return '-'
    return f'{value:+.2f}' if signed else f'{value:.2f}'


def results_table(results: dict) -> str:
    """Markdown table: official and lenient score per category (relative-direction levels and training variants
    indented under their category), overall first."""
    official, lenient = results['official'], results['lenient']
    lines = [
        '| Category | Questions | Official | Lenient |',
        '|---|---:|---:|---:|',
        f'| **Overall** | {official["num_questions"]} | **{_number(official["overall"])}** | '
        f'{_number(lenient["overall"])} |',
    ]
    for name in paper_order(official['categories']):
        cat = official['categories'][name]
        lines.append(
            f'| {paper_name(name)} | {cat["count"]} | {_number(cat["score"])} | '
            f'{_number(lenient["categories"][name]["score"])} |'
        )
        # levels in difficulty order (easy, medium, hard), then any training variants
        members = sorted(
            (qt for qt in official['per_type'] if name in (category_of(qt), base_question_type(qt)) and qt != name),
            key=lambda qt: (REL_DIRECTION_LEVELS + (qt,)).index(qt),
        )
        for qt in members:
            per_type = official['per_type'][qt]
            lines.append(
                f'| &nbsp;&nbsp;{qt} | {per_type["count"]} | {_number(per_type["score"])} | '
                f'{_number(lenient["per_type"][qt]["score"])} |'
            )
    return '\n'.join(lines)


def _cell(text: str) -> str:
    """`text` as one markdown table cell: a `|` in a label split the header into more cells than the table has."""
    return ' '.join(str(text).split()).replace('|', '\\|')


def comparison_table(comparison: dict) -> str:
    lines = [f'| Category | {_cell(comparison["base"])} | {_cell(comparison["new"])} | Δ |', '|---|---:|---:|---:|']
    for row in comparison['rows']:
        counts = (
            f' ({row["base_count"]})'
            if row['base_count'] == row['new_count']
            else f' ({row["base_count"]} vs {row["new_count"]})'
        )
        name = f'**{row["category"]}**' if row['category'] == 'overall' else paper_name(row['category'])
        lines.append(
            f'| {name}{counts} | {_number(row["base"])} | {_number(row["new"])} | '
            f'{_number(row["delta"], signed=True)} |'
        )
    if not comparison['same_questions']:
        lines.append('\nThe runs cover different questions (counts in brackets): deltas mix model and question set.')
    return '\n'.join(lines)


def results_markdown(results: dict) -> str:
    parts = [f'# VSI-Bench: {results["label"]}', '']
    for warning in (results.get('subset_warning'), results.get('completeness_warning')):
        if warning:
            parts += [f'**{warning}**', '']
    config = results.get('config')
    if config:
        adapters = ', '.join(config['adapters']) or 'none'
        if config['blind']:
            frames = 'no frames (blind)'
        elif config['num_frames'] is None:
            frames = "the dataset rows' own frames"
        else:
            frames = f'{config["num_frames"]} frames'
        budget, sizes = config.get('qwen3_vl_image_max_pixels'), frame_sizes(results)
        if sizes:
            frames += f' of {sizes}' + (f' (Qwen3-VL sees at most {budget:,} px of each)' if budget else '')
        elif budget:
            frames += f' of at most {budget:,} px (as Qwen3-VL counts them)'
        parts += [
            f'Model `{config["model"]}`, adapter `{adapters}`; {frames}, prompt `{config["prompt_style"]}`, '
            f'greedy, {_counted(config["max_new_tokens"], "new token")}, backend {config["infer_backend"]}'
            + (", the template's thinking prefix (enable_thinking)" if config.get('enable_thinking') else '')
            + '.',
            '',
        ]
    parts += [
        results_table(results),
        '',
        f'Official: the VSI-Bench metric on {results["official_rule"]}; exact option letter, or Mean Relative '
        'Accuracy for numbers, in percent (0-100) as published; overall is the unweighted mean of the category '
        "scores (listed in the order of the VSI-Bench paper's Table 1), the three "
        "relative-direction levels averaged into one category. Lenient: the training reward's reading of the "
        'same answers (`(B)`, `3.5 m`, `<answer>` blocks ...) with the same metric; the gap is what answer '
        'formatting costs.',
    ]
    differences = results.get('official_protocol_differences')
    if differences:
        parts.append(
            f'\nProtocol: differs from the official VSI-Bench evaluation in {"; ".join(differences)}. Published scores '
            'were not measured this way: compare this score with runs of the same settings.'
        )
    elif differences == []:
        parts.append(
            f'\nProtocol: the official VSI-Bench evaluation ({OFFICIAL_PROTOCOL["prompt_style"]} prompt, greedy, '
            f'{OFFICIAL_PROTOCOL["max_new_tokens"]} new tokens, {OFFICIAL_PROTOCOL["num_frames"]} frames, all '
            f'{VSI_BENCH_QUESTIONS:,} questions), as published scores; re-run the base model here to compare.'
        )
    elif differences is None:  # rescored predictions: silence would read as no difference
        parts.append(
            f'\nProtocol: unknown (no {RUN_CONFIG_NAME} beside the predictions says how they were made: frames, '
            'prompt, token limit); do not set this score beside published VSI-Bench scores, only beside runs known to '
            'be made the same way.'
        )
    if differences is None and results['prompt_style'] != OFFICIAL_PROTOCOL['prompt_style']:  # no config to say more
        parts.append(
            f'\nNote: prompt style `{results["prompt_style"]}`; published VSI-Bench scores use the direct prompt, '
            'so compare this score only with runs of the same style.'
        )
    parts += [f'\nNote: {warning}' for warning in results['official']['warnings']]
    if results.get('comparison'):
        parts += [
            '',
            f'## Compared with {results["comparison"]["base"]} (official scores)',
            '',
            comparison_section(results['comparison']),
        ]
    return '\n'.join(parts) + '\n'


def comparison_section(comparison: dict) -> str:
    """The comparison table, under the subset warning of either run and the protocol warning."""
    warnings = [comparison.get('subset_warning'), comparison.get('protocol_warning')]
    return ''.join(f'**{warning}**\n\n' for warning in warnings if warning) + comparison_table(comparison)


def comparison_markdown(comparison: dict) -> str:
    return (
        f'# VSI-Bench: {comparison["new"]} vs {comparison["base"]} (official scores)\n\n'
        + comparison_section(comparison)
        + '\n'
    )


def plot_results(results: dict | None = None, comparison: dict | None = None) -> bytes:
    """Per-category bars as PNG bytes: official and lenient for one run, or two runs' official scores with their
    deltas."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    if comparison is not None:
        rows = [r for r in comparison['rows'] if r['category'] != 'overall (lenient)']
        names = [paper_name(r['category']) for r in rows]
        series = [
            # no bar (NaN) where a run lacks the category: a 0 bar read as a score of 0
            (comparison['base'], [math.nan if r['base'] is None else r['base'] for r in rows]),
            (comparison['new'], [math.nan if r['new'] is None else r['new'] for r in rows]),
        ]
        deltas = [r['delta'] for r in rows]
        title = f'VSI-Bench: {comparison["new"]} vs {comparison["base"]} (official)'
    else:
        order = paper_order(results['official']['categories'])
        names = ['overall'] + [paper_name(name) for name in order]
        series = [
            (kind, [results[kind]['overall']] + [results[kind]['categories'][name]['score'] for name in order])
            for kind in ('official', 'lenient')
        ]
        deltas = None
        title = f'VSI-Bench: {results["label"]}'
    x = np.arange(len(names))
    width = 0.38
    figure, axes = plt.subplots(figsize=(max(8.0, 1.0 * len(names)), 4.5))
    for offset, (label, values) in zip((-width / 2, width / 2), series, strict=True):
        axes.bar(x + offset, values, width, label=label)
    if deltas is not None:
        for position, delta, high in zip(x, deltas, np.maximum(series[0][1], series[1][1]), strict=True):
            if delta is not None:
                axes.annotate(
                    f'{delta:+.1f}',
                    (position, high),
                    ha='center',
                    va='bottom',
                    fontsize=8,
                    xytext=(0, 2),
                    textcoords='offset points',
                )
    axes.set_xticks(x, names, fontsize=8, rotation=30, ha='right')
    axes.set_ylabel('score (%)')
    axes.set_ylim(0, 105)
    axes.set_title(title)
    axes.legend(fontsize=8)
    axes.grid(axis='y', alpha=0.3)
    png = io.BytesIO()
    try:
        figure.savefig(png, format='png', dpi=120, bbox_inches='tight')
    finally:
        plt.close(figure)
    return png.getvalue()


def write_report(
    output_dir: Path,
    name: str,
    report: dict,
    markdown: str,
    *,
    kept: str = REPORTS_UNCHANGED,
    rerun: str = '',
    **plot: dict | None,
) -> None:
    """`<name>.json`, `<name>.md` and `<name>.png` (plot_results with `plot`), each written atomically.

    The three go into place together (atomic_paths, the json last), once drawn, written and on disk: a report that
    fails to render or to write (a full disk) leaves the previous three as they were, never a new json and md beside
    an old png (or none). `kept` and `rerun`: what the error says of that (cannot_write)."""
    contents = {'png': plot_results(**plot), 'md': markdown.encode(), 'json': json_text(report).encode()}
    try:
        with atomic_paths(*(output_dir / f'{name}.{suffix}' for suffix in contents)) as temps:
            for tmp, data in zip(temps, contents.values(), strict=True):
                Path(tmp).write_bytes(data)
    except OSError as e:
        raise cannot_write(f'{output_dir / name}.{{json,md,png}}', e, kept, rerun) from e


def write_results(output_dir: Path, results: dict, kept: str = REPORTS_UNCHANGED, rerun: str = '') -> None:
    """results.json, .md and .png of one run (with its comparison, if any); results_subset.* for a subset, so that
    a quick look never replaces the full-benchmark report. `kept`, `rerun`: write_report's."""
    name = SUBSET_RESULTS_NAME if results['subset'] else RESULTS_NAME
    logger.info('writing %s.{json,md,png}', output_dir / name)
    write_report(
        output_dir,
        name,
        results,
        results_markdown(results),
        results=results,
        comparison=results.get('comparison'),
        kept=kept,
        rerun=rerun,
    )
    if not results['subset']:
        remove_superseded_subset(output_dir, results['predictions'])
    remove_stale_comparison(output_dir, output_dir / f'{name}.json')


def remove_stale_comparison(output_dir: Path, rewritten: Path) -> None:
    """Remove the comparison.* in `output_dir` made from this folder's results as they were: `rewritten`, whose figures
    just changed, or a results file of the folder that is gone (the results_subset.* a finished run supersedes).

    `--compare A B` writes its report into B's folder; rescoring or resuming B then rewrote results.* and left the
    comparison showing B's old scores with nothing to tell it was stale. A comparison records the results files it
    read (`sources`); one from before it did is left alone, and so is one in another folder (rescoring A leaves the
    comparison in B's: rerun --compare)."""
    path = output_dir / f'{COMPARISON_NAME}.json'
    try:
        sources = json.loads(path.read_text(encoding='utf-8'))['sources']
        read = [Path(os.path.realpath(source)) for source in sources.values()]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # none, or one this cannot tell: left alone
        return
    folder = Path(os.path.realpath(output_dir))
    if any(
        source == Path(os.path.realpath(rewritten)) or (source.parent == folder and not source.exists())
        for source in read
    ):
        logger.info('removing %s.{json,md,png}: made from results that changed since', output_dir / COMPARISON_NAME)
        remove_report(output_dir, COMPARISON_NAME)


def remove_report(output_dir: Path, name: str) -> None:
    """Remove `<name>.{md,png,json}`, the json last: a run stopped in between leaves the json, which says what the
    report was, so the next run finds it and removes the rest."""
    for suffix in ('md', 'png', 'json'):
        (output_dir / f'{name}.{suffix}').unlink(missing_ok=True)


def remove_superseded_subset(output_dir: Path, predictions: str | None) -> None:
    """Remove the results_subset.* of a run stopped early once its predictions file is reported whole.

    Rescoring a stopped run writes `subset: 30 of 75 questions (the predictions file holds no others)`; after the
    run is resumed and finished that line is false, while the file still names the same predictions. A subset chosen
    by --limit or --question_types stays: it still says what it scored."""
    path = output_dir / f'{SUBSET_RESULTS_NAME}.json'
    try:
        old = json.loads(path.read_text(encoding='utf-8'))
        selection, scored = old['selection'], old['predictions']
    except (OSError, ValueError, TypeError, KeyError):  # none, or not a report this can read: left alone
        return
    if not isinstance(selection, dict) or not isinstance(scored, str) or not predictions:
        return
    chosen = selection.get('limit') is not None or selection.get('question_types') is not None
    if chosen or os.path.realpath(scored) != os.path.realpath(predictions):
        return
    remove_report(output_dir, SUBSET_RESULTS_NAME)
    logger.info(
        'removed %s.{json,md,png}: a report of %s before it was complete', output_dir / SUBSET_RESULTS_NAME, predictions
    )


# ----------------------------------------------------------------------------------------------------------
# The three modes
# ----------------------------------------------------------------------------------------------------------


def evaluate(args: argparse.Namespace, engine: Engine | None = None) -> dict:
    """Predict what is not predicted yet in `args.output_dir`, then score. `engine` replaces the one built from
    `args` (tests); it is only built when something is left to predict. Returns the results."""
    # Before anything loads: a local --model that is not there went to the model hub (~30 s of retries, then a
    # connection error), and the dataset reader's own message names no flag.
    problem = model_folder_problem(args.model)  # None for a hub id (owner/name), which swift looks up
    if problem:
        raise EvalError(
            f'--model {args.model} {problem}{cwd_note(args.model)}; give the local model folder, or a hub id such as '
            'Qwen/Qwen3-VL-8B-Instruct'
        )
    check_input_file(args.dataset, '--dataset')
    backend = resolve_backend(args.infer_backend)
    if backend == 'vllm' and args.adapters and args.torch_dtype == 'float32':  # --infer_backend auto chose vLLM
        raise EvalError(VLLM_LORA_FLOAT32_ERROR)
    args.batch_size = args.batch_size or DEFAULT_BATCH_SIZE[backend]
    max_new_tokens = args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS[args.prompt_style]
    output_dir = Path(args.output_dir)
    adapters = [_local_or_hub(a, resolve_link=True) for a in args.adapters or []]
    for adapter in adapters:
        if not os.path.exists(adapter):
            raise EvalError(f'--adapters {adapter} does not exist{cwd_note(adapter)}')
        problem = adapter_problem(adapter, backend)
        if problem:
            raise EvalError(problem)
        mismatch = training_mismatch(adapter, args.prompt_style, args.enable_thinking)
        if mismatch:
            logger.warning(mismatch)
    args.adapters = adapters  # the engine loads what run_config.json records, wherever a link points by then
    # read before inference, so that a mistyped --compare fails at once rather than after the whole run
    compared = load_results(args.compare[0]) if args.compare else None

    extract = extracts_frames(args)  # frames_root is then a cache to fill
    if args.frames_dir:
        if args.video_dir:
            logger.info('using the frames in --frames_dir %s; --video_dir is not read', args.frames_dir)
        frames_root = args.frames_dir
    elif extract:
        frames_root = args.frames_cache or str(output_dir / 'frames')
        recorded = None if args.overwrite or not args.frames_cache else _read_run_config(output_dir / RUN_CONFIG_NAME)
        # a shared cache keeps each extraction setting apart: another evaluation with other settings, running at the
        # same time, would otherwise extract its frames over the ones this run reads. A run of the earlier version,
        # which extracted into the cache itself, goes on there.
        if args.frames_cache and (recorded or {}).get('frames') != os.path.abspath(args.frames_cache):
            frames_root = os.path.join(args.frames_cache, cache_folder(args.num_frames, args.frames_max_pixels))
    else:
        frames_root = None
    problem = frames_dir_problem(args.frames_dir) if args.frames_dir else None
    if problem:
        raise EvalError(problem)
    all_questions, row_images = load_questions(
        args.dataset, frames_from_rows=frames_root is None and not args.blind, prompt_style=args.prompt_style
    )
    questions = select_questions(all_questions, args.question_types, args.limit)

    image_env = {name: os.environ[name] for name in IMAGE_ENV if name in os.environ}
    config = RunConfig(
        model=_local_or_hub(args.model),
        adapters=adapters,
        dataset=os.path.abspath(args.dataset),
        dataset_sha256=file_sha256(args.dataset),
        dataset_questions=len(all_questions),
        prompt_style=args.prompt_style,
        num_frames=args.num_frames if frames_root and not args.blind else None,
        max_new_tokens=max_new_tokens,
        blind=args.blind,
        image_env=image_env,
        qwen3_vl_image_max_pixels=None if args.blind else qwen3_vl_image_max_pixels(image_env),
        infer_backend=backend,
        frames=None if args.blind else recorded_frames(frames_root, output_dir),
        video_dir=os.path.abspath(args.video_dir) if extract else None,
        frames_max_pixels=args.frames_max_pixels if extract else None,
        allow_fewer_frames=bool(args.allow_fewer_frames and frames_root and not args.blind),
        torch_dtype=args.torch_dtype,
        enable_thinking=args.enable_thinking,
        label=args.label or default_label(args.model, args.adapters or [], args.blind),
        limit=args.limit,
        question_types=args.question_types,
    )
    with run_folder_lock(output_dir):  # before anything is written there
        earlier = check_run_folder(output_dir, config, args.overwrite)
        if not args.blind and not (image_env.get('MAX_PIXELS') or image_env.get('IMAGE_MAX_TOKEN_NUM')):
            trained = training_max_pixels()
            logger.warning(
                'MAX_PIXELS is not set, so every frame keeps up to %d visual tokens (qwen-vl-utils default; %s px for '
                'Qwen3-VL), unlike training; scores of runs with different budgets are not comparable: set %s for the '
                'base model and the adapter alike',
                QWEN_VL_UTILS_MAX_TOKENS,
                f'{config.qwen3_vl_image_max_pixels:,}',
                f'MAX_PIXELS={trained} (the ENV block of {DEFAULT_CONFIG})'
                if trained
                else 'the MAX_PIXELS training used',
            )
        predictions_path = output_dir / PREDICTIONS_NAME
        done = read_predictions(predictions_path, repair=True)
        pending = [q for q in questions if q.id not in done]
        strays = len(done.keys() - {q.id for q in all_questions})
        if strays and pending:  # the same rows under another file name: every question would be predicted again
            earlier_dataset = (earlier or {}).get('dataset')
            renamed = f' ({earlier_dataset} then)' if earlier_dataset not in (None, config.dataset) else ''
            raise EvalError(
                f'{strays} prediction(s) in {predictions_path} match no question of {args.dataset}{renamed}, whose '
                'contents are those the run read: rows without an id are named by their file, `<file name without '
                'extension>:<index>`, so under another name each would be predicted again. Give the file the name it '
                'had, or pass --overwrite to predict it all again'
            )
        if strays:
            logger.warning(
                '%d prediction(s) in %s match no question of the dataset (rows without an id are named by the file, '
                '`<file name without extension>:<index>`: was it renamed?); they are not scored',
                strays,
                predictions_path,
            )
        logger.info(
            '%d question(s) selected: %d already predicted, %d to go',
            len(questions),
            len(questions) - len(pending),
            len(pending),
        )

        if pending:

            def pending_items() -> list[EvalItem]:
                items = build_items(
                    pending,
                    args.prompt_style,
                    frames_root,
                    args.num_frames,
                    blind=args.blind,
                    row_images=row_images,
                    dataset=args.dataset,
                    allow_fewer_frames=args.allow_fewer_frames,
                )
                problem = resized_frames_problem(done, items) if frames_root else None
                if problem:
                    raise EvalError(f'{problem}; restore them, or pass --overwrite to predict every question again')
                return items

            # frames already there are checked before swift is imported (seconds to minutes): a folder of videos given
            # as --frames_dir, or missing frames, fail at once, and so does a frames folder that cannot be written
            items = None if extract else pending_items()
            if extract:
                check_frames_folder(frames_root, '--frames_cache' if args.frames_cache else '--output_dir', bool(done))
            if engine is None:  # a model swift cannot type fails here, not after the frames are extracted
                args.model_type, model_dtype = resolve_model(args.model, args.model_type)
            if extract:
                prepare_frames_cache(
                    pending, args.video_dir, frames_root, args.num_frames, args.frames_max_pixels, not args.no_progress
                )
                items = pending_items()
            if engine is None:
                engine = make_engine(args, backend, max(len(item.images) for item in items), model_dtype)
            run_inference(
                engine,
                items,
                predictions_path,
                max_new_tokens,
                args.batch_size,
                args.prompt_style,
                args.enable_thinking,
                not args.no_progress,
            )
            done = read_predictions(predictions_path)

        rows = [done[q.id] for q in questions]
        selection = {
            'limit': args.limit,
            'question_types': args.question_types,
            'questions_in_dataset': len(all_questions),
        }
        results = build_results(
            rows, config.label, args.prompt_style, asdict(config), str(predictions_path.resolve()), selection
        )
        if compared is not None:
            results['comparison'] = compare_results(compared, results)
        rerun = f' {NOT_OVERWRITTEN}: nothing is predicted again'
        write_results(output_dir, results, kept='the predictions are kept', rerun=rerun)
        return results


def _read_run_config(path: Path) -> dict | None:
    """The run_config.json of an evaluation folder, or None when there is none (or it is not ours).

    Only the fields a report shows are required, so folders made before later fields were added still rescore. Those
    and the optional ones read are checked (check_fields): a hand-edited `"blind": "no"` read as true, and a null
    token limit failed with a traceback while the report was written."""
    config = _json_object(path)
    if not all(name in config for name in REPORTED_CONFIG_FIELDS):
        return None
    check_fields(path, config, {**REPORTED_CONFIG_FIELDS, **OPTIONAL_CONFIG_FIELDS})
    if config['prompt_style'] not in PROMPT_STYLES:
        raise EvalError(f'{path}: prompt_style is {json.dumps(config["prompt_style"])}, not one of {PROMPT_STYLES}')
    return config


def predictions_prompt_style(path: Path, rows: Sequence[dict], config: dict | None, requested: str | None) -> str:
    """The prompt style predictions were made with, which decides the official rule (vsi_scoring.official_score).

    Sources: the rows' `prompt_style` (the evaluator writes it), the run_config.json next to the file, and
    `--prompt_style` for files that record none. They must agree; with none of them the official direct protocol
    is assumed.
    """
    sources = {}
    row_style = next((row['prompt_style'] for row in rows if row.get('prompt_style') is not None), None)
    if row_style is not None:
        sources['the prediction rows'] = row_style
    if config is not None:
        sources[str(path.parent / RUN_CONFIG_NAME)] = config['prompt_style']
    if requested is not None:
        sources['--prompt_style'] = requested
    if len(set(sources.values())) > 1:
        found = ', '.join(f'{style!r} in {source}' for source, style in sources.items())
        raise EvalError(f'{path}: conflicting prompt styles ({found}); the official rule depends on it')
    if not sources:
        blocks = sum(isinstance(row['prediction'], str) and '<answer>' in row['prediction'] for row in rows)
        if blocks:
            logger.warning(
                '%s records no prompt style, so the official direct rule scores it, yet %d prediction(s) hold an '
                '<answer> block: pass --prompt_style think if they answer the think prompt',
                path,
                blocks,
            )
    return next(iter(sources.values()), 'direct')


def recorded_dataset_ids(config: dict | None) -> set[str] | None:
    """The question ids of a run's dataset, when its run_config.json names a file that still has the recorded hash;
    None where that cannot be read (moved, changed, or no config)."""
    try:
        if config and config.get('dataset') and file_sha256(config['dataset']) == config.get('dataset_sha256'):
            return {q.id for q in load_questions(config['dataset'])[0]}
    except (OSError, EvalError):
        pass
    return None


def recorded_selection(config: dict | None, rows: Sequence[dict]) -> dict:
    """The --limit and --question_types of the command that wrote a run folder, as its run_config.json records them,
    where they account for the predictions (none outside the types, no more than the limit): its subset report then
    says they chose it, and a later full run in the folder keeps it (remove_superseded_subset). {} otherwise, e.g. for
    a folder that a full run went on to fill after a --question_types run."""
    limit, types = (config or {}).get('limit'), (config or {}).get('question_types')
    if limit is None and not types:
        return {}
    if limit is not None and len(rows) > limit:
        return {}
    try:
        wanted = check_type_selection(types) if types else None
    except ValueError:  # a run_config.json edited by hand: nothing to go by
        return {}
    if wanted and not all(type_selected(row['question_type'], wanted) for row in rows):
        return {}
    return {'limit': limit, 'question_types': types}


def recorded_dataset_size(config: dict | None, ids: set[str] | None = None) -> int | None:
    """How many questions a run's dataset holds: recorded in its run_config.json, or, for a folder made before that
    was recorded, counted in the dataset file (`ids`, from recorded_dataset_ids). None where unknown."""
    if config is None:
        return None
    if isinstance(config.get('dataset_questions'), int):
        return config['dataset_questions']
    if ids is not None:
        return len(ids)
    logger.warning('the dataset of this run cannot be read, so whether its predictions cover all of it is unknown')
    return None


def check_rescoring_folder(output_dir: Path, path: Path) -> None:
    """Refuse to write the scores of `path` into a folder holding another run: its results.* would then be those of
    `path` beside its own predictions.jsonl and run_config.json; or the rescored scores of another predictions file,
    which would be lost (the same file moved or copied since is known by its SHA-256). Rescoring has no
    --overwrite to discard that run, and check_run_folder's comparison of protocols does not apply (any other file is
    another run's, whatever made it)."""
    held = output_dir / PREDICTIONS_NAME
    if held.exists():
        other = not held.samefile(path)
    else:  # a folder of rescored scores: its reports name the predictions file they scored
        held, sha256 = _scored_predictions(output_dir)
        other = held is not None and os.path.realpath(held) != os.path.realpath(path)
        if other and sha256 is not None:  # moved or copied since, with the folder: the same contents
            other = sha256 != file_sha256(path)
        elif other and not os.path.exists(held):  # an earlier version's report (no hash), moved: the same file by its
            # name, unless that name is every run folder's
            other = Path(held).name == PREDICTIONS_NAME or Path(held).name != path.name
    if other:
        raise EvalError(
            f'{output_dir} holds another run ({held}), whose results would be replaced by the scores of {path}; pass '
            '--output_dir with a folder of their own (a new one) for them'
        )


def _scored_predictions(output_dir: Path) -> tuple[str | None, str | None]:
    """The predictions file the results.* (else results_subset.*) in `output_dir` scored and the SHA-256 of what it
    held, as they record them (None for reports of earlier versions); (None, None) where neither names one."""
    for name in (RESULTS_NAME, SUBSET_RESULTS_NAME):
        try:
            report = json.loads((output_dir / f'{name}.json').read_text(encoding='utf-8'))
            scored, sha256 = report['predictions'], report.get('predictions_sha256')
        except (OSError, ValueError, TypeError, KeyError):  # none, or not a report this can read
            continue
        if isinstance(scored, str):
            return scored, sha256 if isinstance(sha256, str) else None
    return None, None


def score_only(args: argparse.Namespace) -> dict:
    """Score an existing predictions file (a run folder's predictions.jsonl: its run_config.json names the run and its
    dataset)."""
    path = Path(args.predictions).resolve()  # resolved, so that a bare file name has a folder to name the run by
    if path.is_dir():  # a run folder stands for its predictions
        path = path / PREDICTIONS_NAME
        if not path.is_file():
            raise EvalError(f'--predictions {args.predictions} is a folder without {PREDICTIONS_NAME}')
    if not path.is_file():
        raise EvalError(f'--predictions {args.predictions} does not exist')
    if path.name in (*REPORT_FILES, RUN_CONFIG_NAME):  # beside predictions.jsonl in every run folder: easily mixed up
        beside = path.parent / PREDICTIONS_NAME
        raise EvalError(
            f'--predictions {args.predictions} is a file this script writes about a run, not its predictions: pass '
            + (
                f'{beside}, or the run folder {path.parent}'
                if beside.is_file()
                else f'the {PREDICTIONS_NAME} it was made from'
            )
        )
    output_dir = Path(args.output_dir) if args.output_dir else path.parent
    with run_folder_lock(output_dir):
        check_rescoring_folder(output_dir, path)
        predicted = read_predictions(path)
        rows = list(predicted.values())
        # a run folder's run_config.json describes its predictions.jsonl alone: another file beside it (a copy of
        # another run's predictions, say) would be reported as that run, under its label, model and adapter
        own_run = path.name == PREDICTIONS_NAME
        config = _read_run_config(path.parent / RUN_CONFIG_NAME) if own_run else None
        if not own_run and (path.parent / RUN_CONFIG_NAME).exists():
            logger.warning(
                '%s is not %s, so the %s beside it (which describes that file) is not read: its protocol is unknown',
                path,
                PREDICTIONS_NAME,
                RUN_CONFIG_NAME,
            )
        prompt_style = predictions_prompt_style(path, rows, config, args.prompt_style)
        # the folder names a loose file, unless it is another run's folder, whose name would pass this file for it
        other_run = not own_run and (path.parent / PREDICTIONS_NAME).exists()
        label = args.label or (config or {}).get('label') or (path.stem if other_run else path.parent.name)
        ids = recorded_dataset_ids(config)
        total = recorded_dataset_size(config, ids)
        if total is not None and len(rows) > total:
            raise EvalError(
                f'{path} holds predictions for {len(rows)} questions, but the dataset its {RUN_CONFIG_NAME} records '
                f'has {total}: {MIXED_RUNS}'
            )
        # fewer rows than questions can mix runs too (a renamed dataset without ids), which the evaluation leaves out
        strays = sorted(predicted.keys() - ids) if ids is not None else []
        if strays:
            raise EvalError(
                f'{path} holds predictions for {len(strays)} question(s) that the dataset its {RUN_CONFIG_NAME} '
                f'records does not have (e.g. id {strays[0]!r}; rows without an id are named '
                f'`<file name without extension>:<index>`: was it renamed?): {MIXED_RUNS}'
            )
        selection = {'questions_in_dataset': total, **recorded_selection(config, rows)}
        results = build_results(rows, label, prompt_style, config, str(path), selection)
        if args.compare:
            results['comparison'] = compare_results(load_results(args.compare[0]), results)
        write_results(output_dir, results)
    return results


def compare_output_dir(args: argparse.Namespace) -> Path:
    """--output_dir, else the folder of the second results file (the run being judged)."""
    return Path(args.output_dir) if args.output_dir else results_path(args.compare[1]).parent


def compare_only(args: argparse.Namespace) -> dict:
    """Compare two results.json files (the second against the first) without a model."""
    for path in args.compare:  # a file that is no results file is refused before anything is written
        load_results(path, warn=False)  # its warnings are logged once, by the reading under the lock
    output_dir = compare_output_dir(args)
    with run_folder_lock(output_dir):
        # read (again) under the lock of the folder it goes to, the second run's by default: a rescoring or a resumed
        # run there that rewrote its results in between found no comparison to remove (remove_stale_comparison), and
        # this one showed the old scores
        comparison = compare_results(load_results(args.compare[0]), load_results(args.compare[1]))
        # the files it read, so that rescoring the run in the folder it goes to removes it
        base, new = (str(results_path(path).resolve()) for path in args.compare)
        comparison['sources'] = {'base': base, 'new': new}
        write_report(output_dir, COMPARISON_NAME, comparison, comparison_markdown(comparison), comparison=comparison)
    return comparison


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    model = parser.add_argument_group('model')
    model.add_argument(
        '--model', type=os.path.expanduser, help='Base model: a hub id (Qwen/Qwen3-VL-8B-Instruct) or a local folder.'
    )
    model.add_argument(
        '--adapters',
        type=os.path.expanduser,
        nargs='+',
        default=[],
        metavar='CHECKPOINT',
        help="One LoRA checkpoint folder to apply (swift's vLLM engine serves one at a time), e.g. "
        'output/vsi_grpo/v0-.../checkpoint-500.',
    )
    model.add_argument(
        '--model_type',
        default=None,
        help='swift model type; needed for local folders swift cannot recognise (qwen3_vl).',
    )
    model.add_argument(
        '--torch_dtype',
        choices=('bfloat16', 'float16', 'float32'),
        default=None,
        help="Weights' dtype (default: the model's own).",
    )
    model.add_argument(
        '--infer_backend',
        choices=INFER_BACKENDS,
        default='auto',
        help='vllm (GPU), pt = transformers, or auto: vllm when installed with a GPU visible, else pt.',
    )
    model.add_argument(
        '--batch_size',
        type=int,
        default=None,
        help='Questions per engine call, also how often predictions are saved (default: pt 1, vllm 64).',
    )
    model.add_argument(
        '--max_model_len',
        type=int,
        default=None,
        help="vLLM context length (default: the model's; lower it if vLLM cannot fit the KV cache).",
    )
    model.add_argument(
        '--gpu_memory_utilization', type=float, default=0.9, help='vLLM GPU memory fraction (default 0.9).'
    )
    model.add_argument('--tensor_parallel_size', type=int, default=1, help='vLLM tensor parallel GPUs (default 1).')

    data = parser.add_argument_group('questions and frames')
    data.add_argument(
        '--dataset',
        type=os.path.expanduser,
        help='Questions: VSI-Bench rows (JSON, JSONL, parquet) or swift rows (preprocess_vsi_data.py).',
    )
    data.add_argument(
        '--frames_dir',
        type=os.path.expanduser,
        default=None,
        help='Frames extracted by extract_frames.py (<dataset>/<scene_name>/frame_0000.jpg ..., or '
        '<scene_name>/frame_0000.jpg ... as --video_list writes them).',
    )
    data.add_argument(
        '--video_dir',
        type=os.path.expanduser,
        default=None,
        help='Videos as <dataset>/<scene_name>.mp4; their frames are extracted once into --frames_cache.',
    )
    data.add_argument(
        '--frames_cache',
        type=os.path.expanduser,
        default=None,
        help='Where frames from --video_dir are extracted and reused, shared by evaluations: each --num_frames and '
        '--frames_max_pixels gets its own folder in it, e.g. 32f or 32f_262144px (default: none; frames go to '
        '<output_dir>/frames).',
    )
    data.add_argument(
        '--frames_max_pixels',
        type=int,
        default=None,
        help='Downscale extracted frames to at most this many pixels (extract_frames.py --max_pixels); '
        'use the setting your training frames were made with.',
    )
    data.add_argument(
        '--num_frames',
        type=int,
        default=OFFICIAL_PROTOCOL['num_frames'],
        help='Frames per question (default %(default)s, the official protocol).',
    )
    data.add_argument(
        '--allow_fewer_frames',
        action='store_true',
        help='Use all frames of a scene that has fewer than --num_frames instead of failing.',
    )
    data.add_argument(
        '--question_types',
        nargs='+',
        default=None,
        help='Only these question types or categories (object_rel_direction keeps all three levels). Fewer '
        'questions than the dataset holds are a subset: reported in results_subset.{json,md,png}, flagged as not '
        'comparable to published numbers; results.* (the whole dataset) is never replaced by one.',
    )
    data.add_argument(
        '--limit',
        type=int,
        default=None,
        help='Evaluate this many questions, taken round-robin over question types (a quick look); reported as a '
        'subset, like --question_types.',
    )

    protocol = parser.add_argument_group('protocol')
    protocol.add_argument(
        '--prompt_style',
        choices=PROMPT_STYLES,
        default=None,
        help='direct (default): the official prompt word for word, scored by the official rule; think: reason in '
        '<think>, answer in <answer> (for models trained that way), scored by the official rule applied to the last '
        '<answer> block after </think>, which must be closed (else 0). With --predictions: the style of files that '
        'record none.',
    )
    protocol.add_argument(
        '--enable_thinking',
        action='store_true',
        help="End each prompt with the template's thinking prefix (<think> for Qwen3-VL), as swift's --enable_thinking "
        'true does: for a model trained with it. swift writes the prefix at the start of each answer too, so it needs '
        "--prompt_style think (the direct prompt's official rule reads the first word, which would be <think>).",
    )
    protocol.add_argument(
        '--max_new_tokens',
        type=int,
        default=None,
        help='Generation budget (default: 16 for direct, the official value; 1024 for think).',
    )
    protocol.add_argument(
        '--blind',
        action='store_true',
        help='Ask the same questions with no frames: the baseline to report next to every score.',
    )

    output = parser.add_argument_group('output')
    output.add_argument(
        '--output_dir',
        type=os.path.expanduser,
        default=None,
        help='Run folder: predictions.jsonl, run_config.json, results.* (default: output/eval; '
        "with --predictions, the predictions file's folder). One process writes it at a time: another fails at once.",
    )
    output.add_argument(
        '--overwrite',
        action='store_true',
        help='Start --output_dir over instead of resuming: its predictions, run_config.json and every report '
        '(results*, comparison*) are removed first; the frames cache is kept.',
    )
    output.add_argument(
        '--label',
        default=None,
        help="Name of this run in tables and plots (default: the model folder's name, then + the adapter's last two "
        'path parts, e.g. Qwen3-VL-8B-Instruct + v0-xxx/checkpoint-500, and (blind) with --blind; rescoring: the '
        'label its run recorded, else '
        "the name of the predictions' folder or file).",
    )
    output.add_argument('--no_progress', action='store_true', help='No progress bars (for logs).')
    output.add_argument(
        '--predictions',
        type=os.path.expanduser,
        default=None,
        help='Score this predictions file, or the predictions.jsonl of this run folder (rows with id, question_type, '
        'ground_truth, prediction and optional options) without a model. A file covering fewer questions than the '
        'dataset its run_config.json records (a run stopped early) is reported as a subset (results_subset.*).',
    )
    output.add_argument(
        '--compare',
        type=os.path.expanduser,
        nargs='+',
        default=None,
        metavar='RESULTS_JSON',
        help='One results.json to show next to this run with per-category deltas; or two, with no '
        'model, to compare them (deltas are second minus first). A run folder stands for its results.json, or its '
        'results_subset.json when it has only that.',
    )
    return parser


# What the modes other than --model read: any other flag given with them is an error rather than silently unused.
# --no_progress is taken by every mode (they draw no bars): a script that passes it to every call is not refused.
MODE_FLAGS = {
    '--predictions': ('predictions', 'prompt_style', 'label', 'compare', 'output_dir', 'no_progress'),
    '--compare A B': ('compare', 'output_dir', 'no_progress'),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.compare is not None and len(args.compare) > 2:
        parser.error('--compare takes one results.json (next to a run) or two (to compare them)')
    modes = [
        name
        for name, on in (
            ('--model', args.model),
            ('--predictions', args.predictions),
            ('--compare A B', args.compare and len(args.compare) == 2),
        )
        if on
    ]
    if not modes and args.compare:  # one results file: it is shown next to a run, which needs a model
        parser.error(
            f'--compare {args.compare[0]}: one results file is shown next to the run of --model; give two to compare '
            'them (--compare A B)'
        )
    if len(modes) != 1:
        parser.error(
            'give exactly one of --model (evaluate), --predictions (rescore) or --compare A.json B.json'
            + (f'; got {", ".join(modes)}' if modes else '')
        )
    if not args.model:  # the other modes read a few flags: any other one given would silently do nothing
        used = MODE_FLAGS[modes[0]]
        defaults = vars(parser.parse_args([]))
        ignored = [f'--{name}' for name, value in vars(args).items() if name not in used and value != defaults[name]]
        if ignored:
            them = 'them' if len(ignored) > 1 else 'it'
            parser.error(
                f'{", ".join(ignored)}: not read by {modes[0]}, which reads only '
                f'{", ".join("--" + name for name in used)}; drop {them}'
            )
    if args.model:
        if not args.dataset:
            parser.error('--model needs --dataset')
        if args.num_frames < 1 or (args.limit is not None and args.limit < 1):
            parser.error('--num_frames and --limit must be positive')
        if len(args.adapters) > 1:
            parser.error("--adapters takes one checkpoint (swift's vLLM engine serves one LoRA at a time)")
        if args.batch_size is not None and args.batch_size < 1:
            parser.error('--batch_size must be positive')
        if args.max_new_tokens is not None and args.max_new_tokens < 1:  # 0 would silently mean the default
            parser.error('--max_new_tokens must be positive')
        if args.infer_backend == 'vllm' and args.adapters and args.torch_dtype == 'float32':
            parser.error(VLLM_LORA_FLOAT32_ERROR)
        if args.infer_backend == 'vllm' and not vllm_installed():
            parser.error(
                '--infer_backend vllm needs vllm (pip install -r requirements.txt on a GPU machine); '
                'use --infer_backend pt'
            )
        unread = [f'--{name}' for name in EXTRACTION_FLAGS if getattr(args, name) is not None]
        if unread and not extracts_frames(args):
            them = 'them' if len(unread) > 1 else 'it'
            parser.error(
                f'{", ".join(unread)}: only for frames extracted from --video_dir (not with --frames_dir or --blind), '
                f'so nothing would read {them}; drop {them}'
            )
        # --num_frames is not among them: it has a default, so it cannot be told apart from one given
        unseen = [f'--{name}' for name in ('frames_dir', 'video_dir', 'allow_fewer_frames') if getattr(args, name)]
        if args.blind and unseen:
            parser.error(
                f'{", ".join(unseen)}: --blind shows the model no frames, so nothing would read them; drop them'
            )
        args.prompt_style = args.prompt_style or 'direct'
        if args.enable_thinking and args.prompt_style != 'think':
            parser.error(
                '--enable_thinking needs --prompt_style think: the official rule of the direct prompt reads the first '
                'word of the answer, which would be <think>'
            )
        args.output_dir = args.output_dir or 'output/eval'
    return args


class ConsoleHandler(logging.StreamHandler):
    """The console handler of the evaluator's log (and of the bundle modules it calls). A subclass on purpose:
    swift's get_logger turns every root handler whose type is exactly StreamHandler down to ERROR (against duplicate
    DDP logs, swift/utils/logger.py), which silenced every warning logged after swift was imported."""


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s', handlers=[ConsoleHandler()])


def main(argv: Sequence[str] | None = None) -> int:
    setup_logging()
    args = parse_args(argv)
    previous = signal.signal(signal.SIGTERM, raise_terminated)  # unwinds as Ctrl-C does: the lock is released
    try:
        if args.model:
            results = evaluate(args)
        elif args.predictions:
            results = score_only(args)
        else:
            comparison = compare_only(args)
            print(comparison_markdown(comparison))
            print(f'written to {compare_output_dir(args) / COMPARISON_NAME}.{{json,md,png}}')
            return 0
    except (EvalError, VsiDataError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (a cluster's preemption or time limit) raised as Terminated
        stop, status = stopped(e)
        if not args.model:  # seconds of work, and every report is drawn before any file of it is replaced
            print(f'{stop}: nothing to resume; run the same command again', file=sys.stderr)
            return status
        # each batch's predictions are appended as it finishes (a cut-off last line is predicted again) and the run
        # folder's lock is released on the way out, so the run resumes: a traceback said nothing of that
        predictions = Path(args.output_dir) / PREDICTIONS_NAME
        kept = (
            f'the predictions written so far are kept in {predictions}'
            if predictions.exists()
            else 'before any prediction was written'
            + (' (the frames extracted so far are kept)' if extracts_frames(args) else '')
        )
        print(f'{stop}: {kept}; run the same command again to resume', file=sys.stderr)
        return status
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(results_markdown(results))
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
