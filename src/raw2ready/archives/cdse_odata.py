"""The CDSE OData catalogue as an archive of SAFE products (`archive.kind: cdse_odata`).

A tile's search is one `$filter` query (collection, product type, tile in the name, sensing
dates, cloud cover) read page by page through `@odata.nextLink`, every page retried like a
download (429/5xx, Retry-After). The catalogue needs no login. Each product becomes a scene
record whose SAFE asset is either the product's zip on the download service
(`archive.cdse.transfer: odata`; size and MD5 from the catalogue, a bearer token at
download time) or its folder on the eodata S3 bucket (`transfer: s3`, from `S3Path`).
Either way the scene job checks the whole product (zip, manifest checksums) before use,
exactly as for a local SAFE folder (safe_folder.py), whose L2A-first choice per
acquisition applies here too. Download-service hrefs are fetched by cdse_auth.CdseDownloads,
s3:// folders by the shared transport.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import requests

from raw2ready.archives.cdse_auth import CdseSettings
from raw2ready.archives.provider import SearchQuery, SearchResult
from raw2ready.archives.transfer.hrefs import shown_href
from raw2ready.archives.transfer.options import AssetSource, DownloadOptions
from raw2ready.archives.transfer.retries import TransientError, raise_if_transient, retrying
from raw2ready.checksums import encode
from raw2ready.config import ArchiveSection
from raw2ready.errors import ItemError, SearchError
from raw2ready.scene import BandAsset, SceneRecord
from raw2ready.sentinel2.baseline import decide_boa_offset, parse_baseline
from raw2ready.sentinel2.safe import SAFE_ASSET, acquisition, one_per_acquisition

log = logging.getLogger(__name__)

#: archive.collection -> the OData productType values searched (L2A preferred per acquisition).
PRODUCT_TYPES: dict[str, tuple[str, ...]] = {
    "sentinel-2-l1c": ("S2MSI1C", "S2MSI2A"),
    "sentinel-2-l2a": ("S2MSI2A",),
}
LEVEL_COLLECTIONS = {"S2MSI1C": "sentinel-2-l1c", "S2MSI2A": "sentinel-2-l2a"}
#: Multihash prefix of an MD5 digest (code 0xd5 as varint, 16 bytes), as `file:checksum`.
_BASELINE_IN_NAME = re.compile(r"_N(\d{4})_")
SEARCH_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class ProductQuery:
    """One catalogue query: collection, product types, and optional narrowing clauses."""

    collection: str
    product_types: tuple[str, ...]
    start: date
    end: date
    name_contains: str | None = None
    max_cloud_cover: float | None = None
    area_wkt: str | None = None

    def filter(self) -> str:
        """The OData `$filter` expression (CDSE's documented attribute syntax)."""
        after = datetime.combine(self.start, time()).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        before = datetime.combine(self.end + timedelta(days=1), time()).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"
        )
        types = " or ".join(
            _attribute("String", "productType", "eq", f"'{t}'") for t in self.product_types
        )
        clauses = [
            f"Collection/Name eq '{self.collection}'",
            f"({types})" if len(self.product_types) > 1 else types,
            f"ContentDate/Start ge {after}",
            f"ContentDate/Start lt {before}",
        ]
        if self.name_contains:
            clauses.append(f"contains(Name,'{self.name_contains}')")
        if self.max_cloud_cover is not None and self.max_cloud_cover < 100:
            clauses.append(_attribute("Double", "cloudCover", "le", f"{self.max_cloud_cover:.2f}"))
        if self.area_wkt:
            clauses.append(f"OData.CSC.Intersects(area=geography'SRID=4326;{self.area_wkt}')")
        return " and ".join(clauses)


def _attribute(kind: str, name: str, operator: str, value: str) -> str:
    """A condition on one typed attribute, e.g. productType eq 'S2MSI2A'."""
    typed = f"OData.CSC.{kind}Attribute"
    return (
        f"Attributes/{typed}/any(att:att/Name eq '{name}' and att/{typed}/Value {operator} {value})"
    )


def _page(session: requests.Session, url: str, params: dict[str, str] | None) -> dict[str, Any]:
    """One catalogue page; 429/5xx and broken connections are TransientError."""
    shown = shown_href(url)
    try:
        response = session.get(url, params=params, timeout=SEARCH_TIMEOUT_SECONDS)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientError(f"CDSE catalogue {shown}: {type(exc).__name__}: {exc}") from exc
    raise_if_transient(response, f"CDSE catalogue {shown}")
    if response.status_code >= 400:
        raise SearchError(
            f"CDSE catalogue {shown} refused the query: HTTP {response.status_code} "
            f"{response.text[:300]}"
        )
    try:
        page = response.json()
    except ValueError as exc:
        raise SearchError(
            f"CDSE catalogue {shown} answered with something other than JSON"
        ) from exc
    if not isinstance(page, dict) or not isinstance(page.get("value"), list):
        raise SearchError(f"CDSE catalogue {shown} answered without a 'value' list")
    return page


def products(
    url: str, query: ProductQuery, page_size: int, options: DownloadOptions
) -> Iterator[dict[str, Any]]:
    """Every product entity the query matches, page by page (`@odata.nextLink`)."""
    params: dict[str, str] | None = {
        "$filter": query.filter(),
        "$orderby": "ContentDate/Start asc",
        "$top": str(page_size),
        "$expand": "Attributes",
    }
    next_url: str | None = f"{url.rstrip('/')}/Products"
    number = 0
    with requests.Session() as session:
        while next_url:
            try:
                page = retrying(options)(_page, session, next_url, params)
            except TransientError as exc:
                raise SearchError(f"{exc} (gave up after {options.attempts} attempts)") from exc
            number += 1
            log.debug("CDSE catalogue: page %d, %d product(s)", number, len(page["value"]))
            yield from page["value"]
            next_url, params = page.get("@odata.nextLink"), None


def attributes(entity: dict[str, Any]) -> dict[str, Any]:
    """An entity's expanded Attributes as name -> value."""
    return {
        str(attribute.get("Name")): attribute.get("Value")
        for attribute in entity.get("Attributes") or []
        if isinstance(attribute, dict)
    }


def safe_asset(entity: dict[str, Any], settings: CdseSettings) -> BandAsset:
    """Where the scene job fetches the product: its zip (odata) or its S3 folder (s3)."""
    if settings.transfer == "s3":
        path = str(entity.get("S3Path") or "")
        if not path.startswith("/"):
            raise ItemError(f"{entity.get('Name')}: the catalogue gives no S3Path")
        return BandAsset(f"s3:/{path.rstrip('/')}/")
    md5 = next(
        (
            str(checksum.get("Value", "")).lower()
            for checksum in entity.get("Checksum") or []
            if str(checksum.get("Algorithm", "")).upper() == "MD5"
            and re.fullmatch(r"[0-9a-fA-F]{32}", str(checksum.get("Value", "")))
        ),
        None,
    )
    size = entity.get("ContentLength")
    return BandAsset(
        settings.product_href(str(entity["Id"])),
        size=int(size) if isinstance(size, int) and size > 0 else None,
        checksum=encode("md5", bytes.fromhex(md5)) if md5 else None,
    )


def scene_record(entity: dict[str, Any], catalogue: str, settings: CdseSettings) -> SceneRecord:
    """The canonical record of one Sentinel-2 SAFE product of the catalogue."""
    name = str(entity.get("Name", "")).removesuffix(".SAFE")
    mission, _sensing, _orbit, tile = acquisition(name)
    values = attributes(entity)
    product_type = str(values.get("productType", ""))
    if product_type not in LEVEL_COLLECTIONS:
        raise ItemError(f"{name}: product type '{product_type}' is not S2MSI1C or S2MSI2A")
    if entity.get("Online") is False:
        raise ItemError(f"{name}: offline (in CDSE's long-term archive); order it first")
    match = _BASELINE_IN_NAME.search(name)
    if match is None:
        raise ItemError(f"{name}: no processing baseline (_Nxxxx_) in the product name")
    baseline = parse_baseline(match.group(1))
    start = (entity.get("ContentDate") or {}).get("Start")
    if not start:
        raise ItemError(f"{name}: no ContentDate/Start")
    cloud = values.get("cloudCover")
    return SceneRecord(
        id=name,
        tile=tile[1:],
        datetime=str(start),
        platform=f"sentinel-2{mission[-1].lower()}",
        processing_baseline=baseline,
        apply_boa_offset=decide_boa_offset(baseline, None),
        cloud_cover=float(cloud) if cloud is not None else None,
        collection=LEVEL_COLLECTIONS[product_type],
        source_href=f"{catalogue.rstrip('/')}/Products({entity['Id']})",
        bands={SAFE_ASSET: safe_asset(entity, settings)},
    )


def cdse_odata_search(
    archive: ArchiveSection, query: SearchQuery, options: DownloadOptions
) -> SearchResult:
    """Scene records of a tile's Sentinel-2 SAFE products in the CDSE catalogue."""
    if query.collection not in PRODUCT_TYPES:
        raise SearchError(
            f"archive.collection '{query.collection}' is not one the CDSE OData archive serves; "
            f"use {' or '.join(PRODUCT_TYPES)}"
        )
    url = archive.url
    settings = CdseSettings.from_config(archive.cdse)
    catalogue_query = ProductQuery(
        collection="SENTINEL-2",
        product_types=PRODUCT_TYPES[query.collection],
        start=query.start,
        end=query.end,
        name_contains=f"_T{query.tile}_",
        max_cloud_cover=query.max_cloud_cover,
    )
    candidates: list[SceneRecord] = []
    rejected: list[tuple[str, str]] = []
    for entity in products(url, catalogue_query, archive.page_size, options):
        try:
            record = scene_record(entity, url, settings)
        except (ItemError, KeyError, ValueError) as exc:
            name = str(entity.get("Name", entity.get("Id", "?")))
            log.warning("skipping %s: %s", name, exc)
            rejected.append((name, str(exc)))
            continue
        if _wanted(record, query):
            candidates.append(record)
    records = one_per_acquisition(candidates)
    log.info(
        "tile %s: %d scene(s) in the CDSE catalogue, %d product(s) rejected",
        query.tile, len(records), len(rejected),
    )  # fmt: skip
    return SearchResult(records, rejected)


def _wanted(record: SceneRecord, query: SearchQuery) -> bool:
    """The exact tile, date and cloud checks, client-side (the server's are a pre-filter)."""
    if record.tile != query.tile or not query.accepts_date(record.acquired.date()):
        return False
    return record.cloud_cover is None or record.cloud_cover <= query.max_cloud_cover


class CdseOdata:
    """The `cdse_odata` provider: its download-service hrefs are served for every archive
    (cdse_auth.CdseDownloads, registered as a shared source), its s3:// folders by the
    transport."""

    def search(
        self, archive: ArchiveSection, query: SearchQuery, options: DownloadOptions
    ) -> SearchResult:
        """The tile's SAFE products in the catalogue, one per acquisition."""
        return cdse_odata_search(archive, query, options)

    def sources(self, archive: ArchiveSection) -> tuple[AssetSource, ...]:
        """None of its own beyond the shared CDSE download source."""
        return ()
