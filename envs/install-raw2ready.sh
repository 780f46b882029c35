#!/usr/bin/env bash
# Post-deploy step of every env in envs/ (Snakemake runs <env>.post-deploy.sh, a link to this
# file, inside the new env): install raw2ready itself, editable from the checkout, without
# dependencies, so the env keeps exactly the pinned versions of its YAML file. The Snakefile
# sets RAW2READY_SOURCE to the workflow's folder.
set -euo pipefail
python -m pip install --no-deps -e "${RAW2READY_SOURCE:?RAW2READY_SOURCE must point to the raw2ready checkout}"
