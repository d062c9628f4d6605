# Two commands do all the set-up on a machine with only Python 3.11 and pip:
#   make run    create .venv and run the main job
#   make test   create .venv and run every check and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/trio-orch run examples/build.toml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/flake8 --select=ASYNC910,ASYNC911 trio_orch
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict trio_orch
	$(BIN)/mypy --strict tests/typing

pytest: $(STAMP)
	$(BIN)/python -m pytest -q --cov --cov-report=term:skip-covered --cov-fail-under=90

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
