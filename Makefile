# The two commands of the README: `make demo` and `make test`. Everything they need is
# installed here, into .venv, from the project's own files.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_ARCHIVE := work/demo-archive

.PHONY: demo test install install-test install-system-deps lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[workflow]"

# satellitetools: ESA's network coefficients for tests/test_biophysical*.py, read as data files
# only, so without its (heavy, unused) dependencies.
install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[workflow,hpc,edr,ml-mask,publish,test]"
	$(BIN)/pip install --quiet --no-deps satellitetools==2.1.6

demo: install
	$(BIN)/raw2ready demo-archive $(DEMO_ARCHIVE)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --configfile config/demo.yaml --profile profiles/local
	@echo
	@$(BIN)/raw2ready summary --configfile config/demo.yaml

# System packages of the system tests, from Debian: a real single-node Slurm with munge
# (tests/test_slurm.py), PostgreSQL with PostGIS for pgstac (tests/test_pgstac.py) and headless
# Chromium for the campaign report (tests/test_report.py). Installed when missing and we are root;
# otherwise the tests that need them skip and say why.
SYSTEM_DEPS := slurm-wlm munge postgresql-15 postgresql-15-postgis-3 chromium
install-system-deps:
	@missing=$$(for p in $(SYSTEM_DEPS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then \
		echo "system deps present: $(SYSTEM_DEPS)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
		echo "not root or no apt-get: $$missing not installed, the tests that need them will skip"; \
	fi

test: install-test install-system-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

lint: install-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint --configfile config/demo.yaml

clean:
	rm -rf results work .snakemake
