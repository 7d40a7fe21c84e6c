# Every target bootstraps .venv by itself: `make test` or `make demo` on a fresh machine is all it takes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test lint demo bench docs clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint,docs]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check cfke_auth tests benchmarks
	$(PY) -m ruff format --check cfke_auth tests benchmarks
	$(PY) -m mypy

demo: $(STAMP)
	$(PY) -m cfke_auth.demo

bench: $(STAMP)
	$(PY) benchmarks/run.py

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
