"""Registers the bundle's datasets with ms-swift, so `--custom_register_path vsi_dataset.py --dataset <name>` works.

Two names:

* `vsi_train`: a JSONL written by `preprocess_vsi_data.py`, given by `VSI_TRAIN_JSONL`. Relative image and video
  paths are resolved against the file's folder, so the file trains from any directory without `ROOT_IMAGE_DIR`.
* `vsi_raw`: raw QA files (any layout `preprocess_vsi_data.py` reads) converted when swift loads them, by the same
  `preprocess_vsi_data.convert` the script runs. `VSI_RAW_QA` (files, comma-separated), `VSI_FRAMES_DIR` (the
  output of `extract_frames.py`), `VSI_NUM_FRAMES` (32), `VSI_PROMPT_STYLE` (direct | think), `VSI_MEDIA`
  (image | video), `VSI_EXCLUDE_SCENES` (files, comma-separated), `VSI_ALLOW_FEWER_FRAMES` (0 | 1) and, for
  video, `VSI_CLIPS_DIR` (default: `vsi_clips/` next to the frames folder). swift's `--strict true` makes every
  skipped row an error, as the script's `--strict` does; the conversion summary goes to the log.

The variables are read when swift loads the dataset, not when this file is imported; arguments given to
`register_vsi_datasets` take precedence over them. Media paths are made absolute, and columns `solution`,
`question_type`, `options`, `id`, `scene_name` reach the reward functions (GRPO keeps extra columns).

Usage::

    VSI_TRAIN_JSONL=data/train.jsonl swift rlhf --rlhf_type grpo --custom_register_path vsi_dataset.py \\
        --dataset vsi_train ...
    VSI_RAW_QA=train_qa.jsonl VSI_FRAMES_DIR=data/frames VSI_EXCLUDE_SCENES=test.jsonl swift rlhf --rlhf_type grpo \\
        --custom_register_path vsi_dataset.py --dataset vsi_raw ...

From Python::

    import vsi_dataset
    from swift.dataset import load_dataset
    vsi_dataset.register_vsi_datasets(train_jsonl='data/train.jsonl')
    train, _ = load_dataset('vsi_train')
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from datasets import Dataset as HfDataset
from swift.dataset import DatasetMeta, MessagesPreprocessor, RowPreprocessor, register_dataset
from swift.dataset.loader import DatasetLoader
from swift.utils import get_logger

# swift imports a --custom_register_path file with its folder on sys.path, so the script next to it imports.
import preprocess_vsi_data as preprocess

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
    'clips_dir': 'VSI_CLIPS_DIR',
    'allow_fewer_frames': 'VSI_ALLOW_FEWER_FRAMES',
}


def _setting(settings: dict[str, Any], name: str, default: Any = None, required_for: str | None = None) -> Any:
    """An explicit argument, else its environment variable, else the default (or an error naming both)."""
    value = settings.get(name)
    if value is None:
        value = os.environ.get(ENV_VARS[name]) or None
    if value is None and required_for:
        raise ValueError(f'dataset {required_for!r} needs {ENV_VARS[name]} (or register_vsi_datasets({name}=...))')
    return default if value is None else value


def _path_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(',')
    return [path.strip() for path in value if path.strip()]


def _resolve(path: Any, base_dir: str) -> Any:
    if not isinstance(path, str) or os.path.isabs(path) or '://' in path or path.startswith('data:'):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


class ResolvingMessagesPreprocessor(MessagesPreprocessor):
    """swift's MessagesPreprocessor, plus relative `images` / `videos` paths joined to the JSONL's folder."""

    def __init__(self, base_dir: str, **kwargs):
        super().__init__(**kwargs)
        self.base_dir = base_dir

    def preprocess(self, row: dict[str, Any]) -> dict[str, Any] | None:
        row = super().preprocess(row)
        if row is not None:
            for key in ('images', 'videos'):
                if isinstance(row.get(key), list):
                    row[key] = [_resolve(path, self.base_dir) for path in row[key]]
        return row


class VsiTrainLoader(DatasetLoader):
    """Loads the preprocessed JSONL with swift's own file loader, resolving media paths against its folder."""

    settings: dict[str, Any] = {}

    def load(self, dataset_syntax=None, dataset_meta: DatasetMeta | None = None, *, use_hf=None):
        path = os.path.abspath(_setting(self.settings, 'train_jsonl', required_for=TRAIN_NAME))
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{ENV_VARS["train_jsonl"]}={path} does not exist; run preprocess_vsi_data.py')
        meta = dataclasses.replace(dataset_meta, preprocess_func=ResolvingMessagesPreprocessor(os.path.dirname(path)))
        return self._load_dataset_path(path, meta)


class VsiRawLoader(DatasetLoader):
    """Converts raw QA files with preprocess_vsi_data.convert, then runs swift's usual row preprocessing."""

    settings: dict[str, Any] = {}

    def config(self) -> tuple[list[str], preprocess.PreprocessConfig]:
        settings = self.settings
        qa_paths = _path_list(_setting(settings, 'raw_qa', required_for=RAW_NAME))
        frames_dir = os.path.abspath(_setting(settings, 'frames_dir', required_for=RAW_NAME))
        clips_dir = _setting(settings, 'clips_dir') or os.path.join(os.path.dirname(frames_dir), 'vsi_clips')
        allow_fewer = str(_setting(settings, 'allow_fewer_frames', False)).lower() in ('1', 'true', 'yes')
        config = preprocess.PreprocessConfig(
            frames_dir=frames_dir,
            num_frames=int(_setting(settings, 'num_frames', 32)),
            prompt_style=_setting(settings, 'prompt_style', 'direct'),
            media=_setting(settings, 'media', 'image'),
            path_mode='absolute',
            clips_dir=clips_dir,
            allow_fewer_frames=allow_fewer,
            exclude_scenes=preprocess.load_scene_names(*_path_list(_setting(settings, 'exclude_scenes'))),
            strict=self.strict,
            progress=False,
        )
        return qa_paths, config

    def load(self, dataset_syntax=None, dataset_meta: DatasetMeta | None = None, *, use_hf=None):
        qa_paths, config = self.config()
        rows, summary = preprocess.convert(qa_paths, config)
        for line in summary.lines():
            logger.info(f'{RAW_NAME}: {line.strip()}')
        if not rows:
            raise ValueError(f'{RAW_NAME}: no rows from {qa_paths}: ' + '; '.join(summary.lines()))
        dataset = HfDataset.from_list(rows)
        if self.streaming:
            dataset = dataset.to_iterable_dataset()
        dataset = dataset_meta.preprocess_func(
            dataset,
            num_proc=self.num_proc,
            load_from_cache_file=self.load_from_cache_file,
            strict=self.strict,
            enable_auto_mapping=not self.disable_auto_column_mapping,
        )
        if self.remove_unused_columns:
            dataset = RowPreprocessor.remove_useless_columns(dataset)
        return dataset


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


register_vsi_datasets()
