# Everything bootstraps its own virtual environment in .venv from pyproject.toml.
# Paths start from this file's folder, so `make -f path/to/Makefile run` works from any
# folder (the stack's data/ and .env are those of the folder it runs in).
ROOT := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
PYTHON ?= python3
VENV := $(ROOT).venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run reset test browser token lint format openapi openapi-check bench bench-parts mutate clean

$(STAMP): $(ROOT)pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '$(ROOT)[dev]'
	touch $(STAMP)

## run: migrate, seed the demo data and serve every app (Ctrl-C stops them all);
## VERBOSE=1 shows every log line (they always go to data/logs/<app>.log)
RUN_FLAGS = $(if $(filter 1 yes true,$(VERBOSE)),--verbose)
run: $(STAMP)
	@$(BIN)/python $(ROOT)scripts/run_stack.py $(RUN_FLAGS)

## reset: delete the embedded databases and logs, then run as `make run` does (fresh demo)
reset: $(STAMP)
	@$(BIN)/python $(ROOT)scripts/run_stack.py --reset $(RUN_FLAGS)

## test: the whole suite, every database-backed test on SQLite and on PostgreSQL
test: $(STAMP) browser
	$(BIN)/python -m pytest

## browser: Debian's Chromium for the review console's browser tests, installed when it is
## missing and this is root with apt-get (Playwright never downloads a browser of its own)
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make: installing chromium for the console's browser tests"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			|| echo "make: could not install chromium"; \
	fi
	@test -x $(CHROMIUM) || echo "make: no $(CHROMIUM): the browser tests skip (under CI=true they fail)"

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
	$(BIN)/python $(ROOT)scripts/export_openapi.py

openapi-check: $(STAMP)
	$(BIN)/python $(ROOT)scripts/export_openapi.py --check

## mutate: mutation testing of the pure cores (about 3 minutes, not part of make test);
## fails when a mutant survives that no test notices and is not a known equivalent
MUTATION_STAMP := $(VENV)/.installed-mutation
$(MUTATION_STAMP): $(ROOT)pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '$(ROOT)[dev,mutation]'
	touch $(MUTATION_STAMP)

mutate: $(MUTATION_STAMP)
	$(BIN)/python $(ROOT)scripts/mutate.py

## bench: speed against the architecture's floor on PostgreSQL and SQLite (about 15 minutes;
## README "Performance"); figures in bench/results/latest.json
bench: $(STAMP)
	$(BIN)/python $(ROOT)bench/speed.py

## bench-parts: the older per-part benchmarks (each service in-process, outages, events)
bench-parts: $(STAMP)
	$(BIN)/python $(ROOT)bench/roadmap_bench.py
	$(BIN)/python $(ROOT)bench/commitments_bench.py --commitments 100000
	$(BIN)/python $(ROOT)bench/gateway_bench.py
	$(BIN)/python $(ROOT)bench/outage_bench.py
	$(BIN)/python $(ROOT)bench/events_bench.py

clean:
	rm -rf $(VENV) data .pytest_cache $(ROOT)mutants
