"""Small synthetic Sentinel-2 SAFE products in the documented structure (PSD 14.x).

Used by the tests and by the test doubles in tests/doubles (the Sen2Cor double writes its
L2A output with `write_safe`). A product is a `.SAFE` folder with MTD_MSIL1C/2A.xml,
GRANULE/<granule>/MTD_TL.xml and IMG_DATA JP2 bands, DATASTRIP/, AUX_DATA/, HTML/,
rep_info/ and a manifest.safe listing every file with its size and MD5 checksum. The scene
is a known top-of-atmosphere reflectance field (fields, water, bare soil, a cloud, a nodata
corner), so tests can compare products with values computed from the truth.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import zipfile
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from rasterio.transform import from_origin

from raw2ready.grid import parse_tile

BANDS_10M = ("B02", "B03", "B04", "B08")
BANDS_20M = ("B05", "B06", "B07", "B8A", "B11", "B12")
BANDS_60M = ("B01", "B09", "B10")
BAND_ORDER = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07",
    "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip
#: Bands Sen2Cor writes per resolution folder (no B10 in L2A; SCL at 20 and 60 m).
L2A_BANDS = {
    10: ("B02", "B03", "B04", "B08"),
    20: ("B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12", "SCL"),
    60: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B09", "B11", "B12", "SCL"),
}
NATIVE = {
    **dict.fromkeys(BANDS_10M, 10),
    **dict.fromkeys(BANDS_20M, 20),
    **dict.fromkeys(BANDS_60M, 60),
}
#: Typical surface reflectances per cover type (B01..B12 in BAND_ORDER).
COVER = {
    "soil": (0.08, 0.10, 0.13, 0.17, 0.20, 0.22, 0.24, 0.26, 0.27, 0.27, 0.01, 0.32, 0.28),
    "vegetation": (0.03, 0.04, 0.07, 0.04, 0.10, 0.30, 0.38, 0.42, 0.43, 0.43, 0.01, 0.20, 0.10),
    "water": (0.07, 0.06, 0.05, 0.03, 0.02, 0.015, 0.012, 0.01, 0.009, 0.008, 0.001, 0.005, 0.003),
    "cloud": (0.50, 0.55, 0.54, 0.53, 0.53, 0.53, 0.53, 0.52, 0.52, 0.45, 0.12, 0.40, 0.30),
}


@dataclass(frozen=True)
class SafeSpec:
    """Identity and encoding of one synthetic product."""

    level: str = "L1C"
    spacecraft: str = "S2B"
    sensing: datetime = datetime(2023, 6, 15, 3, 35, 41)
    generation: datetime = datetime(2023, 6, 15, 5, 25, 13)
    baseline: str = "05.09"
    orbit: int = 61
    absolute_orbit: int = 32_812
    tile: str = "47PPR"
    size: int = 120
    offsets: bool | None = None
    aux_and_html: bool = True
    cloud_cover: float = 9.5
    checksum: str = "MD5"

    @property
    def has_offsets(self) -> bool:
        """Whether DNs carry +1000 (from baseline 04.00 unless told otherwise)."""
        return self.offsets if self.offsets is not None else self.baseline >= "04.00"

    @property
    def name(self) -> str:
        """The product name (without .SAFE)."""
        return (
            f"{self.spacecraft}_MSIL{self.level[1:]}_{self.sensing:%Y%m%dT%H%M%S}_"
            f"N{self.baseline.replace('.', '')}_R{self.orbit:03d}_T{self.tile}_"
            f"{self.generation:%Y%m%dT%H%M%S}"
        )

    @property
    def granule(self) -> str:
        """The granule folder name."""
        return f"{self.level}_T{self.tile}_A{self.absolute_orbit:06d}_{self.sensing:%Y%m%dT%H%M%S}"

    @property
    def band_stem(self) -> str:
        """Prefix of image file names."""
        return f"T{self.tile}_{self.sensing:%Y%m%dT%H%M%S}"


@dataclass
class Scene:
    """Top-of-atmosphere (= surface, for the doubles) reflectance per band at 10 m."""

    reflectance: dict[str, np.ndarray]
    cover: np.ndarray = field(repr=False)


def synthetic_scene(size: int = 120, seed: int = 7) -> Scene:
    """A deterministic scene: soil, vegetated fields, a lake, a cloud and a nodata corner."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    cover = np.zeros((size, size), dtype=np.uint8)  # 0 soil
    cover[(rows // 20 + cols // 20) % 2 == 0] = 1  # vegetation fields
    cover[(rows - size * 0.7) ** 2 + (cols - size * 0.3) ** 2 < (size * 0.12) ** 2] = 2  # lake
    cover[(rows - size * 0.25) ** 2 + (cols - size * 0.75) ** 2 < (size * 0.1) ** 2] = 3  # cloud
    names = ("soil", "vegetation", "water", "cloud")
    reflectance: dict[str, np.ndarray] = {}
    for index, band in enumerate(BAND_ORDER):
        table = np.array([COVER[name][index] for name in names], dtype=np.float32)
        value = table[cover] * rng.uniform(0.9, 1.1, (size, size)).astype(np.float32)
        value[rows + cols < size // 8] = np.nan  # nodata corner (swath edge)
        reflectance[band] = value
    return Scene(reflectance, cover)


def downsample(values: np.ndarray, factor: int) -> np.ndarray:
    """Block mean (NaN where any pixel of the block is NaN), like a coarser detector."""
    if factor == 1:
        return values
    h, w = values.shape[0] // factor, values.shape[1] // factor
    return values[: h * factor, : w * factor].reshape(h, factor, w, factor).mean(axis=(1, 3))


def scene_classification(reflectance: dict[str, np.ndarray]) -> np.ndarray:
    """A simple SCL from reflectances at one grid: 0 nodata, 4 veg, 5 bare, 6 water, 9 cloud."""
    blue, red, nir = reflectance["B02"], reflectance["B04"], reflectance["B08"]
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (nir - red) / (nir + red)
    scl = np.full(blue.shape, 5, dtype=np.uint8)
    scl[ndvi > 0.4] = 4
    scl[nir < 0.05] = 6
    scl[blue > 0.3] = 9
    scl[~np.isfinite(blue) | ~np.isfinite(nir)] = 0
    return scl


def to_dn(values: np.ndarray, offset: bool) -> np.ndarray:
    """Reflectance -> uint16 DN: round(value * 10000) (+1000 with the offset); NaN -> 0."""
    dn = np.rint(np.nan_to_num(values, nan=0.0) * 10_000) + (1000 if offset else 0)
    dn = np.clip(dn, 1, 65_535)
    dn[~np.isfinite(values)] = 0
    return dn.astype(np.uint16)


def write_jp2(path: Path, data: np.ndarray, spec: SafeSpec, resolution: int) -> None:
    """A lossless single-band JPEG 2000 on the tile's UTM grid."""
    tile = parse_tile(spec.tile)
    west, north = tile.upper_left
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=data.shape[1], height=data.shape[0], count=1,
        dtype=data.dtype, crs=f"EPSG:{tile.epsg}",
        transform=from_origin(west, north, resolution, resolution),
        QUALITY=100, REVERSIBLE="YES",
    ) as dataset:  # fmt: skip
        dataset.write(data, 1)


def _band_images(
    spec: SafeSpec, scene: Scene, resolutions: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """IMAGE_FILE stem (relative to the product) -> array, per the level's layout."""
    img = f"GRANULE/{spec.granule}/IMG_DATA"
    images: dict[str, np.ndarray] = {}
    if spec.level == "L1C":
        for band in BAND_ORDER:
            values = downsample(scene.reflectance[band], NATIVE[band] // 10)
            images[f"{img}/{spec.band_stem}_{band}"] = to_dn(values, spec.has_offsets)
        return images
    for resolution in resolutions:
        factor = resolution // 10
        at = {band: downsample(values, factor) for band, values in scene.reflectance.items()}
        for band in L2A_BANDS[resolution]:
            name = f"{img}/R{resolution}m/{spec.band_stem}_{band}_{resolution}m"
            images[name] = (
                scene_classification(at) if band == "SCL" else to_dn(at[band], spec.has_offsets)
            )
    return images


def _product_xml(spec: SafeSpec, stems: list[str]) -> str:
    """MTD_MSIL1C.xml / MTD_MSIL2A.xml with the fields raw2ready and the tools read."""
    level = "Level-1C" if spec.level == "L1C" else "Level-2A"
    files = "\n".join(f"            <IMAGE_FILE>{escape(stem)}</IMAGE_FILE>" for stem in stems)
    offset_tag, quant_tag = (
        ("RADIO_ADD_OFFSET", "QUANTIFICATION_VALUE")
        if spec.level == "L1C"
        else ("BOA_ADD_OFFSET", "BOA_QUANTIFICATION_VALUE")
    )
    offsets = ""
    if spec.has_offsets:
        entries = "\n".join(
            f'        <{offset_tag} band_id="{i}">-1000</{offset_tag}>' for i in range(13)
        )
        list_tag = (
            "Radiometric_Offset_List" if spec.level == "L1C" else "BOA_ADD_OFFSET_VALUES_LIST"
        )
        offsets = f"      <{list_tag}>\n{entries}\n      </{list_tag}>"
    spectral = "\n".join(
        f'        <Spectral_Information bandId="{i}" physicalBand="B{band[1:].lstrip("0")}">'
        f"<RESOLUTION>{NATIVE[band]}</RESOLUTION></Spectral_Information>"
        for i, band in enumerate(BAND_ORDER)
    )
    sensing = f"{spec.sensing:%Y-%m-%dT%H:%M:%S}.024Z"
    datatake = f"G{spec.spacecraft}_{spec.sensing:%Y%m%dT%H%M%S}_{spec.absolute_orbit:06d}"
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:{level}_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_{level}.xsd">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>{sensing}</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>{sensing}</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{spec.name}.SAFE</PRODUCT_URI>
      <PROCESSING_LEVEL>{level}</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI{spec.level[1:]}</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{spec.baseline}</PROCESSING_BASELINE>
      <GENERATION_TIME>{spec.generation:%Y-%m-%dT%H:%M:%S}.000000Z</GENERATION_TIME>
      <Datatake datatakeIdentifier="{datatake}_N{spec.baseline}">
        <SPACECRAFT_NAME>Sentinel-2{spec.spacecraft[-1]}</SPACECRAFT_NAME>
        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
        <DATATAKE_SENSING_START>{sensing}</DATATAKE_SENSING_START>
        <SENSING_ORBIT_NUMBER>{spec.orbit}</SENSING_ORBIT_NUMBER>
        <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
      </Datatake>
      <Product_Organisation>
        <Granule_List>
          <Granule granuleIdentifier="{spec.granule}" imageFormat="JPEG2000">
{files}
          </Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <QUANTIFICATION_VALUES_LIST>
        <{quant_tag} unit="none">10000</{quant_tag}>
      </QUANTIFICATION_VALUES_LIST>
{offsets}
      <Spectral_Information_List>
{spectral}
      </Spectral_Information_List>
    </Product_Image_Characteristics>
  </n1:General_Info>
  <n1:Quality_Indicators_Info>
    <Cloud_Coverage_Assessment>{spec.cloud_cover}</Cloud_Coverage_Assessment>
  </n1:Quality_Indicators_Info>
</n1:{level}_User_Product>
"""


def _tile_xml(spec: SafeSpec) -> str:
    """GRANULE/<granule>/MTD_TL.xml: tile id, CRS, grid, mean sun and viewing angles."""
    tile = parse_tile(spec.tile)
    west, north = tile.upper_left
    level = "Level-1C" if spec.level == "L1C" else "Level-2A"
    tile_id = (
        f"{spec.spacecraft}_OPER_MSI_{spec.level}_TL_2BPS_{spec.generation:%Y%m%dT%H%M%S}_"
        f"A{spec.absolute_orbit:06d}_T{spec.tile}_N{spec.baseline}"
    )
    utm = f"WGS84 / UTM zone {tile.zone}{'N' if tile.northern else 'S'}"
    sun = (
        '<ZENITH_ANGLE unit="deg">30.250</ZENITH_ANGLE>'
        '<AZIMUTH_ANGLE unit="deg">120.500</AZIMUTH_ANGLE>'
    )
    views = "\n".join(
        f'        <Mean_Viewing_Incidence_Angle bandId="{i}"><ZENITH_ANGLE unit="deg">'
        f'{5.0 + i * 0.1:.3f}</ZENITH_ANGLE><AZIMUTH_ANGLE unit="deg">{100.0 + i:.3f}'
        "</AZIMUTH_ANGLE></Mean_Viewing_Incidence_Angle>"
        for i in range(13)
    )
    sizes = "\n".join(
        f'      <Size resolution="{r}"><NROWS>{spec.size * 10 // r}</NROWS>'
        f"<NCOLS>{spec.size * 10 // r}</NCOLS></Size>"
        f'<Geoposition resolution="{r}"><ULX>{west:.0f}</ULX><ULY>{north:.0f}</ULY>'
        f"<XDIM>{r}</XDIM><YDIM>-{r}</YDIM></Geoposition>"
        for r in (10, 20, 60)
    )
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:{level}_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_{level}_Tile_Metadata.xsd">
  <n1:General_Info>
    <TILE_ID metadataLevel="Brief">{tile_id}</TILE_ID>
    <SENSING_TIME metadataLevel="Standard">{spec.sensing:%Y-%m-%dT%H:%M:%S}.500000Z</SENSING_TIME>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>{utm}</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>EPSG:{tile.epsg}</HORIZONTAL_CS_CODE>
{sizes}
    </Tile_Geocoding>
    <Tile_Angles metadataLevel="Standard">
      <Mean_Sun_Angle>{sun}</Mean_Sun_Angle>
      <Mean_Viewing_Incidence_Angle_List>
{views}
      </Mean_Viewing_Incidence_Angle_List>
    </Tile_Angles>
  </n1:Geometric_Info>
</n1:{level}_Tile_ID>
"""


def digest(path: Path, algorithm: str) -> str:
    """A file's checksum as manifest.safe records it (ESA writes SHA3-256 in upper case)."""
    if algorithm == "MD5":
        return hashlib.md5(path.read_bytes()).hexdigest()
    return hashlib.sha3_256(path.read_bytes()).hexdigest().upper()


def write_manifest(
    safe: Path, algorithm: str = "MD5", footprint: list[tuple[float, float]] | None = None
) -> None:
    """manifest.safe (XFDU) listing every other file with its size and checksum; with a
    (lat, lon) footprint, the measurement frame set Sentinel-1 products carry."""
    objects = []
    for index, path in enumerate(sorted(p for p in safe.rglob("*") if p.is_file())):
        relative = path.relative_to(safe).as_posix()
        if relative == "manifest.safe":
            continue
        objects.append(
            f'    <dataObject ID="object_{index}">\n'
            f'      <byteStream mimeType="application/octet-stream" size="{path.stat().st_size}">\n'
            f'        <fileLocation locatorType="URL" href="./{escape(relative)}"/>\n'
            f'        <checksum checksumName="{algorithm}">{digest(path, algorithm)}</checksum>\n'
            "      </byteStream>\n    </dataObject>"
        )
    body = "\n".join(objects)
    frame = ""
    if footprint:
        coordinates = " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in footprint)
        frame = (
            '  <metadataSection>\n    <metadataObject ID="measurementFrameSet" '
            'classification="DESCRIPTION" category="DMD">\n      <metadataWrap mimeType='
            '"text/xml" vocabularyName="SAFE" textInfo="Frame Set"><xmlData>\n'
            "        <safe:frameSet><safe:frame><safe:footPrint "
            'srsName="http://www.opengis.net/gml/srs/epsg.xml#4326">'
            f"<gml:coordinates>{coordinates}</gml:coordinates></safe:footPrint></safe:frame>"
            "</safe:frameSet>\n      </xmlData></metadataWrap>\n    </metadataObject>\n"
            "  </metadataSection>\n"
        )
    (safe / "manifest.safe").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:gml="http://www.opengis.net/gml" '
        'xmlns:safe="http://www.esa.int/safe/sentinel-1.0" version="esa/safe/sentinel/1.1">\n'
        f"{frame}  <dataObjectSection>\n{body}\n  </dataObjectSection>\n</xfdu:XFDU>\n"
    )


def write_safe(
    parent: Path, spec: SafeSpec, scene: Scene, resolutions: tuple[int, ...] = (10, 20, 60)
) -> Path:
    """Write a complete product folder `parent/NAME.SAFE`; return its path."""
    safe = parent / f"{spec.name}.SAFE"
    images = _band_images(spec, scene, resolutions)
    for stem, data in images.items():
        resolution = 10 * (scene.reflectance["B02"].shape[0] // data.shape[0])
        write_jp2(safe / f"{stem}.jp2", data, spec, resolution)
    (safe / f"MTD_MSI{spec.level}.xml").write_text(_product_xml(spec, sorted(images)))
    granule = safe / "GRANULE" / spec.granule
    (granule / "MTD_TL.xml").write_text(_tile_xml(spec))
    (granule / "QI_DATA").mkdir(exist_ok=True)
    (safe / "DATASTRIP" / f"DS_2BPS_{spec.generation:%Y%m%dT%H%M%S}").mkdir(parents=True)
    (safe / "DATASTRIP" / f"DS_2BPS_{spec.generation:%Y%m%dT%H%M%S}" / "MTD_DS.xml").write_text(
        "<Datastrip/>\n"
    )
    (safe / "rep_info").mkdir()
    (safe / "INSPIRE.xml").write_text("<INSPIRE/>\n")
    if spec.aux_and_html:
        (safe / "AUX_DATA").mkdir()
        (safe / "HTML").mkdir()
        (safe / "HTML" / "UserProduct_index.html").write_text("<html></html>\n")
        (granule / "AUX_DATA").mkdir(exist_ok=True)
    write_manifest(safe, spec.checksum)
    return safe


def zip_safe(safe: Path, archive: Path) -> Path:
    """Zip a product folder the way the archives ship it: one top-level `NAME.SAFE/`."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(safe.rglob("*")):
            zf.write(path, path.relative_to(safe.parent).as_posix())
    return archive


def make_safe_zip(folder: Path, spec: SafeSpec | None = None, seed: int = 7) -> Path:
    """A zipped synthetic product in `folder` (built in a scratch subfolder, then zipped)."""
    spec = spec or SafeSpec()
    build = folder / f".build-{spec.name}"
    safe = write_safe(build, spec, synthetic_scene(spec.size, seed))
    archive = zip_safe(safe, folder / f"{spec.name}.zip")
    shutil.rmtree(build)
    return archive


def l2a_of(spec: SafeSpec, baseline: str = "99.99", generation: datetime | None = None) -> SafeSpec:
    """The spec of the L2A product made from an L1C one (Sen2Cor standalone writes N9999)."""
    return replace(
        spec, level="L2A", baseline=baseline, generation=generation or spec.generation,
    )  # fmt: skip


S1_NAME = "S1A_IW_GRDH_1SDV_20230615T112233_20230615T112258_049012_05E4C1_ABCD"


def write_s1_grd(parent: Path, tile: str = "47PPR", name: str = S1_NAME, seed: int = 3) -> Path:
    """A small dual-pol (VV+VH) IW GRD product over the tile's north-west corner.

    Measurement GeoTIFFs are uint16 amplitude (DN) on a WGS 84 grid (real GRD data carry
    GCPs; the gpt double's Terrain-Correction only needs a georeference), with a zero
    (nodata) border as real swaths have.
    """
    from rasterio.warp import transform_bounds

    parsed = parse_tile(tile)
    west, north = parsed.upper_left
    lon0, lat0, lon1, lat1 = transform_bounds(
        f"EPSG:{parsed.epsg}", "EPSG:4326", west + 1_000, north - 3_000, west + 4_000, north + 1_000
    )
    step = 0.0002
    width, height = math.ceil((lon1 - lon0) / step), math.ceil((lat1 - lat0) / step)
    safe = parent / f"{name}.SAFE"
    rng = np.random.default_rng(seed)
    lower = name.lower().split("_")
    stem = f"{lower[0]}-iw-grd-{{pol}}-{lower[4]}-{lower[5]}-{lower[6]}-{lower[7]}-{{n:03d}}"
    for number, (pol, level) in enumerate((("vv", 0.12), ("vh", 0.03)), start=1):
        gamma = level * rng.lognormal(0.0, 0.4, (height, width))
        dn = np.clip(np.rint(500.0 * np.sqrt(gamma)), 1, 65_535).astype(np.uint16)
        dn[:, :3] = 0
        path = safe / "measurement" / f"{stem.format(pol=pol, n=number)}.tiff"
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(
            path, "w", driver="GTiff", width=width, height=height, count=1, dtype="uint16",
            crs="EPSG:4326", transform=from_origin(lon0, lat1, step, step),
        ) as dataset:  # fmt: skip
            dataset.write(dn, 1)
        annotation = safe / "annotation" / f"{stem.format(pol=pol, n=number)}.xml"
        annotation.parent.mkdir(parents=True, exist_ok=True)
        annotation.write_text(f"<product><adsHeader><polarisation>{pol.upper()}</polarisation>"
                              "</adsHeader></product>\n")  # fmt: skip
        for kind in ("calibration", "noise"):
            extra = (
                safe / "annotation" / "calibration" / f"{kind}-{stem.format(pol=pol, n=number)}.xml"
            )
            extra.parent.mkdir(parents=True, exist_ok=True)
            extra.write_text(f"<{kind}/>\n")
    (safe / "preview").mkdir()
    (safe / "support").mkdir()
    corners = [(lat0, lon0), (lat0, lon1), (lat1, lon1), (lat1, lon0)]
    write_manifest(safe, footprint=corners)
    return safe


def make_s1_grd_zip(folder: Path, tile: str = "47PPR", name: str = S1_NAME) -> Path:
    """A zipped synthetic GRD product in `folder`."""
    build = folder / f".build-{name}"
    archive = zip_safe(write_s1_grd(build, tile, name), folder / f"{name}.zip")
    shutil.rmtree(build)
    return archive
