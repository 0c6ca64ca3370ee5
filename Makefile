# Two commands matter: `make run` and `make test`. Everything else is a step they use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov (PyPI) pins packaging<24, which pytest 9 cannot use, so it gets a virtualenv of its own.
CHECKOV := $(VENV)/checkov/bin/checkov
CHECKOV_VERSION := 3.3.30

.PHONY: install tools run lint test test-fast test-containers images lock bench clean

install: $(STAMP) node_modules/.installed tools $(CHECKOV)

# Debian tools the suite uses on files only: docker-compose validates docker-compose.yml (no Docker engine
# is needed or used); promtool (package prometheus) checks and unit-tests deploy/alerts.yml; chromium runs the
# console's browser tests through Playwright (whose own browser download cannot run here); podman (with runc,
# uidmap and mmdebstrap for a base image made offline) builds and runs the images (`make images`).
APT_TOOLS := docker-compose:docker-compose promtool:prometheus chromium:chromium podman:podman runc:runc \
	newuidmap:uidmap mmdebstrap:mmdebstrap
tools:
	@for pair in $(APT_TOOLS); do tool=$${pair%%:*}; package=$${pair#*:}; \
		command -v $$tool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& (apt-get update -qq && apt-get install -y -qq --no-install-recommends $$package >/dev/null) \
		|| echo "note: $$tool not installed (Debian package $$package); the tests that need it will be skipped"; }; \
	done

# uv (a dev dependency, for `make lock` too) installs what pip would, resolving and downloading in parallel:
# on a clean clone the two environments took over 5 minutes with pip and under a minute with uv.
UV := $(BIN)/uv
UV_VERSION := uv>=0.13,<0.14

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(BIN)/python -m pip install --quiet '$(UV_VERSION)'
	$(UV) pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

$(CHECKOV): | $(STAMP)
	$(PYTHON) -m venv --without-pip $(VENV)/checkov
	$(UV) pip install --quiet --python $(VENV)/checkov/bin/python 'checkov==$(CHECKOV_VERSION)'

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch node_modules/.installed

run: install
	$(BIN)/python -m dev.devstack

# The suite in random order (pytest-randomly, on in pyproject.toml: a test leaning on another's leftovers fails;
# rerun an order with PYTEST_ARGS=--randomly-seed=N, the seed printed at the top), spread over every core by
# pytest-xdist, each file on one worker (its module fixtures are built once).
XDIST := -n auto --dist loadfile
# With PYTHONDONTWRITEBYTECODE set (some shells and sandboxes set it), every xdist worker recompiles the code
# and pytest re-rewrites every test module on every run: half of collection's CPU. Python ignores it when empty.
test test-fast: export PYTHONDONTWRITEBYTECODE :=
test: lint
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# ruff over the whole tree (pyproject.toml's [tool.ruff]); `make test` runs it first.
lint: install
	$(BIN)/ruff check .

# The inner loop: unit and integration tests without the slow ones (`slow`: tests/conftest.py says which and why).
# Only their two folders are collected: each xdist worker would otherwise import the e2e and browser modules too.
# Two workers more than cores: a third of these tests' time is spent waiting (queue visibility and back-off
# delays of a second or more, servers starting), which the extra workers' tests fill. Each worker pays its own
# start and collection (~5 s of CPU); on the 2-core machine 4 workers took a median 65.6 s, 3 took 71.8 s
# (three runs each, alternating; bench/README.md, "The suite").
FAST_XDIST := -n $(shell echo $$(( $$(nproc) + 2 ))) --dist loadfile
test-fast: install
	$(BIN)/python -m pytest $(FAST_XDIST) -m "(unit or integration) and not slow" $(PYTEST_ARGS) tests/unit tests/integration

# The images run the way production runs them (tests/containers); `make images` builds them first.
test-containers: install
	$(BIN)/python -m pytest -m containers tests/containers $(PYTEST_ARGS)

# sharepack-api and sharepack-worker (which also runs the sync service): deploy/images/build.sh says how.
images: install
	deploy/images/build.sh

# requirements.lock: the production dependencies of pyproject.toml, each pinned with its hashes.
lock: install
	deploy/images/lock.sh

# Each benchmark exits 1 when it misses a goal; run them all regardless (results: bench/README.md).
bench: install
	-$(BIN)/python -m bench.bench_sharepack
	-$(BIN)/python -m bench.bench_provisioning
	-$(BIN)/python -m bench.bench_design_scale
	-$(BIN)/python -m bench.bench_api
	-$(BIN)/python -m bench.bench_workers
	-$(BIN)/python -m bench.bench_emulator
	-$(BIN)/python -m bench.bench_preflight
	-$(BIN)/python -m bench.bench_notifications

clean:
	rm -rf $(VENV) .local node_modules
