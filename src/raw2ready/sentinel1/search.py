"""Search for the Sentinel-1 family: the GRD products whose footprint covers a tile.

A GRD product is not cut to tiles: it covers whichever MGRS tiles its footprint overlaps, so
a tile's search keeps every product whose footprint (manifest.safe `gml:coordinates`, or
the catalogue's GeoFootprint) overlaps the tile's square in the tile's UTM zone and which
has every configured polarisation. Each kept product becomes one scene record per tile
(`<product>_T<tile>`), the unit the workflow runs SNAP for and publishes an item for.

Archives: a local folder of GRD zips (only manifest.safe is read, in place, after the
zip-slip name checks) or the CDSE OData catalogue (productType IW_GRDH_1S, the tile's
footprint as OData.CSC.Intersects), fetched at job time like Sentinel-2 SAFE products.
This module reads no raster, so the search job's light environment serves it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pyproj import Transformer

from raw2ready.archives.footprint import tile_geometry
from raw2ready.archives.provider import SearchResult
from raw2ready.archives.transfer import DownloadOptions
from raw2ready.config import CdseSection, Settings
from raw2ready.errors import ArchiveError, ItemError, SearchError
from raw2ready.grid import TILE_EXTENT_M, Tile, parse_tile
from raw2ready.scene import BandAsset, SceneRecord
from raw2ready.sentinel1.grd import S1Product
from raw2ready.sentinel2.safe import MANIFEST, parse_xml, read_archive_member

log = logging.getLogger(__name__)

#: The OData productType searched: IW (the land acquisition mode) GRD, high resolution.
CDSE_PRODUCT_TYPE = "IW_GRDH_1S"

Ring = list[tuple[float, float]]


def manifest_footprint(manifest: bytes, source: str) -> Ring:
    """The (lon, lat) ring of a GRD manifest's frame footprint (`lat,lon lat,lon ...`)."""
    root = parse_xml(manifest, source)
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "coordinates" and element.text:
            try:
                pairs = [point.split(",") for point in element.text.split()]
                ring = [(float(lon), float(lat)) for lat, lon in pairs]
            except ValueError as exc:
                raise ItemError(f"{source}: unreadable footprint coordinates") from exc
            if len(ring) >= 3:
                return ring
    raise ItemError(f"{source}: no footprint (gml:coordinates) in {MANIFEST}")


def _separated(a: Ring, b: Ring) -> bool:
    """True when an edge normal of `a` separates the two convex rings (separating axes)."""
    for (x1, y1), (x2, y2) in zip(a, a[1:] + a[:1], strict=True):
        nx, ny = y2 - y1, x1 - x2
        pa = [nx * x + ny * y for x, y in a]
        pb = [nx * x + ny * y for x, y in b]
        if max(pa) < min(pb) or max(pb) < min(pa):
            return True
    return False


def overlaps(tile: Tile, ring: Ring) -> bool:
    """True when a (lon, lat) footprint overlaps the tile's square (exact for convex ones,
    which GRD frames are; compared in the tile's UTM zone, so no antimeridian trouble)."""
    to_utm = Transformer.from_crs(4326, tile.epsg, always_xy=True)
    xs, ys = to_utm.transform([lon for lon, _ in ring], [lat for _, lat in ring])
    footprint = list(zip(xs, ys, strict=True))
    west, north = tile.upper_left
    east, south = west + TILE_EXTENT_M, north - TILE_EXTENT_M
    square = [(west, north), (east, north), (east, south), (west, south)]
    return not (_separated(square, footprint) or _separated(footprint, square))


@dataclass(frozen=True)
class S1Query:
    """A tile, the campaign's dates and the polarisations every product must have."""

    tile: str
    start: date
    end: date
    polarisations: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings, tile: str) -> S1Query:
        """The query of one tile of a campaign."""
        polarisations = settings.sentinel1.polarisations
        return cls(parse_tile(tile).id, settings.start, settings.end, polarisations)

    def reason_to_skip(self, product: S1Product, rings: Sequence[Ring]) -> str | None:
        """Why a product does not serve this tile, or None when it does."""
        if not self.start <= product.start.date() <= self.end:
            return "outside the campaign's dates"
        missing = product.missing(self.polarisations)
        if missing:
            return f"lacks polarisation(s) {', '.join(missing)}"
        if not any(overlaps(parse_tile(self.tile), ring) for ring in rings):
            return f"does not overlap tile {self.tile}"
        return None


def folder_search(folder: str, query: S1Query) -> SearchResult:
    """Scene records of the GRD zips under `folder` (recursively) that serve the tile."""
    root = Path(folder)
    if not root.is_dir():
        raise SearchError(f"sentinel1.archive folder {folder} does not exist")
    records: list[SceneRecord] = []
    rejected: list[tuple[str, str]] = []
    for archive in sorted(root.rglob("S1*_GRD*.zip")):
        try:
            product = S1Product.from_name(archive.name)
            manifest = read_archive_member(archive, MANIFEST)
            ring = manifest_footprint(manifest, f"{archive.name}:{MANIFEST}")
        except (ArchiveError, ItemError) as exc:
            log.warning("skipping %s: %s", archive.name, exc)
            rejected.append((archive.name, str(exc)))
            continue
        reason = query.reason_to_skip(product, [ring])
        if reason is None:
            href = str(archive.resolve())
            asset = BandAsset(href, size=archive.stat().st_size)
            records.append(product.record(query.tile, href, asset))
        else:
            log.debug("%s: %s", archive.name, reason)
    return SearchResult(sorted(records, key=lambda r: (r.datetime, r.id)), rejected)


def _geojson_rings(geometry: dict[str, Any] | None) -> list[Ring]:
    """Outer rings of a GeoJSON Polygon or MultiPolygon, as (lon, lat) lists."""
    if not geometry:
        return []
    polygons = (
        geometry.get("coordinates", [])
        if geometry.get("type") == "MultiPolygon"
        else [geometry.get("coordinates", [])]
    )
    return [[(float(x), float(y)) for x, y, *_ in polygon[0]] for polygon in polygons if polygon]


def _wkt(tile: Tile) -> str:
    """The tile's footprint as WKT (a MULTIPOLYGON across the antimeridian)."""
    geometry = tile_geometry(tile)
    polygons = (
        geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    )
    parts = [
        "((" + ", ".join(f"{x:.6f} {y:.6f}" for x, y in polygon[0]) + "))" for polygon in polygons
    ]
    return f"POLYGON{parts[0]}" if len(parts) == 1 else f"MULTIPOLYGON({', '.join(parts)})"


def cdse_search(
    url: str, query: S1Query, options: DownloadOptions, cdse: CdseSection
) -> SearchResult:
    """Scene records of the tile's IW GRD products in the CDSE OData catalogue."""
    from raw2ready.archives.cdse_auth import CdseSettings
    from raw2ready.archives.cdse_odata import ProductQuery, products, safe_asset

    settings = CdseSettings.from_config(cdse)
    catalogue = ProductQuery(
        collection="SENTINEL-1",
        product_types=(CDSE_PRODUCT_TYPE,),
        start=query.start,
        end=query.end,
        area_wkt=_wkt(parse_tile(query.tile)),
    )
    records: list[SceneRecord] = []
    rejected: list[tuple[str, str]] = []
    for entity in products(url, catalogue, 200, options):
        name = str(entity.get("Name", entity.get("Id", "?")))
        try:
            product = S1Product.from_name(name)
            if entity.get("Online") is False:
                raise ItemError(f"{name}: offline (in CDSE's long-term archive); order it first")
            asset = safe_asset(entity, settings)
        except (ItemError, KeyError) as exc:
            rejected.append((name, str(exc)))
            continue
        reason = query.reason_to_skip(product, _geojson_rings(entity.get("GeoFootprint")))
        if reason is None:
            source = f"{url.rstrip('/')}/Products({entity['Id']})"
            records.append(product.record(query.tile, source, asset))
    return SearchResult(sorted(records, key=lambda r: (r.datetime, r.id)), rejected)


def search_sentinel1(settings: Settings, tile: str, options: DownloadOptions) -> SearchResult:
    """The Sentinel-1 scene records of one tile of an enabled campaign."""
    section = settings.sentinel1
    if not section.enabled or section.archive is None:
        raise SearchError("sentinel1.enabled is false: the campaign makes no Sentinel-1 products")
    query = S1Query.from_settings(settings, tile)
    archive = section.archive
    if archive.kind == "safe_folder":
        result = folder_search(archive.url, query)
    else:
        result = cdse_search(archive.url, query, options, settings.archive.cdse)
    log.info(
        "tile %s: %d Sentinel-1 scene(s), %d product(s) rejected",
        query.tile, len(result.records), len(result.rejected),
    )  # fmt: skip
    return result
