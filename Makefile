# `make run` starts the bot, `make test` runs every check CI runs. Both build .venv on first use
# from the hash-locked requirement files, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8

.PHONY: run test lint format typecheck pytest bench lock clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Cameo needs Python 3.11 or newer; set PYTHON=python3.11 (or newer) and try again.")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime-installed: $(BIN)/python requirements/runtime.lock pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/runtime.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements/dev.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
	@touch $@

run: $(VENV)/.runtime-installed
	$(BIN)/cameo run

test: lint typecheck pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest

bench: $(VENV)/.dev-installed
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Regenerate the locks after changing dependencies in pyproject.toml (needs the network).
lock:
	$(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(PYTHON) -m uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--no-emit-package cameo -o requirements/runtime.lock requirements/runtime.in
	$(PYTHON) -m uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--no-emit-package cameo -o requirements/dev.lock requirements/dev.in

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
