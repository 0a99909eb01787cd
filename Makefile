# Context service harness: legacy vs refactored, chaos, load, contracts, gate.
# Every target depends on `setup`, which creates .venv and installs the project (idempotent).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST := $(PY) -m pytest

.DEFAULT_GOAL := help
.PHONY: help setup test test-unit test-integration test-chaos test-contracts test-load lint format clean \
	setup-browser up down status chaos load demo ablation bench compare gate contracts bench-toxiproxy bench-transports \
	fuzz bench-service-cpu

# Knobs (also documented in README.md): which scenario and target, the time scale.
SCENARIO ?= all
TARGET ?=
TIME_SCALE ?= 0.1
export TIME_SCALE
STACK_WORKERS ?= 2
export STACK_WORKERS
WORKERS := --workers $(STACK_WORKERS)
HARNESS := $(PY) -m harness

help: ## list the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the project with its dev and load extras

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required: set PYTHON=/path/to/python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,load]'
	@touch $(STAMP)

setup-browser: ## install Debian's headless Chromium (for the compare report's screenshot test) if missing
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

test: setup test-unit test-integration test-contracts test-chaos test-load ## run every test tier (exits non-zero if any tier fails or collects nothing)

test-unit: setup ## unit tests: no I/O beyond the process
	$(PYTEST) tests/unit -m unit

test-integration: setup ## integration tests: real PostgreSQL (DATABASE_URL or embedded), RabbitMQ when AMQP_URL is set
	$(PYTEST) tests/integration -m integration

test-chaos: setup ## chaos tier: the real stack at TIME_SCALE=0.1, llm_latency + db_down on both targets
	$(PYTEST) tests/chaos -m chaos

test-contracts: setup ## contracts tier: legacy vs refactored, fast profile (CONTRACTS_PROFILE=deep for more)
	$(PYTEST) contracts -m contracts

test-load: setup ## load tier: Locust three_am, then every other scenario (short) on both targets, distributed mode
	$(PYTEST) tests/load -m load

lint: setup ## ruff (with the ASYNC rules), import-linter, mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy legacy refactored doubles testbed chaos loadtests harness contracts benchmarks

format: setup ## apply ruff's formatter and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean: ## stop and reap what any run left (make down), then remove the virtualenv, caches and the stack state (keeps reports/)
	@if [ -x $(PY) ]; then $(HARNESS) down || true; fi
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .stack .hypothesis

# ---- the stack and the runs (each writes reports/<run-id>/, reports/latest points at it) ----

up: setup ## boot both targets behind Caddy with fakes, Toxiproxy and PostgreSQL; writes .stack/stack.json
	$(HARNESS) up $(if $(TARGET),--target $(TARGET))

down: setup ## stop everything `make up` started and reap what a killed run left (processes, stack_* databases)
	$(HARNESS) down

status: setup ## show the running stack's URLs and health
	$(HARNESS) status

chaos: setup ## run chaos scenarios (SCENARIO=all|name[,name] TARGET=both|legacy|refactored)
	$(HARNESS) chaos --scenario $(SCENARIO) --target $(or $(TARGET),both) $(WORKERS)

# SCENARIO's Makefile default (all, for chaos) means three_am here; SCENARIO=all on the
# command line runs every load scenario.
load: setup ## run Locust scenarios headless (SCENARIO=three_am|all|name[,name] TARGET=both|legacy|refactored)
	$(HARNESS) load --scenario $(if $(filter file,$(origin SCENARIO)),three_am,$(SCENARIO)) --target $(or $(TARGET),both) $(WORKERS)

demo: setup ## the main job: the 3am incident on legacy (504s) and refactored (none), compared
	$(HARNESS) demo $(WORKERS)

ablation: setup ## refactored with each resilience policy disabled in turn: fix x failure table
	$(HARNESS) ablation $(WORKERS)

bench: setup ## sustainable throughput of both targets vs the ideal bound (bench.json)
	$(HARNESS) bench $(WORKERS)

# FUZZ_EXAMPLES: Schemathesis cases per operation and mode (50); FUZZ_MAX_SECONDS: the sending
# budget per target (300); FUZZ_SEED: Hypothesis's seed (0, so a run replays).
fuzz: setup ## hostile clients: Schemathesis + a hostile-input battery per target (TARGET=, FUZZ_EXAMPLES=); fuzz.json
	$(HARNESS) fuzz --target $(or $(TARGET),both) $(WORKERS) $(if $(FUZZ_EXAMPLES),--examples $(FUZZ_EXAMPLES)) \
		$(if $(FUZZ_MAX_SECONDS),--max-seconds $(FUZZ_MAX_SECONDS)) $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))

compare: setup ## compare two runs (A=reports/<x> B=reports/<y>; default: legacy vs refactored of the latest run)
	$(HARNESS) compare $(if $(A),--a $(A)) $(if $(B),--b $(B))

gate: setup ## the deploy gate: the resilience checklist against the latest runs (TARGET=refactored|legacy, EXPECT_FAILURES=R1,R2,...)
	$(HARNESS) gate --target $(or $(TARGET),refactored) $(if $(EXPECT_FAILURES),--expect-failures $(EXPECT_FAILURES))

contracts: setup ## contract tests legacy vs refactored (CONTRACTS_PROFILE=fast|deep)
	$(PYTEST) contracts -m contracts

bench-toxiproxy: setup ## overhead of the bundled Toxiproxy server with no toxic
	$(PY) -m harness.bench_toxiproxy

bench-transports: setup ## httpx transports against a 200 ms upstream (why refactored uses httpx-aiohttp)
	$(PY) -m benchmarks.http_transports

# BENCH_ARGS: more options of benchmarks/service_cpu.py (--clients, --duration, --rounds,
# --workload suggest|end, --py-spy DIR); docs/performance.md reads its figures
bench-service-cpu: setup ## refactored's CPU ms per request (whole gunicorn tree), suggest and conversation end
	$(PY) -m benchmarks.service_cpu --workers $(STACK_WORKERS) $(BENCH_ARGS)
