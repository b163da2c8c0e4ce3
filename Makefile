# akjob's two entry points for a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test system-deps venv lint unit services docs dist tox bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# mysqlclient compiles against MariaDB's client library (Debian: libmariadb-dev).
system-deps:
	@dpkg -s libmariadb-dev >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libmariadb-dev pkg-config; }

venv: $(BIN)/python system-deps
	$(BIN)/pip install -q -e ".[test,docs,postgres,mysql]" build twine tox

# Set up the example project on SQLite and run akjobd in the foreground with a few demo jobs.
demo: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py akjob_demo
	AKJOB_START_DAEMON=False $(BIN)/python manage.py akjobd run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Everything: lint, the test suite on SQLite (with the real daemon), again on PostgreSQL and
# MariaDB, the docs, the package, and Django 6 on Python 3.12.
test: lint
	$(BIN)/python manage.py makemigrations akjob --check --dry-run
	$(BIN)/pytest
	$(BIN)/python -m tests.servers postgres -m "not acceptance" -q
	$(BIN)/python -m tests.servers mysql -m "not acceptance" -q
	$(BIN)/mkdocs build --strict --site-dir build/site
	rm -rf dist && $(BIN)/python -m build -q && $(BIN)/twine check --strict dist/*
	PYENV_VERSION=3.11.7:3.12.1:3.13.0 $(BIN)/tox -e py312-django6x

bench: venv
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .tox build dist site example/db.sqlite3 example/akjob
