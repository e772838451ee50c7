# Kizuki: `make run` starts everything, `make test` checks everything.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SIZE ?= tiny
SERVER ?= tests

.PHONY: run test lint format bench lock messages browser services-stop

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	@touch $(STAMP)

run: $(STAMP)
	@$(PY) -m ma_core.launcher

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Tests drive pages in Debian's Chromium, and the bench loads /t/collect with
# wrk; install what is missing (Debian packages).
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
	    || ! command -v wrk >/dev/null; then \
	  echo "Installing chromium, chromium-driver and wrk (Debian packages) for tests and bench"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver wrk >/dev/null; \
	fi

test: $(STAMP) browser lint
	KIZUKI_MODE=test $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP) browser
	KIZUKI_MODE=test $(PY) -m bench --size $(SIZE) --server $(SERVER)

# Re-pin every package from pyproject.toml's ranges into requirements.lock.
lock:
	rm -rf /tmp/kizuki-lock && $(PYTHON) -m venv /tmp/kizuki-lock
	$(PYTHON) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	  print('\n'.join(p['dependencies'] + p['optional-dependencies']['dev']))" > /tmp/kizuki-lock/reqs.txt
	/tmp/kizuki-lock/bin/pip install --quiet -r /tmp/kizuki-lock/reqs.txt
	(echo "# Pinned versions of every package, from pyproject.toml's ranges: make lock"; \
	  /tmp/kizuki-lock/bin/pip freeze) > requirements.lock

# Translations: extract, then compile. The compiled .mo files are committed
# so a fresh machine needs no gettext.
messages: $(STAMP)
	$(PY) manage.py makemessages -l ja -l en --no-wrap --ignore=.venv --ignore=var --ignore=bench --ignore="*/tests/*" --ignore=tests
	$(PY) manage.py compilemessages --ignore=.venv

services-stop: $(STAMP)
	$(PY) -m ma_core.embedded stop
