# Two commands do all the set-up on a machine with only Python 3.11 (or newer) and pip:
#   make run    create .venv with the package alone and run the main job
#   make test   create .venv with the test extras and run every check and the whole test suite
#
# PYTHON picks the interpreter (make run PYTHON=python3.12).  A Python older than 3.11 is
# refused before anything is done; a .venv made by another interpreter is recreated.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per set of packages: `make test` installs more than `make run` needs.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

# `make test` installs every extra pyproject.toml defines: the test tools, the bench peers
# (tests/test_benchmarks.py runs them) and the optional integrations the suite covers
# (monitor, config, examples, ...).
TEST_EXTRAS = $(shell $(PYTHON) -c 'import tomllib; extras = tomllib.load(open("pyproject.toml", "rb"))["project"].get("optional-dependencies", {}); print(",".join(["test", "bench", *sorted(set(extras) - {"test", "bench"})]))')

.PHONY: run test lint typecheck pytest bench clean FORCE
.DEFAULT_GOAL := run

ifeq ($(filter-out clean,$(or $(MAKECMDGOALS),run)),)
else
# --- the interpreter: refuse an old one in one line, recreate a .venv made by another ----
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)
PY_OK := $(shell $(PYTHON) -c 'import sys; print(int(sys.version_info >= (3, 11)))' 2>/dev/null)
ifneq ($(PY_OK),1)
$(error trio_orch needs Python 3.11 or newer, but $(PYTHON) is $(if $(PY_VERSION),Python $(PY_VERSION),not found); run `make PYTHON=python3.11 ...`)
endif
# The interpreter's real path and build; a venv's python reports its base interpreter's.
WHICH_PYTHON := import os, sys; print(os.path.realpath(sys._base_executable), sys.version)
PY_BUILD := $(shell $(PYTHON) -c '$(WHICH_PYTHON)' 2>/dev/null)
VENV_BUILD := $(shell $(BIN)/python -c '$(WHICH_PYTHON)' 2>/dev/null)
ifneq ($(PY_BUILD),$(VENV_BUILD))
STALE_VENV := FORCE
endif
endif

$(VENV)/pyvenv.cfg: $(STALE_VENV)
	$(PYTHON) -m venv --clear $(VENV)

$(RUN_STAMP): pyproject.toml $(VENV)/pyvenv.cfg
	@if [ -f $(TEST_STAMP) ] && [ $(TEST_STAMP) -nt pyproject.toml ] && [ $(TEST_STAMP) -nt $(VENV)/pyvenv.cfg ]; then \
		echo "$(VENV) already has the package (from make test)"; \
	else \
		echo "$(PIP) -e ."; $(PIP) -e . ; \
	fi
	touch $@

$(TEST_STAMP): pyproject.toml $(VENV)/pyvenv.cfg
	$(PIP) -e '.[$(TEST_EXTRAS)]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/trio-orch run examples/build.toml

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/flake8 --select=ASYNC910,ASYNC911 trio_orch
	$(BIN)/lint-imports

typecheck: $(TEST_STAMP)
	$(BIN)/mypy --strict trio_orch
	$(BIN)/mypy --strict tests/typing

pytest: $(TEST_STAMP)
	$(BIN)/python -m pytest -q --cov --cov-report=term:skip-covered --cov-fail-under=90

test: lint typecheck pytest

bench: $(TEST_STAMP)
	$(BIN)/trio-orch bench

clean:
	rm -rf $(VENV) build *.egg-info
