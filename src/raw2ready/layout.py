"""Where every file of a campaign lives, as patterns shared by the Snakefile and the package.

The patterns use Snakemake wildcard syntax ({tile}, {scene}, ...); `Layout` fills them in.
Products and STAC items are addressed by tile, date parts and scene id, so a dry-run can
list them from the inventories alone. Optional product families (Sentinel-1 backscatter)
live in their own subfolder of inventories/, tiles/, products/ and stac/.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from raw2ready.scene import SceneRecord

#: Product families published beside Sentinel-2: scene record collection -> subfolder.
FAMILY_FOLDERS = {"sentinel-1-grd": "sentinel-1"}
SENTINEL1 = "sentinel-1"
#: The monthly composites' subfolder of products/ and stac/ (a family of its own).
COMPOSITES = "composites"


def family_pattern(pattern: str, family: str | None) -> str:
    """A pattern in a family's subfolder: `stac/{tile}/...` -> `stac/sentinel-1/{tile}/...`."""
    if family is None:
        return pattern
    top, _, rest = pattern.partition("/")
    return f"{top}/{family}/{rest}"


def family_of(record: SceneRecord) -> str | None:
    """The family subfolder of a scene's outputs (None: the Sentinel-2 tree)."""
    return FAMILY_FOLDERS.get(record.collection)


def composite_id(tile: str, year: str, month: str) -> str:
    """Id of a tile's monthly composite, e.g. `47PPR_2023-07`."""
    return f"{tile}_{year}-{month}"


def quarter_of(month: str) -> str:
    """`Q1`..`Q4` of a two-digit month."""
    return f"Q{(int(month) - 1) // 3 + 1}"


INVENTORY = "inventories/{tile}.jsonl"
DOWNLOADS = "downloads/{tile}/{scene}"
SCRATCH = "scratch/{scene}"
TILE_SUMMARY = "tiles/{tile}.summary.json"
LOGS = "logs"
#: The validated settings every job reads (`--settings`), one file per settings digest.
SETTINGS = "settings"
PRODUCT = "products/{tile}/{year}/{quarter}/{month}/{scene}/{scene}_{product}.tif"
QUICKLOOK = "products/{tile}/{year}/{quarter}/{month}/{scene}/{scene}_{look}.png"
REPORT = "report.html"
ITEM = "stac/{tile}/{year}/{quarter}/{month}/{scene}/{scene}.json"
TILE_CATALOG = "stac/{tile}/catalog.json"
COLLECTION = "stac/collection.json"
COMPOSITE = "products/composites/{tile}/{year}/{quarter}/{month}/{composite}_{product}.tif"
COMPOSITE_ITEM = "stac/composites/{tile}/{year}/{quarter}/{month}/{composite}/{composite}.json"
CUBE = "cubes/{tile}.icechunk"
L2A = "l2a/{tile}/{scene}"
TOOL_LOG = "logs/tools/{tile}/{scene}.{tool}.log"
BATCH = "batches/{tile}/{year}/{quarter}/{month}.json"
BATCH_REPAIR = "batches/{tile}/{year}/{quarter}/{month}.repair-{repair}.json"
SCENE_LOG = "logs/scene/{tile}/{year}/{quarter}/{month}/{scene}.log"
#: Record of a scene processed by a job of its own (a Sentinel-1 product), and of its reruns.
SCENE_RECORD = "scenes/{tile}/{year}/{quarter}/{month}/{scene}/record.json"
SCENE_REPAIR = "scenes/{tile}/{year}/{quarter}/{month}/{scene}/repair-{repair}.json"
PLAN = "plan.json"
RUN_RECORD = "runs/{run}.json"
INVENTORY_SNAPSHOT = "provenance/inventories/{digest}.jsonl.gz"


@dataclass(frozen=True)
class Layout:
    """The folders of one campaign: outputs (products, STAC) and work (inventories, caches),
    and the URL the output folder is published under (None: hrefs stay relative)."""

    output_dir: Path
    work_dir: Path
    base_url: str | None = None

    def href(self, target: Path, start: Path) -> str:
        """How a STAC file in folder `start` refers to the output file `target`: absolute under
        the base URL when published there, else relative (inside the output folder)."""
        if self.base_url:
            return f"{self.base_url}/{target.relative_to(self.output_dir).as_posix()}"
        return Path(os.path.relpath(target, start)).as_posix()

    def inventory(self, tile: str, family: str | None = None) -> Path:
        """Inventory of scene records found for a tile (one JSON record per line)."""
        return self.work_dir / family_pattern(INVENTORY, family).format(tile=tile)

    def downloads(self, record: SceneRecord) -> Path:
        """Folder the scene's bands are fetched into."""
        return self.work_dir / DOWNLOADS.format(tile=record.tile, scene=record.id)

    def scratch(self, record: SceneRecord) -> Path:
        """Scratch folder for the scene's intermediate rasters."""
        return self.work_dir / SCRATCH.format(scene=record.id)

    def tile_summary(self, tile: str, family: str | None = None) -> Path:
        """Extent and counts of a tile's items, read by the collection job."""
        return self.work_dir / family_pattern(TILE_SUMMARY, family).format(tile=tile)

    def product(self, record: SceneRecord, product: str) -> Path:
        """A product COG of a scene."""
        return self.output_dir / family_pattern(PRODUCT, family_of(record)).format(
            tile=record.tile, year=record.year, quarter=record.quarter,
            month=record.month, scene=record.id, product=product,
        )  # fmt: skip

    def quicklook(self, record: SceneRecord, look: str) -> Path:
        """A PNG quicklook of a scene (`thumbnail`, `overview`), beside its products."""
        return self.output_dir / family_pattern(QUICKLOOK, family_of(record)).format(
            tile=record.tile, year=record.year, quarter=record.quarter,
            month=record.month, scene=record.id, look=look,
        )  # fmt: skip

    def report(self) -> Path:
        """The campaign's HTML report (tiles, counts, failures, quicklooks)."""
        return self.output_dir / REPORT

    def item(self, record: SceneRecord) -> Path:
        """The STAC item of a scene's products."""
        return self.output_dir / family_pattern(ITEM, family_of(record)).format(
            tile=record.tile, year=record.year, quarter=record.quarter,
            month=record.month, scene=record.id,
        )  # fmt: skip

    def tile_catalog(self, tile: str, family: str | None = None) -> Path:
        """The root of a tile's Year -> Quarter -> Month catalogs."""
        return self.output_dir / family_pattern(TILE_CATALOG, family).format(tile=tile)

    def collection(self, family: str | None = None) -> Path:
        """The campaign's root STAC collection, or a family's collection (a child of it)."""
        return self.output_dir / family_pattern(COLLECTION, family)

    def composite(self, tile: str, year: str, month: str, product: str) -> Path:
        """A product COG of a tile's monthly composite."""
        return self.output_dir / COMPOSITE.format(
            tile=tile, year=year, quarter=quarter_of(month), month=month,
            composite=composite_id(tile, year, month), product=product,
        )  # fmt: skip

    def composite_item(self, tile: str, year: str, month: str) -> Path:
        """The STAC item of a tile's monthly composite."""
        return self.output_dir / COMPOSITE_ITEM.format(
            tile=tile, year=year, quarter=quarter_of(month), month=month,
            composite=composite_id(tile, year, month),
        )  # fmt: skip

    def cube(self, tile: str) -> Path:
        """The tile's datacube: an Icechunk repository (Zarr), one commit per month."""
        return self.output_dir / CUBE.format(tile=tile)

    def l2a(self, record: SceneRecord) -> Path:
        """Folder of the L2A SAFE that Sen2Cor made from a scene's L1C."""
        return self.work_dir / L2A.format(tile=record.tile, scene=record.id)

    def tool_log(self, record: SceneRecord, tool: str) -> Path:
        """Full output of an external tool (Sen2Cor, gpt) run for a scene."""
        return self.work_dir / TOOL_LOG.format(tile=record.tile, scene=record.id, tool=tool)

    def batch(self, tile: str, year: str, quarter: str, month: str) -> Path:
        """Record of a finished batch: the scenes of one tile and month, and how they went."""
        return self.work_dir / BATCH.format(tile=tile, year=year, quarter=quarter, month=month)

    def batch_repair(self, tile: str, year: str, quarter: str, month: str, repair: int) -> Path:
        """Record of the `repair`-th rerun of a finished batch whose outputs went missing."""
        return self.work_dir / BATCH_REPAIR.format(
            tile=tile, year=year, quarter=quarter, month=month, repair=repair
        )

    def scene_record(self, record: SceneRecord, repair: int = 0) -> Path:
        """Record of a scene's own processing job (a Sentinel-1 product): how it went; with
        `repair`, of the `repair`-th rerun of that job after its outputs went missing."""
        pattern = SCENE_REPAIR if repair else SCENE_RECORD
        return self.work_dir / family_pattern(pattern, family_of(record)).format(
            tile=record.tile, year=record.year, quarter=record.quarter,
            month=record.month, scene=record.id, repair=repair,
        )  # fmt: skip

    def plan(self) -> Path:
        """The latest `raw2ready plan` summary, as JSON for scripts."""
        return self.work_dir / PLAN

    def run_record(self, run: str) -> Path:
        """What one workflow run started from: config, software, inventory digests."""
        return self.work_dir / RUN_RECORD.format(run=run)

    def inventory_snapshot(self, digest: str) -> Path:
        """An inventory's content as a run saw it, kept once per SHA-256 digest."""
        return self.work_dir / INVENTORY_SNAPSHOT.format(digest=digest)

    def scene_log(self, record: SceneRecord) -> Path:
        """Log of one scene's processing inside its batch job."""
        return self.work_dir / SCENE_LOG.format(
            tile=record.tile, year=record.year, quarter=record.quarter,
            month=record.month, scene=record.id,
        )  # fmt: skip
