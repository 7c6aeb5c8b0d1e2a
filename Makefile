# Two commands do everything on a fresh machine: `make run` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

MO := voting/translations/zh_Hans_CN/LC_MESSAGES/messages.mo

.PHONY: run test install install-test translations messages bench

run: install translations
	$(BIN)/voting init-db
	$(BIN)/voting demo --if-empty
	$(BIN)/voting serve --host 127.0.0.1 --port 5000

test: install-test translations
	$(BIN)/pytest $(PYTEST_ARGS)

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test]"
	touch $@

# Compile the message catalogues in place for the checkout (a wheel's build runs the same command in
# setup.py) (zh_CN is the default language; English is the source text),
# when the catalogue changed: two `make test` at once (.ci/run) then never rewrite it under each other.
translations: $(MO)

$(MO): voting/translations/zh_Hans_CN/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel -q compile -d voting/translations

# After changing user-facing text: re-extract and merge into the catalogues, then translate.
messages: install
	$(BIN)/pybabel -q extract -F babel.cfg -k _l --no-location --no-wrap -o voting/translations/messages.pot voting templates
	$(BIN)/pybabel -q update -N --no-wrap -i voting/translations/messages.pot -d voting/translations

bench: install-test
	$(BIN)/python -m bench
