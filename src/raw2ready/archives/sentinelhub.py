"""Sentinel Hub (CDSE or commercial) as an archive: Catalog API search, Process API bands.

Search runs sentinelhub-py's `SentinelHubCatalog` over the tile's bounding box and keeps
the products of the tile (the id names it: `..._T33TUL_...`). Sentinel Hub items have no
band files, so each record's bands are `sentinelhub://` hrefs that `fetch_band` turns into a
GeoTIFF on the tile's own UTM grid with the Process API, in pieces of at most `max_pixels`
per side (the API's limit is 2500). Values come as DN with `harmonizeValues: true`, which
Sentinel Hub documents as harmonizing to the pre-04.00 baselines, i.e. the BOA offset is
already removed: these records never ask raw2ready to apply it.

Credentials come from sentinelhub-py's `SHConfig`: the SH_CLIENT_ID / SH_CLIENT_SECRET
environment variables or a named profile of its config file; never from raw2ready's config.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pystac
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from raw2ready.archives.provider import SearchQuery, SearchResult
from raw2ready.archives.transfer.fetcher import Fetcher
from raw2ready.archives.transfer.options import AssetSource, DownloadOptions
from raw2ready.config import ArchiveSection
from raw2ready.errors import ConfigError, DownloadError, ItemError, SearchError
from raw2ready.grid import TILE_EXTENT_M, parse_tile
from raw2ready.scene import BandAsset, SceneRecord
from raw2ready.sentinel2.bands import NATIVE_RESOLUTION
from raw2ready.sentinel2.normalize import find_baseline, sensing_time, tile_id

log = logging.getLogger(__name__)

SCHEME = "sentinelhub"
#: Token endpoints of the two public deployments (others: archive.sentinelhub.token_url).
TOKEN_URLS = {
    "https://sh.dataspace.copernicus.eu": (
        "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
    ),
    "https://services.sentinel-hub.com": (
        "https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token"
    ),
}
#: Half-width of the Process API time window around a scene's sensing time.
TIME_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class SentinelHubSettings:
    """Where the Sentinel Hub deployment is and how to cut a tile into Process API requests."""

    base_url: str
    token_url: str
    profile: str | None = None
    resolution: int = 10
    max_pixels: int = 2500

    @classmethod
    def from_archive(cls, archive: ArchiveSection) -> SentinelHubSettings:
        """Settings from a validated `archive` section of kind `sentinelhub`."""
        section = archive.sentinelhub
        base_url = archive.url.rstrip("/")
        token_url = section.token_url or TOKEN_URLS.get(base_url)
        if not token_url:
            raise ConfigError(
                f"archive.sentinelhub.token_url: needed for Sentinel Hub deployment {base_url}"
            )
        return cls(
            base_url=base_url,
            token_url=token_url,
            profile=section.profile,
            resolution=section.resolution,
            max_pixels=section.max_pixels,
        )


def sh_config(settings: SentinelHubSettings, options: DownloadOptions | None = None) -> Any:
    """A sentinelhub-py SHConfig for the deployment, credentials from env or profile."""
    try:
        from sentinelhub import SHConfig
    except ImportError as exc:
        raise ConfigError(
            "archive.kind sentinelhub needs sentinelhub-py: pip install 'raw2ready[sentinelhub]'"
        ) from exc
    try:
        config = SHConfig(settings.profile) if settings.profile else SHConfig()
    except KeyError as exc:
        raise ConfigError(f"archive.sentinelhub.profile: {exc}") from exc
    config.sh_base_url = settings.base_url
    config.sh_token_url = settings.token_url
    if not config.sh_client_id or not config.sh_client_secret:
        raise ConfigError(
            "no Sentinel Hub credentials: set SH_CLIENT_ID and SH_CLIENT_SECRET, or name a "
            "sentinelhub-py profile in archive.sentinelhub.profile"
        )
    if options is not None:
        config.max_download_attempts = options.attempts
        config.download_sleep_time = options.backoff_seconds
        config.download_timeout_seconds = options.timeout_seconds
        config.max_retries = options.attempts
    return config


def _service_errors() -> tuple[type[Exception], ...]:
    """Exceptions sentinelhub-py raises once its own retries are spent (or auth failed)."""
    import requests
    from oauthlib.oauth2 import OAuth2Error
    from sentinelhub.exceptions import BaseSentinelHubException

    return (BaseSentinelHubException, OAuth2Error, requests.RequestException)


def _one_line(error: Exception) -> str:
    """sentinelhub-py's multi-line messages as one line (the CLI prints one)."""
    return " ".join(str(error).split())


def band_href(collection: str, tile: str, when: str, band: str) -> str:
    """The href of one band of one scene: `sentinelhub://<collection>/<tile>/<time>/<band>`."""
    return f"{SCHEME}://{collection}/{tile}/{when}/{band}"


def parse_band_href(href: str) -> tuple[str, str, datetime, str]:
    """(collection, tile, sensing time, band) of a `band_href`."""
    parsed = urlparse(href)
    parts = parsed.path.strip("/").split("/")
    if parsed.scheme != SCHEME or len(parts) != 3:
        raise DownloadError(f"{href}: not a {SCHEME}://collection/tile/time/band href")
    tile, when, band = parts
    return parsed.netloc, tile, datetime.fromisoformat(when.replace("Z", "+00:00")), band


def record_from_feature(
    feature: dict[str, Any], collection: str, required: frozenset[str]
) -> SceneRecord:
    """A scene record from a Catalog API feature (bands as Process API hrefs)."""
    item = pystac.Item.from_dict(feature, migrate=False)
    if "SCL" in required and "l1c" in collection:
        raise ItemError(f"item {item.id}: {collection} has no scene classification (SCL)")
    tile = tile_id(item)
    when = sensing_time(item).isoformat().replace("+00:00", "Z")
    baseline, _where = find_baseline(item)
    cloud = item.properties.get("eo:cloud_cover")
    return SceneRecord(
        id=item.id,
        tile=tile,
        datetime=when,
        platform=str(item.properties.get("platform", "")).lower(),
        processing_baseline=baseline,
        apply_boa_offset=False,  # harmonizeValues: true returns offset-free DN
        cloud_cover=float(cloud) if cloud is not None else None,
        collection=collection,
        source_href=item.get_self_href() or item.id,
        bands={band: BandAsset(band_href(collection, tile, when, band)) for band in required},
    )


def search_scenes(
    settings: SentinelHubSettings, query: SearchQuery, page_size: int
) -> SearchResult:
    """Catalog API search of one tile; features of neighbouring tiles are dropped."""
    from sentinelhub import CRS, BBox, SentinelHubCatalog

    tile = parse_tile(query.tile)
    west, north = tile.upper_left
    bbox = BBox((west, north - TILE_EXTENT_M, west + TILE_EXTENT_M, north), crs=CRS(tile.epsg))
    catalog = SentinelHubCatalog(config=sh_config(settings))
    records: dict[str, SceneRecord] = {}
    rejected: list[tuple[str, str]] = []
    try:
        for feature in catalog.search(
            query.collection,
            time=(f"{query.start}T00:00:00Z", f"{query.end}T23:59:59Z"),
            bbox=bbox,
            filter=f"eo:cloud_cover <= {query.max_cloud_cover:g}",
            limit=page_size,
        ):
            try:
                record = record_from_feature(feature, query.collection, query.bands)
            except ItemError as exc:
                rejected.append((str(feature.get("id")), str(exc)))
                continue
            if record.tile == tile.id:
                records[record.id] = record
    except _service_errors() as exc:
        raise SearchError(f"Sentinel Hub catalog {settings.base_url}: {_one_line(exc)}") from exc
    ordered = sorted(records.values(), key=lambda r: (r.datetime, r.id))
    return SearchResult(ordered, rejected)


def evalscript(band: str) -> str:
    """An evalscript returning one band as DN (SCL as its class codes)."""
    sample_type = "UINT8" if band == "SCL" else "UINT16"
    return (
        "//VERSION=3\n"
        "function setup() {\n"
        f'  return {{input: [{{bands: ["{band}"], units: "DN"}}], '
        f'output: {{bands: 1, sampleType: "{sample_type}"}}}};\n'
        "}\n"
        f"function evaluatePixel(sample) {{ return [sample.{band}]; }}\n"
    )


def _data_collection(collection: str, base_url: str) -> Any:
    """The sentinelhub-py collection served by *this* deployment.

    The predefined SENTINEL2_L2A carries the commercial service URL, which would send CDSE
    users' Process API requests to the wrong deployment; a derived collection pins the URL.
    """
    from sentinelhub import DataCollection

    parent = DataCollection.SENTINEL2_L1C if "l1c" in collection else DataCollection.SENTINEL2_L2A
    key = hashlib.sha1(f"{collection} {base_url}".encode()).hexdigest()[:12].upper()
    return parent.define_from(f"RAW2READY_{key}", service_url=base_url)


def _pieces(size: int, limit: int) -> Iterator[tuple[int, int]]:
    """(offset, length) spans covering `size` pixels, each at most `limit`."""
    count = math.ceil(size / limit)
    step = math.ceil(size / count)
    for start in range(0, size, step):
        yield start, min(step, size - start)


def fetch_band(
    href: str, target: Path, settings: SentinelHubSettings, options: DownloadOptions
) -> None:
    """Write one band of one scene as a GeoTIFF on the tile grid, piece by piece."""
    from sentinelhub import (
        CRS,
        BBox,
        MimeType,
        MosaickingOrder,
        ResamplingType,
        SentinelHubRequest,
    )

    collection, tile_text, when, band = parse_band_href(href)
    tile = parse_tile(tile_text)
    resolution = settings.resolution * NATIVE_RESOLUTION[band] // 10
    size = round(TILE_EXTENT_M / resolution)
    west, north = tile.upper_left
    data_collection = _data_collection(collection, settings.base_url)
    config = sh_config(settings, options)
    dtype = "uint8" if band == "SCL" else "uint16"
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": dtype,
        "crs": f"EPSG:{tile.epsg}", "transform": from_origin(west, north, resolution, resolution),
        "nodata": 0, "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
    }  # fmt: skip
    with rasterio.open(target, "w", **profile) as out:
        for row, height in _pieces(size, settings.max_pixels):
            for col, width in _pieces(size, settings.max_pixels):
                left, top = west + col * resolution, north - row * resolution
                bbox = BBox(
                    (left, top - height * resolution, left + width * resolution, top),
                    crs=CRS(tile.epsg),
                )
                request = SentinelHubRequest(
                    evalscript=evalscript(band),
                    input_data=[
                        SentinelHubRequest.input_data(
                            data_collection,
                            time_interval=(when - TIME_WINDOW, when + TIME_WINDOW),
                            mosaicking_order=MosaickingOrder.LEAST_RECENT,
                            upsampling=ResamplingType.NEAREST,
                            downsampling=ResamplingType.NEAREST,
                            other_args={"processing": {"harmonizeValues": True}},
                        )
                    ],
                    responses=[SentinelHubRequest.output_response("default", MimeType.TIFF)],
                    bbox=bbox,
                    size=(width, height),
                    config=config,
                )
                try:
                    data = np.asarray(request.get_data(max_threads=1)[0])
                except _service_errors() as exc:
                    raise DownloadError(
                        f"{href}: Sentinel Hub Process API: {_one_line(exc)}"
                    ) from exc
                if data.shape[:2] != (height, width):
                    raise DownloadError(
                        f"{href}: Process API returned {data.shape[1]}x{data.shape[0]} px, "
                        f"asked for {width}x{height}"
                    )
                out.write(data.reshape(height, width).astype(dtype), 1,
                          window=Window(col, row, width, height))  # fmt: skip
    log.info("%s: %dx%d px at %d m from Sentinel Hub", href, size, size, resolution)


@dataclass(frozen=True)
class SentinelHubBands:
    """The source of `sentinelhub://` hrefs: the Process API writes each band, the shared
    transport keeps it partial until it is whole and renames it into place."""

    settings: SentinelHubSettings

    def serves(self, href: str) -> bool:
        """True for `sentinelhub://` band hrefs."""
        return urlparse(href).scheme == SCHEME

    def fetch(self, asset: BandAsset, final: Path, options: DownloadOptions) -> Path:
        """One band as a GeoTIFF on the tile grid at `final`."""

        def write(href: str, target: Path) -> None:
            fetch_band(href, target, self.settings, options)

        return Fetcher(options, write=write).fetch(asset, final)


class SentinelHub:
    """The `sentinelhub` provider: Catalog API search, Process API bands."""

    def search(
        self, archive: ArchiveSection, query: SearchQuery, options: DownloadOptions
    ) -> SearchResult:
        """The tile's scenes in the deployment's catalog."""
        return search_scenes(SentinelHubSettings.from_archive(archive), query, archive.page_size)

    def sources(self, archive: ArchiveSection) -> tuple[AssetSource, ...]:
        """The Process API source of its band hrefs."""
        return (SentinelHubBands(SentinelHubSettings.from_archive(archive)),)
