# Everything bootstraps its own virtual environment in .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test token lint format openapi openapi-check bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## run: migrate, seed the demo data and serve every app (Ctrl-C stops them all)
run: $(STAMP)
	$(BIN)/python scripts/run_stack.py

## test: the whole suite, every database-backed test on SQLite and on PostgreSQL
test: $(STAMP)
	$(BIN)/python -m pytest

## token: a bearer token for local use, e.g. make token ROLE=pm SUB=ana@example.com
ROLE ?= viewer
SUB ?= you@example.com
token: $(STAMP)
	@$(BIN)/python -m gateway token --role $(ROLE) --sub $(SUB)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## openapi: write openapi/<app>.json from the code; openapi-check fails if they differ
openapi: $(STAMP)
	$(BIN)/python scripts/export_openapi.py

openapi-check: $(STAMP)
	$(BIN)/python scripts/export_openapi.py --check

bench: $(STAMP)
	$(BIN)/python bench/roadmap_bench.py
	$(BIN)/python bench/commitments_bench.py --commitments 100000
	$(BIN)/python bench/gateway_bench.py

clean:
	rm -rf $(VENV) data .pytest_cache
