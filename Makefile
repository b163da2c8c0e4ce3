# akjob's two entry points for a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Django 6 runs on Python 3.12+: tox finds it in pyenv's versions when they are there.
PYENV_BINS := $(shell r=$$(pyenv root 2>/dev/null) && ls -d $$r/versions/3.1[23]*/bin 2>/dev/null | paste -sd:)

.PHONY: demo test system-deps venv lint unit services docs dist tox bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The demo needs akjob and its three dependencies (Django, python-daemon, tzdata), nothing else.
$(VENV)/.demo-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

# mysqlclient compiles against MariaDB's client library (Debian: libmariadb-dev); the admin's
# browser tests drive Debian's chromium.
SYSTEM_PACKAGES := libmariadb-dev pkg-config chromium chromium-driver
system-deps:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); }

venv: $(BIN)/python system-deps
	$(BIN)/pip install -q -e ".[test,docs,postgres,mysql]" build twine tox

# Set up the example project on SQLite and run akjobd in the foreground with a few demo jobs;
# akjob_demo prints what to look at meanwhile.
demo: $(VENV)/.demo-installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py akjob_demo
	AKJOB_START_DAEMON=False $(BIN)/python manage.py akjobd run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Everything: lint, the whole test suite on Django 5.2 (real daemons on SQLite, PostgreSQL and
# MariaDB, a real browser, a fresh install of the built wheel in a new virtualenv), the unit and
# integration tiers again on PostgreSQL and MariaDB, the docs, the package, and the suite on
# Django 6 with Python 3.12 (less the multi-daemon and outage tests, which stop the shared
# servers, and the fresh install, done once already).
test: lint
	$(BIN)/python manage.py makemigrations akjob --check --dry-run
	$(BIN)/pytest
	$(BIN)/python -m tests.servers postgres -m "not acceptance and not browser" -q
	$(BIN)/python -m tests.servers mysql -m "not acceptance and not browser" -q
	$(BIN)/mkdocs build --strict --site-dir build/site
	rm -rf dist && $(BIN)/python -m build -q && $(BIN)/twine check --strict dist/*
	PATH="$(PYENV_BINS):$$PATH" $(BIN)/tox -e py312-django6x -- -q --ignore=tests/multidb/test_daemons.py --ignore=tests/multidb/test_outage.py -m "not fresh_install and (not acceptance or django_tasks)"

bench: venv
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .tox build dist site example/db.sqlite3 example/akjob
