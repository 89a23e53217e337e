# Two entry points for a fresh machine: `make demo` (the whole pipeline on CPU) and `make test` (lint + tests).
# Both create the project venv on first use; later runs reuse it and start within seconds.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_out

.PHONY: venv test lint demo bench clean

# The stamp is written last, so an interrupted install is redone; editing a requirements file reinstalls.
$(STAMP): requirements-cpu.txt constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements-cpu.txt
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/shellcheck run_vsi_grpo.sh demo/*.sh .ci/run

test: lint
	$(PY) -m pytest

demo: venv
	PATH="$(abspath $(VENV))/bin:$$PATH" bash demo/run_demo.sh $(DEMO_DIR)

bench: venv
	$(PY) bench/bench_reward.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .ruff_cache
