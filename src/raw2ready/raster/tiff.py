"""TIFF structure at the byte level: tags, and the Cloud-Optimized GeoTIFF layout.

`COGWriter` (cog.py) compresses a product's tiles as they stream; `write_cog` then writes
the file in COG order (header, every IFD, then the tile data of the smallest overview first
and the full resolution last), copying the compressed tiles byte for byte. The tags that
describe the grid (GeoTIFF keys) and GDAL's metadata (scale, offset, description, nodata)
are read from a one-pixel GeoTIFF that GDAL writes (cog.py), so they are exactly GDAL's.
Little-endian classic TIFF and BigTIFF; BigTIFF is chosen when the file would not fit in
4 GiB.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Field types (TIFF 6.0 and BigTIFF) and their sizes in bytes.
BYTE, ASCII, SHORT, LONG, RATIONAL = 1, 2, 3, 4, 5
LONG8 = 16
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
              16: 8, 17: 8, 18: 8}  # fmt: skip
INTEGER_FORMATS = {BYTE: "B", SHORT: "H", LONG: "I", LONG8: "Q"}

NEW_SUBFILE_TYPE = 254
REDUCED_RESOLUTION = 1
TILE_OFFSETS = 324
TILE_BYTE_COUNTS = 325
#: Compression tag values (TIFF 6.0 Adobe Deflate; libtiff's ZSTD).
COMPRESSION = {"DEFLATE": 8, "ZSTD": 50000}
#: Tags taken from GDAL's one-pixel GeoTIFF: the GeoTIFF grid and GDAL's metadata.
GEOREFERENCING_TAGS = frozenset({33550, 33922, 34264, 34735, 34736, 34737, 42112, 42113})
GDAL_NODATA = 42113
#: PhotometricInterpretation (3: palette) and ColorMap, of a class product with colours.
PALETTE_TAGS = frozenset({262, 320})
#: What overviews repeat of the full-resolution level's GDAL tags.
OVERVIEW_TAGS = PALETTE_TAGS | {GDAL_NODATA}
#: SampleFormat per numpy kind: unsigned, signed integer, floating point.
SAMPLE_FORMATS = {"u": 1, "i": 2, "f": 3}

CLASSIC_LIMIT = 2**32 - 1


@dataclass(frozen=True)
class Tag:
    """One IFD entry: its field type, value count and little-endian value bytes."""

    type: int
    count: int
    data: bytes

    @classmethod
    def integers(cls, field_type: int, values: list[int] | tuple[int, ...]) -> Tag:
        """An entry of unsigned integers of one of the types in INTEGER_FORMATS."""
        fmt = f"<{len(values)}{INTEGER_FORMATS[field_type]}"
        return cls(field_type, len(values), struct.pack(fmt, *values))

    def values(self) -> tuple[int, ...]:
        """The values of an unsigned-integer entry."""
        return struct.unpack(f"<{self.count}{INTEGER_FORMATS[self.type]}", self.data)


@dataclass(frozen=True)
class Image:
    """One image (a resolution level) to write: its tags and where its tiles' bytes are."""

    tags: dict[int, Tag]
    source: Path
    offsets: tuple[int, ...]
    sizes: tuple[int, ...]


def read_ifd(path: Path) -> dict[int, Tag]:
    """The tags of the first IFD of a little-endian TIFF or BigTIFF file."""
    with open(path, "rb") as handle:
        header = handle.read(16)
        if header[:2] != b"II":
            raise ValueError(f"{path}: not a little-endian TIFF")
        big = struct.unpack_from("<H", header, 2)[0] == 43
        entry, count_fmt, value_fmt, inline = (
            (20, "<Q", "<HHQ", 8) if big else (12, "<H", "<HHI", 4)
        )
        offset = struct.unpack_from("<Q" if big else "<I", header, 8 if big else 4)[0]
        handle.seek(offset)
        count = struct.unpack(count_fmt, handle.read(struct.calcsize(count_fmt)))[0]
        raw = handle.read(entry * count)
        tags: dict[int, Tag] = {}
        for index in range(count):
            code, field_type, values = struct.unpack_from(value_fmt, raw, index * entry)
            size = TYPE_SIZES[field_type] * values
            position = index * entry + struct.calcsize(value_fmt)
            if size <= inline:
                data = raw[position : position + size]
            else:
                handle.seek(struct.unpack_from("<Q" if big else "<I", raw, position)[0])
                data = handle.read(size)
            tags[code] = Tag(field_type, values, data)
    return tags


def structural_tags(
    width: int, height: int, blocksize: int, dtype: str, compression: str, predictor: bool
) -> dict[int, Tag]:
    """The tags of one tiled, single-band level (tile offsets and sizes come later)."""
    kind = np.dtype(dtype)
    tags = {
        256: Tag.integers(LONG, [width]),
        257: Tag.integers(LONG, [height]),
        258: Tag.integers(SHORT, [kind.itemsize * 8]),
        259: Tag.integers(SHORT, [COMPRESSION[compression]]),
        262: Tag.integers(SHORT, [1]),  # min-is-black
        277: Tag.integers(SHORT, [1]),
        284: Tag.integers(SHORT, [1]),  # contiguous
        322: Tag.integers(LONG, [blocksize]),
        323: Tag.integers(LONG, [blocksize]),
        339: Tag.integers(SHORT, [SAMPLE_FORMATS[kind.kind]]),
    }
    if predictor:
        tags[317] = Tag.integers(SHORT, [2])  # horizontal differencing
    return tags


def ghost_header() -> bytes:
    """GDAL's structural metadata block, declaring the layout this module writes."""
    options = "LAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nKNOWN_INCOMPATIBLE_EDITION=NO\n "
    return f"GDAL_STRUCTURAL_METADATA_SIZE={len(options):06d} bytes\n{options}".encode("ascii")


class _Layout:
    """Byte sizes of the IFDs of one format (classic TIFF or BigTIFF)."""

    def __init__(self, big: bool) -> None:
        self.big = big
        self.header = 16 if big else 8
        self.entry = 20 if big else 12
        self.counts = 8 if big else 2
        self.next = 8 if big else 4
        self.inline = 8 if big else 4
        self.offset_type = LONG8 if big else LONG

    def out_of_line(self, tag: Tag) -> int:
        """Bytes a tag's value takes after the IFD (0 when it fits in the entry), even."""
        size = len(tag.data)
        return 0 if size <= self.inline else size + size % 2

    def ifd_size(self, tags: dict[int, Tag]) -> int:
        """The IFD and its out-of-line values."""
        fixed = self.counts + self.entry * len(tags) + self.next
        return fixed + sum(self.out_of_line(tag) for tag in tags.values())


def _with_placeholders(image: Image, layout: _Layout, overview: bool) -> dict[int, Tag]:
    """An image's tags with tile offsets/counts (zeros for now) in the layout's integer type."""
    tags = dict(image.tags)
    if overview:
        tags[NEW_SUBFILE_TYPE] = Tag.integers(LONG, [REDUCED_RESOLUTION])
    zeros = [0] * len(image.offsets)
    tags[TILE_OFFSETS] = Tag.integers(layout.offset_type, zeros)
    tags[TILE_BYTE_COUNTS] = Tag.integers(layout.offset_type, zeros)
    return tags


def _plan(images: list[Image], big: bool) -> tuple[list[dict[int, Tag]], list[int], int]:
    """Tags (with final tile offsets) and IFD offsets of every image; the file size."""
    layout = _Layout(big)
    tag_sets = [_with_placeholders(image, layout, index > 0) for index, image in enumerate(images)]
    position = layout.header + len(ghost_header())
    ifd_offsets = []
    for tags in tag_sets:
        position += position % 2
        ifd_offsets.append(position)
        position += layout.ifd_size(tags)
    for index in reversed(range(len(images))):
        offsets = []
        for size in images[index].sizes:
            offsets.append(position)
            position += size
        tag_sets[index][TILE_OFFSETS] = Tag.integers(layout.offset_type, offsets)
        tag_sets[index][TILE_BYTE_COUNTS] = Tag.integers(layout.offset_type, images[index].sizes)
    return tag_sets, ifd_offsets, position


def _ifd_bytes(tags: dict[int, Tag], start: int, next_ifd: int, layout: _Layout) -> bytes:
    """One IFD (entries sorted by tag) followed by its out-of-line values."""
    entries = [struct.pack("<Q" if layout.big else "<H", len(tags))]
    extra = []
    extra_position = start + layout.ifd_size({code: Tag(1, 0, b"") for code in tags})
    for code in sorted(tags):
        tag = tags[code]
        head = struct.pack("<HHQ" if layout.big else "<HHI", code, tag.type, tag.count)
        if len(tag.data) <= layout.inline:
            value = tag.data.ljust(layout.inline, b"\0")
        else:
            value = struct.pack("<Q" if layout.big else "<I", extra_position)
            padded = tag.data + b"\0" * (len(tag.data) % 2)
            extra.append(padded)
            extra_position += len(padded)
        entries.append(head + value)
    entries.append(struct.pack("<Q" if layout.big else "<I", next_ifd))
    return b"".join(entries) + b"".join(extra)


def _ranges(image: Image) -> Iterator[tuple[int, int]]:
    """(offset, size) of the image's tile bytes in its source, adjacent tiles merged."""
    start = end = -1
    for offset, size in zip(image.offsets, image.sizes, strict=True):
        if size == 0:
            continue
        if offset != end:
            if end > start:
                yield start, end - start
            start = offset
        end = offset + size
    if end > start:
        yield start, end - start


def _copy(source: int, target: int, offset: int, size: int) -> None:
    """Append `size` bytes from `offset` in `source` to `target`, in the kernel if it can."""
    while size > 0:
        try:
            done = os.copy_file_range(source, target, size, offset)
        except OSError:  # e.g. a file system without copy_file_range: copy through memory
            done = os.write(target, os.pread(source, min(size, 1 << 24), offset))
        if done == 0:
            raise OSError(f"unexpected end of data copying {size} bytes at {offset}")
        offset += done
        size -= done


def write_cog(path: Path, images: list[Image]) -> None:
    """Write `images` (full resolution first, then ever smaller overviews) as a COG.

    Every IFD comes first, after GDAL's ghost header; then the tile data, the smallest
    overview's first, each level's tiles in row-major order.
    """
    tag_sets, ifd_offsets, size = _plan(images, big=False)
    big = size > CLASSIC_LIMIT
    if big:
        tag_sets, ifd_offsets, size = _plan(images, big=True)
    layout = _Layout(big)
    if big:
        header = b"II" + struct.pack("<HHHQ", 43, 8, 0, ifd_offsets[0])
    else:
        header = b"II" + struct.pack("<HI", 42, ifd_offsets[0])
    with open(path, "wb", buffering=0) as target:
        target.write(header + ghost_header())
        for index, tags in enumerate(tag_sets):
            target.write(b"\0" * (ifd_offsets[index] - target.tell()))
            following = ifd_offsets[index + 1] if index + 1 < len(tag_sets) else 0
            target.write(_ifd_bytes(tags, ifd_offsets[index], following, layout))
        for image in reversed(images):
            with open(image.source, "rb", buffering=0) as source:
                for offset, length in _ranges(image):
                    _copy(source.fileno(), target.fileno(), offset, length)
        written = target.tell()
    if written != size:
        raise OSError(f"{path}: wrote {written} bytes, planned {size}")
