# `make demo` and `make test` set everything up themselves on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test lint typecheck layers unit contract integration e2e bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[sklearn,tune,serve]'
	touch $@

# Byte-compile the package's own source: where PYTHONDONTWRITEBYTECODE is set, Python never
# writes it, and every `loopml` process (the suite starts hundreds) would compile its modules
# again, 0.2-1 s of CPU each. compileall writes regardless, and skips what is up to date.
COMPILE := $(BIN)/python -m compileall -q -j 0 src

demo: $(DEMO_STAMP)  # a new project each time, never this checkout even if it is one
	$(COMPILE)
	$(BIN)/loopml quickstart "$$(mktemp -d -t loopml-demo-XXXXXX)"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

# Three workers on two cores: the suite waits more than it computes (servers starting, windows
# closing, subprocesses), measured at 1.2-1.3 cores busy on average with two workers.
TEST_WORKERS ?= 3

test: lint typecheck layers
	$(COMPILE)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 --durations-min=20

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

bench: $(STAMP)
	$(BIN)/python benchmarks/run_tracking.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
