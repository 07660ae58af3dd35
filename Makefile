# The bookstore on msa. `make up` and `make test` install what they need.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo .venv-tools/bin/uv)
VENV := .venv
STAMP := $(VENV)/.synced

.PHONY: up up-monolith down test check docs clean bench bench-startup bench-checkout chaos

$(UV):
	python3 -m venv .venv-tools && .venv-tools/bin/pip install --quiet uv

# Bytecode compiled at install, so that the first `msa up` does not compile it.
$(STAMP): $(UV) uv.lock pyproject.toml platform/pyproject.toml $(wildcard services/*/pyproject.toml)
	UV_COMPILE_BYTECODE=1 $(UV) sync --frozen --quiet
	@touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(VENV)/bin/msa up

up-monolith: $(STAMP)
	$(VENV)/bin/msa up --mode monolith

down: $(STAMP)
	$(VENV)/bin/msa down

test: $(STAMP)
	$(VENV)/bin/pytest -q

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy platform/src services/*/src
	$(VENV)/bin/msa docs --check

docs: $(STAMP)
	$(VENV)/bin/msa docs

# Every figure side by side (checkout five ways, book page, one call, events, platform):
# bench/results/<date>-<sha>.{json,md,png} and docs/performance.md (see bench/README.md).
bench: $(STAMP)
	$(VENV)/bin/msa bench --publish

# Cold start, idle memory and restart after SIGKILL, one mode at a time.
bench-startup: $(STAMP)
	$(VENV)/bin/python -m bench.startup --mode process
	$(VENV)/bin/python -m bench.startup --mode monolith

# The checkout five ways alone.
bench-checkout: $(STAMP)
	$(VENV)/bin/msa bench checkout

# The long fault-injection run (>= 10 min, >= 100 faults); the short one runs in `make test`.
# SEED=n replays a schedule; the JSON report goes to .msa/chaos-long.json.
chaos: $(STAMP)
	$(VENV)/bin/msa chaos --profile long $(if $(SEED),--seed $(SEED)) --report .msa/chaos-long.json

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache
