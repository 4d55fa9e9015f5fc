# Two commands on a fresh machine with Python 3.11 and make:  make run  /  make test
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test scale-test bench bench-world bench-refresh ui serve lint clean sample

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

## run: set up, then materialise every asset on the embedded sample data
run: $(STAMP)
	$(PY) -m dagster_project.run

## test: set up, then run the test suite (exit 5 "no tests ran" counts as a failure)
test: $(STAMP)
	$(PY) -m pytest -q

## scale-test: the refresh on Dagster's distributed machinery (local PostgreSQL, Redis, an S3
## server and 2 Celery workers, started and stopped by the script) equals make run's, file by file;
## a slice of 2 provinces x 2 quarters (a few minutes). SCALE_TEST_ARGS="--provinces all" by hand.
scale-test: $(STAMP)
	$(PY) deploy/scale_test.py $(SCALE_TEST_ARGS)

## bench: kernel benchmarks (ratios against the fastest library measured in the same run), the
## readers on global Ookla / OpenCelliD files against a bare polars filter and a refresh on them, then
## the full national refresh at 1/4, 1/2 and 1 of the national input and a no-change rerun
## (input generated once into .cache/bench/; BENCH_SCALES=1 for one scale; ~15-25 min)
bench: $(STAMP)
	$(PY) -m bench

## bench-world: only the global-inputs benchmark (world files generated once into .cache/bench/)
bench-world: $(STAMP)
	$(PY) -m bench bench_world

## bench-refresh: only the full national refresh benchmark
bench-refresh: $(STAMP)
	$(PY) -m bench full_refresh

## ui: the Dagster UI on the same instance `make run` used (graph, checks, schedules, maps)
ui: $(STAMP)
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(PY) -c "from dagster_project.run import ensure_home; ensure_home()"
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(VENV)/bin/dagster dev -w workspace.yaml

## serve: the read-only download portal on GAP_MONITOR_HOST:GAP_MONITOR_PORT (127.0.0.1:8000)
serve: $(STAMP)
	$(PY) -m portal

## sample: (re)generate the synthetic sample input directory
sample: $(STAMP)
	$(PY) -m geodata.sample

lint: $(STAMP)
	$(VENV)/bin/ruff check geodata dagster_project portal tests bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
