"""ESA SNAP through its Graph Processing Tool (gpt): two graphs and their products.

- Biophysical Processor, an LAI backend (`processors.lai: snap`): Read the L2A SAFE,
  Resample to one resolution, BiophysicalOp (LAI, FAPAR, FCOVER; S2TBX neural nets that
  read B3 B4 B5 B6 B7 B8A B11 B12 and the sun/view angles), Write BEAM-DIMAP.
- Sentinel-1 GRD backscatter: Read, Apply-Orbit-File, ThermalNoiseRemoval, Calibration
  (beta0), Subset to the tile, Terrain-Flattening (gamma0), Terrain-Correction into the
  tile's UTM zone, Write.

Graphs take `${input}` and `${target}` as gpt -P parameters, so the same file can be rerun
by hand. gpt's float bands are stored as int16 = value x 1000 COGs (cog.translate_to_cog,
specs in products.py): LAI/FAPAR/FCOVER masked with the scene's SCL like every S2 product,
Sentinel-1 gamma0 in dB (10 log10), which keeps 0.001 dB steps over the whole range
where linear x 1000 would leave dark fields and water a handful of levels.
"""

from __future__ import annotations

import logging
import math
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pystac
import rasterio
from pystac.extensions.sar import FrequencyBand, Polarization, SarExtension
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds, transform_geom
from rasterio.windows import Window

from raw2ready.campaign.provenance import software_versions
from raw2ready.config import Settings
from raw2ready.errors import ExternalToolError, ItemError, ProcessingError
from raw2ready.grid import TILE_SIZE_10M, parse_tile
from raw2ready.layout import Layout
from raw2ready.processors.external import SNAP_GPT, locate, run
from raw2ready.processors.sen2cor import extract_fetched
from raw2ready.products.masking import MASK_CLEAR, mask_lookup
from raw2ready.products.registry import PRODUCTS, ProductSpec
from raw2ready.raster.cog import COGOptions, scratch_profile, translate_to_cog
from raw2ready.raster.tile_chain import STRIP_ROWS, ProductResult, RunningStatistics, encode
from raw2ready.scene import SceneRecord
from raw2ready.sentinel1.grd import GAMMA0, S1Product
from raw2ready.sentinel2.safe import read_product_metadata
from raw2ready.stac.catalog import create_item, write_item

log = logging.getLogger(__name__)

#: Product name -> BiophysicalOp switch (its output band has the product's name).
BIOPHYSICAL = {"lai": "computeLAI", "fapar": "computeFapar", "fcover": "computeFcover"}
BIOPHYSICAL_SENSORS = ("S2A", "S2B", "S2C")
S1_PIXEL_SPACING = 10.0
S1_DEM = "SRTM 1Sec HGT"
#: Margin around the tile kept by the Subset before flattening (edge effects stay outside).
S1_SUBSET_MARGIN_M = 2_000.0


@dataclass(frozen=True)
class SnapOptions:
    """How to call gpt."""

    gpt: str | None = None
    resolution: int = 20
    cache: str = "2G"
    threads: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> SnapOptions:
        """From the `processors.snap` section of a validated configuration."""
        snap = settings.processors.snap
        return cls(snap.gpt, snap.resolution, snap.cache, snap.threads)


def snap_products(settings: Settings) -> tuple[str, ...]:
    """The configured products SNAP makes: LAI, FAPAR, FCOVER when processors.lai is snap."""
    if not settings.processors.uses_snap:
        return ()
    return tuple(name for name in settings.products if name in BIOPHYSICAL)


def graph_xml(graph_id: str, nodes: list[tuple[str, dict[str, str]]]) -> str:
    """A linear gpt graph: (operator, parameters) nodes, each the source of the next."""
    graph = ET.Element("graph", id=graph_id)
    ET.SubElement(graph, "version").text = "1.0"
    previous: str | None = None
    for operator, parameters in nodes:
        node = ET.SubElement(graph, "node", id=operator)
        ET.SubElement(node, "operator").text = operator
        sources = ET.SubElement(node, "sources")
        if previous is not None:
            ET.SubElement(sources, "sourceProduct", refid=previous)
        values = ET.SubElement(node, "parameters")
        for name, value in parameters.items():
            ET.SubElement(values, name).text = value
        previous = operator
    ET.indent(graph)
    return ET.tostring(graph, encoding="unicode") + "\n"


def _read_write(inner: list[tuple[str, dict[str, str]]]) -> list[tuple[str, dict[str, str]]]:
    """Wrap processing nodes between Read ${input} and Write ${target} (BEAM-DIMAP)."""
    return [
        ("Read", {"file": "${input}"}),
        *inner,
        ("Write", {"file": "${target}", "formatName": "BEAM-DIMAP"}),
    ]


def biophysical_graph(sensor: str, resolution: int, products: tuple[str, ...]) -> str:
    """Resample the L2A to one resolution, then BiophysicalOp for the requested variables."""
    if sensor not in BIOPHYSICAL_SENSORS:
        raise ProcessingError(
            f"SNAP's BiophysicalOp has no model for {sensor} (it knows "
            f"{', '.join(BIOPHYSICAL_SENSORS)})"
        )
    switches = {flag: str(name in products).lower() for name, flag in BIOPHYSICAL.items()}
    return graph_xml(
        "raw2ready-biophysical",
        _read_write([
            ("Resample", {
                "targetResolution": str(resolution), "upsampling": "Bilinear",
                "downsampling": "Mean", "flagDownsampling": "First",
                "resampleOnPyramidLevels": "true",
            }),
            ("BiophysicalOp", {
                "sensor": sensor, "resolution": str(resolution), **switches,
                "computeCab": "false", "computeCw": "false",
            }),
        ]),
    )  # fmt: skip


def s1_grd_graph(epsg: int, polarisations: tuple[str, ...], region: str | None = None) -> str:
    """Orbit, thermal noise, beta0, [subset to `region`], terrain-flattened gamma0,
    terrain-corrected to UTM. SNAP pulls only what the output needs, so with a region the
    costly steps (flattening, geocoding) run on one tile's part of the product, not on all."""
    pols = ",".join(polarisations)
    dem = {"demName": S1_DEM, "demResamplingMethod": "BILINEAR_INTERPOLATION"}
    subset = [("Subset", {"geoRegion": region, "copyMetadata": "true"})] if region else []
    return graph_xml(
        "raw2ready-s1-grd",
        _read_write([
            ("Apply-Orbit-File", {
                "orbitType": "Sentinel Precise (Auto Download)", "polyDegree": "3",
                "continueOnFail": "false",
            }),
            ("ThermalNoiseRemoval", {"selectedPolarisations": pols, "removeThermalNoise": "true"}),
            ("Calibration", {
                "selectedPolarisations": pols, "outputBetaBand": "true",
                "outputSigmaBand": "false", "outputImageScaleInDb": "false",
            }),
            *subset,
            ("Terrain-Flattening", {**dem, "outputSimulatedImage": "false"}),
            ("Terrain-Correction", {
                **dem, "imgResamplingMethod": "BILINEAR_INTERPOLATION",
                "pixelSpacingInMeter": f"{S1_PIXEL_SPACING:g}", "mapProjection": f"EPSG:{epsg}",
                "nodataValueAtSea": "false", "saveSelectedSourceBand": "true",
            }),
        ]),
    )  # fmt: skip


def tile_region(tile: str, margin: float = S1_SUBSET_MARGIN_M) -> str | None:
    """The tile's square widened by `margin` metres, as a WKT POLYGON in lon/lat (Subset's
    geoRegion); None across the antimeridian, where the whole product is processed."""
    parsed = parse_tile(tile)
    west, north = parsed.upper_left
    east, south = west + TILE_SIZE_10M * 10.0 + margin, north - TILE_SIZE_10M * 10.0 - margin
    west, north = west - margin, north + margin
    square = [[west, north], [east, north], [east, south], [west, south], [west, north]]
    geometry = transform_geom(
        f"EPSG:{parsed.epsg}", "EPSG:4326", {"type": "Polygon", "coordinates": [square]},
        antimeridian_cutting=True, precision=6,
    )  # fmt: skip
    if geometry["type"] != "Polygon":
        return None
    ring = ", ".join(f"{lon:.6f} {lat:.6f}" for lon, lat in geometry["coordinates"][0])
    return f"POLYGON(({ring}))"


def run_graph(
    graph: str, source: Path, work: Path, name: str, options: SnapOptions, log_file: Path
) -> Path:
    """Run a graph with gpt on `source`; return the `.data` folder of the DIMAP it wrote."""
    gpt = locate(SNAP_GPT, options.gpt)
    work.mkdir(parents=True, exist_ok=True)
    graph_file = work / f"{name}.xml"
    graph_file.write_text(graph)
    target = work / f"{name}.dim"
    argv = [
        gpt, str(graph_file), "-e", "-c", options.cache, "-q", str(options.threads),
        f"-Pinput={source.resolve()}", f"-Ptarget={target.resolve()}",
    ]  # fmt: skip
    run(SNAP_GPT, argv, log_file)
    data = target.with_suffix(".data")
    if not target.is_file() or not data.is_dir():
        raise ExternalToolError(f"gpt exited normally but wrote no {target.name} (log: {log_file})")
    return data


def _band_file(data: Path, band: str, log_file: Path) -> Path:
    """The ENVI image of one DIMAP band, or a clear error naming what gpt did not write."""
    path = data / f"{band}.img"
    if not path.is_file():
        raise ExternalToolError(f"gpt wrote no band '{band}' in {data} (log: {log_file})")
    return path


ClearMask = Callable[[Window], np.ndarray]


def to_cog(
    dataset: rasterio.io.DatasetReaderBase,
    final: Path,
    spec: ProductSpec,
    cog: COGOptions,
    scratch: Path,
    convert: Callable[[np.ndarray], np.ndarray] = lambda values: values,
    clear: ClearMask | None = None,
) -> ProductResult:
    """Stream one float band strip by strip into a validated int16 COG (value / scale)."""
    scratch.mkdir(parents=True, exist_ok=True)
    temporary = scratch / f"{final.stem}.tif"
    profile = scratch_profile(spec, dataset.width, dataset.height, dataset.crs, dataset.transform)
    stats = RunningStatistics()
    with rasterio.open(temporary, "w", **profile) as out:
        for top in range(0, dataset.height, STRIP_ROWS):
            window = Window(0, top, dataset.width, min(STRIP_ROWS, dataset.height - top))
            raw = dataset.read(1, window=window, masked=True)
            valid = ~np.ma.getmaskarray(raw)
            with np.errstate(divide="ignore", invalid="ignore"):
                values = convert(raw.filled(np.nan).astype(np.float32))
            if clear is not None:
                valid &= clear(window)
            encoded = encode(values, valid, spec)
            out.write(encoded, 1, window=window)
            stats.add(encoded[encoded != spec.nodata] * spec.scale, encoded.size)
        out.scales, out.offsets = (spec.scale,), (spec.offset,)
        out.set_band_description(1, spec.title)
        out.units = (spec.unit or "",)
    translate_to_cog(temporary, final, spec, cog)
    temporary.unlink(missing_ok=True)
    epsg = dataset.crs.to_epsg() if dataset.crs else None
    shape = (dataset.height, dataset.width)
    return ProductResult(
        spec.name, final, stats.as_stac(), shape, tuple(dataset.transform)[:6], epsg
    )


def _clear_sky(scl: rasterio.io.DatasetReaderBase, masked: frozenset[int]) -> ClearMask:
    """Window -> clear-sky pixels, from an SCL already warped onto the product grid."""
    lookup = mask_lookup(masked)

    def clear(window: Window) -> np.ndarray:
        return lookup[scl.read(1, window=window)] == MASK_CLEAR

    return clear


def biophysical_products(
    settings: Settings, record: SceneRecord, l2a: Path, layout: Layout
) -> dict[str, ProductResult]:
    """Run SNAP's Biophysical Processor on an L2A SAFE; store its bands as masked COGs."""
    names = snap_products(settings)
    options = SnapOptions.from_settings(settings)
    meta = read_product_metadata(l2a)
    sensor = f"S2{meta.platform[-1].upper()}"
    work = layout.scratch(record) / "snap"
    log_file = layout.tool_log(record, "gpt-biophysical")
    graph = biophysical_graph(sensor, options.resolution, names)
    data = run_graph(graph, l2a / "MTD_MSIL2A.xml", work, "biophysical", options, log_file)
    scl = meta.band_paths(l2a)["SCL"]
    masked = settings.scl_classes
    cog = settings.cog
    results: dict[str, ProductResult] = {}
    for name in names:
        with (
            rasterio.open(_band_file(data, name, log_file)) as dataset,
            rasterio.open(scl) as scl_source,
            WarpedVRT(
                scl_source, crs=dataset.crs, transform=dataset.transform, width=dataset.width,
                height=dataset.height, resampling=Resampling.nearest,
            ) as scl_grid,
        ):  # fmt: skip
            results[name] = to_cog(
                dataset, layout.product(record, name), PRODUCTS[name], cog, work,
                clear=_clear_sky(scl_grid, masked),
            )  # fmt: skip
    return results


def lineage_note(settings: Settings) -> str:
    """The lineage sentence for SNAP-made products ('' when SNAP makes none)."""
    names = snap_products(settings)
    if not names:
        return ""
    options = SnapOptions.from_settings(settings)
    return (
        f"{', '.join(n.upper() for n in names)} by ESA SNAP gpt (Resample to "
        f"{options.resolution} m, BiophysicalOp), masked with the SCL, stored as int16 x 1000; "
    )


# --------------------------------------------------------------------------- Sentinel-1 GRD


def tile_window_grid(
    tile: str, bounds: tuple[float, float, float, float], crs: object
) -> tuple[rasterio.Affine, int, int]:
    """(transform, width, height) of the tile's 10 m grid cut to `bounds` (any CRS)."""
    parsed = parse_tile(tile)
    west, north = parsed.upper_left
    left, bottom, right, top = transform_bounds(crs, f"EPSG:{parsed.epsg}", *bounds)
    size = TILE_SIZE_10M * 10.0
    left, right = max(left, west), min(right, west + size)
    bottom, top = max(bottom, north - size), min(top, north)
    if left >= right or bottom >= top:
        raise ProcessingError(f"the Sentinel-1 product does not overlap tile {tile}")
    col0, col1 = math.floor((left - west) / 10), math.ceil((right - west) / 10)
    row0, row1 = math.floor((north - top) / 10), math.ceil((north - bottom) / 10)
    transform = rasterio.Affine(10.0, 0.0, west + col0 * 10, 0.0, -10.0, north - row0 * 10)
    return transform, col1 - col0, row1 - row0


def s1_grd_products(settings: Settings, archive: Path, record: SceneRecord, layout: Layout) -> Path:
    """Check and extract a fetched GRD zip, run the gpt chain for the configured
    polarisations, write gamma0 COGs cut to the record's tile and its STAC item."""
    product = S1Product.of(record)
    polarisations = settings.sentinel1.polarisations
    missing = product.missing(polarisations)
    if missing:
        raise ItemError(f"{product.id} lacks polarisation(s) {', '.join(missing)}")
    parsed = parse_tile(record.tile)
    scratch = layout.scratch(record)
    try:
        safe = extract_fetched(archive, scratch / "safe")
        log_file = layout.tool_log(record, "gpt-s1-grd")
        graph = s1_grd_graph(parsed.epsg, polarisations, tile_region(parsed.id))
        options = SnapOptions.from_settings(settings)
        data = run_graph(
            graph, safe / "manifest.safe", scratch / "snap", "s1_grd", options, log_file
        )
        cog = settings.cog
        results: dict[str, ProductResult] = {}
        for pol in polarisations:
            name = GAMMA0[pol]
            with rasterio.open(_band_file(data, f"Gamma0_{pol}", log_file)) as source:
                transform, width, height = tile_window_grid(parsed.id, source.bounds, source.crs)
                with WarpedVRT(
                    source, crs=f"EPSG:{parsed.epsg}", transform=transform, width=width,
                    height=height, resampling=Resampling.nearest, src_nodata=source.nodata,
                ) as grid:  # fmt: skip
                    results[name] = to_cog(
                        grid, layout.product(record, name), PRODUCTS[name], cog, scratch,
                        convert=lambda linear: np.where(linear > 0, 10 * np.log10(linear), np.nan),
                    )  # fmt: skip
        item = create_item(
            record, results, layout, campaign=settings.campaign,
            config_digest=settings.digest(), software=software_versions(),
            lineage=(
                f"Sentinel-1 GRD {product.id}: ESA SNAP gpt Apply-Orbit-File, "
                "ThermalNoiseRemoval, Calibration (beta0), Subset to the tile, "
                "Terrain-Flattening (gamma0), "
                f"Terrain-Correction ({S1_DEM}, EPSG:{parsed.epsg}, {S1_PIXEL_SPACING:g} m); "
                f"cut to tile {parsed.id}; gamma0 stored as int16 = dB x 1000."
            ),
        )  # fmt: skip
        _as_sentinel1(item, product, polarisations)
        write_item(item, layout.item(record))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return layout.item(record)


def _as_sentinel1(item: pystac.Item, product: S1Product, polarisations: tuple[str, ...]) -> None:
    """Turn the S2-shaped item from catalog.create_item into a Sentinel-1 GRD item."""
    for key in ("s2:processing_baseline", "raw2ready:boa_offset_applied_here"):
        item.properties.pop(key, None)
    item.properties["constellation"] = "sentinel-1"
    item.properties["instruments"] = ["c-sar"]
    sar = SarExtension.ext(item, add_if_missing=True)
    sar.apply(
        instrument_mode=product.mode,
        frequency_band=FrequencyBand.C,
        polarizations=[Polarization(pol) for pol in polarisations],
        product_type="GRD",
    )
