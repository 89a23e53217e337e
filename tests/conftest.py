"""Session-wide test set-up: no hub access, and one tiny random Qwen3-VL shared by every test that needs a model.

`tiny_model_dir` builds the model with demo/build_tiny_qwen3_vl.py into `.cache/tiny_qwen3_vl` at the repo root
(git-ignored) the first time and reuses it afterwards, so reruns start instantly. The folder's marker records the
builder's source hash and seed: editing the builder rebuilds it on the next run. Treat the folder as read-only
(write outputs to `tmp_path`); parallel workers (pytest-xdist) share it safely.
"""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# transformers / huggingface_hub read these when imported, so they are set before any test module imports them.
# Nothing in the suite may download a model or data set; a lookup that slips through fails fast instead.
for _name in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_DATASETS_OFFLINE'):
    os.environ.setdefault(_name, '1')

if str(REPO_ROOT) not in sys.path:  # the bundle's scripts and demo/ are imported from the repo root
    sys.path.insert(0, str(REPO_ROOT))

from demo.build_tiny_qwen3_vl import build_tiny_qwen3_vl  # noqa: E402


@pytest.fixture(scope='session')
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of the tiny random Qwen3-VL (seed 0): load it with swift (`model_type='qwen3_vl'`) or transformers."""
    cache_dir = REPO_ROOT / '.cache'
    try:
        cache_dir.mkdir(exist_ok=True)
    except OSError:  # read-only checkout: build once per session instead
        cache_dir = tmp_path_factory.mktemp('cache')
    return build_tiny_qwen3_vl(cache_dir / 'tiny_qwen3_vl', seed=0)


@pytest.fixture(autouse=True)
def _restore_environment():
    """Undo whatever a test (or swift, which derives IMAGE_MAX_TOKEN_NUM from MAX_PIXELS) put into os.environ."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
