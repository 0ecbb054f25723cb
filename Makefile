# Two commands do all set-up on a fresh machine:  `make demo`  and  `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
DATA_DIR ?= ./data
PYTEST_ARGS ?= -n 2 --timeout=900

# No telemetry, no downloads at run time.
export BENTOML_DO_NOT_TRACK := true
export FEAST_USAGE := False
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export SPM_SHARED_DIR := $(abspath $(SHARED))

.PHONY: env demo test lint typecheck pytest benchmarks clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

env: $(VENV)/.synced

demo: env
	$(BIN)/spm demo --shared $(SHARED) --data-dir $(DATA_DIR)

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: env
	$(BIN)/mypy spm_domain

pytest: env
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .pytest_cache .ruff_cache
