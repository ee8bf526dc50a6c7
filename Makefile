# Every target installs what it needs into .venv first (python3 >= 3.11 and make are enough).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run login-link dev test test-fast screenshots fuzz lint format typecheck migrate db-upgrade db-revision bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("priority-notify needs Python >= 3.11" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(DEV_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[dev]'
	@touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)  ## start the server on 127.0.0.1:8000, data in ./data
	DATA_DIR=$${DATA_DIR:-data} $(BIN)/pnotify

login-link: $(RUN_STAMP)  ## a one-time sign-in link for the server `make run` started
	DATA_DIR=$${DATA_DIR:-data} $(BIN)/pnotify login-link

dev: $(DEV_STAMP)  ## auto-reloading server for development
	DATA_DIR=$${DATA_DIR:-data} $(BIN)/python -m uvicorn --factory pnotify.devserver:app --http pnotify.devserver:HttpProtocol --reload --reload-dir pnotify --reload-dir sql --host 127.0.0.1 --port 8000

test-fast: $(DEV_STAMP)  ## unit tests only (tests/unit/, seconds): for the edit loop
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

# The accessibility audit's axe-core, from npm (the browser tests inject it into the pages).
AXE := tests/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/axe/package.json tests/axe/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/axe --no-audit --no-fund --silent; \
	else echo "npm not found: the accessibility audit skips (apt-get install npm)"; fi

test: $(DEV_STAMP) $(AXE)  ## the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

screenshots: $(DEV_STAMP)  ## retake the README's screenshots (docs/screenshots/)
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser/test_screenshots.py

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy --strict pnotify/ tests/

fuzz: $(DEV_STAMP)  ## schemathesis against a live server, many examples (FUZZ_EXAMPLES=200)
	$(BIN)/python -m tests.fuzz $(or $(FUZZ_EXAMPLES),200)

migrate db-upgrade: $(RUN_STAMP)  ## apply pending migrations
	$(BIN)/python -m pnotify migrate

db-revision: $(RUN_STAMP)  ## make db-revision NAME=add_something
	@test -n "$(NAME)" || (echo "usage: make db-revision NAME=what_it_does" >&2; exit 2)
	$(BIN)/python -m pnotify new-migration "$(NAME)"

bench: $(DEV_STAMP)  ## side by side with the seed stack and yardsticks: HTTP, SSE fan-out, 1M rows
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk" >&2; exit 2; }
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/sse_bench.py
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
