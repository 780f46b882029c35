"""Offline STAC validation: pystac and the stac-validator CLI accept a product-like tree
and reject a wrong-typed extension field, using only the local schema cache.

The cache must have been filled by `python -m raw2ready.stac.validation install`; if it
was not, these tests fail with that instruction instead of skipping.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import zipfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pystac
import pystac.validation
import pytest
import yaml
from pystac.extensions import eo, file, grid, mgrs, processing, projection, raster, version, view
from pystac.extensions.eo import EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.grid import GridExtension
from pystac.extensions.mgrs import MgrsExtension
from pystac.extensions.processing import ProcessingExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from pystac.extensions.version import VersionExtension
from pystac.extensions.view import ViewExtension

from raw2ready.errors import ProductValidationError, Raw2ReadyError
from raw2ready.stac import validation as stac_validation
from raw2ready.stac.validation import (
    INSTALL_COMMAND,
    MANIFEST_NAME,
    SCHEMA_DIR_ENV,
    SCHEMAS,
    STAC_VALIDATOR_CONFIG_NAME,
    Cassette,
    WheelMember,
    install_schemas,
    load_schema_cache,
    offline_validator,
    register_offline_validator,
    schema_cache_dir,
    schema_path,
    stac_validator_schema_args,
    validate_stac_tree,
)

ITEM_ID = "S2B_33UUP_20240612_0_L2A"
ITEM_FILE = f"sentinel-2-l2a/{ITEM_ID}/{ITEM_ID}.json"
PROJECTION_URI = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
SAT_URI = "https://stac-extensions.github.io/sat/v1.0.0/schema.json"
DEAD_PROXY = "http://127.0.0.1:9"


@pytest.fixture(scope="session")
def schema_dir() -> Path:
    """The filled schema cache; fails (never skips) with the install command if it is not."""
    directory = schema_cache_dir()
    try:
        load_schema_cache(directory)
    except Raw2ReadyError as err:
        problem = str(err)
    else:
        return directory
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every name lookup and socket connection in this process fail the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted during offline validation: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def build_tree(root: Path, proj_shape: Any = (10980, 10980)) -> Path:
    """Write catalog -> collection -> item using every extension our products carry."""
    bbox = [14.9, 52.2, 16.5, 53.2]
    west, south, east, north = bbox
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    item = pystac.Item(
        ITEM_ID,
        {"type": "Polygon", "coordinates": [ring]},
        bbox,
        datetime(2024, 6, 12, 10, 6, tzinfo=UTC),
        {},
    )
    asset = pystac.Asset("./B04.tif", media_type=pystac.MediaType.COG, roles=["data"])
    item.add_asset("B04", asset)

    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.code = "EPSG:32633"
    proj.shape = list(proj_shape) if isinstance(proj_shape, tuple) else proj_shape
    proj.transform = [10.0, 0.0, 399960.0, 0.0, -10.0, 5900040.0]
    EOExtension.ext(item, add_if_missing=True).cloud_cover = 12.5
    EOExtension.ext(asset).bands = [
        eo.Band.create(name="B04", common_name="red", center_wavelength=0.665)
    ]
    RasterExtension.ext(asset, add_if_missing=True).bands = [
        RasterBand.create(
            nodata=0, data_type=DataType.UINT16, spatial_resolution=10.0, scale=1e-4, offset=-0.1
        )
    ]
    files = FileExtension.ext(asset, add_if_missing=True)
    files.size = 1234
    files.checksum = "1220" + "ab" * 32
    processed = ProcessingExtension.ext(item, add_if_missing=True)
    processed.level = "L2A"
    processed.software = {"raw2ready": "0.1.0"}
    GridExtension.ext(item, add_if_missing=True).code = "MGRS-33UUP"
    square = MgrsExtension.ext(item, add_if_missing=True)
    square.utm_zone = 33
    square.latitude_band = "U"
    square.grid_square = "UP"
    ViewExtension.ext(item, add_if_missing=True).sun_elevation = 55.2
    VersionExtension.ext(item, add_if_missing=True).version = "1"

    extent = pystac.Extent(
        pystac.SpatialExtent([bbox]), pystac.TemporalExtent([[item.datetime, None]])
    )
    collection = pystac.Collection("sentinel-2-l2a", "Test products", extent, license="other")
    catalog = pystac.Catalog("raw2ready", "Test catalog")
    catalog.add_child(collection)
    collection.add_item(item)
    catalog.normalize_hrefs(str(root))
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


def run_stac_validator(catalog: Path, schema_dir: Path, log_file: Path) -> list[dict[str, Any]]:
    """Run `stac-validator validate --recursive` offline; return its per-object report."""
    executable = Path(sys.executable).with_name("stac-validator")
    if not executable.exists():
        pytest.fail(f"{executable} not found: install the test extra (`make install-test`)")
    env = {
        "PATH": str(executable.parent),
        "HOME": str(log_file.parent),
        SCHEMA_DIR_ENV: str(schema_dir),
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
    }
    command = [
        str(executable),
        "validate",
        "--recursive",
        str(catalog),
        *stac_validator_schema_args(schema_dir),
        "--log_file",
        str(log_file),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    report = json.loads(log_file.read_text())
    valid = all(entry["valid_stac"] for entry in report)
    assert result.returncode == (0 if valid else 1), result.stdout + result.stderr
    return report


def test_cache_covers_every_extension_pystac_writes() -> None:
    """Each extension version pystac's classes write by default has a cached schema."""
    written = {
        module.SCHEMA_URI
        for module in (eo, file, grid, mgrs, processing, projection, raster, version, view)
    }
    assert written <= {spec.url for spec in SCHEMAS}


def test_validate_stac_tree_accepts_valid_tree_offline(
    tmp_path: Path, schema_dir: Path, no_network: None
) -> None:
    catalog = build_tree(tmp_path)
    assert validate_stac_tree(catalog, schema_dir) == 3


def test_validate_stac_tree_names_file_and_field_of_first_error(
    tmp_path: Path, schema_dir: Path, no_network: None
) -> None:
    catalog = build_tree(tmp_path, proj_shape="10980x10980")
    with pytest.raises(ProductValidationError) as raised:
        validate_stac_tree(catalog, schema_dir)
    message = str(raised.value)
    assert str(tmp_path / ITEM_FILE) in message
    assert PROJECTION_URI in message
    assert "'10980x10980' is not of type 'array'" in message
    assert "proj:shape" in message
    assert "\n" not in message


def test_validate_stac_tree_rejects_remote_links(tmp_path: Path, schema_dir: Path) -> None:
    catalog = build_tree(tmp_path)
    stac_dict = json.loads(catalog.read_text())
    stac_dict["links"].append({"rel": "child", "href": "https://example.com/catalog.json"})
    catalog.write_text(json.dumps(stac_dict))
    with pytest.raises(ProductValidationError, match="is not a local file"):
        validate_stac_tree(catalog, schema_dir)


def test_pystac_validate_and_validate_all_work_offline(
    tmp_path: Path, schema_dir: Path, no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pystac.validation.RegisteredValidator, "_validator", None)
    register_offline_validator(schema_dir)
    catalog = pystac.Catalog.from_file(build_tree(tmp_path / "good"))
    pystac.validation.validate_all(catalog)

    bad = pystac.Catalog.from_file(build_tree(tmp_path / "bad", proj_shape="10980x10980"))
    item = next(bad.get_items(recursive=True))
    with pytest.raises(pystac.STACValidationError, match=re.escape(PROJECTION_URI)):
        item.validate()
    with pytest.raises(pystac.STACValidationError):
        pystac.validation.validate_all(bad)


def test_schema_outside_the_cache_is_an_error_not_a_download(
    tmp_path: Path, schema_dir: Path, no_network: None
) -> None:
    catalog = build_tree(tmp_path)
    item_path = tmp_path / ITEM_FILE
    item = json.loads(item_path.read_text())
    item["stac_extensions"].append(SAT_URI)
    item_path.write_text(json.dumps(item))
    with pytest.raises(
        ProductValidationError, match=f"cannot validate offline.*{re.escape(SAT_URI)}"
    ):
        validate_stac_tree(catalog, schema_dir)
    with pytest.raises(pystac.validation.GetSchemaError, match="not in the offline"):
        pystac.Item.from_file(str(item_path)).validate(validator=offline_validator(schema_dir))


def test_stac_validator_cli_accepts_valid_tree_offline(tmp_path: Path, schema_dir: Path) -> None:
    report = run_stac_validator(build_tree(tmp_path / "tree"), schema_dir, tmp_path / "log.json")
    assert [entry["asset_type"] for entry in report] == ["CATALOG", "COLLECTION", "ITEM"]
    assert all(entry["valid_stac"] for entry in report)
    item = json.loads((tmp_path / "tree" / ITEM_FILE).read_text())
    core = [
        f"https://schemas.stacspec.org/v1.1.0/{kind}-spec/json-schema/{kind}.json"
        for kind in ("catalog", "collection", "item")
    ]
    expected = {
        str(schema_path(url, schema_dir.absolute())) for url in core + item["stac_extensions"]
    }
    assert {schema for entry in report for schema in entry["schema"]} == expected


def test_stac_validator_cli_rejects_wrong_typed_field(tmp_path: Path, schema_dir: Path) -> None:
    catalog = build_tree(tmp_path / "tree", proj_shape="10980x10980")
    report = run_stac_validator(catalog, schema_dir, tmp_path / "log.json")
    invalid = [entry for entry in report if not entry["valid_stac"]]
    assert [Path(entry["path"]).name for entry in invalid] == [f"{ITEM_ID}.json"]
    assert invalid[0]["error_type"] == "JSONSchemaValidationError"
    assert invalid[0]["failed_schema"] == PROJECTION_URI


def test_schema_config_file_maps_every_schema(schema_dir: Path) -> None:
    config = json.loads((schema_dir / STAC_VALIDATOR_CONFIG_NAME).read_text())["schemas"]
    assert set(config) == {spec.url for spec in SCHEMAS}
    assert all((schema_dir / path).is_file() for path in config.values())


def test_missing_cache_fails_with_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCHEMA_DIR_ENV, str(tmp_path / "empty"))
    catalog = build_tree(tmp_path / "tree")
    for call in (
        load_schema_cache,
        stac_validator_schema_args,
        lambda: validate_stac_tree(catalog),
    ):
        with pytest.raises(Raw2ReadyError, match=INSTALL_COMMAND):
            call()


def test_modified_schema_is_rejected(tmp_path: Path, schema_dir: Path) -> None:
    copy = tmp_path / "cache"
    shutil.copytree(schema_dir, copy)
    path = schema_path(PROJECTION_URI, copy)
    schema = json.loads(path.read_text())
    schema["definitions"]["fields"]["properties"]["proj:shape"] = {}
    path.write_text(json.dumps(schema))
    with pytest.raises(Raw2ReadyError, match="does not match its pinned SHA-256"):
        load_schema_cache(copy)


def fake_registry(schemas: dict[str, Any]) -> Any:
    """A stand-in for `pip download` that writes sdists and wheels holding `schemas`."""
    cassettes: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    wheel_members: dict[str, dict[str, bytes]] = defaultdict(dict)
    for spec in SCHEMAS:
        body = json.dumps(schemas[spec.url])
        if isinstance(spec.origin, Cassette):
            response = {"status": {"code": 200}, "body": {"string": body}}
            request = {"method": "GET", "uri": spec.origin.recorded_uri or spec.url}
            key = (spec.origin.requirement, spec.origin.member)
            cassettes[key].append({"request": request, "response": response})
        elif isinstance(spec.origin, WheelMember):
            wheel_members[spec.origin.requirement][spec.origin.member] = body.encode()

    def download(requirements: list[str], binary_option: str, destination: Path) -> None:
        for requirement in requirements:
            name, release = requirement.split("==")
            stem = f"{name.replace('-', '_')}-{release}"
            if binary_option == "--no-binary":
                with tarfile.open(destination / f"{stem}.tar.gz", "w:gz") as sdist:
                    for (owner, member), interactions in cassettes.items():
                        if owner == requirement:
                            data = yaml.safe_dump({"interactions": interactions}).encode()
                            info = tarfile.TarInfo(f"{stem}/{member}")
                            info.size = len(data)
                            sdist.addfile(info, io.BytesIO(data))
            else:
                with zipfile.ZipFile(destination / f"{stem}-py3-none-any.whl", "w") as wheel:
                    for member, data in wheel_members[requirement].items():
                        wheel.writestr(member, data)

    return download


def test_installer_extracts_and_verifies_registry_artefacts(
    tmp_path: Path, schema_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schemas = load_schema_cache(schema_dir)
    monkeypatch.setattr(stac_validation, "_pip_download", fake_registry(schemas))
    target = install_schemas(tmp_path / "cache")
    assert load_schema_cache(target) == schemas
    manifest = json.loads((target / MANIFEST_NAME).read_text())
    assert "pystac-ext-projection==2.0.1 sdist" in manifest["schemas"][PROJECTION_URI]["source"]

    schemas[PROJECTION_URI] = {**schemas[PROJECTION_URI], "title": "tampered"}
    monkeypatch.setattr(stac_validation, "_pip_download", fake_registry(schemas))
    with pytest.raises(Raw2ReadyError, match="expected"):
        install_schemas(tmp_path / "other")
    assert not (tmp_path / "other" / MANIFEST_NAME).exists()
