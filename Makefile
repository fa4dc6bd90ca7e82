# OmniCX — `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed
# make run PORT=8001 serves on another port (OMNICX_PORT in the environment works too).
PORT ?=
# Test processes: one per core (at most 4); each test file stays in one process, so a
# module's live server starts once.
TEST_WORKERS ?= auto

.PHONY: help run test check bench lint format clean messages

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP) ## Install, migrate, load demo data and serve on http://127.0.0.1:8000 (PORT=8001 for another port)
	@$(VENV)/bin/omnicx migrate
	@$(VENV)/bin/omnicx demo --if-empty
	@$(VENV)/bin/omnicx serve $(if $(PORT),--port $(PORT))

test: $(STAMP) check ## Lint, type-check, then run the whole test suite (in parallel; TEST_WORKERS=1 for one process)
	@scripts/ensure-chromium
	@scripts/ensure-dovecot
	@$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --maxprocesses 4 --dist loadfile --durations=15 $(PYTEST_ARGS)

check: $(STAMP) ## ruff, mypy and the domain dependency contract
	@$(VENV)/bin/ruff check src tests bench
	@$(VENV)/bin/mypy
	@$(VENV)/bin/lint-imports --no-cache

bench: $(STAMP) ## Run the benchmarks (by hand; figures go to docs/benchmarks.md)
	@$(PY) bench/ingest.py
	@$(PY) bench/identity.py
	@$(PY) bench/pipeline.py
	@$(PY) bench/pipeline.py --kind messages --events 1500 --batch-sizes 1,20
	@$(PY) bench/lookup.py
	@$(PY) bench/scheduler.py
	@$(PY) bench/desk.py
	@$(PY) bench/channels.py
	@$(PY) bench/mail.py

messages: $(STAMP) ## Extract the UI's and errors' strings and update the zh-CN/en catalogs (docs/i18n.md)
	@$(PY) -m omnicx.core.message_catalog

format: $(STAMP) ## Format the code
	@$(VENV)/bin/ruff format src tests bench
	@$(VENV)/bin/ruff check --fix src tests bench

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) var
