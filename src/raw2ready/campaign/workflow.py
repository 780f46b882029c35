"""What the Snakefile needs from the package: the validated campaign and its job list.

The Snakefile stays a DAG declaration; enumerating batches from inventories and naming
their files happens here, where it can be tested without Snakemake. Inventories are read
once per version of the file, since input functions run once per job. Light on purpose: no
raster or STAC library is imported while Snakemake builds the DAG (optional families and
processors load their modules only when the campaign uses them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from raw2ready import layout as patterns
from raw2ready.campaign.batches import (
    DOWNLOADS,
    Batch,
    group,
    scene_target,
    target,
    unfinished,
)
from raw2ready.campaign.inventory import read_inventory
from raw2ready.config import FOLDER_KEYS, Settings, check_folders, validate_config
from raw2ready.errors import ConfigError
from raw2ready.layout import Layout
from raw2ready.months import Month, month_folder, months_between, quarters_between
from raw2ready.products import ml_mask
from raw2ready.scene import SceneRecord


@dataclass(frozen=True)
class Campaign:
    """A validated campaign as the workflow sees it."""

    settings: Settings
    layout: Layout
    #: True when Snakemake moves every declared file to and from object storage (default
    #: storage, e.g. on Kubernetes): jobs see only their declared inputs and outputs, and
    #: the snakemake process sees no campaign file on its own disk.
    object_storage: bool = False
    #: The tiles whose inventory existed when the workflow was loaded (`searched`).
    inventories_at_start: frozenset[str] = frozenset()

    @property
    def settings_file(self) -> str:
        """The settings file every job is given (`--settings`), named by the settings'
        digest: a changed config is a new file (which object storage then uploads), and
        command lines stay short (no settings JSON on them)."""
        return self.work(f"{patterns.SETTINGS}/{self.settings.digest()[:16]}.json")

    def out(self, pattern: str) -> str:
        """An output-folder pattern with Snakemake wildcards left in place."""
        return f"{self.layout.output_dir.as_posix()}/{pattern}"

    def work(self, pattern: str) -> str:
        """A work-folder pattern with Snakemake wildcards left in place."""
        return f"{self.layout.work_dir.as_posix()}/{pattern}"

    def log(self, name: str) -> str:
        """A per-job log file pattern under the work folder."""
        return f"{self.layout.work_dir.as_posix()}/{patterns.LOGS}/{name}.log"

    @property
    def downloads(self) -> str:
        """The pattern of a batch's download folder ({tile}, {year}, {quarter}, {month})."""
        return self.work(DOWNLOADS)

    @property
    def downloads_local(self) -> bool:
        """True when download jobs run where snakemake runs (`download.where: local`)."""
        return self.settings.download.where == "local"

    @property
    def batch_memory_mb(self) -> int:
        """Memory a batch job asks for: more when the mask network runs (`mask.method`)."""
        return ml_mask.JOB_MEMORY_MB[self.settings.mask.method]

    @property
    def uses_sen2cor(self) -> bool:
        """True when L1C scenes are made into L2A by Sen2Cor jobs before their batch job."""
        return self.settings.processors.uses_sen2cor

    @property
    def quarters(self) -> list[tuple[str, str]]:
        """Every (year, `Qn`) of the campaign: each tile has a catalog for each."""
        return quarters_between(self.settings.start, self.settings.end)

    @property
    def months(self) -> list[Month]:
        """Every month of the campaign."""
        return months_between(self.settings.start, self.settings.end)

    def tree_catalogs(self, family: str | None = None, months: bool = False) -> list[str]:
        """Patterns of a tile's year and quarter catalogs ({tile} left in), every quarter of
        the campaign, and with `months` every month's too (a family's tile catalog job
        writes them; Sentinel-2 batches write their month's)."""
        tile_dir = self.layout.tile_catalog("{tile}", family).parent.as_posix()
        years = sorted({year for year, _ in self.quarters})
        return [
            *(f"{tile_dir}/{year}/catalog.json" for year in years),
            *(f"{tile_dir}/{year}/{quarter}/catalog.json" for year, quarter in self.quarters),
            *(
                f"{tile_dir}/{m.year}/{m.quarter}/{m.month}/catalog.json"
                for m in (self.months if months else [])
            ),
        ]

    def family_catalogs(self, family: str) -> list[str]:
        """Every tile, year, quarter and month catalog of a family (as its tile-catalog jobs
        declare them), for all the campaign's tiles."""
        return [
            pattern.format(tile=tile)
            for tile in self.settings.tiles
            for pattern in (
                self.layout.tile_catalog("{tile}", family).as_posix(),
                *self.tree_catalogs(family, months=True),
            )
        ]

    def stac_months(self, inventory: str | Path) -> list[str]:
        """The STAC month folders (month catalog and items) of an inventory's batches."""
        return [
            month_folder(self.layout, batch.tile, batch.month_of_tree).as_posix()
            for batch in _batches(str(inventory), _mtime(inventory))
        ]

    def searched(self, tile: str) -> bool:
        """True when the tile's inventory existed when the workflow was loaded, so its jobs
        can be listed without a search.

        Fixed at load time, not looked up live: an inventory that a running search has just
        written is known only from its checkpoint, once Snakemake has seen that job finish
        (read live, the DAG rebuilt after one tile's search dropped the other search still
        running and the progress passed 100 %). With object storage the search checkpoint
        always answers (Snakemake then finds the inventory in the bucket and fetches it).
        """
        return tile in self.inventories_at_start

    def batch_targets(self, inventory: str | Path) -> list[str]:
        """The batch records a tile catalog waits for: one per month with scenes.

        A finished batch that lost outputs is asked for its next repair record, which makes
        Snakemake rerun it (see batches.target). Computed once per inventory version: the
        answer does not change while jobs run (a batch job writes the record asked for).
        With object storage a batch's month folders are its declared outputs: Snakemake
        sees a missing record or folder, not a file lost inside one (docs/hpc.md).
        """
        if self.object_storage:
            return [
                batch.record(self.layout).as_posix()
                for batch in _batches(str(inventory), _mtime(inventory))
            ]
        return _targets(
            self.layout, tuple(self.settings.products), str(inventory), _mtime(inventory)
        )

    def month_targets(self, inventory: str | Path) -> dict[tuple[str, str], str]:
        """(year, month) -> the batch record asked of that month (see batch_targets): a
        composite's input, so it is redone when its month's batch is, and only then."""
        batches = _batches(str(inventory), _mtime(inventory))
        targets = self.batch_targets(inventory)
        return {(b.year, b.month): t for b, t in zip(batches, targets, strict=True)}

    def composite_items(self, inventory: str | Path) -> list[str]:
        """The STAC items of the monthly composites of an inventory's months with scenes
        (none when composites are off)."""
        if not self.settings.composites.enabled:
            return []
        return [
            self.layout.composite_item(b.tile, b.year, b.month).as_posix()
            for b in _batches(str(inventory), _mtime(inventory))
        ]

    def unfinished(self, inventory: str | Path, batch: Batch) -> list[SceneRecord]:
        """The scenes of a batch whose outputs are not all there yet (with object storage:
        all, since a batch job starts without the previous outputs of its month)."""
        records = _batches(str(inventory), _mtime(inventory)).get(batch, [])
        if self.object_storage:
            return records
        return unfinished(self.layout, records, self.settings.products)

    def sen2cor_inputs(self, inventory: str | Path, batch: Batch) -> list[str]:
        """The Sen2Cor L2A folders a batch job needs: of its unfinished L1C SAFE scenes."""
        if not self.uses_sen2cor:
            return []
        from raw2ready.processors.sen2cor import L1C_COLLECTION, is_safe_scene

        return [
            self.layout.l2a(record).as_posix()
            for record in self.unfinished(inventory, batch)
            if is_safe_scene(record) and record.collection == L1C_COLLECTION
        ]

    def batch_downloads(self, inventory: str | Path, scene: str) -> str:
        """The download folder of the batch a scene belongs to (a Sen2Cor job's input)."""
        for batch, records in _batches(str(inventory), _mtime(inventory)).items():
            if any(record.id == scene for record in records):
                return batch.downloads(self.layout).as_posix()
        raise ConfigError(f"scene {scene} is not in inventory {inventory}")

    def sentinel1_products(self) -> list[str]:
        """The product names of the Sentinel-1 family's scenes (none when it is off)."""
        if not self.settings.sentinel1.enabled:
            return []
        from raw2ready.sentinel1.grd import product_names

        return product_names(self.settings.sentinel1.polarisations)

    def sentinel1_targets(self, inventory: str | Path) -> list[str]:
        """The records asked of the Sentinel-1 scenes of a tile inventory, one per scene: the
        latest, or a new repair record for a scene that failed or lost an output (see
        batches.scene_target); with object storage the first (its folders are declared)."""
        records = read_inventory(Path(inventory))
        if self.object_storage:
            return [self.layout.scene_record(record).as_posix() for record in records]
        products = self.sentinel1_products()
        return [scene_target(self.layout, r, products).as_posix() for r in records]

    def sentinel1_folders(self, inventory: str | Path) -> list[str]:
        """The STAC folders (an item each, none when the scene failed) of the Sentinel-1
        scenes of a tile inventory."""
        return [
            self.layout.item(record).parent.as_posix() for record in read_inventory(Path(inventory))
        ]


def _mtime(path: str | Path) -> int:
    """Modification time of a file in ns: part of cache keys, so a rewritten file is reread."""
    return Path(path).stat().st_mtime_ns


@lru_cache(maxsize=1024)
def _batches(path: str, _mtime_ns: int) -> dict[Batch, list[SceneRecord]]:
    """An inventory's scenes by batch, read once per version of the file."""
    return group(read_inventory(Path(path)))


@lru_cache(maxsize=1024)
def _targets(layout: Layout, products: tuple[str, ...], path: str, mtime_ns: int) -> list[str]:
    """The batch records asked of an inventory's batches (see Campaign.batch_targets)."""
    return [
        target(layout, batch, records, list(products)).as_posix()
        for batch, records in _batches(path, mtime_ns).items()
    ]


def load_campaign(
    config: dict[str, Any], configfiles: list[Any], object_storage: bool = False
) -> Campaign:
    """Validate Snakemake's config and check its folders, before any job runs; write the
    settings file jobs read. The message names the key and the config file(s)."""
    source = ", ".join(str(path) for path in configfiles) or "the configuration"
    if not config:
        raise ConfigError(
            "no configuration given: run with --configfile config/demo.yaml "
            "(or config/config.yaml for a real campaign)"
        )
    settings = validate_config(config, source)
    if object_storage and settings.cube.enabled:
        # The cube job writes its Icechunk store beside its outputs, which under default
        # storage stay on the job's own disk (docs/hpc.md): refused rather than lost.
        raise ConfigError(
            f"{settings.source}: key 'cube.enabled': the datacube cannot be written to "
            "object storage (default storage) yet: set cube.enabled to false, or run on "
            "a shared file system"
        )
    # with object storage only the work folder is on this machine (the bucket holds outputs)
    check_folders(settings, ("work_dir",) if object_storage else FOLDER_KEYS)
    layout = Layout(settings.output_dir, settings.work_dir)
    searched = frozenset(
        tile for tile in settings.tiles if not object_storage and layout.inventory(tile).exists()
    )
    campaign = Campaign(settings, layout, object_storage, searched)
    settings.write(Path(campaign.settings_file))
    return campaign


def storage_root(local: str, declared: str) -> str:
    """The folder Snakemake put a declared path under, for a job's --root.

    "." when the job sees the path as declared (a shared file system); with default storage
    the job sees the path inside its local copy of the storage, and that copy is the root.
    """
    if local == declared:
        return "."
    if not local.endswith(f"/{declared}"):
        raise ValueError(f"job path {local} is not the declared {declared} under a folder")
    return local[: -len(declared) - 1]
