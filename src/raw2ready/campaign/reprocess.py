"""A scene's processing: mask -> indices -> COG -> STAC item, in one process (and for the
optional Sentinel-1 family: check -> SNAP gpt -> gamma0 COGs -> item).

In the workflow a scene's inputs were fetched by its batch's download job
(campaign/downloads.py) and are read from its folder; a scene processed on its own
(`raw2ready process-scene`, `s1-grd`) fetches them first. Each stage stays a separate,
testable function in its own module. The item is written last, so its presence means the
scene is complete.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from rasterio.errors import RasterioError

from raw2ready.archives.transfer.decode import read_failure
from raw2ready.campaign.downloads import downloaded, fetch_scene
from raw2ready.campaign.provenance import software_versions
from raw2ready.config import Settings
from raw2ready.errors import ConfigError, SceneDataError
from raw2ready.layout import Layout
from raw2ready.processors.sen2cor import is_safe_scene, l2a_inputs, l2a_of
from raw2ready.processors.sen2cor import lineage_note as safe_lineage_note
from raw2ready.processors.snap import biophysical_products, snap_products
from raw2ready.processors.snap import lineage_note as snap_lineage_note
from raw2ready.products import csmask, ml_mask
from raw2ready.products.biophysical import INPUT_BANDS, VARIABLES, NetworkSource, load_networks
from raw2ready.products.registry import required_bands
from raw2ready.raster.biophysical_chain import biophysical_products as numpy_biophysical
from raw2ready.raster.quicklook import write_quicklooks
from raw2ready.raster.tile_chain import (
    ProcessingOptions,
    ProductResult,
    normalisation,
    process_scene,
)
from raw2ready.scene import SceneRecord
from raw2ready.sentinel1.backscatter import gamma0_products
from raw2ready.sentinel2.plausibility import check_offset
from raw2ready.sentinel2.safe import SAFE_ASSET, read_product_metadata
from raw2ready.stac.catalog import create_item, scene_item, write_item
from raw2ready.stac.render import add_quicklooks, add_render_hints

log = logging.getLogger(__name__)


def layout_of(settings: Settings) -> Layout:
    """The campaign's file layout."""
    return Layout(settings.output_dir, settings.work_dir, settings.publish.base_url)


def numpy_biophysical_products(settings: Settings) -> tuple[str, ...]:
    """The configured products of the numpy Biophysical Processor (processors.lai:
    biophysical): LAI, FAPAR, FCOVER."""
    if not settings.processors.uses_biophysical:
        return ()
    return tuple(name for name in settings.products if name in VARIABLES)


def processing_options(settings: Settings) -> ProcessingOptions:
    """Processing choices from a validated configuration: the tile chain's products."""
    made_elsewhere = snap_products(settings) + numpy_biophysical_products(settings)
    return ProcessingOptions(
        products=tuple(name for name in settings.products if name not in made_elsewhere),
        masked_classes=settings.mask.scl_classes,
        buffers=settings.mask.buffers,
        mask_method=settings.mask.method,
        lai_model=settings.lai_model,
        cog=settings.cog,
        nbar=settings.nbar,
    )


def _network_note(options: ProcessingOptions) -> str:
    """How the ml mask took part, for the lineage ("" with mask.method: scl)."""
    if options.mask_method == "scl":
        return ""
    rule = "either masks" if options.mask_method == "both" else "the network's cloud and shadow"
    return f" (mask.method {options.mask_method}: {rule}; {csmask.model_described()})"


def lineage(record: SceneRecord, options: ProcessingOptions, note: str = "") -> str:
    """A one-paragraph processing history for the item's processing:lineage."""
    offset = (
        "BOA_ADD_OFFSET -1000 applied by raw2ready"
        if record.apply_boa_offset
        else "no BOA offset to apply (baseline below 04.00 or already applied by the archive)"
    )
    return (
        f"{note}Sentinel-2 L2A scene {record.id} (processing baseline "
        f"{record.processing_baseline}, "
        f"{offset}); reflectance = (DN + offset) / 10000; SCL classes "
        f"{sorted(options.masked_classes)} masked{_network_note(options)}, "
        f"buffers {options.buffers.described()}; "
        f"products {', '.join(options.products)} "
        f"(LAI model {options.lai_model}); written as COG ({options.cog.compression})."
    )


def scene_inputs(
    settings: Settings, record: SceneRecord, fetched: Path | None
) -> Callable[[], dict[str, Path]]:
    """A scene's input files by asset name, asked for when needed: from the folder its
    download job `fetched` them into, or (None) fetched now into the scene's own folder."""
    if fetched is not None:
        return lambda: downloaded(record, fetched)
    return lambda: fetch_scene(settings, record, layout_of(settings).downloads(record))


def reprocess_scene(settings: Settings, record: SceneRecord, fetched: Path | None = None) -> None:
    """Make every product and the STAC item of one scene (inputs: see `scene_inputs`)."""
    layout = layout_of(settings)
    options = processing_options(settings)
    inputs = scene_inputs(settings, record, fetched)
    note = ""
    angle_grids = None
    if is_safe_scene(record):
        l2a = l2a_of(settings, record, layout, lambda: inputs()[SAFE_ASSET])
        needed = required_bands(list(options.products), options.lai_model) | ml_mask.bands(
            options.mask_method
        )
        if numpy_biophysical_products(settings):
            needed |= {*INPUT_BANDS, "SCL"}
        note = safe_lineage_note(record, l2a)
        record, band_paths = l2a_inputs(record, l2a, needed)
        angle_grids = read_product_metadata(l2a).angle_grids
    elif snap_products(settings):
        raise ConfigError(
            "processors.lai: snap needs SAFE input (archive.kind: safe_folder); "
            f"scene {record.id} comes from a STAC archive"
        )
    else:
        band_paths = inputs()
        if settings.archive.check_offset_flag:
            record = check_offset(record, band_paths)
    outputs = {name: layout.product(record, name) for name in options.products}
    chain_bands = required_bands(list(options.products), options.lai_model)
    chain_paths = {band: path for band, path in band_paths.items() if band in chain_bands}
    try:
        results = (
            process_scene(
                record, chain_paths, outputs, options, layout.scratch(record), angle_grids
            )
            if options.products
            else {}
        )
    except RasterioError as exc:  # GDAL failed on a band: this scene's failure, one line
        raise SceneDataError(record.id, "reading its bands", read_failure(exc)) from exc
    if snap_products(settings):
        results.update(biophysical_products(settings, record, l2a, layout))
        note += snap_lineage_note(settings)
    nbar = normalisation(record, options, list(chain_paths), angle_grids)
    if nbar is not None:
        note += nbar.described()
    software = software_versions()
    flags: dict[str, dict[str, int]] = {}
    if numpy_biophysical_products(settings):
        made, source, flags = _numpy_biophysical(settings, record, band_paths, layout)
        results.update(made)
        software[NETWORKS_SOFTWARE] = f"{source.origin}, sha256 {source.sha256}"
        note += (
            f"{', '.join(name.upper() for name in made)} by ESA's Biophysical Processor "
            f"networks evaluated in numpy at 20 m (coefficients: {source.origin}), masked "
            "with the SCL; "
        )
    products = {name: result.path for name, result in results.items()}
    looks = write_quicklooks(record, band_paths, products, layout)
    item = create_item(
        record,
        results,
        layout,
        campaign=settings.campaign,
        config_digest=settings.digest(),
        software=software,
        lineage=lineage(record, options, note),
    )
    if flags:
        item.properties[FLAGS_PROPERTY] = flags
    add_quicklooks(item, looks, layout.item(record).parent)
    add_render_hints(item, results)
    if nbar is not None:
        item.properties[NBAR_PROPERTY] = nbar.metadata()
    # before the item, which marks the scene complete: a kill in between must not leave
    # scratch or downloads that no rerun (which skips complete scenes) would clean
    shutil.rmtree(layout.scratch(record), ignore_errors=True)
    if fetched is None and not settings.download.keep:
        shutil.rmtree(layout.downloads(record), ignore_errors=True)
    write_item(item, layout.item(record))
    log.info("scene %s done", record.id)


#: processing:software key of the networks' coefficients, and the item property of the
#: definition-domain flags (clear pixels per product and flag).
NETWORKS_SOFTWARE = "ESA S2 Toolbox biophysical networks"
FLAGS_PROPERTY = "raw2ready:biophysical_flags"
#: Item property recording the NBAR normalisation of the reflectance (docs/nbar.md).
NBAR_PROPERTY = "raw2ready:nbar"


def _numpy_biophysical(
    settings: Settings, record: SceneRecord, band_paths: dict[str, Path], layout: Layout
) -> tuple[dict[str, ProductResult], NetworkSource, dict[str, dict[str, int]]]:
    """LAI, FAPAR, FCOVER of one scene by the numpy networks, where they came from, and
    their flag counts."""
    networks, source = load_networks(settings.processors.biophysical.auxdata)
    names = numpy_biophysical_products(settings)
    outputs = {name: layout.product(record, name) for name in names}
    outcome = numpy_biophysical(
        record, band_paths, outputs, networks, settings.mask.scl_classes, settings.mask.buffers,
        settings.cog,
        layout.scratch(record) / "biophysical",
    )  # fmt: skip
    return outcome.products, source, outcome.flags


def reprocess_s1_scene(
    settings: Settings, record: SceneRecord, fetched: Path | None = None
) -> None:
    """Make the gamma0 products and STAC item of one Sentinel-1 product on one tile."""
    layout = layout_of(settings)
    archive = scene_inputs(settings, record, fetched)()[SAFE_ASSET]
    scene = gamma0_products(settings, archive, record, layout)
    item = scene_item(
        record, scene.results, layout, scene.properties, settings.campaign,
        settings.digest(), software_versions(), scene.lineage,
    )  # fmt: skip
    scene.add_sar(item)
    if fetched is None and not settings.download.keep:  # before the item, as for Sentinel-2
        shutil.rmtree(layout.downloads(record), ignore_errors=True)
    write_item(item, layout.item(record))
    log.info("Sentinel-1 scene %s done", record.id)
