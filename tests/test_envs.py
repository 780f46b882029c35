"""The conda envs of envs/ agree with the package's pins and hold what their rules import.

Every rule that runs a command names an env file (`conda:`); every package an env file lists
is pinned to exactly the version pyproject.toml pins; and the `raw2ready` subcommand a rule
runs may import no pinned package (runtime dependency or archive extra) that its env lacks:
the static closure of its imports, lazy ones included. The envs themselves cannot be built
here (no conda, no conda-forge access), so these checks are static.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from .conftest import PROJECT

RULE_FILES = [PROJECT / "Snakefile", *sorted((PROJECT / "rules").glob("*.smk"))]
RULE_HEADER = re.compile(r"^(?:rule|checkpoint) (\w+):", re.MULTILINE)
USE_RULE = re.compile(r"^use rule (\w+) as (\w+)", re.MULTILINE)
CONDA = re.compile(r"^    conda:\s*\n\s+\"([^\"]+)\"", re.MULTILINE)
# the shell command's subcommand (after the global --log option every rule gives)
COMMAND = re.compile(r"\{params\.raw2ready\} (?:--log \{log:q\} )?([a-z][\w-]*)")
DIRECTIVE_RUNS = re.compile(r"^    (shell|run|script|notebook|wrapper):", re.MULTILINE)


def normalize(name: str) -> str:
    """PEP 503 name: case and -_. runs do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject() -> dict:
    """pyproject.toml as data."""
    return tomllib.loads((PROJECT / "pyproject.toml").read_text())


def package_pins() -> dict[str, str]:
    """name -> exact version of every requirement pyproject pins (runtime and extras)."""
    project = pyproject()["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    pins = {}
    for text in requirements:
        requirement = Requirement(text)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"pyproject.toml: {text} is not pinned exactly"
        pins[normalize(requirement.name)] = spec.version
    return pins


def runtime_packages() -> set[str]:
    """What the package itself may import: its dependencies and its archive extras.

    The extras `workflow`, `hpc` and `test` are tools around the package, not imported by it.
    """
    project = pyproject()["project"]
    requirements = list(project["dependencies"])
    for extra, texts in project["optional-dependencies"].items():
        if extra not in ("workflow", "hpc", "test"):
            requirements.extend(texts)
    return {normalize(Requirement(text).name) for text in requirements}


def env_packages(path: Path) -> dict[str, str | None]:
    """name -> pinned version (None when unpinned) of the conda and pip entries of an env."""
    packages: dict[str, str | None] = {}
    for entry in yaml.safe_load(path.read_text())["dependencies"]:
        if isinstance(entry, dict):
            for text in entry["pip"]:
                requirement = Requirement(text)
                versions = [s.version for s in requirement.specifier if s.operator == "=="]
                packages[normalize(requirement.name)] = versions[0] if versions else None
            continue
        name, _, version = entry.partition("=")
        packages[normalize(name)] = version.lstrip("=") or None
    return packages


def rules() -> dict[str, dict[str, str | None]]:
    """rule name -> its env file (absolute) and the raw2ready subcommand it runs."""
    found = {}
    for path in RULE_FILES:
        text = path.read_text()
        headers = list(RULE_HEADER.finditer(text))
        for index, header in enumerate(headers):
            end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
            body = text[header.end() : end]
            if not DIRECTIVE_RUNS.search(body):
                continue  # a target rule: nothing runs, nothing to deploy
            conda = CONDA.search(body)
            command = COMMAND.search(body)
            found[header.group(1)] = {
                "file": path.name,
                "env": str((path.parent / conda.group(1)).resolve()) if conda else None,
                "command": command.group(1) if command else None,
            }
    for path in RULE_FILES:  # `use rule A as B with:` inherits A's env and command
        for base, derived in USE_RULE.findall(path.read_text()):
            if base in found:
                found[derived] = dict(found[base], file=path.name)
    return found


def _imports(nodes: list[ast.AST]) -> list[str]:
    """Absolute module names imported anywhere in these nodes (`from a import b`: a and a.b)."""
    names: list[str] = []
    for node in (n for root in nodes for n in ast.walk(root)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _command_function(tree: ast.Module, command: str) -> ast.FunctionDef:
    """The click function of a `raw2ready` subcommand in cli.py."""
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "command":
                name = decorator.args[0].value if decorator.args else node.name.replace("_", "-")
                if name == command:
                    return node
    raise AssertionError(f"no raw2ready command {command!r} in cli.py")


def imported_distributions(command: str) -> set[str]:
    """Distributions a subcommand may import: the static closure of its imports.

    Starts from cli.py's module-level imports and the subcommand's own (lazy) imports and
    follows every raw2ready module they reach, counting imports anywhere in a module (lazy
    ones inside functions too), without importing anything.
    """
    cli = Path(str(importlib.util.find_spec("raw2ready.cli").origin))
    tree = ast.parse(cli.read_text())
    module_level = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    pending = _imports([*module_level, _command_function(tree, command)])
    seen: set[str] = set()
    third_party: set[str] = set()
    while pending:
        name = pending.pop()
        if name.split(".")[0] != "raw2ready":
            third_party.add(name.split(".")[0])
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None  # `from raw2ready.x import some_function`
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            pending.extend(_imports([ast.parse(Path(spec.origin).read_text())]))
    owners = importlib.metadata.packages_distributions()
    return {normalize(dist) for top in third_party for dist in owners.get(top, [])}


RULES = rules()


def test_the_rule_files_are_parsed() -> None:
    assert {"search", "tile_catalog", "collection"} <= set(RULES)
    assert any(str(rule["command"]).startswith("process-") for rule in RULES.values()), RULES
    assert all(rule["command"] for rule in RULES.values()), RULES


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_has_a_conda_env_file(rule: str) -> None:
    env = RULES[rule]["env"]
    assert env, f"rule {rule} ({RULES[rule]['file']}) has no conda: directive"
    assert Path(env).is_file(), f"rule {rule}: {env} does not exist"
    assert Path(env).parent == PROJECT / "envs"


def test_every_env_file_is_used_by_a_rule() -> None:
    used = {rule["env"] for rule in RULES.values()}
    unused = [p.name for p in (PROJECT / "envs").glob("*.yaml") if str(p) not in used]
    assert unused == []


ENV_FILES = sorted((PROJECT / "envs").glob("*.yaml"))


@pytest.mark.parametrize("env", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_are_the_package_pins(env: Path) -> None:
    pins = package_pins()
    packages = env_packages(env)
    python = packages.pop("python")
    assert python and SpecifierSet(pyproject()["project"]["requires-python"]).contains(
        f"{python}.0" if python.count(".") == 1 else python
    ), f"{env.name}: python {python} does not satisfy requires-python"
    packages.pop("pip")  # the installer, not a dependency
    for name, version in packages.items():
        assert name in pins, f"{env.name}: {name} is not a dependency pinned in pyproject.toml"
        assert version == pins[name], f"{env.name}: {name}={version}, pyproject pins {pins[name]}"


@pytest.mark.parametrize("env", ENV_FILES, ids=lambda p: p.name)
def test_env_installs_raw2ready_without_touching_the_pins(env: Path) -> None:
    deploy = env.with_name(env.stem + ".post-deploy.sh")
    assert deploy.is_file(), f"{env.name}: no {deploy.name} to install raw2ready itself"
    script = deploy.read_text()
    assert "pip install --no-deps" in script and "RAW2READY_SOURCE" in script
    assert "RAW2READY_SOURCE" in (PROJECT / "Snakefile").read_text()


@pytest.mark.parametrize("rule", sorted(RULES))
def test_env_holds_every_pinned_dependency_its_command_imports(rule: str) -> None:
    info = RULES[rule]
    needed = imported_distributions(str(info["command"])) & runtime_packages()
    assert "click" in needed  # the measurement sees the CLI's own imports
    present = set(env_packages(Path(str(info["env"]))))
    missing = sorted(needed - present)
    assert missing == [], f"rule {rule}: {Path(str(info['env'])).name} lacks {missing}"
