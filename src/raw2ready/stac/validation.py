"""Offline STAC validation against the official JSON schemas, with pystac and stac-validator.

Neither validator works offline out of the box: pystac bundles only the core STAC 1.1.0
and GeoJSON schemas, and stac-validator fetches every schema from the network. This
module keeps a local schema cache (one file per schema URL, plus a manifest with
SHA-256 digests) and points both validators at it, so validation never opens a socket.

The cache is filled from package registries only, by `python -m raw2ready.stac.validation
install`:

* the stac-extensions schemas are the recorded HTTP responses of their official URLs,
  found in the VCR cassettes of the `pystac-ext-*` sdists on PyPI (the PROJJSON schema
  referenced by projection v2.0.0 comes from the same cassettes);
* processing v1.2.0 is in no cassette; it comes from the `eopf` wheel on PyPI, which
  bundles it as `eopf/product/stac_extensions/extensions/processing_v1.2.0.json`;
* the core STAC 1.1.0 and GeoJSON schemas are pystac's own bundled copies.

Every schema is checked against a pinned digest of its canonical JSON, so a changed
artefact fails the install instead of silently changing what "valid" means.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import click
import jsonschema.exceptions
import pystac
import pystac.validation
import yaml
from pystac.validation import GetSchemaError, JsonSchemaSTACValidator

from raw2ready.atomic import write_json
from raw2ready.errors import ProductValidationError, Raw2ReadyError

logger = logging.getLogger(__name__)

SCHEMA_DIR_ENV = "RAW2READY_STAC_SCHEMAS"
INSTALL_COMMAND = "python -m raw2ready.stac.validation install"
MANIFEST_NAME = "manifest.json"
STAC_VALIDATOR_CONFIG_NAME = "stac-validator-schemas.json"
_MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class Cassette:
    """A schema recorded as the HTTP response to `recorded_uri` in an sdist's VCR cassette."""

    requirement: str
    member: str
    recorded_uri: str | None = None


@dataclass(frozen=True)
class WheelMember:
    """A schema shipped as a file inside a wheel."""

    requirement: str
    member: str


@dataclass(frozen=True)
class PackageResource:
    """A schema shipped as package data of an installed package (pystac's bundled copies)."""

    package: str
    resource: str


Origin = Cassette | WheelMember | PackageResource


@dataclass(frozen=True)
class SchemaSpec:
    """One schema URL, the digest of its canonical JSON, and where the installer gets it."""

    url: str
    sha256: str
    origin: Origin


def _ext(name: str, version: str, sha256: str, origin: Origin) -> SchemaSpec:
    """A stac-extensions.github.io schema spec, spelled compactly for the table below."""
    return SchemaSpec(
        f"https://stac-extensions.github.io/{name}/{version}/schema.json", sha256, origin
    )


def _core(path: str, sha256: str) -> SchemaSpec:
    """A core STAC 1.1.0 schema spec, taken from pystac's bundled copy."""
    name = path.rsplit("/", 1)[1]
    return SchemaSpec(
        f"https://schemas.stacspec.org/v1.1.0/{path}",
        sha256,
        PackageResource("pystac.validation.jsonschemas", f"stac-spec/v1.1.0/{name}"),
    )


def _geojson(name: str, sha256: str) -> SchemaSpec:
    """A GeoJSON schema spec, taken from pystac's bundled copy."""
    return SchemaSpec(
        f"https://geojson.org/schema/{name}.json",
        sha256,
        PackageResource("pystac.validation.jsonschemas", f"geojson/{name}.json"),
    )


_PROJECTION_SDIST = "pystac-ext-projection==2.0.1"
_PROJECTION_CASSETTE = "tests/cassettes/test_projection/test_validate_proj.yaml"

# The extension versions pystac 1.15.2 and pystac-ext-processing 1.2.0 write by default
# (sar: the Sentinel-1 items of the optional backscatter family),
# every schema they reference, and the core schemas stac-validator needs for STAC 1.1.0.
SCHEMAS: tuple[SchemaSpec, ...] = (
    _ext(
        "projection",
        "v2.0.0",
        "813de7e582b54c477e1208ae10bc3b8d9afd174f11fe1e3e832d372e0a6af3f1",
        Cassette(_PROJECTION_SDIST, _PROJECTION_CASSETTE),
    ),
    _ext(
        "raster",
        "v1.1.0",
        "ff39d09e76a77bff790e03a8014cd2f2166c3cf434e6ce07ca6959e410d38c33",
        Cassette(
            "pystac-ext-raster==1.1.1", "tests/cassettes/test_raster/test_validate_raster.yaml"
        ),
    ),
    _ext(
        "eo",
        "v1.1.0",
        "61abfbecfa26e669aaa6b78256f553bea2d4c07e96c08b19fadad810359db1b4",
        Cassette("pystac-ext-eo==1.1.1", "tests/cassettes/test_eo/test_validate_eo.yaml"),
    ),
    _ext(
        "file",
        "v2.1.0",
        "32ac9668c49c854fe942ed71a07163331e296dfc38a29e10250cd27976310748",
        Cassette("pystac-ext-file==2.1.1", "tests/cassettes/test_file/test_validate_item.yaml"),
    ),
    _ext(
        "grid",
        "v1.1.0",
        "16ca08dc39ef0d5685cd2ce0df6f7ad8aff03f25c289076b97d0d217b600fb94",
        Cassette("pystac-ext-grid==1.1.1", "tests/cassettes/test_grid/test_attributes.yaml"),
    ),
    _ext(
        "mgrs",
        "v1.0.0",
        "b3f8f3133b62d61022d258cf76dd98679b61a02ff4aa5024682407f561dec6d8",
        Cassette("pystac-ext-mgrs==1.0.1", "tests/cassettes/test_mgrs/test_validate.yaml"),
    ),
    _ext(
        "view",
        "v1.0.0",
        "8fdad45517ba7fc790f52cfaf98c32665b219ac135ff770d8e4ed9a8d82c5b88",
        Cassette("pystac-ext-view==1.0.1", "tests/cassettes/test_view/test_validate_view.yaml"),
    ),
    _ext(
        "version",
        "v1.2.0",
        "d1b66adb98c0c793a3fb51b034e15e289c27111083d2e67ecb9ebab5bebb73d2",
        Cassette("pystac-ext-version==1.2.1", "tests/cassettes/test_version/test_add_version.yaml"),
    ),
    _ext(
        "sar",
        "v1.0.0",
        "e73559e97787ec332bc27e52494dec8fb2efb41cb5f513ebd10ae573678bb933",
        Cassette("pystac-ext-sar==1.0.1", "tests/cassettes/test_sar/test_required.yaml"),
    ),
    _ext(
        "processing",
        "v1.2.0",
        "6a7c6cd20be921c5c203aba85123f956dffd48644bde472909cd9ec022b4ffeb",
        WheelMember(
            "eopf==2.8.1", "eopf/product/stac_extensions/extensions/processing_v1.2.0.json"
        ),
    ),
    SchemaSpec(
        "https://proj.org/schemas/v0.7/projjson.schema.json",
        "74e720e5be3833c4113de2c837d626563d3552c1eb71b6a0abf876059f6e7028",
        # proj.org redirects the schema's $id to this URI; the cassette recorded the target.
        Cassette(
            _PROJECTION_SDIST,
            _PROJECTION_CASSETTE,
            "https://proj.org/en/latest/schemas/v0.7/projjson.schema.json",
        ),
    ),
    _core(
        "catalog-spec/json-schema/catalog.json",
        "3c9c93f2946f3d1a0575251b96f2053612996ed42e72d78bfc985801ae3a5694",
    ),
    _core(
        "collection-spec/json-schema/collection.json",
        "912ff9cd9a621e29f82e9ca70dc6bfc1df65ed0e2ded8ae8c47abaf6836aa7a6",
    ),
    _core(
        "item-spec/json-schema/item.json",
        "f51b0d1fc19ea80636f777c8b3cdbf4b72b0f48d1356fe8fcd33aa40404787fa",
    ),
    _core(
        "item-spec/json-schema/bands.json",
        "390ef30fa256e7dea8366480c11f186088783a145b8124dd218be616a89ee03c",
    ),
    _core(
        "item-spec/json-schema/basics.json",
        "bc8f581d12ca1333dab2a2a7696224d92f096e42bec62c7289af5428de5d7bf7",
    ),
    _core(
        "item-spec/json-schema/common.json",
        "620341db64d73d0807c63ade4d78784ece7b349be348cd8d55b4c725e2af9013",
    ),
    _core(
        "item-spec/json-schema/data-values.json",
        "2b75e73d32e31c6d332f809f991595e26646765235899859b36b37a1a6fb34e0",
    ),
    _core(
        "item-spec/json-schema/datetime.json",
        "97063ba308897c0c8aab716602f9f30f0b16841035812d95360cf332b076588e",
    ),
    _core(
        "item-spec/json-schema/instrument.json",
        "8d2c12c6109ebcd40f415793828c102b439418d02b5f7de317521ff17d969103",
    ),
    _core(
        "item-spec/json-schema/licensing.json",
        "974964cd9c60ca29114d00a9d526b0bca2ddf829547554ecf03d581e2c53171d",
    ),
    _core(
        "item-spec/json-schema/provider.json",
        "b9661d88f6384ddcf6cf1c8b82115f95c2d0815ab4a7a75ac8d66e62539b28eb",
    ),
    _geojson("Feature", "f4219732819525d77a17a61b43efa72768dc5125cc6ee8cad3097d6b77113e3a"),
    _geojson("Geometry", "6d28ae415ff0a5cfc83e58edc762c70d62a46393fd4dafabcdcd919d8595f489"),
)


def schema_cache_dir() -> Path:
    """The schema cache folder: $RAW2READY_STAC_SCHEMAS, else the user's cache folder."""
    configured = os.environ.get(SCHEMA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "raw2ready" / "stac-schemas"


def schema_path(url: str, cache_dir: Path | None = None) -> Path:
    """Where the cache keeps the schema of `url`: host and URL path below the cache folder."""
    parsed = urlparse(url)
    return (cache_dir or schema_cache_dir()) / parsed.netloc / parsed.path.lstrip("/")


def _canonical_sha256(schema: Any) -> str:
    """SHA-256 of a schema's canonical JSON, so the sources' formatting does not matter."""
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _stale(cache_dir: Path, detail: str) -> Raw2ReadyError:
    """The error for an absent or incomplete cache, telling the developer how to fill it."""
    return Raw2ReadyError(
        f"STAC schema cache {cache_dir} is not usable ({detail}); run `{INSTALL_COMMAND}` "
        f"(downloads from PyPI) or point ${SCHEMA_DIR_ENV} at a filled cache"
    )


def load_schema_cache(cache_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every schema of SCHEMAS by URL, read from the cache and checked against its digest."""
    directory = cache_dir or schema_cache_dir()
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _stale(directory, f"no {MANIFEST_NAME}") from None
    except (OSError, ValueError) as err:
        raise _stale(directory, f"unreadable {MANIFEST_NAME}: {err}") from err
    recorded = manifest.get("schemas", {}) if manifest.get("format") == _MANIFEST_FORMAT else {}
    schemas: dict[str, dict[str, Any]] = {}
    for spec in SCHEMAS:
        if recorded.get(spec.url, {}).get("sha256") != spec.sha256:
            raise _stale(directory, f"{spec.url} is missing or from another version")
        path = schema_path(spec.url, directory)
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise _stale(directory, f"cannot read {path}: {err}") from err
        if _canonical_sha256(schema) != spec.sha256:
            raise _stale(directory, f"{path} does not match its pinned SHA-256")
        schemas[spec.url] = schema
    return schemas


def _pip_download(requirements: list[str], binary_option: str, destination: Path) -> None:
    """Download exact requirements without dependencies into `destination`, with pip.

    `binary_option` (--no-binary / --only-binary) names only these packages: with `:all:`
    pip would also build the sdists' build backends (hatchling...) from source.
    """
    names = ",".join(requirement.split("==")[0] for requirement in requirements)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--dest",
        str(destination),
        binary_option,
        names,
        *requirements,
    ]
    logger.info("downloading %s", " ".join(requirements))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last_lines = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise Raw2ReadyError(f"pip could not download {' '.join(requirements)}: {last_lines}")


def _normalized(name: str) -> str:
    """A distribution name normalized as in file names (PEP 503 / PEP 427)."""
    return "".join("_" if char in "-_." else char for char in name).lower()


def _find_artefact(requirement: str, folder: Path) -> Path:
    """The sdist or wheel pip downloaded for `name==version` in `folder`."""
    name, version = requirement.split("==")
    for path in folder.iterdir():
        stem = path.name.removesuffix(".tar.gz").removesuffix(".whl")
        parts = stem.split("-")[:2] if path.name.endswith(".whl") else stem.rsplit("-", 1)
        if len(parts) == 2 and _normalized(parts[0]) == _normalized(name) and parts[1] == version:
            return path
    raise Raw2ReadyError(f"pip reported success but no file for {requirement} is in {folder}")


def _download_artefacts(folder: Path) -> dict[str, Path]:
    """Download every sdist and wheel the SCHEMAS table names; map requirement to file."""
    sdists = sorted(
        {spec.origin.requirement for spec in SCHEMAS if isinstance(spec.origin, Cassette)}
    )
    wheels = sorted(
        {spec.origin.requirement for spec in SCHEMAS if isinstance(spec.origin, WheelMember)}
    )
    _pip_download(sdists, "--no-binary", folder)
    _pip_download(wheels, "--only-binary", folder)
    return {requirement: _find_artefact(requirement, folder) for requirement in sdists + wheels}


def _from_cassette(url: str, origin: Cassette, sdist: Path) -> Any:
    """The JSON body of the recorded 200 response for the schema URL in a VCR cassette."""
    uri = origin.recorded_uri or url
    top = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as archive:
        try:
            member = archive.extractfile(f"{top}/{origin.member}")
        except KeyError:
            member = None
        if member is None:
            raise Raw2ReadyError(f"{sdist.name} has no file {top}/{origin.member}")
        cassette = yaml.load(member.read(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for interaction in cassette.get("interactions", []):
        response = interaction["response"]
        if interaction["request"]["uri"] == uri and response["status"]["code"] == 200:
            body = response["body"]["string"]
            return json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    raise Raw2ReadyError(f"{sdist.name}: {origin.member} has no recorded response for {uri}")


def _fetch(spec: SchemaSpec, artefacts: dict[str, Path]) -> tuple[Any, str]:
    """A schema from its origin, and a one-line description of that origin for the manifest."""
    origin = spec.origin
    if isinstance(origin, Cassette):
        source = f"{origin.requirement} sdist {origin.member}"
        return _from_cassette(spec.url, origin, artefacts[origin.requirement]), source
    if isinstance(origin, WheelMember):
        with zipfile.ZipFile(artefacts[origin.requirement]) as wheel:
            schema = json.loads(wheel.read(origin.member))
        return schema, f"{origin.requirement} wheel {origin.member}"
    resource = importlib.resources.files(origin.package).joinpath(origin.resource)
    return json.loads(resource.read_text(encoding="utf-8")), f"{origin.package} {origin.resource}"


def install_schemas(cache_dir: Path | None = None) -> Path:
    """Download the schema sources from PyPI, verify every schema and (re)write the cache."""
    directory = cache_dir or schema_cache_dir()
    with tempfile.TemporaryDirectory(prefix="raw2ready-stac-schemas-") as temporary:
        artefacts = _download_artefacts(Path(temporary))
        fetched = {spec.url: _fetch(spec, artefacts) for spec in SCHEMAS}
    manifest: dict[str, Any] = {"format": _MANIFEST_FORMAT, "schemas": {}}
    for spec in SCHEMAS:
        schema, source = fetched[spec.url]
        digest = _canonical_sha256(schema)
        if digest != spec.sha256:
            raise Raw2ReadyError(
                f"{spec.url} from {source} has SHA-256 {digest}, expected {spec.sha256}; "
                "not caching it"
            )
        manifest["schemas"][spec.url] = {"sha256": digest, "source": source}
    (directory / MANIFEST_NAME).unlink(missing_ok=True)
    for spec in SCHEMAS:
        write_json(schema_path(spec.url, directory), fetched[spec.url][0])
    config = {
        spec.url: str(schema_path(spec.url, directory).relative_to(directory)) for spec in SCHEMAS
    }
    write_json(directory / STAC_VALIDATOR_CONFIG_NAME, {"schemas": config})
    write_json(directory / MANIFEST_NAME, manifest)
    logger.info("cached %d STAC schemas in %s", len(SCHEMAS), directory)
    return directory


def ensure_schema_cache(cache_dir: Path | None = None) -> Path:
    """The cache folder, filled from PyPI first if it is absent, incomplete or stale."""
    directory = cache_dir or schema_cache_dir()
    try:
        load_schema_cache(directory)
    except Raw2ReadyError as err:
        logger.info("filling the STAC schema cache %s", directory)
        logger.debug("%s", err)
        return install_schemas(directory)
    logger.info("STAC schema cache %s is complete", directory)
    return directory


def stac_validator_schema_args(cache_dir: Path | None = None) -> list[str]:
    """`--schema-map URL PATH` arguments that make the stac-validator CLI use the cache."""
    directory = (cache_dir or schema_cache_dir()).absolute()
    load_schema_cache(directory)
    args: list[str] = []
    for spec in SCHEMAS:
        args += ["--schema-map", spec.url, str(schema_path(spec.url, directory))]
    return args


class OfflineSTACValidator(JsonSchemaSTACValidator):
    """pystac's JSON-schema validator over the cache: a missing schema is an error, not a fetch."""

    def __init__(self, schemas: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.schema_cache.update(schemas)

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        """The cached schema; overrides pystac's fetch-on-miss (pystac 1.15 private hook)."""
        try:
            return self.schema_cache[schema_uri]
        except KeyError:
            reason = LookupError(f"not in the offline schema cache ({__name__}.SCHEMAS)")
            raise GetSchemaError(schema_uri, reason) from None


def offline_validator(cache_dir: Path | None = None) -> OfflineSTACValidator:
    """A pystac validator over the cached schemas; Raw2ReadyError if the cache is not filled."""
    return OfflineSTACValidator(load_schema_cache(cache_dir))


def register_offline_validator(cache_dir: Path | None = None) -> OfflineSTACValidator:
    """Make the offline validator pystac's default: `obj.validate()`, `validate_all` go offline."""
    validator = offline_validator(cache_dir)
    pystac.validation.set_validator(validator)
    return validator


def _describe_failure(error: pystac.STACValidationError) -> str:
    """One line: the object and schema pystac names, and jsonschema's most relevant error."""
    headline = str(error).splitlines()[0]
    best = jsonschema.exceptions.best_match(error.source or [])
    return headline if best is None else f"{headline}: {best.message} (at {best.json_path})"


def _linked_path(source: Path, href: str) -> Path:
    """The local file a child/item link of `source` points to."""
    parsed = urlparse(href)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme:
        raise ProductValidationError(f"{source}: link {href} is not a local file")
    return Path(os.path.normpath(source.parent / href))


def validate_stac_tree(root: Path, cache_dir: Path | None = None) -> int:
    """Validate a catalog/collection file and every child and item below it; return the count."""
    validator = offline_validator(cache_dir)
    pending = deque([Path(os.path.normpath(Path(root).absolute()))])
    seen: set[Path] = set()
    while pending:
        path = pending.popleft()
        if path in seen:
            continue
        seen.add(path)
        try:
            stac_dict = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ProductValidationError(f"{path}: cannot read STAC JSON: {err}") from err
        if not isinstance(stac_dict, dict):
            raise ProductValidationError(f"{path}: not a STAC object (not a JSON object)")
        try:
            pystac.validation.validate_dict(stac_dict, href=str(path), validator=validator)
        except pystac.STACValidationError as err:
            raise ProductValidationError(f"invalid STAC: {_describe_failure(err)}") from err
        except pystac.STACTypeError as err:
            raise ProductValidationError(f"{path}: not a STAC object: {err}") from err
        except GetSchemaError as err:
            raise ProductValidationError(f"{path}: cannot validate offline: {err}") from err
        if stac_dict.get("type") == "Feature":
            continue
        for link in stac_dict.get("links", []):
            if link.get("rel") in (pystac.RelType.CHILD, pystac.RelType.ITEM):
                pending.append(_linked_path(path, link["href"]))
    logger.info("validated %d STAC objects below %s", len(seen), root)
    return len(seen)


@click.group()
def main() -> None:
    """Manage the offline STAC schema cache used by raw2ready's validation."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--force", is_flag=True, help="Download and rewrite even if the cache is complete.")
def install(force: bool) -> None:
    """Fill the schema cache from PyPI (needs pip and registry access; no other network)."""
    try:
        directory = install_schemas() if force else ensure_schema_cache()
    except Raw2ReadyError as err:
        raise click.ClickException(str(err)) from err
    logger.info("stac-validator: --schema-config %s", directory / STAC_VALIDATOR_CONFIG_NAME)


@main.command("config-path")
def config_path() -> None:
    """Print the stac-validator --schema-config file of a complete cache (for shell use)."""
    directory = schema_cache_dir().absolute()
    try:
        load_schema_cache(directory)
    except Raw2ReadyError as err:
        raise click.ClickException(str(err)) from err
    click.echo(directory / STAC_VALIDATOR_CONFIG_NAME)


if __name__ == "__main__":
    main()
