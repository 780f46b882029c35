"""Overview pyramids computed while a product streams through, one block of rows at a time.

Each level halves the one above it: 2 x 2 pixels become one, and an odd last row or column
is dropped, which gives GDAL's overview sizes (width >> k, height >> k). Continuous products
take the mean of their valid pixels (GDAL's AVERAGE with nodata excluded, rounded half up);
class products take the most frequent valid class (GDAL's MODE). Reducing the rows already
in memory spares GDAL's overview pass, which re-reads the whole full-resolution product and
was the costliest step of writing a COG (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Rows reduced per step: small enough for the temporaries to stay in the CPU cache.
CHUNK_ROWS = 32

Reducer = Callable[[np.ndarray, int], np.ndarray]
Sink = Callable[[int, np.ndarray], None]


def overview_shapes(width: int, height: int, blocksize: int) -> list[tuple[int, int]]:
    """(width, height) of each level, halving until both fit in one block (as GDAL's COG)."""
    shapes: list[tuple[int, int]] = []
    while (width > blocksize or height > blocksize) and min(width, height) >= 2:
        width, height = width // 2, height // 2
        shapes.append((width, height))
    return shapes


def _quadrants(block: np.ndarray) -> tuple[np.ndarray, ...]:
    """The four pixels of every 2 x 2 cell as contiguous arrays (the block has even rows)."""
    even = block.shape[1] - block.shape[1] % 2
    top, bottom = block[0::2, :even], block[1::2, :even]
    return tuple(
        np.ascontiguousarray(half[:, column::2]) for half in (top, bottom) for column in (0, 1)
    )


def average_2x2(block: np.ndarray, nodata: int) -> np.ndarray:
    """Mean of the valid pixels of each 2 x 2 cell, rounded half up; nodata if none is valid.

    Integer sums over row pairs first (contiguous, vectorized), then over column pairs.
    """
    even = block.shape[1] - block.shape[1] % 2
    top, bottom = block[0::2, :even], block[1::2, :even]
    pairs = top.astype(np.int32)
    pairs += bottom
    missing_pairs = np.equal(top, nodata).view(np.uint8)
    missing_pairs += np.equal(bottom, nodata).view(np.uint8)
    total = np.add(pairs[:, 0::2], pairs[:, 1::2])
    missing = np.add(missing_pairs[:, 0::2], missing_pairs[:, 1::2])
    if not missing.any():
        total += 2
        np.right_shift(total, 2, out=total)  # floor((total + 2) / 4)
        return total.astype(block.dtype)
    total -= missing * np.int32(nodata)  # take the nodata values back out of the sums
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.divide(total, np.subtract(4, missing, dtype=np.float32), dtype=np.float32)
    mean += np.float32(0.5)
    np.floor(mean, out=mean)
    result = np.full(mean.shape, nodata, dtype=block.dtype)
    with np.errstate(invalid="ignore"):
        np.copyto(result, mean, casting="unsafe", where=missing < 4)
    return result


def nearest_2x2(block: np.ndarray, _nodata: int) -> np.ndarray:
    """The top-left pixel of each 2 x 2 cell (GDAL's NEAREST picks one pixel too)."""
    return np.ascontiguousarray(block[0::2, 0 : block.shape[1] - block.shape[1] % 2 : 2])


def _uniform_cells(block: np.ndarray, nodata: int) -> np.ndarray | None:
    """Each cell's value when all valid pixels of every cell agree (else None).

    Cheap, from row pairs, for unsigned codes whose nodata is the dtype's maximum: the cell
    minimum skips nodata, and adding one wraps nodata below every valid value for the
    maximum. The mask's first level is such a case: its codes come from 20 m SCL pixels
    that cover whole 2 x 2 cells.
    """
    if nodata != np.iinfo(block.dtype).max or np.iinfo(block.dtype).min != 0:
        return None
    even = block.shape[1] - block.shape[1] % 2
    top, bottom = block[0::2, :even], block[1::2, :even]
    low_pairs = np.minimum(top, bottom)
    low = np.minimum(low_pairs[:, 0::2], low_pairs[:, 1::2])
    high_pairs = np.maximum(np.add(top, 1, dtype=block.dtype), np.add(bottom, 1, dtype=block.dtype))
    high = np.maximum(high_pairs[:, 0::2], high_pairs[:, 1::2])
    high -= 1  # wraps back: nodata where the whole cell is nodata
    return low if np.array_equal(low, high) else None


def mode_2x2(block: np.ndarray, nodata: int) -> np.ndarray:
    """Most frequent valid class of each 2 x 2 cell (ties: the first of them); nodata if none.

    With four pixels, the first one that equals a later valid one has the highest count.
    """
    uniform = _uniform_cells(block, nodata)
    if uniform is not None:
        return uniform
    a, b, c, d = _quadrants(block)
    valid_a, valid_b, valid_c = a != nodata, b != nodata, c != nodata
    first_valid = np.where(valid_a, a, np.where(valid_b, b, np.where(valid_c, c, d)))
    a_wins = valid_a & ((a == b) | (a == c) | (a == d))
    b_wins = valid_b & ((b == c) | (b == d))
    c_wins = valid_c & (c == d)
    return np.where(a_wins, a, np.where(b_wins, b, np.where(c_wins, c, first_valid)))


class Pyramid:
    """Feeds rows of the full-resolution image through every overview level.

    `sink(level, rows)` receives each level's rows in order (level 1 is half resolution).
    Rows may arrive in blocks of any height: an odd leftover row waits for the next block.
    """

    def __init__(self, levels: int, reduce: Reducer, nodata: int, sink: Sink) -> None:
        """`levels` overviews below the full resolution, each made by `reduce`."""
        self.levels = levels
        self.reduce = reduce
        self.nodata = nodata
        self.sink = sink
        self._pending: list[np.ndarray | None] = [None] * levels

    def add(self, rows: np.ndarray) -> None:
        """Reduce a block of full-resolution rows into every level."""
        self._add(0, rows)

    def _add(self, level: int, rows: np.ndarray) -> None:
        if level >= self.levels or rows.shape[0] == 0:
            return
        pending = self._pending[level]
        if pending is not None:
            rows = np.concatenate([pending, rows])
        usable = rows.shape[0] - rows.shape[0] % 2
        self._pending[level] = rows[usable:].copy() if usable < rows.shape[0] else None
        if usable == 0:
            return
        reduced = np.concatenate(
            [
                self.reduce(rows[top : min(usable, top + CHUNK_ROWS)], self.nodata)
                for top in range(0, usable, CHUNK_ROWS)
            ]
        )
        self.sink(level + 1, reduced)
        self._add(level + 1, reduced)
