"""The demo campaign with the Kubernetes profile's default storage (S3) on a local S3 server.

`--profile profiles/kubernetes --executor local`: the same default-storage settings as a
Kubernetes run (provider s3, prefix, retries, local copies), only the jobs run here instead
of in pods, against moto's S3 server on 127.0.0.1 started by the test. Every product, item
and catalog of the campaign must end up in the bucket, and the catalog must validate as it
is there (downloaded, untouched); nothing of the campaign may be left only on local disk.

Snakemake's default storage moves only declared inputs and outputs, so this also shows that
every job finds its files through them: the runs "elsewhere" start in an empty folder (a
new machine, or a pod) with nothing but the bucket, and must find the work done, or redo a
month whose record was deleted from the bucket (the documented way to redo a month there).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import partial
from pathlib import Path

import boto3
import pytest
import yaml
from rio_cogeo.cogeo import cog_validate

from raw2ready.demo import archive as demo_archive
from raw2ready.demo.scenes import DemoScene
from raw2ready.layout import Layout
from raw2ready.stac.validation import validate_stac_tree

from .conftest import PROJECT, write_demo_campaign
from .safe_factory import S1_NAME, SafeSpec, make_s1_grd_zip, make_safe_zip
from .test_composites import assert_median_of_clear_pixels
from .test_s3 import clean_aws_env, moto_url  # noqa: F401  (fixtures)
from .test_sen2cor_snap import doubles  # noqa: F401  (fixture)

SIZE = 256
BUCKET = "raw2ready-campaigns"
PREFIX = "demo-run"
KEY_ID = "raw2ready-storage-test"
SECRET = "raw2ready-storage-secret"


def write_s1_campaign(root: Path) -> None:
    """root/demo.yaml: a SAFE L2A and a Sentinel-1 GRD product covering 47PPR and 47PPS, in
    safe_folder archives under root (campaign "s1", relative output and work folders)."""
    (root / "s2").mkdir()
    make_safe_zip(root / "s2", SafeSpec(level="L2A"))
    (root / "grd").mkdir()
    make_s1_grd_zip(root / "grd")
    config = {
        "campaign": "s1", "tiles": ["47PPR", "47PPS"], "start": "2023-01-01",
        "end": "2023-12-31", "products": ["ndvi", "mask"], "cog": {"blocksize": 256},
        "archive": {"kind": "safe_folder", "url": str(root / "s2")},
        "sentinel1": {"enabled": True,
                      "archive": {"kind": "safe_folder", "url": str(root / "grd")}},
    }  # fmt: skip
    (root / "demo.yaml").write_text(json.dumps(config))


def s3_client(url: str):  # type: ignore[no-untyped-def]
    """A client of the test server with the test's credentials."""
    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
    )  # fmt: skip


def snakemake(
    root: Path, url: str, *extra: str, prefix: str = f"s3://{BUCKET}/{PREFIX}"
) -> subprocess.CompletedProcess[str]:
    """The workflow with the Kubernetes profile's storage settings, jobs run locally."""
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        SNAKEMAKE_STORAGE_S3_ACCESS_KEY=KEY_ID,
        SNAKEMAKE_STORAGE_S3_SECRET_KEY=SECRET,
    )
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT / "Snakefile"),
         "--directory", str(root), "--configfile", str(root / "demo.yaml"),
         "--profile", str(PROJECT / "profiles" / "kubernetes"),
         "--executor", "local", "--cores", "2",
         "--default-storage-prefix", prefix,
         "--storage-s3-endpoint-url", url, "--storage-s3-region", "us-east-1", *extra],
        capture_output=True, text=True, check=False, env=env, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory, moto_url: str) -> dict:  # noqa: F811
    """The demo campaign with its monthly composites (the cube is refused with object
    storage: test_a_cube_is_refused_up_front) run to completion with S3 default storage;
    the bucket downloaded."""
    root = tmp_path_factory.mktemp("campaign")
    config = yaml.safe_load(write_demo_campaign(root, SIZE).read_text())
    (root / "demo.yaml").write_text(yaml.safe_dump(config | {"cube": {"enabled": False}}))
    client = s3_client(moto_url)
    client.create_bucket(Bucket=BUCKET)
    result = snakemake(root, moto_url)
    copy = root / "bucket"
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for entry in page.get("Contents", []):
            keys.append(entry["Key"])
            target = copy / entry["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(BUCKET, entry["Key"], str(target))
    return {"root": root, "result": result, "keys": keys, "copy": copy / PREFIX, "url": moto_url}


def elsewhere(campaign: dict, tmp_path: Path) -> Path:
    """An empty campaign folder on "another machine": only the config, the bucket is shared."""
    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    (fresh / "demo.yaml").write_text((campaign["root"] / "demo.yaml").read_text())
    return fresh


def test_run_completes(campaign: dict) -> None:
    result = campaign["result"]
    assert result.returncode == 0, result.stderr[-4000:]


def test_every_product_and_item_is_in_the_bucket(campaign: dict) -> None:
    keys = set(campaign["keys"])
    for scene in demo_archive.DEMO_SCENES:
        scene_id = demo_archive.item_id(scene)
        found = {k.rsplit("/", 1)[1] for k in keys if f"/{scene_id}/" in k}
        expected = {f"{scene_id}_{p}.tif" for p in ("ndvi", "lai", "mask")} | {f"{scene_id}.json"}
        assert expected <= found, (scene_id, sorted(found))
    assert not (campaign["root"] / "results").exists()  # nothing only on local disk


def test_downloads_never_go_through_the_bucket(campaign: dict) -> None:
    assert campaign["result"].returncode == 0
    assert not [key for key in campaign["keys"] if "/downloads/" in key]
    left = campaign["root"] / "work/demo/downloads"
    assert not [path for path in left.rglob("*") if path.is_file()]  # removed after use


def test_products_in_the_bucket_are_valid_cogs(campaign: dict) -> None:
    products = campaign["copy"] / "results/demo/products"
    paths = sorted(products.rglob("*.tif"))
    composites = sorted((products / "composites").rglob("*.tif"))
    assert len(paths) - len(composites) == 3 * len(demo_archive.DEMO_SCENES)
    assert len(composites) == 3 * len(scene_months(campaign["copy"]))  # ndvi, lai, clear_count
    for path in paths:
        valid, errors, _warnings = cog_validate(str(path), strict=True, quiet=True)
        assert valid, (path, errors)


def test_stac_catalog_in_the_bucket_is_complete_and_valid(campaign: dict) -> None:
    count = validate_stac_tree(campaign["copy"] / "results/demo/stac/collection.json")
    assert count >= len(demo_archive.DEMO_SCENES) + 3


def scene_months(copy: Path) -> dict[tuple[str, str, str], list[DemoScene]]:
    """(tile, year, month) -> the demo scenes whose items are in the bucket (copy)."""
    months: dict[tuple[str, str, str], list[DemoScene]] = {}
    stac = copy / "results/demo/stac"
    for scene in demo_archive.DEMO_SCENES:
        if any(stac.rglob(f"{demo_archive.item_id(scene)}.json")):
            year, month = scene.date.split("-")[:2]
            months.setdefault((scene.tile, year, month), []).append(scene)
    return months


def test_composites_in_the_bucket_are_medians_of_its_scene_cogs(campaign: dict) -> None:
    """Each month's composite, as it is in the bucket, equals numpy's median of the clear
    pixels of the month's scene COGs as they are in the bucket; its item is there too."""
    copy = campaign["copy"]
    layout = Layout(copy / "results/demo", copy / "work/demo")
    months = scene_months(copy)
    assert len(months) > 1
    for (tile, year, month), scenes in months.items():
        assert layout.composite_item(tile, year, month).is_file()
        count = assert_median_of_clear_pixels(
            copy, scenes, partial(layout.composite, tile, year, month)
        )
        assert count.max() <= len(scenes)
    items = sorted((copy / "results/demo/stac/composites").rglob("*_????-??.json"))
    assert len(items) == len(months)
    collection = copy / "results/demo/stac/composites/collection.json"
    assert validate_stac_tree(collection) >= 1 + len(months)


def test_a_cube_is_refused_up_front(campaign: dict, tmp_path: Path) -> None:
    """Its Icechunk store would stay on a pod's disk: one line, before any job runs."""
    fresh = elsewhere(campaign, tmp_path)
    config = yaml.safe_load((fresh / "demo.yaml").read_text()) | {"cube": {"enabled": True}}
    (fresh / "demo.yaml").write_text(yaml.safe_dump(config))

    result = snakemake(fresh, campaign["url"], "--dry-run")

    assert result.returncode != 0
    assert "raw2ready: error:" in result.stderr and "key 'cube.enabled'" in result.stderr
    assert "Traceback" not in result.stderr


def test_rerun_against_the_bucket_has_nothing_to_do(campaign: dict, tmp_path: Path) -> None:
    assert campaign["result"].returncode == 0
    result = snakemake(elsewhere(campaign, tmp_path), campaign["url"], "--dry-run")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_month_deleted_from_the_bucket_is_redone_from_another_machine(
    campaign: dict, tmp_path: Path
) -> None:
    assert campaign["result"].returncode == 0
    client = s3_client(campaign["url"])
    month = "47PPR/2023/Q1/01"
    record = f"{PREFIX}/work/demo/batches/{month}.json"
    products = f"{PREFIX}/results/demo/products/{month}/"
    before = {
        entry["Key"]: entry["LastModified"]
        for entry in client.list_objects_v2(Bucket=BUCKET, Prefix=products)["Contents"]
    }
    others = client.head_object(
        Bucket=BUCKET, Key=f"{PREFIX}/work/demo/batches/48PUB/2023/Q1/03.json"
    )
    client.delete_object(Bucket=BUCKET, Key=record)

    result = snakemake(elsewhere(campaign, tmp_path), campaign["url"])

    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout + result.stderr, re.MULTILINE))
    assert jobs.get("scenes") == "1", jobs  # that month only
    client.head_object(Bucket=BUCKET, Key=record)
    after = {
        entry["Key"]: entry["LastModified"]
        for entry in client.list_objects_v2(Bucket=BUCKET, Prefix=products)["Contents"]
    }
    assert set(after) == set(before) and all(after[k] > before[k] for k in before)
    same = client.head_object(
        Bucket=BUCKET, Key=f"{PREFIX}/work/demo/batches/48PUB/2023/Q1/03.json"
    )
    assert same["LastModified"] == others["LastModified"]
    copy = tmp_path / "bucket"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX):
        for entry in page.get("Contents", []):
            target = copy / entry["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(BUCKET, entry["Key"], str(target))
    count = validate_stac_tree(copy / PREFIX / "results/demo/stac/collection.json")
    assert count >= len(demo_archive.DEMO_SCENES) + 3


def test_a_batch_job_runs_like_in_a_pod_from_an_empty_folder(
    campaign: dict, tmp_path: Path
) -> None:
    """The command a pod runs, as executor plugins spawn it (`--mode remote`, no shared file
    system, forced, no lock, no hooks), for one batch whose outputs are not in the bucket;
    with object storage the batch job fetches its own inputs, which stay out of the bucket."""
    assert campaign["result"].returncode == 0
    client = s3_client(campaign["url"])
    month = "48PUB/2021/Q3/07"
    gone = [f"{PREFIX}/work/demo/batches/{month}.json"]
    for folder in (f"results/demo/products/{month}/", f"results/demo/stac/{month}/"):
        listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/{folder}")["Contents"]
        gone += [entry["Key"] for entry in listed]
    for key in gone:
        client.delete_object(Bucket=BUCKET, Key=key)
    pod = elsewhere(campaign, tmp_path)
    year, quarter, number = month.split("/")[1:]
    wildcards = f"tile=48PUB,year={year},quarter={quarter},month={number}"

    result = snakemake(
        pod, campaign["url"], "--target-jobs", f"scenes:{wildcards}", "--allowed-rules", "scenes",
        "--mode", "remote", "--default-storage-provider", "s3",  # remote mode reads no profile
        "--shared-fs-usage", "none", "--force", "--nolock",
        "--no-hooks", "--ignore-incomplete", "--max-inventory-time", "0", "--retries", "0",
    )  # fmt: skip

    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    for key in gone:
        client.head_object(Bucket=BUCKET, Key=key)  # every output back in the bucket
    assert any(key.endswith(f"{month}/catalog.json") for key in gone)
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/work/demo/downloads/")
    assert "Contents" not in listed


def test_the_sentinel1_family_lands_in_the_bucket_too(
    moto_url: str,  # noqa: F811
    tmp_path: Path,
    doubles: dict[str, Path],  # noqa: F811
) -> None:
    """SAFE L2A + Sentinel-1 GRD through the gpt double (tests/doubles), object storage."""
    write_s1_campaign(tmp_path)
    client = s3_client(moto_url)
    client.create_bucket(Bucket="raw2ready-s1")

    result = snakemake(tmp_path, moto_url, prefix="s3://raw2ready-s1/run")

    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    copy = tmp_path / "bucket"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="raw2ready-s1"):
        for entry in page.get("Contents", []):
            target = copy / entry["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file("raw2ready-s1", entry["Key"], str(target))
    stac = copy / "run/results/stac"
    s1_items = sorted(p.name for p in (stac / "sentinel-1").rglob(f"{S1_NAME}_T*.json"))
    assert s1_items == [f"{S1_NAME}_T{tile}.json" for tile in ("47PPR", "47PPS")]
    assert len(list((copy / "run/results/products/sentinel-1").rglob("*.tif"))) == 4
    # the whole tree, as in tests/test_sentinel1.py, validates as it is in the bucket
    assert validate_stac_tree(stac / "collection.json") == 1 + (6 + 2) + 6 + 1 + 2 * (18 + 1)
    assert not (tmp_path / "results").exists()
