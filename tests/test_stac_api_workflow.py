"""The whole chain through a STAC API: a real Snakemake run with archive.kind stac_api.

The sample archive's items are loaded into `rustac serve` on 127.0.0.1 with their band
hrefs pointing at the fault-injecting file server, which serves the archive's COGs. Some
bands meet transient faults (503, 429 + Retry-After, reset, truncated body) and one band
fails for good: the run finishes every other scene and the collection, records the broken
scene failed with its cause and ends non-zero naming it, leaving no file of it under a final
name; the rerun after the server recovers fetches only that scene's bands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pystac
import yaml

from raw2ready.campaign.inventory import read_inventory
from raw2ready.demo import archive as demo_archive

from .conftest import PROJECT
from .servers import FaultyFileServer, rustac_server
from .test_workflow import snakemake

SIZE = 64
BROKEN = "S2B_48PUB_20230811_0_L2A"


def served_items(catalog: Path, cogs: FaultyFileServer) -> list[dict[str, Any]]:
    """The archive's items as a STAC API serves them: asset hrefs on the file server."""
    root = catalog.parent
    items = []
    for item in pystac.read_file(str(catalog)).get_items(recursive=True):
        data = item.to_dict(include_self_link=False, transform_hrefs=False)
        for key, asset in item.assets.items():
            local = Path(asset.get_absolute_href() or asset.href)
            data["assets"][key]["href"] = f"{cogs.url}/{local.relative_to(root).as_posix()}"
        data["links"] = []
        items.append(data)
    return items


def band_path(items: list[dict[str, Any]], scene: str, key: str) -> str:
    item = next(i for i in items if i["id"] == scene)
    return "/" + item["assets"][key]["href"].split("/", 3)[3]


def test_chain_runs_through_a_stac_api_with_faults_and_reruns_only_what_failed(
    tmp_path: Path,
) -> None:
    catalog = demo_archive.write_demo_archive(tmp_path / "archive", seed=42, size=SIZE)
    scenes = {demo_archive.item_id(scene) for scene in demo_archive.DEMO_SCENES}
    with FaultyFileServer(root=catalog.parent) as cogs:
        items = served_items(catalog, cogs)
        feature_collection = tmp_path / "items.json"
        feature_collection.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
        transient = {
            band_path(items, "S2A_47PPR_20230105_0_L2A", "red"): ("503", "truncate"),
            band_path(items, "S2B_47PPR_20230619_0_L2A", "nir"): ("reset",),
            band_path(items, "S2A_48PUB_20230319_0_L2A", "scl"): ("429:1",),
        }
        for path, faults in transient.items():
            cogs.script(path, *faults)
        broken = band_path(items, BROKEN, "nir")
        cogs.script(broken, *["503"] * 100)

        with rustac_server(feature_collection, tmp_path / "rustac.log") as api:
            config = yaml.safe_load((PROJECT / "config" / "demo.yaml").read_text())
            config |= {"composites": {"enabled": False}, "cube": {"enabled": False}}
            config["archive"] = {
                "kind": "stac_api", "url": api, "collection": "sentinel-2-l2a", "page_size": 3,
            }  # fmt: skip
            config["download"] = {"attempts": 3, "backoff_seconds": 0.05, "timeout_seconds": 5}
            (tmp_path / "api.yaml").write_text(yaml.safe_dump(config))

            first = snakemake(tmp_path, tmp_path / "api.yaml")
            assert first.returncode != 0

            written = {p.stem for p in (tmp_path / "results/demo/stac").rglob("*_L2A.json")}
            assert written == scenes - {BROKEN}
            for path in transient:
                assert len(cogs.requests_for(path)) >= 2, path
            inventory = [
                r for tile in ("47PPR", "48PUB")
                for r in read_inventory(tmp_path / f"work/demo/inventories/{tile}.jsonl")
            ]  # fmt: skip
            assert {r.id for r in inventory} == scenes
            assert all(b.href.startswith(cogs.url) for r in inventory for b in r.bands.values())

            # the broken scene cost only itself: its batch record names it failed with the
            # download's cause, the catalog and the collection hold every other scene, the
            # console names it, and no file of it is under a final name
            (record,) = [r for r in inventory if r.id == BROKEN]
            month = f"{record.tile}/{record.year}/{record.quarter}/{record.month}"
            batch = json.loads((tmp_path / f"work/demo/batches/{month}.json").read_text())
            (failed,) = [s for s in batch["scenes"] if s["status"] == "failed"]
            assert failed["id"] == BROKEN
            assert "B08.tif: HTTP 503 (gave up after 3 attempts" in failed["error"]
            assert f"failed scene {BROKEN}: " in first.stdout + first.stderr
            assert (tmp_path / "results/demo/stac/collection.json").exists()
            assert not (tmp_path / f"work/demo/downloads/{month}").exists()
            assert not list((tmp_path / "results/demo/products").rglob(f"{BROKEN}_*.tif"))

            cogs.faults.clear()
            cogs.requests.clear()
            second = snakemake(tmp_path, tmp_path / "api.yaml")
            assert second.returncode == 0, second.stderr[-3000:]

        written = {p.stem for p in (tmp_path / "results/demo/stac").rglob("*_L2A.json")}
        assert written == scenes
        assert (tmp_path / "results/demo/stac/collection.json").exists()
        fetched = {r.path.split("/")[-2] for r in cogs.requests if r.path.endswith(".tif")}
        assert fetched == {BROKEN}
        assert [r.path for r in cogs.requests if r.path == broken]
