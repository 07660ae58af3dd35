# The bookstore on msa. `make up` and `make test` install what they need.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo .venv-tools/bin/uv)
VENV := .venv
STAMP := $(VENV)/.synced

.PHONY: up up-monolith down test check docs clean bench bench-startup bench-checkout chaos \
	test-service contracts-check image push-image deploy images deploy-try

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
	$(VENV)/bin/msa contracts check

docs: $(STAMP)
	$(VENV)/bin/msa docs

# The targets each service's CI workflow runs (.github/workflows/<service>.yml, generated
# from system.toml by `msa docs`); SERVICE=name, ENV=dev|prod.
need-service = @test -n "$(SERVICE)" -a -d "services/$(SERVICE)" || { echo "make $@: set SERVICE to a folder under services/" >&2; exit 2; }

test-service: $(STAMP)
	$(need-service)
	$(VENV)/bin/pytest -q services/$(SERVICE)

contracts-check: $(STAMP)
	$(VENV)/bin/msa contracts check

# the images are built together (they share their base and wheel layers); SERVICE names
# the one a workflow pushes
image: $(STAMP)
	$(need-service)
	$(VENV)/bin/msa deploy images --build $(if $(TAG),--tag $(TAG))

push-image: $(STAMP)
	$(need-service)
	@test -n "$(REGISTRY)" || { echo "make push-image: set REGISTRY (the image registry)" >&2; exit 2; }
	podman push $(REGISTRY)/$(SERVICE):$(or $(TAG),dev)

deploy: $(STAMP)
	$(need-service)
	@test "$(ENV)" = dev -o "$(ENV)" = prod || { echo "make deploy: set ENV=dev or ENV=prod" >&2; exit 2; }
	@$(VENV)/bin/msa deploy --help >/dev/null 2>&1 || { echo "make deploy: this tree has no manifest renderer (msa deploy) yet" >&2; exit 2; }
	$(VENV)/bin/msa deploy render --env $(ENV) --output .msa/manifests/$(ENV)
	kubectl apply -k .msa/manifests/$(ENV) --selector app.kubernetes.io/name=$(SERVICE)

# One image per service (and the dev overlay's infra image), tagged with the git sha,
# built with podman from build/images (Containerfiles written by `msa deploy images`).
images: $(STAMP)
	$(VENV)/bin/msa deploy images --build

# The rendered dev overlay under `podman kube play`; everything is stopped afterwards.
deploy-try: $(STAMP)
	$(VENV)/bin/msa deploy try

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
