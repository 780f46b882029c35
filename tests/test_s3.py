"""CDSE-style S3 assets fetched from moto's S3 server (server mode, on 127.0.0.1).

The real CDSE item's s3://eodata hrefs are served by a local S3-compatible server started by
the test; credentials come from the environment or a credentials file given by path, as in
production. Requests are observed through botocore's own event hooks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from raw2ready.archives.transfer import DownloadOptions, Fetcher, download_scene
from raw2ready.archives.transfer.partial import partial_path
from raw2ready.archives.transfer.proof import proof_path
from raw2ready.archives.transfer.s3 import make_client, open_object, split_s3_href
from raw2ready.config import S3Section
from raw2ready.errors import CorruptDownloadError, DownloadError
from raw2ready.scene import BandAsset
from raw2ready.sentinel2.normalize import normalize_item, read_item

from .conftest import REAL_S2, requires_real_s2
from .rasters import geotiff_bytes
from .servers import FaultyFileServer, flipped, free_port

CDSE_ITEM = (
    REAL_S2 / "stac_items"
    / "cdse__sentinel-2-l2a__S2C_MSIL2A_20250330T100051_N0511_R122_T33UWP_20250330T145914.json"
)  # fmt: skip
KEY_ID = "raw2ready-test-key"
SECRET = "raw2ready-test-secret-DO-NOT-LOG"
BLOB = geotiff_bytes(0, side=1100)  # a real band file: fetched rasters are decoded in full


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def clean_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient AWS configuration: only what each test sets."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)


def settings(moto_url: str, **extra: Any) -> S3Section:
    return S3Section(endpoint_url=moto_url, region="us-east-1", addressing_style="path", **extra)


def put(moto_url: str, href: str, data: bytes, acl: str = "private") -> str:
    """Upload an object (with admin credentials of the test); return its ETag."""
    bucket, key = split_s3_href(href)
    client = boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1",
        aws_access_key_id="admin", aws_secret_access_key="admin",
    )  # fmt: skip
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key=key, Body=data, ACL=acl)
    return str(client.head_object(Bucket=bucket, Key=key)["ETag"])


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def sent_headers(client: Any) -> list[dict[str, str]]:
    """Record the headers of every request the client sends (botocore event hook)."""
    seen: list[dict[str, str]] = []

    def record(request: Any, **_kwargs: Any) -> None:
        seen.append({key.lower(): _text(value) for key, value in request.headers.items()})

    client.meta.events.register("before-send.s3.GetObject", record)
    return seen


@requires_real_s2
def test_cdse_item_downloads_from_s3_with_credentials_from_env(
    moto_url: str, env_credentials: None, tmp_path: Path
) -> None:
    record = normalize_item(read_item(CDSE_ITEM), frozenset({"B04", "SCL"}))
    assert all(asset.href.startswith("s3://eodata/") for asset in record.bands.values())
    blobs = {band: geotiff_bytes(seed, 300) for seed, band in enumerate(record.bands)}
    bands = {}
    for band, asset in record.bands.items():
        put(moto_url, asset.href, blobs[band])
        # the real item's size and sha3-256 describe the real 115 MB file; ours is smaller
        bands[band] = BandAsset(
            asset.href, len(blobs[band]), "1620" + hashlib.sha3_256(blobs[band]).hexdigest()
        )
    record = record.__class__(**{**record.__dict__, "bands": bands})
    options = DownloadOptions(attempts=2, backoff_seconds=0, s3=settings(moto_url))
    paths = download_scene(record, tmp_path, options)
    assert {band: path.read_bytes() for band, path in paths.items()} == blobs
    names = ["B04.jp2", "B04.jp2.proof.json", "SCL.jp2", "SCL.jp2.proof.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_credentials_file_given_by_path(
    moto_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    href = "s3://eodata/Sentinel-2/a/B04.jp2"
    put(moto_url, href, BLOB)
    credentials = tmp_path / "cdse-credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
    )
    options = DownloadOptions(attempts=1, s3=settings(moto_url, credentials_file=str(credentials)))
    with caplog.at_level(logging.DEBUG, logger="raw2ready"):
        Fetcher(options).fetch(BandAsset(href, len(BLOB)), tmp_path / "B04.jp2")
    assert (tmp_path / "B04.jp2").read_bytes() == BLOB
    assert SECRET not in caplog.text


def test_named_profile_of_the_credentials_file(moto_url: str, tmp_path: Path) -> None:
    href = "s3://eodata/Sentinel-2/b/B08.jp2"
    profile_blob = geotiff_bytes(5, 64)
    put(moto_url, href, profile_blob)
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[cdse]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
    )
    s3 = settings(moto_url, credentials_file=str(credentials), profile="cdse")
    Fetcher(DownloadOptions(attempts=1, s3=s3)).fetch(BandAsset(href), tmp_path / "B08.jp2")
    assert (tmp_path / "B08.jp2").read_bytes() == profile_blob
    missing = settings(moto_url, credentials_file=str(credentials), profile="nope")
    with pytest.raises(DownloadError, match=r"archive\.s3\.profile"):
        make_client(missing, 5)


def test_missing_credentials_is_one_clear_error(moto_url: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no S3 credentials: set AWS_ACCESS_KEY_ID") as error:
        Fetcher(DownloadOptions(attempts=1, s3=settings(moto_url))).fetch(
            BandAsset("s3://eodata/x/B04.jp2"), tmp_path / "B04.jp2"
        )
    assert "\n" not in str(error.value)
    with pytest.raises(DownloadError, match=r"credentials_file .* does not exist"):
        make_client(settings(moto_url, credentials_file=str(tmp_path / "absent")), 5)


def test_anonymous_access_needs_no_credentials(moto_url: str, tmp_path: Path) -> None:
    href = "s3://public-bucket/tile/B04.tif"
    put(moto_url, href, b"open data", acl="public-read")
    s3 = settings(moto_url, anonymous=True)
    client = make_client(s3, 5)
    headers = sent_headers(client)
    with open_object(client, s3, href, 0, None) as body:
        assert b"".join(body.chunks) == b"open data"
    assert "authorization" not in headers[0]


def test_requester_pays_sends_the_header(
    moto_url: str, env_credentials: None, tmp_path: Path
) -> None:
    href = "s3://sentinel-s2-l2a/tiles/15/M/WT/2023/5/6/0/R10m/B04.jp2"
    put(moto_url, href, b"pays")
    for requester_pays, expected in ((True, "requester"), (False, None)):
        s3 = settings(moto_url, requester_pays=requester_pays)
        client = make_client(s3, 5)
        headers = sent_headers(client)
        with open_object(client, s3, href, 0, None) as body:
            assert b"".join(body.chunks) == b"pays"
        assert headers[0].get("x-amz-request-payer") == expected


def test_partial_object_resumes_with_range_and_if_match(
    moto_url: str, env_credentials: None, tmp_path: Path
) -> None:
    href = "s3://eodata/resume/B04.jp2"
    etag = put(moto_url, href, BLOB)
    final = tmp_path / "B04.jp2"
    partial = partial_path(final)
    partial.write_bytes(BLOB[:1_000_000])
    partial.with_name(partial.name + ".json").write_text(
        json.dumps({"href": href, "validator": etag})
    )
    fetcher = Fetcher(DownloadOptions(attempts=2, backoff_seconds=0, s3=settings(moto_url)))
    fetcher._s3_client = make_client(settings(moto_url), 5)
    headers = sent_headers(fetcher._s3_client)
    fetcher.fetch(BandAsset(href, len(BLOB)), final)
    assert final.read_bytes() == BLOB
    assert headers[0]["range"] == "bytes=1000000-"
    assert headers[0]["if-match"] == etag
    assert not partial.exists()


def test_partial_of_a_replaced_object_starts_over(
    moto_url: str, env_credentials: None, tmp_path: Path
) -> None:
    href = "s3://eodata/replaced/B04.jp2"
    put(moto_url, href, BLOB)
    final = tmp_path / "B04.jp2"
    partial = partial_path(final)
    partial.write_bytes(b"old version bytes")
    partial.with_name(partial.name + ".json").write_text(
        json.dumps({"href": href, "validator": '"0123456789abcdef0123456789abcdef"'})
    )
    fetcher = Fetcher(DownloadOptions(attempts=2, backoff_seconds=0, s3=settings(moto_url)))
    fetcher._s3_client = make_client(settings(moto_url), 5)
    headers = sent_headers(fetcher._s3_client)
    fetcher.fetch(BandAsset(href, len(BLOB)), final)
    assert final.read_bytes() == BLOB
    assert [h.get("range") for h in headers] == ["bytes=17-", None]


def test_missing_key_is_a_permanent_error(
    moto_url: str, env_credentials: None, tmp_path: Path
) -> None:
    put(moto_url, "s3://eodata/exists/B04.jp2", b"x")
    with pytest.raises(DownloadError, match=r"s3://eodata/absent/B04.jp2: S3 NoSuchKey"):
        Fetcher(DownloadOptions(attempts=3, s3=settings(moto_url))).fetch(
            BandAsset("s3://eodata/absent/B04.jp2"), tmp_path / "B04.jp2"
        )
    assert list(tmp_path.iterdir()) == []


# ---- integrity signals of S3 responses -------------------------------------------------------


def proof_of(final: Path) -> list[str]:
    return json.loads(proof_path(final).read_text())["checked"]


def test_a_multipart_upload_is_proven_by_its_etag(
    moto_url: str, env_credentials: None, tmp_path: Path
) -> None:
    """moto computes the multipart ETag as S3 does; 5 MiB parts are inferred from `-2`."""
    data = geotiff_bytes(7, side=1700)
    part = 5 * 1024 * 1024
    assert part < len(data) < 2 * part
    bucket, key = "eodata", "multipart/B04.tif"
    admin = boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1",
        aws_access_key_id="admin", aws_secret_access_key="admin",
    )  # fmt: skip
    with contextlib.suppress(admin.exceptions.BucketAlreadyOwnedByYou):
        admin.create_bucket(Bucket=bucket)
    upload = admin.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(data), part), start=1):
        sent = admin.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number,
                                 Body=data[start : start + part])  # fmt: skip
        parts.append({"PartNumber": number, "ETag": sent["ETag"]})
    admin.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert admin.head_object(Bucket=bucket, Key=key)["ETag"].endswith('-2"')
    final = tmp_path / "B04.tif"
    Fetcher(DownloadOptions(attempts=1, s3=settings(moto_url))).fetch(
        BandAsset(f"s3://{bucket}/{key}"), final
    )
    assert final.read_bytes() == data
    assert f"multipart ETag MD5 (2 parts of {part} bytes)" in proof_of(final)


def test_a_sha256_checksum_of_the_object_is_checked(
    moto_url: str, env_credentials: None, tmp_path: Path
) -> None:
    href = "s3://eodata/checksummed/B04.tif"
    bucket, key = split_s3_href(href)
    put(moto_url, href, b"")  # creates the bucket
    admin = boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1",
        aws_access_key_id="admin", aws_secret_access_key="admin",
    )  # fmt: skip
    admin.put_object(Bucket=bucket, Key=key, Body=BLOB, ChecksumAlgorithm="SHA256")
    final = tmp_path / "B04.tif"
    Fetcher(DownloadOptions(attempts=1, s3=settings(moto_url))).fetch(BandAsset(href), final)
    assert final.read_bytes() == BLOB
    assert {"x-amz-checksum-sha256", "ETag MD5"} <= set(proof_of(final))


@pytest.fixture
def corrupting_s3() -> Iterator[FaultyFileServer]:
    """An S3 endpoint (path-style) that sends what a corrupting proxy would: the objects'
    original ETags over flipped bytes, when scripted."""
    with FaultyFileServer({"/eodata/proxy/B04.tif": BLOB}) as server:
        yield server


def test_s3_bytes_flipped_under_the_original_etag_are_fetched_again(
    corrupting_s3: FaultyFileServer, env_credentials: None, tmp_path: Path
) -> None:
    corrupting_s3.script("/eodata/proxy/B04.tif", "corrupt")
    final = tmp_path / "B04.tif"
    Fetcher(DownloadOptions(attempts=2, s3=settings(corrupting_s3.url))).fetch(
        BandAsset("s3://eodata/proxy/B04.tif"), final
    )
    assert final.read_bytes() == BLOB
    assert len(corrupting_s3.requests_for("/eodata/proxy/B04.tif")) == 2
    assert "ETag MD5" in proof_of(final)


def test_a_wrong_s3_multipart_etag_fails_twice_and_keeps_nothing(
    corrupting_s3: FaultyFileServer, env_credentials: None, tmp_path: Path
) -> None:
    damaged = flipped(BLOB)
    part = 1 << 20
    inner = b"".join(
        hashlib.md5(damaged[i : i + part]).digest() for i in range(0, len(damaged), part)
    )
    etag = f'"{hashlib.md5(inner).hexdigest()}-{-(-len(damaged) // part)}"'
    corrupting_s3.etags["/eodata/proxy/B04.tif"] = etag
    final = tmp_path / "B04.tif"
    with pytest.raises(CorruptDownloadError, match=r"multipart ETag MD5 .*\(failed twice\)"):
        Fetcher(DownloadOptions(attempts=2, s3=settings(corrupting_s3.url))).fetch(
            BandAsset("s3://eodata/proxy/B04.tif"), final
        )
    assert list(tmp_path.iterdir()) == []
