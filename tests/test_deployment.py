"""Static checks of what runs the workflow elsewhere: the profiles and the worker image.

Every profile is parsed by Snakemake's own argument parser (an unknown or misspelt option
fails), and the settings the docs promise are there. The Dockerfile cannot be built here (no
Docker daemon): its checks are static: base Python, files it copies, extras it installs,
and the image tag the Kubernetes profile names.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from snakemake.cli import get_argument_parser

from .conftest import PROJECT
from .test_envs import RULES, env_packages

PROFILES = ["local", "slurm", "kubernetes"]
CI_PROFILE = PROJECT / "tests" / "slurm" / "ci-profile"


def parsed(*profiles: Path) -> Any:
    """The options Snakemake derives from these profiles (later ones win)."""
    return get_argument_parser(profiles=[str(p) for p in profiles]).parse_args([])


def profile_data(name: str) -> dict[str, Any]:
    """A profile's YAML as data."""
    return yaml.safe_load((PROJECT / "profiles" / name / "config.yaml").read_text())


@pytest.mark.parametrize("name", PROFILES)
def test_profile_is_valid_for_snakemake_and_reruns_like_the_others(name: str) -> None:
    options = parsed(PROJECT / "profiles" / name)
    assert options.rerun_incomplete and options.keep_going
    assert options.rerun_triggers == parsed(PROJECT / "profiles" / "local").rerun_triggers


def test_a_misspelt_profile_option_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("keep-goin: true\n")
    with pytest.raises(SystemExit):
        parsed(tmp_path)


def test_slurm_profile_submits_with_grouping_and_says_what_to_edit() -> None:
    options = parsed(PROJECT / "profiles" / "slurm")
    assert options.executor == "slurm"
    assert options.jobs >= 10 and options.latency_wait >= 30
    for rule, group in options.groups.items():
        assert rule in RULES, f"profiles/slurm groups rule {rule}, which the workflow lacks"
        assert options.group_components.get(group, 1) > 1, group
    text = (PROJECT / "profiles" / "slurm" / "config.yaml").read_text()
    assert "slurm_account" in text and "slurm_partition" in text


def test_ci_overrides_keep_the_slurm_profile_and_fit_the_test_cluster() -> None:
    options = parsed(PROJECT / "profiles" / "slurm", CI_PROFILE)
    assert options.executor == "slurm"
    ci = yaml.safe_load((CI_PROFILE / "config.yaml").read_text())
    assert "executor" not in ci  # the CI run uses the operator's profile, only tuned
    assert options.rerun_incomplete and options.keep_going


def test_kubernetes_profile_uses_s3_default_storage_and_this_version_of_the_image() -> None:
    options = parsed(PROJECT / "profiles" / "kubernetes")
    assert options.executor == "kubernetes"
    assert options.default_storage_provider == "s3"
    assert options.default_storage_prefix.startswith("s3://")
    version = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["version"]
    assert options.container_image.rsplit(":", 1)[1] == version


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (PROJECT / "Dockerfile").read_text())
    steps = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            steps.append((instruction.upper(), arguments.strip()))
    return steps


def test_image_python_is_the_envs_python() -> None:
    (base,) = [args for instruction, args in dockerfile() if instruction == "FROM"]
    match = re.fullmatch(r"python:(\d+\.\d+)-slim-\w+", base)
    assert match, base
    for env in (PROJECT / "envs").glob("*.yaml"):
        assert env_packages(env)["python"] == match.group(1), env.name


def test_image_copies_only_existing_project_files_that_docker_sends() -> None:
    ignored = [
        line.strip()
        for line in (PROJECT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".git", ".venv"} <= set(ignored)
    copies = [shlex.split(args)[:-1] for instruction, args in dockerfile() if instruction == "COPY"]
    sources = [source for sources in copies for source in sources]
    assert "src" in sources and "Snakefile" in sources and "rules" in sources
    for source in sources:
        assert (PROJECT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source


def test_image_installs_the_workflow_and_the_storage_plugin() -> None:
    runs = " ".join(args for instruction, args in dockerfile() if instruction == "RUN")
    extras = re.search(r'pip install "\.\[([\w,-]+)\]"', runs)
    assert extras, runs
    optional = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    installed = " ".join(req for extra in extras.group(1).split(",") for req in optional[extra])
    assert "snakemake==" in installed and "snakemake-storage-plugin-s3==" in installed
    workdirs = [args for instruction, args in dockerfile() if instruction == "WORKDIR"]
    assert workdirs[-1] == "/workdir"  # where the Kubernetes executor mounts the job's folder
