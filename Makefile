# `make run` starts the service; `make test` installs everything and runs the whole suite.
# `make env` writes .env (random secrets) for docker compose; `make fuzz` runs schemathesis on the API.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: run test lint bench bench-claims bench-analysis bench-uploads install clean env fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# One stamp per dependency set: re-installs only when pyproject.toml changes.
$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.run-deps

install: $(VENV)/.run-deps

run: $(VENV)/.run-deps
	$(BIN)/smartedit serve

lint: $(VENV)/.test-deps
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

# Never overwrites an existing .env: delete it to make new secrets.
env:
	$(PYTHON) scripts/make_env.py .env

fuzz: $(VENV)/.test-deps
	FUZZ_EXAMPLES=150 FUZZ_MIN_REQUESTS=500 $(BIN)/python -m pytest -n 0 -s -q tests/fuzz

bench: $(VENV)/.test-deps
	$(BIN)/python -m bench.pipeline

# Claims/s of the real claim query: 16 claimers, 200,000 finished and 20,000 queued jobs (needs POSTGRES_*).
bench-claims: $(VENV)/.test-deps
	$(BIN)/python -m bench.claims

# One decode through FIFOs against a bare ffmpeg decode; BENCH_ARGS=--long adds the 4-hour memory check.
bench-analysis: $(VENV)/.test-deps
	$(BIN)/python -m bench.analysis $(BENCH_ARGS)

# RSS growth of the API while a 500 MB file streams through POST /uploads (embedded servers; goal < 50 MB).
bench-uploads: $(VENV)/.test-deps
	$(BIN)/python -m bench.uploads $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
