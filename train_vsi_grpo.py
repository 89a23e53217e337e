"""Train Qwen3-VL with GRPO from `vsi_grpo_config.yaml`: what `swift rlhf vsi_grpo_config.yaml` runs, from Python.

The YAML holds every hyperparameter. This script reads it, applies the mode and the command-line overrides
(any flag it does not know is a swift argument and wins over the YAML, as after `swift rlhf config.yaml`),
exports the YAML's `ENV` block, builds swift's `RLHFArguments` with swift's own parser and calls `rlhf_main`.

Usage::

    python train_vsi_grpo.py --dry_run                          # the resolved plan as JSON (env, swift args, problems)
    torchrun --nproc_per_node 8 train_vsi_grpo.py               # 8 GPUs, the YAML's mode (shipped: colocate)
    CUDA_VISIBLE_DEVICES=0,1,2,3,4,5 torchrun --nproc_per_node 6 train_vsi_grpo.py --mode server \\
        --vllm_server_host 10.0.0.5                             # a `swift rollout` must be serving
    python train_vsi_grpo.py --mode local --model demo_out/tiny_qwen3_vl --dataset demo_out/data/train.jsonl \\
        --torch_dtype float32 --fp16 false --max_steps 2        # no vLLM: generation in the training process

With vLLM, start one process per training GPU (torchrun, as `swift rlhf` does when NPROC_PER_NODE is set): one
process that sees several GPUs makes swift spread the model over them (`device_map`), which swift refuses for GRPO
with vLLM. This script says so before it imports swift.

Modes:
    (none)    the YAML's, as `swift rlhf config.yaml` reads it: use_vllm false or unset -> local, vllm_mode
              server -> server, else colocate. A mode given (--mode here, MODE= to run_vsi_grpo.sh) wins over the
              YAML's use_vllm / vllm_mode.
    colocate  every training GPU also hosts a vLLM engine (the shipped YAML's mode).
    server    rollouts come from `swift rollout` (run_vsi_grpo.sh starts and stops one for you); at the
              YAML's vllm_server_host / vllm_server_port, else 127.0.0.1:8000; the flags --vllm_server_host /
              --vllm_server_port win over both (and --vllm_server_group_port, default 51216, for a second run
              beside a first on one node). run_vsi_grpo.sh starts its server at ROLLOUT_HOST / ROLLOUT_PORT and
              refuses a YAML address that differs. The other modes drop the YAML's server address and refuse
              those flags (swift would wait for that server before training, in any mode).
    local     no vLLM and no DeepSpeed: one process, transformers generation (the CPU demo). swift has no
              flag that unsets the YAML's `vllm_mode`, so this mode is why the launchers exist besides
              `swift rlhf vsi_grpo_config.yaml`.

`run_vsi_grpo.sh` calls this script for its preflight (`--preflight`) and for what else it needs to know
(`--print env|mode_args|rollout_args|output_dir|visible_gpus`), so the YAML is read, and GPUs are counted, in one
place only.
Nothing here imports swift until training starts, so every other path answers in a fraction of a second; the
exceptions are a reward name that neither swift's reward module nor a plugin registers in plain sight, which the
preflight looks up in swift's own registry (seconds), and the `vsi_raw` dataset, which the preflight converts (or finds
converted) as swift would, so that its problems show before the model loads rather than after.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib.util
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = str(Path(__file__).with_name('vsi_grpo_config.yaml'))
MODES = ('colocate', 'server', 'local')
DEFAULT_SERVER_HOST = '127.0.0.1'
DEFAULT_SERVER_PORT = 8000  # swift rollout's default port

# Settings each mode puts on top of the YAML (command-line overrides still win over them).
MODE_SETTINGS: dict[str, dict[str, Any]] = {
    'colocate': {'use_vllm': True, 'vllm_mode': 'colocate'},
    'server': {'use_vllm': True, 'vllm_mode': 'server'},
    'local': {'use_vllm': False},
}
# Server mode's address when neither the YAML nor a flag gives one. Only a default: replacing the YAML's address
# sent the trainer to 127.0.0.1:8000 while the user's server listened elsewhere.
SERVER_DEFAULTS: dict[str, list[Any]] = {
    'vllm_server_host': [DEFAULT_SERVER_HOST],
    'vllm_server_port': [DEFAULT_SERVER_PORT],
}
# The YAML keys that say where the trainer finds its rollout server; run_vsi_grpo.sh, which starts that server at
# ROLLOUT_HOST / ROLLOUT_PORT / ROLLOUT_GROUP_PORT, refuses a YAML value that differs (`--print yaml_server_address`),
# and any vllm_server_base_url (swift's client takes it over the host and port). Other modes drop them from the YAML
# and refuse them as flags (mode_conflict): swift connects to a server named there in every mode, at argument
# parsing (RLHFArguments._init_external_vllm): 240 s of waiting then ConnectionError, or ImportError without vLLM.
# The script's colocate mode, which hands swift rlhf the YAML as it is, refuses them in the YAML too.
SERVER_ADDRESS_KEYS = ('vllm_server_host', 'vllm_server_port', 'vllm_server_group_port', 'vllm_server_base_url')
# YAML keys local mode removes (a --deepspeed flag can still set its key; a --vllm_mode flag is refused by
# mode_conflict): swift rejects any vllm_mode without vLLM, and one process has nothing for DeepSpeed to shard (CPU
# installs usually lack it, too).
LOCAL_DROPPED_KEYS = ('vllm_mode', 'deepspeed')

# Training keys that `swift rollout` needs to serve the same model the same way: what it loads (the hub keys: with
# `--use_hf true` the trainer and the server must download the model from the same hub), how it turns the trainer's
# messages and image paths into a prompt (the template keys: max_pixels sizes the frames), its vLLM engine, whether
# weights are synced as LoRA (swift's trainer asks the server), and multi-turn rollouts. Each is a field of both
# swift's RLHFArguments and RolloutArguments (tests/test_launchers.py). Sampling settings travel with each request.
# The memory utilisation is left out on purpose: the YAML's value shares a GPU with training; a rollout GPU is vLLM's
# alone (0.9).
ROLLOUT_KEYS = (
    'model',
    'model_type',
    'model_revision',
    'use_hf',
    'hub_token',
    'torch_dtype',
    'model_kwargs',
    'rope_scaling',
    'template',
    'system',
    'max_pixels',
    'enable_thinking',
    'preserve_thinking',
    'add_non_thinking_prefix',
    'response_prefix',
    'use_chat_template',
    'template_backend',
    'agent_template',
    'norm_bbox',
    'vllm_tensor_parallel_size',
    'vllm_max_model_len',
    'vllm_limit_mm_per_prompt',
    'vllm_max_num_seqs',
    'vllm_enforce_eager',
    'vllm_enable_prefix_caching',
    'vllm_mm_processor_cache_gb',
    'vllm_engine_kwargs',
    'vllm_quantization',
    'vllm_disable_custom_all_reduce',
    'vllm_disable_cascade_attn',
    'vllm_enable_expert_parallel',
    'vllm_speculative_config',
    'vllm_enable_lora',
    'vllm_max_lora_rank',
    'vllm_use_async_engine',
    'multi_turn_scheduler',
    'max_turns',
    'use_gym_env',
    'gym_env',
    'external_plugins',  # where a multi_turn_scheduler or gym_env of the user's is registered
)

# swift's defaults for the keys the batch and length checks read, used when the YAML leaves them out.
SWIFT_BATCH_DEFAULTS = {
    'per_device_train_batch_size': 1,
    'per_device_eval_batch_size': 1,
    'gradient_accumulation_steps': 1,
    'num_generations': 8,
    'max_completion_length': 512,
}
# Every argument the launchers read (or pass to the rollout server) before swift does. swift's parser takes a flag's
# unambiguous prefix for the flag (argparse's allow_abbrev), which the launchers would not see: `--num_gen 4` would
# escape the batch check, or fail it on the YAML's num_generations that swift then replaces. So abbreviations of
# these are refused. A swift argument that is a prefix of one of them is its own flag (tests/test_launchers.py).
READ_KEYS = frozenset(
    {
        *ROLLOUT_KEYS,
        *SWIFT_BATCH_DEFAULTS,
        *LOCAL_DROPPED_KEYS,
        *(key for settings in MODE_SETTINGS.values() for key in settings),
        *SERVER_ADDRESS_KEYS,
        *('dataset', 'val_dataset', 'eval_dataset', 'cached_val_dataset', 'columns', 'custom_register_path'),
        *('output_dir', 'reward_funcs', 'eval_strategy', 'save_strategy', 'split_dataset_ratio', 'streaming', 'strict'),
        *('generation_batch_size', 'steps_per_generation', 'num_generations_eval', 'vllm_data_parallel_size'),
        *('resume_from_checkpoint', 'resume_only_model', 'ignore_data_skip', 'max_length'),
        *('reward_weights', 'reward_model', 'use_gym_env', 'teacher_model', 'teacher_model_server', 'lora_rank'),
        # what a resume is compared on (RESTORED_ON_RESUME, DATA_POSITION, _finished_problem) and swift_refusal reads
        *('learning_rate', 'lr_scheduler_type', 'tuner_type', 'lora_alpha', 'target_modules'),
        *('max_steps', 'num_train_epochs', 'warmup_ratio', 'warmup_steps', 'async_generate'),
    }
)
SWIFT_PREFIX_KEYS = frozenset({'stream'})  # not short for `streaming`: swift's chat streaming
# The GPU layout belongs to the launchers (TRAIN_GPUS / ROLLOUT_GPUS / NPROC_PER_NODE, torchrun's flags): set in the
# YAML's ENV it would be exported after run_vsi_grpo.sh's own plan and silently replace it.
LAYOUT_ENV_KEYS = ('NPROC_PER_NODE', 'CUDA_VISIBLE_DEVICES', 'NNODES', 'NODE_RANK', 'MASTER_ADDR', 'MASTER_PORT')
DATA_FILE_SUFFIXES = ('.jsonl', '.json', '.csv', '.parquet', '.txt')
# How alike (difflib's ratio) a name must be to one of ours to be refused as a typo of it rather than taken as someone
# else's: VSI_NUM_FRAME or vsi_trian are; VSI_HOME, VSI_CACHE or vsi_bench (0.56 to 0.71) are not.
TYPO_CUTOFF = 0.8
NO_GPU = (
    'no GPU visible (CUDA_VISIBLE_DEVICES empty, or unset and nvidia-smi lists none or is not on PATH: then set '
    'CUDA_VISIBLE_DEVICES to the GPU ids); MODE=local (run_vsi_grpo.sh) or --mode local (train_vsi_grpo.py) trains '
    'without vLLM or GPUs'
)


class LaunchError(Exception):
    """A configuration problem the user can fix; the CLI prints it as one line."""


@dataclass
class LaunchPlan:
    """Everything a launcher needs to start swift: where it came from, what to export, what to pass."""

    config: str
    mode: str
    env: dict[str, str]  # variables to export (the YAML's ENV plus ROOT_IMAGE_DIR; the caller's own values win)
    args: dict[str, Any]  # swift argument -> value: the YAML, then the mode's settings, then the overrides
    flags: tuple[str, ...] = ()  # the keys of args that command-line flags set (the others: the YAML, the mode)

    def swift_argv(self) -> list[str]:
        # a flag written alone reaches swift alone, as after `swift rlhf config.yaml --flag`: swift's parser takes it
        # for a switch, and refuses it for an argument that takes a value (`--system` used to become system 'True')
        return to_swift_argv(self.args, bare={key for key in self.flags if self.args.get(key) is True})


def load_config(path: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The YAML's `ENV` block and its swift arguments."""
    try:
        with open(path, encoding='utf-8') as f:
            config = yaml.safe_load(f)
    except FileNotFoundError:
        raise LaunchError(f'config {path} not found') from None
    except IsADirectoryError:
        raise LaunchError(f'config {path} is a folder; name the YAML file') from None
    except UnicodeDecodeError as error:
        raise LaunchError(f'config {path} is not UTF-8 text ({error.reason} at byte {error.start})') from None
    except OSError as error:
        raise LaunchError(f'config {path} cannot be read: {error.strerror}') from None
    except yaml.YAMLError as error:
        raise LaunchError(f'config {path} is not valid YAML: {error}'.replace('\n', ' ')) from None
    if not isinstance(config, dict):
        raise LaunchError(f'config {path} must be a mapping of swift argument names to values')
    env = config.pop('ENV', None) or {}
    if not isinstance(env, dict):
        raise LaunchError(f'config {path}: ENV must be a mapping of variable names to values')
    # swift's own YAML reading (parse_yaml_args) passes an empty value on as the text 'None': a string field gets
    # 'None', a number field an error after the imports
    empty = [f'ENV.{k}' for k, v in env.items() if v is None] + [k for k, v in config.items() if v is None]
    if empty:
        raise LaunchError(
            f'config {path}: {", ".join(empty)} has no value, which swift would read as the text None; give it one, '
            "or delete the line to keep swift's default"
        )
    config = {swift_name(str(k)): v for k, v in config.items()}
    return {str(k): str(v) for k, v in env.items()}, config


def swift_name(key: str) -> str:
    """The argument a flag or YAML key names for swift: its parser (transformers' HfArgumentParser) takes each field
    as written or with every underscore a dash (`per-device-train-batch-size`); a mixed spelling is no name of it."""
    return key.replace('-', '_') if '_' not in key else key


def parse_overrides(tokens: Sequence[str]) -> dict[str, Any]:
    """`--name v1 [v2 ...]` / `--name=value` / a bare `--flag` (true) as a dict, later flags winning.

    `--name=value` is one value, as for swift's parser (argparse), which leaves a word after it unparsed: refused, where
    it used to join a list here (`--reward_funcs=vsi_reward vsi_format`) that swift then failed on in every rank."""
    overrides: dict[str, list[str]] = {}
    key, joined = None, None
    for token in tokens:
        if token == '--':  # swift's parser would reject it after the model had been looked for
            raise LaunchError("unexpected argument '--': write swift's flags straight after the launcher's, no '--'")
        if token.startswith('--') and len(token) > 2:
            joined = token if '=' in token else None
            key, has_value, value = token[2:].partition('=')
            key = swift_name(key)
            overrides[key] = [value] if has_value else []
        elif key is None:
            raise LaunchError(f'unexpected argument {token!r}: swift arguments are written --name value')
        elif joined:
            name, _, value = joined.partition('=')
            raise LaunchError(
                f'{joined} {token}: swift reads {name}=... as one value and would leave {token!r} unparsed; for '
                f'several values write {name} {value} {token}'
            )
        else:
            overrides[key].append(token)
    return {key: True if not values else values[0] if len(values) == 1 else values for key, values in overrides.items()}


def to_swift_argv(args: Mapping[str, Any], bare: Iterable[str] = ()) -> list[str]:
    """Flags in the form swift's CLI makes from a YAML (swift.cli.main.parse_yaml_args): lists spread, dicts as
    JSON, everything else through str(), so booleans read True / False. A bare `--no_<switch>` (parse_overrides: True)
    stays bare: HfArgumentParser's `no_` switches take no value, and `--no_gradient_checkpointing True` failed (swift
    fails alike on a YAML's `no_<field>: true`, so no working YAML has one)."""
    argv, bare = [], set(bare)
    for key, value in args.items():
        argv.append(f'--{key}')
        if value is True and (key in bare or key.startswith('no_')):
            continue
        if isinstance(value, list):
            argv += [str(v) for v in value]
        elif isinstance(value, dict):
            argv.append(json.dumps(value, ensure_ascii=False))
        else:
            argv.append(str(value))
    return argv


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def looks_local(path: str) -> bool:
    """Whether `path` means something on this disk rather than a hub id (`owner/name`) or a registered name: it exists,
    or is written as a path (`/x`, `./x`, `../x`, `~/x`, two or more `/`), so that a typo in it is reported now, not
    as a hub look-up failing after a network timeout. `owner/name` that does not exist is a hub id, even when a
    folder `owner/` is here (models downloaded into `Qwen/...` sit beside hub ids of the same owner)."""
    return os.path.exists(os.path.expanduser(path)) or path.startswith(('.', '/', '~')) or path.count('/') > 1


def run_output_dir(args: Mapping[str, Any]) -> str:
    """Where swift writes the run: `output_dir` with `~` expanded as swift expands it, else swift's `output`."""
    return os.path.expanduser(str(args.get('output_dir') or 'output'))


def output_folder_problem(output_dir: str) -> str | None:
    """An output_dir that cannot be made or written (a link to a disk not mounted, a path under a file, a read-only
    folder): server mode failed at mkdir with its raw message, the other modes in swift, once per rank. Nothing is
    left behind by the check (preprocess_vsi_data.check_writable_folder)."""
    from preprocess_vsi_data import VsiDataError, check_writable_folder  # numpy, Pillow: here, not at start-up

    try:
        check_writable_folder(os.path.abspath(output_dir), 'output_dir')
    except VsiDataError as e:
        return str(e)
    return None


def model_folder_problem(model: str) -> str | None:
    """What is wrong with a `model` written as a local path (see looks_local): 'not found' or 'is a file, not a
    folder'; None for a folder or a hub id. The launcher's preflight and the evaluator both ask, each naming where."""
    path = os.path.expanduser(model)
    if not looks_local(model) or os.path.isdir(path):
        return None
    return 'is a file, not a folder' if os.path.exists(path) else 'not found'


def dataset_syntax(entry: str) -> tuple[str, str, str | None, str | None]:
    """(hub prefix, path or id, subsets, rows) of a `--dataset` entry, which swift writes
    `[hf::|ms::]path_or_id[:subsets][#rows]`, split as swift's DatasetSyntax.parse (swift/dataset/dataset_syntax.py)
    splits it: a path that exists is taken whole at each step, and the path or id is stripped. Subsets and rows are
    None when not written."""
    prefix = subsets = rows = None
    if not os.path.exists(entry) and '::' in entry:
        prefix, entry = entry.split('::', 1)
    if not os.path.exists(entry) and '#' in entry:
        entry, rows = entry.rsplit('#', 1)  # `file.jsonl#1000` samples 1000 rows
    if not os.path.exists(entry) and ':' in entry:
        entry, subsets = entry.split(':', 1)
    return prefix or '', entry.strip(), subsets, rows


def dataset_path(entry: str) -> str:
    """The path or id in a `--dataset` entry (dataset_syntax)."""
    return dataset_syntax(entry)[1]


def dataset_files(args: Mapping[str, Any], key: str = 'dataset') -> list[str]:
    """The entries of `key` that are local paths (a hub id or registered name, e.g. `vsi_train`, is left to swift)."""
    paths = [dataset_path(entry) for entry in _as_list(args.get(key))]
    return [path for path in paths if path.endswith(DATA_FILE_SUFFIXES) or looks_local(path)]


def dataset_names(args: Mapping[str, Any]) -> set[str]:
    """The path or id of every `dataset` and `val_dataset` entry (dataset_path): files, hub ids, registered names."""
    return {dataset_path(entry) for key in ('dataset', 'val_dataset') for entry in _as_list(args.get(key))}


# What a media entry of a row must end with to be checked as a file path (swift also takes URLs and base64 data).
MEDIA_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.gif', '.mp4', '.mkv', '.mov', '.avi', '.webm')


def image_root(path: str) -> str:
    """The folder a dataset's relative media paths are meant from: a folder itself, else the data file's folder, but
    for a symlinked file whose media are beside the real file, the real file's (preprocess_vsi_data.media_folder),
    where vsi_train and the evaluator find them too. Only a symlink costs a read of the file."""
    if os.path.isdir(path):
        return path
    folder = os.path.dirname(path) or '.'
    if not os.path.isfile(path) or os.path.dirname(os.path.realpath(path)) == os.path.abspath(folder):
        return folder
    from preprocess_vsi_data import media_folder  # numpy and Pillow: only for a symlinked file

    try:
        found, missing = media_folder(path)
    except (OSError, ValueError):  # a line that does not decode: media_problem / dataset_problem say so
        return folder
    return found if missing is None else folder


def media_problem(path: str, root: str | None) -> str | None:
    """The dataset's first image or video that swift would not open as meant, as a problem line; else None.

    Looked at: what preprocess_vsi_data.media_to_check picks, every file of the first rows and then each frame folder
    and clip once, so a copy that lacks one scene's frames fails here, not as rows swift drops one by one (`Encoding
    failed ... will resample`) after the model has loaded, or as a crash once too few are left. (A JSON array is
    checked by its first row: it can be gigabytes.) An absolute path must exist. swift opens a relative path from the
    current folder, else from ROOT_IMAGE_DIR, one folder for every dataset (the launchers set it to the first
    dataset's), while preprocess_vsi_data.py writes paths relative to the dataset's own folder: the frames of a
    dataset in another folder would be missing, or, where the current folder or the other one has the same names, be
    the wrong ones. Last, frames extracted into the same folders again since the file was written are other frames
    under the same names (preprocess_vsi_data.changed_frames).
    """
    if not path.endswith(('.json', '.jsonl')) or not os.path.isfile(path):
        return None
    # only once a dataset is checked
    from preprocess_vsi_data import VsiDataError, changed_frames_problem, is_local_path, media_rows, media_to_check

    try:
        rows = list(media_to_check(media_rows(path)))
    except VsiDataError as e:  # a line past the first that does not decode
        return f'dataset {e}'
    except (OSError, ValueError):  # dataset_problem says why
        return None
    base = image_root(path)
    advice = (
        f"ROOT_IMAGE_DIR={root} (one folder for every dataset, by default the first one's); for datasets in several "
        'folders write absolute paths (preprocess_vsi_data.py --path_mode absolute) or keep the files in one folder'
    )
    # past the first rows, the first frame seen in each folder stands for the folder
    for line, item, _ in rows:
        if not is_local_path(item) or not item.lower().endswith(MEDIA_SUFFIXES):  # URLs, base64: swift's to open
            continue
        where = f'{item} (line {line})'
        if os.path.isabs(item):
            if not os.path.exists(item):
                return f'dataset {path}: {where} does not exist'
            continue
        opened = next((p for p in (item, os.path.join(root or '', item)) if os.path.exists(p)), None)
        meant = os.path.join(base, item)
        if opened is None and not os.path.exists(meant) and os.path.isdir(os.path.dirname(meant)):
            return (  # its folder is there, the frame is not
                f'dataset {path}: {where} is not in {os.path.dirname(meant)}, which is there but lacks it (frames '
                'extracted again with other settings, --num_frames?): run preprocess_vsi_data.py again on the frames'
            )
        if opened is None:
            return f'dataset {path}: {where} is found neither here nor under {advice}'
        if os.path.exists(meant) and not os.path.samefile(opened, meant):
            return f'dataset {path}: swift would open {opened} for {where}, not {meant}, under {advice}'
    changed = changed_frames_problem(path, base)
    return f'dataset {changed}' if changed else None


def data_file_meant(path: str) -> str | None:
    """A data file here that a missing `path` probably means: `path` with a data suffix (`data/train` for
    `data/train.jsonl`), or with another one (`train.json` for `train.jsonl`); None if there is none."""
    stem, suffix = os.path.splitext(path)
    stems = [path, stem] if suffix in DATA_FILE_SUFFIXES else [path]
    return next((s + x for s in stems for x in DATA_FILE_SUFFIXES if os.path.isfile(s + x) and s + x != path), None)


def dataset_name_problem(key: str, name: str) -> str | None:
    """A dataset entry that swift would look up on the hub (it is neither on this disk nor written as a path) but that
    looks like a typo of a local file or of the bundle's registered names: the look-up fails only after the model and
    vLLM have loaded. A real hub id (`owner/name`, `ms::name`) is left alone."""
    if os.path.exists(name) or looks_local(name) or name.endswith(DATA_FILE_SUFFIXES):  # dataset_problem's to judge
        return None
    if name in REGISTERED_DATASET_VARIABLES:  # swift hands them to vsi_dataset.py, even beside a `vsi_train.jsonl`
        return None
    meant = data_file_meant(name)
    if meant:
        return f'{key} {name} is not a file here (swift would look it up on the hub): did you mean {meant}?'
    close = difflib.get_close_matches(name, list(REGISTERED_DATASET_VARIABLES), n=1, cutoff=TYPO_CUTOFF)
    if '/' not in name and close:
        return (
            f'{key} {name} is not a file here nor one of the datasets {REGISTER_FILE} registers (swift would look it '
            f'up on the hub): did you mean {close[0]}?'
        )
    return None


def _positive_int(text: str) -> bool:
    """Whether swift's int() reads `text` as a number of 1 or more (`1_000` and `+5` included)."""
    try:
        return int(text) >= 1
    except ValueError:
        return False


def dataset_entry_problems(args: Mapping[str, Any]) -> list[str]:
    """`dataset` / `val_dataset` entries whose syntax (`[hf::|ms::]name[:subsets][#rows]`, as DatasetSyntax.parse
    reads it) fails only once the model has loaded, as problem lines: a row count that is no whole number of 1 or more
    (swift: a bare AssertionError, or int()'s ValueError), a hub prefix or subsets on the bundle's registered names
    (vsi_dataset.py refuses both: neither is on a hub nor has subsets), and one registered name as both training and
    validation set (one set of VSI_* variables makes both: validation would score the training rows)."""
    problems = []
    for key in ('dataset', 'val_dataset'):
        for entry in _as_list(args.get(key)):
            prefix, name, subsets, rows = dataset_syntax(entry)
            if rows is not None and not _positive_int(rows):
                problems.append(f'{key} {entry}: #{rows} is not a number of rows (write #N with N of 1 or more)')
            if name in REGISTERED_DATASET_VARIABLES and prefix.lower() in ('hf', 'ms'):  # swift ignores others
                problems.append(f'{key} {entry}: {name} is read from local files, not from a hub: drop the {prefix}::')
            if name in REGISTERED_DATASET_VARIABLES and subsets is not None:
                problems.append(f'{key} {entry}: {name} has no subsets: drop the :{subsets.strip()}')
    validation = {dataset_path(entry) for entry in _as_list(args.get('val_dataset'))}
    for name in sorted({dataset_path(entry) for entry in _as_list(args.get('dataset'))} & validation):
        if name in REGISTERED_DATASET_VARIABLES:
            problems.append(
                f'{name} is both dataset and val_dataset: one set of VSI_* variables makes both, so validation would '
                'score the training rows; validate on a file of other rows (preprocess_vsi_data.py) instead'
            )
    return problems


def _media_count(value: Any) -> int:
    return len(value) if isinstance(value, list) else int(bool(value))


def _dataset_file(name: str, environ: Mapping[str, str]) -> str:
    """The file a dataset name stands for: vsi_train's is VSI_TRAIN_JSONL (`~` as vsi_dataset.py expands it), any
    other name is its own path."""
    return os.path.expanduser(environ.get('VSI_TRAIN_JSONL', '')) if name == 'vsi_train' else name


def _raw_setting(environ: Mapping[str, str], variable: str, kind: type, default: Any) -> Any:
    """A vsi_raw setting read as vsi_dataset.py reads it (`_setting`, `_number`): unset or empty is the default, any
    other value is kind(value) as written; None where kind refuses it (the conversion, which preflight runs, says why).
    Read any other way, the launcher's checks could judge other rows than the conversion writes (`VSI_NUM_FRAMES=' '`
    was 32 frames here and an error there)."""
    value = environ.get(variable) or default
    try:
        value = kind(value)
    except ValueError:
        return None
    return None if isinstance(value, float) and not math.isfinite(value) else value  # nan: refused there too


def _first_row_media(name: str, environ: Mapping[str, str]) -> dict[str, int] | None:
    """Images and videos of a dataset's first row: a JSON/JSONL file's (vsi_train's is VSI_TRAIN_JSONL), or what
    vsi_raw's settings will write (one clip with VSI_MEDIA=video, else VSI_NUM_FRAMES frames). None if unknown."""
    if name == 'vsi_raw':
        from preprocess_vsi_data import PreprocessConfig  # its defaults are vsi_dataset.py's (numpy, Pillow: only here)

        if _raw_setting(environ, 'VSI_MEDIA', str, PreprocessConfig.media) == 'video':
            return {'image': 0, 'video': 1}
        frames = _raw_setting(environ, 'VSI_NUM_FRAMES', int, PreprocessConfig.num_frames)
        return None if frames is None else {'image': frames, 'video': 0}
    path = _dataset_file(name, environ)
    from preprocess_vsi_data import first_json_row, swift_json_name  # numpy, Pillow: here, not at start-up

    if not swift_json_name(path):
        return None

    try:
        row = first_json_row(path)
    except (OSError, ValueError):  # dataset_problem says why
        return None
    if not isinstance(row, dict):
        return None
    return {'image': _media_count(row.get('images')), 'video': _media_count(row.get('videos'))}


def swift_json(value: Any) -> Any:
    """A JSON argument (vllm_limit_mm_per_prompt, columns) as swift reads it (json_parse_to_dict in
    swift/utils/utils.py): a YAML mapping as it is, a string naming a file that file's JSON, else the string's JSON,
    repaired as swift repairs it (`{image: 2}` is `{"image": 2}`, which vLLM then enforces); None when swift could not
    read it either (it says why)."""
    if not isinstance(value, str):
        return value
    try:
        if os.path.exists(value):
            with open(value, encoding='utf-8') as f:
                return json.load(f)
        try:
            return json.loads(value)
        except ValueError:
            import json_repair  # swift's dependency, which swift repairs with

            return json.loads(json_repair.repair_json(value))
    except (OSError, ValueError):
        return None


def media_limit_problem(name: str, args: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """Rows with more images or videos than vllm_limit_mm_per_prompt allows, judged by the first row: vLLM refuses such
    a prompt, so the run would stop at its first rollout, after the model and vLLM have loaded. The YAML allows 32
    images and no video; rows written with preprocess_vsi_data.py --media video hold one video each."""
    limits = swift_json(args.get('vllm_limit_mm_per_prompt'))
    if not isinstance(limits, dict) or not _swift_bool(args, 'use_vllm'):
        return None
    counts = _first_row_media(name, environ)
    for kind, count in (counts or {}).items():
        limit = limits.get(kind)
        if isinstance(limit, int) and count > limit:
            return (
                f'dataset {name}: its first row has {count} {kind}(s), and vllm_limit_mm_per_prompt allows {limit} '
                f"""({json.dumps(limits)}): pass --vllm_limit_mm_per_prompt '{json.dumps(counts)}'"""
            )
    return None


def clip_frames_problem(name: str, environ: Mapping[str, str]) -> str | None:
    """Rows written with --media video whose clips qwen-vl-utils would not read whole: it samples `frames / clip rate
    * FPS` frames, at most the clip's and FPS_MAX_FRAMES (defaults 2 and 768), so an FPS below the clip's rate or a
    smaller FPS_MAX_FRAMES trains on fewer frames than the rows were written with, silently (a higher FPS reads every
    frame). The values needed are preprocess_vsi_data.video_env's: from the summary beside a JSON file (vsi_train's is
    VSI_TRAIN_JSONL), or from vsi_raw's settings. Values swift cannot read are media_variable_problems'."""
    from preprocess_vsi_data import DEFAULT_VIDEO_FPS, PreprocessConfig, summary_path, video_env  # numpy, Pillow

    try:
        if name == 'vsi_raw':
            if _raw_setting(environ, 'VSI_MEDIA', str, PreprocessConfig.media) != 'video':
                return None
            frames = _raw_setting(environ, 'VSI_NUM_FRAMES', int, PreprocessConfig.num_frames)
            fps = _raw_setting(environ, 'VSI_VIDEO_FPS', float, DEFAULT_VIDEO_FPS)
            if frames is None or fps is None:  # the conversion says what is wrong
                return None
            needed = video_env(frames, fps)
            source = "vsi_raw's settings"
        else:
            path = _dataset_file(name, environ)
            source = summary_path(path)
            with open(source, encoding='utf-8') as f:
                summary = json.load(f)
            if summary.get('output_bytes') != os.path.getsize(path):  # not this file's: the loader's check says so
                return None
            needed = summary.get('video_env')
        if not needed:
            return None
        least_fps, least_frames = float(needed['FPS']), int(needed['FPS_MAX_FRAMES'])
        # as swift reads them (get_env_args): unset is qwen-vl-utils' default
        fps, max_frames = float(environ.get('FPS', 2)), int(environ.get('FPS_MAX_FRAMES', 768))
    except (OSError, ValueError, TypeError, AttributeError, KeyError):  # no summary, a foreign one, unreadable values
        return None
    if fps >= least_fps and max_frames >= least_frames:
        return None
    return (
        f'dataset {name}: its clips are read whole only with FPS>={needed["FPS"]} and FPS_MAX_FRAMES>='
        f'{needed["FPS_MAX_FRAMES"]} ({source}), but FPS={environ.get("FPS", "2 (unset)")} and FPS_MAX_FRAMES='
        f'{environ.get("FPS_MAX_FRAMES", "768 (unset)")} here: Qwen3-VL would see fewer frames than the rows hold'
    )


def media_variable_problems(environ: Mapping[str, str]) -> list[str]:
    """MEDIA_VARIABLES set to what swift cannot read: it parses each with float (FPS) or int (get_env_args, in
    swift/model/models/qwen.py) when the model loads, and fails there, after the GPUs were set up."""
    problems = []
    for variable in sorted((MEDIA_VARIABLES - {'ROOT_IMAGE_DIR'}) & set(environ)):
        kind = float if variable == 'FPS' else int
        try:
            kind(environ[variable])
        except ValueError:
            what = 'a number' if kind is float else 'a whole number'
            problems.append(f'{variable}={environ[variable]} is not {what}, which swift reads it as; fix or unset it')
    return problems


def _columns(value: Any) -> dict[str, str]:
    """swift's `--columns` (a JSON object, or a mapping in the YAML) as {old name: new name}; {} when unreadable."""
    value = swift_json(value)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _data_splits(folder: str) -> dict[str, list[str]]:
    """The JSON/JSONL/parquet/CSV files of a dataset folder by split, as swift's folder loading (`datasets`) finds
    them: by their names (`train`, `validation`, `test`, ...: all of them to train where none is named so), skipping
    hidden files and folders and its own `__...` folders; {} where it finds none. swift loads the train split only."""
    from datasets.data_files import DataFilesDict, get_data_patterns  # swift's dependency

    try:
        found = DataFilesDict.from_patterns(get_data_patterns(folder), base_path=folder)
    except (FileNotFoundError, ValueError):  # no data file at all
        return {}
    splits = {split: [name for name in files if name.endswith(DATA_FILE_SUFFIXES)] for split, files in found.items()}
    return {split: files for split, files in splits.items() if files}


def dataset_problem(path: str, columns: Mapping[str, str] | None = None) -> str | None:
    """Why swift could not train this bundle's GRPO on the local dataset `path`, or None.

    A wrong file otherwise passes every check and fails only once the model (and vLLM) has loaded, in swift's
    resampling, with advice about max_length, or trains on text without its frames: raw QA rows, a folder of frames, a
    missing file. A folder is what swift loads as a dataset repository: the first data file of its train split (the
    split swift loads; `datasets` names splits by file name) is checked. `columns` is
    swift's `--columns` renaming, applied before the check; prompt columns other than `messages` (`query`, ...) are
    left to swift's own conversion, only the answer the reward scores (`solution`, or `ground_truth`) is required.
    """
    if os.path.isdir(path):
        splits = _data_splits(path)
        if not splits:
            return (
                f'{path} is a folder without JSON/JSONL/parquet/CSV files, not a dataset of swift rows: write one with '
                'preprocess_vsi_data.py'
            )
        train = splits.get('train')
        if not train:
            return (
                f'{path} is a folder whose data files all go to splits swift does not train on (datasets names splits '
                'by file name: validation, test, ...); name the training file train.jsonl'
            )
        problem = dataset_problem(train[0], columns)
        return problem and f'{path} (folder): {problem}'
    if not os.path.isfile(path):
        meant = data_file_meant(path)
        advice = f'did you mean {meant}?' if meant else 'write it with preprocess_vsi_data.py'
        return f'{path} not found (relative paths start at {os.getcwd()}); {advice}'
    try:
        if path.endswith('.parquet'):
            import pyarrow.parquet  # swift's datasets dependency; only the schema is read

            keys = pyarrow.parquet.read_schema(path).names
        elif path.endswith(('.json', '.jsonl')):
            from preprocess_vsi_data import (  # numpy, Pillow: only for a JSON dataset
                VsiDataError,
                column_types_problem,
                first_json_object,
            )

            try:
                keys = list(first_json_object(path))
            except VsiDataError as error:  # no rows, not JSON: as vsi_train's loader says it
                return str(error)
        else:  # csv / txt: swift reads them; their rows are not worth parsing here
            return None
    except (OSError, UnicodeDecodeError, ValueError) as error:  # JSONDecodeError and pyarrow's errors are ValueErrors
        return f'{path} cannot be read as a dataset: {error}'.replace('\n', ' ')
    mapped = [(columns or {}).get(key, key) for key in keys]
    shown = ', '.join(mapped[:8]) + (' after --columns' if columns else '')  # the names the check saw
    keys = set(mapped)
    if 'messages' not in keys and 'solution' not in keys and ({'question', 'conversations'} & keys):
        # the benchmark's / VLM-3R's layouts, which preprocess_vsi_data.py reads: swift would train on their text
        # without the scene's frames, or find no answer for the reward
        layout = 'question/options' if 'question' in keys else 'conversations'
        return (
            f'{path} holds raw QA rows ({layout} layout), not swift rows: run preprocess_vsi_data.py first (README '
            'section 2)'
        )
    if not {'solution', 'ground_truth'} & keys:  # vsi_reward reads `ground_truth` when there is no `solution`
        return (
            f'{path} has no solution in its first row (columns: {shown}), the answer vsi_reward scores: write the '
            'rows with preprocess_vsi_data.py (README section 2), or map a column with --columns'
        )
    if path.endswith(('.json', '.jsonl')):  # last: raw QA rows would be refused whatever their column types
        try:
            return column_types_problem(path)
        except OSError as error:
            return f'{path} cannot be read as a dataset: {error}'
    return None


def yaml_mode(args: Mapping[str, Any]) -> str:
    """The mode a YAML's own use_vllm / vllm_mode describe, as swift reads them (use_vllm is off unless set): the
    mode when none is chosen, so that the launchers train as `swift rlhf config.yaml` does."""
    if not _swift_bool(args, 'use_vllm'):
        return 'local'
    return 'server' if args.get('vllm_mode') == 'server' else 'colocate'


def resolve(
    config: str, mode: str | None, overrides: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> LaunchPlan:
    """Merge the YAML, the mode's settings and the overrides into one plan; no mode is the YAML's (yaml_mode)."""
    if mode is not None and mode not in MODES:
        raise LaunchError(f'mode {mode!r} is not one of {", ".join(MODES)}')
    environ = os.environ if environ is None else environ
    yaml_env, args = load_config(config)
    mode = mode or yaml_mode(args)
    for key in LAYOUT_ENV_KEYS:
        if key in yaml_env:
            raise LaunchError(
                f"config {config}: ENV sets {key}, which would override the launcher's GPU layout; remove it and set "
                'TRAIN_GPUS / ROLLOUT_GPUS / NPROC_PER_NODE (multi-node: NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT) '
                "in the shell that runs run_vsi_grpo.sh, or torchrun's flags"
            )
    args.update(MODE_SETTINGS[mode])
    if mode == 'server':
        for key, value in SERVER_DEFAULTS.items():
            args.setdefault(key, value)
    else:
        for key in SERVER_ADDRESS_KEYS:
            args.pop(key, None)
    if mode == 'local':
        for key in LOCAL_DROPPED_KEYS:
            args.pop(key, None)
    overrides = parse_overrides(overrides)
    for key in (*args, *overrides):
        full = sorted(name for name in READ_KEYS if name.startswith(key) and name != key)
        if full and key not in READ_KEYS | SWIFT_PREFIX_KEYS:
            where = f'--{key}' if key in overrides else f'config {config}: {key}'
            raise LaunchError(
                f'{where} is short for {" or ".join(full)}, which the launcher reads before swift does: '
                'write it in full'
            )
    for key, value in overrides.items():  # True only from a flag written alone, which swift's parser takes for a switch
        if value is True and key in args and not isinstance(args[key], bool):
            raise LaunchError(
                f'--{key} has no value, and {key} takes one (without the flag: {args[key]!r}); a flag written alone '
                'means true, which only a switch such as --use_vllm takes'
            )
    conflict = mode_conflict(mode, overrides)
    if conflict:
        raise LaunchError(conflict)
    args.update(overrides)
    refused = swift_refusal(mode, args)
    if refused:
        raise LaunchError(refused)
    env = dict(yaml_env)
    files = dataset_files(args)
    if files:  # preprocess_vsi_data.py writes image paths relative to the dataset's folder
        # also over the YAML's (`data`, for `swift rlhf --config` alone): the launchers follow --dataset / DATASET
        env['ROOT_IMAGE_DIR'] = image_root(files[0])
    env = {key: environ.get(key, value) for key, value in env.items()}  # as swift does: the shell's value wins
    return LaunchPlan(config=config, mode=mode, env=env, args=args, flags=tuple(overrides))


MODE_WORDS = {
    'colocate': 'vLLM in every training process',
    'server': 'vLLM in a swift rollout server on its own GPUs',
    'local': 'no vLLM',
}


def mode_conflict(mode: str, overrides: Mapping[str, Any]) -> str | None:
    """A --use_vllm or --vllm_mode flag that says otherwise than the mode, or a server address flag outside server
    mode (SERVER_ADDRESS_KEYS), as a message; else None.

    The mode decides where rollouts run, and the launchers lay out the GPUs and the rollout server for it. swift would
    follow the flag (MODE=server with --vllm_mode colocate built a vLLM engine on every training GPU while the server's
    GPUs sat idle) or refuse it once torchrun had started every process (an AssertionError without a server address,
    or RLHFArguments' ValueError for use_vllm without vllm_mode)."""
    if mode != 'server':
        for key in SERVER_ADDRESS_KEYS:
            if key in overrides:
                return (
                    f'--{key} names a rollout server, which mode {mode} ({MODE_WORDS[mode]}) does not use; swift '
                    'would still wait for it before training: leave the flag out, or choose server mode'
                )
    wanted = {'use_vllm': mode != 'local', 'vllm_mode': MODE_SETTINGS[mode].get('vllm_mode')}
    for key in ('use_vllm', 'vllm_mode'):
        if key not in overrides:
            continue
        value = overrides[key]
        said = _swift_bool(overrides, key) if key == 'use_vllm' else value
        if said != wanted[key]:
            shown = value or "''"  # `--vllm_mode=`: swift's parser refuses the empty choice
            return (
                f'--{key} {shown} says otherwise than mode {mode} ({MODE_WORDS[mode]}): the mode decides where '
                'rollouts run; choose it with MODE= (run_vsi_grpo.sh) or --mode (train_vsi_grpo.py), without the flag'
            )
    return None


def swift_refusal(mode: str, args: Mapping[str, Any]) -> str | None:
    """A combination of arguments that swift's own argument classes refuse once torchrun has started every process,
    as a message; else None. `--warmup_steps N` over the YAML's warmup_ratio is one: flags win over the YAML, but
    swift reads both (trainers/arguments.py: "`warmup_ratio` and `warmup_steps` cannot be set at the same time")."""
    if mode != 'server' and _swift_bool(args, 'async_generate'):
        return (
            f'async_generate needs a rollout server (swift asserts vllm_mode server), which mode {mode} '
            f'({MODE_WORDS[mode]}) has none of: leave it out, or choose server mode'
        )
    ratio, steps = args.get('warmup_ratio'), args.get('warmup_steps')
    if ratio is not None and steps is not None and not _same_number(ratio, 0) and not _same_number(steps, 0):
        return (
            f'warmup_ratio {ratio} and warmup_steps {steps} are both set, which swift refuses: set the other one to 0 '
            '(the YAML sets warmup_ratio: with --warmup_steps, pass --warmup_ratio 0)'
        )
    return None


def _int_arg(args: Mapping[str, Any], key: str) -> int | None:
    value = args.get(key, SWIFT_BATCH_DEFAULTS.get(key))
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LaunchError(f'{key} must be an integer, got {value!r}') from None


def _swift_bool(args: Mapping[str, Any], key: str) -> bool:
    """A switch read as swift reads it (transformers' string_to_bool: yes/no, true/false, t/f, y/n, 1/0 in any case,
    or a YAML boolean); unset is off. Any other value is a LaunchError now, as swift refuses it once its imports are
    done (`on` used to be read as true here, and an empty value as false)."""
    value = args.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).lower()
    if text in ('yes', 'true', 't', 'y', '1'):
        return True
    if text in ('no', 'false', 'f', 'n', '0'):
        return False
    raise LaunchError(f'{key} must be true or false (or yes/no, t/f, y/n, 1/0), got {value!r}')


def eval_reason(args: Mapping[str, Any]) -> str | None:
    """Why swift will evaluate during training (so its eval batch must fit num_generations too), or None.

    swift 4.6 evaluates unless eval_strategy (default: save_strategy, default 'steps') is 'no', and only when there is
    something to evaluate: val_dataset / eval_dataset / cached_val_dataset, or split_dataset_ratio > 0 of the
    dataset, which streaming turns off (arguments/base_args/data_args.py `_init_val_dataset_exists`,
    arguments/sft_args.py where eval_strategy becomes 'no').
    """
    if str(args.get('eval_strategy') or args.get('save_strategy') or 'steps') == 'no':
        return None
    for key in ('val_dataset', 'eval_dataset', 'cached_val_dataset'):
        if _as_list(args.get(key)):
            return f'{key} is set'
    try:
        ratio = float(args.get('split_dataset_ratio') or 0)
    except (TypeError, ValueError):
        raise LaunchError(f'split_dataset_ratio must be a number, got {args["split_dataset_ratio"]!r}') from None
    if ratio > 0 and _as_list(args.get('dataset')) and not _swift_bool(args, 'streaming'):
        return f'split_dataset_ratio {ratio} holds back part of the dataset'
    return None


def streaming_problem(args: Mapping[str, Any]) -> str | None:
    """Why `streaming true` would train wrongly, or None. swift 4.6 hands a streamed dataset to a plain DataLoader
    (trainers/mixin.py, its IterableDataset branch), not to GRPO's RepeatSampler, so a generation round holds one
    completion each of different questions instead of num_generations of one: the group advantages then compare
    unrelated questions, with no error (seen in a CPU run: a reward call got questions synth_0001_004 and
    synth_0005_020 together)."""
    if not _swift_bool(args, 'streaming'):
        return None
    return (
        "streaming true: swift 4.6 streams rows past GRPO's sampler, so each group of num_generations completions "
        'would mix different questions and the advantages compare unrelated answers; leave it out (the datasets are '
        'local files, loaded whole)'
    )


def batch_problem(args: Mapping[str, Any], world_size: int) -> str | None:
    """What swift's `_init_generation_batch_params` would reject for this many training processes, or None.

    Mirrors swift 4.6 (rlhf_trainers/args_mixin.py; tests/test_launchers.py checks that the two agree): the
    completions of a generation round, and of an eval batch when swift evaluates, must make whole groups of
    num_generations. swift runs its check inside every training process once the job has started; this one runs
    before anything starts.
    """
    for name in ('per_device_train_batch_size', 'per_device_eval_batch_size', 'generation_batch_size'):
        value = _int_arg(args, name)
        if value is not None and value <= 0:  # swift's own check passes 0 (0 % n == 0); its dataloader fails on it
            return f'{name} must be positive, got {value}'
    per_device = _int_arg(args, 'per_device_train_batch_size')
    generations = _int_arg(args, 'num_generations')
    generation_batch = _int_arg(args, 'generation_batch_size')
    steps = _int_arg(args, 'steps_per_generation')
    global_batch = per_device * world_size
    label = 'steps_per_generation'
    if generation_batch is None:
        if steps is None:  # swift's default: one generation round per optimizer step
            steps, label = _int_arg(args, 'gradient_accumulation_steps'), 'gradient_accumulation_steps'
        generation_batch = global_batch * steps
    elif steps is None:
        if generation_batch % global_batch:
            return (
                f'generation_batch_size {generation_batch} is not a multiple of per_device_train_batch_size '
                f'{per_device} x {world_size} training process(es) = {global_batch}'
            )
        steps = generation_batch // global_batch
    elif generation_batch != global_batch * steps:
        return (
            f'generation_batch_size {generation_batch} must equal per_device_train_batch_size {per_device} x '
            f'{world_size} training process(es) x steps_per_generation {steps}'
        )
    if steps <= 0:
        return f'{label} must be positive, got {steps}'
    if generations < 2:
        teacher = args.get('teacher_model') is not None or args.get('teacher_model_server') is not None
        if generations == 1 and teacher:
            return None  # on-policy distillation (swift's OPD-RL): one completion per prompt, checked no further
        return (
            f'num_generations must be at least 2 for GRPO (1 with a teacher_model or teacher_model_server), got '
            f'{generations}'
        )
    if generation_batch % generations:
        return (
            f'per_device_train_batch_size {per_device} x {world_size} training process(es) x {label} {steps} = '
            f'{generation_batch} completions per generation round, not a multiple of num_generations {generations}'
        )
    reason = eval_reason(args)
    if reason:
        per_device_eval = _int_arg(args, 'per_device_eval_batch_size')
        eval_generations, eval_label = _int_arg(args, 'num_generations_eval'), 'num_generations_eval'
        if not eval_generations:  # swift: `num_generations_eval or num_generations`
            eval_generations, eval_label = generations, 'num_generations'
        eval_batch = per_device_eval * world_size
        if eval_batch % eval_generations:
            return (
                f'per_device_eval_batch_size {per_device_eval} x {world_size} training process(es) = {eval_batch} '
                f'completions per eval batch, not a multiple of {eval_label} {eval_generations} (swift evaluates '
                f'because {reason}; --eval_strategy no turns evaluation off)'
            )
    return None


def model_len_problem(args: Mapping[str, Any]) -> str | None:
    """vllm_max_model_len below max_length + max_completion_length with vLLM, as a problem line; else None.

    The YAML sizes vLLM for its longest prompt plus a full completion, and a flag changing one of the three (the think
    prompt's --max_completion_length 1024) broke that silently: for a prompt longer than vllm_max_model_len -
    max_completion_length swift cuts the completion short with a warning, and one that fills vllm_max_model_len stops
    the run with a ValueError (InferEngine.set_default_max_tokens, swift/infer_engine/infer_engine.py).
    """
    if not _swift_bool(args, 'use_vllm') or args.get('vllm_max_model_len') is None or args.get('max_length') is None:
        return None  # unset: the model's own lengths
    model_len, prompt = _int_arg(args, 'vllm_max_model_len'), _int_arg(args, 'max_length')
    completion = _int_arg(args, 'max_completion_length')
    if model_len >= prompt + completion:
        return None
    return (
        f'vllm_max_model_len {model_len} is below max_length {prompt} + max_completion_length {completion}: long '
        'prompts would get shorter completions (swift cuts them, with a warning) or stop the run (ValueError); pass '
        f'--vllm_max_model_len {prompt + completion}'
    )


def step_summary(args: Mapping[str, Any], world_size: int) -> str:
    """What one optimizer step learns from with `world_size` training processes, for the dry run and the preflight's
    pass line: the number of questions per step is the one to compare runs by, and it follows the GPU count."""
    per_device, accumulation = (
        _int_arg(args, 'per_device_train_batch_size'),
        _int_arg(args, 'gradient_accumulation_steps'),
    )
    generations = _int_arg(args, 'num_generations')
    completions = per_device * world_size * accumulation
    questions = f' = {completions / generations:g} question(s) x {generations} generations' if generations > 0 else ''
    return (
        f'{completions} completions per optimizer step{questions} (per_device_train_batch_size {per_device} x '
        f'{world_size} training process(es) x gradient_accumulation_steps {accumulation})'
    )


def _plugin_files(args: Mapping[str, Any]) -> list[str]:
    """The files swift imports before training: external_plugins, then custom_register_path (swift appends it); a `~`
    is the home folder, as for swift's import_external_file."""
    keys = ('external_plugins', 'custom_register_path')
    return [os.path.expanduser(path) for key in keys for path in _as_list(args.get(key))]


def _registered_in_source(path: str) -> set[str]:
    """Reward names a Python file registers in plain sight: `orms['name'] = ...` or `orms = {'name': ..., ...}`."""
    names = set()
    for node in ast.walk(ast.parse(Path(path).read_text(encoding='utf-8'), path)):
        for target in node.targets if isinstance(node, ast.Assign) else ():
            if isinstance(target, ast.Subscript) and getattr(target.value, 'id', None) == 'orms':
                keys = [target.slice]
            elif getattr(target, 'id', None) == 'orms' and isinstance(node.value, ast.Dict):
                keys = node.value.keys
            else:
                continue
            names.update(key.value for key in keys if isinstance(key, ast.Constant))
    return names


def tensor_parallel_size(args: Mapping[str, Any]) -> int:
    """vllm_tensor_parallel_size, 1 when unset; below 1 is a LaunchError (0 was read as unset, a negative size made a
    negative data-parallel size for the rollout server)."""
    size = _int_arg(args, 'vllm_tensor_parallel_size')
    if size is not None and size < 1:
        raise LaunchError(f'vllm_tensor_parallel_size must be at least 1, got {size}')
    return size or 1


def reward_weights_problem(args: Mapping[str, Any]) -> str | None:
    """reward_weights that do not give one weight per reward, which swift refuses only after vLLM has started
    (GRPOTrainer prepares the rollout engine before its rewards): a slip when a reward is dropped from the command."""
    weights = _as_list(args.get('reward_weights'))
    gym = ['gym_reward'] if _swift_bool(args, 'use_gym_env') else []
    rewards = [*_as_list(args.get('reward_funcs')), *_as_list(args.get('reward_model')), *gym]  # swift's columns
    if not weights or len(weights) == len(rewards):
        return None
    return (
        f'reward_weights {" ".join(weights)}: {len(weights)} weight(s) for {len(rewards)} reward(s) '
        f'({" ".join(rewards) or "none"}); give one each'
    )


def reward_problem(args: Mapping[str, Any]) -> str | None:
    """A reward_funcs name swift does not know, which swift reports only once the model has loaded (GRPOTrainer).

    swift looks the names up in swift.rewards.orms after importing the plugin files (BaseArguments
    `_import_external_plugins`). Importing swift takes ~10 s (transformers, peft), so names that swift's reward module
    or a plugin registers in plain sight are accepted from their source; any other name is decided by swift's
    registry itself, after importing the plugins as swift does (`import_external_file`).
    """
    wanted, plugins = _as_list(args.get('reward_funcs')), _plugin_files(args)
    if not wanted or not all(os.path.isfile(path) for path in plugins):
        return None  # a missing plugin file is reported on its own
    spec = importlib.util.find_spec('swift')  # finds the package without importing it
    sources = [os.path.join(os.path.dirname(spec.origin), 'rewards', 'orm.py')] if spec and spec.origin else []
    try:
        if set(wanted) <= set().union(*(_registered_in_source(p) for p in sources + plugins if os.path.isfile(p))):
            return None
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        pass  # let the import below say what is wrong
    swift_logger = logging.getLogger('swift')
    level = swift_logger.level
    try:
        from swift.rewards import orms
        from swift.utils import import_external_file

        # swift's INFO lines while the plugins import (vsi_dataset.py's swift.dataset announces its registry) would
        # stand beside the preflight's one line of problems
        swift_logger.setLevel(max(level, logging.WARNING))
        for path in plugins:
            import_external_file(path)
    except Exception as error:  # noqa: BLE001 - a plugin may raise anything while it is imported
        imported = f'swift.rewards and {", ".join(plugins)}' if plugins else 'swift.rewards'
        return f'importing {imported} failed: {type(error).__name__}: {error}'.replace('\n', ' ')
    finally:
        swift_logger.setLevel(level)
    unknown = [name for name in wanted if name not in orms]
    if not unknown:
        return None
    guesses = []
    for name in unknown:
        close = difflib.get_close_matches(name, list(orms), n=1)
        guesses.append(f'{name} (did you mean {close[0]}?)' if close else name)
    return (
        f'reward_funcs: {", ".join(guesses)} not in swift.rewards.orms after importing '
        f'{", ".join(plugins) or "no external_plugins"}; registered: {", ".join(sorted(orms))}'
    )


def _holds_direct_rows(path: str, columns: Mapping[str, str]) -> bool:
    """Whether any row of a local JSON, JSONL or parquet dataset (a file, or each file of a folder's train split) has
    `prompt_style` direct (after swift's `--columns` renaming). Every row counts, not the first: a file joined from a
    think file and a direct one passed when its think rows came first. Of JSON lines only the lines holding the
    literal `"direct"` are decoded (gigabytes at disk speed); a file that cannot be read holds none here
    (dataset_problem reports it)."""
    files = _data_splits(path).get('train', []) if os.path.isdir(path) else [path]
    return any(_file_holds_direct_rows(name, columns) for name in files if os.path.isfile(name))


def _file_holds_direct_rows(path: str, columns: Mapping[str, str]) -> bool:
    def direct(row: Any) -> bool:
        return isinstance(row, dict) and any(
            value == 'direct' for key, value in row.items() if columns.get(key, key) == 'prompt_style'
        )

    try:
        if path.endswith('.parquet'):
            import pyarrow.parquet  # swift's datasets dependency: the one column is read

            table = pyarrow.parquet.ParquetFile(path)
            source = next(
                (name for name in table.schema_arrow.names if columns.get(name, name) == 'prompt_style'), None
            )
            batches = table.iter_batches(columns=[source]) if source else ()
            return any(value == 'direct' for batch in batches for value in batch.column(0).to_pylist())
        if not path.endswith(('.json', '.jsonl')):
            return False
        from preprocess_vsi_data import is_json_lines  # only for a JSON dataset (numpy, Pillow)

        if not is_json_lines(path):  # one JSON array, which swift reads whole too
            with open(path, encoding='utf-8-sig') as f:
                rows = json.load(f)
            return isinstance(rows, list) and any(map(direct, rows))
        with open(path, 'rb') as f:
            # a line may spell it with escapes (`"\u0064irect"`): such lines are decoded too
            return any((b'"direct"' in line or b'\\u' in line) and direct(_decoded(line)) for line in f)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):  # pyarrow's errors are ValueErrors
        return False


def _decoded(line: bytes) -> Any:
    """A JSON line's value, or None where it does not decode (media_problem reports such lines)."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def thinking_problem(plan: LaunchPlan) -> str | None:
    """Direct-prompt training data under `enable_thinking true`, as a problem line; else None.

    The flag makes swift's Qwen3-VL template end every prompt with `<think>\n`, which swift also writes at the start
    of every completion (Template.decode_generate_ids): the first word of each answer is `<think>`. The official
    rule of the direct prompt reads that first word, so vsi_reward_strict would score every completion 0 and
    eval_vsi_bench.py could not score the adapter (it refuses --enable_thinking with the direct prompt). The think
    prompt style is read after `</think>`, and vsi_reward / vsi_format take the completions as they are.
    """
    if not _swift_bool(plan.args, 'enable_thinking'):
        return None
    direct = _direct_prompt_datasets(plan)
    if not direct:
        return None
    return (
        f'enable_thinking true starts every completion with <think>, but dataset {", ".join(direct)} holds '
        'direct-prompt rows, whose official score reads the first word (vsi_reward_strict would score 0, '
        'eval_vsi_bench.py refuses it): write think-style rows (preprocess_vsi_data.py --prompt_style think; '
        'VSI_PROMPT_STYLE=think for vsi_raw)'
    )


def format_reward_problem(plan: LaunchPlan) -> str | None:
    """`vsi_format` among the rewards of direct-prompt training data, as a problem line; else None.

    The direct prompt asks for the answer alone ("Answer with the option's letter ... directly"); vsi_format pays
    only for `<think>...</think> <answer>...</answer>`, so the two rewards would pull against the prompt, and an
    answer in that layout scores 0 under the official rule the evaluator applies to direct runs.
    """
    if 'vsi_format' not in _as_list(plan.args.get('reward_funcs')) or _swift_bool(plan.args, 'enable_thinking'):
        return None  # under enable_thinking, thinking_problem reports such rows
    direct = _direct_prompt_datasets(plan)
    if not direct:
        return None
    return (
        f'reward_funcs vsi_format pays for the <think>...</think> <answer>...</answer> layout, but dataset '
        f'{", ".join(direct)} holds direct-prompt rows, which ask for the answer alone: write think-style rows '
        '(preprocess_vsi_data.py --prompt_style think; VSI_PROMPT_STYLE=think for vsi_raw) or drop vsi_format'
    )


def _direct_prompt_datasets(plan: LaunchPlan) -> list[str]:
    """The plan's training and validation datasets that hold a row whose `prompt_style` is direct (local files, and
    vsi_train / vsi_raw through their variables), named for a problem line."""
    environ, columns = {**plan.env, **os.environ}, _columns(plan.args.get('columns'))
    direct = [
        path
        for key in ('dataset', 'val_dataset')
        for path in dataset_files(plan.args, key)
        if _holds_direct_rows(path, columns)
    ]
    names = dataset_names(plan.args)
    path = environ.get('VSI_TRAIN_JSONL')
    if 'vsi_train' in names and path and _holds_direct_rows(os.path.expanduser(path), columns):
        direct.append(f'vsi_train ({path})')
    if 'vsi_raw' in names and (environ.get('VSI_PROMPT_STYLE') or 'direct') == 'direct':
        direct.append('vsi_raw (VSI_PROMPT_STYLE direct)')
    return direct


# The trainer writes a checkpoint's files one after another and trainer_state.json last (transformers'
# Trainer._save_checkpoint), so a checkpoint without it was cut off while saving; swift points `last-checkpoint` in
# the run folder at the latest checkpoint written in full (swift.utils.update_last_checkpoint_symlink), also with
# flash checkpoints (use_flash_ckpt), which write trainer_state.json first and the weights later.
TRAINER_STATE = 'trainer_state.json'
CHECKPOINT_NAME = re.compile(r'checkpoint-(\d+)')
LAST_CHECKPOINT = 'last-checkpoint'


def saved_in_full(checkpoint: Path) -> bool:
    """Whether `checkpoint` holds a whole trainer_state.json. transformers writes it with a plain write: a kill while
    writing it leaves a cut-off file, on which a resume fails (JSONDecodeError) after the model has loaded."""
    try:
        with open(checkpoint / TRAINER_STATE, encoding='utf-8') as f:
            json.load(f)
    except (OSError, ValueError):
        return False
    return True


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The latest checkpoint of `run_dir` saved in full: the one swift's `last-checkpoint` names, else the
    checkpoint-N folder with the highest N that holds a whole trainer_state.json; None if none."""
    link = run_dir / LAST_CHECKPOINT
    if link.is_symlink() and saved_in_full(link):
        return link.resolve()
    steps = [
        (int(match.group(1)), child)
        for child in run_dir.glob('checkpoint-*')
        if (match := CHECKPOINT_NAME.fullmatch(child.name))
    ]
    # from the highest step down, decoding trainer_state.json (which grows with the log) only until one is whole
    return next((child for _, child in sorted(steps, reverse=True) if saved_in_full(child)), None)


def checkpoint_place(folder: Path) -> tuple[str | None, Path | None]:
    """Where `folder` (links resolved) sits among training's folders, and the checkpoint to use from there.

    'checkpoint': a checkpoint-N folder cut off while saving, with the latest checkpoint of its run saved in full;
    'run': a folder of checkpoint-N folders, with its latest saved in full; 'output': swift's output_dir, a folder
    of runs (v0-<time>, v1-<time>, ...), with the latest checkpoint saved in full of the run that saved last;
    None: none of these (a checkpoint saved in full without what the caller needs, e.g. a full fine-tune's).
    """
    real = folder.resolve()
    if not real.is_dir():
        return None, None
    if CHECKPOINT_NAME.fullmatch(real.name):
        return (None, None) if saved_in_full(real) else ('checkpoint', latest_checkpoint(real.parent))
    if any(real.glob('checkpoint-*')):
        return 'run', latest_checkpoint(real)
    runs = [child for child in real.iterdir() if child.is_dir() and any(child.glob('checkpoint-*'))]
    if runs:
        saved = [latest for run in runs if (latest := latest_checkpoint(run))]
        return 'output', max(saved, key=lambda c: (c / TRAINER_STATE).stat().st_mtime, default=None)
    return None, None


# Per place of checkpoint_place: what the folder is, where its checkpoints are, which checkpoint is named.
CHECKPOINT_PLACES = {
    'checkpoint': (f'it was cut off while saving (no whole {TRAINER_STATE}, the file saved last)', 'beside it', ''),
    'run': ('it is a run folder', 'in it', ''),
    'output': ('it is an output folder holding runs', 'in its runs', 'of its latest run '),
}


def checkpoint_hint(folder: Path) -> str:
    """What `folder` is and the checkpoint to use instead, for a message about a folder that is not a checkpoint;
    '' when it is not among the folders of training."""
    place, latest = checkpoint_place(folder)
    if place is None:
        return ''
    what, where, of_run = CHECKPOINT_PLACES[place]
    if latest:
        return f'{what}; use {latest}, the latest checkpoint {of_run}saved in full'
    return f'{what}; no checkpoint {where} was saved in full'


def resume_problem(args: Mapping[str, Any], world_size: int | None = None) -> str | None:
    """A `resume_from_checkpoint` swift would refuse only after the model (and vLLM) had loaded, as a problem line
    naming the checkpoint to resume from; else None.

    Slips when a run is cut off: naming the run folder (or the output folder above it) instead of a checkpoint
    (swift then fails with "Mixed using with peft is not allowed now"), and naming the newest checkpoint when the run
    was killed while saving it (no trainer_state.json, or a cut-off one: FileNotFoundError, JSONDecodeError). With
    `resume_only_model` and `ignore_data_skip` swift loads the weights only, as from `--adapters`, and reads no trainer
    state. A full resume must also find the optimizer state as this run keeps it (_deepspeed_state_problem, with
    `world_size` processes) and be set as the checkpoint was where it restores the saved state (_changed_on_resume).
    """
    value = args.get('resume_from_checkpoint')
    if value is None:  # the text 'None' is a path to swift (SftArguments: to_abspath, FileNotFoundError)
        return None
    path = Path(os.path.expanduser(str(value)))
    if not path.is_dir():
        state = 'is a file, not a checkpoint folder' if path.exists() else 'not found'
        return f'resume_from_checkpoint {value} {state} (relative paths start at {os.getcwd()})'
    if _swift_bool(args, 'resume_only_model') and _swift_bool(args, 'ignore_data_skip'):
        return None
    if not saved_in_full(path):
        hint = checkpoint_hint(path) or f'no whole {TRAINER_STATE}, no checkpoint-N folders'
        return f'resume_from_checkpoint {value} is not a checkpoint: {hint}'
    # resume_only_model alone still loads DeepSpeed's optimizer state (transformers' deepspeed_load_checkpoint)
    saved = _saved_args(path)
    return (
        _deepspeed_state_problem(value, path, args, world_size)
        or _changed_on_resume(value, saved, args)
        or _data_position_problem(value, saved, args, world_size)
        or _finished_problem(value, path, saved, args)
    )


def _saved_args(checkpoint: Path) -> dict:
    """The args.json swift saves with every checkpoint; {} where there is none to read."""
    try:
        saved = json.loads((checkpoint / 'args.json').read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _as_number(value: Any) -> float | None:
    """A setting as a number, None where it is none (unset, or not numeric)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _same_number(a: Any, b: Any) -> bool:
    """Whether two settings are the same number however written (`4`, `'4'`, `4.0`); as text where either is none."""
    numbers = _as_number(a), _as_number(b)
    return numbers[0] == numbers[1] if None not in numbers else str(a) == str(b)


# What a full resume restores as saved, whatever the run asks: the schedule (its base rates: transformers loads the
# scheduler's state) and the adapter's shape. A run resumed with another learning_rate trained on the old one, with
# the new one in its args.json; one with another lora_rank kept the saved adapter.
RESTORED_ON_RESUME = {
    'learning_rate': 'schedule',
    'lr_scheduler_type': 'schedule',
    'tuner_type': 'adapter',
    'lora_rank': 'adapter',
    'lora_alpha': 'adapter',
    'target_modules': 'adapter',
}


def _changed_on_resume(value: Any, saved: Mapping[str, Any], args: Mapping[str, Any]) -> str | None:
    """A setting of RESTORED_ON_RESUME that this run gives otherwise than the checkpoint's args.json (`saved`)
    records; None when they agree, or where either does not say."""

    def normal(field: str, setting: Any) -> Any:
        values = _as_list(setting)
        try:
            return [float(v) for v in values] if field in ('learning_rate', 'lora_rank', 'lora_alpha') else values
        except ValueError:
            return values

    # resume_only_model loads the weights and leaves the optimizer and schedule new (swift's mixin), but not under
    # DeepSpeed, whose checkpoint loading brings its optimizer and scheduler back (read in the source, not run)
    fresh_schedule = _swift_bool(args, 'resume_only_model') and not args.get('deepspeed')
    for field, what in RESTORED_ON_RESUME.items():
        if field not in args or saved.get(field) is None or normal(field, args[field]) == normal(field, saved[field]):
            continue
        if what == 'schedule' and fresh_schedule:
            continue
        instead = (
            'load its weights alone with --resume_only_model true --ignore_data_skip true (the optimizer and schedule '
            'anew)'
            if what == 'schedule'
            else 'start a new run'
        )
        return (
            f'resume_from_checkpoint {value} was saved with {field} {saved[field]!r}, and this run sets '
            f'{args[field]!r}: a resume restores the {what} as saved, so {field} would stay {saved[field]!r} while '
            f'the new run records {args[field]!r}; resume with {saved[field]!r}, or {instead}'
        )
    return None


# What a full resume finds its place in the data by: transformers skips the batches the checkpoint trained, counted
# in this run's batches (global_step x gradient_accumulation_steps batches of this run's size: Trainer's
# skip_first_batches), and warns at most about a changed batch size. Measured on CPU with the tiny model: resumed
# with a batch of 4 instead of 2, or 2 accumulation steps instead of 1, two questions were never trained; with
# num_generations 4 instead of 2, one was trained twice; each run exited 0.
DATA_POSITION = (
    'per_device_train_batch_size',
    'gradient_accumulation_steps',
    'num_generations',
    'steps_per_generation',
    'generation_batch_size',
)


def _data_position_problem(
    value: Any, saved: Mapping[str, Any], args: Mapping[str, Any], world_size: int | None
) -> str | None:
    """A setting of DATA_POSITION, or the number of training processes, that this run gives otherwise than the
    checkpoint's args.json (`saved`) records, unless `ignore_data_skip` starts the data anew; else None. Settings left
    out take swift's defaults (SWIFT_BATCH_DEFAULTS); one that either side does not say is not compared."""
    if _swift_bool(args, 'ignore_data_skip'):
        return None
    changes = [(field, saved.get(field), args.get(field, SWIFT_BATCH_DEFAULTS.get(field))) for field in DATA_POSITION]
    changes.append(('training processes', saved.get('global_world_size'), world_size))
    for field, old, new in changes:
        if old is None or new is None or _same_number(old, new):
            continue
        return (
            f'resume_from_checkpoint {value} was saved with {field} {old}, and this run has {new}: a resume skips '
            "the batches the checkpoint trained counted in this run's batches, so it would skip questions never "
            f'trained or train some twice; resume with {old}, or pass --ignore_data_skip true to go through the data '
            'from its start again'
        )
    return None


def _finished_problem(value: Any, path: Path, saved: Mapping[str, Any], args: Mapping[str, Any]) -> str | None:
    """A checkpoint at or past the length this run asks for; else None. With max_steps above 0 the run ends there; else
    its epochs decide, and a run that ended by the same num_train_epochs (max_steps unset when saved too) has nothing
    left. transformers then trains nothing (exit 0, after loading the model and vLLM) or one step past the end
    (measured: step 5/4, at the schedule's last rate). A longer run goes on from the checkpoint."""
    try:
        state = json.loads((path / TRAINER_STATE).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None
    step, last = (state.get('global_step'), state.get('max_steps')) if isinstance(state, dict) else (None, None)
    if not isinstance(step, int):
        return None
    max_steps, epochs = args.get('max_steps', -1), args.get('num_train_epochs', 3.0)
    new_max, saved_max = _as_number(max_steps), _as_number(saved.get('max_steps'))
    if new_max is None:
        return None
    if new_max > 0:
        ended, asked = step >= new_max, f'max_steps {max_steps}'
    else:  # the epochs' length in steps is known only from the saved run of the same epochs and no max_steps
        ended = (
            isinstance(last, int)
            and 0 < last <= step
            and saved_max is not None
            and saved_max <= 0
            and saved.get('num_train_epochs') is not None
            and _same_number(epochs, saved['num_train_epochs'])
        )
        asked = f'num_train_epochs {epochs}'
    if not ended:
        return None
    return (
        f'resume_from_checkpoint {value} is at step {step}, and this run asks for no more ({asked}): it would train '
        'nothing, or one step past the end; raise --max_steps or --num_train_epochs to train on, or start a new run'
    )


def _deepspeed_state_problem(value: Any, path: Path, args: Mapping[str, Any], world_size: int | None) -> str | None:
    """A checkpoint whose optimizer state a DeepSpeed run cannot load, found after the model and vLLM have loaded:
    one saved without DeepSpeed (MODE=local drops it) has no global_step folder (transformers: "Can't find a valid
    checkpoint"), and ZeRO cannot split optimizer states saved by another number of processes anew (DeepSpeed: "used
    a DP world size of 8 but the current world size is 6"), e.g. a colocate run resumed in MODE=server."""
    if not args.get('deepspeed'):
        return None
    weights_only = 'or --resume_only_model true --ignore_data_skip true to load its weights alone (the optimizer anew)'
    tag = path / 'latest'  # DeepSpeed's pointer to the folder it loads
    state = path / tag.read_text().strip() if tag.is_file() else next(iter(sorted(path.glob('global_step*'))), None)
    if state is None or not state.is_dir():
        return (
            f'resume_from_checkpoint {value} holds no DeepSpeed state (saved without DeepSpeed, as MODE=local saves), '
            f'and this run uses deepspeed {args["deepspeed"]}: resume with --deepspeed "" {weights_only}'
        )
    saved = len(list(state.glob('*_optim_states.pt')))  # one file a data-parallel rank
    if world_size and saved and saved != world_size:
        return (
            f'resume_from_checkpoint {value} holds the DeepSpeed optimizer states of {saved} training processes, and '
            f'this run has {world_size}: DeepSpeed cannot split them anew; resume on {saved} (the same MODE and '
            f'TRAIN_GPUS as the run that saved it), {weights_only}'
        )
    return None


# --preflight's line when nothing is wrong (run_vsi_grpo.sh, which checks the GPUs itself, shows only problems)
PREFLIGHT_PASSED = 'preflight passed (the GPUs are not checked here: run_vsi_grpo.sh checks them)'
REGISTER_FILE = 'vsi_dataset.py'  # registers the bundle's datasets with swift (--custom_register_path)
# The files vsi_dataset.py's datasets read, by variable (a comma-separated list for VSI_RAW_QA, as it reads it).
# Spelt here because importing vsi_dataset imports swift (seconds); tests/test_dataset_swift.py checks they agree.
REGISTERED_DATASET_VARIABLES = {'vsi_train': ('VSI_TRAIN_JSONL',), 'vsi_raw': ('VSI_RAW_QA', 'VSI_FRAMES_DIR')}
# Every variable vsi_dataset.py reads (its ENV_VARS), to tell a misspelt one, which it would ignore.
VSI_DATASET_VARIABLES = frozenset(
    {
        *('VSI_TRAIN_JSONL', 'VSI_RAW_QA', 'VSI_FRAMES_DIR', 'VSI_NUM_FRAMES', 'VSI_PROMPT_STYLE', 'VSI_MEDIA'),
        *('VSI_EXCLUDE_SCENES', 'VSI_QUESTION_TYPES', 'VSI_MAX_PER_TYPE', 'VSI_SHUFFLE', 'VSI_SEED', 'VSI_VIDEO_FPS'),
        *('VSI_CLIPS_DIR', 'VSI_ALLOW_FEWER_FRAMES'),
    }
)


# The image and video variables swift reads for Qwen-VL models, and passes on to qwen-vl-utils: patch_qwen_vl_utils
# and compat_qwen_vl_utils (swift/model/models/qwen.py), and the template's ROOT_IMAGE_DIR (swift/template/base.py).
MEDIA_VARIABLES = frozenset(
    {
        *('MAX_PIXELS', 'MIN_PIXELS', 'VIDEO_MAX_PIXELS', 'VIDEO_MIN_PIXELS', 'VIDEO_TOTAL_PIXELS', 'IMAGE_FACTOR'),
        *('MAX_RATIO', 'FRAME_FACTOR', 'FPS', 'FPS_MIN_FRAMES', 'FPS_MAX_FRAMES', 'SPATIAL_MERGE_SIZE'),
        *('IMAGE_MAX_TOKEN_NUM', 'IMAGE_MIN_TOKEN_NUM', 'VIDEO_MAX_TOKEN_NUM', 'VIDEO_MIN_TOKEN_NUM', 'ROOT_IMAGE_DIR'),
    }
)


# The GPU layout and rollout server variables of run_vsi_grpo.sh; names that start as they do and are close to one are
# typos (TRAIN_GPU trained on every GPU). Only these prefixes: PYTHONPATH is close to PYTHON, MODEL to MODE.
LAUNCHER_VARIABLES = frozenset(
    {
        'TRAIN_GPUS',
        'ROLLOUT_GPUS',
        'ROLLOUT_HOST',
        'ROLLOUT_PORT',
        'ROLLOUT_GROUP_PORT',
        'ROLLOUT_TIMEOUT',
        'NPROC_PER_NODE',
    }
)
LAUNCHER_VARIABLE_PREFIXES = ('TRAIN_', 'ROLLOUT_', 'NPROC')


def misspelt_variable_problems(plan: LaunchPlan, names: Iterable[str], known: frozenset[str], reader: str) -> list[str]:
    """Each of `names` (variables of the shell or the YAML's ENV) that is close to one of `known` (TYPO_CUTOFF) but not
    one of them, as a problem line with a did-you-mean: `reader` would ignore it, silently (MAX_PIXEL: frames at the
    default size, several times the visual tokens)."""
    problems = []
    for variable in sorted(names):
        close = difflib.get_close_matches(variable, known, n=1, cutoff=TYPO_CUTOFF)
        if close and variable not in known:
            where = f' (ENV of {plan.config})' if variable in plan.env else ''
            problems.append(f'{variable}{where} is not a variable {reader} reads: did you mean {close[0]}?')
    return problems


def train_media_problem(path: str) -> str | None:
    """What vsi_train's loader would refuse in the JSONL `path` (preprocess_vsi_data.checked_media_folder: a file swift
    would not read as rows, e.g. not named .jsonl, media missing from beside the file, or frames extracted again since
    it was written), as a problem line; None if nothing. Its
    paths are made absolute from the file's folder, so ROOT_IMAGE_DIR plays no part (media_problem's concern)."""
    from preprocess_vsi_data import VsiDataError, checked_media_folder  # only once vsi_train is named

    try:
        checked_media_folder(path)
    except (FileNotFoundError, VsiDataError) as e:
        return str(e)
    return None


def registered_dataset_problems(plan: LaunchPlan, columns: Mapping[str, str]) -> list[str]:
    """The bundle's registered datasets with a variable unset or naming nothing: swift loads datasets only after the
    model (and vLLM), so vsi_dataset.py would say so minutes in. Variables come from the shell or the YAML's ENV."""
    environ = {**plan.env, **os.environ}
    problems = []
    registers = any(os.path.basename(path) == REGISTER_FILE for path in _as_list(plan.args.get('custom_register_path')))
    named = sorted(dataset_names(plan.args) & set(REGISTERED_DATASET_VARIABLES))
    if named:  # a misspelt setting would be ignored: 32 frames, not 16
        vsi = [variable for variable in environ if variable.startswith('VSI_')]
        problems += misspelt_variable_problems(plan, vsi, VSI_DATASET_VARIABLES, REGISTER_FILE)
    for name in named:
        if not registers:  # swift would look the name up on the ModelScope hub, after the model has loaded
            problems.append(
                f'dataset {name} is registered by {REGISTER_FILE}, which custom_register_path does not list (the YAML '
                f'does; a --custom_register_path flag replaces its list): add --custom_register_path {REGISTER_FILE}'
            )
        for variable in REGISTERED_DATASET_VARIABLES[name]:
            # `~` is the home folder, as vsi_dataset.py reads it (a YAML's ENV passes it on as written)
            paths = [os.path.expanduser(p.strip()) for p in environ.get(variable, '').split(',') if p.strip()]
            if not paths:
                problems.append(f'dataset {name} needs {variable} (README section 2)')
            for path in paths:
                if not os.path.exists(path):
                    problems.append(f'{variable}={path} does not exist (relative paths start at {os.getcwd()})')
                elif variable == 'VSI_TRAIN_JSONL' and os.path.isdir(path):  # vsi_dataset loads one file
                    problems.append(f'{variable}={path} is a folder; name the JSONL file preprocess_vsi_data.py wrote')
                elif variable == 'VSI_TRAIN_JSONL':
                    problem = dataset_problem(path, columns) or train_media_problem(path)
                    if problem:
                        problems.append(f'{variable}: {problem}')
    return problems


def convert_raw_dataset(plan: LaunchPlan) -> list[str]:
    """Convert the `vsi_raw` dataset the plan names now, as swift would when it loads it (vsi_dataset.convert_raw):
    swift loads it after the model and vLLM, so missing frames or a row `--strict` refuses stopped the run minutes in.
    The converted file is cached by its inputs and settings, so swift's load (here, or under `swift rlhf` with the same
    environment, the YAML's ENV included) reuses it. A problem line, or none."""
    if 'vsi_raw' not in dataset_names(plan.args):
        return []
    saved = dict(os.environ)
    os.environ.update(plan.env)  # the settings and the cache folder swift's processes will see
    try:
        import vsi_dataset

        vsi_dataset.convert_raw(strict=_swift_bool(plan.args, 'strict'))
    except (ValueError, OSError) as error:
        return [str(error)]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return []


def preflight(plan: LaunchPlan, world_size: int, vllm_gpus: int | None = None) -> list[str]:
    """Problems that would stop the run later, as one line each: missing or wrong files (a checkpoint to resume from
    included), dataset names, VSI_* and image/video variables (MEDIA_VARIABLES) that look misspelt, rows with more
    media than vLLM takes per prompt, the vLLM split, the batch, vLLM's length, direct-prompt rows under
    enable_thinking or vsi_format, unknown reward names."""
    problems = []
    where = f'relative paths start at {os.getcwd()}'
    columns = _columns(plan.args.get('columns'))
    environ = {**plan.env, **os.environ}  # what swift's processes will see (the YAML's ENV sets only unset ones)
    for key in ('dataset', 'val_dataset'):
        for path in dataset_files(plan.args, key):
            problem = dataset_problem(path, columns)
            if problem:
                problems.append(f'{key} {problem}')
        names = [dataset_path(entry) for entry in _as_list(plan.args.get(key))]
        problems += [line for line in (dataset_name_problem(key, name) for name in names) if line]
    problems += dataset_entry_problems(plan.args)
    if not problems:  # the files hold swift rows: are their frames where swift will look, and within vLLM's limits?
        root = plan.env.get('ROOT_IMAGE_DIR')
        for name in sorted(dataset_names(plan.args)):
            checks = (
                media_problem(name, root),
                media_limit_problem(name, plan.args, environ),
                clip_frames_problem(name, environ),
            )
            problems += [line for line in checks if line]
    problems += registered_dataset_problems(plan, columns)
    problems += misspelt_variable_problems(plan, environ, MEDIA_VARIABLES, 'swift or qwen-vl-utils')
    launcher = [name for name in os.environ if name.startswith(LAUNCHER_VARIABLE_PREFIXES)]  # the shell's alone
    problems += misspelt_variable_problems(plan, launcher, LAUNCHER_VARIABLES, 'run_vsi_grpo.sh')
    problems += media_variable_problems(environ)
    for key in ('external_plugins', 'custom_register_path'):
        for path in _as_list(plan.args.get(key)):
            if not os.path.isfile(os.path.expanduser(path)):  # swift's import_external_file expands `~`
                problems.append(f'{key} file {path} not found ({where}; run from the bundle folder)')
    model = str(plan.args.get('model', ''))
    problem = model_folder_problem(model)
    if problem:
        problems.append(f'model folder {model} {problem} ({where})')
    problem = output_folder_problem(run_output_dir(plan.args))
    if problem:
        problems.append(problem)
    problem = resume_problem(plan.args, world_size)
    if problem:
        problems.append(problem)
    if _swift_bool(plan.args, 'use_vllm') and vllm_gpus is not None:
        tp = tensor_parallel_size(plan.args)
        if vllm_gpus % tp:
            problems.append(f'vllm_tensor_parallel_size {tp} does not divide the {vllm_gpus} GPU(s) vLLM runs on')
    checks = (
        server_lora_rank_problem(plan.args) if plan.mode == 'server' else None,
        streaming_problem(plan.args),
        batch_problem(plan.args, world_size),
        model_len_problem(plan.args),
        thinking_problem(plan),
        format_reward_problem(plan),
        reward_weights_problem(plan.args),
    )
    problems += [problem for problem in checks if problem]
    if not problems:  # last, and only when all else is right: it may have to import swift (seconds)
        problem = reward_problem(plan.args)
        if problem:
            problems.append(problem)
    return problems


# Prints each RLHFArguments field as [on by default, a switch] (a switch: what HfArgumentParser, as swift's parse_args
# builds it, lets a flag written alone set: nargs '?', const True); in a subprocess, so that swift's import (seconds)
# leaves neither log lines on the preflight's stderr nor its loggers' settings in this process, which may train next.
SWIFT_FIELDS_SCRIPT = (
    'import dataclasses, json; from transformers import HfArgumentParser; from swift.arguments import RLHFArguments; '
    'switches = {a.dest for a in HfArgumentParser([RLHFArguments])._actions if a.nargs == "?" and a.const is True}; '
    'print(json.dumps({f.name: [f.default is True, f.name in switches] for f in dataclasses.fields(RLHFArguments)}))'
)


def argument_name_problems(plan: LaunchPlan) -> list[str]:
    """The plan's keys that are not swift rlhf arguments, or only the start of one, and flags written alone (true)
    for an argument that takes a value (resolve refuses those only for the YAML's keys), as problem lines naming the
    YAML key or the flag.

    swift's parser reports an unknown name only when it reads its arguments, after the run folder exists and without
    saying it came from the YAML, and it takes a unique start of a name for the argument: `--lora_ran 32` trained at
    rank 32 while the plan, and every check here, said the YAML's 16. The names are RLHFArguments' fields, and
    `no_<field>` for a switch that is on by default (transformers' HfArgumentParser adds those). Importing swift takes
    seconds: only a real run's preflight asks, not a dry run.
    """
    proc = subprocess.run([sys.executable, '-c', SWIFT_FIELDS_SCRIPT], capture_output=True, text=True, check=False)
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ['no output'])[-1]
        return [f'importing swift.arguments to check the argument names failed: {last}']
    fields = json.loads(proc.stdout.splitlines()[-1])
    names = set(fields) | {f'no_{name}' for name, (on, _) in fields.items() if on}
    problems = []
    for key in plan.args:
        name = swift_name(key)
        if name in names:
            if key in plan.flags and plan.args[key] is True and name in fields and not fields[name][1]:
                problems.append(
                    f'flag --{key} has no value, and {name} takes one; a flag written alone means true, which only a '
                    'switch such as --use_vllm takes'
                )
            continue
        where = f'flag --{key}' if key in plan.flags else f'YAML key {key} ({plan.config})'
        longer = sorted(full for full in names if full.startswith(name))
        if longer:
            problems.append(
                f'{where} is short for {" or ".join(longer)} (swift would expand it, unseen by the plan and its '
                'checks): write the name in full'
            )
            continue
        close = difflib.get_close_matches(name, names, n=1)
        hint = f'did you mean {close[0]}?' if close else '`swift rlhf --help` lists them'
        problems.append(f'{where} is not a swift rlhf argument: {hint}')
    return problems


def server_lora_rank_problem(args: Mapping[str, Any]) -> str | None:
    """A vllm_max_lora_rank below lora_rank with vllm_enable_lora: the rollout server (rollout_args) could not load the
    trainer's LoRA weights. Asked by the preflight too, so that run_vsi_grpo.sh reports it with the other problems."""
    given = _int_arg(args, 'vllm_max_lora_rank')
    if not _swift_bool(args, 'vllm_enable_lora') or args.get('lora_rank') is None or given is None:
        return None
    if given >= _int_arg(args, 'lora_rank'):
        return None
    return (
        f'vllm_max_lora_rank {given} is below lora_rank {args["lora_rank"]}: the rollout server could not load the '
        "trainer's LoRA weights; raise it, or leave it out (the server is then sized to lora_rank)"
    )


def rollout_args(plan: LaunchPlan, rollout_gpus: int) -> dict[str, Any]:
    """`swift rollout` arguments that serve the plan's model on `rollout_gpus` GPUs at its vllm_server address; with
    vllm_enable_lora, LoRA up to lora_rank unless vllm_max_lora_rank is given."""
    args = {key: plan.args[key] for key in ROLLOUT_KEYS if key in plan.args}
    tp = tensor_parallel_size(plan.args)
    if rollout_gpus < tp or rollout_gpus % tp:
        raise LaunchError(f'vllm_tensor_parallel_size {tp} does not divide the {rollout_gpus} rollout GPU(s)')
    args['vllm_data_parallel_size'] = rollout_gpus // tp
    rank = plan.args.get('lora_rank')
    if _swift_bool(plan.args, 'vllm_enable_lora') and rank is not None:
        # colocated engines take lora_rank as their max_lora_rank (swift/rlhf_trainers/rollout_mixin.py); swift
        # rollout's own default is 16, which a larger lora_rank's weights would not fit when the trainer syncs them
        problem = server_lora_rank_problem(plan.args)
        if problem:
            raise LaunchError(problem)
        args.setdefault('vllm_max_lora_rank', rank)
    args['host'] = (_as_list(plan.args.get('vllm_server_host')) or [DEFAULT_SERVER_HOST])[0]
    args['port'] = (_as_list(plan.args.get('vllm_server_port')) or [DEFAULT_SERVER_PORT])[0]
    return args


def visible_gpus(environ: Mapping[str, str]) -> list[str]:
    """GPU ids a process started with this environment may use: CUDA_VISIBLE_DEVICES when it is set (a scheduler's
    choice; empty means none, as for CUDA), else what `nvidia-smi --list-gpus` lists, else none.

    Counted without torch, whose import takes seconds; run_vsi_grpo.sh plans its GPUs from this list too
    (`--print visible_gpus`).
    """
    if 'CUDA_VISIBLE_DEVICES' in environ:
        gpus = []
        for gpu in (gpu.strip() for gpu in environ['CUDA_VISIBLE_DEVICES'].split(',')):
            # CUDA reads the list up to a negative id: `-1` is the usual way to say "none", as is older Slurm's
            # `NoDevFiles` in a job given no GPU
            if gpu.startswith('-') or gpu == 'NoDevFiles':
                break
            if not gpu:
                continue
            if not re.fullmatch(r'\d+|(?:GPU|MIG)-[\w/.-]+', gpu):  # `0 1` was counted as one GPU
                raise LaunchError(
                    f'CUDA_VISIBLE_DEVICES={environ["CUDA_VISIBLE_DEVICES"]}: {gpu!r} is no GPU id (ids are numbers or '
                    'GPU-/MIG- UUIDs, separated by commas)'
                )
            gpus.append(gpu)
        if len(set(gpus)) < len(gpus):
            raise LaunchError(
                f'CUDA_VISIBLE_DEVICES={environ["CUDA_VISIBLE_DEVICES"]} names a GPU twice, which leaves CUDA no GPU '
                'at all (cuInit fails): name each once'
            )
        return gpus
    nvidia_smi = shutil.which('nvidia-smi', path=environ.get('PATH'))
    if nvidia_smi is None:
        return []
    listing = subprocess.run(
        [nvidia_smi, '--list-gpus'], capture_output=True, text=True, check=False, env=dict(environ)
    ).stdout
    return re.findall(r'^GPU (\d+):', listing, flags=re.MULTILINE)


def gpu_problem(plan: LaunchPlan, environ: Mapping[str, str]) -> str | None:
    """vLLM without a GPU, refused before swift looks for the model (a hub download, then a traceback).

    The same words and GPU count as run_vsi_grpo.sh's refusal, which it gets from `--print visible_gpus` (see main).
    """
    return NO_GPU if _swift_bool(plan.args, 'use_vllm') and not visible_gpus(environ) else None


def device_map_problem(plan: LaunchPlan, environ: Mapping[str, str]) -> str | None:
    """swift's refusal of GRPO with vLLM in a process that sees 2+ GPUs (or a number of GPUs that its node's process
    count does not divide), said before swift loads, with the fix.

    swift gives a process `GPUs // processes on the node` devices and then spreads the model over them (`device_map`,
    swift/utils/env.py `is_mp`), which `_check_grpo` (swift/arguments/rlhf_args.py) rejects when vLLM is used. Outside
    torchrun swift counts one process per node (`set_default_ddp_config`), so plain `python` on a multi-GPU node fails.
    """
    if not _swift_bool(plan.args, 'use_vllm') or environ.get('SWIFT_SINGLE_DEVICE_MODE') == '1':
        return None
    gpus = len(visible_gpus(environ))
    under_torchrun = environ.get('RANK') and environ.get('LOCAL_RANK')
    per_node = int(environ.get('LOCAL_WORLD_SIZE') or environ.get('LOCAL_SIZE') or 1) if under_torchrun else 1
    if gpus // per_node < 2 and gpus % per_node == 0:
        return None
    if plan.mode == 'server':
        command = (
            "CUDA_VISIBLE_DEVICES=<training GPUs, not the rollout server's> torchrun --nproc_per_node <their number> "
            'train_vsi_grpo.py --mode server ...'
        )
    else:
        command = f'torchrun --nproc_per_node {gpus} train_vsi_grpo.py ...'
    swift = (
        'swift would spread the model over them (device_map), which it refuses for GRPO with vLLM'
        if gpus % per_node == 0
        else 'swift needs their number to be a multiple of the processes (AssertionError in is_mp)'
    )
    return (
        f'{gpus} GPUs visible to each of {per_node} training process(es) on this node: {swift}. Start one process per '
        f'GPU: {command} (run_vsi_grpo.sh does this for you)'
    )


def env_count(environ: Mapping[str, str], *keys: str) -> int:
    """The first of these variables that is set, as a positive count of processes or nodes (1 when none is set)."""
    key = next((key for key in keys if environ.get(key)), None)
    if key is None:
        return 1
    value = environ[key]
    if not value.strip().isdigit() or int(value) < 1:  # torchrun's `gpu` / `auto` mean nothing to this script
        raise LaunchError(f'{key}={value} is not a positive integer; set it to a number, or unset it')
    return int(value)


def default_world_size(environ: Mapping[str, str]) -> int:
    """Training processes in the whole job: torchrun's WORLD_SIZE, else NPROC_PER_NODE x NNODES, else 1."""
    if environ.get('WORLD_SIZE'):
        return env_count(environ, 'WORLD_SIZE')
    return env_count(environ, 'NPROC_PER_NODE') * env_count(environ, 'NNODES')


def guessed_server_world(plan: LaunchPlan, given: int | None, environ: Mapping[str, str]) -> str | None:
    """Why NPROC_PER_NODE x NNODES is no count of training processes here: in server mode on several nodes, node 0
    trains on fewer GPUs (the others are its rollout server's) than the other nodes, so the batch check would pass or
    fail for another job than the one that runs. None under torchrun (WORLD_SIZE) or with --world_size."""
    nodes = env_count(environ, 'NNODES')
    if plan.mode != 'server' or given or environ.get('WORLD_SIZE') or nodes == 1:
        return None
    return (
        f'server mode on {nodes} nodes: node 0 trains on fewer GPUs than the others (the rest '
        'run its rollout server), so NPROC_PER_NODE x NNODES is not the number of training processes; pass '
        '--world_size (run_vsi_grpo.sh passes its count)'
    )


def train(plan: LaunchPlan) -> dict[str, Any]:
    """Export the plan's environment, build swift's RLHFArguments from its flags and run GRPO."""
    os.environ.update(plan.env)
    os.environ['SWIFT_CONFIG_FILE'] = plan.config  # swift copies the YAML next to args.json, as `swift rlhf` does
    from swift.cli.utils import try_use_single_device_mode

    # as swift/cli/rlhf.py does before importing its pipeline: under torchrun with SWIFT_SINGLE_DEVICE_MODE=1 each
    # process then sees only its own GPU (device_map_problem lets that setting through for this reason)
    try_use_single_device_mode()
    from swift import RLHFArguments, rlhf_main
    from swift.utils import parse_args

    args, remaining = parse_args(RLHFArguments, plan.swift_argv())
    if remaining:
        raise LaunchError(f'not swift arguments: {" ".join(remaining)} (see `swift rlhf --help`)')
    return rlhf_main(args)


def _help_epilog() -> str:
    """--help's text after the options: the docstring's usage examples and modes, then where swift's flags are."""
    usage = __doc__.split('Usage::\n\n', 1)[1].split('\n\n', 1)[0]
    modes = __doc__.split('\nModes:\n', 1)[1].split('\n\n', 1)[0]
    return (
        f'usage examples:\n{usage}\n\nmodes:\n{modes}\n\n'
        'Any other --flag is a swift argument (`swift rlhf --help` lists them) and overrides the YAML.'
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog=_help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # a prefix of a swift flag must never be taken for one of ours
    )
    parser.add_argument(
        '--config', type=os.path.expanduser, default=DEFAULT_CONFIG, help='the GRPO YAML (default: %(default)s)'
    )
    parser.add_argument(
        '--mode',
        choices=MODES,
        help="where rollouts run (default: the YAML's use_vllm / vllm_mode, see modes below; shipped: colocate)",
    )
    parser.add_argument(
        '--dry_run',
        action='store_true',
        help='print the resolved plan as JSON (config, mode, env, swift args, argv, the world size assumed and what '
        "an optimizer step holds, and the preflight's problems: the exit status is 0 even with problems); run nothing",
    )
    parser.add_argument(
        '--preflight',
        action='store_true',
        help='only check config, dataset, plugins, vLLM split and batch arithmetic, and convert the vsi_raw dataset '
        '(not with --dry_run); print one line per problem; exit 1 if any',
    )
    parser.add_argument(
        '--print',
        dest='print_what',
        choices=('env', 'mode', 'mode_args', 'rollout_args', 'yaml_server_address', 'output_dir', 'visible_gpus'),
        help="print for run_vsi_grpo.sh: NAME=value items; the mode (the YAML's without --mode); the mode's swift "
        'flags that the overrides leave unset; '
        "the `swift rollout` arguments, or the YAML's rollout server address (key=value items), each ended by a NUL "
        "byte (a value may hold newlines); the run's output_dir; or the GPU ids this environment sees, one per line "
        '(none: an error, unless with --dry_run)',
    )
    parser.add_argument(
        '--world_size',
        type=int,
        help='training processes in the whole job, for the batch check (default: WORLD_SIZE, else NPROC_PER_NODE x '
        'NNODES, else 1; --mode local: 1; needed in server mode on several nodes outside torchrun)',
    )
    parser.add_argument(
        '--vllm_gpus',
        type=int,
        help='GPUs vLLM runs on: per node in colocate mode, the rollout GPUs in server mode (default: colocate '
        'LOCAL_WORLD_SIZE, else NPROC_PER_NODE, else 1; server: 1 for --print rollout_args, else the split is not '
        'checked)',
    )
    return parser


def print_items(items: Iterable[str]) -> None:
    """`--print`'s answer: each item ended by a NUL byte, the one byte no argument or variable can hold.

    One per line split a multi-line value (a `system` prompt written as a YAML block) into two arguments of
    `swift rollout`, which then refused to start. run_vsi_grpo.sh reads the items back with `mapfile -d ''`.
    """
    sys.stdout.write(''.join(f'{item}\0' for item in items))


def main(argv: Sequence[str] | None = None) -> int:
    opts, overrides = build_parser().parse_known_args(argv)
    try:
        try:
            os.getcwd()
        except FileNotFoundError:  # relative paths (swift's own too) start nowhere: a traceback blamed the YAML
            raise LaunchError('the current folder no longer exists (deleted?): cd to an existing one') from None
        if opts.print_what == 'visible_gpus':  # about this machine, not the config; run_vsi_grpo.sh's modes use vLLM
            gpus = visible_gpus(os.environ)
            if not gpus and not opts.dry_run:  # a dry run lays out the GPUs run_vsi_grpo.sh assumes instead
                raise LaunchError(NO_GPU)
            print('\n'.join(gpus))
            return 0
        if opts.print_what == 'yaml_server_address':  # the YAML's own (SERVER_ADDRESS_KEYS): flags unread
            yaml_args = load_config(opts.config)[1]
            print_items(
                f'{key}={" ".join(_as_list(yaml_args[key]))}' for key in SERVER_ADDRESS_KEYS if key in yaml_args
            )
            return 0
        plan = resolve(opts.config, opts.mode, overrides)
        if opts.print_what == 'mode':  # run_vsi_grpo.sh's MODE when none is set; before its GPU variables are read
            print(plan.mode)
            return 0
        world_size = opts.world_size or (1 if plan.mode == 'local' else default_world_size(os.environ))
        vllm_gpus = opts.vllm_gpus
        if vllm_gpus is None and plan.mode == 'colocate':
            vllm_gpus = env_count(os.environ, 'LOCAL_WORLD_SIZE', 'NPROC_PER_NODE')
        if opts.print_what == 'env':
            print_items(f'{key}={value}' for key, value in plan.env.items())
            return 0
        if opts.print_what == 'mode_args':  # `swift rlhf config.yaml` knows no mode: run_vsi_grpo.sh passes these
            given = parse_overrides(overrides)
            print_items(to_swift_argv({k: v for k, v in MODE_SETTINGS[plan.mode].items() if k not in given}))
            return 0
        if opts.print_what == 'rollout_args':
            print_items(to_swift_argv(rollout_args(plan, vllm_gpus or 1)))
            return 0
        if opts.print_what == 'output_dir':  # without one swift writes to output/<model name>; `~` as swift expands it
            print(run_output_dir(plan.args))
            return 0
        problems = preflight(plan, world_size, vllm_gpus)
        problems += filter(None, [guessed_server_world(plan, opts.world_size, os.environ)])
        if opts.dry_run and not opts.preflight:
            summary = {'world_size': world_size, 'per_optimizer_step': step_summary(plan.args, world_size)}
            print(json.dumps({**asdict(plan), 'argv': plan.swift_argv(), **summary, 'problems': problems}, indent=2))
            return 0
        if not opts.preflight:  # --preflight runs before torchrun does, and run_vsi_grpo.sh checks the GPUs itself
            problem = gpu_problem(plan, os.environ) or device_map_problem(plan, os.environ)
            if problem:
                problems.append(problem)
        if not problems and not opts.dry_run:  # last: swift's argument names take seconds, converting writes a dataset
            problems += argument_name_problems(plan) or convert_raw_dataset(plan)
        if opts.preflight:
            print('\n'.join(problems) or f'{PREFLIGHT_PASSED}; {step_summary(plan.args, world_size)}')
            return 1 if problems else 0
        if problems:
            raise LaunchError('; '.join(problems))
        result = train(plan)
    except LaunchError as error:
        if opts.preflight or opts.print_what in ('mode', 'visible_gpus'):  # a line for run_vsi_grpo.sh to report
            print(error)
            return 1
        print(f'train_vsi_grpo.py: error: {error}', file=sys.stderr)
        return 2
    print(f'train_vsi_grpo.py: done; last checkpoint: {result.get("last_model_checkpoint")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
