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

# Stamp files so that a second `make` does not reinstall; they are redone when pyproject.toml or constraints.txt
# changes.
# constraints.txt holds the versions CI tested, so a fresh clone installs those and not whatever was released since.
# The package is installed editable in "strict" mode: a link tree of meshshift.* that mypy can read. A module
# added or removed changes MODULES, hence the stamp's name, and the link tree is made again.
PACKAGE_DIRS := package migration activities workflows workers sim
MODULES := $(shell find $(PACKAGE_DIRS) -name '*.py' 2>/dev/null | sort | cksum | cut -d' ' -f1)
INSTALL := $(PIP) install --quiet -c constraints.txt --config-settings editable_mode=strict -e
SIM_STAMP := $(VENV)/.sim-installed-$(MODULES)
DEV_STAMP := $(VENV)/.dev-installed-$(MODULES)

$(SIM_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	rm -f $(VENV)/.sim-installed-*
	$(INSTALL) '.[sim]'
	touch $@

$(DEV_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	rm -f $(VENV)/.dev-installed-* $(VENV)/.sim-installed-*
	$(INSTALL) '.[dev,sim]'
	touch $@

demo: $(SIM_STAMP)
	$(BIN)/meshshift demo $(DEMO_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

# The long forms of tests/reliability; their figures become docs/reliability.md.
chaos: $(DEV_STAMP)
	MESHSHIFT_CHAOS_RUNS=100 $(BIN)/pytest tests/reliability -m "not browser" --timeout 3600 $(PYTEST_ARGS)
	$(BIN)/python -m tests.reliability.report

bench: $(DEV_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Regenerates the docs that are derived from code (a test fails when they are stale).
docs: $(DEV_STAMP)
	$(BIN)/python -m meshshift.migration.spec_reference > docs/spec-reference.md

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
