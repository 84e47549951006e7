# perpdex — `make demo` and `make test` do all the set-up on a fresh clone.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test install install-dev bench clean redis-server postgresql chromium lint

$(BIN)/python:
	@echo ">> creating virtualenv in $(VENV)"
	@$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip

# lighter-sdk pins urllib3<2.1 while ccxt 4.5.90 pins urllib3==2.8.0: we only need the Lighter
# signer shared library shipped inside the lighter-sdk wheel, so it is installed without dependencies.
$(STAMP): pyproject.toml | $(BIN)/python
	@echo ">> installing perpdex and its dependencies"
	@$(BIN)/pip install -q -e .
	@$(BIN)/pip install -q --no-deps lighter-sdk==1.1.8
	@touch $@

# bpx-py (the official Backpack SDK, F02 test only) pins cryptography<44 while ccxt 4.5.90 pins
# cryptography>=50; the SDK imports fine with ccxt's newer cryptography, aiohttp, requests and certifi.
$(DEVSTAMP): pyproject.toml $(STAMP)
	@echo ">> installing dev extras (pytest, hypothesis, bpx-py)"
	@$(BIN)/pip install -q -e '.[dev]'
	@$(BIN)/pip install -q --no-deps bpx-py==2.0.11
	@touch $@

install: $(STAMP)
install-dev: $(DEVSTAMP)

demo: $(STAMP)
	@echo ">> running funding-rate arbitrage against the emulated exchanges (configs/sim.yml)"
	@rm -f perpdex-sim.db  # the emulator starts fresh each run, so does its paper-trading record
	@$(BIN)/perpdex run --config configs/sim.yml --duration 75 --report report.json

# The shared PriceProvider cache is tested against a real redis-server (Debian's package).
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { echo ">> installing redis-server (Debian package) for the shared-cache test"; \
	  apt-get install -y -q redis-server >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q redis-server >/dev/null; }; }

# The storage tests also run on a throwaway PostgreSQL server (tests/postgres.py): Debian's package
# puts initdb/pg_ctl/postgres in /usr/lib/postgresql/<version>/bin (off PATH) and creates the
# `postgres` user the server runs as when the tests run as root.
postgresql:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo ">> installing postgresql (Debian package) for the storage tests"; export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q postgresql >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q postgresql >/dev/null; }; }

# The dashboard's browser test drives Debian's headless Chromium through Selenium (chromedriver
# comes with the chromium-driver package; Selenium never downloads a browser or a driver).
chromium:
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  echo ">> installing chromium and chromium-driver (Debian packages) for the dashboard's browser test"; export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null; }; }

test: $(DEVSTAMP) redis-server postgresql chromium
	@echo ">> running the test suite"
	@$(BIN)/python -m pytest -q -n 2 --dist loadfile

# Style and types: ruff (lint and import order) on the code and tests, mypy on src/perpdex
# (configuration in pyproject.toml). Zero findings; each noqa / type: ignore says why on its line.
lint: $(DEVSTAMP)
	@echo ">> ruff and mypy"
	@$(BIN)/ruff check src tests benchmarks
	@$(BIN)/mypy

# every benchmark in turn (results: docs/BENCHMARKS.md)
BENCHMARKS = book paradex_signing feeds lifecycle execution grid backtest funding_history replay simrec scan alerts service

bench: $(DEVSTAMP)
	@for b in $(BENCHMARKS); do $(BIN)/python benchmarks/bench_$$b.py || exit 1; done

clean:
	rm -rf $(VENV) *.db report.json
