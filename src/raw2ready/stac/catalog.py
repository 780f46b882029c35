"""STAC registration: one item per scene, a per-tile catalog (Year -> Quarter -> Month) and
a root collection, all with relative links.

Every file has exactly one writer: the scene's processing writes its item (its links'
relative targets follow from the layout), the batch job its month's catalog, the tile job
the tile's catalog and its year and quarter catalogs, the collection job the root. No job
rewrites another job's output, so reruns stay local, and each job can declare what it
writes (which object storage needs: docs/hpc.md).

Optional product families (Sentinel-1 backscatter) have their own collection, a child of
the root, with the same per-tile Year -> Quarter -> Month catalogs below it (layout.py puts
them in the family's subfolder).
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pystac
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.eo import EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.grid import GridExtension
from pystac.extensions.processing import ProcessingExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Statistics
from rasterio.warp import transform_geom
from shapely.geometry import mapping, shape
from shapely.geometry.polygon import orient

from raw2ready.atomic import write_json
from raw2ready.checksums import file_checksum
from raw2ready.errors import ProductValidationError
from raw2ready.layout import COMPOSITES, SENTINEL1, Layout, family_of
from raw2ready.months import Month, month_folder
from raw2ready.products.registry import PRODUCTS, ProductSpec
from raw2ready.raster.tile_chain import ProductResult
from raw2ready.scene import SceneRecord
from raw2ready.stac.render import add_render_hints, quicklook_definitions
from raw2ready.stac.validation import validate_stac_tree

log = logging.getLogger(__name__)

COG_MEDIA_TYPE = str(pystac.MediaType.COG)
JSON_MEDIA_TYPE = str(pystac.MediaType.JSON)
GEOJSON_MEDIA_TYPE = str(pystac.MediaType.GEOJSON)
#: Projection v1.2.0: the one version with both proj:code and proj:epsg (v2.0.0 forbids
#: proj:epsg, which stackstac and GDAL 3.6's STACIT need to know an item's CRS).
PROJECTION_BOTH_CODES = "https://stac-extensions.github.io/projection/v1.2.0/schema.json"
LICENSE_URL = "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"


@dataclass(frozen=True)
class FamilyText:
    """How a product family's collection and tile catalogs describe themselves."""

    title: str
    description: str
    constellation: str
    instruments: tuple[str, ...]
    tile: str


#: Family subfolder (None: the root, Sentinel-2) -> its collection's texts.
FAMILY_TEXTS: dict[str | None, FamilyText] = {
    None: FamilyText(
        "raw2ready campaign {campaign}",
        "Analysis-ready Sentinel-2 products (NDVI, LAI, cloud/cirrus/shadow mask) as "
        "Cloud-Optimized GeoTIFFs, reprocessed per MGRS tile by raw2ready.",
        "sentinel-2",
        ("msi",),
        "Sentinel-2 MGRS tile {tile}",
    ),
    SENTINEL1: FamilyText(
        "raw2ready campaign {campaign}: Sentinel-1 backscatter",
        "Terrain-flattened gamma0 backscatter (dB, stored as int16 x 1000 Cloud-Optimized "
        "GeoTIFFs) from Sentinel-1 GRD products by ESA SNAP, cut to MGRS tiles by raw2ready.",
        "sentinel-1",
        ("c-sar",),
        "Sentinel-1 backscatter on MGRS tile {tile}",
    ),
    COMPOSITES: FamilyText(
        "raw2ready campaign {campaign}: monthly composites",
        "Monthly composites per MGRS tile of the campaign's Sentinel-2 products (the median "
        "or the greenest of each month's clear observations, and their count) as "
        "Cloud-Optimized GeoTIFFs with the scene products' encodings, by raw2ready.",
        "sentinel-2",
        ("msi",),
        "Monthly composites of Sentinel-2 MGRS tile {tile}",
    ),
}


def collection_id(campaign: str, family: str | None = None) -> str:
    """Id of a campaign's root collection, or of a family's collection."""
    return f"raw2ready-{campaign}" + (f"-{family}" if family else "")


def _parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 timestamp (with Z) as an aware datetime; None stays None."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _relative(target: Path, start: Path) -> str:
    """A POSIX relative href from folder `start` to `target`."""
    return Path(os.path.relpath(target, start)).as_posix()


def counter_clockwise(geometry: dict[str, Any]) -> dict[str, Any]:
    """A (multi)polygon with exterior rings counter-clockwise and holes clockwise (RFC 7946)."""
    polygon = shape(geometry)
    parts = getattr(polygon, "geoms", [polygon])
    wound = [mapping(orient(part, sign=1.0))["coordinates"] for part in parts]
    coordinates = wound if geometry["type"] == "MultiPolygon" else wound[0]
    return {"type": geometry["type"], "coordinates": json.loads(json.dumps(coordinates))}


def footprint(result: ProductResult) -> dict[str, Any]:
    """WGS 84 footprint of a product grid, cut at the antimeridian where it crosses it,
    wound counter-clockwise."""
    a, _b, c, _d, e, f = result.transform
    height, width = result.shape
    left, top, right, bottom = c, f, c + a * width, f + e * height
    ring = [[left, top], [right, top], [right, bottom], [left, bottom], [left, top]]
    return counter_clockwise(
        transform_geom(
            f"EPSG:{result.epsg}",
            "EPSG:4326",
            {"type": "Polygon", "coordinates": [ring]},
            antimeridian_cutting=True,
            precision=7,
        )
    )


def geometry_bbox(geometry: dict[str, Any]) -> list[float]:
    """bbox of a geometry; across the antimeridian, west > east as RFC 7946 prescribes."""
    polygons = (
        geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    )
    parts = [[pt for ring in polygon for pt in ring] for polygon in polygons]
    lats = [pt[1] for part in parts for pt in part]
    spans = [(min(p[0] for p in part), max(p[0] for p in part)) for part in parts]
    if (
        len(spans) > 1
        and any(hi >= 180 for _lo, hi in spans)
        and any(lo <= -180 for lo, _hi in spans)
    ):
        west = min(lo for lo, _hi in spans if lo > 0)
        east = max(hi for _lo, hi in spans if hi < 0)
        return [west, min(lats), east, max(lats)]
    return [min(lo for lo, _ in spans), min(lats), max(hi for _, hi in spans), max(lats)]


def _source_link(record: SceneRecord) -> pystac.Link:
    """The lineage link to the source item: its archive's own URL; a source read from a
    local copy is linked by its absolute file URI (never a path climbing out of the tree)."""
    parsed = urlparse(record.source_href)
    local = parsed.scheme in ("", "file")
    href = Path(parsed.path).absolute().as_uri() if local else record.source_href
    title = f"{'Local copy of source' if local else 'Source'} scene {record.id}"
    return pystac.Link("derived_from", href, GEOJSON_MEDIA_TYPE, title=title)


def _raster_band(spec: ProductSpec, resolution: float | None = None) -> RasterBand:
    """The raster extension's band of a product: encoding, unit and pixel size."""
    return RasterBand.create(
        nodata=spec.nodata,
        data_type=DataType(spec.dtype),
        scale=spec.scale,
        offset=spec.offset,
        unit=spec.unit,
        spatial_resolution=resolution,
    )


def _classes(spec: ProductSpec) -> list[Classification]:
    """A class product's codes as classification:classes (names are slugs of the titles)."""
    colours = spec.colours or {}
    return [
        Classification.create(
            value=code,
            name=title.replace(" ", "_"),
            description=title,
            color_hint=(
                "{:02X}{:02X}{:02X}".format(*colours[code][:3]) if code in colours else None
            ),
            nodata=code == spec.nodata or None,
        )
        for code, title in (spec.classes or {}).items()
    ]


def _product_asset(
    item: pystac.Item, result: ProductResult, layout: Layout, item_dir: Path
) -> None:
    """Add one product as an asset with projection, raster and file fields."""
    spec = PRODUCTS[result.name]
    asset = pystac.Asset(
        href=layout.href(result.path, item_dir),
        title=spec.title,
        media_type=COG_MEDIA_TYPE,
        roles=["data"],
    )
    item.add_asset(result.name, asset)
    stats = result.statistics
    band = _raster_band(spec, abs(result.transform[0]))
    band.statistics = Statistics.create(
        minimum=stats.get("minimum"),
        maximum=stats.get("maximum"),
        mean=stats.get("mean"),
        stddev=stats.get("stddev"),
        valid_percent=stats.get("valid_percent"),
    )
    RasterExtension.ext(asset, add_if_missing=True).apply([band])
    projection = ProjectionExtension.ext(asset, add_if_missing=True)
    projection.shape = list(result.shape)
    projection.transform = list(result.transform)
    files = FileExtension.ext(asset, add_if_missing=True)
    files.size = result.path.stat().st_size
    files.checksum = file_checksum(result.path)
    if spec.classes:
        ClassificationExtension.ext(asset, add_if_missing=True).classes = _classes(spec)


def scene_item(
    record: SceneRecord,
    results: dict[str, ProductResult],
    layout: Layout,
    properties: dict[str, Any],
    campaign: str,
    config_digest: str,
    software: dict[str, str],
    lineage: str,
) -> pystac.Item:
    """The STAC item of one scene's products, whatever the mission: footprint, the mission's
    `properties`, cloud cover if known, projection, grid, processing, assets and links."""
    first = next(iter(results.values()))
    geometry = footprint(first)
    item_path = layout.item(record)
    item_dir = item_path.parent
    family = family_of(record)
    written = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    item = pystac.Item(
        id=record.id,
        geometry=geometry,
        bbox=geometry_bbox(geometry),
        datetime=record.acquired,
        properties={
            "platform": record.platform,
            "gsd": abs(first.transform[0]),
            "created": written,
            "updated": written,
            **properties,
            "raw2ready:config_sha256": config_digest,
        },
        collection=collection_id(campaign, family),
    )
    if record.cloud_cover is not None:
        EOExtension.ext(item, add_if_missing=True).cloud_cover = record.cloud_cover
    ProjectionExtension.ext(item, add_if_missing=True).code = f"EPSG:{first.epsg}"
    item.properties["proj:epsg"] = first.epsg
    GridExtension.ext(item, add_if_missing=True).code = f"MGRS-{record.tile}"
    processing = ProcessingExtension.ext(item, add_if_missing=True)
    processing.level = "L3"
    processing.lineage = lineage
    processing.software = software
    for result in results.values():
        _product_asset(item, result, layout, item_dir)
    item.stac_extensions = [
        PROJECTION_BOTH_CODES if uri == ProjectionExtension.get_schema_uri() else uri
        for uri in item.stac_extensions
    ]
    item.clear_links()
    root_href = _relative(layout.collection(), item_dir)
    collection_href = _relative(layout.collection(family), item_dir)
    item.add_link(pystac.Link("root", root_href, JSON_MEDIA_TYPE))
    item.add_link(pystac.Link("collection", collection_href, JSON_MEDIA_TYPE))
    item.add_link(pystac.Link("parent", "../catalog.json", JSON_MEDIA_TYPE))
    item.add_link(_source_link(record))
    item.add_link(
        pystac.Link(
            "license", LICENSE_URL, "text/html", title="Copernicus Sentinel data legal notice"
        )
    )
    return item


def create_item(
    record: SceneRecord,
    results: dict[str, ProductResult],
    layout: Layout,
    campaign: str,
    config_digest: str,
    software: dict[str, str],
    lineage: str,
) -> pystac.Item:
    """The STAC item of one Sentinel-2 scene's products, with its links in place."""
    properties = {
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "s2:processing_baseline": record.processing_baseline,
        "raw2ready:boa_offset_applied_here": record.apply_boa_offset,
    }
    return scene_item(
        record, results, layout, properties, campaign, config_digest, software, lineage
    )


def item_dict(item: pystac.Item) -> dict[str, Any]:
    """An item's JSON form with hrefs exactly as set (relative), no self link."""
    return item.to_dict(include_self_link=False, transform_hrefs=False)


def write_item(item: pystac.Item, path: Path) -> None:
    """Write an item atomically."""
    write_json(path, item_dict(item))


@dataclass
class TileSummary:
    """What the collection job needs to know of a tile (or a month of it) without its items."""

    tile: str
    items: int
    bbox: list[float]
    start: str
    end: str
    platforms: list[str]
    baselines: list[str]
    projections: list[str]
    cloud_cover: list[float]
    #: Asset (product) names the items have, for the collection's item_assets.
    assets: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return self.__dict__.copy()

    @classmethod
    def of_items(cls, tile: str, items: list[dict[str, Any]]) -> TileSummary:
        """The summary of some items (as JSON dicts)."""
        times = sorted(data["properties"]["datetime"] for data in items)
        return cls(
            tile=tile,
            items=len(items),
            bbox=_union_bbox([data["bbox"] for data in items]) if items else [],
            start=times[0] if times else "",
            end=times[-1] if times else "",
            platforms=sorted({data["properties"]["platform"] for data in items}),
            baselines=sorted(
                {d["properties"].get("s2:processing_baseline") for d in items} - {None}
            ),
            projections=sorted({data["properties"]["proj:code"] for data in items}),
            cloud_cover=[
                data["properties"]["eo:cloud_cover"]
                for data in items
                if "eo:cloud_cover" in data["properties"]
            ],
            assets=sorted({name for data in items for name in data["assets"]}),
        )

    @classmethod
    def merge(cls, tile: str, parts: list[TileSummary]) -> TileSummary:
        """One summary of several (a tile's months)."""
        present = [part for part in parts if part.items]
        return cls(
            tile=tile,
            items=sum(part.items for part in present),
            bbox=_union_bbox([part.bbox for part in present]) if present else [],
            start=min((part.start for part in present), default=""),
            end=max((part.end for part in present), default=""),
            platforms=sorted({p for part in present for p in part.platforms}),
            baselines=sorted({b for part in present for b in part.baselines}),
            projections=sorted({p for part in present for p in part.projections}),
            cloud_cover=[c for part in present for c in part.cloud_cover],
            assets=sorted({a for part in present for a in part.assets}),
        )


def _catalog(catalog_id: str, description: str, links: list[pystac.Link]) -> dict[str, Any]:
    """A catalog's JSON with the given (relative) links."""
    catalog = pystac.Catalog(id=catalog_id, description=description, title=catalog_id)
    catalog.clear_links()
    for link in links:
        catalog.add_link(link)
    return catalog.to_dict(include_self_link=False, transform_hrefs=False)


def _union_bbox(boxes: list[list[float]]) -> list[float]:
    """Union of bboxes that do not cross the antimeridian, else the widest crossing one."""
    crossing = [box for box in boxes if box[0] > box[2]]
    if crossing:
        return [
            min(b[0] for b in crossing),
            min(b[1] for b in boxes),
            max(b[2] for b in crossing),
            max(b[3] for b in boxes),
        ]
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def _tree_links(
    layout: Layout, tile: str, family: str | None, parent: str, depth: int
) -> list[pystac.Link]:
    """Root and parent links of a catalog `depth` levels below its tile catalog."""
    tile_dir = layout.tile_catalog(tile, family).parent
    collection_href = _relative(layout.collection(), tile_dir)
    root = "/".join([".."] * depth + [collection_href])
    return [
        pystac.Link("root", root, JSON_MEDIA_TYPE),
        pystac.Link("parent", parent, JSON_MEDIA_TYPE),
    ]


def _tree_id(tile: str, family: str | None, *levels: str) -> str:
    """Id of a catalog of a tile's tree, e.g. `47PPR-2023-Q1` (family-prefixed)."""
    return "-".join([f"{family}-{tile}" if family else tile, *levels])


def write_month_catalog(
    tile: str, month: Month, item_paths: list[Path], layout: Layout, family: str | None = None
) -> TileSummary:
    """Write the catalog of one month of a tile, linking its items; summarize the items."""
    folder = month_folder(layout, tile, month, family)
    links = _tree_links(layout, tile, family, "../catalog.json", 3) + [
        pystac.Link("item", _relative(path, folder), GEOJSON_MEDIA_TYPE)
        for path in sorted(item_paths)
    ]
    write_json(
        folder / "catalog.json",
        _catalog(
            _tree_id(tile, family, month.year, month.month),
            f"Tile {tile}, {month.year}-{month.month}",
            links,
        ),
    )
    return TileSummary.of_items(tile, [json.loads(path.read_text()) for path in item_paths])


def write_tile_tree(
    tile: str,
    months: list[Month],
    layout: Layout,
    family: str | None = None,
    quarters: list[tuple[str, str]] | None = None,
) -> Path:
    """Write a tile's catalog and its year and quarter catalogs down to the months' catalogs.

    `quarters` lists the quarters to write even when no month of them has scenes (a
    campaign's whole span, so the workflow can declare them); by default those with months.
    """
    tile_path = layout.tile_catalog(tile, family)
    tile_dir = tile_path.parent
    tree: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for year, quarter in quarters or []:
        tree[year][quarter] = []
    for month in sorted(months):
        tree[month.year][month.quarter].append(month.month)
    for year, quarter_months in sorted(tree.items()):
        for quarter, month_names in sorted(quarter_months.items()):
            write_json(
                tile_dir / year / quarter / "catalog.json",
                _catalog(
                    _tree_id(tile, family, year, quarter),
                    f"Tile {tile}, {year} {quarter}",
                    _tree_links(layout, tile, family, "../catalog.json", 2)
                    + [
                        pystac.Link("child", f"./{m}/catalog.json", JSON_MEDIA_TYPE)
                        for m in month_names
                    ],
                ),
            )
        write_json(
            tile_dir / year / "catalog.json",
            _catalog(
                _tree_id(tile, family, year),
                f"Tile {tile}, {year}",
                _tree_links(layout, tile, family, "../catalog.json", 1)
                + [
                    pystac.Link("child", f"./{q}/catalog.json", JSON_MEDIA_TYPE)
                    for q in sorted(quarter_months)
                ],
            ),
        )
    parent_href = _relative(layout.collection(family), tile_dir)
    write_json(
        tile_path,
        _catalog(
            _tree_id(tile, family),
            FAMILY_TEXTS[family].tile.format(tile=tile),
            _tree_links(layout, tile, family, parent_href, 0)
            + [pystac.Link("child", f"./{y}/catalog.json", JSON_MEDIA_TYPE) for y in sorted(tree)],
        ),
    )
    return tile_path


def write_tile_catalog(
    tile: str,
    item_paths: list[Path],
    layout: Layout,
    family: str | None = None,
    months: list[Month] | None = None,
) -> TileSummary:
    """Write a tile's whole Year -> Quarter -> Month tree linking its items; summarize them.

    `months` lists the months to write a catalog for even when no item falls in them (a
    campaign's whole span, so the workflow can declare them); by default those with items.
    """
    tile_dir = layout.tile_catalog(tile, family).parent
    by_month: dict[Month, list[Path]] = {month: [] for month in months or []}
    for path in item_paths:
        by_month.setdefault(Month(*path.relative_to(tile_dir).parts[:3]), []).append(path)
    summaries = [
        write_month_catalog(tile, month, paths, layout, family)
        for month, paths in sorted(by_month.items())
    ]
    write_tile_tree(tile, list(by_month), layout, family)
    return TileSummary.merge(tile, summaries)


def _add_item_assets(collection: pystac.Collection, products: list[str]) -> None:
    """Describe the items' product assets once (item_assets) so clients such as odc-stac
    know every band's type, scale and nodata before reading an item."""
    definitions: dict[str, dict[str, Any]] = {}
    for name in products:
        spec = PRODUCTS[name]
        definitions[name] = {
            "title": spec.title,
            "type": COG_MEDIA_TYPE,
            "roles": ["data"],
            "raster:bands": [_raster_band(spec).to_dict()],
        }
        if spec.classes:
            definitions[name]["classification:classes"] = [c.to_dict() for c in _classes(spec)]
    if not definitions:
        return
    collection.item_assets = definitions
    extensions = [RasterExtension.get_schema_uri()]
    if any(PRODUCTS[name].classes for name in products):
        extensions.append(ClassificationExtension.get_schema_uri())
    collection.stac_extensions.extend(extensions)


def write_collection(
    campaign: str,
    summaries: list[TileSummary],
    layout: Layout,
    family: str | None = None,
    children: tuple[str, ...] = (),
    products: tuple[str, ...] = (),
) -> Path:
    """Write the campaign's root collection (or a family's) linking every tile catalog and
    the `children` families' collections, with the render hints of its `products`; keep it
    only if the whole tree then validates against the STAC JSON schemas."""
    text = FAMILY_TEXTS[family]
    present = [s for s in summaries if s.items]
    if present:
        start = min(s.start for s in present)
        end = max(s.end for s in present)
        bbox = _union_bbox([s.bbox for s in present])
    else:
        start = end = None
        bbox = [-180.0, -90.0, 180.0, 90.0]
    collection = pystac.Collection(
        id=collection_id(campaign, family),
        title=text.title.format(campaign=campaign),
        description=text.description,
        extent=pystac.Extent(
            pystac.SpatialExtent([bbox]),
            pystac.TemporalExtent([[_parse_time(start), _parse_time(end)]]),
        ),
        license="other",
        providers=[
            pystac.Provider(
                "ESA / Copernicus",
                roles=[pystac.ProviderRole.PRODUCER, pystac.ProviderRole.LICENSOR],
            ),
            pystac.Provider("raw2ready", roles=[pystac.ProviderRole.PROCESSOR]),
        ],
        summaries=pystac.Summaries(
            {  # STAC wants no empty summary: an empty campaign leaves the lists out
                key: values
                for key, values in {
                    "platform": sorted({p for s in present for p in s.platforms}),
                    "constellation": [text.constellation],
                    "instruments": list(text.instruments),
                    "proj:code": sorted({p for s in present for p in s.projections}),
                    "grid:code": [f"MGRS-{s.tile}" for s in present],
                }.items()
                if values
            }
        ),
    )
    baselines = sorted({b for s in present for b in s.baselines})
    if family is None and baselines:
        collection.summaries.add("s2:processing_baseline", baselines)
    clouds = [c for s in present for c in s.cloud_cover]
    if clouds:
        collection.summaries.add("eo:cloud_cover", pystac.RangeSummary(min(clouds), max(clouds)))
    _add_item_assets(collection, sorted({a for s in present for a in s.assets if a in PRODUCTS}))
    if products:
        looks = {name: look.to_dict() for name, look in quicklook_definitions().items()}
        described = {name: d.to_dict() for name, d in (collection.item_assets or {}).items()}
        collection.item_assets = {**described, **looks}
        add_render_hints(collection, products)
    path = layout.collection(family)
    root_href = f"./{_relative(layout.collection(), path.parent)}"
    collection.clear_links()
    collection.add_link(pystac.Link("root", root_href, JSON_MEDIA_TYPE))
    if family is not None:
        collection.add_link(pystac.Link("parent", root_href, JSON_MEDIA_TYPE))
    collection.add_link(pystac.Link("license", LICENSE_URL, "text/html"))
    for summary in summaries:
        collection.add_link(
            pystac.Link(
                "child",
                f"./{summary.tile}/catalog.json",
                JSON_MEDIA_TYPE,
                title=f"Tile {summary.tile}",
            )
        )
    for child in children:
        child_href = _relative(layout.collection(child), path.parent)
        title = FAMILY_TEXTS[child].title.format(campaign=campaign)
        collection.add_link(pystac.Link("child", child_href, JSON_MEDIA_TYPE, title=title))
    write_json(path, collection.to_dict(include_self_link=False, transform_hrefs=False))
    try:
        count = validate_stac_tree(path)
    except ProductValidationError:
        path.unlink()  # an invalid tree is not published: the rerun rebuilds the root
        raise
    log.info("STAC tree under %s valid: %d objects", path, count)
    return path
