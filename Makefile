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
# changes. constraints.txt holds the versions CI tested, so a fresh clone installs those and not whatever was
# released since.
INSTALL := $(PIP) install --quiet -c constraints.txt -e

$(VENV)/.sim-installed: pyproject.toml constraints.txt | $(BIN)/python
	$(INSTALL) '.[sim]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml constraints.txt | $(BIN)/python
	$(INSTALL) '.[dev,sim]'
	touch $@
	touch $(VENV)/.sim-installed

# meshshift.* is installed from the top-level folders (package-dir). Python finds them through setuptools'
# editable import hook, which mypy cannot follow; mypy reads this view instead: build/typecheck/meshshift,
# whose subpackages are links to the folders themselves, so a new module is seen without a reinstall.
TYPECHECK_VIEW := build/typecheck/meshshift
PACKAGE_DIRS := migration activities workflows workers sim

$(TYPECHECK_VIEW):
	mkdir -p $@
	ln -sfn ../../../package/__init__.py $@/__init__.py
	ln -sfn ../../../package/py.typed $@/py.typed
	for dir in $(PACKAGE_DIRS); do ln -sfn ../../../$$dir $@/$$dir; done

demo: $(VENV)/.sim-installed
	$(BIN)/meshshift demo $(DEMO_ARGS)

# lint-imports checks the import contracts in pyproject.toml ([tool.importlinter]). Its graph library, grimp, walks
# the folder of the package it is given, so it reads the same view as mypy.
lint: $(VENV)/.dev-installed $(TYPECHECK_VIEW)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=build/typecheck $(BIN)/lint-imports --no-logo --no-cache

typecheck: $(VENV)/.dev-installed $(TYPECHECK_VIEW)
	$(BIN)/mypy

# Most of the suite's wall time is spent waiting (servers starting, simulated AWS settling, a demo's
# CloudWatch minute), so two processes halve it even on two cores. --dist loadfile keeps each test file in one
# process, so module-scoped fixtures are built once; TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= 2

test: lint typecheck
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The long forms of tests/reliability; their figures become docs/reliability.md.
chaos: $(VENV)/.dev-installed
	MESHSHIFT_CHAOS_RUNS=100 $(BIN)/pytest tests/reliability -m "not browser" --timeout 3600 $(PYTEST_ARGS)
	$(BIN)/python -m tests.reliability.report

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# Regenerates the docs that are derived from code (a test fails when they are stale).
docs: $(VENV)/.dev-installed
	$(BIN)/python -m meshshift.migration.spec_reference > docs/spec-reference.md
	$(BIN)/python -m tests.iam_catalog_build > migration/iam_catalog.py
	$(BIN)/ruff format --quiet migration/iam_catalog.py

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
