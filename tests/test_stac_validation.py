"""Offline STAC validation with the schemas shipped in src/raw2ready/stac/schemas/.

The shipped files are checked against their recorded digests and for completeness (every
`$ref` resolves to a shipped file); product trees written by the catalog code validate with
raw2ready and with the stac-validator CLI as the README runs it, with no network.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import pytest

from raw2ready.errors import ProductValidationError
from raw2ready.layout import Layout
from raw2ready.stac.catalog import write_collection, write_tile_catalog
from raw2ready.stac.validation import SCHEMA_FOLDER, SCHEMA_INDEX, validate_stac_tree

from .test_catalog import publish, record

PROJECTION = "https://stac-extensions.github.io/projection/v1.2.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
ITEM = "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"
SAT = "https://stac-extensions.github.io/sat/v1.0.0/schema.json"
#: jsonschema ships the JSON Schema meta-schemas itself.
META_SCHEMA = "http://json-schema.org/draft-07/schema"
DEAD_PROXY = "http://127.0.0.1:9"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every name lookup and socket connection in this process fail the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted during offline validation: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A product tree written by the catalog code: (collection.json, one item file)."""
    layout = Layout(tmp_path / "out", tmp_path / "work")
    scenes = [
        (record("A", "47PPR", "2023-01-05T03:41:21Z"), 32647, 600000.0),
        (record("B", "48PUB", "2024-08-01T03:31:39Z"), 32648, 300000.0),
    ]
    publish(layout, scenes)
    summaries = [
        write_tile_catalog(scene.tile, [layout.item(scene)], layout) for scene, _e, _o in scenes
    ]
    return write_collection("t", summaries, layout), layout.item(scenes[0][0])


def index() -> dict[str, Any]:
    return json.loads(SCHEMA_INDEX.read_text())


def references(schema: Any) -> Iterator[str]:
    """Every `$ref` value in a JSON schema."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from references(value)


def edit(path: Path, change: Any) -> None:
    """Rewrite a JSON file after `change` mutated its content."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_every_shipped_file_matches_its_recorded_digest() -> None:
    recorded = index()
    shipped = {
        path.relative_to(SCHEMA_FOLDER).as_posix()
        for path in SCHEMA_FOLDER.rglob("*")
        if path.is_file() and path != SCHEMA_INDEX
    }
    assert set(recorded["schemas"].values()) == set(recorded["files"]) == shipped
    for name, facts in recorded["files"].items():
        digest = hashlib.sha256((SCHEMA_FOLDER / name).read_bytes()).hexdigest()
        assert digest == facts["sha256"], name
        assert facts["source"] and facts["licence"], name


def test_every_reference_of_a_shipped_schema_is_shipped() -> None:
    urls = index()["schemas"]
    for url, name in urls.items():
        schema = json.loads((SCHEMA_FOLDER / name).read_text())
        for ref in references(schema):
            target = urldefrag(urljoin(url, ref)).url
            assert target in urls or target == META_SCHEMA, f"{url} refers to {target}"


def test_a_product_tree_validates_offline(tree: tuple[Path, Path], no_network: None) -> None:
    collection, _item = tree
    # collection, 2 tiles, 2 years, 2 quarters, 2 months, 2 items
    assert validate_stac_tree(collection) == 1 + 2 * 5


@pytest.mark.parametrize(
    ("change", "schema", "problem"),
    [
        (lambda item: item["assets"]["ndvi"].update({"proj:shape": "100x100"}), PROJECTION,
         "'100x100' is not of type 'array' (at $.assets.ndvi['proj:shape'])"),
        (lambda item: item["assets"]["lai"]["raster:bands"][0].update({"data_type": "real"}),
         RASTER, "(at $.assets.lai['raster:bands'][0].data_type)"),
        (lambda item: item.pop("id"), ITEM, "'id' is a required property"),
    ],
)  # fmt: skip
def test_a_broken_item_is_rejected_naming_schema_and_field(
    tree: tuple[Path, Path], no_network: None, change: Any, schema: str, problem: str
) -> None:
    collection, item = tree
    edit(item, change)
    with pytest.raises(ProductValidationError) as raised:
        validate_stac_tree(collection)
    message = str(raised.value)
    assert str(item) in message
    assert f"against {schema}: " in message
    assert problem in message
    assert "'links'" not in message, "the message names the field, not the whole item"
    assert "\n" not in message


def test_an_extension_raw2ready_does_not_ship_is_a_clear_error(
    tree: tuple[Path, Path], no_network: None
) -> None:
    collection, item = tree
    edit(item, lambda data: data["stac_extensions"].append(SAT))
    with pytest.raises(ProductValidationError, match=f"{item}: schema {SAT} is not shipped"):
        validate_stac_tree(collection)


def test_remote_links_are_refused(tree: tuple[Path, Path]) -> None:
    collection, _item = tree
    remote = {"rel": "child", "href": "https://example.com/catalog.json"}
    edit(collection, lambda data: data["links"].append(remote))
    with pytest.raises(ProductValidationError, match="is not a local file"):
        validate_stac_tree(collection)


def stac_validator(collection: Path, log_file: Path) -> list[dict[str, Any]]:
    """The README's invocation: stac-validator with the shipped schemas as --schema-config,
    behind a proxy that refuses every connection; returns its per-object report."""
    config = subprocess.run(
        [sys.executable, "-m", "raw2ready.stac.validation"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    proxies = {name: DEAD_PROXY for name in PROXY_VARIABLES}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("stac-validator")), "validate", "--recursive",
         "--schema-config", config, str(collection), "--log_file", str(log_file)],
        capture_output=True, text=True, check=False, env={**os.environ, **proxies},
    )  # fmt: skip
    report = json.loads(log_file.read_text())
    valid = all(entry["valid_stac"] for entry in report)
    assert result.returncode == (0 if valid else 1), result.stdout[-3000:] + result.stderr
    return report


def test_stac_validator_accepts_a_product_tree_with_the_shipped_schemas(
    tree: tuple[Path, Path], tmp_path: Path
) -> None:
    collection, item = tree
    report = stac_validator(collection, tmp_path / "log.json")
    assert len(report) == 1 + 2 * 5
    assert all(entry["valid_stac"] for entry in report)
    urls = index()["schemas"]
    used = {schema for entry in report for schema in entry["schema"]}
    extensions = json.loads(item.read_text())["stac_extensions"]
    assert {urls[url] for url in extensions} <= used
    assert used <= set(urls.values())


def test_stac_validator_rejects_a_broken_item_with_the_shipped_schemas(
    tree: tuple[Path, Path], tmp_path: Path
) -> None:
    collection, item = tree
    edit(item, lambda data: data["assets"]["ndvi"].update({"proj:shape": "100x100"}))
    report = stac_validator(collection, tmp_path / "log.json")
    invalid = [entry for entry in report if not entry["valid_stac"]]
    assert [Path(entry["path"]) for entry in invalid] == [item]
    assert invalid[0]["error_type"] == "JSONSchemaValidationError"
    assert invalid[0]["failed_schema"] == PROJECTION
