"""What a finished demo run publishes, read the way its users read it: the embedded search
index (`raw2ready products search`) and the STAC tree through stackstac and odc-stac.

One module-scoped workflow run (small rasters) feeds every check. Search results are
compared with a direct computation over the item JSON files (shapely for bboxes); what the
clients load is compared with rasterio reads of the COGs.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pystac
import pytest
import rasterio
import shapely

from raw2ready.demo import archive as demo_archive
from raw2ready.errors import ConfigError
from raw2ready.layout import Layout
from raw2ready.stac.index import SearchCriteria, search_index

from .conftest import make_settings, run_cli, write_demo_campaign
from .test_catalog import publish, record
from .test_workflow import snakemake

SIZE = 256
#: Every relation of a link inside the published tree (the rest: derived_from, license).
TREE_RELS = {"root", "parent", "child", "item", "collection", "self"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished demo campaign (the sample archive at SIZE pixels), as `make demo` runs it."""
    root = tmp_path_factory.mktemp("published")
    config = write_demo_campaign(root, SIZE, composites=False)
    result = snakemake(root, config)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    (root / "run.log").write_text(result.stderr)
    return root


def test_progress_counts_every_job_once_and_ends_at_100_percent(run: Path) -> None:
    """Two tile searches run side by side from an empty work folder; each checkpoint's
    finish rebuilds the DAG, and the count stays true: never past the total, all done at
    the end, equal to the jobs Snakemake started."""
    log = (run / "run.log").read_text()
    steps = [(int(d), int(t)) for d, t in re.findall(r"^(\d+) of (\d+) steps", log, re.M)]
    assert steps, log[-2000:]
    assert all(done <= total for done, total in steps), steps
    started = re.findall(r"^(?:local)?(?:rule|checkpoint) \w+:$", log, re.M)
    assert steps[-1][0] == steps[-1][1] == len(started)


def output(run: Path) -> Path:
    return run / "results" / "demo"


def item_files(run: Path) -> list[Path]:
    return sorted((output(run) / "stac").rglob("S2*_L2A.json"))


def items(run: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in item_files(run)]


def search(run: Path, *args: str) -> list[str]:
    """Ids printed by `raw2ready products search` for the demo config and ARGS."""
    result = run_cli("products", "search", "--configfile", "demo.yaml", *args, cwd=run)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def ids(selected: list[dict[str, Any]]) -> list[str]:
    """Ids in the search's order: by datetime, then id."""
    return [d["id"] for d in sorted(selected, key=lambda d: (d["properties"]["datetime"], d["id"]))]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def when(data: dict[str, Any]) -> datetime:
    return parse_time(data["properties"]["datetime"])


def test_index_holds_every_item_of_the_tree(run: Path) -> None:
    stac = output(run) / "stac"
    lines = (stac / "items.ndjson").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(ids(items(run)))
    assert search(run) == ids(items(run))
    assert len(search(run)) == len(demo_archive.DEMO_SCENES)


def test_search_by_bbox_equals_shapely_intersection(run: Path) -> None:
    every = items(run)
    west, south, *_ = every[0]["bbox"]
    query = (west - 0.05, south - 0.05, west + 0.05, south + 0.05)
    expected = [d for d in every if shapely.box(*d["bbox"]).intersects(shapely.box(*query))]
    assert 0 < len(expected) < len(every)
    assert search(run, "--bbox", ",".join(map(str, query))) == ids(expected)


def test_search_by_datetime_range(run: Path) -> None:
    every = items(run)
    start, end = datetime(2022, 1, 1, tzinfo=UTC), datetime(2023, 6, 30, 23, 59, 59, tzinfo=UTC)
    expected = [d for d in every if start <= when(d) <= end]
    assert 0 < len(expected) < len(every)
    assert search(run, "--datetime", "2022-01-01/2023-06-30") == ids(expected)
    assert search(run, "--datetime", "../2023-06-30") == ids([d for d in every if when(d) <= end])


def test_search_by_tile_and_product(run: Path) -> None:
    every = items(run)
    expected = [d for d in every if d["properties"]["grid:code"] == "MGRS-48PUB"]
    assert 0 < len(expected) < len(every)
    assert search(run, "--tile", "48PUB", "--product", "ndvi") == ids(expected)
    result = run_cli("products", "search", "--configfile", "demo.yaml", "--product", "evi", cwd=run)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "raw2ready: error: no product 'evi' in the index; its products: lai, mask, ndvi"
    ]


def test_search_by_cql2_property_filter(run: Path) -> None:
    every = items(run)
    expected = [d for d in every if d["properties"]["eo:cloud_cover"] < 10]
    assert 0 < len(expected) < len(every)
    assert search(run, "--filter", "eo:cloud_cover < 10") == ids(expected)
    some = [
        d
        for d in every
        if d["properties"]["eo:cloud_cover"] < 20 and d["properties"]["platform"] == "sentinel-2b"
    ]
    assert 0 < len(some) < len([d for d in every if d["properties"]["eo:cloud_cover"] < 20])
    assert search(run, "--filter", "eo:cloud_cover < 20 AND platform = 'sentinel-2b'") == ids(some)


def test_search_json_gives_items_whose_hrefs_resolve_from_anywhere(run: Path) -> None:
    result = run_cli(
        "products", "search", "--configfile", "demo.yaml", "--tile", "47PPR", "--json", cwd=run
    )
    assert result.returncode == 0, result.stderr
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["id"] for d in found] == search(run, "--tile", "47PPR")
    for data in found:
        for asset in data["assets"].values():
            assert Path(asset["href"]).is_absolute() and Path(asset["href"]).is_file()
        (self_link,) = [link for link in data["links"] if link["rel"] == "self"]
        assert json.loads(Path(self_link["href"]).read_text())["id"] == data["id"]
    stored = json.loads((output(run) / "stac" / "items.ndjson").read_text().splitlines()[0])
    assert not any(Path(a["href"]).is_absolute() for a in stored["assets"].values())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--filter", "eo:cloud_cover <"], "filter 'eo:cloud_cover <' is not valid CQL2 text"),
        (["--bbox", "1,2,3"], "bbox '1,2,3' is not W,S,E,N in degrees"),
        (["--datetime", "2023-13-01"], "datetime '2023-13-01' is not an RFC 3339 time"),
    ],
)
def test_bad_queries_are_one_line_errors(run: Path, args: list[str], message: str) -> None:
    result = run_cli("products", "search", "--configfile", "demo.yaml", *args, cwd=run)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"raw2ready: error: {message}"), line


def test_every_href_of_the_tree_resolves_inside_the_published_folder(run: Path) -> None:
    published = output(run).resolve()
    for path in (output(run) / "stac").rglob("*.json"):
        data = json.loads(path.read_text())
        hrefs = [a["href"] for a in data.get("assets", {}).values()] + [
            link["href"] for link in data["links"] if link["rel"] in TREE_RELS
        ]
        for href in hrefs:
            assert not urlparse(href).scheme, f"{path}: {href}"
            target = (path.parent / href).resolve()
            assert target.is_relative_to(published), f"{path}: {href} leaves {published}"
            assert target.is_file(), f"{path}: {href}"


def test_lineage_names_the_source_item_and_footprints_wind_counter_clockwise(run: Path) -> None:
    for data in items(run):
        (source,) = [link for link in data["links"] if link["rel"] == "derived_from"]
        source_item = json.loads(Path(urlparse(source["href"]).path).read_text())
        assert source_item["id"] == data["id"]
        polygon = shapely.geometry.shape(data["geometry"])
        assert polygon.exterior.is_ccw


def test_mask_cog_carries_the_classes_colour_table(run: Path) -> None:
    data = items(run)[0]
    mask = data["assets"]["mask"]
    classes = {c["value"]: c for c in mask["classification:classes"]}
    path = item_files(run)[0].parent / mask["href"]
    with rasterio.open(path) as src:
        colours = src.colormap(1)
    for value, entry in classes.items():
        assert entry["color_hint"] == "{:02X}{:02X}{:02X}".format(*colours[value][:3])
    collection = json.loads((output(run) / "stac" / "collection.json").read_text())
    assert set(collection["item_assets"]) == {"lai", "mask", "ndvi", "thumbnail", "overview"}
    assert (
        collection["item_assets"]["mask"]["classification:classes"]
        == mask["classification:classes"]
    )


def test_a_base_url_makes_asset_hrefs_absolute_under_it(tmp_path: Path) -> None:
    base = "https://data.example.org/campaign"
    layout = Layout(tmp_path / "out", tmp_path / "work", base)
    scene = dataclasses.replace(
        record("A", "47PPR", "2023-01-05T03:41:21Z"),
        source_href="https://earth-search.aws.element84.com/v1/collections/x/items/A",
    )
    publish(layout, [(scene, 32647, 600000.0)])
    data = json.loads(layout.item(scene).read_text())
    for name, asset in data["assets"].items():
        relative = layout.product(scene, name).relative_to(layout.output_dir).as_posix()
        assert asset["href"] == f"{base}/{relative}"
    (source,) = [link for link in data["links"] if link["rel"] == "derived_from"]
    assert source["href"] == scene.source_href
    assert {link["rel"] for link in data["links"] if link["href"].startswith(base)} == set()


@pytest.mark.parametrize(
    "url, accepted",
    [("https://data.example.org/c", True), ("s3://bucket/c", True),
     ("http://data.example.org/c", False), ("https://data.example.org/c/", False)],
)  # fmt: skip
def test_publish_base_url_is_https_or_s3_without_trailing_slash(
    tmp_path: Path, url: str, accepted: bool
) -> None:
    if accepted:
        assert make_settings(tmp_path, publish={"base_url": url}).publish.base_url == url
    else:
        with pytest.raises(ConfigError, match=r"publish\.base_url"):
            make_settings(tmp_path, publish={"base_url": url})


def _rasterio_grid(path: Path) -> tuple[int, tuple[float, ...], np.ndarray]:
    """EPSG code, transform and scaled values (nodata as NaN) of a product COG."""
    with rasterio.open(path) as src:
        values = src.read(1, masked=True).astype("float64") * src.scales[0] + src.offsets[0]
        return src.crs.to_epsg(), tuple(src.transform)[:6], values.filled(np.nan)


def _one_scene(run: Path) -> tuple[pystac.Item, Path]:
    path = item_files(run)[0]
    return pystac.Item.from_file(path), path.parent / json.loads(path.read_text())["assets"][
        "ndvi"
    ]["href"]


def test_stackstac_loads_the_items_with_no_extra_arguments(run: Path) -> None:
    """stackstac reads item dicts (pystac would migrate proj:epsg away), here as the index's
    search returns them (or pystac-client's `items_as_dicts` from a STAC API)."""
    stackstac = pytest.importorskip("stackstac")
    _item, cog = _one_scene(run)
    epsg, transform, values = _rasterio_grid(cog)
    criteria = SearchCriteria(
        tiles=(_item.properties["grid:code"][5:],), datetime_range=(_item.datetime, _item.datetime)
    )
    (found,) = search_index(output(run) / "stac" / "items.parquet", criteria)
    stack = stackstac.stack([found], assets=["ndvi"])
    assert stack.attrs["crs"] == f"epsg:{epsg}"
    assert tuple(stack.attrs["transform"])[:6] == transform
    loaded = stack.sel(band="ndvi").isel(time=0).values
    np.testing.assert_allclose(loaded, values, equal_nan=True, rtol=1e-6)


def test_odc_stac_loads_the_items_with_no_extra_arguments(run: Path) -> None:
    odc_stac = pytest.importorskip("odc.stac")
    item, cog = _one_scene(run)
    epsg, transform, values = _rasterio_grid(cog)
    dataset = odc_stac.load([item], bands=["ndvi"])
    assert dataset.odc.geobox.crs.epsg == epsg
    assert tuple(dataset.odc.geobox.affine)[:6] == transform
    raw = dataset["ndvi"].isel(time=0).values.astype("float64")
    with rasterio.open(cog) as src:
        nodata, scale, offset = src.nodata, src.scales[0], src.offsets[0]
    loaded = np.where(raw == nodata, np.nan, raw * scale + offset)
    np.testing.assert_allclose(loaded, values, equal_nan=True, rtol=1e-6)


def test_a_repaired_scene_updates_the_index(run: Path) -> None:
    """Last: it changes the run. A lost product is remade, its item rewritten, and the index
    holds the new item."""
    path = item_files(run)[2]
    before = json.loads(path.read_text())
    (path.parent / before["assets"]["lai"]["href"]).resolve().unlink()
    result = snakemake(run, run / "demo.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    after = json.loads(path.read_text())
    assert after["properties"]["created"] > before["properties"]["created"]
    lines = (output(run) / "stac" / "items.ndjson").read_text().splitlines()
    (indexed,) = [json.loads(line) for line in lines if json.loads(line)["id"] == after["id"]]
    assert indexed["properties"] == after["properties"]
    (found,) = search_index(
        output(run) / "stac" / "items.parquet", SearchCriteria(cql2_filter=f"id = '{after['id']}'")
    )
    assert parse_time(found["properties"]["created"]) == parse_time(after["properties"]["created"])
