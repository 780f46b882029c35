"""Seeded random fields for the demo's synthetic landscape and sky.

Every component (landscape, season, atmosphere, view) draws from its own generator, seeded by
the archive seed plus keys, so changing one never shifts another and a seed gives one archive.
"""

from __future__ import annotations

import numpy as np


def seeded_rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A generator seeded by the archive seed plus keys, so each component is independent."""
    words = [seed] + [
        k if isinstance(k, int) else int.from_bytes(k.encode(), "little") for k in keys
    ]
    return np.random.default_rng(words)


def value_noise(
    rng: np.random.Generator, shape: tuple[int, int], cell: tuple[float, float]
) -> np.ndarray:
    """Smooth random field in [0, 1]: random values on a coarse lattice, smoothstep-interpolated."""
    height, width = shape
    lattice = rng.random((int(height / cell[0]) + 2, int(width / cell[1]) + 2), dtype=np.float32)
    y = np.arange(height, dtype=np.float32) / np.float32(cell[0])
    x = np.arange(width, dtype=np.float32) / np.float32(cell[1])
    y0, x0 = y.astype(np.intp), x.astype(np.intp)
    ty, tx = y - y0, x - x0
    ty, tx = ty * ty * (3 - 2 * ty), tx * tx * (3 - 2 * tx)
    top = lattice[y0][:, x0] * (1 - tx) + lattice[y0][:, x0 + 1] * tx
    bottom = lattice[y0 + 1][:, x0] * (1 - tx) + lattice[y0 + 1][:, x0 + 1] * tx
    return top * (1 - ty[:, None]) + bottom * ty[:, None]


def fractal_noise(
    rng: np.random.Generator, shape: tuple[int, int], cell: tuple[float, float], octaves: int
) -> np.ndarray:
    """Sum of value-noise octaves (halving cell size and amplitude), normalised to [0, 1]."""
    total = np.zeros(shape, np.float32)
    for octave in range(octaves):
        scale = 2.0**octave
        total += value_noise(rng, shape, (cell[0] / scale, cell[1] / scale)) / np.float32(scale)
    return total / np.float32(sum(1 / 2.0**octave for octave in range(octaves)))
