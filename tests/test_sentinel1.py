"""The optional Sentinel-1 family: GRD products found per tile (their footprint against the
tile's square, their polarisations), from a local folder or the CDSE catalogue stand-in, and
a real Snakemake run through the gpt double that publishes the family's own STAC collection,
a child of the campaign's root, which validates offline as one tree.
"""

from __future__ import annotations

import json
import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pystac
import pytest

from raw2ready.archives.cdse_auth import CdseSettings
from raw2ready.archives.transfer import DownloadOptions
from raw2ready.campaign.reprocess import layout_of, reprocess_s1_scene
from raw2ready.config import Settings
from raw2ready.errors import ConfigError, SearchError
from raw2ready.grid import parse_tile
from raw2ready.sentinel1.search import (
    manifest_footprint,
    overlaps,
    search_sentinel1,
)
from raw2ready.sentinel2.safe import SAFE_ASSET
from raw2ready.stac.validation import validate_stac_tree

from .cdse_server import CATALOGUE, CdseStandIn
from .conftest import make_settings
from .safe_factory import S1_NAME, SafeSpec, make_s1_grd_zip, make_safe_zip
from .test_sen2cor_snap import doubles  # noqa: F401  (fixture)
from .test_workflow import snakemake

#: Same take as S1_NAME, one day later, single polarisation (VV only).
VV_ONLY = "S1A_IW_GRDH_1SSV_20230616T112233_20230616T112258_049027_05E4D0_BEEF"
#: Before the campaign's dates.
TOO_EARLY = "S1A_IW_GRDH_1SDV_20220101T112233_20220101T112258_041200_04E5A0_CAFE"
#: Twelve days after S1_NAME (the next pass of the same orbit): spoiled in the failure test.
NEXT_PASS = "S1A_IW_GRDH_1SDV_20230628T112233_20230628T112258_049202_05E9A0_0BAD"
#: 47PPR and its northern neighbour share the product's footprint; 48PUB is far away.
TILES = ["47PPR", "47PPS"]


def _settings(tmp_path: Path, url: str, kind: str = "safe_folder", **s1: Any) -> Settings:
    return make_settings(
        tmp_path, tiles=[*TILES, "48PUB"], start="2023-01-01", end="2023-12-31",
        sentinel1={"enabled": True, "archive": {"kind": kind, "url": url}, **s1},
    )  # fmt: skip


def test_footprint_decides_the_tiles_a_product_serves(tmp_path: Path) -> None:
    archive = make_s1_grd_zip(tmp_path)
    with zipfile.ZipFile(archive) as zf:
        manifest = zf.read(f"{S1_NAME}.SAFE/manifest.safe")
    ring = manifest_footprint(manifest, "manifest.safe")
    assert len(ring) == 4 and all(99 < lon < 101 and 14 < lat < 17 for lon, lat in ring)
    assert [overlaps(parse_tile(tile), ring) for tile in [*TILES, "47PNR", "48PUB"]] == [
        True, True, True, False,
    ]  # fmt: skip
    # A footprint just east of the tile's square does not overlap it.
    west, north = parse_tile("47PPR").upper_left
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(32647, 4326, always_xy=True)
    east = west + 109_800
    corners = [(east + 10, north - 10), (east + 5000, north - 10), (east + 5000, north - 5000)]
    outside = [to_lonlat.transform(x, y) for x, y in corners]
    inside = [to_lonlat.transform(x - 20, y) for x, y in corners]
    assert not overlaps(parse_tile("47PPR"), outside)
    assert overlaps(parse_tile("47PPR"), inside)


def test_folder_search_keeps_products_with_the_tile_dates_and_polarisations(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "grd"
    folder.mkdir()
    make_s1_grd_zip(folder)
    make_s1_grd_zip(folder, name=VV_ONLY)
    make_s1_grd_zip(folder, name=TOO_EARLY)
    (folder / "S1A_IW_GRDH_1SDV_broken.zip").write_bytes(b"not a zip")
    settings = _settings(tmp_path, str(folder))
    options = DownloadOptions()

    per_tile = {tile: search_sentinel1(settings, tile, options) for tile in [*TILES, "48PUB"]}

    for tile in TILES:
        (record,) = per_tile[tile].records
        assert record.id == f"{S1_NAME}_T{tile}" and record.tile == tile
        assert record.collection == "sentinel-1-grd" and record.platform == "sentinel-1a"
        assert record.datetime == "2023-06-15T11:22:33Z"
        assert record.bands[SAFE_ASSET].href == str((folder / f"{S1_NAME}.zip").resolve())
    assert per_tile["48PUB"].records == []
    assert [name for name, _ in per_tile["47PPR"].rejected] == ["S1A_IW_GRDH_1SDV_broken.zip"]
    vv_only = search_sentinel1(_settings(tmp_path, str(folder), polarisations=["VV"]), "47PPR",
                               options)  # fmt: skip
    assert sorted(r.id[:33] for r in vv_only.records) == [S1_NAME[:33], VV_ONLY[:33]]


def test_misconfigured_family_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key 'sentinel1': 'archive' is a required key"):
        make_settings(tmp_path, sentinel1={"enabled": True})
    with pytest.raises(SearchError, match=r"sentinel1\.archive folder .*nowhere does not exist"):
        search_sentinel1(_settings(tmp_path, str(tmp_path / "nowhere")), "47PPR", DownloadOptions())
    disabled = make_settings(tmp_path)
    with pytest.raises(SearchError, match=r"sentinel1\.enabled is false"):
        search_sentinel1(disabled, "47PPR", DownloadOptions())


def _s1_entity(number: int, name: str, ring: list[list[float]], **extra: Any) -> dict[str, Any]:
    start = datetime.strptime(name.split("_")[4], "%Y%m%dT%H%M%S")
    return {
        "Id": f"10000000-0000-4000-8000-{number:012d}", "Name": f"{name}.SAFE",
        "ContentLength": 1000 + number, "Online": True,
        "S3Path": f"/eodata/Sentinel-1/SAR/GRD/{start:%Y/%m/%d}/{name}.SAFE",
        "Checksum": [], "ContentDate": {"Start": f"{start:%Y-%m-%dT%H:%M:%S}.000Z"},
        "GeoFootprint": {"type": "Polygon", "coordinates": [ring]},
        "Attributes": [{"@odata.type": "#OData.CSC.StringAttribute", "Name": "productType",
                        "Value": "IW_GRDH_1S", "ValueType": "String"}],
        **extra,
    }  # fmt: skip


def test_cdse_search_asks_for_iw_grd_over_the_tile(tmp_path: Path) -> None:
    # 47PPR spans about lon 99.92-100.95, lat 13.47-14.47.
    covering = [[100.2, 13.0], [101.5, 13.0], [101.5, 14.0], [100.2, 14.0], [100.2, 13.0]]
    far = [[10.0, 50.0], [11.0, 50.0], [11.0, 51.0], [10.0, 51.0], [10.0, 50.0]]
    # Its bounding box touches the tile's (the stand-in returns it), the diamond does not.
    corner = [[101.2, 14.42], [101.5, 14.72], [101.2, 15.02], [100.9, 14.72], [101.2, 14.42]]
    with CdseStandIn({}) as cdse:
        cdse.add("SENTINEL-1", _s1_entity(1, S1_NAME, covering))
        cdse.add("SENTINEL-1", _s1_entity(2, VV_ONLY, covering))
        cdse.add("SENTINEL-1", _s1_entity(3, TOO_EARLY, covering))
        cdse.add("SENTINEL-1", _s1_entity(4, S1_NAME.replace("0615T", "0627T"), far))
        cdse.add("SENTINEL-1", _s1_entity(5, S1_NAME.replace("0615T", "0709T"), corner))
        cdse.script(CATALOGUE, "429:0")
        settings = make_settings(
            tmp_path, tiles=["47PPR"], start="2023-01-01", end="2023-12-31",
            archive={"kind": "static_catalog", "url": "x",
                     "cdse": {"download_url": cdse.catalogue_url}},
            sentinel1={"enabled": True, "archive": {"kind": "cdse_odata",
                                                    "url": cdse.catalogue_url}},
        )  # fmt: skip
        result = search_sentinel1(
            settings, "47PPR", DownloadOptions(backoff_seconds=0, sleep=lambda _s: None)
        )
        sent = parse_qs(urlsplit(cdse.catalogue_requests()[-1].path).query)["$filter"][0]
        # The server's (bounding box) filter passes the corner product, the client drops it.
        assert cdse.products[4].matches(sent) and not cdse.products[3].matches(sent)
    assert [r.id for r in result.records] == [f"{S1_NAME}_T47PPR"]
    asset = result.records[0].bands[SAFE_ASSET]
    assert asset.href == CdseSettings(download_url=cdse.catalogue_url).product_href(
        "10000000-0000-4000-8000-000000000001"
    )
    assert "SENTINEL-1" in sent and "IW_GRDH_1S" in sent and "OData.CSC.Intersects" in sent


def test_cdse_product_is_downloaded_with_a_token_checked_and_processed(
    tmp_path: Path,
    doubles: dict[str, Path],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDSE_USERNAME", "s1-user")
    monkeypatch.setenv("CDSE_PASSWORD", "s1-password")
    data = make_s1_grd_zip(tmp_path).read_bytes()
    covering = [[99.9, 13.4], [101.0, 13.4], [101.0, 14.6], [99.9, 14.6], [99.9, 13.4]]
    with CdseStandIn({"s1-user": "s1-password"}) as cdse:
        entity = _s1_entity(1, S1_NAME, covering, ContentLength=len(data))
        cdse.add("SENTINEL-1", entity, data)
        cdse.script(f"/odata/v1/Products({entity['Id']})/$value", "503")
        cdse_settings = {"download_url": cdse.catalogue_url, "token_url": cdse.token_url}
        settings = make_settings(
            tmp_path, tiles=["47PPR"], start="2023-01-01", end="2023-12-31",
            archive={"kind": "static_catalog", "url": "x", "cdse": cdse_settings},
            download={"backoff_seconds": 0},
            sentinel1={"enabled": True, "polarisations": ["VH"],
                       "archive": {"kind": "cdse_odata", "url": cdse.catalogue_url}},
        )  # fmt: skip
        (record,) = search_sentinel1(settings, "47PPR", DownloadOptions()).records
        reprocess_s1_scene(settings, record)
        assert cdse.grants == ["password"]
    item = json.loads(layout_of(settings).item(record).read_text())
    assert set(item["assets"]) == {"gamma0_vh"}
    assert item["properties"]["sar:polarizations"] == ["VH"]
    assert len(doubles["gpt_calls"].read_text().splitlines()) == 1
    assert not (doubles["gpt_keep"] / "s1_grd.Gamma0_VV.img").exists(), "only VH selected"


# ------------------------------------------------------------------ the workflow


def write_s1_campaign(root: Path, tiles: list[str], products: list[str]) -> None:
    """root/s1.yaml: a SAFE L2A and a Sentinel-1 GRD product (S1_NAME) covering 47PPR and
    47PPS, in safe_folder archives root/s2 and root/grd (campaign "s1")."""
    (root / "s2").mkdir()
    make_safe_zip(root / "s2", SafeSpec(level="L2A"))
    (root / "grd").mkdir()
    make_s1_grd_zip(root / "grd")
    config = {
        "campaign": "s1",
        "archive": {"kind": "safe_folder", "url": str(root / "s2")},
        "tiles": tiles, "start": "2023-01-01", "end": "2023-12-31",
        "products": products, "cog": {"blocksize": 256},
        "sentinel1": {"enabled": True,
                      "archive": {"kind": "safe_folder", "url": str(root / "grd")}},
    }  # fmt: skip
    (root / "s1.yaml").write_text(json.dumps(config))


def test_workflow_publishes_sentinel1_items_in_their_own_collection(
    tmp_path: Path,
    doubles: dict[str, Path],  # noqa: F811
) -> None:
    write_s1_campaign(tmp_path, TILES, ["ndvi", "mask"])

    result = snakemake(tmp_path, tmp_path / "s1.yaml")

    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stderr.count("rule sentinel1_scene:") == 2
    assert len(doubles["gpt_calls"].read_text().splitlines()) == 2
    stac = tmp_path / "results/stac"
    root = json.loads((stac / "collection.json").read_text())
    children = {link["href"] for link in root["links"] if link["rel"] == "child"}
    assert children == {
        "./47PPR/catalog.json",
        "./47PPS/catalog.json",
        "sentinel-1/collection.json",
    }
    family = json.loads((stac / "sentinel-1/collection.json").read_text())
    assert family["id"] == "raw2ready-s1-sentinel-1"
    assert family["summaries"]["constellation"] == ["sentinel-1"]
    assert "s2:processing_baseline" not in family["summaries"]
    # Objects: root; 2 S2 tiles, each with its 2023 catalog and 4 quarter catalogs (the
    # campaign's quarters), 47PPR also its one month and item; the family collection, 2 S1
    # tiles, each with its 2023, 4 quarter and 12 month catalogs and its item.
    assert validate_stac_tree(stac / "collection.json") == 1 + (6 + 2) + 6 + 1 + 2 * (18 + 1)
    catalog = pystac.read_file(stac / "collection.json")
    items = {item.id: item for item in catalog.get_items(recursive=True)}
    s1_items = sorted(i for i in items if i.startswith("S1A"))
    assert s1_items == [f"{S1_NAME}_T{tile}" for tile in TILES]
    item = items[s1_items[0]]
    assert item.collection_id == "raw2ready-s1-sentinel-1"
    assert item.properties["sar:polarizations"] == ["VV", "VH"]
    assert item.get_root().id == "raw2ready-s1"
    assert set(item.assets) == {"gamma0_vv", "gamma0_vh"}
    product = Path(item.assets["gamma0_vv"].get_absolute_href())
    assert product.is_file() and product.parts[-7:-5] == ("sentinel-1", "47PPR")
    assert not list((tmp_path / "work").glob("downloads/*/S1A_*/*.zip")), "downloads removed"
    # A lost product makes its scene (and only it) run again.
    product.unlink()
    rerun = snakemake(tmp_path, tmp_path / "s1.yaml", "-n")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    plan = rerun.stdout + rerun.stderr
    assert re.search(r"^sentinel1_repair_scene\s+1$", plan, re.MULTILINE), plan[-3000:]
    assert f"scene={s1_items[0]}" in plan and f"scene={s1_items[1]}" not in plan
    assert not re.search(r"^(scenes?|sen2cor|tile_catalog)\s+\d+$", plan, re.MULTILINE)


def flip_member_bytes(archive: Path, member_suffix: str) -> None:
    """Flip 64 bytes in the middle of a zip member's stored data, in place (same length):
    the archive still opens and lists its members, as a corrupting disk or proxy leaves it."""
    with zipfile.ZipFile(archive) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(member_suffix))
    data = bytearray(archive.read_bytes())
    header = info.header_offset
    name_length = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(data[header + 28 : header + 30], "little")
    start = header + 30 + name_length + extra_length + info.compress_size // 2
    data[start : start + 64] = bytes(b ^ 0xFF for b in data[start : start + 64])
    archive.write_bytes(bytes(data))


def test_a_failed_sentinel1_product_costs_only_itself_and_is_retried_alone(
    tmp_path: Path,
    doubles: dict[str, Path],  # noqa: F811
) -> None:
    write_s1_campaign(tmp_path, ["47PPR"], ["ndvi"])
    broken = make_s1_grd_zip(tmp_path / "grd", name=NEXT_PASS)
    sound = broken.read_bytes()
    flip_member_bytes(broken, "-001.tiff")  # the VV measurement
    assert broken.stat().st_size == len(sound)
    failed_id, good_id = f"{NEXT_PASS}_T47PPR", f"{S1_NAME}_T47PPR"

    first = snakemake(tmp_path, tmp_path / "s1.yaml")

    output = first.stdout + first.stderr
    assert first.returncode != 0, output[-4000:]
    assert "Traceback" not in output
    # the one-line cause, listed at the end, and the run's last error naming the product
    [listed] = [line for line in output.splitlines() if line.startswith("failed scene ")]
    assert listed.startswith(f"failed scene {failed_id}: {failed_id}.zip: member '"), listed
    assert "-001.tiff' is corrupt" in listed, listed
    assert f"1 scene(s) failed ({failed_id})" in output, output[-3000:]
    # everything else is complete and published: the other product, the Sentinel-2 scene
    stac = tmp_path / "results/stac"
    catalog = pystac.read_file(stac / "collection.json")
    items = {item.id for item in catalog.get_items(recursive=True)}
    assert good_id in items and failed_id not in items
    assert any(item.startswith("S2") for item in items)
    assert validate_stac_tree(stac / "collection.json") > 0
    assert not list((tmp_path / "results/products/sentinel-1").rglob(f"{NEXT_PASS}*.tif"))
    assert len(doubles["gpt_calls"].read_text().splitlines()) == 1  # the sound product only

    broken.write_bytes(sound)  # the archive is repaired
    rerun = snakemake(tmp_path, tmp_path / "s1.yaml")

    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output[-4000:]
    assert output.count("rule sentinel1_repair_scene:") == 1
    assert f"scene={failed_id}" in output and f"scene={good_id}" not in output
    assert "rule sentinel1_scene:" not in output and "rule scenes:" not in output
    assert len(doubles["gpt_calls"].read_text().splitlines()) == 2  # only it, once more
    catalog = pystac.read_file(stac / "collection.json")
    assert {good_id, failed_id} <= {item.id for item in catalog.get_items(recursive=True)}
    [outcome] = (tmp_path / "work").rglob("outcome.json")
    assert json.loads(outcome.read_text())["failed"] == []
