"""Normalize any archive's STAC item into the canonical scene record.

Providers disagree on asset keys, where the processing baseline lives and whether the
BOA offset was already applied; this module is the one place that knows (DESIGN.md s.3).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC
from typing import Any

import pystac

from raw2ready.errors import GridError, ItemError
from raw2ready.grid import parse_tile, tile_from_parts
from raw2ready.scene import BandAsset, SceneRecord

log = logging.getLogger(__name__)

#: Earth Search v1 common-name asset keys -> ESA band ids.
COMMON_NAME_BANDS: dict[str, str] = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "cirrus": "B10",
    "swir16": "B11",
    "swir22": "B12",
    "scl": "SCL",
}
ESA_BANDS = frozenset(COMMON_NAME_BANDS.values())
#: Native resolution of each band: an asset at this resolution is preferred over resampled ones.
NATIVE_RESOLUTION: dict[str, int] = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20, "SCL": 20,
}  # fmt: skip
#: `B04_10m` (CDSE), `SCL-20m` / `B02_20m` (Planetary Computer, old layout).
_RESOLUTION_KEY = re.compile(r"^(B\d[\dA]|SCL)[_-](\d{2})m$")
_PRODUCT_BASELINE = re.compile(r"_N(\d{2})(\d{2})_")
_BASELINE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\s*$")
#: The +1000 DN offset exists from processing baseline 04.00 on.
OFFSET_BASELINE = (4, 0)


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
    """True for image assets; JP2 mirrors of COGs are accepted only when nothing else is."""
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


def parse_baseline(text: str) -> str:
    """Normalize a baseline like `5.1`, `05.10` or `N0510` to `05.10`."""
    text = str(text).strip()
    match = _BASELINE.match(text)
    if match:
        return f"{int(match.group(1)):02d}.{int(match.group(2)):02d}"
    match = re.match(r"^N?(\d{2})(\d{2})$", text)
    if match:
        return f"{match.group(1)}.{match.group(2)}"
    raise ItemError(f"processing baseline '{text}' is not of the form NN.NN")


def processing_baseline(item: pystac.Item) -> str:
    """Find the processing baseline wherever the provider put it."""
    props = item.properties
    for key in ("s2:processing_baseline", "sentinel:processing_baseline", "processing:version"):
        if props.get(key):
            return parse_baseline(props[key])
    for key in ("s2:product_uri", "sentinel:product_id", "s2:product_id"):
        match = _PRODUCT_BASELINE.search(str(props.get(key, "")))
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    match = _PRODUCT_BASELINE.search(item.id)
    if match:
        return f"{match.group(1)}.{match.group(2)}"
    raise ItemError(
        f"item {item.id}: no processing baseline (looked in s2:processing_baseline, "
        "sentinel:processing_baseline, processing:version and the product id)"
    )


def offset_already_applied(item: pystac.Item) -> bool | None:
    """The archive's own claim that it subtracted the BOA offset, or None when it says nothing."""
    for key in ("earthsearch:boa_offset_applied", "sentinel:boa_offset_applied"):
        if key in item.properties:
            return bool(item.properties[key])
    return None


def decide_boa_offset(baseline: str, already_applied: bool | None) -> bool:
    """Whether raw2ready must add BOA_ADD_OFFSET: from the baseline, never the sensing date."""
    major, minor = (int(part) for part in baseline.split("."))
    if (major, minor) < OFFSET_BASELINE:
        return False
    return not already_applied


def tile_id(item: pystac.Item) -> str:
    """The MGRS tile of an item from any grid property the provider uses."""
    props = item.properties
    try:
        if props.get("grid:code"):
            return parse_tile(str(props["grid:code"])).id
        for prefix in ("mgrs", "sentinel"):
            zone = props.get(f"{prefix}:utm_zone")
            if zone is not None:
                return tile_from_parts(
                    zone, props[f"{prefix}:latitude_band"], props[f"{prefix}:grid_square"]
                ).id
        if props.get("s2:mgrs_tile"):
            return parse_tile(str(props["s2:mgrs_tile"])).id
    except (GridError, KeyError) as exc:
        raise ItemError(f"item {item.id}: bad tile metadata ({exc})") from exc
    names = " ".join(str(props.get(key, "")) for key in ("s2:product_uri", "sentinel:product_id"))
    match = re.search(r"_T(\d{2}[A-Z]{3})_", f"{names} {item.id}") or re.match(
        r"^S2[A-D]_T?(\d{1,2}[A-Z]{3})_", item.id
    )
    if match:
        return parse_tile(match.group(1)).id
    raise ItemError(f"item {item.id}: no MGRS tile id (grid:code, mgrs:*, s2:mgrs_tile)")


def _source_href(item: pystac.Item) -> str:
    """The item's own address, for lineage links."""
    self_href = item.get_self_href()
    if self_href:
        return self_href
    for link in item.links:
        if link.rel == "canonical":
            return str(link.href)
    return item.id


def normalize_item(item: pystac.Item, required: frozenset[str]) -> SceneRecord:
    """Turn a provider item into a scene record, or raise ItemError saying why it cannot serve."""
    bands = band_assets(item)
    missing = sorted(required - set(bands))
    if missing:
        if "SCL" in missing and "L1C" in item.id.upper():
            raise ItemError(
                f"item {item.id} is Level-1C (no SCL); L2A products need an L2A item "
                "or the Sen2Cor processor"
            )
        raise ItemError(f"item {item.id} lacks band(s) {', '.join(missing)} needed by the products")
    if item.datetime is None:
        raise ItemError(f"item {item.id} has no datetime")
    baseline = processing_baseline(item)
    cloud = item.properties.get("eo:cloud_cover")
    record = SceneRecord(
        id=item.id,
        tile=tile_id(item),
        datetime=item.datetime.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        platform=str(item.properties.get("platform", "")).lower(),
        processing_baseline=baseline,
        apply_boa_offset=decide_boa_offset(baseline, offset_already_applied(item)),
        cloud_cover=float(cloud) if cloud is not None else None,
        collection=item.collection_id or "",
        source_href=_source_href(item),
        bands={name: band for name, band in bands.items() if name in required},
    )
    log.debug(
        "normalized %s: baseline %s, apply offset %s", record.id, baseline, record.apply_boa_offset
    )
    return record
