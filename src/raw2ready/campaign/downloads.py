"""The download job: the input files of a batch's unfinished scenes, fetched where the internet is.

Downloading is its own workflow job, separable from processing: on clusters whose compute
nodes have no internet it runs on the login node (`download.where: local`), and
`snakemake --until download` stages a campaign's inputs before an allocation starts. Its
output is one folder per batch with a subfolder per scene (band files, or the SAFE zip) and
a manifest naming them. The folder is filled under a hidden `.partial` name and renamed into
place once every scene was tried (a killed job never leaves a half folder under its final
name, and the next try resumes from the verified files). A scene that cannot be fetched
costs only itself: its cause is listed in the folder (`not-fetched.json`), and the batch's
processing job records that scene as failed, so the next run fetches it again.
The processing job uses a fetched file only while its proof holds (archives/transfer/proof.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from raw2ready.archives.transfer import DownloadOptions, download_scene
from raw2ready.archives.transfer.proof import is_proven
from raw2ready.atomic import PARTIAL_SUFFIX, write_json
from raw2ready.config import Settings
from raw2ready.errors import DownloadError, ProcessingError
from raw2ready.processors.sen2cor import fetch_safe, is_safe_scene
from raw2ready.scene import SceneRecord
from raw2ready.sentinel2.safe import SAFE_ASSET

log = logging.getLogger(__name__)

#: The file in each scene's folder that maps its assets (band names, `SAFE`) to file names.
MANIFEST = "inputs.json"
#: The file in a batch's folder naming the scenes that could not be fetched, with the cause.
FAILED = "not-fetched.json"


def download_options(settings: Settings) -> DownloadOptions:
    """Download choices from a validated configuration."""
    return DownloadOptions.from_settings(settings.download, settings.archive)


def fetch_scene(settings: Settings, record: SceneRecord, folder: Path) -> dict[str, Path]:
    """Fetch a scene's inputs into `folder`: its SAFE zip, or its band files; by asset name.
    A failure names the scene (its one line: scene, file, why)."""
    options = download_options(settings)
    try:
        if is_safe_scene(record):
            return {SAFE_ASSET: fetch_safe(record, folder, options)}
        return download_scene(record, folder, options)
    except DownloadError as error:
        raise type(error)(f"scene {record.id}: {error}") from error


def download_batch(settings: Settings, records: list[SceneRecord], folder: Path) -> None:
    """Fetch the inputs of `records` into `folder`, which appears once every scene was tried
    (those not fetched are listed in it with the cause)."""
    staging = folder.with_name(f".{folder.name}{PARTIAL_SUFFIX}")
    staging.mkdir(parents=True, exist_ok=True)
    failed: list[tuple[str, DownloadError]] = []
    for record in records:
        try:
            files = fetch_scene(settings, record, staging / record.id)
        except DownloadError as error:  # try every scene: the rerun resumes all of them
            log.error("%s", error)
            failed.append((record.id, error))
            continue
        write_json(staging / record.id / MANIFEST, {name: p.name for name, p in files.items()})
        log.info("scene %s: %d file(s) fetched", record.id, len(files))
    if failed:  # the scenes job records them failed; the next run fetches them again
        log.error("%d of %d scene(s) not fetched; first: %s", len(failed), len(records),
                  failed[0][1])  # fmt: skip
        write_json(staging / FAILED, {scene: str(error) for scene, error in failed})
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(staging, folder)


def downloaded(record: SceneRecord, folder: Path) -> dict[str, Path]:
    """The input files a download job fetched for a scene, by asset name; a scene it could
    not fetch fails with the download's cause."""
    not_fetched = folder / FAILED
    causes = json.loads(not_fetched.read_text()) if not_fetched.is_file() else {}
    if record.id in causes:
        raise DownloadError(f"scene {record.id} was not fetched: {causes[record.id]}")
    manifest = folder / record.id / MANIFEST
    names = json.loads(manifest.read_text()) if manifest.is_file() else {}
    files = {name: folder / record.id / file_name for name, file_name in names.items()}
    if not files or not all(path.is_file() for path in files.values()):
        raise ProcessingError(
            f"scene {record.id}: its inputs are not (all) in {folder}; delete that folder and "
            "rerun, which fetches them again"
        )
    unproven = sorted(name for name, path in files.items() if not is_proven(path))
    if unproven:
        raise ProcessingError(
            f"scene {record.id}: {', '.join(unproven)} in {folder} not proven (changed since "
            "it was fetched, or fetched by an older raw2ready); delete that folder and rerun, "
            "which fetches them again"
        )
    return files
