"""The STAC side of the demo archive: items with Earth Search v1 property names, extensions
and assets, the `sentinel-2-l2a` collection, and the self-contained root catalog.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pystac
from affine import Affine
from pyproj import Transformer
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.grid import GridExtension
from pystac.extensions.mgrs import MgrsExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from pystac.extensions.view import ViewExtension
from pystac.layout import CustomLayoutStrategy

from raw2ready.demo.observation import Geometry, scl_statistics
from raw2ready.demo.scenes import (
    BUCKET,
    COLLECTION_ID,
    DemoScene,
    absolute_orbit,
    datatake_start,
    generation_time,
    item_id,
    relative_orbit,
    scene_prefix,
)
from raw2ready.grid import parse_tile
from raw2ready.scene import BOA_ADD_OFFSET, BOA_QUANTIFICATION
from raw2ready.sentinel2.bands import (
    SCL_RESOLUTION,
    SCL_TITLE,
    SpectralBand,
)

PROCESSING_EXTENSION = "https://stac-extensions.github.io/processing/v1.1.0/schema.json"
SENTINEL2_EXTENSION = "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json"
LICENSE_HREF = "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"


@dataclass(frozen=True)
class WrittenFile:
    """A file on disk with the `file:*` facts its STAC asset needs."""

    path: Path
    size: int
    checksum: str


def _reflectance_conversion_factor(day: date) -> float:
    """Sun-Earth distance correction ESA reports as U: 1 / (1 - e cos(0.0172 (doy - 4)))^2."""
    doy = day.timetuple().tm_yday
    return 1 / (1 - 0.01673 * math.cos(0.0172 * (doy - 4))) ** 2


def _stamp(when: datetime) -> str:
    """Compact timestamp used in Sentinel-2 product names, e.g. 20230105T034121."""
    return when.strftime("%Y%m%dT%H%M%S")


def _product_names(scene: DemoScene) -> dict[str, str]:
    """The `s2:*` identifiers of the product, tile, datastrip and datatake."""
    code, start, generated = scene.platform_code, datatake_start(scene), generation_time(scene)
    orbit, relative = absolute_orbit(scene), relative_orbit(scene)
    centre = f"2{code[-1]}PS" if scene.has_boa_offset else "SGS_"
    n_code = "N" + scene.baseline.replace(".", "")
    granule = (
        f"{code}_OPER_MSI_L2A_TL_{centre}_{_stamp(generated)}_A{orbit:06d}_T{scene.tile}_"
        f"N{scene.baseline}"
    )
    return {
        "s2:tile_id": granule,
        "s2:granule_id": granule,
        "s2:product_uri": (
            f"{code}_MSIL2A_{_stamp(start)}_{n_code}_R{relative:03d}_T{scene.tile}_"
            f"{_stamp(generated)}.SAFE"
        ),
        "s2:generation_time": generated.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "s2:datatake_id": f"G{code}_{_stamp(start)}_{orbit:06d}_N{scene.baseline}",
        "s2:datatake_type": "INS-NOBS",
        "s2:datastrip_id": (
            f"{code}_OPER_MSI_L2A_DS_{centre}_{_stamp(generated)}_"
            f"S{_stamp(start - timedelta(seconds=3))}_N{scene.baseline}"
        ),
    }


def _convex_hull(points: np.ndarray) -> list[tuple[float, float]]:
    """Counter-clockwise convex hull of (x, y) points (Andrew's monotone chain), closed."""
    pts = sorted({(float(x), float(y)) for x, y in points})

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    return [*hull, hull[0]]


def valid_footprint(valid: np.ndarray, transform: Affine, epsg: int) -> dict:
    """GeoJSON polygon (WGS 84) of the valid data: convex by construction (square minus swath)."""
    corners = []
    for row in np.flatnonzero(valid.any(axis=1)):
        cols = np.flatnonzero(valid[row])
        for col in (cols[0], cols[-1] + 1):
            corners += [transform @ (col, row), transform @ (col, row + 1)]
    ring = _convex_hull(np.array(corners))
    to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
    lonlat = [to_wgs84.transform(x, y) for x, y in ring]
    return {"type": "Polygon", "coordinates": [[[round(x, 8), round(y, 8)] for x, y in lonlat]]}


def _bbox(geometry: dict) -> list[float]:
    """[west, south, east, north] of a polygon."""
    ring = np.array(geometry["coordinates"][0])
    return [round(float(v), 8) for v in (*ring.min(axis=0), *ring.max(axis=0))]


def _centroid(geometry: dict) -> dict[str, float]:
    """`proj:centroid` (lat/lon) of a polygon: the area-weighted centre of its ring."""
    ring = np.array(geometry["coordinates"][0])
    x, y = ring[:, 0], ring[:, 1]
    cross = x[:-1] * y[1:] - x[1:] * y[:-1]
    area = cross.sum() / 2
    cx = ((x[:-1] + x[1:]) * cross).sum() / (6 * area)
    cy = ((y[:-1] + y[1:]) * cross).sum() / (6 * area)
    return {"lat": round(float(cy), 5), "lon": round(float(cx), 5)}


def band_asset(
    spec: SpectralBand,
    scene: DemoScene,
    written: WrittenFile,
    shape: tuple[int, int],
    transform: Affine,
) -> pystac.Asset:
    """A reflectance asset with the eo, raster, proj and file fields Earth Search puts on it."""
    asset = pystac.Asset(
        href=str(written.path),
        media_type=pystac.MediaType.COG,
        title=spec.title,
        roles=["data", "reflectance"],
        extra_fields={"gsd": spec.resolution},
    )
    EOExtension.ext(asset).bands = [
        Band.create(
            name=spec.band_id,
            common_name=spec.common_name,
            center_wavelength=spec.center_wavelength,
            full_width_half_max=spec.full_width_half_max,
        )
    ]
    offset = BOA_ADD_OFFSET / BOA_QUANTIFICATION if scene.has_boa_offset else 0
    RasterExtension.ext(asset).bands = [
        RasterBand.create(
            nodata=0,
            data_type=DataType.UINT16,
            spatial_resolution=spec.resolution,
            scale=1 / BOA_QUANTIFICATION,
            offset=offset,
        )
    ]
    _grid_fields(asset, shape, transform)
    FileExtension.ext(asset).apply(size=written.size, checksum=written.checksum)
    return asset


def scl_asset(written: WrittenFile, shape: tuple[int, int], transform: Affine) -> pystac.Asset:
    """The scene classification asset (uint8, 20 m, no scale/offset)."""
    asset = pystac.Asset(
        href=str(written.path),
        media_type=pystac.MediaType.COG,
        title=SCL_TITLE,
        roles=["data"],
        extra_fields={"gsd": SCL_RESOLUTION},
    )
    RasterExtension.ext(asset).bands = [
        RasterBand.create(nodata=0, data_type=DataType.UINT8, spatial_resolution=SCL_RESOLUTION)
    ]
    _grid_fields(asset, shape, transform)
    FileExtension.ext(asset).apply(size=written.size, checksum=written.checksum)
    return asset


def _grid_fields(asset: pystac.Asset, shape: tuple[int, int], transform: Affine) -> None:
    """`proj:shape` and `proj:transform` of an asset."""
    projection = ProjectionExtension.ext(asset)
    projection.shape = [int(shape[0]), int(shape[1])]
    projection.transform = [float(v) for v in tuple(transform)[:6]]


def scene_item(
    scene: DemoScene,
    geometry: Geometry,
    scl: np.ndarray,
    assets: dict[str, pystac.Asset],
    footprint: dict,
) -> pystac.Item:
    """The STAC item of one scene, with Earth Search v1 property names and extensions."""
    tile = parse_tile(scene.tile)
    stats = scl_statistics(scl)
    names = _product_names(scene)
    created = (generation_time(scene) + timedelta(hours=1, minutes=21, seconds=15.427)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )[:-3] + "Z"
    identifier = item_id(scene)
    properties = {
        "created": created,
        "platform": scene.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": stats.pop("eo:cloud_cover"),
        "proj:epsg": tile.epsg,
        **stats,
        "s2:product_type": "S2MSI2A",
        "s2:processing_baseline": scene.baseline,
        **names,
        "s2:reflectance_conversion_factor": _reflectance_conversion_factor(scene.sensing_date),
        "s2:sequence": "0",
        "earthsearch:s3_path": f"s3://{BUCKET}/{scene_prefix(scene)}",
        "earthsearch:payload_id": "roda-sentinel2/workflow-sentinel2-to-stac/"
        + hashlib.md5(identifier.encode()).hexdigest(),
        "earthsearch:boa_offset_applied": scene.boa_offset_applied,
        "processing:software": {"sentinel2-to-stac": "0.1.1"},
        "updated": created,
    }
    item = pystac.Item(
        id=identifier,
        geometry=footprint,
        bbox=_bbox(footprint),
        datetime=datatake_start(scene) + timedelta(seconds=12, microseconds=24000),
        properties=properties,
        stac_extensions=[PROCESSING_EXTENSION, SENTINEL2_EXTENSION],
    )
    for key in sorted(assets):
        item.add_asset(key, assets[key])
    EOExtension.add_to(item)
    RasterExtension.add_to(item)
    FileExtension.add_to(item)
    ProjectionExtension.ext(item, add_if_missing=True).apply(
        epsg=tile.epsg, centroid=_centroid(footprint)
    )
    item.properties["proj:epsg"] = tile.epsg  # Earth Search v1 spelling, beside proj:code
    MgrsExtension.ext(item, add_if_missing=True).apply(
        latitude_band=tile.latitude_band, grid_square=tile.grid_square, utm_zone=tile.zone
    )
    GridExtension.ext(item, add_if_missing=True).apply(code=tile.grid_code)
    ViewExtension.ext(item, add_if_missing=True).apply(
        incidence_angle=geometry.incidence_angle,
        azimuth=geometry.view_azimuth,
        sun_azimuth=geometry.sun_azimuth,
        sun_elevation=geometry.sun_elevation,
    )
    item.add_link(pystac.Link("license", LICENSE_HREF, title="Sentinel data legal notice"))
    return item


def _collection(items: Sequence[pystac.Item]) -> pystac.Collection:
    """The `sentinel-2-l2a` collection with the spatial and temporal extent of its items."""
    boxes = np.array([item.bbox for item in items])
    times = sorted(item.datetime for item in items if item.datetime is not None)
    extent = pystac.Extent(
        pystac.SpatialExtent(
            [[*boxes[:, :2].min(axis=0).tolist(), *boxes[:, 2:].max(axis=0).tolist()]]
        ),
        pystac.TemporalExtent([[times[0], times[-1]]]),
    )
    collection = pystac.Collection(
        id=COLLECTION_ID,
        title="Sentinel-2 Level-2A (synthetic sample)",
        description=(
            "SYNTHETIC Sentinel-2 L2A scenes in the layout of Earth Search v1 sentinel-2-l2a, "
            "generated by raw2ready for demos and tests. Not real observations."
        ),
        extent=extent,
        license="proprietary",
        keywords=["sentinel", "earth observation", "esa", "synthetic"],
        providers=[
            pystac.Provider("ESA", roles=[pystac.ProviderRole.LICENSOR]),
            pystac.Provider("raw2ready", roles=[pystac.ProviderRole.PRODUCER]),
        ],
        summaries=pystac.Summaries(
            {
                "platform": sorted({str(item.properties["platform"]) for item in items}),
                "constellation": ["sentinel-2"],
                "instruments": ["msi"],
                "gsd": [10, 20],
            }
        ),
    )
    collection.add_link(pystac.Link("license", LICENSE_HREF, title="Sentinel data legal notice"))
    for item in items:
        collection.add_item(item)
    return collection


def save_catalog(out_dir: Path, scenes: Sequence[DemoScene], items: Sequence[pystac.Item]) -> Path:
    """Save root catalog, collection and items (each beside its COGs), all hrefs relative."""
    catalog = pystac.Catalog(
        id="raw2ready-demo-archive",
        description=(
            "SYNTHETIC sample archive in the layout of Earth Search v1 (collection "
            "sentinel-2-l2a): mixed processing baselines and BOA offset flags, clouds, "
            "shadows, a swath edge. Generated by raw2ready; not real data."
        ),
        title="raw2ready demo archive",
    )
    catalog.add_child(_collection(items))
    item_files = {
        item.id: str(out_dir / scene_prefix(scene) / f"{item.id}.json")
        for item, scene in zip(items, scenes, strict=True)
    }
    catalog.normalize_hrefs(
        str(out_dir),
        strategy=CustomLayoutStrategy(item_func=lambda item, _parent: item_files[item.id]),
    )
    catalog.make_all_asset_hrefs_relative()
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return out_dir / "catalog.json"
