# Context service harness: legacy vs refactored, chaos, load, contracts, gate.
# Every target depends on `setup`, which creates .venv and installs the project (idempotent).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST := $(PY) -m pytest

.DEFAULT_GOAL := help
.PHONY: help setup test test-unit test-integration lint format clean

help: ## list the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the project with its dev and load extras

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required: set PYTHON=/path/to/python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,load]'
	@touch $(STAMP)

test: setup test-unit test-integration ## run every test tier (exits non-zero if any tier fails or collects nothing)

test-unit: setup ## unit tests: no I/O beyond the process
	$(PYTEST) tests/unit -m unit

test-integration: setup ## integration tests: real PostgreSQL (DATABASE_URL or embedded), RabbitMQ when AMQP_URL is set
	$(PYTEST) tests/integration -m integration

lint: setup ## ruff (with the ASYNC rules), import-linter, mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy refactored harness

format: setup ## apply ruff's formatter and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean: ## remove the virtualenv, caches and the stack state (keeps reports/)
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .stack .hypothesis
