# Two entry points for a fresh machine: `make demo` (the whole pipeline on CPU) and `make test` (lint + tests).
# Both create the project venv on first use; later runs reuse it and start within seconds.
# `:=`, not `?=`: a VENV, PYTHON or DEMO_DIR exported for another tool must not pick the venv to install into, the
# interpreter, or the folder `make clean` removes (a command-line value still wins).
VENV := .venv
# The interpreter the venv is made from: 3.11 or newer (`make test PYTHON=python3.12` picks another for a new venv).
PYTHON := python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR := demo_out

.PHONY: venv test lint demo bench clean

# Python 2 syntax too, so that any interpreter says why instead of pip failing on the first pin it finds no wheel for.
# Arguments: the interpreter's name as the message gives it, and what to do.
define PYTHON_CHECK
import sys
sys.exit(None if sys.version_info >= (3, 11) else 'this bundle needs Python 3.11 or newer (its pins of av, pillow, '
         'numpy and pandas have no release for older ones); %s is Python %s: %s'
         % (sys.argv[1], sys.version.split()[0], sys.argv[2]))
endef
export PYTHON_CHECK

# The stamp is written last, so an interrupted install is redone; editing a requirements file reinstalls. A venv
# without a working pip (interrupted while being made) is made again over the same folder, which adds pip. A venv
# made by hand from an older Python is checked too.
$(STAMP): requirements-cpu.txt requirements-common.txt constraints.txt
	$(PY) -m pip --version >/dev/null 2>&1 || { $(PYTHON) -c "$$PYTHON_CHECK" '$(PYTHON)' \
		'run make with PYTHON=python3.11 (or newer)' && $(PYTHON) -m venv $(VENV); }
	$(PY) -c "$$PYTHON_CHECK" '$(PY)' 'remove $(VENV) and run make with PYTHON=python3.11 (or newer)'
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements-cpu.txt
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/shellcheck run_vsi_grpo.sh .ci/run bench/gpu_check.sh

test: lint
	$(PY) -m pytest

demo: venv
	$(PY) demo/run_demo.py --output_dir '$(DEMO_DIR)'

# Benchmarks print ratios measured in one run; they assert nothing (see README, "Measurements").
bench: venv
	$(PY) bench/bench_reward.py
	$(PY) bench/bench_extract.py --quick
	$(PY) bench/bench_preprocess.py
	$(PY) bench/visual_tokens.py
	$(PY) bench/bench_learning.py --output_dir '$(DEMO_DIR)/learning'

clean:
	rm -rf -- '$(DEMO_DIR)' .pytest_cache .ruff_cache
