# storeml — the few targets a person needs. Everything runs from the project's virtualenv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCALE ?= small

.PHONY: install dev demo test test-fast lint typecheck bench bench-io bench-rules bench-simulator bench-serve bench-models clean-db

## install: create .venv and install storeml with its dev tools (pinned by constraints.txt); write the
## git-ignored .env that points plain `dagster` commands in this checkout at the project's instance
install:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "storeml needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/python -c 'from storeml_assets.instance import write_dotenv; from storeml_assets.settings import get_settings; write_dotenv(get_settings())'

## dev: embedded Postgres + migrations + Dagster UI and daemon
dev:
	$(BIN)/storeml dev

## demo: run the whole graph end to end on the embedded Postgres
demo:
	$(BIN)/storeml demo --scale $(SCALE)

## test: the whole suite against a real Postgres (embedded unless STOREML_TEST_PG_URL is set)
test:
	$(BIN)/pytest

## lint: ruff (style, imports) and the type checker
lint:
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck:
	$(BIN)/mypy

## bench: every benchmark, each reporting ratios against its baseline measured in the same run
bench: bench-io bench-rules bench-simulator

bench-io:
	$(BIN)/python -m benchmarks.bench_io

bench-rules:
	$(BIN)/python -m benchmarks.bench_rules

bench-simulator:
	$(BIN)/python -m benchmarks.bench_simulator --scale large

## bench-models: training/scoring time and peak memory of each model family beside its baselines
## (SCALE=small by default; `make bench-models SCALE=large` for the large storefront)
MODEL_BENCHES ?= sentiment segmentation recommendations forecasting
bench-models:
	@for family in $(MODEL_BENCHES); do echo "== $$family ($(SCALE))"; \
	  $(BIN)/python -m benchmarks.bench_$$family --scale $(SCALE) || exit 1; done

## bench-run: the whole graph at small and large, per stage, beside a bare ADBC copy of the same rows (large: ~15 min)
bench-run:
	$(BIN)/python -m benchmarks.bench_run

## bench-serve: storeml serve against `mlflow models serve` on the same champion (needs wrk: apt-get install -y wrk)
bench-serve:
	$(BIN)/python -m benchmarks.bench_serve

## clean-db: stop the embedded servers (the project's and the test suite's), then delete their data folders
clean-db:
	$(BIN)/storeml db down
	$(BIN)/storeml db down --data-dir .storeml/test-pg
	rm -rf .storeml/pg .storeml/test-pg
