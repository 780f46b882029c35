"""The last proof of a fetched raster: every block of every band decodes.

Flipped bytes inside compressed blocks, a truncated JPEG 2000 codestream or an HTML error page
served with HTTP 200 pass a length check; GDAL finds them only when it decodes each block.
A raster is read once, block by block (the file's own tiling or strips), before a scene uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from raw2ready.errors import CorruptDownloadError

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

#: File name suffixes of the rasters the archives serve (band files); others are not decoded.
RASTER_SUFFIXES = frozenset({".tif", ".tiff", ".jp2"})


def is_raster(path: Path) -> bool:
    """True for band files a full decode can prove (GeoTIFF, JPEG 2000)."""
    return path.suffix.lower() in RASTER_SUFFIXES


def decode_fully(path: Path, shown: str, overviews: bool = False) -> str:
    """Read every block of every band of a raster (and of every overview level with
    `overviews`, for checking products); CorruptDownloadError if any fails."""
    import rasterio
    from rasterio.errors import RasterioError

    blocks = 0
    try:
        with rasterio.Env(GDAL_CACHEMAX=64):
            with rasterio.open(path) as dataset:
                levels = len(dataset.overviews(1)) if overviews else 0
                blocks += _read_every_block(dataset)
            for level in range(levels):
                with rasterio.open(path, overview_level=level) as overview:
                    blocks += _read_every_block(overview)
    except RasterioError as exc:
        raise CorruptDownloadError(f"{shown}: does not decode ({read_failure(exc, path)})") from exc
    return f"full decode ({blocks} blocks)"


def _read_every_block(dataset: DatasetReader) -> int:
    """Read each block of each band of an open dataset once; returns how many."""
    blocks = 0
    for band in dataset.indexes:
        for _index, window in dataset.block_windows(band):
            dataset.read(band, window=window)
            blocks += 1
    return blocks


def read_failure(error: BaseException, path: Path | None = None) -> str:
    """GDAL's own words for a failed read, on one line: where it failed and, when GDAL chained
    it, the codec's reason (rasterio's outer message only says to look at the chain). `path`,
    if given, is named "the file" (the message names it already)."""
    messages = []
    current: BaseException | None = error
    while current is not None:
        text = str(current)
        if path is not None:
            text = text.replace(str(path), "the file").replace(path.name, "the file")
        text = " ".join(text.split())
        if text and "see previous exception" not in text.lower() and text not in messages:
            messages.append(text)
        current = current.__cause__ or current.__context__
    if not messages:
        return type(error).__name__
    if len(messages) == 1:
        return messages[0]
    return f"{messages[0]}: {messages[-1]}"
