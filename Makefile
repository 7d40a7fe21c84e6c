# Every target bootstraps .venv by itself: `make test` or `make demo` on a fresh machine is all it takes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

AZURITE := $(VENV)/azurite/node_modules/.bin/azurite-blob
NODE_CLIENTS := $(VENV)/node/node_modules
HCL_TOOLS := $(VENV)/hcl-tools/node_modules/@cdktf/hcl-tools

.PHONY: venv test lint demo bench docs clean

venv: $(STAMP)

# Azurite (Azure Storage's emulator, from npm) lets the Azure tests drive a real azure-storage-blob client.
# Installed when npm is on the machine; without it those three tests are skipped, and say so.
$(AZURITE):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/azurite azurite@3.35.0; \
	else echo "npm not found: the Azurite tests will be skipped"; fi

# The Node.js SDK clients (tests/node/package.json, versions pinned by its lock file) drive the credential endpoints
# from a second language. Installed when npm is on the machine; without it those tests are skipped, and say so.
$(NODE_CLIENTS): tests/node/package.json tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		mkdir -p $(VENV)/node && cp tests/node/package.json tests/node/package-lock.json $(VENV)/node/ && \
		npm ci --silent --no-audit --no-fund --prefix $(VENV)/node && touch $(NODE_CLIENTS); \
	else echo "npm not found: the Node.js client tests will be skipped"; fi

# hclwrite's formatter (what `terraform fmt` runs), built to WebAssembly and published on npm as @cdktf/hcl-tools:
# the CLI tests check that the Terraform `cfke-auth gcp principal` prints is formatted. Without npm that test is
# skipped, and says so.
$(HCL_TOOLS):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/hcl-tools @cdktf/hcl-tools@0.21.0; \
	else echo "npm not found: the Terraform formatting test will be skipped"; fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint,docs]'
	touch $(STAMP)

test: $(STAMP) $(AZURITE) $(NODE_CLIENTS) $(HCL_TOOLS)
	AZURITE_BLOB=$$(test -x $(AZURITE) && echo $(AZURITE)) \
	CFKE_HCL_TOOLS=$$(test -d $(HCL_TOOLS) && echo $(CURDIR)/$(HCL_TOOLS)) \
	CFKE_NODE_MODULES=$$(test -d $(NODE_CLIENTS) && echo $(CURDIR)/$(NODE_CLIENTS)) $(PY) -m pytest -q -rs

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
