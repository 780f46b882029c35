"""Publication to a real STAC API database: PostgreSQL + PostGIS (Debian packages) with
pgstac, served by stac-fastapi-pgstac, searched with pystac-client.

One module: a database and an API on 127.0.0.1, the demo workflow run once with a
`publish` section; the searches are compared with a direct computation over the item files.
The rerun checks come last because they change what is published.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from pystac_client import Client
from shapely.geometry import box, shape

from .conftest import run_cli, write_demo_campaign
from .pgstac_database import DATABASE, UNAVAILABLE, free_port, pgstac_database
from .test_workflow import snakemake

pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))


@pytest.fixture(scope="module")
def database() -> Iterator[int]:
    """A PostgreSQL cluster with pgstac migrated in, on 127.0.0.1: its port."""
    with pgstac_database() as port:
        yield port


@pytest.fixture(scope="module")
def api(database: int) -> Iterator[str]:
    """stac-fastapi-pgstac over the database, on 127.0.0.1: its root URL."""
    port = free_port()
    env = dict(os.environ, PGUSER="postgres", PGPASSWORD="unused-with-trust",
               PGHOST="127.0.0.1", PGPORT=str(database), PGDATABASE=DATABASE)  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if server.poll() is not None:
                pytest.fail(f"stac-fastapi-pgstac exited: {server.stderr.read()[-2000:]}")
            try:
                if requests.get(f"{url}/_mgmt/ping", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory, database: int) -> Path:
    """The demo workflow run with a `publish` section pointing at the database."""
    root = tmp_path_factory.mktemp("published")
    config_path = write_demo_campaign(root, size=256, composites=False)
    config = yaml.safe_load(config_path.read_text())
    config["publish"] = {"pgstac": {"host": "127.0.0.1", "port": database, "dbname": DATABASE}}
    config_path.write_text(yaml.safe_dump(config))
    result = snakemake(root, config_path)
    assert result.returncode == 0, result.stderr[-4000:]
    return root


def item_files(root: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Item id -> (file, document) of every item of the campaign's STAC tree."""
    found = {}
    for path in (root / "results" / "demo" / "stac").rglob("*.json"):
        data = json.loads(path.read_text())
        if data["type"] == "Feature":
            found[data["id"]] = (path, data)
    return found


def search_ids(api: str, **search: Any) -> set[str]:
    """Ids of the items a pystac-client search of the API returns (every page)."""
    client = Client.open(api)
    return {item.id for item in client.search(collections=["raw2ready-demo"], **search).items()}


def test_the_workflow_published_every_item(campaign: Path, api: str) -> None:
    items = item_files(campaign)
    assert len(items) > 10
    assert search_ids(api) == set(items)
    record = json.loads((campaign / "work" / "demo" / "published" / "pgstac.json").read_text())
    assert record == {"collections": 1, "items": len(items)}


def test_published_hrefs_are_absolute_and_resolve(campaign: Path, api: str) -> None:
    items = item_files(campaign)
    for item in Client.open(api).search(collections=["raw2ready-demo"]).items():
        path, data = items[item.id]
        assert set(item.assets) == set(data["assets"])
        for key, asset in item.assets.items():
            assert Path(asset.href).is_absolute()
            assert Path(asset.href) == (path.parent / data["assets"][key]["href"]).resolve()
            assert Path(asset.href).is_file()


def test_search_by_bbox_equals_the_footprints_that_intersect(campaign: Path, api: str) -> None:
    items = item_files(campaign)
    some = shape(next(iter(items.values()))[1]["geometry"])
    west, south, _, _ = some.bounds
    query = (west - 0.05, south - 0.05, west + 0.1, south + 0.1)
    expected = {
        id_ for id_, (_, data) in items.items() if box(*query).intersects(shape(data["geometry"]))
    }
    assert expected and expected != set(items)
    assert search_ids(api, bbox=query) == expected


def test_search_by_datetime_equals_the_items_in_the_range(campaign: Path, api: str) -> None:
    items = item_files(campaign)
    start, end = (
        datetime.fromisoformat("2022-03-01T00:00:00+00:00"),
        datetime.fromisoformat("2022-12-31T23:59:59+00:00"),
    )
    expected = {
        id_ for id_, (_, data) in items.items()
        if start <= datetime.fromisoformat(data["properties"]["datetime"]) <= end
    }  # fmt: skip
    assert expected and expected != set(items)
    assert search_ids(api, datetime="2022-03-01T00:00:00Z/2022-12-31T23:59:59Z") == expected


@pytest.mark.parametrize("threshold", [10, 40])
def test_cql2_filter_equals_the_items_under_the_cloud_cover(
    campaign: Path, api: str, threshold: int
) -> None:
    items = item_files(campaign)
    expected = {
        id_ for id_, (_, data) in items.items() if data["properties"]["eo:cloud_cover"] < threshold
    }
    assert expected != set(items)
    text = search_ids(api, method="GET", filter=f"eo:cloud_cover < {threshold}",
                      filter_lang="cql2-text")  # fmt: skip
    as_json = search_ids(
        api, filter={"op": "<", "args": [{"property": "eo:cloud_cover"}, threshold]},
        filter_lang="cql2-json",
    )  # fmt: skip
    assert text == as_json == expected


def test_a_rerun_updates_and_never_duplicates(campaign: Path, api: str) -> None:
    items = item_files(campaign)
    config = campaign / "demo.yaml"
    assert run_cli("publish", "--configfile", str(config), cwd=campaign).returncode == 0
    assert search_ids(api) == set(items)
    # A repaired scene: its item file rewritten with other figures, then published again.
    repaired_id, (path, data) = sorted(items.items())[0]
    data["properties"]["eo:cloud_cover"] = 1.25
    path.write_text(json.dumps(data))
    result = run_cli("publish", "--configfile", str(config), cwd=campaign)
    assert result.returncode == 0, result.stderr
    assert f"{len(items)} item(s)" in result.stdout
    response = requests.get(f"{api}/search", params={"ids": repaired_id}, timeout=30).json()
    assert [feature["properties"]["eo:cloud_cover"] for feature in response["features"]] == [1.25]
    assert search_ids(api) == set(items)


def test_an_unreachable_database_is_one_line(campaign: Path) -> None:
    config = yaml.safe_load((campaign / "demo.yaml").read_text())
    config["publish"]["pgstac"]["port"] = free_port()
    (campaign / "unreachable.yaml").write_text(yaml.safe_dump(config))
    result = run_cli("publish", "--configfile", "unreachable.yaml", cwd=campaign)
    assert result.returncode == 1
    assert result.stderr.startswith("raw2ready: error: cannot publish to pgstac:")
    assert "Traceback" not in result.stderr
