"""Normalize any archive's STAC item into the canonical scene record.

Providers disagree on asset keys, where the processing baseline lives and whether the
BOA offset was already applied; this module is the one place that knows (DESIGN.md s.3).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pystac

from raw2ready.errors import GridError, ItemError
from raw2ready.grid import parse_tile, tile_from_parts
from raw2ready.scene import BOA_ADD_OFFSET, BOA_QUANTIFICATION, BandAsset, SceneRecord
from raw2ready.sentinel2.angles import from_item_properties
from raw2ready.sentinel2.bands import BY_ASSET_KEY, NATIVE_RESOLUTION, SCL_ASSET_KEY, SCL_BAND
from raw2ready.sentinel2.baseline import baseline_has_offset, parse_baseline
from raw2ready.sentinel2.safe import parse_metadata

log = logging.getLogger(__name__)

#: Earth Search v1 common-name asset keys -> ESA band ids (from the band table).
COMMON_NAME_BANDS: dict[str, str] = {key: band.band_id for key, band in BY_ASSET_KEY.items()} | {
    SCL_ASSET_KEY: SCL_BAND
}
ESA_BANDS = frozenset(COMMON_NAME_BANDS.values())
#: `B04_10m` (CDSE), `SCL-20m` / `B02_20m` (Planetary Computer, old layout).
_RESOLUTION_KEY = re.compile(r"^(B\d[\dA]|SCL)[_-](\d{2})m$")
#: `_N0510_` in product names (`S2A_MSIL2A_..._N0510_R050_T37WDS_...`).
_PRODUCT_BASELINE = re.compile(r"_N(\d{2})(\d{2})_")
#: `_N05.10` in granule, datastrip and datatake ids (`..._T37WDS_N05.10`).
_ID_BASELINE = re.compile(r"_N(\d{2})\.(\d{2})(?:_|$)")
#: Properties that carry the baseline itself, in the order providers are trusted.
BASELINE_PROPERTIES = (
    "s2:processing_baseline",
    "sentinel:processing_baseline",
    "processing:version",
)
#: Properties holding an ESA product name with `_Nxxyy_` (the item id is tried last).
PRODUCT_NAME_PROPERTIES = ("s2:product_uri", "sentinel:product_id", "s2:product_id")
#: Properties holding a granule/datastrip/datatake id ending in `_Nxx.yy`.
GRANULE_ID_PROPERTIES = (
    "s2:tile_id", "s2:granule_id", "s2:datastrip_id", "s2:datatake_id",
    "eopf:datastrip_id", "eopf:datatake_id",
)  # fmt: skip
#: Archive claims that the BOA offset was already subtracted from the DNs.
OFFSET_FLAGS = ("earthsearch:boa_offset_applied", "sentinel:boa_offset_applied")
#: Assets that hold the SAFE product metadata (MTD_MSIL2A.xml), by provider.
PRODUCT_METADATA_ASSETS = ("product_metadata", "product-metadata")

#: Reads the bytes behind an href (a local path or URL); used for SAFE metadata fallbacks.
MetadataReader = Callable[[str], bytes]


@dataclass(frozen=True)
class OffsetDecision:
    """Whether raw2ready must add BOA_ADD_OFFSET, and the evidence, for logs and `inspect`."""

    apply: bool
    reason: str


def canonical_band(asset_key: str) -> tuple[str, int | None] | None:
    """Map an asset key to (ESA band id, resolution in m or None); None for non-band assets."""
    if asset_key in COMMON_NAME_BANDS:
        return COMMON_NAME_BANDS[asset_key], None
    if asset_key.upper() in ESA_BANDS and asset_key[0] in "BS":
        return asset_key.upper(), None
    match = _RESOLUTION_KEY.match(asset_key)
    if match:
        return match.group(1), int(match.group(2))
    return None


def _is_raster_band(asset: dict[str, Any]) -> bool:
    """True for image assets (COG, GeoTIFF or JP2), false for metadata and previews."""
    media = str(asset.get("type", ""))
    href = str(asset.get("href", ""))
    return media.startswith("image/") or href.lower().endswith((".tif", ".tiff", ".jp2"))


def band_assets(item: pystac.Item) -> dict[str, BandAsset]:
    """Collect the band assets of an item under canonical ids, preferring native resolution."""
    chosen: dict[str, tuple[int, BandAsset]] = {}
    for key, asset in item.assets.items():
        mapped = canonical_band(key)
        if mapped is None:
            continue
        band, resolution = mapped
        raw = asset.to_dict()
        if not _is_raster_band(raw):
            continue
        rank = 0 if resolution in (None, NATIVE_RESOLUTION[band]) else resolution
        size = raw.get("file:size")
        candidate = BandAsset(
            href=asset.get_absolute_href() or asset.href,
            size=int(size) if size is not None else None,
            checksum=raw.get("file:checksum"),
        )
        if band not in chosen or rank < chosen[band][0]:
            chosen[band] = (rank, candidate)
    return {band: asset for band, (_rank, asset) in sorted(chosen.items())}


def _baseline_from_names(item: pystac.Item) -> tuple[str, str] | None:
    """(baseline, where) from product names or granule ids, when a provider only has those."""
    props = item.properties
    for key in PRODUCT_NAME_PROPERTIES:
        match = _PRODUCT_BASELINE.search(str(props.get(key, "")))
        if match:
            return f"{match.group(1)}.{match.group(2)}", key
    match = _PRODUCT_BASELINE.search(item.id)
    if match:
        return f"{match.group(1)}.{match.group(2)}", "the item id"
    for key in GRANULE_ID_PROPERTIES:
        match = _ID_BASELINE.search(str(props.get(key, "")))
        if match:
            return f"{match.group(1)}.{match.group(2)}", key
    return None


def _baseline_from_safe(item: pystac.Item, read: MetadataReader) -> tuple[str, str] | None:
    """(baseline, where) from the item's SAFE product metadata asset (MTD_MSIL2A.xml)."""
    for key in PRODUCT_METADATA_ASSETS:
        asset = item.assets.get(key)
        if asset is None:
            continue
        href = asset.get_absolute_href() or asset.href
        try:
            metadata = parse_metadata(read(href), None, href)
        except (OSError, ItemError) as exc:
            log.warning("item %s: cannot read SAFE metadata %s (%s)", item.id, href, exc)
            continue
        return metadata.processing_baseline, f"SAFE metadata {key}"
    return None


def find_baseline(item: pystac.Item, read: MetadataReader | None = None) -> tuple[str, str]:
    """(baseline, where it was found): properties, product names, ids, then SAFE metadata."""
    props = item.properties
    for key in BASELINE_PROPERTIES:
        if props.get(key):
            return parse_baseline(props[key]), key
    found = _baseline_from_names(item)
    if found is None and read is not None:
        found = _baseline_from_safe(item, read)
    if found is None:
        raise ItemError(
            f"item {item.id}: no processing baseline (looked in "
            f"{', '.join(BASELINE_PROPERTIES + PRODUCT_NAME_PROPERTIES)}, the item id, "
            f"{', '.join(GRANULE_ID_PROPERTIES)}"
            f"{' and the SAFE product metadata' if read else ''})"
        )
    return found


def offset_already_applied(item: pystac.Item) -> bool | None:
    """The archive's own claim that it subtracted the BOA offset, or None when it says nothing."""
    for key in OFFSET_FLAGS:
        if key in item.properties:
            return bool(item.properties[key])
    return None


def stated_raster_offset(item: pystac.Item) -> float | None:
    """The reflectance offset the red band's raster metadata states (STAC 1.0 or 1.1 form)."""
    for key in ("red", "B04", "B04_10m"):
        asset = item.assets.get(key)
        if asset is None:
            continue
        extra = asset.extra_fields
        if "raster:offset" in extra:
            return float(extra["raster:offset"])
        bands = extra.get("raster:bands") or []
        if bands and "offset" in bands[0]:
            return float(bands[0]["offset"])
    return None


def explain_boa_offset(item: pystac.Item, baseline: str) -> OffsetDecision:
    """The offset decision for an item, with the evidence it rests on (DESIGN.md s.3).

    The baseline decides whether the format carries the offset; an archive flag saying it
    already subtracted it wins over raster metadata (Earth Search v1 keeps offset -0.1 on
    such items). Raster metadata never overrides the baseline; a disagreement is logged.
    """
    flag = offset_already_applied(item)
    flag_key = next((key for key in OFFSET_FLAGS if key in item.properties), None)
    if not baseline_has_offset(baseline):
        decision = OffsetDecision(False, f"baseline {baseline} < 04.00: the format has no offset")
    elif flag:
        decision = OffsetDecision(
            False, f"baseline {baseline} >= 04.00 but {flag_key}=true: the archive removed it"
        )
    else:
        claim = f"{flag_key}=false" if flag_key else "no archive flag"
        decision = OffsetDecision(True, f"baseline {baseline} >= 04.00, {claim}: apply -1000")
    stated = stated_raster_offset(item)
    expected = BOA_ADD_OFFSET / BOA_QUANTIFICATION if decision.apply else 0.0
    if flag is None and stated is not None and abs(stated - expected) > 1e-9:
        log.warning(
            "item %s: raster offset %g disagrees with baseline %s (expected %g); "
            "following the baseline", item.id, stated, baseline, expected,
        )  # fmt: skip
    return decision


def product_level(item: pystac.Item) -> str | None:
    """`L1C` or `L2A` from the product type, processing level, collection or id; else None."""
    props = item.properties
    for key in ("s2:product_type", "product:type"):
        text = str(props.get(key, "")).upper()
        if text.endswith(("1C", "2A")):
            return f"L{text[-2:]}"
    level = str(props.get("processing:level", "")).upper()
    if level in ("L1C", "L2A"):
        return level
    names = f"{item.collection_id or ''} {item.id}".upper()
    if "L1C" in names:
        return "L1C"
    if "L2A" in names:
        return "L2A"
    return None


def tile_id(item: pystac.Item) -> str:
    """The MGRS tile of an item from any grid property the provider uses."""
    props = item.properties
    try:
        if props.get("grid:code"):
            return parse_tile(str(props["grid:code"])).id
        if props.get("s2:mgrs_tile"):
            return parse_tile(str(props["s2:mgrs_tile"])).id
        for prefix in ("mgrs", "sentinel"):
            zone = props.get(f"{prefix}:utm_zone")
            if zone is not None:
                return tile_from_parts(
                    zone, props[f"{prefix}:latitude_band"], props[f"{prefix}:grid_square"]
                ).id
    except (GridError, KeyError) as exc:
        raise ItemError(f"item {item.id}: bad tile metadata ({exc})") from exc
    keys = ("s2:product_uri", "sentinel:product_id", "s2:tile_id")
    names = " ".join(str(props.get(key, "")) for key in keys)
    match = re.search(r"_T(\d{2}[A-Z]{3})(?:_|\.|$)", f"{names} {item.id}") or re.match(
        r"^S2[A-D]_T?(\d{1,2}[A-Z]{3})_", item.id
    )
    if match:
        return parse_tile(match.group(1)).id
    raise ItemError(
        f"item {item.id}: no MGRS tile id (grid:code, s2:mgrs_tile, mgrs:*, sentinel:*, "
        "product name)"
    )


def sensing_time(item: pystac.Item) -> datetime:
    """The item's datetime, or its start_datetime when datetime is null (STAC ranges)."""
    if item.datetime is not None:
        return item.datetime
    start = item.properties.get("start_datetime")
    if start:
        return datetime.fromisoformat(str(start).replace("Z", "+00:00"))
    raise ItemError(f"item {item.id} has no datetime")


def _source_href(item: pystac.Item) -> str:
    """The item's own address, for lineage links."""
    self_href = item.get_self_href()
    if self_href:
        return self_href
    for link in item.links:
        if link.rel == "canonical":
            return str(link.href)
    return item.id


def _check_bands(item: pystac.Item, bands: dict[str, BandAsset], required: frozenset[str]) -> None:
    """Reject an item that cannot give the products their bands, saying what is missing."""
    missing = sorted(required - set(bands))
    if not missing:
        return
    if "SCL" in missing and product_level(item) == "L1C":
        raise ItemError(
            f"item {item.id} is Level-1C: it has no scene classification (SCL); L2A products "
            "need an L2A item (e.g. collection sentinel-2-l2a) or Sen2Cor"
        )
    raise ItemError(
        f"item {item.id} lacks band(s) {', '.join(missing)} needed by the products "
        f"(its band assets: {', '.join(bands) or 'none'})"
    )


def normalize_item(
    item: pystac.Item, required: frozenset[str], read_metadata: MetadataReader | None = None
) -> SceneRecord:
    """Turn a provider item into a scene record, or raise ItemError saying why it cannot serve.

    `read_metadata`, when given, lets the baseline come from the SAFE product metadata asset
    for items that carry it nowhere else.
    """
    bands = band_assets(item)
    _check_bands(item, bands, required)
    when = sensing_time(item)
    baseline, _where = find_baseline(item, read_metadata)
    decision = explain_boa_offset(item, baseline)
    cloud = item.properties.get("eo:cloud_cover")
    record = SceneRecord(
        id=item.id,
        tile=tile_id(item),
        datetime=when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        platform=str(item.properties.get("platform", "")).lower(),
        processing_baseline=baseline,
        apply_boa_offset=decision.apply,
        cloud_cover=float(cloud) if cloud is not None else None,
        collection=item.collection_id or "",
        source_href=_source_href(item),
        bands={name: band for name, band in bands.items() if name in required},
        angles=from_item_properties(item.properties),
    )
    log.debug("normalized %s: %s", record.id, decision.reason)
    return record


def read_item(path: Path) -> pystac.Item:
    """Read a STAC item file as the provider wrote it (no version migration, which warns
    on and rewrites provider fields we read raw); ItemError when it is not an item."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ItemError(f"{path} is not a STAC item: {exc}") from exc
    if not isinstance(data, dict) or data.get("type") != "Feature":
        kind = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise ItemError(f"{path} is not a STAC item (type {kind!r}, expected 'Feature')")
    try:
        return pystac.Item.from_dict(data, href=str(Path(path).absolute()), migrate=False)
    except Exception as exc:  # pystac raises several kinds for malformed items
        raise ItemError(f"{path} is not a STAC item: {exc}") from exc


def describe_item(item: pystac.Item, required: frozenset[str]) -> dict[str, Any]:
    """The record of an item as `inspect` shows it, with the evidence behind its decisions."""
    record = normalize_item(item, required)
    summary = record.summary()
    summary["baseline_source"] = find_baseline(item)[1]
    summary["offset_reason"] = explain_boa_offset(item, record.processing_baseline).reason
    summary["level"] = product_level(item)
    return summary
