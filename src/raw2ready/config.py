"""Campaign configuration: schema validation with messages that name the bad key.

The schema (schemas/config.schema.yaml) documents every option; `load_settings` fills
defaults, validates, checks what a schema cannot (date order, tile ids) and returns a
typed `Settings`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from raw2ready.atomic import write_text
from raw2ready.errors import ConfigError, GridError
from raw2ready.grid import parse_tile
from raw2ready.products import ml_mask
from raw2ready.products.masking import BufferDistances
from raw2ready.products.registry import (
    PRODUCTS,
    SNAP_BIOPHYSICAL_BANDS,
    Kind,
    Maker,
    required_bands,
    scene_products,
)
from raw2ready.sentinel2.nbar import NbarOptions


def config_schema() -> dict[str, Any]:
    """The JSON schema of a campaign configuration."""
    text = files("raw2ready").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


@dataclass(frozen=True)
class S3Section:
    """`archive.s3`: how to reach s3:// assets (None: the AWS default)."""

    endpoint_url: str | None = None
    region: str | None = None
    requester_pays: bool = False
    anonymous: bool = False
    profile: str | None = None
    credentials_file: str | None = None
    addressing_style: str = "auto"


@dataclass(frozen=True)
class CdseSection:
    """`archive.cdse`: how CDSE SAFE products are fetched (None: CDSE's public default)."""

    transfer: str = "odata"
    download_url: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    credentials_file: str | None = None


@dataclass(frozen=True)
class SentinelHubSection:
    """`archive.sentinelhub`: the Sentinel Hub deployment's token endpoint and request size."""

    token_url: str | None = None
    profile: str | None = None
    resolution: int = 10
    max_pixels: int = 2500


@dataclass(frozen=True)
class ArchiveSection:
    """`archive`: where scenes are searched and fetched from."""

    kind: str
    url: str
    collection: str = "sentinel-2-l2a"
    page_size: int = 200
    tile_filter: str = "auto"
    check_offset_flag: bool = True
    s3: S3Section = field(default_factory=S3Section)
    cdse: CdseSection = field(default_factory=CdseSection)
    sentinelhub: SentinelHubSection = field(default_factory=SentinelHubSection)

    @classmethod
    def from_mapping(cls, section: dict[str, Any]) -> ArchiveSection:
        """The typed `archive` section of a validated mapping (missing keys: defaults)."""
        values = dict(section)
        return cls(
            s3=S3Section(**values.pop("s3", {})),
            cdse=CdseSection(**values.pop("cdse", {})),
            sentinelhub=SentinelHubSection(**values.pop("sentinelhub", {})),
            **values,
        )


@dataclass(frozen=True)
class Sen2CorSection:
    """`processors.sen2cor`: the L2A_Process binary, its resolution, its cluster modules."""

    path: str | None = None
    resolution: int = 10
    modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class SnapSection:
    """`processors.snap`: the gpt binary and its Resample/BiophysicalOp settings."""

    gpt: str | None = None
    resolution: int = 20
    cache: str = "2G"
    threads: int = 2
    modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class BiophysicalSection:
    """`processors.biophysical`: where ESA's network coefficients are (None: the
    satellitetools package)."""

    auxdata: str | None = None


@dataclass(frozen=True)
class ProcessorsSection:
    """`processors`: which processor makes the L2A and the LAI."""

    l2a: str = "archive"
    lai: str = "empirical"
    sen2cor: Sen2CorSection = field(default_factory=Sen2CorSection)
    snap: SnapSection = field(default_factory=SnapSection)
    biophysical: BiophysicalSection = field(default_factory=BiophysicalSection)

    @property
    def uses_sen2cor(self) -> bool:
        """True when L1C scenes are made into L2A by Sen2Cor."""
        return self.l2a == "sen2cor"

    @property
    def uses_snap(self) -> bool:
        """True when LAI (and FAPAR, FCOVER) come from SNAP's Biophysical Processor."""
        return self.lai == "snap"

    @property
    def uses_biophysical(self) -> bool:
        """True when LAI, FAPAR and FCOVER come from raw2ready's numpy Biophysical Processor."""
        return self.lai == "biophysical"


@dataclass(frozen=True)
class Sentinel1Archive:
    """`sentinel1.archive`: where the GRD products are."""

    kind: str
    url: str


@dataclass(frozen=True)
class Sentinel1Section:
    """`sentinel1`: the optional Sentinel-1 gamma0 family."""

    enabled: bool = False
    archive: Sentinel1Archive | None = None
    polarisations: tuple[str, ...] = ("VV", "VH")


@dataclass(frozen=True)
class DownloadSection:
    """`download`: retries, timeouts and the minimum rate, whether downloaded bands are kept,
    and where download jobs run (`compute`: submitted like the processing; `local`: where
    snakemake runs, e.g. a cluster's login node when compute nodes have no internet)."""

    attempts: int = 5
    backoff_seconds: float = 1.0
    timeout_seconds: float = 60.0
    min_rate_bytes_per_s: float = 1024.0
    rate_grace_seconds: float = 30.0
    keep: bool = False
    where: str = "compute"


@dataclass(frozen=True)
class MaskSection:
    """`mask`: the SCL classes masked, the buffers drawn around cloud, cirrus and shadow, and
    the method (`scl`, or with the ukis-csmask network: `ml` or `both`; docs/masks.md)."""

    scl_classes: frozenset[int]
    buffers: BufferDistances = field(default_factory=BufferDistances)
    method: str = "scl"


@dataclass(frozen=True)
class COGOptions:
    """`cog`: encoding choices for product COGs (docs/performance.md has the trade-offs)."""

    compression: str = "ZSTD"
    level: int = 1
    blocksize: int = 512
    overview_resampling: str = "average"
    threads: int = 2


@dataclass(frozen=True)
class PgstacSection:
    """`publish.pgstac`: the pgstac database the catalog is upserted into; the password is
    read from the environment variable `password_env`, never from the config file."""

    dbname: str
    host: str = "localhost"
    port: int = 5432
    user: str = "postgres"
    password_env: str = "PGPASSWORD"


@dataclass(frozen=True)
class PublishSection:
    """`publish`: where the output folder is published (base_url; None: relative hrefs
    only) and the pgstac database the catalog is upserted into (None: none)."""

    base_url: str | None = None
    pgstac: PgstacSection | None = None


@dataclass(frozen=True)
class CompositesSection:
    """`composites`: monthly composites per tile (method, and which scene products)."""

    enabled: bool = False
    method: str = "median"
    products: tuple[str, ...] = ("ndvi", "lai")


@dataclass(frozen=True)
class CubeSection:
    """`cube`: the per-tile Icechunk datacube and what it holds (scenes or composites)."""

    enabled: bool = False
    source: str = "scenes"


@dataclass(frozen=True)
class Settings:
    """A validated campaign configuration: typed sections, built once from the YAML."""

    #: The validated mapping (defaults filled): what jobs receive and what the digest covers.
    document: dict[str, Any]
    source: str
    campaign: str
    tiles: tuple[str, ...]
    start: date
    end: date
    max_cloud_cover: float
    products: tuple[str, ...]
    archive: ArchiveSection
    mask: MaskSection
    lai_model: str
    processors: ProcessorsSection
    sentinel1: Sentinel1Section
    download: DownloadSection
    cog: COGOptions
    nbar: NbarOptions = field(default_factory=NbarOptions)
    publish: PublishSection = field(default_factory=PublishSection)
    composites: CompositesSection = field(default_factory=CompositesSection)
    cube: CubeSection = field(default_factory=CubeSection)
    #: Folder that relative output_dir/work_dir are under: "." (the workflow's folder), or a
    #: job's local copy of Snakemake's default storage. Not part of the settings' digest.
    root: Path = field(default=Path("."))

    @classmethod
    def from_document(cls, values: dict[str, Any], source: str) -> Settings:
        """Typed settings from a validated mapping whose defaults are filled."""
        processors = values["processors"]
        sentinel1 = values["sentinel1"]
        s1_archive = sentinel1.get("archive")
        return cls(
            document=values,
            source=source,
            campaign=str(values["campaign"]),
            tiles=tuple(parse_tile(tile).id for tile in values["tiles"]),
            start=date.fromisoformat(values["start"]),
            end=date.fromisoformat(values["end"]),
            max_cloud_cover=float(values["max_cloud_cover"]),
            products=tuple(values["products"]),
            archive=ArchiveSection.from_mapping(values["archive"]),
            mask=MaskSection(
                scl_classes=frozenset(values["mask"]["scl_classes"]),
                buffers=BufferDistances(**values["mask"]["buffers"]),
                method=str(values["mask"]["method"]),
            ),
            lai_model=str(values["lai"]["model"]),
            processors=ProcessorsSection(
                l2a=processors["l2a"],
                lai=processors["lai"],
                sen2cor=Sen2CorSection(
                    **{**processors["sen2cor"], "modules": tuple(processors["sen2cor"]["modules"])}
                ),
                snap=SnapSection(
                    **{**processors["snap"], "modules": tuple(processors["snap"]["modules"])}
                ),
                biophysical=BiophysicalSection(**processors["biophysical"]),
            ),
            sentinel1=Sentinel1Section(
                enabled=sentinel1["enabled"],
                archive=Sentinel1Archive(**s1_archive) if s1_archive else None,
                polarisations=tuple(sentinel1["polarisations"]),
            ),
            download=DownloadSection(**values["download"]),
            cog=COGOptions(**values["cog"]),
            nbar=NbarOptions(**values["nbar"]),
            publish=PublishSection(
                base_url=values["publish"].get("base_url"),
                pgstac=(
                    PgstacSection(**values["publish"]["pgstac"])
                    if "pgstac" in values["publish"]
                    else None
                ),
            ),
            composites=CompositesSection(
                **{**values["composites"], "products": tuple(values["composites"]["products"])}
            ),
            cube=CubeSection(**values["cube"]),
        )

    @property
    def scl_classes(self) -> frozenset[int]:
        """The SCL classes masked (`mask.scl_classes`)."""
        return self.mask.scl_classes

    @property
    def bands(self) -> frozenset[str]:
        """Canonical band ids the products and the mask method need (the networks' bands
        for a biophysical LAI, which the empirical model's would not cover)."""
        names = list(self.products)
        mask_bands = ml_mask.bands(self.mask.method)
        if self.processors.uses_biophysical and "lai" in names:
            names.remove("lai")
            return required_bands(names, self.lai_model) | SNAP_BIOPHYSICAL_BANDS | mask_bands
        return required_bands(names, self.lai_model) | mask_bands

    @property
    def output_dir(self) -> Path:
        """Root of products and STAC catalog."""
        return self.root / self.document["output_dir"]

    @property
    def work_dir(self) -> Path:
        """Root of inventories, downloads, logs."""
        return self.root / self.document["work_dir"]

    def to_json(self) -> str:
        """The canonical JSON form (sorted keys, no spaces): handed to jobs, and digested."""
        return json.dumps(self.document, sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: identifies the settings a product came from."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def write(self, path: Path) -> bool:
        """Write the canonical JSON form to `path` (atomically, only when it differs), the
        file jobs read with `--settings`; return True when it was (re)written."""
        text = self.to_json() + "\n"
        if path.is_file() and path.read_text() == text:
            return False
        write_text(path, text)
        return True


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


class _ConfigLoader(yaml.SafeLoader):
    """YAML loader that keeps an unquoted impossible date (2023-02-30) as its text, so the
    schema names the key instead of YAML failing with a bare ValueError."""


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """A YAML timestamp as a date/datetime, or its text when it is no calendar date."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_ConfigLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


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
    if error.validator == "format" and error.validator_value == "date":
        return f"key '{where}': {error.instance!r} is not a calendar date (YYYY-MM-DD)"
    return f"key '{where}': {error.message}"


def _check_products(settings: Settings) -> None:
    """Every configured product is in the product registry (the schema does not list them)
    and can be made by a configured processor."""
    allowed = scene_products()
    makers = {Maker.TILE_CHAIN}
    if settings.processors.uses_snap:
        makers.add(Maker.SNAP_BIOPHYSICAL)
    if settings.processors.uses_biophysical:
        makers.add(Maker.BIOPHYSICAL)
    for index, name in enumerate(settings.products):
        where = f"{settings.source}: key 'products[{index}]'"
        if name not in allowed:
            raise ConfigError(f"{where}: unknown product '{name}'; allowed: {', '.join(allowed)}")
        made_by = PRODUCTS[name].made_by
        if not makers.intersection(made_by):
            raise ConfigError(f"{where}: product '{name}' needs {made_by[0].value}")


def _check_composites(settings: Settings) -> None:
    """Composited products are continuous scene products of the campaign; max_ndvi needs
    ndvi; a cube of composites needs them."""
    composites = settings.composites
    if settings.cube.source == "composites" and settings.cube.enabled and not composites.enabled:
        raise ConfigError(
            f"{settings.source}: key 'cube.source' composites needs key 'composites.enabled'"
        )
    if not composites.enabled:
        return
    for index, name in enumerate(composites.products):
        where = f"{settings.source}: key 'composites.products[{index}]'"
        if name not in settings.products or PRODUCTS[name].kind is not Kind.INDEX:
            raise ConfigError(
                f"{where}: '{name}' is not a continuous product of key 'products' "
                f"({', '.join(settings.products)})"
            )
    if composites.method == "max_ndvi" and "ndvi" not in composites.products:
        raise ConfigError(
            f"{settings.source}: key 'composites.method' max_ndvi needs ndvi in "
            "key 'composites.products'"
        )


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
    for index, tile in enumerate(values["tiles"]):
        try:
            parse_tile(tile)
        except GridError as exc:
            raise ConfigError(f"{source}: key 'tiles[{index}]': {exc}") from exc
    settings = Settings.from_document(values, source)
    if settings.start > settings.end:
        raise ConfigError(
            f"{source}: key 'start' ({settings.start}) is after key 'end' ({settings.end})"
        )
    _check_products(settings)
    _check_composites(settings)
    return settings


def read_settings(path: Path) -> Settings:
    """Settings from a file written by `Settings.write` (what every workflow job is given)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"settings file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"settings file {path} is not readable JSON ({exc})") from exc
    return validate_config(data, str(path))


#: The config keys naming the campaign's folders.
FOLDER_KEYS = ("output_dir", "work_dir")


def check_folders(settings: Settings, folders: tuple[str, ...] = FOLDER_KEYS) -> None:
    """Fail before any job runs when a campaign folder is a file or cannot be written
    (instead of after every band was downloaded); a missing folder must be creatable."""
    for key in folders:
        folder = settings.root / settings.document[key]
        existing = next(
            (candidate for candidate in (folder, *folder.absolute().parents) if candidate.exists()),
            folder,
        )
        where = f"{settings.source}: key '{key}'"
        if not existing.is_dir():
            raise ConfigError(f"{where}: {existing} is a file, not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(f"{where}: folder {existing} is not writable")


def load_settings(path: Path, overrides: dict[str, Any] | None = None) -> Settings:
    """Read a YAML configuration file (plus optional overrides) and validate it."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"configuration {path} is a folder, not a YAML file")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_ConfigLoader)
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file {path} does not exist") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not text (a binary file?)") from exc
    except OSError as exc:
        raise ConfigError(f"configuration file {path} cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from exc
    if isinstance(data, dict) and overrides:
        data.update(overrides)
    return validate_config(data, str(path))
