"""The kill test's checks catch damaged products that `rio cogeo validate` passes.

A COG cut by one byte, with 64 flipped bytes or its second half zeroed keeps its header and
IFDs, so rio-cogeo (which reads only those) calls it valid. The kill test reads every block of
every band of every overview level, compares the pixels with the reference run's and checks
the item's `file:size`/`file:checksum`: each damage must fail those checks. Also: what a killed
atomic writer leaves is removed by the next write of the same file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rio_cogeo.cogeo import cog_validate

from raw2ready.archives.transfer.decode import decode_fully
from raw2ready.atomic import write_json
from raw2ready.errors import CorruptDownloadError
from raw2ready.products.registry import PRODUCTS
from raw2ready.raster.cog import COGOptions, COGWriter

from .conftest import PROJECT

sys.path.insert(0, str(PROJECT / "benchmarks"))

from kill_test import check_file, check_item_files


def cut_by_one_byte(path: Path) -> None:
    """The file loses its last byte."""
    path.write_bytes(path.read_bytes()[:-1])


def flip_64_bytes(path: Path) -> None:
    """64 bytes in the middle of the file (tile data) are inverted; the length stays."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))


def zero_second_half(path: Path) -> None:
    """The second half of the file is zeros; the length stays."""
    data = bytearray(path.read_bytes())
    half = len(data) // 2
    data[half:] = bytes(len(data) - half)
    path.write_bytes(bytes(data))


@pytest.fixture
def product(tmp_path: Path) -> Path:
    """An NDVI COG as the campaign writes it (ZSTD as in the demo config, 128 px tiles,
    three overview levels) of noisy values, so that its tiles fill most of the file."""
    spec = PRODUCTS["ndvi"]
    rng = np.random.default_rng(3)
    image = rng.integers(-3000, 3000, size=(521, 700)).astype(np.int16)
    grid = {
        "width": 700,
        "height": 521,
        "crs": rasterio.CRS.from_epsg(32647),
        "transform": Affine(10, 0, 500000, 0, -10, 1600000),
    }
    options = COGOptions(compression="ZSTD", level=1, blocksize=128)
    writer = COGWriter(tmp_path / "ndvi.tif", spec, grid, options, tmp_path / "scratch")
    writer.write(image)
    return writer.close()


def item_of(path: Path) -> dict:
    """A STAC item's asset for `path` with its size and sha2-256 multihash (hashlib)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    asset = {"href": path.name, "file:size": path.stat().st_size, "file:checksum": f"1220{digest}"}
    return {"assets": {"ndvi": asset}}


def test_the_undamaged_product_passes_every_check(product: Path, tmp_path: Path) -> None:
    reference = shutil.copy(product, tmp_path / "reference.tif")
    assert check_file(product, Path(reference)) is None
    check_item_files(item_of(product), product)


@pytest.mark.parametrize("damage", [cut_by_one_byte, flip_64_bytes, zero_second_half])
def test_each_damage_fails_the_checks_but_passes_rio_cogeo(
    product: Path, tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    reference = Path(shutil.copy(product, tmp_path / "reference.tif"))
    item = item_of(product)
    damage(product)

    valid, errors, _warnings = cog_validate(str(product), strict=True, quiet=True)
    assert valid, errors  # what `rio cogeo validate` says: the damage is invisible to it
    problem = check_file(product, reference)
    assert problem is not None and str(product) in problem
    with pytest.raises(ValueError, match=r"file:checksum|bytes, the item says"):
        check_item_files(item, product)


def test_a_damaged_overview_is_found_only_by_reading_the_overviews(product: Path) -> None:
    with rasterio.open(product, overview_level=2) as smallest:
        offset = int(smallest.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        size = int(smallest.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    with open(product, "r+b") as handle:
        handle.seek(offset)
        handle.write(bytes(size))

    decode_fully(product, "ndvi", overviews=False)  # every full-resolution block still reads
    with pytest.raises(CorruptDownloadError, match="ndvi: does not decode"):
        decode_fully(product, "ndvi", overviews=True)
    assert check_file(product) is not None


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path: Path) -> None:
    final = tmp_path / "catalog.json"
    left = []
    for prefix in (".catalog.", ".catalog.x.", ".catalog.json.proof."):  # this file's, others'
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=".json.partial", dir=tmp_path)
        os.close(handle)
        left.append(Path(name).name)

    write_json(final, {"id": "x"})

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["catalog.json", *left[1:]])
