"""Quicklooks and the campaign report of real demo runs (one module-scoped campaign).

The first run has one scene broken (its NIR band on another grid): it fails, and the report
written at its end lists that scene with its cause. The band is then repaired and the
campaign rerun to completion: every item has a thumbnail and an overview matching an
independent rendering of its data, and the report, rendered by headless Chromium, shows
counts equal to a direct count over the items, with links that resolve on disk.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
from collections import Counter
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import rasterio
import yaml
from rasterio.errors import NotGeoreferencedWarning

from raw2ready.checksums import file_checksum
from raw2ready.demo import archive as demo_archive
from raw2ready.products.registry import PRODUCTS

from .conftest import write_demo_campaign
from .test_workflow import snakemake, stac_validator

SIZE = 512
PRODUCT_NAMES = ["ndvi", "evi", "ndwi", "mask"]  # B02, B03, B04, B08: a true-colour overview
BROKEN = demo_archive.DEMO_SCENES[3]
CHROMIUM = shutil.which("chromium")
requires_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium (Debian package chromium) is not installed"
)


def _archive_folder(root: Path, scene: demo_archive.DemoScene) -> Path:
    return root / "archive" / demo_archive.scene_prefix(scene)


def _put_band(root: Path, scene: demo_archive.DemoScene, band: str, content: bytes) -> None:
    """Replace a band file of the archive and the checksum and size its item records."""
    folder = _archive_folder(root, scene)
    (folder / f"{band}.tif").write_bytes(content)
    item_path = folder / f"{demo_archive.item_id(scene)}.json"
    item = json.loads(item_path.read_text())
    (asset,) = [a for a in item["assets"].values() if a["href"] == f"./{band}.tif"]
    asset["file:checksum"] = file_checksum(folder / f"{band}.tif")
    asset["file:size"] = len(content)
    item_path.write_text(json.dumps(item))


def _halved(path: Path) -> bytes:
    """A band at half its size (on another grid than the scene's other bands)."""
    with rasterio.open(path) as dataset:
        profile = dataset.profile | {"width": dataset.width // 2, "height": dataset.height // 2}
        data = dataset.read(1)[: profile["height"], : profile["width"]]
    copy = path.with_suffix(".half.tif")
    with rasterio.open(copy, "w", **profile) as dataset:
        dataset.write(data, 1)
    content = copy.read_bytes()
    copy.unlink()
    return content


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo campaign (products making a true-colour overview possible), not yet run."""
    root = tmp_path_factory.mktemp("report")
    config = write_demo_campaign(root, SIZE)
    data = yaml.safe_load(config.read_text())
    data["products"] = PRODUCT_NAMES
    data["composites"] = {"enabled": True, "products": ["ndvi"]}
    config.write_text(yaml.safe_dump(data))
    return root


@pytest.fixture(scope="module")
def failed_report(campaign: Path) -> str:
    """The report a run with one broken scene wrote as it failed."""
    nir = _archive_folder(campaign, BROKEN) / "B08.tif"
    original = nir.read_bytes()
    _put_band(campaign, BROKEN, "B08", _halved(nir))
    result = snakemake(campaign, campaign / "demo.yaml", "--keep-going")
    assert result.returncode != 0
    report = (campaign / "results/demo/report.html").read_text()
    _put_band(campaign, BROKEN, "B08", original)
    (campaign / f"work/demo/inventories/{BROKEN.tile}.jsonl").unlink()  # search it again
    shutil.rmtree(campaign / "work/demo/downloads", ignore_errors=True)  # and fetch it again
    return report


@pytest.fixture(scope="module")
def run(campaign: Path, failed_report: str) -> Path:
    """The campaign rerun to completion after the repair."""
    result = snakemake(campaign, campaign / "demo.yaml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return campaign


def items(run: Path) -> list[tuple[Path, dict]]:
    """Every STAC item of the run, with its path."""
    paths = sorted((run / "results/demo/stac").rglob("*_L2A.json"))
    return [(path, json.loads(path.read_text())) for path in paths]


def read_png(path: Path) -> np.ndarray:
    """A PNG file as (rows, columns, RGBA), checking it is one."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as png:
            assert png.driver == "PNG" and png.count == 4
            return np.moveaxis(png.read(), 0, 2)


def dump_dom(page: Path) -> str:
    """The page's DOM as headless Chromium builds it from disk."""
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         page.resolve().as_uri()],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return result.stdout


def test_failed_run_reports_the_scene_and_its_cause(failed_report: str) -> None:
    failed = re.search(r'<table id="failed">.*?</table>', failed_report, re.S)
    assert failed, "the report of the failed run has no table of failed scenes"
    rows = re.findall(r'<tr class="failed">(.*?)</tr>', failed.group(0), re.S)
    assert len(rows) == 1
    assert demo_archive.item_id(BROKEN) in rows[0]
    assert "does not share the grid" in rows[0]


def test_every_item_has_a_thumbnail_of_its_ndvi(run: Path) -> None:
    spec = PRODUCTS["ndvi"]
    low, high = spec.render.range
    for path, item in items(run):
        thumbnail = read_png(path.parent / item["assets"]["thumbnail"]["href"])
        assert max(thumbnail.shape[:2]) <= 600
        with rasterio.open(path.parent / item["assets"]["ndvi"]["href"]) as ndvi:
            stored = ndvi.read(1)  # 512 px: the full resolution is small enough
        values = stored * spec.scale + spec.offset
        expected = matplotlib.colormaps["RdYlGn"]((values - low) / (high - low), bytes=True)
        masked = stored == spec.nodata
        expected[masked] = 0
        assert thumbnail.shape == expected.shape
        assert np.abs(thumbnail.astype(int) - expected.astype(int)).max() <= 1, path
        assert np.array_equal(thumbnail[..., 3] == 0, masked)


def test_overview_is_the_true_colour_of_the_archive_bands(run: Path) -> None:
    for scene in demo_archive.DEMO_SCENES[:3]:
        folder = _archive_folder(run, scene)
        props = json.loads((folder / f"{demo_archive.item_id(scene)}.json").read_text())[
            "properties"
        ]
        baseline = tuple(int(p) for p in props["s2:processing_baseline"].split("."))
        offset = -1000 if baseline >= (4, 0) and not props["earthsearch:boa_offset_applied"] else 0
        dn = []
        for band in ("B04", "B03", "B02"):
            with rasterio.open(folder / f"{band}.tif") as dataset:
                dn.append(dataset.read(1).astype(np.float64))
        rgb = np.stack(dn, axis=-1)
        expected = np.rint(np.clip((rgb + offset) / 10000 / 0.3, 0, 1) * 255)
        ((overview_path,),) = [
            list(
                (run / "results/demo/products").rglob(f"{demo_archive.item_id(scene)}_overview.png")
            )
        ]
        overview = read_png(overview_path)
        assert np.array_equal(overview[..., :3], expected.astype(np.uint8))
        assert np.array_equal(overview[..., 3] == 0, (rgb == 0).any(axis=-1))


def test_stac_with_quicklooks_and_render_hints_validates(run: Path) -> None:
    report = stac_validator(run / "results/demo/stac/collection.json")
    assert len(report) > len(demo_archive.DEMO_SCENES)
    collection = json.loads((run / "results/demo/stac/collection.json").read_text())
    assert collection["renders"]["ndvi"]["rescale"] == [[0, 10000]]
    assert collection["renders"]["ndvi"]["colormap_name"] == "rdylgn"


@requires_chromium
def test_report_in_chromium_counts_items_per_tile_and_year(run: Path) -> None:
    dom = dump_dom(run / "results/demo/report.html")
    expected = Counter(
        (item["properties"]["grid:code"].removeprefix("MGRS-"), item["properties"]["datetime"][:4])
        for _path, item in items(run)
    )
    shown: Counter[tuple[str, str]] = Counter()
    tiles = re.findall(r'<tr data-tile="(\w+)">(.*?)</tr>', dom, re.S)
    assert sorted(tile for tile, _row in tiles) == sorted(
        {s.tile for s in demo_archive.DEMO_SCENES}
    )
    for tile, row in tiles:
        for year, count in re.findall(r'<td data-year="(\d{4})">(\d+)</td>', row):
            shown[tile, year] += int(count)
        (total,) = re.findall(r'<td class="total">(\d+)</td>', row)
        assert int(total) == sum(n for (t, _y), n in expected.items() if t == tile)
    assert +shown == expected
    assert '<p id="failed">None.</p>' in dom
    for tile in dict(tiles):
        assert re.search(rf"<svg.*<title>{tile}: ", dom, re.S), f"{tile} is not on the map"


@requires_chromium
def test_report_links_resolve_on_disk(run: Path) -> None:
    page = run / "results/demo/report.html"
    dom = dump_dom(page)
    links = re.findall(r'(?:href|src)="([^"]+)"', dom)
    assert any(link.endswith("_thumbnail.png") for link in links)
    assert any(link.endswith("collection.json") for link in links)
    for link in links:
        assert "://" not in link, link  # nothing from the network
        assert (page.parent / link).resolve().is_file(), link


@requires_chromium
def test_report_screenshot_is_drawn(run: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1100,1400", f"--screenshot={shot}",
         (run / "results/demo/report.html").resolve().as_uri()],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    pixels = read_png_rgb(shot)
    assert pixels.shape[:2] == (1400, 1100)
    # The thumbnails' greens and reds are drawn (a blank page would be white and black only).
    colourful = np.ptp(pixels.astype(int), axis=-1) > 60
    assert colourful.sum() > 10_000


def read_png_rgb(path: Path) -> np.ndarray:
    """A screenshot (RGB or RGBA PNG) as (rows, columns, RGB)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as png:
            return np.moveaxis(png.read((1, 2, 3)), 0, 2)
