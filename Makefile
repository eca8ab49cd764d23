# The two commands a new user needs are `make demo` and `make test`.
# Everything installs from the package registries into .venv; nothing is downloaded at run time.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip

.PHONY: demo test lint typecheck unit chaos bench docs clean constraints

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamp files so that a second `make` does not reinstall; they are redone when pyproject.toml changes.
# constraints.txt holds the versions CI tested, so a fresh clone installs those and not whatever was released since.
$(VENV)/.sim-installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e '.[sim]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e '.[dev,sim]'
	touch $@

demo: $(VENV)/.sim-installed
	$(BIN)/meshshift demo $(DEMO_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

# The long forms of tests/reliability; their figures become docs/reliability.md.
chaos: $(VENV)/.dev-installed
	MESHSHIFT_CHAOS_RUNS=100 $(BIN)/pytest tests/reliability -m "not browser" --timeout 3600 $(PYTEST_ARGS)
	$(BIN)/python -m tests.reliability.report

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# Regenerates the docs that are derived from code (a test fails when they are stale).
docs: $(VENV)/.dev-installed
	$(BIN)/python -m migration.spec_reference > docs/spec-reference.md

# Re-pin constraints.txt to the newest versions pyproject.toml allows (run make test afterwards).
constraints:
	rm -rf .constraints-venv
	$(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/pip install --quiet --upgrade pip
	.constraints-venv/bin/pip install --quiet '.[dev,sim]'
	{ sed -n '1,3p' constraints.txt; .constraints-venv/bin/pip freeze --exclude meshshift; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .constraints-venv

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
