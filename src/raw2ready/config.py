"""Campaign configuration: schema validation with messages that name the bad key.

The schema (schemas/config.schema.yaml) documents every option; `load_settings` fills
defaults, validates, checks what a schema cannot (date order, tile ids) and returns a
typed `Settings`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from raw2ready.errors import ConfigError, GridError
from raw2ready.grid import parse_tile
from raw2ready.products.registry import required_bands


def config_schema() -> dict[str, Any]:
    """The JSON schema of a campaign configuration."""
    text = files("raw2ready").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


@dataclass(frozen=True)
class Settings:
    """A validated campaign configuration."""

    raw: dict[str, Any]
    source: str
    #: Folder that relative output_dir/work_dir are under: "." (the workflow's folder), or a
    #: job's local copy of Snakemake's default storage. Not part of the settings' digest.
    root: Path = field(default=Path("."))

    @property
    def campaign(self) -> str:
        """Campaign name."""
        return str(self.raw["campaign"])

    @property
    def tiles(self) -> list[str]:
        """Canonical tile ids."""
        return [parse_tile(tile).id for tile in self.raw["tiles"]]

    @property
    def start(self) -> date:
        """First sensing date (inclusive)."""
        return date.fromisoformat(self.raw["start"])

    @property
    def end(self) -> date:
        """Last sensing date (inclusive)."""
        return date.fromisoformat(self.raw["end"])

    @property
    def products(self) -> list[str]:
        """Products to make per scene."""
        return list(self.raw["products"])

    @property
    def lai_model(self) -> str:
        """The empirical LAI model name."""
        return str(self.raw["lai"]["model"])

    @property
    def bands(self) -> frozenset[str]:
        """Canonical band ids the products need."""
        return required_bands(self.products, self.lai_model)

    @property
    def output_dir(self) -> Path:
        """Root of products and STAC catalog."""
        return self.root / self.raw["output_dir"]

    @property
    def work_dir(self) -> Path:
        """Root of inventories, downloads, logs."""
        return self.root / self.raw["work_dir"]

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: identifies the settings a product came from."""
        text = json.dumps(self.raw, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _fill_defaults(schema: dict[str, Any], data: dict[str, Any]) -> None:
    """Insert schema defaults for missing keys, recursively (as Snakemake's validate does)."""
    for key, sub in schema.get("properties", {}).items():
        if key not in data and "default" in sub:
            data[key] = copy.deepcopy(sub["default"])
        if isinstance(data.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(sub, data[key])


def _dates_as_text(data: dict[str, Any]) -> dict[str, Any]:
    """YAML reads unquoted 2022-01-01 as a date; the schema (and JSON) wants the ISO text."""
    return {
        key: value.isoformat() if isinstance(value, date) else value for key, value in data.items()
    }


def _key_path(error: jsonschema.ValidationError) -> str:
    """Dotted key of a validation error, e.g. `archive.kind` or `tiles[1]`."""
    parts = ""
    for part in error.absolute_path:
        parts += f"[{part}]" if isinstance(part, int) else (f".{part}" if parts else str(part))
    return parts


def _describe(error: jsonschema.ValidationError) -> str:
    """One line naming the bad key and what is wrong with it."""
    where = _key_path(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        scope = f" in '{where}'" if where else ""
        return (
            f"unknown key '{'.'.join(filter(None, [where, unknown[0]]))}'{scope}; "
            f"allowed keys: {', '.join(allowed)}"
        )
    if error.validator == "required":
        message = error.message.replace("property", "key")
        return f"key '{where}': {message}" if where else message
    return f"key '{where}': {error.message}"


def validate_config(data: dict[str, Any], source: str) -> Settings:
    """Validate a configuration mapping; raise ConfigError naming the key and the source."""
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{source}: the configuration is empty or not a mapping")
    values = _dates_as_text(copy.deepcopy(data))
    schema = config_schema()
    _fill_defaults(schema, values)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(f"{source}: {_describe(errors[0])}")
    settings = Settings(values, source)
    if settings.start > settings.end:
        raise ConfigError(
            f"{source}: key 'start' ({settings.start}) is after key 'end' ({settings.end})"
        )
    for index, tile in enumerate(values["tiles"]):
        try:
            parse_tile(tile)
        except GridError as exc:
            raise ConfigError(f"{source}: key 'tiles[{index}]': {exc}") from exc
    return settings


def load_settings(path: Path, overrides: dict[str, Any] | None = None) -> Settings:
    """Read a YAML configuration file (plus optional overrides) and validate it."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if isinstance(data, dict) and overrides:
        data.update(overrides)
    return validate_config(data, str(path))
