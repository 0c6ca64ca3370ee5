# Two commands matter: `make run` and `make test`. Everything else is a step they use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install tools run test bench clean

install: $(STAMP) node_modules/.installed tools

# docker-compose only validates docker-compose.yml in a test (no Docker engine is needed or used).
tools:
	@command -v docker-compose >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& (apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null) \
		|| echo "note: docker-compose not installed; the compose-file test will be skipped"; }

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch node_modules/.installed

run: install
	$(BIN)/python -m devstack

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Each benchmark exits 1 when it misses a goal; run them all regardless (results: bench/README.md).
bench: install
	-$(BIN)/python bench/bench_sharepack.py
	-$(BIN)/python bench/bench_provisioning.py
	-$(BIN)/python bench/bench_api.py
	-$(BIN)/python bench/bench_workers.py
	-$(BIN)/python bench/bench_emulator.py
	-$(BIN)/python bench/bench_preflight.py

clean:
	rm -rf $(VENV) .local node_modules
