"""A tile's datacube: its scene products (or monthly composites) as one Zarr store with
dimensions time, y, x, written with Icechunk so that every month is one atomic commit.

A month's time steps are written chunk row by chunk row from the COGs into a writable
session and become visible only with its commit: a run killed or failed mid-month leaves
the last committed state, and readers never see half a month. The root group's
`raw2ready:months` attribute (committed with the data) records each month's time steps
and a fingerprint of its COGs, so a rerun commits only months that are new or whose COGs
were redone. Variables keep the products' integer encodings with CF attributes
(scale_factor, add_offset, _FillValue, units, grid_mapping -> spatial_ref with crs_wkt),
so `xarray.open_zarr(session.store)` decodes them. Chunks: see `CHUNKS`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import icechunk
import numpy as np
import rasterio
import xarray as xr
import zarr
from rasterio.windows import Window

from raw2ready.campaign.batches import group, is_complete
from raw2ready.campaign.inventory import read_inventory
from raw2ready.config import Settings
from raw2ready.errors import ProcessingError
from raw2ready.layout import Layout
from raw2ready.products.registry import CLEAR_COUNT, PRODUCTS, Kind

log = logging.getLogger(__name__)

#: (time, y, x) chunks: 12 time steps (a year of composites, two months of scenes) by
#: 256 x 256 pixels (1.5 MB of int16). A map reads 43 x 43 chunks of a 10980-px tile, a
#: pixel's time series one chunk per 12 steps: both stay a few hundred requests at most.
CHUNKS = (12, 256, 256)
#: Root group attribute: month (YYYY-MM) -> {"start", "count", "fingerprint"}.
MONTHS_ATTRIBUTE = "raw2ready:months"
BRANCH = "main"


@dataclass(frozen=True)
class MonthSlice:
    """The time steps a month adds to the cube: per step its time and variable -> COG."""

    month: str
    times: tuple[datetime, ...]
    files: tuple[dict[str, Path], ...]

    def fingerprint(self) -> str:
        """Digest of the month's COGs (path, size, modification time): changes when any
        of them is rewritten, e.g. when a scene of the month is redone."""
        digest = hashlib.sha256()
        for step in self.files:
            for name, path in sorted(step.items()):
                status = path.stat()
                digest.update(f"{name}:{path}:{status.st_size}:{status.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def cube_variables(settings: Settings) -> tuple[str, ...]:
    """The cube's variables: the composited products and clear_count, or every continuous
    scene product."""
    if settings.cube.source == "composites":
        return (*settings.composites.products, CLEAR_COUNT.name)
    return tuple(name for name in settings.products if PRODUCTS[name].kind is Kind.INDEX)


def month_slices(settings: Settings, layout: Layout, tile: str) -> list[MonthSlice]:
    """The tile's months with finished outputs, in time order."""
    variables = cube_variables(settings)
    slices = []
    for batch, records in group(read_inventory(layout.inventory(tile))).items():
        month = f"{batch.year}-{batch.month}"
        if settings.cube.source == "composites":
            if not layout.composite_item(tile, batch.year, batch.month).exists():
                continue
            time = datetime(int(batch.year), int(batch.month), 1)
            files = {
                name: layout.composite(tile, batch.year, batch.month, name) for name in variables
            }
            slices.append(MonthSlice(month, (time,), (files,)))
            continue
        done = sorted(
            (r for r in records if is_complete(layout, r, settings.products)),
            key=lambda r: r.acquired,
        )
        if done:
            slices.append(
                MonthSlice(
                    month,
                    tuple(r.acquired.replace(tzinfo=None) for r in done),
                    tuple({name: layout.product(r, name) for name in variables} for r in done),
                )
            )
    return slices


def _open_repository(path: Path) -> icechunk.Repository:
    """The tile's Icechunk repository, created when missing.

    Icechunk warns on every open of local storage that it is unsafe for concurrent
    commits; the workflow runs one cube job per tile, so only errors are logged.
    """
    icechunk.set_logs_filter("icechunk=error")
    storage = icechunk.local_filesystem_storage(str(path))
    return icechunk.Repository.open_or_create(storage)


def _template(variables: tuple[str, ...], grid: dict[str, Any]) -> tuple[xr.Dataset, dict]:
    """An empty cube (no time step yet) with every CF attribute and encoding in place; the
    Zarr fill_value is the nodata value too, so chunks holding only nodata are not stored."""
    a, _b, c, _d, e, f = grid["transform"][:6]
    x = c + a * (np.arange(grid["width"]) + 0.5)
    y = f + e * (np.arange(grid["height"]) + 0.5)
    wkt = grid["crs"].to_wkt()
    shape = (0, grid["height"], grid["width"])
    data_vars = {}
    encoding: dict[str, dict[str, Any]] = {
        "time": {"units": "seconds since 1970-01-01", "dtype": "int64", "chunks": (4096,)}
    }
    for name in variables:
        spec = PRODUCTS[name]
        attrs = {"long_name": spec.title, "grid_mapping": "spatial_ref"}
        if spec.unit:
            attrs["units"] = spec.unit
        data_vars[name] = (("time", "y", "x"), np.zeros(shape, np.float32), attrs)
        encoding[name] = {
            "dtype": spec.dtype, "scale_factor": spec.scale, "add_offset": spec.offset,
            "_FillValue": spec.nodata, "fill_value": spec.nodata, "chunks": CHUNKS,
        }  # fmt: skip
    coords = {
        "time": ("time", np.array([], "datetime64[ns]"), {"standard_name": "time"}),
        "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"}),
        "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"}),
        "spatial_ref": (
            (),
            0,
            {
                "crs_wkt": wkt,
                "spatial_ref": wkt,
                "GeoTransform": " ".join(str(v) for v in (c, a, 0.0, f, 0.0, e)),
            },
        ),
    }
    return xr.Dataset(data_vars, coords=coords), encoding


def time_value(moment: datetime) -> int:
    """How the cube stores a time step: whole seconds since 1970-01-01 UTC (a naive time is
    UTC; fractions of a second are dropped, as numpy's cast to seconds does)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    epoch = np.datetime64("1970-01-01T00:00:00", "s")
    return int((np.datetime64(moment, "s") - epoch).astype(np.int64))


def _grid(path: Path) -> dict[str, Any]:
    """The grid of a COG: size, CRS, transform."""
    with rasterio.open(path) as dataset:
        return {
            "width": dataset.width, "height": dataset.height, "crs": dataset.crs,
            "transform": tuple(dataset.transform),
        }  # fmt: skip


def _write_step(group_: zarr.Group, index: int, files: dict[str, Path]) -> None:
    """Write one time step's variables, a row of chunks at a time, into the session."""
    for name, path in files.items():
        array = group_[name]
        with rasterio.open(path) as dataset:
            if (dataset.height, dataset.width) != array.shape[1:]:
                raise ProcessingError(f"{path} is not on the grid of the cube")
            for top in range(0, dataset.height, CHUNKS[1]):
                rows = min(CHUNKS[1], dataset.height - top)
                block = dataset.read(1, window=Window(0, top, dataset.width, rows))
                array[index, top : top + rows, :] = block


def _commit_month(repository: icechunk.Repository, month: MonthSlice) -> None:
    """Write one month's time steps and commit them at once (new, or replacing its own)."""
    session = repository.writable_session(BRANCH)
    root = zarr.open_group(session.store)
    months = dict(root.attrs.get(MONTHS_ATTRIBUTE, {}))
    length = root["time"].shape[0]
    known = months.get(month.month)
    if known is not None and known["count"] != len(month.times):
        raise ProcessingError(
            f"month {month.month} now has {len(month.times)} time steps, the cube "
            f"{known['count']}: delete the cube to rebuild it"
        )
    if known is None and any(other > month.month for other in months):
        raise ProcessingError(
            f"month {month.month} is earlier than months already in the cube: "
            "delete the cube to rebuild it in time order"
        )
    start = known["start"] if known else length
    if known is None:
        for name in [*month.files[0], "time"]:
            array = root[name]
            array.resize((length + len(month.times), *array.shape[1:]))
    for offset, (time, files) in enumerate(zip(month.times, month.files, strict=True)):
        root["time"][start + offset] = time_value(time)
        _write_step(root, start + offset, files)
    months[month.month] = {
        "start": start,
        "count": len(month.times),
        "fingerprint": month.fingerprint(),
    }
    root.attrs[MONTHS_ATTRIBUTE] = months
    session.commit(f"month {month.month}: {len(month.times)} time step(s)")


def committed_months(repository: icechunk.Repository) -> dict[str, dict[str, Any]]:
    """The months the cube's last commit holds, with their time steps and fingerprints
    (none in a repository not written yet)."""
    try:
        root = zarr.open_group(repository.readonly_session(BRANCH).store, mode="r")
    except zarr.errors.GroupNotFoundError:
        return {}
    return dict(root.attrs.get(MONTHS_ATTRIBUTE, {}))


def _needs_rebuild(known: dict[str, dict[str, Any]], slices: list[MonthSlice]) -> bool:
    """True when a month must go before committed ones or changed its number of time steps
    (a repaired or added scene): appending cannot keep the time axis in order."""
    latest = max(known, default="")
    return any(
        (month.month in known and known[month.month]["count"] != len(month.times))
        or (month.month not in known and month.month < latest)
        for month in slices
    )


def _fill(repository: icechunk.Repository, slices: list[MonthSlice], tile: str) -> list[str]:
    """Create the cube's arrays if needed, then commit each month it lacks or whose COGs
    changed, one commit per month; return those months."""
    session = repository.writable_session(BRANCH)
    if "time" not in zarr.open_group(session.store):
        variables = tuple(slices[0].files[0])
        dataset, encoding = _template(variables, _grid(next(iter(slices[0].files[0].values()))))
        dataset.attrs[MONTHS_ATTRIBUTE] = {}
        dataset.to_zarr(session.store, encoding=encoding, consolidated=False, mode="w")
        session.commit(f"create the cube of tile {tile}")
    known = committed_months(repository)
    done = []
    for month in slices:
        if known.get(month.month, {}).get("fingerprint") == month.fingerprint():
            continue
        _commit_month(repository, month)
        done.append(month.month)
        log.info("cube of %s: month %s committed", tile, month.month)
    return done


def update_cube(settings: Settings, layout: Layout, tile: str) -> list[str]:
    """Commit every month the tile's cube lacks or whose COGs changed; return those months.

    A month that must go before committed ones, or that changed its number of scenes, makes
    the cube be rebuilt in time order beside the old one, which is then swapped out: readers
    see the old cube or the whole new one (for a moment, between two renames, none).
    """
    slices = month_slices(settings, layout, tile)
    path = layout.cube(tile)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh, old = path.with_name(f"{path.name}.rebuild"), path.with_name(f"{path.name}.old")
    for leftover in (fresh, old):  # of a run killed while rebuilding
        shutil.rmtree(leftover, ignore_errors=True)
    repository = _open_repository(path)
    if not slices:
        log.info("cube %s: no finished month yet", path)
        return []
    if not _needs_rebuild(committed_months(repository), slices):
        return _fill(repository, slices, tile)
    log.warning("cube %s: a month goes before committed ones or changed: rebuilt", path)
    done = _fill(_open_repository(fresh), slices, tile)
    os.rename(path, old)
    os.rename(fresh, path)
    shutil.rmtree(old)
    return done


def cube_group(path: Path) -> zarr.Group:
    """The cube's last committed state as a read-only Zarr group: the stored integer
    encodings with their CF attributes, for readers that pick their chunks themselves."""
    icechunk.set_logs_filter("icechunk=error")
    repository = icechunk.Repository.open(icechunk.local_filesystem_storage(str(path)))
    return zarr.open_group(repository.readonly_session(BRANCH).store, mode="r")


def open_cube(path: Path) -> xr.Dataset:
    """The cube's last committed state, decoded (what `xarray.open_zarr` gives a reader)."""
    repository = _open_repository(path)
    store = repository.readonly_session(BRANCH).store
    return xr.open_zarr(store, consolidated=False, chunks=None)
