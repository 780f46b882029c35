# Input functions shared by the rules: batches are enumerated from the tile inventories.
import shlex
import sys

from snakemake.exceptions import IncompleteCheckpointException, InputOpenException
from snakemake.settings.types import DeploymentMethod

from raw2ready.campaign.batches import Batch
from raw2ready.campaign.workflow import storage_root

INVENTORY = CAMPAIGN.work("inventories/{tile}.jsonl")

# The command every job runs: the raw2ready of the Python running snakemake (the same path
# in SLURM jobs and pods), so no rule depends on the user's PATH; with --sdm conda, the
# env's own raw2ready, which conda puts first on the job's PATH.
RAW2READY = (
    "raw2ready"
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else f"{shlex.quote(sys.executable)} -m raw2ready.cli"
)


def download_output(pattern):
    """A download job's output folder: temporary (removed once the jobs reading it
    succeeded) unless download.keep."""
    folder = directory(pattern)
    return folder if CAMPAIGN.settings.download.keep else temp(folder)


# With object storage a batch has no download job: its processing job fetches the inputs
# itself (--fetch) into a folder of its own pod, so they never go through the bucket
# (docs/hpc.md says why Snakemake 9.27's node-local temp files cannot do it); on a shared
# file system the processing job reads the folder its download job filled.
BATCH_DOWNLOADS = {} if CAMPAIGN.object_storage else {"downloads": CAMPAIGN.downloads}


def batch_downloads(wildcards, input):
    """A processing job's --downloads: its download job's folder, or the one it fills."""
    if CAMPAIGN.object_storage:
        return CAMPAIGN.downloads.format(**dict(wildcards.items()))
    return input.downloads


DOWNLOADS = download_output(CAMPAIGN.downloads)

# With default storage (object storage, e.g. the Kubernetes profile) Snakemake moves only
# declared files: there a batch also declares its month's product and STAC folders. On a
# shared file system they stay undeclared, so a rerun keeps a month's finished scenes.
# A composite job reads those folders too: there they are its inputs (Snakemake fetches
# them), on a shared file system it reads them in place.
MONTH_FOLDERS = (
    {
        "products": CAMPAIGN.out("products/{tile}/{year}/{quarter}/{month}"),
        "stac": CAMPAIGN.out("stac/{tile}/{year}/{quarter}/{month}"),
    }
    if CAMPAIGN.object_storage
    else {}
)
BATCH_FOLDERS = {name: directory(folder) for name, folder in MONTH_FOLDERS.items()}


def inventory_io(pattern):
    """The `input` and `params` entries of a job that reads a tile inventory (`pattern`).

    With object storage the inventory is a declared input, fetched from the bucket, and
    the job's --root is found from where it sees it. On a shared file system it is read in
    place: an input on each of ~6,000 batch jobs would double the dry-run of a 25,000-scene
    campaign (docs/reruns.md), and plain values keep Snakemake from calling functions for
    every job. ancient: a new search of a tile asks only for its new or changed scenes.
    """
    if not CAMPAIGN.object_storage:
        return {}, {"inventory": pattern, "root": "."}

    def root(wildcards, input):
        return storage_root(input.inventory, pattern.format(tile=wildcards.tile))

    return {"inventory": ancient(pattern)}, {
        "inventory": lambda wildcards, input: input.inventory,
        "root": root,
    }


INVENTORY_INPUT, INVENTORY_PARAMS = inventory_io(INVENTORY)


def settings_io():
    """The `input` and `params` entries giving a job the settings file (`--settings`).

    On a shared file system the file load_campaign wrote is read in place (no input: a
    changed config must not rerun finished jobs, docs/reruns.md); with object storage it
    is a declared input (ancient: its date never reruns anything), which the `settings`
    rule puts in the bucket under its digest's name.
    """
    if not CAMPAIGN.object_storage:
        return {}, {"settings": CAMPAIGN.settings_file}
    return {"settings": ancient(CAMPAIGN.settings_file)}, {
        "settings": lambda wildcards, input: input.settings
    }


SETTINGS_INPUT, SETTINGS_PARAMS = settings_io()


def written_settings(wildcards):
    """The settings file load_campaign wrote on this machine (with object storage the
    `settings` rule's source: its output is the bucket's copy)."""
    return CAMPAIGN.settings_file


def fetched(inventory):
    """A checkpoint's inventory, with object storage fetched from the bucket when this
    machine has no copy (IOFile.open asks Snakemake for it, which then makes the job again).
    """
    if CAMPAIGN.object_storage:
        with inventory.open():
            pass
    return inventory


def root_of_output(pattern):
    """A params function: the job's --root, found from where it sees its first output."""

    def root(wildcards, output):
        return storage_root(output[0], pattern.format(**dict(wildcards.items())))

    return root


def inventory_of(tile):
    """A tile's inventory: read as it is when it exists, else once its search checkpoint ran.

    Only a missing inventory puts its search in the DAG (the jobs asking for it wait for
    the checkpoint); existing ones are read directly, which spares the dry-run the
    checkpoint's second pass over the whole DAG. To search a tile again, delete its
    inventory.
    """
    if CAMPAIGN.searched(tile):
        return CAMPAIGN.layout.inventory(tile)
    return fetched(checkpoints.search.get(tile=tile).output[0])


def tile_batches_of(tile):
    """The batch records of a tile, known once its search has run."""
    return CAMPAIGN.batch_targets(inventory_of(tile))


def tile_batches(wildcards):
    """Input function: the batch records of the tile a catalog job is for."""
    return tile_batches_of(wildcards.tile)


def stac_tree_below_tiles(wildcards):
    """With object storage: the year and quarter catalogs and every batch's STAC month
    folder (the collection job validates the whole tree, so it needs every catalog and
    item), and the Sentinel-1 family's and composites'; on a shared file system they are
    just there."""
    if not CAMPAIGN.object_storage:
        return []
    return [
        *expand(CAMPAIGN.tree_catalogs(), tile=CAMPAIGN.settings.tiles),
        *(
            folder
            for tile in CAMPAIGN.settings.tiles
            for folder in CAMPAIGN.stac_months(inventory_of(tile))
        ),
        *sentinel1_stac_below_tiles(wildcards),
        *composites_stac_below_tiles(wildcards),
    ]


def campaign_batches(wildcards):
    """Every batch record of the campaign, as targets of `all`.

    Snakemake looks for missing files only upstream of jobs that must run; `all` always
    runs, so a batch whose record is missing (or who needs a repair) is found.
    """
    return [path for tile in CAMPAIGN.settings.tiles for path in tile_batches_of(tile)]


def rejected_lists(wildcards):
    """With object storage: the searches' lists of rejected items (a job sees only declared
    files); on a shared file system they are read in place, so a campaign searched before
    they existed is not searched again for them."""
    if not CAMPAIGN.object_storage:
        return []
    return expand(
        CAMPAIGN.work("inventories/{tile}.rejected.json"), tile=CAMPAIGN.settings.tiles
    )


def batch_of(wildcards):
    """The batch a scenes job is for."""
    return Batch(wildcards.tile, wildcards.year, wildcards.month)


def batch_l2a(wildcards):
    """Input function: the Sen2Cor L2A of a batch's unfinished L1C SAFE scenes."""
    return CAMPAIGN.sen2cor_inputs(inventory_of(wildcards.tile), batch_of(wildcards))


def scene_downloads(wildcards):
    """Input function: the download folder of the batch a Sen2Cor job's scene is in."""
    return CAMPAIGN.batch_downloads(inventory_of(wildcards.tile), wildcards.scene)


def per_unfinished_scene(minutes):
    """A runtime resource: `minutes` for each scene the batch job still has to process."""

    def runtime(wildcards):
        try:
            inventory = inventory_of(wildcards.tile)
        except (IncompleteCheckpointException, InputOpenException):
            # A job started on its own (in a pod: --mode remote) evaluates its resources
            # before it knows the search is done or has fetched the inventory; there the
            # estimate is not used (Snakemake would turn the exception into a failure).
            return minutes
        return minutes * max(
            1, len(CAMPAIGN.unfinished(inventory, batch_of(wildcards)))
        )

    return runtime


# The optional Sentinel-1 family (rules/sentinel1.smk): its scenes, from its tile inventories.
from raw2ready.layout import COMPOSITES as COMPOSITES_FAMILY
from raw2ready.layout import SENTINEL1 as SENTINEL1_FAMILY

SENTINEL1 = CAMPAIGN.settings.sentinel1
S1_INVENTORY_INPUT, S1_INVENTORY_PARAMS = inventory_io(
    CAMPAIGN.work("inventories/sentinel-1/{tile}.jsonl")
)
S1_DOWNLOAD_FOLDER = CAMPAIGN.work(
    "downloads/sentinel-1/{tile}/{year}/{quarter}/{month}/{scene}"
)
S1_DOWNLOADS = download_output(S1_DOWNLOAD_FOLDER)
SENTINEL1_COLLECTION = (
    [CAMPAIGN.out("stac/sentinel-1/collection.json")] if SENTINEL1.enabled else []
)


# With object storage a Sentinel-1 scene job declares its product and STAC folders (made
# even when it fails); on a shared file system its record stands for them.
S1_SCENE_FOLDERS = (
    {
        "products": directory(
            CAMPAIGN.out("products/sentinel-1/{tile}/{year}/{quarter}/{month}/{scene}")
        ),
        "stac": directory(
            CAMPAIGN.out("stac/sentinel-1/{tile}/{year}/{quarter}/{month}/{scene}")
        ),
    }
    if CAMPAIGN.object_storage
    else {}
)


def sentinel1_inventory(tile):
    """A tile's Sentinel-1 inventory, once its search has run."""
    return fetched(checkpoints.sentinel1_search.get(tile=tile).output[0])


def sentinel1_scenes_of(tile):
    """The records of the Sentinel-1 scenes of a tile, once its search has run."""
    return CAMPAIGN.sentinel1_targets(sentinel1_inventory(tile))


def sentinel1_scenes(wildcards):
    """Input function: the Sentinel-1 scenes of the tile a catalog job is for (with object
    storage also their STAC folders, which the job reads)."""
    records = sentinel1_scenes_of(wildcards.tile)
    if not CAMPAIGN.object_storage:
        return records
    return [*records, *CAMPAIGN.sentinel1_folders(sentinel1_inventory(wildcards.tile))]


def sentinel1_stac_below_tiles(wildcards):
    """With object storage and the family on: its tile, year, quarter and month catalogs
    and its scenes' STAC folders, which the collection jobs validate; else nothing."""
    if not (CAMPAIGN.object_storage and SENTINEL1.enabled):
        return []
    tile_catalog = CAMPAIGN.layout.tile_catalog("{tile}", SENTINEL1_FAMILY).as_posix()
    catalogs = [tile_catalog, *CAMPAIGN.tree_catalogs(SENTINEL1_FAMILY, months=True)]
    folders = [
        folder
        for tile in CAMPAIGN.settings.tiles
        for folder in CAMPAIGN.sentinel1_folders(sentinel1_inventory(tile))
    ]
    return [*expand(catalogs, tile=CAMPAIGN.settings.tiles), *folders]


def sentinel1_campaign_scenes(wildcards):
    """Every Sentinel-1 scene record of the campaign: targets, so a failed scene or one
    that lost an output is run again, and the final check lists the failed ones."""
    if not SENTINEL1.enabled:
        return []
    return [
        path for tile in CAMPAIGN.settings.tiles for path in sentinel1_scenes_of(tile)
    ]


def outcome_records(wildcards):
    """The records the final check reads: every batch's and every Sentinel-1 scene's."""
    return [*campaign_batches(wildcards), *sentinel1_campaign_scenes(wildcards)]


# Monthly composites and cubes (rules/composites.smk).
def composite_batch(wildcards):
    """Input function: the batch record of the composite's month."""
    targets = CAMPAIGN.month_targets(inventory_of(wildcards.tile))
    return targets[(wildcards.year, wildcards.month)]


def tile_composite_items_of(tile):
    """The composite items of a tile, known once its search has run."""
    return CAMPAIGN.composite_items(inventory_of(tile))


def tile_composite_items(wildcards):
    """Input function: the composite items of the tile a catalog job is for."""
    return tile_composite_items_of(wildcards.tile)


def composites_stac_below_tiles(wildcards):
    """With object storage and composites on: their tile, year, quarter and month catalogs
    (every month of the campaign, see composites_tile_catalog) and their items, which the
    collection jobs validate; else nothing."""
    if not (CAMPAIGN.object_storage and COMPOSITES.enabled):
        return []
    catalogs = CAMPAIGN.family_catalogs(COMPOSITES_FAMILY)
    items = (
        path
        for tile in CAMPAIGN.settings.tiles
        for path in tile_composite_items_of(tile)
    )
    return [*catalogs, *items]


def cube_inputs(wildcards):
    """Input function: what a tile's cube is made from (composite items or batch records)."""
    if CAMPAIGN.settings.cube.source == "composites":
        return tile_composite_items(wildcards)
    return tile_batches(wildcards)
