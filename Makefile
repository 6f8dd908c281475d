# Kansha: the two commands are `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test install lint check worker beat serve clean bench messages compilemessages

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Kansha needs Python 3.11 ($(PYTHON) not found; set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

## messages: refresh the Japanese catalogue from the code (then translate the new entries in
## locale/ja/LC_MESSAGES/django.po) and compile it. See README › Translations.
MESSAGES_IGNORE := --ignore=.venv --ignore=tests --ignore=bench --ignore=var \
	--ignore=staticfiles --ignore=test-artifacts --ignore=kansha.egg-info
messages: install
	$(BIN)/python manage.py makemessages -l ja --no-obsolete --no-location $(MESSAGES_IGNORE)
	@sed -i '/^"POT-Creation-Date: /d' locale/ja/LC_MESSAGES/django.po  # no date-only diffs
	$(BIN)/python manage.py compilemessages -l ja --ignore=.venv

## compilemessages: the .mo is committed; this rebuilds it when the .po is newer.
compilemessages: locale/ja/LC_MESSAGES/django.mo
locale/ja/LC_MESSAGES/django.mo: locale/ja/LC_MESSAGES/django.po
	@if command -v msgfmt >/dev/null 2>&1; then \
		$(BIN)/python manage.py compilemessages -l ja --ignore=.venv; \
	else echo "msgfmt not found (apt-get install gettext): using the committed django.mo"; fi

## demo: a working Kansha on SQLite with tasks in-process and a simulated mention stream.
demo: install compilemessages
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_setup --port $(PORT)
	$(BIN)/python manage.py runserver_demo 0.0.0.0:$(PORT)

## test: the whole suite; uses DATABASE_URL and REDIS_URL when they are set. Without
## DATABASE_URL it runs on PostgreSQL at TEST_DATABASE_URL when that accepts a connection
## (pytest-django creates test_kansha_test beside it), else on SQLite; a line says which.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/kansha_test
test: export DJANGO_DEBUG := $(or $(DJANGO_DEBUG),1)
test: install compilemessages
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy advocates rewards cms
	@url="$$($(BIN)/python tests/database_url.py '$(TEST_DATABASE_URL)')" || exit 1; \
	  DATABASE_URL="$$url" $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy advocates rewards cms

## worker / beat: production-style processes (need REDIS_URL and DATABASE_URL). Run them under
## a supervisor that restarts them (deploy/systemd/, Procfile; README › Supervision).
worker: install
	$(BIN)/celery -A cms worker -l info -Q default,ingest,detect,deliver,rewards,reports

beat: install
	$(BIN)/celery -A cms beat -l info --scheduler django_celery_beat.schedulers:DatabaseScheduler

## serve: gunicorn as measured by bench/load.py (docs/reliability.md section 8): threaded
## workers with keep-alive and persistent database connections; no control socket (gunicorn's
## default path is shared by every gunicorn of the same user).
serve: export DB_CONN_MAX_AGE := $(or $(DB_CONN_MAX_AGE),600)
serve: install
	$(BIN)/python manage.py collectstatic --noinput
	$(BIN)/gunicorn cms.wsgi -b 0.0.0.0:$(PORT) -k gthread -w $(or $(WEB_WORKERS),4) --threads 2 --keep-alive 30 --no-control-socket

clean:
	rm -rf $(VENV) db.sqlite3 var
