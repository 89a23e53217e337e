"""Registers the bundle's datasets with ms-swift, so `--custom_register_path vsi_dataset.py --dataset <name>` works.

Two names:

* `vsi_train`: a JSONL written by `preprocess_vsi_data.py`, given by `VSI_TRAIN_JSONL`. Relative image and video
  paths are resolved against the file's folder (the real file's, for a symlink to it), so the file trains from any
  directory without `ROOT_IMAGE_DIR`. A file whose media are not there (moved away from its frames, frames or clips
  deleted) fails to load, naming the first missing path: every file of its first rows and each frame folder and
  clip are checked.
* `vsi_raw`: raw QA files (any layout `preprocess_vsi_data.py` reads) converted when swift loads them, by the same
  `preprocess_vsi_data.preprocess` the script runs, into `<cache>/vsi_raw/<key>.jsonl` (with its `.summary.json`),
  which then loads exactly as `vsi_train` does. `<cache>` is modelscope's cache folder: `$MODELSCOPE_CACHE`, or
  `~/.cache/modelscope/hub` when that is unset. The key hashes the settings and the identity (path, size, modification
  time) of the QA files, of the frames folder's `manifest.jsonl`, its sub-folders' and the nearest one above it
  (extract_frames.py rewrites it when it extracts) and of the converting code, so a file whose summary shows it
  complete (size and SHA-256) is reused as it is: every rank of every launch loads the same file, and the `datasets`
  library's cache of it stays valid. One process converts (under torchrun the first rank while the others wait, else
  under a file lock); the others reuse its file. A file whose frames or clips have gone, or whose frame folders
  extract_frames.py has written again (their records differ from those its summary kept), is converted again; frames
  changed by other means are not noticed: delete the file (its path is logged). The launchers convert it before swift
  starts (`convert_raw`), so its problems show before the model loads.

  Settings: `VSI_RAW_QA` (files, comma-separated), `VSI_FRAMES_DIR` (the output of `extract_frames.py`),
  `VSI_NUM_FRAMES` (32), `VSI_PROMPT_STYLE` (direct | think), `VSI_MEDIA` (image | video), `VSI_EXCLUDE_SCENES`
  (files, comma-separated; without it a warning is logged), `VSI_QUESTION_TYPES` (comma-separated),
  `VSI_MAX_PER_TYPE`, `VSI_SHUFFLE` (before the cap, as `--shuffle`), `VSI_SEED` (42), `VSI_ALLOW_FEWER_FRAMES` (1/0,
  true/false, yes/no, on/off; so does `VSI_SHUFFLE`) and, for video, `VSI_VIDEO_FPS`
  (2) and `VSI_CLIPS_DIR` (default: `vsi_clips/` next to the frames folder): the script's flags of the same names.
  swift's `--strict true` makes every skipped row an error, as the script's `--strict` does; the conversion summary
  goes to the log.

Only these exact names are ours: a dataset folder or hub id whose last part is `vsi_train` or `vsi_raw` (which swift
would otherwise route here) loads as swift loads any other. swift's `#N` samples them as any dataset; a hub prefix
(`HF::vsi_train`) or a subset (`vsi_train:test`) is refused, since neither is on a hub or has subsets.

The variables are read when swift loads the dataset, not when this file is imported; arguments given to
`register_vsi_datasets` take precedence over them, and a later import of this file (swift's
`--custom_register_path`) keeps them. Both datasets load through swift's own file loader, so
`--columns` and the other dataset flags apply to them as to any JSONL. Media paths are made absolute, and columns
`solution`, `question_type`, `options`, `id`, `scene_name`, `prompt_style` reach the reward functions (GRPO keeps
extra columns).

Usage::

    VSI_TRAIN_JSONL=data/train.jsonl swift rlhf --rlhf_type grpo --custom_register_path vsi_dataset.py \\
        --dataset vsi_train ...
    VSI_RAW_QA=train_qa.jsonl VSI_FRAMES_DIR=data/frames VSI_EXCLUDE_SCENES=test.jsonl swift rlhf --rlhf_type grpo \\
        --custom_register_path vsi_dataset.py --dataset vsi_raw ...

From Python::

    import vsi_dataset
    from swift.dataset import load_dataset
    vsi_dataset.register_vsi_datasets(train_jsonl='data/train.jsonl')
    # the reward's columns (solution, question_type, options, prompt_style) are kept only this way, as
    # `swift rlhf` loads them; by default swift drops every column its template does not use
    train, _ = load_dataset('vsi_train', remove_unused_columns=False)
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from modelscope.hub.utils.utils import get_cache_dir
from swift.dataset import DATASET_MAPPING, DatasetMeta, MessagesPreprocessor, register_dataset
from swift.dataset.loader import DatasetLoader
from swift.utils import get_logger, safe_ddp_context

# swift imports a --custom_register_path file with its folder on sys.path, so the scripts next to it import.
import extract_frames
import preprocess_vsi_data as preprocess
import vsi_scoring

logger = get_logger()

TRAIN_NAME = 'vsi_train'
RAW_NAME = 'vsi_raw'
# register_vsi_datasets argument -> environment variable
ENV_VARS = {
    'train_jsonl': 'VSI_TRAIN_JSONL',
    'raw_qa': 'VSI_RAW_QA',
    'frames_dir': 'VSI_FRAMES_DIR',
    'num_frames': 'VSI_NUM_FRAMES',
    'prompt_style': 'VSI_PROMPT_STYLE',
    'media': 'VSI_MEDIA',
    'exclude_scenes': 'VSI_EXCLUDE_SCENES',
    'question_types': 'VSI_QUESTION_TYPES',
    'max_per_type': 'VSI_MAX_PER_TYPE',
    'shuffle': 'VSI_SHUFFLE',
    'seed': 'VSI_SEED',
    'video_fps': 'VSI_VIDEO_FPS',
    'clips_dir': 'VSI_CLIPS_DIR',
    'allow_fewer_frames': 'VSI_ALLOW_FEWER_FRAMES',
}


def _setting(settings: dict[str, Any], name: str, default: Any = None, required_for: str | None = None) -> Any:
    """An explicit argument, else its environment variable, else the default (or an error naming both)."""
    value = settings.get(name)
    if value is None:
        value = os.environ.get(ENV_VARS[name]) or None
    if value is None and required_for:
        raise _needs(required_for, name)
    return default if value is None else value


def _needs(dataset: str, name: str) -> ValueError:
    return ValueError(f'dataset {dataset!r} needs {ENV_VARS[name]} (or register_vsi_datasets({name}=...))')


def _number(settings: dict[str, Any], name: str, kind: type[int] | type[float], default: Any = None) -> Any:
    """A numeric setting (or None when unset and no default), with an error naming its variable."""
    value = _setting(settings, name, default)
    try:
        return None if value is None else kind(value)
    except ValueError:
        wanted = 'an integer' if kind is int else 'a number'
        raise ValueError(f'{ENV_VARS[name]} must be {wanted}, got {value!r}') from None


# run_vsi_grpo.sh reads DRY_RUN with the same words (its `case ${DRY_RUN,,}`)
_BOOLEANS = {'1': True, 'true': True, 'yes': True, 'on': True, '0': False, 'false': False, 'no': False, 'off': False}


def _flag(settings: dict[str, Any], name: str) -> bool:
    """A yes/no setting; an unknown word is an error, not a silent `no`."""
    value = _setting(settings, name, False)
    if isinstance(value, bool):
        return value
    try:
        return _BOOLEANS[str(value).strip().lower()]
    except KeyError:
        raise ValueError(f'{ENV_VARS[name]} must be one of 1/0, true/false, yes/no, on/off; got {value!r}') from None


def _raw_error(error: Exception) -> preprocess.VsiDataError:
    """The error with the dataset's name first and the script's flags (`--frames_dir`, also written
    `--question_types / VSI_QUESTION_TYPES`) named as what sets them here: a variable, or the cache file."""
    cache = f'the {RAW_NAME} cache file (MODELSCOPE_CACHE)'
    names = {**ENV_VARS, 'input_path': ENV_VARS['raw_qa'], 'output_path': cache}
    message = re.sub(r'--(\w+)(?: / VSI_\w+)?', lambda m: names.get(m[1], m[0]), str(error))
    return preprocess.VsiDataError(f'{RAW_NAME}: {message}')


def _name_list(value: str | os.PathLike | list[str | os.PathLike] | None) -> list[str]:
    """File paths or question types, given as a list or as one comma-separated string (a path object: one path)."""
    if value is None:
        return []
    if isinstance(value, os.PathLike):
        return [os.fspath(value)]
    if isinstance(value, str):
        value = value.split(',')
    return [name for name in (os.fspath(item).strip() for item in value) if name]


def _path(path: str) -> str:
    """A file or folder setting as an absolute path; `~` is the home folder, as swift reads its own paths (a YAML's
    ENV block and os.environ in Python pass it on as written, where no shell expands it)."""
    return os.path.abspath(os.path.expanduser(path))


def _resolve(path: Any, base_dir: str) -> Any:
    """A media item with its relative local path joined to `base_dir`; an item written as `{"path": ...}` (the way
    swift itself stores images) keeps its other keys, as preprocess.first_missing_media reads both."""
    if isinstance(path, dict):
        return {**path, 'path': _resolve(path['path'], base_dir)} if 'path' in path else path
    if not preprocess.is_local_path(path) or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


def media_folder(name: str, jsonl: str) -> str:
    """The folder the JSONL's relative media paths are resolved against, once its media are found there and its frames
    are those it was written from (preprocess.checked_media_folder); its FileNotFoundError or VsiDataError otherwise,
    prefixed with the dataset's name."""
    try:
        return preprocess.checked_media_folder(jsonl)
    except (FileNotFoundError, preprocess.VsiDataError) as e:
        raise type(e)(f'{name}: {e}') from None


class ResolvingMessagesPreprocessor(MessagesPreprocessor):
    """swift's MessagesPreprocessor, plus relative `images` / `videos` paths joined to the JSONL's folder."""

    def __init__(self, base_dir: str, **kwargs):
        super().__init__(**kwargs)
        self.base_dir = base_dir

    def preprocess(self, row: dict[str, Any]) -> dict[str, Any] | None:
        row = super().preprocess(row)
        if row is not None:
            for key in ('images', 'videos'):
                media = row.get(key)
                if isinstance(media, (str, dict)):  # one item may be written alone, as media_to_check reads it
                    media = [media]
                if isinstance(media, list):
                    row[key] = [_resolve(path, self.base_dir) for path in media]
        return row


class VsiLoader(DatasetLoader):
    """Loads a preprocessed JSONL with swift's own file loader (so `--columns`, streaming and caching behave as for any
    file), once its media are found, resolving relative media paths against the file's folder."""

    name = ''  # the registered name
    settings: dict[str, Any] = {}

    def load(self, dataset_syntax=None, dataset_meta: DatasetMeta | None = None, *, use_hf=None):
        # `HF::vsi_train`: swift put our hub id, which there is none of, in place of the name (swift/dataset/loader.py,
        # load_dataset), and its own loader would fail on os.path.isdir(None)
        if dataset_syntax.dataset is None:
            raise ValueError(f'{self.name} is read from local files, not from a hub: drop the HF::/MS::')
        # swift also routes here any unregistered dataset whose last path part is our name (a `/data/x/vsi_train`
        # folder, a `someorg/vsi_train` hub id: DatasetSyntax._get_matched_dataset_meta); those load as swift's own.
        if dataset_syntax.dataset != self.name:
            return super().load(dataset_syntax, dataset_meta, use_hf=use_hf)
        if dataset_syntax.subsets:  # swift ignores subsets of a file, and loaded all rows for `vsi_train:test`
            raise ValueError(f'{self.name} has no subsets: drop the :{"/".join(dataset_syntax.subsets)}')
        path, media_dir = self.locate()
        resolver = ResolvingMessagesPreprocessor(media_dir)
        return self._load_dataset_path(path, dataclasses.replace(dataset_meta, preprocess_func=resolver))

    def locate(self) -> tuple[str, str]:
        """(the JSONL to load, the folder its relative media paths resolve against), its media checked."""
        raise NotImplementedError


class VsiTrainLoader(VsiLoader):
    """`vsi_train`: the JSONL `preprocess_vsi_data.py` wrote."""

    name = TRAIN_NAME

    def locate(self) -> tuple[str, str]:
        variable = ENV_VARS['train_jsonl']
        path = _path(_setting(self.settings, 'train_jsonl', required_for=TRAIN_NAME))
        if os.path.isdir(path):
            raise IsADirectoryError(f'{variable}={path} is a folder; name the JSONL file preprocess_vsi_data.py wrote')
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{variable}={path} does not exist; run preprocess_vsi_data.py')
        return path, media_folder(self.name, path)


def _excluded_scenes(settings: dict[str, Any]) -> frozenset[str]:
    variable = ENV_VARS['exclude_scenes']
    try:
        return preprocess.load_scene_names(*map(_path, _name_list(_setting(settings, 'exclude_scenes'))))
    except OSError as e:
        raise ValueError(f'{variable}: cannot read {e.filename}: {e.strerror}') from e
    except preprocess.VsiDataError as e:  # a file that lists no scenes, or is no scene list
        raise ValueError(f'{variable}: {e}') from e


class VsiRawLoader(VsiLoader):
    """`vsi_raw`: raw QA files converted by preprocess_vsi_data.preprocess, then loaded as `vsi_train` is."""

    name = RAW_NAME

    def config(self) -> tuple[list[str], preprocess.PreprocessConfig]:
        settings = self.settings
        qa_paths = [_path(p) for p in _name_list(_setting(settings, 'raw_qa', required_for=RAW_NAME))]
        if not qa_paths:  # ' , ' or []: no file named, which would fail later as 'no rows to write'
            raise _needs(RAW_NAME, 'raw_qa')
        frames_dir = _path(_setting(settings, 'frames_dir', required_for=RAW_NAME))
        clips_dir = _setting(settings, 'clips_dir') or os.path.join(os.path.dirname(frames_dir), 'vsi_clips')
        try:
            for qa_path in qa_paths:  # as the script's main() checks --input_path; the reader's check names no flag
                preprocess.check_input_file(qa_path, '--input_path')
            config = preprocess.PreprocessConfig(
                frames_dir=frames_dir,
                # unset settings take preprocessing's defaults, as the CLI's flags do
                num_frames=_number(settings, 'num_frames', int, preprocess.PreprocessConfig.num_frames),
                prompt_style=_setting(settings, 'prompt_style', preprocess.PreprocessConfig.prompt_style),
                media=_setting(settings, 'media', preprocess.PreprocessConfig.media),
                path_mode='absolute',
                clips_dir=_path(clips_dir),  # the cache key must not depend on the working directory
                video_fps=_number(settings, 'video_fps', float, preprocess.DEFAULT_VIDEO_FPS),
                allow_fewer_frames=_flag(settings, 'allow_fewer_frames'),
                exclude_scenes=_excluded_scenes(settings),
                question_types=tuple(_name_list(_setting(settings, 'question_types'))) or None,
                max_per_type=_number(settings, 'max_per_type', int),
                shuffle=_flag(settings, 'shuffle'),
                seed=_number(settings, 'seed', int, preprocess.PreprocessConfig.seed),
                strict=self.strict,
                progress=False,
            )
        except ValueError as e:  # the settings above and the script's own checks (VsiDataError is a ValueError)
            raise _raw_error(e) from e
        return qa_paths, config

    def locate(self) -> tuple[str, str]:
        qa_paths, config = self.config()
        path = raw_cache_path(qa_paths, config)
        # One conversion per file: under torchrun the first rank converts while the others wait at a barrier (then
        # the first rank of each further node, whose cache may be a disk of its own), else a file lock lets one
        # process in at a time. Later ones find the finished file and load it untouched, so every rank loads the
        # same bytes, and the same `datasets` fingerprint.
        with safe_ddp_context(hash_id=path, use_barrier=True):
            summary = preprocess.matching_summary(path)
            missing = preprocess.first_missing_media(path, os.path.dirname(path)) if summary else None
            # frames extracted again since, where no manifest the cache key holds says so (the frames folder moved)
            changed = preprocess.changed_frames(path, os.path.dirname(path), summary) if summary else None
            reused = bool(summary and not missing and not changed)
            if reused:
                logger.info(f'{RAW_NAME}: reusing {path} (same inputs and settings; delete it to convert again)')
                if not config.exclude_scenes:  # convert() warns when it runs; each launch that reuses it must too
                    preprocess.logger.warning(preprocess.NO_EXCLUSION_WARNING)
            else:
                if missing:  # frames or clips deleted since: convert again (clips are written again)
                    logger.warning(f'{RAW_NAME}: converting again, {missing[1]} named by {path} is missing')
                elif changed:
                    logger.warning(f'{RAW_NAME}: converting again, the frames in {changed} were extracted again')
                try:
                    summary = preprocess.preprocess(qa_paths, path, config)
                except preprocess.VsiDataError as e:
                    raise _raw_error(e) from e
        source = f'{RAW_NAME} (its earlier conversion)' if reused else RAW_NAME  # not read as a second conversion
        for line in summary.lines():
            logger.info(f'{source}: {line.strip()}')
        # Its media were checked above (a reused file) or just written from frames that exist (a conversion); its
        # paths are absolute, so the folder is only a formality. (media_folder would read the whole file again.)
        return path, os.path.dirname(path)


def convert_raw(strict: bool = False) -> str:
    """`vsi_raw`'s converted JSONL, as loading the dataset would leave it: converted now unless a complete file for
    the same inputs and settings (read from the environment) is there, its media checked.

    For launchers: swift loads datasets only after the model and vLLM, minutes into a run, so train_vsi_grpo.py calls
    this before it starts anything and a QA file that does not convert fails at once; swift's own load then reuses the
    file. `strict` is swift's `--strict`. Raises what the load would (VsiDataError, ValueError, OSError).
    """
    return VsiRawLoader(strict=strict).locate()[0]


def _identity(path: str) -> list | None:
    """(path, size, modification time in ns) of a file, None when it does not exist (the conversion reports that)."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return [path, stat.st_size, stat.st_mtime_ns]


def frame_manifests(frames_dir: str) -> list[str]:
    """extract_frames.py's manifests that describe `frames_dir`: its own, those of per-dataset extractions into its
    sub-folders (`--output_dir frames/scannet`), whose `<dataset>/<scene>` folders the conversion finds too, and the
    nearest one above it (`VSI_FRAMES_DIR=frames/scannet` after `--output_dir frames` over a video folder of
    datasets: the manifest is in `frames`). Only the nearest above counts, the extraction's: one further up (a home
    folder's, say) would change the key for nothing."""
    name = extract_frames.MANIFEST_NAME
    above = (folder / name for folder in Path(os.path.abspath(frames_dir)).parents)
    nearest = next((str(path) for path in above if path.is_file()), None)
    return sorted(
        glob.glob(os.path.join(glob.escape(frames_dir), name))
        + glob.glob(os.path.join(glob.escape(frames_dir), '*', name))
        + ([nearest] if nearest else [])
    )


def raw_cache_path(qa_paths: list[str], config: preprocess.PreprocessConfig) -> str:
    """Where `vsi_raw` keeps the rows converted from these files with these settings (see the module docstring).

    One file per inputs and settings, so runs with other settings never overwrite each other's rows, and an edited
    QA file, a new frame extraction or an updated converter gets a file of its own instead of stale rows.
    """
    code = [_identity(module.__file__) for module in (preprocess, vsi_scoring, extract_frames)]
    key = json.dumps(
        {
            'inputs': [_identity(p) or p for p in qa_paths],
            'frames_manifests': [_identity(path) for path in frame_manifests(config.frames_dir)],
            'code': code,
            'settings': dataclasses.asdict(config),
        },
        sort_keys=True,
        default=sorted,
    )
    return os.path.join(get_cache_dir(), RAW_NAME, hashlib.sha256(key.encode()).hexdigest()[:16] + '.jsonl')


def _loader(cls: type[DatasetLoader], settings: dict[str, Any]) -> type[DatasetLoader]:
    # DatasetMeta.loader is a class that swift instantiates with its own options; a subclass carries our settings.
    return type(cls.__name__, (cls,), {'settings': dict(settings)})


def register_vsi_datasets(**settings: Any) -> list[DatasetMeta]:
    """Register `vsi_train` and `vsi_raw` (again, replacing earlier registrations).

    Keyword arguments are the keys of ENV_VARS (`train_jsonl`, `raw_qa`, `frames_dir`, ...); any not given is read
    from its environment variable when the dataset is loaded.
    """
    unknown = set(settings) - set(ENV_VARS)
    if unknown:
        raise TypeError(f'unknown settings {sorted(unknown)}; expected some of {sorted(ENV_VARS)}')
    settings = {name: value for name, value in settings.items() if value is not None}
    metas = [
        # `dataset_path` is the name itself: swift then hands the name to our loader as a local "file", never
        # looking it up on a hub, and tags the rows' `dataset` column with it.
        DatasetMeta(
            dataset_name=TRAIN_NAME,
            dataset_path=TRAIN_NAME,
            loader=_loader(VsiTrainLoader, settings),
            help=f'preprocess_vsi_data.py output; {ENV_VARS["train_jsonl"]}=file.jsonl',
        ),
        DatasetMeta(
            dataset_name=RAW_NAME,
            dataset_path=RAW_NAME,
            loader=_loader(VsiRawLoader, settings),
            help=f'raw VSI QA converted on load; {ENV_VARS["raw_qa"]}, {ENV_VARS["frames_dir"]}, ...',
        ),
    ]
    for meta in metas:
        register_dataset(meta, exist_ok=True)
    return metas


def _registered_settings() -> dict[str, Any]:
    """The settings an earlier `register_vsi_datasets(...)` call gave, if swift holds our registration.

    swift imports this file again for `--custom_register_path` (and beside `--external_plugins`), under another
    module name, so the registration below would otherwise replace the arguments of a Python user's call with none.
    """
    meta = DATASET_MAPPING.get(TRAIN_NAME)
    settings = getattr(meta.loader, 'settings', None) if meta is not None else None
    return {name: value for name, value in settings.items() if name in ENV_VARS} if isinstance(settings, dict) else {}


register_vsi_datasets(**_registered_settings())
