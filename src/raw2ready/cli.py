"""The `raw2ready` command line: thin wrappers around the package's functions.

User mistakes (Raw2ReadyError) end with one line on stderr and exit status 1; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from raw2ready import __version__
from raw2ready.config import Settings, load_settings, read_settings
from raw2ready.errors import ConfigError, ItemError, Raw2ReadyError
from raw2ready.job_log import EXIT_TRANSIENT, JobLog, subject
from raw2ready.scene import SceneRecord

log = logging.getLogger("raw2ready")


_ROOT = "raw2ready.root"
#: This process's log file and console (set by --log).
JOB_LOG = JobLog()


def _settings(configfile: Path | None, settings_file: Path | None) -> Settings:
    """Settings from a config file or from the settings file the workflow gives its jobs,
    with their folders under the command's --root."""
    if settings_file:
        settings = read_settings(settings_file)
    elif configfile is None:
        raise click.UsageError("give --configfile or --settings")
    else:
        settings = load_settings(configfile)
    root = click.get_current_context().meta.get(_ROOT)
    return dataclasses.replace(settings, root=root) if root else settings


def _remember_root(context: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """Keep --root for `_settings` (so no command has to pass it along)."""
    if value is not None:
        context.meta[_ROOT] = value


config_options = [
    click.option("--configfile", type=click.Path(path_type=Path), help="Campaign YAML."),
    click.option(
        "--settings",
        "settings_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Validated settings file the workflow wrote (jobs).",
    ),
    click.option(
        "--root",
        type=click.Path(path_type=Path, file_okay=False),
        expose_value=False,
        callback=_remember_root,
        help="Folder the campaign's relative output_dir and work_dir are under (default: the "
        "current one; the workflow passes its local copy of the default storage).",
    ),
]


family_option = click.option(
    "--family",
    type=click.Choice(["sentinel-1", "composites"]),
    default=None,
    help="An optional product family's tree instead of the Sentinel-2 one.",
)


def with_config(function: Any) -> Any:
    """Add the --configfile/--settings options to a command."""
    for option in reversed(config_options):
        function = option(function)
    return function


def with_scene(function: Any) -> Any:
    """Add --configfile/--settings and the --inventory/--scene pair naming one scene."""
    function = click.option(
        "--scene", "scene_id", required=True, help="Scene id from the inventory."
    )(function)
    function = click.option("--inventory", type=click.Path(path_type=Path), required=True)(function)
    return with_config(function)


@click.group()
@click.version_option(__version__)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
)
@click.option(
    "--log", "log_file", type=click.Path(dir_okay=False, path_type=Path),
    help="Write messages to this file; on failure print only the one-line cause (jobs).",
)  # fmt: skip
def cli(log_level: str, log_file: Path | None) -> None:
    """Reprocess Sentinel-2 scenes per MGRS tile into analysis-ready COGs and STAC."""
    if log_file is not None:
        JOB_LOG.open(log_file)
    # Other libraries speak at WARNING and above (numexpr, for one, logs its thread count
    # at INFO on import), unless DEBUG is asked for: the console shows raw2ready's messages.
    level = logging.getLevelName(log_level)
    logging.basicConfig(
        level=level if level == logging.DEBUG else max(level, logging.WARNING),
        stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )  # fmt: skip
    log.setLevel(level)


@cli.command("demo-archive")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--seed", default=42, show_default=True, help="Random seed (deterministic).")
@click.option("--size", default=512, show_default=True, help="Pixels per side at 10 m.")
def demo_archive(out_dir: Path, seed: int, size: int) -> None:
    """Write the offline sample L2A archive (Earth Search v1 layout) to OUT_DIR."""
    from raw2ready.demo.archive import write_demo_archive

    root = write_demo_archive(out_dir, seed=seed, size=size)
    click.echo(f"sample archive written: {root}")


@cli.command("check-config")
@click.argument("configfile", type=click.Path(path_type=Path))
def check_config(configfile: Path) -> None:
    """Validate a campaign configuration file and print its digest."""
    settings = load_settings(configfile)
    click.echo(f"{configfile}: valid (sha256 {settings.digest()[:12]})")


@cli.command("settings")
@with_config
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def settings_command(configfile: Path | None, settings_file: Path | None, output: Path) -> None:
    """Write the validated settings file jobs read with --settings (object storage: the
    copy in the bucket)."""
    _settings(configfile, settings_file).write(output)


@cli.command()
@with_config
@click.option("--tile", required=True, help="MGRS tile id.")
@click.option("--output", type=click.Path(path_type=Path), required=True)
@click.option(
    "--rejected", type=click.Path(dir_okay=False, path_type=Path),
    help="Where to list the rejected items [default: beside OUTPUT, .rejected.json].",
)  # fmt: skip
def search(
    configfile: Path | None, settings_file: Path | None, tile: str, output: Path,
    rejected: Path | None,
) -> None:  # fmt: skip
    """Search the archive for one tile and write its inventory (and its rejected items)."""
    from raw2ready.campaign.inventory import rejected_of, search_inventory

    count, changed = search_inventory(
        _settings(configfile, settings_file), tile, output, rejected or rejected_of(output)
    )
    log.info("inventory %s: %d scene(s)%s", output, count, "" if changed else " (unchanged)")


@cli.command("process-scene")
@with_scene
def process_scene(
    configfile: Path | None, settings_file: Path | None, inventory: Path, scene_id: str
) -> None:
    """Download, mask, compute indices, write COGs and the STAC item of one scene."""
    from raw2ready.campaign.reprocess import reprocess_scene

    settings = _settings(configfile, settings_file)
    reprocess_scene(settings, _inventory_record(inventory, scene_id))


downloads_option = click.option(
    "--downloads",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="The folder the download job fetched the scenes' inputs into.",
)


def batch_option(function: Any) -> Any:
    """Add --inventory, --tile and --month, which name one batch."""
    function = click.option("--month", required=True, help="Sensing month, YYYY-MM.")(function)
    function = click.option("--tile", required=True, help="MGRS tile id.")(function)
    return click.option("--inventory", type=click.Path(path_type=Path), required=True)(function)


def _batch_records(inventory: Path, tile: str, month: str) -> tuple[Any, list[SceneRecord]]:
    """A batch (from --tile, --month) and its scenes in the inventory."""
    from raw2ready.campaign.batches import Batch, group
    from raw2ready.campaign.inventory import read_inventory

    batch = Batch.parse(tile, month)
    return batch, group(read_inventory(inventory)).get(batch, [])


@cli.command()
@with_config
@batch_option
@click.option("--output", type=click.Path(path_type=Path, file_okay=False), required=True)
def download(
    configfile: Path | None,
    settings_file: Path | None,
    inventory: Path,
    tile: str,
    month: str,
    output: Path,
) -> None:
    """Fetch the inputs of a batch's scenes whose outputs are missing into OUTPUT (a folder
    that appears only when all are fetched and verified)."""
    from raw2ready.campaign.batches import unfinished
    from raw2ready.campaign.downloads import download_batch
    from raw2ready.campaign.reprocess import layout_of

    settings = _settings(configfile, settings_file)
    batch, records = _batch_records(inventory, tile, month)
    todo = unfinished(layout_of(settings), records, settings.products)
    download_batch(settings, todo, output)
    log.info("batch %s: inputs of %d scene(s) fetched", batch, len(todo))


@cli.command("process-batch")
@with_config
@batch_option
@downloads_option
@click.option(
    "--fetch", is_flag=True,
    help="Fetch the inputs into --downloads first, and remove them after (object storage: "
    "they never leave the job's machine).",
)  # fmt: skip
@click.option("--output", type=click.Path(path_type=Path), required=True, help="Batch record.")
def process_batch(
    configfile: Path | None,
    settings_file: Path | None,
    inventory: Path,
    tile: str,
    month: str,
    downloads: Path,
    fetch: bool,
    output: Path,
) -> None:
    """Process the scenes of one tile and month whose outputs are missing, from the inputs
    their download job fetched (or, with --fetch, this job); record the batch."""
    import shutil

    from raw2ready.campaign.batch_job import process_batch as run_batch
    from raw2ready.campaign.batches import unfinished
    from raw2ready.campaign.downloads import download_batch
    from raw2ready.campaign.reprocess import layout_of, reprocess_scene

    settings = _settings(configfile, settings_file)
    batch, records = _batch_records(inventory, tile, month)
    if fetch:
        download_batch(settings, unfinished(layout_of(settings), records, settings.products),
                       downloads)  # fmt: skip

    def process(settings: Settings, record: SceneRecord) -> None:
        reprocess_scene(settings, record, downloads)

    outcomes = run_batch(settings, layout_of(settings), batch, records, output, process)
    if fetch and not settings.download.keep:
        shutil.rmtree(downloads)
    done = sum(outcome.status == "processed" for outcome in outcomes)
    log.info("batch %s: %d scene(s) processed, %d already complete", batch, done,
             len(outcomes) - done)  # fmt: skip


@cli.command("download-scene")
@with_scene
@click.option("--output", type=click.Path(path_type=Path, file_okay=False), required=True)
def download_scene(
    configfile: Path | None,
    settings_file: Path | None,
    inventory: Path,
    scene_id: str,
    output: Path,
) -> None:
    """Fetch the inputs of one scene (a Sentinel-1 product) into OUTPUT, a folder that
    appears only when they are fetched and verified."""
    from raw2ready.campaign.downloads import download_batch

    settings = _settings(configfile, settings_file)
    download_batch(settings, [_inventory_record(inventory, scene_id)], output)


def _inventory_record(inventory: Path, scene_id: str) -> SceneRecord:
    """One scene's record from an inventory, or an error naming both."""
    from raw2ready.campaign.inventory import read_inventory

    records = {record.id: record for record in read_inventory(inventory)}
    if scene_id not in records:
        raise ItemError(f"scene {scene_id} is not in inventory {inventory}")
    return records[scene_id]


@cli.command("sen2cor")
@with_scene
@downloads_option
def sen2cor(
    configfile: Path | None,
    settings_file: Path | None,
    inventory: Path,
    scene_id: str,
    downloads: Path,
) -> None:
    """Make the L2A of one L1C SAFE scene with Sen2Cor (skipped when it exists), from the
    zip its batch's download job fetched."""
    from raw2ready.campaign.reprocess import layout_of, scene_inputs
    from raw2ready.processors.sen2cor import l2a_of
    from raw2ready.sentinel2.safe import SAFE_ASSET

    settings = _settings(configfile, settings_file)
    record = _inventory_record(inventory, scene_id)
    inputs = scene_inputs(settings, record, downloads)
    click.echo(l2a_of(settings, record, layout_of(settings), lambda: inputs()[SAFE_ASSET]))


@cli.command("tile-catalog")
@with_config
@click.option("--tile", required=True)
@click.option(
    "--inventory",
    type=click.Path(path_type=Path),
    help="A family's tile inventory, whose scenes' items the catalog links.",
)
@click.argument("batch_records", nargs=-1, type=click.Path(path_type=Path))
@family_option
def tile_catalog(
    configfile: Path | None,
    settings_file: Path | None,
    tile: str,
    inventory: Path | None,
    batch_records: tuple[Path, ...],
    family: str | None,
) -> None:
    """Write a tile's Year -> Quarter -> Month STAC catalogs and its summary.

    Sentinel-2: over the months of the BATCH_RECORDS (each batch wrote its month's catalog).
    Composites (--family composites): over the composite items given as arguments.
    A family (--family with --inventory): over the items of the inventory's scenes (those
    that did not fail), with a catalog for every month of the campaign.
    """
    from raw2ready.atomic import write_json
    from raw2ready.campaign.batch_job import write_tile_tree_of_batches
    from raw2ready.campaign.inventory import read_inventory
    from raw2ready.campaign.reprocess import layout_of
    from raw2ready.layout import COMPOSITES
    from raw2ready.months import months_between
    from raw2ready.stac.catalog import write_tile_catalog

    settings = _settings(configfile, settings_file)
    layout = layout_of(settings)
    if family == COMPOSITES:  # over the items given as arguments, every month's catalog
        months = months_between(settings.start, settings.end)  # (the workflow declares them)
        summary = write_tile_catalog(tile, list(batch_records), layout, family, months)
    elif (family is None) != (inventory is None) or (family is not None and batch_records):
        raise click.UsageError("give BATCH_RECORDS, or --family with --inventory")
    elif inventory is not None:
        items = [layout.item(record) for record in read_inventory(inventory)]
        items = [path for path in items if path.is_file()]  # a failed scene's record says why
        months = months_between(settings.start, settings.end)
        summary = write_tile_catalog(tile, items, layout, family, months)
    else:
        summary = write_tile_tree_of_batches(settings, layout, tile, list(batch_records))
    write_json(layout.tile_summary(tile, family), summary.to_dict())


@cli.command()
@with_config
@batch_option
def composite(
    configfile: Path | None, settings_file: Path | None, inventory: Path, tile: str, month: str
) -> None:
    """Make the monthly composite of one tile and month from its finished scenes (the
    median or greenest clear observation, and their count) and write its STAC item."""
    from raw2ready.campaign.composite_job import composite_month
    from raw2ready.campaign.reprocess import layout_of

    settings = _settings(configfile, settings_file)
    batch, records = _batch_records(inventory, tile, month)
    composite_month(settings, layout_of(settings), batch, records)


@cli.command()
@with_config
@click.option("--tile", required=True)
@click.option(
    "--output", type=click.Path(path_type=Path), help="Record of the months the cube holds."
)
def cube(
    configfile: Path | None, settings_file: Path | None, tile: str, output: Path | None
) -> None:
    """Commit to the tile's datacube every month it lacks or whose inputs were redone (one
    atomic Icechunk commit per month)."""
    from raw2ready.atomic import write_json
    from raw2ready.campaign.reprocess import layout_of
    from raw2ready.cube.datacube import update_cube

    settings = _settings(configfile, settings_file)
    layout = layout_of(settings)
    months = update_cube(settings, layout, tile)
    if output is not None:
        write_json(output, {"tile": tile, "cube": str(layout.cube(tile)), "committed": months})
    click.echo(f"cube {layout.cube(tile)}: {len(months)} month(s) committed")


@cli.command()
@with_config
@click.option("--port", default=5000, show_default=True, help="Port on 127.0.0.1.")
def serve(configfile: Path | None, settings_file: Path | None, port: int) -> None:
    """Serve every tile's datacube as an OGC API-EDR collection (pygeoapi) on 127.0.0.1:
    position, area and cube queries in longitude/latitude."""
    from raw2ready.campaign.reprocess import layout_of
    from raw2ready.cube.edr import serve as serve_edr

    settings = _settings(configfile, settings_file)
    serve_edr(settings, layout_of(settings), port)


@cli.command()
@with_config
@family_option
def collection(configfile: Path | None, settings_file: Path | None, family: str | None) -> None:
    """Write the campaign's root STAC collection (or a family's) and validate its tree."""
    from raw2ready.campaign.reprocess import layout_of
    from raw2ready.layout import COMPOSITES, SENTINEL1
    from raw2ready.stac.catalog import TileSummary, write_collection

    settings = _settings(configfile, settings_file)
    layout = layout_of(settings)
    summaries = []
    for tile in settings.tiles:
        path = layout.tile_summary(tile, family)
        if not path.is_file():
            raise ConfigError(f"tile summary {path} is missing: the tile's catalog job makes it")
        summaries.append(TileSummary(**json.loads(path.read_text())))
    enabled = {SENTINEL1: settings.sentinel1.enabled, COMPOSITES: settings.composites.enabled}
    children = tuple(child for child, on in enabled.items() if on) if family is None else ()
    products = settings.products if family is None else ()
    path = write_collection(settings.campaign, summaries, layout, family, children, products)
    if not any(summary.items for summary in summaries):
        click.echo(
            f"no scene matched the campaign ({', '.join(settings.tiles)}, {settings.start} to "
            f"{settings.end}, cloud cover <= {settings.max_cloud_cover}%): the collection is empty"
        )
    click.echo(f"STAC collection: {path}")
    if family is None:
        from raw2ready.stac.index import write_index

        index = write_index(path)
        click.echo(f"search index: {index.parquet} and {index.ndjson}")


@cli.command()
@with_config
@click.option(
    "--record",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write what was published here as JSON (the workflow's marker of the publication).",
)
def publish(configfile: Path | None, settings_file: Path | None, record: Path | None) -> None:
    """Upsert the campaign's STAC collection and items into the `publish.pgstac` database."""
    from raw2ready.campaign.reprocess import layout_of
    from raw2ready.stac.publish import publish_tree

    settings = _settings(configfile, settings_file)
    if settings.publish.pgstac is None:
        raise ConfigError(
            f"{settings.source}: add a `publish.pgstac` section to publish the catalog"
        )
    published = publish_tree(layout_of(settings).collection(), settings.publish.pgstac)
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(dataclasses.asdict(published)) + "\n")
    click.echo(f"published {published.collections} collection(s), {published.items} item(s)")


@cli.command()
@with_config
def report(configfile: Path | None, settings_file: Path | None) -> None:
    """Write the campaign's HTML report (tiles map, counts, failures, quicklooks)."""
    from raw2ready.campaign.report import write_report
    from raw2ready.campaign.reprocess import layout_of

    settings = _settings(configfile, settings_file)
    click.echo(f"campaign report: {write_report(settings, layout_of(settings))}")


@cli.command()
@with_config
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.argument("batch_records", nargs=-1, type=click.Path(path_type=Path))
def check(
    configfile: Path | None, settings_file: Path | None, output: Path,
    batch_records: tuple[Path, ...],
) -> None:  # fmt: skip
    """End of a run: list the items the searches rejected and the scenes that failed in
    BATCH_RECORDS (batches' and Sentinel-1 scenes' records); fail naming the failed scenes
    (the next run retries only them), else write OUTPUT."""
    from raw2ready.campaign.inventory import rejected_of
    from raw2ready.campaign.outcome import (
        check_failed,
        read_failed,
        read_rejected,
        report,
        write_outcome,
    )
    from raw2ready.layout import Layout

    settings = _settings(configfile, settings_file)
    layout = Layout(settings.output_dir, settings.work_dir)
    failed = read_failed(list(batch_records))
    rejected = list(
        dict.fromkeys(  # an unreadable item of a static catalog is rejected by every tile
            problem
            for tile in settings.tiles
            for problem in read_rejected(rejected_of(layout.inventory(tile)))
        )
    )
    for line in report(failed, rejected):
        click.echo(line)
    check_failed(failed)
    write_outcome(output, rejected)


@cli.command()
@click.option(
    "--configfile", type=click.Path(dir_okay=False, path_type=Path), required=True,
    help="Campaign YAML (the one given to snakemake).",
)  # fmt: skip
def summary(configfile: Path) -> None:
    """Count what the campaign has made (scenes, products, items) and say what to try next."""
    from raw2ready.campaign.summary import summary_lines

    for line in summary_lines(load_settings(configfile), configfile):
        click.echo(line)


@cli.command()
@click.argument("item_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@click.option(
    "--bands",
    default="B02,B04,B08,SCL",
    show_default=True,
    help="Bands the item must have (comma-separated canonical ids).",
)
def inspect(item_file: Path, as_json: bool, bands: str) -> None:
    """Print the normalized scene record of a STAC item file, or why it cannot serve."""
    from raw2ready.sentinel2.normalize import describe_item, read_item

    required = frozenset(b.strip() for b in bands.split(",") if b.strip())
    summary = describe_item(read_item(item_file), required)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for key, value in summary.items():
        if key == "bands":
            for band, href in value.items():
                click.echo(f"  band {band:4s} {href}")
        else:
            click.echo(f"{key:20s} {value}")


@cli.command("s1-grd")
@with_config
@click.argument("product", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tile", required=True, help="MGRS tile to cut the backscatter to.")
def s1_grd(configfile: Path | None, settings_file: Path | None, product: Path, tile: str) -> None:
    """Sentinel-1 GRD zip -> SNAP gpt gamma0 (dB x 1000) COGs and STAC item for one tile."""
    from raw2ready.campaign.reprocess import layout_of, reprocess_s1_scene
    from raw2ready.grid import parse_tile
    from raw2ready.scene import BandAsset
    from raw2ready.sentinel1.grd import S1Product

    settings = _settings(configfile, settings_file)
    href = str(product.resolve())
    record = S1Product.from_name(product.name).record(parse_tile(tile).id, href, BandAsset(href))
    reprocess_s1_scene(settings, record)
    click.echo(layout_of(settings).item(record))


@cli.command("s1-search")
@with_config
@click.option("--tile", required=True, help="MGRS tile id.")
@click.option("--output", type=click.Path(path_type=Path), required=True)
def s1_search(configfile: Path | None, settings_file: Path | None, tile: str, output: Path) -> None:
    """Find the Sentinel-1 GRD products covering one tile; write its Sentinel-1 inventory."""
    from raw2ready.archives.transfer import DownloadOptions
    from raw2ready.campaign.inventory import write_inventory
    from raw2ready.sentinel1.search import search_sentinel1

    settings = _settings(configfile, settings_file)
    result = search_sentinel1(settings, tile, DownloadOptions.retries_of(settings.download))
    changed = write_inventory(output, result.records)
    log.info("inventory %s: %d Sentinel-1 scene(s)%s", output, len(result.records),
             "" if changed else " (unchanged)")  # fmt: skip


@cli.command("s1-scene")
@with_scene
@downloads_option
@click.option(
    "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
    help="The scene's record: how it went, a failure with its one-line cause.",
)  # fmt: skip
def s1_scene(
    configfile: Path | None,
    settings_file: Path | None,
    inventory: Path,
    scene_id: str,
    downloads: Path,
    output: Path,
) -> None:
    """Check and SNAP-process one Sentinel-1 product on one tile, from the zip its download
    job fetched; write its item, then its record. A failure costs only this product: it is
    recorded (the run's final check lists it and ends non-zero) and retried next run."""
    from raw2ready.campaign.batch_job import process_scene
    from raw2ready.campaign.reprocess import layout_of, reprocess_s1_scene
    from raw2ready.sentinel1.grd import product_names

    settings = _settings(configfile, settings_file)
    layout = layout_of(settings)
    record = _inventory_record(inventory, scene_id)
    products = product_names(settings.sentinel1.polarisations)

    def process(settings: Settings, record: SceneRecord) -> None:
        reprocess_s1_scene(settings, record, downloads)

    for folder in {layout.item(record).parent, layout.product(record, products[0]).parent}:
        folder.mkdir(parents=True, exist_ok=True)  # declared outputs with object storage
    outcome = process_scene(settings, layout, record, products, output, process)
    log.info("Sentinel-1 scene %s: %s", record.id, outcome.status)


@cli.command()
@click.option(
    "--configfile", type=click.Path(dir_okay=False, path_type=Path), required=True,
    help="Campaign YAML (the one given to snakemake).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the JSON instead of the summary.")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the JSON summary [default: <work_dir>/plan.json].",
)  # fmt: skip
@click.option("--no-search", is_flag=True, help="Do not search tiles that have no inventory.")
@click.option(
    "--directory", "-d", type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The folder snakemake runs in (its --directory) [default: the current folder].",
)  # fmt: skip
@click.option(
    "--snakefile", type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The workflow [default: ./Snakefile, else the one of this raw2ready checkout].",
)  # fmt: skip
@click.option(
    "--profile", type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The snakemake profile you run with [default: profiles/local beside the Snakefile].",
)  # fmt: skip
def plan(
    configfile: Path,
    as_json: bool,
    output: Path | None,
    no_search: bool,
    directory: Path | None,
    snakefile: Path | None,
    profile: Path | None,
) -> None:
    """Show what a run of the campaign would do and cost, without running it.

    Searches the tiles that have no inventory yet (unless --no-search), asks Snakemake's
    dry-run for the jobs per rule, then prints scenes per tile and year, jobs per rule,
    what already exists, and estimated core-hours and volumes. Run it in the folder
    snakemake runs in, or give that folder with --directory.
    """
    from raw2ready.atomic import write_json
    from raw2ready.campaign.planning import (
        default_snakefile,
        make_plan,
        render,
        search_missing,
        snakemake_jobs,
    )
    from raw2ready.layout import Layout

    settings = load_settings(configfile)
    configfile, snakefile = configfile.resolve(), (snakefile or default_snakefile()).resolve()
    local = snakefile.parent / "profiles" / "local"
    profile = profile or (local if local.is_dir() else None)
    profile = profile.resolve() if profile else None
    if directory is not None:
        os.chdir(directory)  # the config's relative paths are relative to it, as in snakemake
    layout = Layout(settings.output_dir, settings.work_dir)
    if not no_search:
        search_missing(settings, layout)
    summary = make_plan(settings, snakemake_jobs(configfile, snakefile, profile))
    write_json(output or layout.plan(), summary)
    click.echo(json.dumps(summary, indent=2) if as_json else render(summary))


@cli.group()
def products() -> None:
    """The campaign's products: search its STAC index offline."""


@products.command("search")
@click.option(
    "--configfile",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Campaign YAML (the one given to snakemake).",
)
@click.option("--bbox", help="W,S,E,N in degrees (W > E crosses the antimeridian).")
@click.option("--datetime", "when", help="A time, a date, or A/B with '..' for an open end.")
@click.option("--tile", "tiles", multiple=True, help="MGRS tile (repeat for several).")
@click.option("--product", "product_names", multiple=True, help="Product the item must have.")
@click.option("--filter", "cql2_filter", help="CQL2 text on properties: 'eo:cloud_cover < 10'.")
@click.option("--json", "as_json", is_flag=True, help="Print the items as JSON lines.")
def products_search(
    configfile: Path,
    bbox: str | None,
    when: str | None,
    tiles: tuple[str, ...],
    product_names: tuple[str, ...],
    cql2_filter: str | None,
    as_json: bool,
) -> None:
    """Print the ids (or items) of the campaign's items matching every criterion given."""
    from raw2ready.grid import parse_tile
    from raw2ready.layout import Layout
    from raw2ready.stac.index import (
        IndexPaths,
        SearchCriteria,
        parse_bbox,
        parse_datetime,
        search_ids,
        search_index,
    )

    settings = load_settings(configfile)
    index = IndexPaths.beside(Layout(settings.output_dir, settings.work_dir).collection()).parquet
    criteria = SearchCriteria(
        bbox=parse_bbox(bbox) if bbox else None,
        datetime_range=parse_datetime(when) if when else None,
        tiles=tuple(parse_tile(tile).id for tile in tiles),
        products=product_names,
        cql2_filter=cql2_filter,
    )
    if as_json:
        for item in search_index(index, criteria):
            click.echo(json.dumps(item))
    else:
        for scene_id in search_ids(index, criteria):
            click.echo(scene_id)


@cli.command()
@click.argument("aoi", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--configfile", type=click.Path(dir_okay=False, path_type=Path), required=True,
    help="Campaign YAML (the one given to snakemake).",
)  # fmt: skip
@click.option("--product", required=True, help="Product to summarise, e.g. ndvi.")
@click.option("--start", default="..", help="First date (YYYY-MM-DD); open by default.")
@click.option("--end", default="..", help="Last date (YYYY-MM-DD); open by default.")
@click.option("--composites", is_flag=True, help="Over the monthly composites, not the scenes.")
@click.option("--aoi-crs", help="CRS of the AOI's coordinates, e.g. EPSG:32633 (default CRS84).")
@click.option(
    "--from", "source", type=click.Choice(["auto", "cube", "cogs"]), default="auto",
    show_default=True, help="Read the pixels from the tile cubes, the COGs, or the cubes when "
    "they hold every date.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of CSV.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG plot.")
def timeseries(
    aoi: Path,
    configfile: Path,
    product: str,
    start: str,
    end: str,
    composites: bool,
    aoi_crs: str | None,
    source: str,
    as_json: bool,
    plot: Path | None,
) -> None:
    """Print per date the mean, median, p10, p90, clear fraction and clear pixels of a
    product over the AOI (GeoJSON polygons), from the campaign's index (docs/timeseries.md)."""
    import csv

    from raw2ready.layout import COMPOSITES, Layout
    from raw2ready.stac.index import IndexPaths, parse_datetime
    from raw2ready.timeseries.aoi import parse_crs, read_area
    from raw2ready.timeseries.series import field_series

    settings = load_settings(configfile)
    layout = Layout(settings.output_dir, settings.work_dir)
    collection = layout.collection(COMPOSITES if composites else None)
    if not collection.is_file():
        raise ConfigError(f"{collection} does not exist: run the workflow (with composites on)")
    area = read_area(aoi, parse_crs(aoi_crs) if aoi_crs else None)
    cubed = settings.cube.enabled and settings.cube.source == (
        "composites" if composites else "scenes"
    )
    series = field_series(
        IndexPaths.beside(layout.collection()).parquet,
        area,
        product,
        json.loads(collection.read_text())["id"],
        parse_datetime(f"{start}/{end}"),
        source,
        layout.cube if cubed else None,
    )
    records = [row.as_record() | {"source": series.source} for row in series.rows]
    if as_json:
        click.echo(json.dumps(records, indent=2))
    else:
        columns = ["date", "mean", "median", "p10", "p90", "clear_fraction", "clear_pixels"]
        writer = csv.DictWriter(sys.stdout, [*columns, "aoi_pixels"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    if plot:
        from raw2ready.timeseries.plot import write_plot

        write_plot(series.rows, product, f"{product} over {aoi.name}", plot)
        click.echo(f"plot: {plot}", err=True)


@cli.group()
def provenance() -> None:
    """Run records: what each workflow run started from, and what differs now."""


@provenance.command("list")
@click.option(
    "--configfile", type=click.Path(dir_okay=False, path_type=Path), required=True,
    help="Campaign YAML (the one given to snakemake).",
)  # fmt: skip
def provenance_list(configfile: Path) -> None:
    """List the campaign's run records, oldest first."""
    from raw2ready.campaign.provenance import run_records
    from raw2ready.layout import Layout

    settings = load_settings(configfile)
    for path in run_records(Layout(settings.output_dir, settings.work_dir)):
        record = json.loads(path.read_text())
        click.echo(
            f"{record['run']}  {record['status']:<9}  config {record['config_sha256'][:12]}  "
            f"raw2ready {record['software'].get('raw2ready')}  "
            f"{sum(t['scenes'] for t in record['inventories'].values())} scene(s)"
        )


@provenance.command("diff")
@click.option(
    "--configfile", type=click.Path(dir_okay=False, path_type=Path), required=True,
    help="Campaign YAML (the one given to snakemake).",
)  # fmt: skip
@click.argument("run", required=False)
@click.option("--against", help="Another run to compare with, instead of the current state.")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
def provenance_diff(configfile: Path, run: str | None, against: str | None, as_json: bool) -> None:
    """What differs between RUN (default: the latest run) and now: config, software and
    inventories (scenes added, removed or changed by the archive)."""
    from raw2ready.campaign.provenance import diff, load_record, render_diff, state
    from raw2ready.layout import Layout

    settings = load_settings(configfile)
    layout = Layout(settings.output_dir, settings.work_dir)
    old = load_record(layout, run)
    if against:
        new, label = load_record(layout, against), f"run {old['run']} vs run {against}"
    else:
        new, label = state(settings, layout, keep_snapshots=False), f"run {old['run']} vs now"
    changes = diff(layout, old, new, new_is_current=not against)
    click.echo(json.dumps(changes, indent=2) if as_json else render_diff(label, changes))


@cli.command("synth-inventory")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--scenes", type=int, required=True, help="Scenes in total.")
@click.option("--tiles", type=int, required=True, help="MGRS tiles they are spread over.")
@click.option("--years", type=int, default=4, show_default=True, help="Years they span.")
@click.option("--start-year", type=int, default=2022, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a campaign config using them (OUT_DIR must be <work_dir>/inventories).",
)
def synth_inventory(
    out_dir: Path,
    scenes: int,
    tiles: int,
    years: int,
    start_year: int,
    seed: int,
    config_path: Path | None,
) -> None:
    """Write realistic tile inventories (no rasters) to OUT_DIR, for planning at scale."""
    import yaml

    from raw2ready.demo.synthetic_inventory import (
        campaign_config,
        campaign_tiles,
        write_synthetic_inventories,
    )

    config = config_path and campaign_config(out_dir, campaign_tiles(tiles), years, start_year)
    tile_ids = write_synthetic_inventories(out_dir, scenes, tiles, years, start_year, seed)
    click.echo(f"{scenes} scene(s) over {len(tile_ids)} tile(s) and {years} year(s): {out_dir}")
    if config_path and config:
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        click.echo(f"campaign config: {config_path}")


@cli.command("safe-check")
@click.argument("product", type=click.Path(dir_okay=False, path_type=Path))
def safe_check(product: Path) -> None:
    """Check a SAFE zip (zip integrity, manifest checksums, zip-slip) without extracting it."""
    from raw2ready.sentinel2.safe import check_archive

    click.echo(check_archive(product).summary())


def _exit_status(error: Raw2ReadyError) -> int:
    """EXIT_TRANSIENT when the archive did not answer after every retry, else 1."""
    from raw2ready.archives.transfer.retries import TransientError

    return EXIT_TRANSIENT if isinstance(error, TransientError) else 1


def main() -> None:
    """Entry point: run the CLI, turning user errors into one line and exit status 1 (75
    for transient ones). With --log the line also reaches the console, naming the job, and
    a bug's traceback stays in the log."""
    job = subject(sys.argv[1:], set(cli.commands))
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        JOB_LOG.tell_console(f"raw2ready {job}: error: {exc.format_message()}")
        sys.exit(exc.exit_code)
    except Raw2ReadyError as exc:
        click.echo(f"raw2ready: error: {exc}", err=True)
        JOB_LOG.tell_console(f"raw2ready {job}: error: {exc}")
        sys.exit(_exit_status(exc))
    except Exception as exc:
        if JOB_LOG.path is None:
            raise
        log.exception("internal error")
        JOB_LOG.tell_console(f"raw2ready {job}: internal error: {type(exc).__name__}: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
