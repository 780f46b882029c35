"""ESA SNAP through its Graph Processing Tool (gpt): its graphs, its command line, and the
Biophysical Processor's products.

- Biophysical Processor, an LAI backend (`processors.lai: snap`): Read the L2A SAFE,
  Resample to one resolution, BiophysicalOp (LAI, FAPAR, FCOVER; S2TBX neural nets that
  read B3 B4 B5 B6 B7 B8A B11 B12 and the sun/view angles), Write BEAM-DIMAP. Its float
  bands are masked with the scene's SCL like every S2 product and stored as int16 = value
  x 1000 COGs through the one COG writer (raster/band_product.py).
- Sentinel-1 GRD backscatter: the graph only (Read, Apply-Orbit-File, ThermalNoiseRemoval,
  Calibration (beta0), Subset to the tile, Terrain-Flattening (gamma0), Terrain-Correction
  into the tile's UTM zone, Write); sentinel1/backscatter.py makes the products.

Graphs take `${input}` and `${target}` as gpt -P parameters, so the same file can be rerun
by hand.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.io import DatasetReaderBase
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from raw2ready.config import Settings, SnapSection
from raw2ready.errors import ExternalToolError, ProcessingError
from raw2ready.layout import Layout
from raw2ready.processors.external import SNAP_GPT, locate, run
from raw2ready.products.masking import MASK_CLEAR, mask_lookup
from raw2ready.products.registry import PRODUCTS
from raw2ready.raster.band_product import ClearMask, band_to_cog
from raw2ready.raster.tile_chain import ProductResult
from raw2ready.scene import SceneRecord
from raw2ready.sentinel2.safe import read_product_metadata

#: Product name -> BiophysicalOp switch (its output band has the product's name).
BIOPHYSICAL = {"lai": "computeLAI", "fapar": "computeFapar", "fcover": "computeFcover"}
BIOPHYSICAL_SENSORS = ("S2A", "S2B", "S2C")
S1_PIXEL_SPACING = 10.0
S1_DEM = "SRTM 1Sec HGT"


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


def run_graph(
    graph: str, source: Path, work: Path, name: str, options: SnapSection, log_file: Path
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


def band_file(data: Path, band: str, log_file: Path) -> Path:
    """The ENVI image of one DIMAP band, or a clear error naming what gpt did not write."""
    path = data / f"{band}.img"
    if not path.is_file():
        raise ExternalToolError(f"gpt wrote no band '{band}' in {data} (log: {log_file})")
    return path


def _clear_sky(scl: DatasetReaderBase, masked: frozenset[int]) -> ClearMask:
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
    options = settings.processors.snap
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
            rasterio.open(band_file(data, name, log_file)) as dataset,
            rasterio.open(scl) as scl_source,
            WarpedVRT(
                scl_source, crs=dataset.crs, transform=dataset.transform, width=dataset.width,
                height=dataset.height, resampling=Resampling.nearest,
            ) as scl_grid,
        ):  # fmt: skip
            results[name] = band_to_cog(
                dataset, layout.product(record, name), PRODUCTS[name], cog, work,
                clear=_clear_sky(scl_grid, masked),
            )  # fmt: skip
    return results


def lineage_note(settings: Settings) -> str:
    """The lineage sentence for SNAP-made products ('' when SNAP makes none)."""
    names = snap_products(settings)
    if not names:
        return ""
    options = settings.processors.snap
    return (
        f"{', '.join(n.upper() for n in names)} by ESA SNAP gpt (Resample to "
        f"{options.resolution} m, BiophysicalOp), masked with the SCL, stored as int16 x 1000; "
    )
