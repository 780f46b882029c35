"""Sentinel-2 SAFE products: archive checks that never trust the zip, safe extraction,
metadata parsing into the canonical scene record, and locating the JP2 bands.

An archive is checked in one streaming pass: member names first (no absolute paths, no
`..`, nothing outside the one `*.SAFE` folder, no links leaving it), then every member is
read to its end, which makes zipfile verify its CRC-32 (what `ZipFile.testzip` does), while
the members `manifest.safe` lists are hashed against their recorded size and checksum in
the same read. Extraction writes into a temporary folder beside the destination and
renames the product into place only when the whole pass succeeded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import shutil
import stat
import tempfile
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from raw2ready.errors import ArchiveError, GridError, ItemError, ProcessingError
from raw2ready.grid import parse_tile
from raw2ready.scene import BOA_ADD_OFFSET, BOA_QUANTIFICATION, BandAsset, SceneRecord
from raw2ready.sentinel2.angles import AngleGrids, SunView, from_tile_metadata
from raw2ready.sentinel2.bands import BAND_ORDER, NATIVE_RESOLUTION
from raw2ready.sentinel2.baseline import decide_boa_offset, parse_baseline

log = logging.getLogger(__name__)

MANIFEST = "manifest.safe"
#: Key of a scene record's SAFE zip in `bands` (scenes from a safe_folder archive).
SAFE_ASSET = "SAFE"
TILE_METADATA = "MTD_TL.xml"
#: `MTD_MSIL1C.xml` / `MTD_MSIL2A.xml` (some mirrors write `MTD_MSIL2a.xml`).
_PRODUCT_METADATA = re.compile(r"^MTD_MSIL(1C|2A)\.xml$", re.IGNORECASE)
#: `..._B04_10m` (L2A) or `..._B04` (L1C) at the end of an IMAGE_FILE entry.
_IMAGE_BAND = re.compile(r"_(B\d[\dA]|SCL)(?:_(\d{2})m)?$")
_TILE_IN_NAME = re.compile(r"_T(\d{2}[A-Z]{3})(?:_|$)")
_PRODUCT_NAME = re.compile(
    r"^(?P<mission>S2[A-D])_MSIL(?:1C|2A)_(?P<sensing>\d{8}T\d{6})_N\d{4}_"
    r"(?P<orbit>R\d{3})_(?P<tile>T\d{2}[A-Z]{3})_\d{8}T\d{6}$"
)
_CHUNK = 1 << 20
_MAX_LINK = 4096
#: manifest.safe checksum names -> hashlib constructors.
_HASHES: dict[str, Callable[[], Any]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA256": hashlib.sha256,
    "SHA3-256": hashlib.sha3_256,
}


# --------------------------------------------------------------------------- archive checks


@dataclass(frozen=True)
class ManifestEntry:
    """What manifest.safe records for one file of the product."""

    size: int | None
    algorithm: str | None
    digest: str | None


@dataclass(frozen=True)
class ArchiveReport:
    """The outcome of a sound archive check."""

    path: Path
    product: str
    members: int
    uncompressed_bytes: int
    verified: int
    algorithms: tuple[str, ...]

    def summary(self) -> str:
        """One line for users."""
        checked = (
            f"{self.verified} file(s) match manifest.safe ({', '.join(self.algorithms)})"
            if self.verified
            else "no manifest.safe checksums to verify"
        )
        return (
            f"{self.path.name}: sound ({self.product}, {self.members} members, "
            f"{self.uncompressed_bytes / 1e6:.1f} MB, CRC-32 of every member verified, {checked})"
        )


@dataclass(frozen=True)
class _Plan:
    """The checked member list of an archive: product root, files, in-product links."""

    root: str
    files: list[zipfile.ZipInfo]
    links: dict[str, str] = field(default_factory=dict)


def _reject(archive: Path, reason: str) -> ArchiveError:
    """An ArchiveError naming the archive."""
    return ArchiveError(f"{archive.name}: {reason}")


def _is_link(info: zipfile.ZipInfo) -> bool:
    """True for a member stored as a Unix symbolic link."""
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _is_special(info: zipfile.ZipInfo) -> bool:
    """True for device, FIFO or socket members (never part of a product)."""
    mode = info.external_attr >> 16
    return info.create_system == 3 and (
        stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
    )


def _member_parts(archive: Path, name: str) -> list[str]:
    """The path components of a member name, rejecting anything that could leave the folder."""
    if "\\" in name or "\x00" in name:
        raise _reject(archive, f"member '{name}' has a backslash or NUL in its name")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _reject(archive, f"member '{name}' has an absolute path (zip-slip)")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _reject(archive, f"member '{name}' has a '..' component (zip-slip)")
    if not parts:
        raise _reject(archive, f"member '{name}' has an empty name")
    return parts


def _plan(archive: Path, zf: zipfile.ZipFile) -> _Plan:
    """Check every member name and link of an archive before anything is read or written."""
    infos = zf.infolist()
    if not infos:
        raise _reject(archive, "the archive is empty")
    roots = {_member_parts(archive, info.filename)[0] for info in infos}
    if len(roots) != 1 or not next(iter(roots)).upper().endswith(".SAFE"):
        raise _reject(
            archive,
            "expected exactly one top-level '*.SAFE' folder, found " + ", ".join(sorted(roots)[:5]),
        )
    root = roots.pop()
    seen: set[str] = set()
    files: list[zipfile.ZipInfo] = []
    links: dict[str, str] = {}
    for info in infos:
        relative = "/".join(_member_parts(archive, info.filename))
        if relative in seen:
            raise _reject(archive, f"member '{info.filename}' appears twice")
        seen.add(relative)
        if info.flag_bits & 0x1:
            raise _reject(archive, f"member '{info.filename}' is encrypted")
        if _is_special(info):
            raise _reject(archive, f"member '{info.filename}' is a device, FIFO or socket")
        if _is_link(info):
            if info.file_size > _MAX_LINK:
                raise _reject(archive, f"member '{info.filename}' is a link with a huge target")
            target = zf.read(info).decode("utf-8", "replace")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(relative), target))
            if target.startswith("/") or not (resolved == root or resolved.startswith(root + "/")):
                raise _reject(
                    archive,
                    f"member '{info.filename}' is a link to '{target}', outside the product",
                )
            links[relative] = target
        elif not info.is_dir():
            files.append(info)
    return _Plan(root, files, links)


def parse_xml(data: bytes, source: str) -> ET.Element:
    """Parse product XML; a DTD (the vehicle of entity-expansion attacks) is refused."""
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:4096]:
        raise ArchiveError(f"{source}: XML with a DTD or entities is not SAFE metadata")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise ArchiveError(f"{source}: not well-formed XML ({exc})") from exc


def _local(tag: str) -> str:
    """An element's tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def parse_manifest(data: bytes, source: str) -> dict[str, ManifestEntry]:
    """Files listed in manifest.safe (paths relative to the product folder) with checksums."""
    entries: dict[str, ManifestEntry] = {}
    for element in parse_xml(data, source).iter():
        if _local(element.tag) != "byteStream":
            continue
        location = next((c for c in element if _local(c.tag) == "fileLocation"), None)
        if location is None or not location.get("href"):
            continue
        href = posixpath.normpath(location.get("href", "").removeprefix("./"))
        checksum = next((c for c in element if _local(c.tag) == "checksum"), None)
        size = element.get("size")
        entries[href] = ManifestEntry(
            size=int(size) if size and size.isdigit() else None,
            algorithm=checksum.get("checksumName", "").upper() if checksum is not None else None,
            digest=(checksum.text or "").strip().lower() if checksum is not None else None,
        )
    return entries


def _open(archive: Path) -> zipfile.ZipFile:
    """Open a zip archive, or say clearly that it is missing, truncated or corrupt."""
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such file")
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _reject(archive, f"not a readable zip archive, truncated or corrupt ({exc})") from exc


def _copy_member(
    archive: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, hasher: Any, sink: IO[bytes] | None
) -> int:
    """Read one member to its end (zipfile checks CRC-32 there); feed hasher and sink."""
    read = 0
    try:
        with zf.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                read += len(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                if sink is not None:
                    sink.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise _reject(archive, f"member '{info.filename}' is corrupt ({exc})") from exc
    return read


def _scan(archive: Path, target: Path | None) -> ArchiveReport:
    """The one pass: names, CRC-32 of every member, manifest checksums; optionally extract."""
    with _open(archive) as zf:
        plan = _plan(archive, zf)
        by_path = {"/".join(_member_parts(archive, i.filename)[1:]): i for i in plan.files}
        if target is not None:
            needed = sum(info.file_size for info in plan.files)
            free = shutil.disk_usage(target).free
            if needed > free:
                raise _reject(
                    archive, f"needs {needed / 1e9:.2f} GB to extract, {free / 1e9:.2f} GB free"
                )
        manifest: dict[str, ManifestEntry] = {}
        if MANIFEST in by_path:
            manifest = parse_manifest(zf.read(by_path[MANIFEST]), f"{archive.name}:{MANIFEST}")
        missing = sorted(set(manifest) - set(by_path))
        if missing:
            raise _reject(archive, f"manifest.safe lists '{missing[0]}' but the archive lacks it")
        verified = 0
        algorithms: set[str] = set()
        total = 0
        for relative, info in by_path.items():
            entry = manifest.get(relative)
            make = _HASHES.get(entry.algorithm or "") if entry and entry.digest else None
            if entry and entry.digest and make is None:
                log.warning(
                    "%s: %s has an unknown checksum '%s'", archive.name, relative, entry.algorithm
                )
            hasher = make() if make else None
            if target is None:
                read = _copy_member(archive, zf, info, hasher, None)
            else:
                destination = target.joinpath(plan.root, *relative.split("/"))
                try:
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    sink = destination.open("wb")
                except OSError as exc:
                    reason = f"member '{info.filename}' cannot be written ({exc})"
                    raise _reject(archive, reason) from exc
                with sink:
                    read = _copy_member(archive, zf, info, hasher, sink)
            total += read
            if entry and entry.size is not None and entry.size != read:
                raise _reject(
                    archive, f"'{relative}' has {read} bytes, manifest.safe says {entry.size}"
                )
            if hasher is not None and entry is not None:
                actual = hasher.hexdigest()
                if actual != entry.digest:
                    raise _reject(
                        archive,
                        f"'{relative}' fails its manifest.safe {entry.algorithm} checksum "
                        f"(expected {entry.digest}, got {actual})",
                    )
                verified += 1
                algorithms.add(str(entry.algorithm))
        if target is not None:
            for relative, link_target in plan.links.items():
                link = target.joinpath(*relative.split("/"))
                try:
                    link.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(link_target, link)
                except OSError as exc:
                    raise _reject(archive, f"link '{relative}' cannot be created ({exc})") from exc
    return ArchiveReport(
        archive, plan.root, len(zf.infolist()), total, verified, tuple(sorted(algorithms))
    )


def check_archive(archive: Path) -> ArchiveReport:
    """Run every integrity and safety check on a SAFE zip without writing anything."""
    report = _scan(Path(archive), None)
    log.info("%s", report.summary())
    return report


def extract_safe(archive: Path, destination: Path) -> Path:
    """Check and extract a SAFE zip; return `destination/NAME.SAFE` (only ever complete)."""
    archive, destination = Path(archive), Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=".extract-", dir=destination))
    try:
        report = _scan(archive, temporary)
        final = destination / report.product
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary / report.product, final)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    log.info("extracted %s", final)
    return final


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class Angles:
    """A mean zenith/azimuth pair in degrees."""

    zenith: float
    azimuth: float


@dataclass(frozen=True)
class SafeMetadata:
    """What MTD_MSIL1C/MTD_MSIL2A.xml and MTD_TL.xml say about a product."""

    product_id: str
    level: str
    processing_baseline: str
    sensing_time: datetime
    platform: str
    tile: str
    cloud_cover: float | None
    quantification: float | None
    add_offsets: dict[str, int]
    image_files: dict[str, str]
    image_suffix: str
    epsg: int | None = None
    sun_angles: Angles | None = None
    view_angles: dict[str, Angles] = field(default_factory=dict)
    #: The 5 km sun and view angle grids of MTD_TL.xml (None without them).
    angle_grids: AngleGrids | None = None

    def sun_view(self, bands: Iterable[str]) -> SunView | None:
        """The mean sun angles and the viewing angles averaged over `bands` (MTD_TL.xml);
        None when the tile metadata gives no angles."""
        if self.sun_angles is None or not self.view_angles:
            return None
        views = {band: (angles.zenith, angles.azimuth) for band, angles in self.view_angles.items()}
        sun = (self.sun_angles.zenith, self.sun_angles.azimuth)
        return from_tile_metadata(sun, views, bands)

    @property
    def applies_offset(self) -> bool:
        """True when the DNs carry the +1000 offset that must be subtracted."""
        return any(self.add_offsets.values())

    def check_radiometry(self) -> None:
        """Refuse encodings the processing cannot represent (other offsets or quantification)."""
        if self.quantification is not None and self.quantification != BOA_QUANTIFICATION:
            raise ItemError(
                f"{self.product_id}: quantification value {self.quantification:g}; raw2ready "
                f"supports {BOA_QUANTIFICATION:g}"
            )
        odd = {
            band: value
            for band, value in self.add_offsets.items()
            if value not in (0, BOA_ADD_OFFSET)
        }
        if odd:
            band, value = sorted(odd.items())[0]
            raise ItemError(
                f"{self.product_id}: add offset {value} for {band}; raw2ready supports "
                f"{BOA_ADD_OFFSET} or none"
            )
        expected = decide_boa_offset(self.processing_baseline, None)
        if expected != self.applies_offset:
            log.warning(
                "%s: baseline %s implies offset=%s but the metadata lists offset=%s; "
                "following the metadata",
                self.product_id, self.processing_baseline, expected, self.applies_offset,
            )  # fmt: skip

    def band_paths(self, product_dir: Path) -> dict[str, Path]:
        """Canonical band id -> image file inside an extracted product (JP2, or GeoTIFF)."""
        paths: dict[str, Path] = {}
        for band, stem in self.image_files.items():
            candidates = [
                product_dir / f"{stem}{suffix}" for suffix in (self.image_suffix, ".jp2", ".tif")
            ]
            found = next((path for path in candidates if path.is_file()), None)
            if found is None:
                raise ProcessingError(f"{self.product_id}: band {band} image {stem}.* is missing")
            paths[band] = found
        return paths

    def scene_record(self, source_href: str, bands: dict[str, BandAsset]) -> SceneRecord:
        """The canonical scene record of this product."""
        self.check_radiometry()
        return SceneRecord(
            id=self.product_id,
            tile=self.tile,
            datetime=self.sensing_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            platform=self.platform,
            processing_baseline=self.processing_baseline,
            apply_boa_offset=self.applies_offset,
            cloud_cover=self.cloud_cover,
            collection=f"sentinel-2-{self.level.lower()}",
            source_href=source_href,
            bands=bands,
        )


def acquisition(product_id: str) -> tuple[str, str, str, str]:
    """(mission, sensing time, relative orbit, tile): what an L1C and its L2A share."""
    match = _PRODUCT_NAME.match(product_id.removesuffix(".SAFE"))
    if not match:
        raise ItemError(f"'{product_id}' is not a Sentinel-2 L1C/L2A product name")
    return match["mission"], match["sensing"], match["orbit"], match["tile"]


def one_per_acquisition(records: Iterable[SceneRecord]) -> list[SceneRecord]:
    """The product serving each acquisition: its L2A over its L1C (Sen2Cor is then never
    needed), and among several of a level the latest processing; in date order."""
    chosen: dict[tuple[str, str, str, str], SceneRecord] = {}
    for record in records:
        key = acquisition(record.id)
        current = chosen.get(key)
        if current is None or _rank(record) > _rank(current):
            chosen[key] = record
    return sorted(chosen.values(), key=lambda r: (r.datetime, r.id))


def _rank(record: SceneRecord) -> tuple[bool, str]:
    """L2A first, then the product name (the baseline and generation time sort in it)."""
    return record.collection.endswith("-l2a"), record.id


def _elements(root: ET.Element, name: str) -> Iterator[ET.Element]:
    """All elements with a local tag name, in document order."""
    return (element for element in root.iter() if _local(element.tag) == name)


def _text(root: ET.Element, name: str) -> str | None:
    """Text of the first element with a local tag name, stripped."""
    element = next(_elements(root, name), None)
    return element.text.strip() if element is not None and element.text else None


def _band_names(root: ET.Element) -> dict[str, str]:
    """bandId -> canonical band id, from Spectral_Information (ESA order when absent)."""
    names = {str(index): band for index, band in enumerate(BAND_ORDER)}
    for element in _elements(root, "Spectral_Information"):
        physical = element.get("physicalBand", "")
        match = re.fullmatch(r"B(\d{1,2})(A?)", physical)
        if element.get("bandId") is not None and match:
            number, suffix = int(match.group(1)), match.group(2)
            names[str(element.get("bandId"))] = f"B{number}A" if suffix else f"B{number:02d}"
    return names


def _image_files(root: ET.Element) -> dict[str, str]:
    """Canonical band -> IMAGE_FILE stem at the band's native resolution (else the finest)."""
    chosen: dict[str, tuple[int, str]] = {}
    for element in _elements(root, "IMAGE_FILE"):
        stem = (element.text or "").strip()
        match = _IMAGE_BAND.search(stem)
        if not match:
            continue
        band, resolution = match.group(1), match.group(2)
        rank = (
            0
            if resolution is None or int(resolution) == NATIVE_RESOLUTION[band]
            else int(resolution)
        )
        if band not in chosen or rank < chosen[band][0]:
            chosen[band] = (rank, stem)
    return {band: stem for band, (_rank, stem) in sorted(chosen.items())}


def _angles(element: ET.Element | None) -> Angles | None:
    """A zenith/azimuth pair from an element holding ZENITH_ANGLE and AZIMUTH_ANGLE."""
    if element is None:
        return None
    zenith, azimuth = _text(element, "ZENITH_ANGLE"), _text(element, "AZIMUTH_ANGLE")
    if zenith is None or azimuth is None:
        return None
    return Angles(float(zenith), float(azimuth))


def _grid_pair(element: ET.Element) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """The step (m) and the (zenith, azimuth) value grids of an angle-grid element."""
    grids = []
    for name in ("Zenith", "Azimuth"):
        part = next(_elements(element, name))
        rows = [(row.text or "").split() for row in _elements(part, "VALUES")]
        grids.append(np.array(rows, dtype=np.float64))
    return float(_text(element, "COL_STEP") or 5000), (grids[0], grids[1])


def _angle_grids(tile_root: ET.Element, band_names: dict[str, str]) -> AngleGrids | None:
    """MTD_TL.xml's Sun_Angles_Grid and Viewing_Incidence_Angles_Grids (per band and
    detector), merged per band; None when the tile metadata has no grids."""
    sun = next(_elements(tile_root, "Sun_Angles_Grid"), None)
    if sun is None:
        return None
    step, sun_grids = _grid_pair(sun)
    detectors: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for element in _elements(tile_root, "Viewing_Incidence_Angles_Grids"):
        band = band_names.get(str(element.get("bandId")), str(element.get("bandId")))
        detectors.setdefault(band, []).append(_grid_pair(element)[1])
    return AngleGrids.from_detectors(step, sun_grids, detectors) if detectors else None


def _level(root: ET.Element, source: str) -> str:
    """`L1C` or `L2A` from the root element or PRODUCT_TYPE."""
    text = f"{_local(root.tag)} {_text(root, 'PRODUCT_TYPE') or ''}"
    if "Level-2A" in text or "MSI2A" in text:
        return "L2A"
    if "Level-1C" in text or "MSI1C" in text:
        return "L1C"
    raise ItemError(f"{source}: neither a Level-1C nor a Level-2A product ({_local(root.tag)})")


def _tile(product_id: str, tile_root: ET.Element | None, source: str) -> str:
    """The MGRS tile from MTD_TL's TILE_ID, else from the product name."""
    names = [_text(tile_root, "TILE_ID") or ""] if tile_root is not None else []
    for name in [*names, product_id]:
        match = _TILE_IN_NAME.search(name)
        if match:
            try:
                return parse_tile(match.group(1)).id
            except GridError as exc:
                raise ItemError(f"{source}: {exc}") from exc
    raise ItemError(f"{source}: no tile id in TILE_ID or the product name")


def parse_metadata(product_xml: bytes, tile_xml: bytes | None, source: str) -> SafeMetadata:
    """Parse a product's MTD_MSIL1C/2A.xml (and MTD_TL.xml when given) into SafeMetadata."""
    root = parse_xml(product_xml, source)
    level = _level(root, source)
    uri = _text(root, "PRODUCT_URI")
    baseline_text = _text(root, "PROCESSING_BASELINE")
    start = _text(root, "PRODUCT_START_TIME")
    if not uri or not baseline_text or not start:
        raise ItemError(f"{source}: PRODUCT_URI, PROCESSING_BASELINE or PRODUCT_START_TIME missing")
    product_id = uri.removesuffix(".SAFE")
    band_names = _band_names(root)
    offset_tag = "BOA_ADD_OFFSET" if level == "L2A" else "RADIO_ADD_OFFSET"
    offsets = {
        band_names.get(str(element.get("band_id")), str(element.get("band_id"))): int(
            float((element.text or "0").strip())
        )
        for element in _elements(root, offset_tag)
    }
    quantification = _text(
        root, "BOA_QUANTIFICATION_VALUE" if level == "L2A" else "QUANTIFICATION_VALUE"
    )
    cloud = _text(root, "Cloud_Coverage_Assessment")
    granule = next(_elements(root, "Granule"), None)
    image_format = granule.get("imageFormat", "JPEG2000") if granule is not None else "JPEG2000"
    spacecraft = _text(root, "SPACECRAFT_NAME") or f"Sentinel-2{product_id[2]}"
    tile_root = parse_xml(tile_xml, f"{source} ({TILE_METADATA})") if tile_xml else None
    epsg = sun = grids = None
    views: dict[str, Angles] = {}
    if tile_root is not None:
        grids = _angle_grids(tile_root, band_names)
        code = _text(tile_root, "HORIZONTAL_CS_CODE") or ""
        epsg = int(code.split(":")[-1]) if code.split(":")[-1].isdigit() else None
        sun = _angles(next(_elements(tile_root, "Mean_Sun_Angle"), None))
        for element in _elements(tile_root, "Mean_Viewing_Incidence_Angle"):
            angles = _angles(element)
            if angles is not None:
                views[band_names.get(str(element.get("bandId")), str(element.get("bandId")))] = (
                    angles
                )
    return SafeMetadata(
        product_id=product_id,
        level=level,
        processing_baseline=parse_baseline(baseline_text),
        sensing_time=datetime.fromisoformat(start.replace("Z", "+00:00")),
        platform=spacecraft.lower(),
        tile=_tile(product_id, tile_root, source),
        cloud_cover=float(cloud) if cloud else None,
        quantification=float(quantification) if quantification else None,
        add_offsets=offsets,
        image_files=_image_files(root),
        image_suffix=".tif" if image_format.upper() == "GEOTIFF" else ".jp2",
        epsg=epsg,
        sun_angles=sun,
        view_angles=views,
        angle_grids=grids,
    )


def _metadata_members(names: list[str]) -> tuple[str, str | None]:
    """The product and tile metadata members among paths relative to the product folder."""
    product = [name for name in names if "/" not in name and _PRODUCT_METADATA.match(name)]
    if len(product) != 1:
        raise ItemError(f"expected one MTD_MSIL1C.xml or MTD_MSIL2A.xml, found {len(product)}")
    tiles = sorted(name for name in names if re.fullmatch(rf"GRANULE/[^/]+/{TILE_METADATA}", name))
    return product[0], tiles[0] if tiles else None


def read_product_metadata(product_dir: Path) -> SafeMetadata:
    """Metadata of an extracted `.SAFE` folder."""
    product_dir = Path(product_dir)
    names = [p.relative_to(product_dir).as_posix() for p in product_dir.glob("*.xml")]
    names += [
        p.relative_to(product_dir).as_posix()
        for p in product_dir.glob(f"GRANULE/*/{TILE_METADATA}")
    ]
    try:
        product, tile = _metadata_members(names)
    except ItemError as exc:
        raise ItemError(f"{product_dir}: {exc}") from exc
    tile_xml = (product_dir / tile).read_bytes() if tile else None
    return parse_metadata((product_dir / product).read_bytes(), tile_xml, str(product_dir))


def _files(archive: Path, zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The files of a zip by path inside the product, once every member name passed."""
    plan = _plan(archive, zf)
    return {"/".join(_member_parts(archive, i.filename)[1:]): i for i in plan.files}


def read_archive_member(archive: Path, relative: str) -> bytes:
    """One file of a SAFE zip (e.g. manifest.safe) read in place, its names checked first."""
    archive = Path(archive)
    with _open(archive) as zf:
        info = _files(archive, zf).get(relative)
        if info is None:
            raise _reject(archive, f"the product has no {relative}")
        return zf.read(info)


def read_archive_metadata(archive: Path) -> SafeMetadata:
    """Metadata of a SAFE zip read in place (member names checked, nothing extracted)."""
    archive = Path(archive)
    with _open(archive) as zf:
        by_path = _files(archive, zf)
        try:
            product, tile = _metadata_members(list(by_path))
        except ItemError as exc:
            raise ItemError(f"{archive.name}: {exc}") from exc
        tile_xml = zf.read(by_path[tile]) if tile else None
        return parse_metadata(zf.read(by_path[product]), tile_xml, archive.name)


def require_jp2_support() -> None:
    """Fail early, and clearly, when this GDAL cannot read JPEG 2000 (SAFE band format)."""
    import rasterio  # here: archive checks and metadata also serve jobs without rasters

    with rasterio.Env() as env:
        if "JP2OpenJPEG" not in env.drivers():
            raise ProcessingError(
                "this GDAL build has no JP2OpenJPEG driver, so SAFE bands (JPEG 2000) cannot "
                "be read; install rasterio's wheels or a GDAL built with OpenJPEG"
            )
