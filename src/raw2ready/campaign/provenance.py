"""What produced a campaign's outputs, and what differs now: software, config, inventories.

Products carry the software versions and config digest they were made with (STAC items).
Each workflow run also leaves a run record (work/<campaign>/runs/): the full validated
config and its digest, the software versions, and a snapshot of every tile inventory, kept
content-addressed and compressed, so a rerun a year later can show exactly what changed,
down to the scenes an archive added, dropped or reprocessed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import platform
import sys
import uuid
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from raw2ready import __version__
from raw2ready.atomic import atomic_path, write_json
from raw2ready.config import Settings
from raw2ready.errors import ConfigError
from raw2ready.layout import Layout

_PACKAGES = ("numpy", "zstandard", "rasterio", "rio-cogeo", "pystac", "pystac-client")
#: Software that runs the workflow but does not shape the products.
_RUNNERS = ("snakemake",)


def software_versions() -> dict[str, str]:
    """Versions of raw2ready, GDAL and the Python packages that shape the products."""
    import rasterio  # GDAL's version: loaded only when versions are asked for, not by the DAG

    versions = {"raw2ready": __version__, "GDAL": rasterio.__gdal_version__}
    for package in _PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def _run_software() -> dict[str, str]:
    """The product software plus Python and the workflow runner."""
    versions = {**software_versions(), "python": platform.python_version()}
    for package in _RUNNERS:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def _inventory_state(layout: Layout, inventory: Path, keep: bool) -> dict[str, Any]:
    """Digest and scene count of an inventory; with `keep`, its content is stored once per
    digest (compressed), so later diffs can list the scenes that changed."""
    content = inventory.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    stored = layout.inventory_snapshot(digest)
    if keep and not stored.exists():
        with atomic_path(stored) as temporary:
            temporary.write_bytes(gzip.compress(content, mtime=0))
    return {"sha256": digest, "scenes": content.count(b"\n")}


def state(settings: Settings, layout: Layout, keep_snapshots: bool = True) -> dict[str, Any]:
    """The campaign as it stands: config, software and each searched tile's inventory."""
    return {
        "config_sha256": settings.digest(),
        "config": settings.document,
        "software": _run_software(),
        "inventories": {
            tile: _inventory_state(layout, layout.inventory(tile), keep_snapshots)
            for tile in settings.tiles
            if layout.inventory(tile).exists()
        },
    }


def start_run(settings: Settings, layout: Layout, command: list[str]) -> Path:
    """Write the record of a run that starts now; return its path."""
    started = datetime.now(UTC)
    run = f"{started:%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:6]}"  # sorts by start time
    record = {
        "run": run,
        "started": started.isoformat(timespec="seconds"),
        "finished": None,
        "status": "running",
        "host": platform.node(),
        "command": command,
        **state(settings, layout),
    }
    path = layout.run_record(run)
    write_json(path, record)
    return path


def finish_run(settings: Settings, layout: Layout, path: Path, status: str) -> None:
    """Mark a run record "succeeded" or "failed", with the inventories as the run left them
    (its searches may have written them); a killed run's record stays "running"."""
    record = json.loads(path.read_text())
    record.update(
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        status=status,
        inventories=state(settings, layout)["inventories"],
    )
    write_json(path, record)


def run_records(layout: Layout) -> list[Path]:
    """The campaign's run records, oldest first."""
    return sorted(layout.run_record("*").parent.glob("*.json"))


def load_record(layout: Layout, run: str | None) -> dict[str, Any]:
    """A run record by run id (or path); the latest one when `run` is None."""
    records = run_records(layout)
    if run is None:
        if not records:
            raise ConfigError(
                f"no run records under {layout.run_record('*').parent}: the workflow writes "
                "one when it runs (not on a dry-run)"
            )
        return json.loads(records[-1].read_text())
    path = Path(run) if Path(run).is_file() else layout.run_record(run)
    if not path.is_file():
        known = ", ".join(p.stem for p in records[-5:]) or "none"
        raise ConfigError(f"run record '{run}' not found (latest runs: {known})")
    return json.loads(path.read_text())


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (lists stay whole values)."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, inner in value.items():
        flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Keys whose values differ between two flat mappings (missing = None)."""
    return [
        {"key": key, "old": old.get(key), "new": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def _scenes(layout: Layout, digest: str | None, current: Path | None) -> dict[str, str]:
    """Scene id -> record line, from a stored snapshot or from the current inventory."""
    if current is not None:
        text = current.read_text()
    elif digest and layout.inventory_snapshot(digest).exists():
        text = gzip.decompress(layout.inventory_snapshot(digest).read_bytes()).decode()
    else:
        return {}
    return {json.loads(line)["id"]: line for line in text.splitlines() if line.strip()}


def diff(
    layout: Layout, old: dict[str, Any], new: dict[str, Any], new_is_current: bool = False
) -> dict[str, Any]:
    """What differs between two states (run records, or a record and `state`)."""
    inventories = {}
    for tile in sorted(set(old["inventories"]) | set(new["inventories"])):
        before = old["inventories"].get(tile, {}).get("sha256")
        after = new["inventories"].get(tile, {}).get("sha256")
        if before == after:
            continue
        was = _scenes(layout, before, None)
        now = _scenes(layout, after, layout.inventory(tile) if new_is_current else None)
        inventories[tile] = {
            "old_sha256": before,
            "new_sha256": after,
            "added": sorted(set(now) - set(was)),
            "removed": sorted(set(was) - set(now)),
            "changed": sorted(i for i in set(was) & set(now) if was[i] != now[i]),
        }
    return {
        "config": _changes(_flatten(old["config"]), _flatten(new["config"])),
        "software": _changes(old["software"], new["software"]),
        "inventories": inventories,
    }


def render_diff(label: str, changes: dict[str, Any]) -> str:
    """A diff as text, one line per changed key, package and tile."""
    lines = [label]
    if not any(changes.values()):
        return f"{label}: no difference in config, software or inventories"
    for section in ("config", "software"):
        if changes[section]:
            lines.append(f"{section}: {len(changes[section])} difference(s)")
            lines += [f"  {c['key']}: {c['old']!r} -> {c['new']!r}" for c in changes[section]]
    if changes["inventories"]:
        lines.append(f"inventories: {len(changes['inventories'])} tile(s) differ")
        for tile, change in changes["inventories"].items():
            counts = ", ".join(f"{len(change[k])} {k}" for k in ("added", "removed", "changed"))
            examples = (change["added"] + change["removed"] + change["changed"])[:3]
            lines.append(
                f"  {tile}: {counts}" + (f" (e.g. {', '.join(examples)})" if examples else "")
            )
    return "\n".join(lines)


def command_line() -> list[str]:
    """The command that started this process (for run records)."""
    return list(sys.argv)
