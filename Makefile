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

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[workflow,hpc,test]"

demo: install
	$(BIN)/raw2ready demo-archive $(DEMO_ARCHIVE)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --configfile config/demo.yaml --profile profiles/local
	@echo
	@$(BIN)/raw2ready summary --configfile config/demo.yaml

# System packages of the SLURM test (tests/test_slurm.py): a real single-node Slurm with munge,
# from Debian. Installed when missing and we are root; otherwise that test skips and says why.
SYSTEM_DEPS := slurm-wlm munge
install-system-deps:
	@if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then \
		echo "system deps present: $(SYSTEM_DEPS)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_DEPS); \
	else \
		echo "not root or no apt-get: $(SYSTEM_DEPS) not installed, the SLURM test will skip"; \
	fi

test: install-test install-system-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

lint: install-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint --configfile config/demo.yaml

clean:
	rm -rf results work .snakemake
