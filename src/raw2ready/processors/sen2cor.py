"""The L2A of a SAFE scene: the archive's own L2A zip, or Sen2Cor run on its L1C zip.

Sen2Cor (`L2A_Process [--resolution {10,20,60}] [--output_dir DIR] [--work_dir DIR]
input.SAFE`) is skipped whenever the L2A already exists: the archive held it (the search
then picked the L2A zip), or an earlier run made it (it lives under work/l2a/). Products
from some mirrors lack the empty `AUX_DATA` and `HTML` folders Sen2Cor needs; they are
recreated before it runs. Its output is written to a staging folder and moved into place
only once its metadata parses as Level-2A, so a killed run never leaves a half product.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from raw2ready.config import Settings
from raw2ready.errors import ArchiveError, ConfigError, ExternalToolError, ItemError
from raw2ready.layout import Layout
from raw2ready.processors.external import SEN2COR, locate, run
from raw2ready.scene import BandAsset, SceneRecord
from raw2ready.sentinel2.safe import (
    SAFE_ASSET,
    acquisition,
    extract_safe,
    read_product_metadata,
    require_jp2_support,
)

if TYPE_CHECKING:  # the Snakefile imports this module: the archives load only in jobs
    from raw2ready.archives.transfer import DownloadOptions

log = logging.getLogger(__name__)

L1C_COLLECTION = "sentinel-2-l1c"
#: Folders Sen2Cor expects even when empty (dropped by mirrors that do not store empty dirs).
REQUIRED_FOLDERS = ("AUX_DATA", "HTML")


@dataclass(frozen=True)
class Sen2CorOptions:
    """How to call L2A_Process."""

    binary: str | None = None
    resolution: int | None = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> Sen2CorOptions:
        """From the `processors.sen2cor` section of a validated configuration."""
        sen2cor = settings.processors.sen2cor
        return cls(binary=sen2cor.path, resolution=sen2cor.resolution)


def is_safe_scene(record: SceneRecord) -> bool:
    """True for scenes whose input is a SAFE product zip (archive kind safe_folder)."""
    return SAFE_ASSET in record.bands


def command(
    binary: str, product: Path, output_dir: Path, work_dir: Path, resolution: int | None
) -> list[str]:
    """The L2A_Process command line (Sen2Cor wants absolute, existing folders)."""
    argv = [binary]
    if resolution is not None:
        argv += ["--resolution", str(resolution)]
    argv += [
        "--output_dir", str(output_dir.resolve()),
        "--work_dir", str(work_dir.resolve()),
        str(product.resolve()),
    ]  # fmt: skip
    return argv


def restore_folders(product: Path) -> list[str]:
    """Create the AUX_DATA/HTML folders (product and granule level) a mirror dropped."""
    created: list[str] = []
    folders = [product / name for name in REQUIRED_FOLDERS]
    folders += [granule / "AUX_DATA" for granule in sorted((product / "GRANULE").glob("*"))]
    for folder in folders:
        if not folder.is_dir():
            folder.mkdir(parents=True)
            created.append(folder.relative_to(product).as_posix())
    if created:
        log.info("%s: created missing folder(s) %s", product.name, ", ".join(created))
    return created


def find_l2a(folder: Path, product_id: str) -> Path | None:
    """A complete L2A product of the same acquisition in `folder`, if one is there."""
    if not folder.is_dir():
        return None
    wanted = acquisition(product_id)
    for candidate in sorted(folder.glob("S2*_MSIL2A_*.SAFE")):
        complete = any(
            name.name.upper() == "MTD_MSIL2A.XML" for name in candidate.glob("MTD_MSIL2*.xml")
        )
        if complete and acquisition(candidate.name) == wanted:
            return candidate
    return None


def run_sen2cor(l1c: Path, output_dir: Path, options: Sen2CorOptions, log_file: Path) -> Path:
    """Make the L2A of an extracted L1C product in `output_dir`, or reuse one already there."""
    existing = find_l2a(output_dir, l1c.name)
    if existing is not None:
        log.info("%s: L2A %s exists, Sen2Cor skipped", l1c.name, existing.name)
        return existing
    binary = locate(SEN2COR, options.binary)
    restore_folders(l1c)
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".sen2cor-", dir=output_dir))
    try:
        (staging / "work").mkdir()
        (staging / "out").mkdir()
        argv = command(binary, l1c, staging / "out", staging / "work", options.resolution)
        run(SEN2COR, argv, log_file)
        made = find_l2a(staging / "out", l1c.name)
        if made is None:
            raise ExternalToolError(
                f"Sen2Cor (L2A_Process) exited normally but wrote no L2A product for {l1c.name} "
                f"(log: {log_file})"
            )
        if read_product_metadata(made).level != "L2A":
            raise ExternalToolError(f"Sen2Cor output {made.name} is not a Level-2A product")
        final = output_dir / made.name
        os.replace(made, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("%s: Sen2Cor made %s", l1c.name, final.name)
    return final


def fetch_safe(record: SceneRecord, folder: Path, download: DownloadOptions) -> Path:
    """Fetch a scene's SAFE zip into `folder` (atomically, size-verified, retried)."""
    from raw2ready.archives.transfer import fetch

    return fetch(record.bands[SAFE_ASSET], folder / f"{record.id}.zip", download)


def extract_fetched(archive: Path, destination: Path) -> Path:
    """Check and extract a fetched SAFE zip; a rejected one is deleted with its proof, so a
    retry refetches."""
    from raw2ready.archives.transfer.proof import forget

    try:
        return extract_safe(archive, destination)
    except ArchiveError:
        forget(archive)
        raise


def l2a_product(
    settings: Settings, record: SceneRecord, layout: Layout, download: DownloadOptions
) -> Path:
    """The L2A SAFE folder of a SAFE scene, fetching its zip only when it is needed."""
    return l2a_of(
        settings, record, layout, lambda: fetch_safe(record, layout.downloads(record), download)
    )


def l2a_of(
    settings: Settings, record: SceneRecord, layout: Layout, archive: Callable[[], Path]
) -> Path:
    """The L2A SAFE folder of a SAFE scene, extracting or running Sen2Cor only when needed;
    `archive` gives the scene's fetched zip (asked only when the L2A is not made yet)."""
    if record.collection != L1C_COLLECTION:
        return extract_fetched(archive(), layout.scratch(record) / "safe")
    if not settings.processors.uses_sen2cor:
        raise ConfigError(
            f"scene {record.id} is Level-1C and the archive has no L2A of it; set "
            "processors.l2a: sen2cor to make its L2A with Sen2Cor"
        )
    target = layout.l2a(record)
    existing = find_l2a(target, record.id)
    if existing is not None:
        log.info("%s: L2A %s exists, Sen2Cor skipped", record.id, existing.name)
        return existing
    fetched = archive()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".l1c-", dir=target) as scratch:
        l1c = extract_fetched(fetched, Path(scratch))
        log_file = layout.tool_log(record, "L2A_Process")
        return run_sen2cor(l1c, target, Sen2CorOptions.from_settings(settings), log_file)


def l2a_inputs(
    record: SceneRecord, product: Path, bands: frozenset[str]
) -> tuple[SceneRecord, dict[str, Path]]:
    """The scene record and band files of an L2A SAFE folder, for the normal chain."""
    require_jp2_support()
    meta = read_product_metadata(product)
    if meta.level != "L2A":
        raise ItemError(f"{product.name} is not a Level-2A product")
    available = meta.band_paths(product)
    missing = sorted(bands - set(available))
    if missing:
        raise ItemError(f"{product.name} lacks band(s) {', '.join(missing)} needed by the products")
    paths = {band: available[band] for band in sorted(bands)}
    l2a = meta.scene_record(record.source_href, {b: BandAsset(str(p)) for b, p in paths.items()})
    updated = replace(
        record,
        processing_baseline=l2a.processing_baseline,
        apply_boa_offset=l2a.apply_boa_offset,
        bands=l2a.bands,
        angles=meta.sun_view(bands) or record.angles,
    )
    return updated, paths


def lineage_note(record: SceneRecord, l2a: Path) -> str:
    """The lineage sentence saying where a SAFE scene's L2A came from."""
    if record.collection == L1C_COLLECTION:
        return f"L1C {record.id} made into L2A {l2a.name} by Sen2Cor (L2A_Process); "
    return f"From L2A SAFE {l2a.name}; "
