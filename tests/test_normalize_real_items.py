"""Every real provider item in the fixtures normalizes to the expected record or is rejected.

The expectations are written out per item from the provider documentation and the MANIFEST
(DESIGN.md s.3), not computed by the code under test: tile, sensing time, processing
baseline and where it came from, the BOA offset decision, and the band files.
"""

from __future__ import annotations

import copy
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pystac
import pytest

from raw2ready.errors import ItemError
from raw2ready.sentinel2.normalize import (
    canonical_band,
    explain_boa_offset,
    find_baseline,
    normalize_item,
    read_item,
    tile_id,
)

from .conftest import REAL_S2, requires_real_s2, run_cli

ITEMS = REAL_S2 / "stac_items"
SAFE = REAL_S2 / "safe_metadata"
BANDS = frozenset({"B02", "B04", "B08", "SCL"})

ES_COGS = "https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs"
ES_C1 = "https://e84-earth-search-sentinel-data.s3.us-west-2.amazonaws.com/sentinel-2-c1-l2a"
PC_BLOB = "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2"


@dataclass(frozen=True)
class Expected:
    """What one real item must normalize to."""

    id: str
    tile: str
    datetime: str
    baseline: str
    baseline_from: str
    apply_offset: bool
    red: str  # href of B04
    scl: str  # href of SCL


def _es1(tile: str, year: int, month: int, scene: str) -> tuple[str, str]:
    folder = f"{ES_COGS}/{tile[:2]}/{tile[2]}/{tile[3:]}/{year}/{month}/{scene}"
    return f"{folder}/B04.tif", f"{folder}/SCL.tif"


def _c1(tile: str, year: int, month: int, scene: str) -> tuple[str, str]:
    folder = f"{ES_C1}/{tile[:2]}/{tile[2]}/{tile[3:]}/{year}/{month}/{scene}"
    return f"{folder}/B04.tif", f"{folder}/SCL.tif"


def _pc(tile: str, day: str, product: str, granule: str, stamp: str) -> tuple[str, str]:
    year, month, dom = day.split("-")
    folder = (
        f"{PC_BLOB}/{tile[:2]}/{tile[2]}/{tile[3:]}/{year}/{month}/{dom}/{product}.SAFE/"
        f"GRANULE/{granule}/IMG_DATA"
    )
    return (
        f"{folder}/R10m/T{tile}_{stamp}_B04_10m.tif",
        f"{folder}/R20m/T{tile}_{stamp}_SCL_20m.tif",
    )


PC_OLD_API = "pc__sentinel-2-l2a__S2B_MSIL2A_20210610T115639_N0212_R066_T33XXG_20210613T185024.json"
CDSE_PRODUCT = "S2C_MSIL2A_20250330T100051_N0511_R122_T33UWP_20250330T145914"
CDSE_GRANULE = (
    f"s3://eodata/Sentinel-2/MSI/L2A/2025/03/30/{CDSE_PRODUCT}.SAFE/GRANULE/"
    "L2A_T33UWP_A002952_20250330T100435/IMG_DATA"
)

EXPECTED: dict[str, Expected] = {
    # CDSE (STAC 1.1): baseline only in processing:version; JP2 on s3://eodata; no flag.
    f"cdse__sentinel-2-l2a__{CDSE_PRODUCT}.json": Expected(
        CDSE_PRODUCT, "33UWP", "2025-03-30T10:00:51.025000Z", "05.11", "processing:version",
        True,
        f"{CDSE_GRANULE}/R10m/T33UWP_20250330T100051_B04_10m.jp2",
        f"{CDSE_GRANULE}/R20m/T33UWP_20250330T100051_SCL_20m.jp2",
    ),
    # Earth Search v0 COGs: flag sentinel:boa_offset_applied; sequence 1 in the id.
    "es0__sentinel-s2-l2a-cogs__S2A_24XWF_20230506_1_L2A.json": Expected(
        "S2A_24XWF_20230506_1_L2A", "24XWF", "2023-05-06T15:22:00Z", "05.09",
        "sentinel:processing_baseline", False,
        *_es1("24XWF", 2023, 5, "S2A_24XWF_20230506_1_L2A"),
    ),
    # Earth Search v0 (2020 layout): no utm_zone and no baseline property; both come from
    # the product id (`_T28QCH_`, `_N0214_`).
    "es0__sentinel-s2-l2a-cogs__S2A_28QCH_20200714_0_L2A.json": Expected(
        "S2A_28QCH_20200714_0_L2A", "28QCH", "2020-07-14T11:55:52Z", "02.14",
        "sentinel:product_id", False,
        f"{ES_COGS}/2020/S2A_28QCH_20200714_0_L2A/B04.tif",
        f"{ES_COGS}/2020/S2A_28QCH_20200714_0_L2A/SCL.tif",
    ),
    "es0__sentinel-s2-l2a-cogs__S2A_29RKH_20200219_0_L2A.json": Expected(
        "S2A_29RKH_20200219_0_L2A", "29RKH", "2020-02-19T11:34:25Z", "02.14",
        "sentinel:product_id", False,
        f"{ES_COGS}/2020/S2A_29RKH_20200219_0_L2A/B04.tif",
        f"{ES_COGS}/2020/S2A_29RKH_20200219_0_L2A/SCL.tif",
    ),
    "es0__sentinel-s2-l2a-cogs__S2A_31NBJ_20190524_0_L2A.json": Expected(
        "S2A_31NBJ_20190524_0_L2A", "31NBJ", "2019-05-24T10:28:59Z", "02.12",
        "sentinel:product_id", False,
        *_es1("31NBJ", 2019, 5, "S2A_31NBJ_20190524_0_L2A"),
    ),
    "es0__sentinel-s2-l2a-cogs__S2A_44XNS_20230421_0_L2A.json": Expected(
        "S2A_44XNS_20230421_0_L2A", "44XNS", "2023-04-21T09:26:16Z", "05.09",
        "sentinel:processing_baseline", False,
        *_es1("44XNS", 2023, 4, "S2A_44XNS_20230421_0_L2A"),
    ),
    "es0__sentinel-s2-l2a-cogs__S2B_55GDP_20241003_0_L2A.json": Expected(
        "S2B_55GDP_20241003_0_L2A", "55GDP", "2024-10-03T00:18:32Z", "05.11",
        "sentinel:processing_baseline", False,
        *_es1("55GDP", 2024, 10, "S2B_55GDP_20241003_0_L2A"),
    ),
    # Earth Search v0 JP2 collection: ESA's own files (requester-pays bucket), no flag.
    "es0__sentinel-s2-l2a__S2B_15MWT_20230506_0_L2A.json": Expected(
        "S2B_15MWT_20230506_0_L2A", "15MWT", "2023-05-06T16:34:15Z", "05.09",
        "sentinel:processing_baseline", True,
        "s3://sentinel-s2-l2a/tiles/15/M/WT/2023/5/6/0/R10m/B04.jp2",
        "s3://sentinel-s2-l2a/tiles/15/M/WT/2023/5/6/0/R20m/SCL.jp2",
    ),
    # Earth Search v1 Collection-1: offset never applied by the archive.
    "es1__sentinel-2-c1-l2a__S2A_T37WDS_20240419T090557_L2A.json": Expected(
        "S2A_T37WDS_20240419T090557_L2A", "37WDS", "2024-04-19T09:11:03.080000Z", "05.10",
        "s2:processing_baseline", True,
        *_c1("37WDS", 2024, 4, "S2A_T37WDS_20240419T090557_L2A"),
    ),
    "es1__sentinel-2-c1-l2a__S2B_T20EPT_20250731T131905_L2A.json": Expected(
        "S2B_T20EPT_20250731T131905_L2A", "20EPT", "2025-07-31T13:19:22.930000Z", "05.11",
        "s2:processing_baseline", True,
        *_c1("20EPT", 2025, 7, "S2B_T20EPT_20250731T131905_L2A"),
    ),
    "es1__sentinel-2-c1-l2a__S2B_T25LCG_20240809T124253_L2A.json": Expected(
        "S2B_T25LCG_20240809T124253_L2A", "25LCG", "2024-08-09T12:45:16.079000Z", "05.11",
        "s2:processing_baseline", True,
        *_c1("25LCG", 2024, 8, "S2B_T25LCG_20240809T124253_L2A"),
    ),
    "es1__sentinel-2-c1-l2a__S2B_T34WFV_20240228T102857_L2A.json": Expected(
        "S2B_T34WFV_20240228T102857_L2A", "34WFV", "2024-02-28T10:31:48.640000Z", "05.10",
        "s2:processing_baseline", True,
        *_c1("34WFV", 2024, 2, "S2B_T34WFV_20240228T102857_L2A"),
    ),
    # Earth Search v1 sentinel-2-l2a: flag true wins over raster offset -0.1.
    "es1__sentinel-2-l2a__S2A_13TDE_20231008_0_L2A.json": Expected(
        "S2A_13TDE_20231008_0_L2A", "13TDE", "2023-10-08T18:02:55.276000Z", "05.09",
        "s2:processing_baseline", False,
        *_es1("13TDE", 2023, 10, "S2A_13TDE_20231008_0_L2A"),
    ),
    "es1__sentinel-2-l2a__S2A_29RKH_20200219_0_L2A.json": Expected(
        "S2A_29RKH_20200219_0_L2A", "29RKH", "2020-02-19T11:34:25.405000Z", "02.14",
        "s2:processing_baseline", False,
        *_es1("29RKH", 2020, 2, "S2A_29RKH_20200219_0_L2A"),
    ),
    "es1__sentinel-2-l2a__S2A_37WDS_20240419_0_L2A.json": Expected(
        "S2A_37WDS_20240419_0_L2A", "37WDS", "2024-04-19T09:11:03.080000Z", "05.10",
        "s2:processing_baseline", False,
        *_es1("37WDS", 2024, 4, "S2A_37WDS_20240419_0_L2A"),
    ),
    "es1__sentinel-2-l2a__S2B_20EPT_20250731_0_L2A.json": Expected(
        "S2B_20EPT_20250731_0_L2A", "20EPT", "2025-07-31T13:19:22.930000Z", "05.11",
        "s2:processing_baseline", False,
        *_es1("20EPT", 2025, 7, "S2B_20EPT_20250731_0_L2A"),
    ),
    "es1__sentinel-2-l2a__S2B_21MZV_20231110_0_L2A.json": Expected(
        "S2B_21MZV_20231110_0_L2A", "21MZV", "2023-11-10T14:12:31.179000Z", "05.09",
        "s2:processing_baseline", False,
        *_es1("21MZV", 2023, 11, "S2B_21MZV_20231110_0_L2A"),
    ),
    "es1__sentinel-2-l2a__S2B_25LCG_20240809_0_L2A.json": Expected(
        "S2B_25LCG_20240809_0_L2A", "25LCG", "2024-08-09T12:45:16.079000Z", "05.11",
        "s2:processing_baseline", False,
        *_es1("25LCG", 2024, 8, "S2B_25LCG_20240809_0_L2A"),
    ),
    # Planetary Computer: no scale/offset metadata and no flag; the baseline decides.
    "pc__sentinel-2-l2a__S2A_MSIL2A_20190101T000001_R116_T58UFE_20201007T214651.json": Expected(
        "S2A_MSIL2A_20190101T000001_R116_T58UFE_20201007T214651", "58UFE",
        "2019-01-01T00:00:01.024000Z", "02.12", "s2:processing_baseline", False,
        *_pc("58UFE", "2019-01-01", "S2A_MSIL2A_20190101T000001_N0212_R116_T58UFE_20201007T214651",
             "L2A_T58UFE_A018417_20181231T235957", "20190101T000001"),
    ),
    "pc__sentinel-2-l2a__S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531.json": Expected(
        "S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531", "06VVN",
        "2019-06-29T21:25:29.024000Z", "02.12", "s2:processing_baseline", False,
        *_pc("06VVN", "2019-06-29", "S2B_MSIL2A_20190629T212529_N0212_R043_T06VVN_20201006T080531",
             "L2A_T06VVN_A012081_20190629T212530", "20190629T212529"),
    ),
    # Old PC API: asset key SCL-20m, 10 m bands beside resampled B04_20m/B04_60m.
    PC_OLD_API: Expected(
        "S2B_MSIL2A_20210610T115639_N0212_R066_T33XXG_20210613T185024.SAFE", "33XXG",
        "2021-06-10T11:56:39.024000Z", "02.12", "s2:processing_baseline", False,
        *_pc("33XXG", "2021-06-10", "S2B_MSIL2A_20210610T115639_N0212_R066_T33XXG_20210613T185024",
             "L2A_T33XXG_A022257_20210610T115641", "20210610T115639"),
    ),
    "pc__sentinel-2-l2a__S2B_MSIL2A_20240419T095549_R122_T47XML_20240419T123458.json": Expected(
        "S2B_MSIL2A_20240419T095549_R122_T47XML_20240419T123458", "47XML",
        "2024-04-19T09:55:49.024000Z", "05.10", "s2:processing_baseline", True,
        *_pc("47XML", "2024-04-19", "S2B_MSIL2A_20240419T095549_N0510_R122_T47XML_20240419T123458",
             "L2A_T47XML_A037185_20240419T095549", "20240419T095549"),
    ),
}  # fmt: skip

REJECTED: dict[str, str] = {
    "es1__sentinel-2-l1c__S2B_20EPT_20250731_0_L1C.json": "is Level-1C",
}


def _item(name: str) -> pystac.Item:
    return read_item(ITEMS / name)


@requires_real_s2
def test_every_fixture_item_has_an_expectation() -> None:
    names = {path.name for path in ITEMS.glob("*.json")}
    assert names == set(EXPECTED) | set(REJECTED)


@requires_real_s2
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_item_normalizes_to_the_expected_record(name: str) -> None:
    expected = EXPECTED[name]
    item = _item(name)
    record = normalize_item(item, BANDS)
    assert record.id == expected.id
    assert record.tile == expected.tile
    assert record.datetime == expected.datetime
    assert record.processing_baseline == expected.baseline
    assert find_baseline(item)[1] == expected.baseline_from
    assert record.apply_boa_offset is expected.apply_offset
    assert record.boa_add_offset == (-1000 if expected.apply_offset else 0)
    assert set(record.bands) == BANDS
    assert record.bands["B04"].href == expected.red
    assert record.bands["SCL"].href == expected.scl
    assert record.bands["B08"].href == expected.red.replace("B04", "B08")
    assert record.bands["B02"].href == expected.red.replace("B04", "B02")


@requires_real_s2
@pytest.mark.parametrize("name", sorted(REJECTED))
def test_real_item_that_cannot_serve_is_rejected_with_a_reason(name: str) -> None:
    with pytest.raises(ItemError, match=REJECTED[name]) as error:
        normalize_item(_item(name), BANDS)
    assert "\n" not in str(error.value)
    assert "SCL" in str(error.value)


@requires_real_s2
def test_same_scene_in_two_earth_search_collections_gets_opposite_offset_decisions() -> None:
    """Both are baseline 05.11; only the `sentinel-2-l2a` archive removed the offset."""
    l2a = normalize_item(_item("es1__sentinel-2-l2a__S2B_20EPT_20250731_0_L2A.json"), BANDS)
    c1 = normalize_item(_item("es1__sentinel-2-c1-l2a__S2B_T20EPT_20250731T131905_L2A.json"), BANDS)
    assert (l2a.tile, l2a.processing_baseline) == (c1.tile, c1.processing_baseline)
    assert (l2a.apply_boa_offset, c1.apply_boa_offset) == (False, True)


@requires_real_s2
def test_file_size_and_checksum_are_carried_for_verification() -> None:
    cdse = normalize_item(_item(next(n for n in EXPECTED if n.startswith("cdse"))), BANDS)
    assert cdse.bands["B04"].size == 115518666
    assert cdse.bands["B04"].checksum is not None
    assert cdse.bands["B04"].checksum.startswith("1620")  # sha3-256 multihash
    c1 = normalize_item(_item("es1__sentinel-2-c1-l2a__S2A_T37WDS_20240419T090557_L2A.json"), BANDS)
    assert c1.bands["B04"].size == 5024495
    assert c1.bands["B04"].checksum is not None
    assert c1.bands["B04"].checksum.startswith("1220")  # sha2-256 multihash


@requires_real_s2
def test_offset_reasons_name_the_evidence() -> None:
    item = _item("es1__sentinel-2-l2a__S2B_25LCG_20240809_0_L2A.json")
    assert "earthsearch:boa_offset_applied=true" in explain_boa_offset(item, "05.11").reason
    item = _item("pc__sentinel-2-l2a__S2B_MSIL2A_20240419T095549_R122_T47XML_20240419T123458.json")
    assert "no archive flag" in explain_boa_offset(item, "05.10").reason


def _edited(name: str, tmp_path: Path, edit: Any) -> pystac.Item:
    data = json.loads((ITEMS / name).read_text())
    edit(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return read_item(path)


@requires_real_s2
def test_flag_false_on_a_baseline_04_item_means_apply(tmp_path: Path) -> None:
    """The Earth Search items of issue 66 carry flag false with baseline >= 04.00."""

    def flag_false(data: dict[str, Any]) -> None:
        data["properties"]["earthsearch:boa_offset_applied"] = False

    item = _edited("es1__sentinel-2-l2a__S2B_25LCG_20240809_0_L2A.json", tmp_path, flag_false)
    assert normalize_item(item, BANDS).apply_boa_offset is True


@requires_real_s2
def test_reprocessed_old_scene_is_decided_by_baseline_not_date(tmp_path: Path) -> None:
    """A 2020 acquisition reprocessed at 05.00 carries the offset (MANIFEST, T13SDV)."""

    def reprocessed(data: dict[str, Any]) -> None:
        props = data["properties"]
        props["s2:processing_baseline"] = "05.00"
        props.pop("earthsearch:boa_offset_applied")

    item = _edited("es1__sentinel-2-l2a__S2A_29RKH_20200219_0_L2A.json", tmp_path, reprocessed)
    record = normalize_item(item, BANDS)
    assert record.datetime.startswith("2020-02-19")
    assert (record.processing_baseline, record.apply_boa_offset) == ("05.00", True)


@requires_real_s2
def test_baseline_from_a_granule_id_when_nothing_else_has_it(tmp_path: Path) -> None:
    def strip(data: dict[str, Any]) -> None:
        props = data["properties"]
        for key in ("s2:processing_baseline", "s2:product_uri"):
            props.pop(key)

    item = _edited("es1__sentinel-2-c1-l2a__S2B_T34WFV_20240228T102857_L2A.json", tmp_path, strip)
    assert find_baseline(item) == ("05.10", "s2:tile_id")


@requires_real_s2
def test_baseline_from_safe_metadata_when_the_item_has_none(tmp_path: Path) -> None:
    """A real MTD_MSIL2A.xml (baseline 04.00) behind the item's product_metadata asset."""
    mtd = SAFE / "S2B_MSIL2A_20220413T150759_N0400_R025_T33XWJ_20220414T082126/MTD_MSIL2A.xml"

    def strip(data: dict[str, Any]) -> None:
        props = data["properties"]
        for key in ("s2:processing_baseline", "s2:product_uri", "s2:tile_id", "s2:datatake_id"):
            props.pop(key)
        props.pop("s2:datastrip_id")
        data["assets"]["product_metadata"]["href"] = str(mtd)

    item = _edited("es1__sentinel-2-c1-l2a__S2B_T34WFV_20240228T102857_L2A.json", tmp_path, strip)
    with pytest.raises(ItemError, match="no processing baseline"):
        normalize_item(item, BANDS)
    record = normalize_item(item, BANDS, read_metadata=lambda href: Path(href).read_bytes())
    assert (record.processing_baseline, record.apply_boa_offset) == ("04.00", True)
    assert find_baseline(item, lambda href: Path(href).read_bytes())[1].startswith("SAFE")


@requires_real_s2
def test_missing_band_is_named(tmp_path: Path) -> None:
    def drop_nir(data: dict[str, Any]) -> None:
        data["assets"].pop("nir")

    item = _edited("es1__sentinel-2-l2a__S2B_21MZV_20231110_0_L2A.json", tmp_path, drop_nir)
    with pytest.raises(ItemError, match=r"lacks band\(s\) B08"):
        normalize_item(item, BANDS)


@requires_real_s2
def test_bad_tile_metadata_is_an_item_error(tmp_path: Path) -> None:
    def bad_tile(data: dict[str, Any]) -> None:
        data["properties"]["grid:code"] = "MGRS-99ZZZ"

    item = _edited("es1__sentinel-2-l2a__S2B_21MZV_20231110_0_L2A.json", tmp_path, bad_tile)
    with pytest.raises(ItemError, match="bad tile metadata"):
        tile_id(item)


def test_asset_key_schemes_map_to_canonical_bands() -> None:
    assert canonical_band("red") == ("B04", None)
    assert canonical_band("nir08") == ("B8A", None)
    assert canonical_band("B8A") == ("B8A", None)
    assert canonical_band("SCL-20m") == ("SCL", 20)
    assert canonical_band("B04_10m") == ("B04", 10)
    assert canonical_band("SCL_60m") == ("SCL", 60)
    assert canonical_band("red-jp2") is None
    assert canonical_band("visual") is None
    assert canonical_band("AOT_10m") is None


# ---- the `inspect` command ------------------------------------------------------------------


def _inspect(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("inspect", *args)


@requires_real_s2
@pytest.mark.parametrize(
    "name",
    [
        f"cdse__sentinel-2-l2a__{CDSE_PRODUCT}.json",
        "es0__sentinel-s2-l2a-cogs__S2A_28QCH_20200714_0_L2A.json",
        "es1__sentinel-2-l2a__S2B_25LCG_20240809_0_L2A.json",
        PC_OLD_API,
    ],
)
def test_inspect_json_prints_the_record(name: str) -> None:
    result = _inspect(str(ITEMS / name), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    expected = EXPECTED[name]
    assert data["id"] == expected.id
    assert data["tile"] == expected.tile
    assert data["datetime"] == expected.datetime
    assert data["processing_baseline"] == expected.baseline
    assert data["apply_boa_offset"] is expected.apply_offset
    assert data["bands"]["B04"] == expected.red
    assert data["bands"]["SCL"] == expected.scl
    assert data["baseline_source"] == expected.baseline_from
    assert data["offset_reason"]


@requires_real_s2
def test_inspect_rejects_with_one_line_and_non_zero_exit() -> None:
    result = _inspect(str(ITEMS / "es1__sentinel-2-l1c__S2B_20EPT_20250731_0_L1C.json"), "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Level-1C" in lines[0]
    assert "Traceback" not in result.stderr


def test_inspect_rejects_a_file_that_is_not_an_item(tmp_path: Path) -> None:
    bogus = tmp_path / "not-an-item.json"
    bogus.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    result = _inspect(str(bogus))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not a STAC item" in result.stderr


@requires_real_s2
def test_inspect_text_output_lists_the_bands() -> None:
    result = _inspect(str(ITEMS / "es1__sentinel-2-c1-l2a__S2B_T25LCG_20240809T124253_L2A.json"))
    assert result.returncode == 0, result.stderr
    assert "05.11" in result.stdout
    assert "band SCL" in result.stdout


def test_records_do_not_share_state() -> None:
    """Normalizing must not mutate the item (items are reused by search paging)."""
    data = {
        "type": "Feature", "stac_version": "1.0.0", "id": "S2B_47PPR_20230105_0_L2A",
        "geometry": None, "properties": {
            "datetime": "2023-01-05T03:41:21Z", "grid:code": "MGRS-47PPR",
            "s2:processing_baseline": "05.09", "earthsearch:boa_offset_applied": False,
        },
        "links": [], "assets": {
            key: {"href": f"/data/{key}.tif", "type": "image/tiff"}
            for key in ("blue", "red", "nir", "scl")
        },
    }  # fmt: skip
    before = copy.deepcopy(data)
    record = normalize_item(pystac.Item.from_dict(data), BANDS)
    assert data == before
    assert record.apply_boa_offset is True
    assert record.bands["SCL"].href == "/data/scl.tif"
