"""CDSE as an archive of SAFE products: OData catalogue search, Keycloak tokens, product
downloads (OData zips, or S3 folders on moto) and the workflow through the Sen2Cor double.

The CDSE stand-in (tests/cdse_server.py) runs on 127.0.0.1 for each test that needs it and
serves synthetic SAFE zips from tests/safe_factory.py; waits between retries go through an
injected sleep (no real backoff), token expiry through an injected clock.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from raw2ready.archives.cdse_auth import CdseDownloads, CdseSettings, credentials
from raw2ready.archives.cdse_odata import ProductQuery, cdse_odata_search
from raw2ready.archives.provider import SearchQuery, SearchResult
from raw2ready.archives.transfer import DownloadOptions, fetch
from raw2ready.campaign.reprocess import layout_of, reprocess_scene
from raw2ready.config import ArchiveSection, CdseSection, S3Section, Settings
from raw2ready.errors import ArchiveError, DownloadError, SearchError
from raw2ready.processors.sen2cor import l2a_product
from raw2ready.scene import BandAsset, SceneRecord
from raw2ready.sentinel2.safe import SAFE_ASSET, check_archive
from raw2ready.stac.validation import validate_stac_tree

from .cdse_server import CATALOGUE, TOKEN, CdseStandIn, s2_entity
from .conftest import make_settings
from .safe_factory import SafeSpec, make_safe_zip
from .test_s3 import clean_aws_env, moto_url  # noqa: F401  (fixtures)
from .test_sen2cor_snap import doubles  # noqa: F401  (fixture)
from .test_workflow import snakemake

USER = "alice@example.org"
PASSWORD = "cdse-test-password-DO-NOT-LOG"
L1C_A = SafeSpec(sensing=datetime(2023, 6, 15, 3, 35, 41))
L1C_B = SafeSpec(sensing=datetime(2023, 7, 5, 3, 35, 41), absolute_orbit=33_098)
L2A_B = SafeSpec(**{**L1C_B.__dict__, "level": "L2A"})


@pytest.fixture
def cdse(monkeypatch: pytest.MonkeyPatch) -> Iterator[CdseStandIn]:
    """The stand-in, with the test user's login in the environment."""
    monkeypatch.setenv("CDSE_USERNAME", USER)
    monkeypatch.setenv("CDSE_PASSWORD", PASSWORD)
    with CdseStandIn({USER: PASSWORD}) as server:
        yield server


def _uuid(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def _publish(server: CdseStandIn, folder: Path, spec: SafeSpec, number: int, **extra: Any) -> Path:
    """A synthetic product zip, published in the catalogue with its bytes behind $value."""
    folder.mkdir(exist_ok=True)
    archive = make_safe_zip(folder, spec)
    entity = s2_entity(archive, _uuid(number), spec.sensing, cloud=spec.cloud_cover, **extra)
    server.add("SENTINEL-2", entity, archive.read_bytes())
    return archive


def _one_product(server: CdseStandIn, tmp_path: Path) -> tuple[Path, Settings, SceneRecord]:
    """The L2A of acquisition B published; campaign settings on the stand-in; its record."""
    archive = _publish(server, tmp_path / "src", L2A_B, 1)
    settings = make_settings(tmp_path, archive=_archive(server), tiles=["47PPR"])
    (record,) = cdse_odata_search(settings.archive, _query(), _options(server)).records
    return archive, settings, record


def _cdse_settings(server: CdseStandIn, **extra: Any) -> dict[str, Any]:
    return {"download_url": server.catalogue_url, "token_url": server.token_url, **extra}


def _downloads(server: CdseStandIn, **source: Any) -> CdseDownloads:
    return CdseDownloads(CdseSettings.from_config(CdseSection(**_cdse_settings(server))), **source)


def _options(
    server: CdseStandIn, attempts: int = 4, downloads: CdseDownloads | None = None, **s3: Any
) -> DownloadOptions:
    return DownloadOptions(
        attempts=attempts,
        backoff_seconds=0,
        sources=(downloads or _downloads(server),),
        s3=S3Section(**s3) if s3 else None,
        sleep=lambda _seconds: None,
    )


def _query(tile: str = "47PPR", collection: str = "sentinel-2-l1c") -> SearchQuery:
    return SearchQuery(
        tile=tile, start=date(2023, 1, 1), end=date(2023, 12, 31), max_cloud_cover=80.0,
        collection=collection, bands=frozenset({"B04", "B08", "SCL"}),
    )  # fmt: skip


def _archive(server: CdseStandIn, page_size: int = 200, **cdse: Any) -> dict[str, Any]:
    return {
        "kind": "cdse_odata", "url": server.catalogue_url, "page_size": page_size,
        "cdse": _cdse_settings(server, **cdse),
    }  # fmt: skip


def _search(archive: dict[str, Any], query: SearchQuery, options: DownloadOptions) -> SearchResult:
    return cdse_odata_search(ArchiveSection.from_mapping(archive), query, options)


# ------------------------------------------------------------------ catalogue search


def test_search_filters_pages_retries_and_prefers_l2a(cdse: CdseStandIn, tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()

    def entry(number: int, spec: SafeSpec, collection: str = "SENTINEL-2", **extra: Any) -> None:
        path = fake / f"{spec.name}.zip"
        path.write_bytes(spec.name.encode())  # never downloaded here
        entity = s2_entity(path, _uuid(number), spec.sensing, cloud=spec.cloud_cover, **extra)
        cdse.add(collection, entity)

    entry(1, L1C_A)
    entry(2, L1C_B)
    entry(3, L2A_B)
    entry(4, SafeSpec(sensing=datetime(2023, 8, 4, 3, 35, 41), cloud_cover=95.0))
    entry(5, SafeSpec(sensing=datetime(2023, 6, 15, 3, 35, 41), tile="48PUB"))
    entry(6, SafeSpec(sensing=datetime(2022, 12, 30, 3, 35, 41)))
    entry(7, SafeSpec(sensing=datetime(2023, 9, 3, 3, 35, 41)), online=False)
    entry(8, SafeSpec(sensing=datetime(2023, 9, 13, 3, 35, 41)), collection="SENTINEL-1")
    entry(9, SafeSpec(sensing=datetime(2023, 10, 3, 3, 35, 41), baseline="03.01"))
    cdse.script(CATALOGUE, "503", "429:0", "ok", "503")

    result = _search(_archive(cdse, page_size=2), _query(), _options(cdse))

    assert [r.id for r in result.records] == [L1C_A.name, L2A_B.name, f"{L1C_A.name[:11]}"
        "20231003T033541_N0301_R061_T47PPR_20230615T052513"]  # fmt: skip
    assert [r.collection for r in result.records] == [
        "sentinel-2-l1c", "sentinel-2-l2a", "sentinel-2-l1c",
    ]  # fmt: skip
    assert [r.apply_boa_offset for r in result.records] == [True, True, False]
    first = result.records[0]
    asset = first.bands[SAFE_ASSET]
    assert asset.href == f"{cdse.catalogue_url}/Products({_uuid(1)})/$value"
    assert asset.size == len(L1C_A.name) and asset.checksum.startswith("d50110")
    assert first.tile == "47PPR" and first.platform == "sentinel-2b"
    assert first.datetime == "2023-06-15T03:35:41.024Z" and first.cloud_cover == 9.5
    assert first.processing_baseline == "05.09"
    assert first.source_href == f"{cdse.catalogue_url}/Products({_uuid(1)})"
    assert [name for name, _reason in result.rejected] == [f"{SafeSpec().name[:11]}"
        "20230903T033541_N0509_R061_T47PPR_20230615T052513.SAFE"]  # fmt: skip
    assert "offline" in result.rejected[0][1]
    # 5 matching products at 2 per page: 3 pages, plus 3 retried answers (503, 429, 503).
    pages = cdse.catalogue_requests()
    assert len(pages) == 6
    sent = pages[0].path
    assert "%24skip" not in sent and "%24top=2" in sent and "%24expand=Attributes" in sent
    assert "%24skip=2" in pages[3].path and "%24skip=4" in pages[5].path
    query = ProductQuery("SENTINEL-2", ("S2MSI1C", "S2MSI2A"), date(2023, 1, 1),
                         date(2023, 12, 31), "_T47PPR_", 80.0).filter()  # fmt: skip
    assert "contains(Name,'_T47PPR_')" in query and "ContentDate/Start lt 2024-01-01T00" in query
    assert "att/OData.CSC.DoubleAttribute/Value le 80.00" in query


def test_search_of_l2a_only_and_server_refusals(cdse: CdseStandIn, tmp_path: Path) -> None:
    for number, spec in enumerate((L1C_A, L1C_B, L2A_B), start=1):
        path = tmp_path / f"{spec.name}.zip"
        path.write_bytes(b"x")
        cdse.add("SENTINEL-2", s2_entity(path, _uuid(number), spec.sensing, cloud=1.0))
    found = _search(_archive(cdse), _query(collection="sentinel-2-l2a"), _options(cdse))
    assert [r.id for r in found.records] == [L2A_B.name]
    with pytest.raises(SearchError, match=r"'sentinel-2-c1-l2a' is not one the CDSE OData"):
        _search(_archive(cdse), _query(collection="sentinel-2-c1-l2a"), _options(cdse))
    cdse.script(CATALOGUE, "503", "503")
    with pytest.raises(SearchError, match=r"HTTP 503 \(gave up after 2 attempts\)"):
        _search(_archive(cdse), _query(), _options(cdse, attempts=2))
    cdse.script(CATALOGUE, "422")
    with pytest.raises(SearchError, match=r"refused the query: HTTP 422"):
        _search(_archive(cdse), _query(), _options(cdse))


# ------------------------------------------------------------------ tokens and downloads


def test_token_is_obtained_refreshed_and_renewed_after_401(
    cdse: CdseStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    archive, _settings, record = _one_product(cdse, tmp_path)
    asset = record.bands[SAFE_ASSET]
    now = [1000.0]
    options = _options(cdse, downloads=_downloads(cdse, clock=lambda: now[0]))

    def fetched(name: str) -> bytes:
        return fetch(asset, tmp_path / name, options).read_bytes()

    with caplog.at_level(logging.DEBUG):
        assert fetched("1.zip") == archive.read_bytes()
        assert cdse.grants == ["password"]
        now[0] += 100  # still valid: no token request
        fetched("2.zip")
        assert cdse.grants == ["password"]
        now[0] += 600  # past expires_in (600 s): renewed with the refresh token
        fetched("3.zip")
        assert cdse.grants == ["password", "refresh_token"]
        cdse.revoke_access_tokens()  # the server now answers 401: renew, retry
        fetched("4.zip")
        assert cdse.grants == ["password", "refresh_token", "refresh_token"]
        cdse.revoke_access_tokens()
        cdse.refresh_tokens.clear()  # the refresh is refused too: log in again
        fetched("5.zip")
        assert cdse.grants[-2:] == ["refresh_token", "password"]
    downloads = [r for r in cdse.requests if r.path.endswith("$value")]
    assert len(downloads) == 7  # 5 fetches, 2 of them answered 401 first
    assert all(r.headers["Authorization"].startswith("Bearer access-") for r in downloads)
    assert PASSWORD not in caplog.text
    assert not re.search(r"(access|refresh)-\d+-", caplog.text), "tokens must not be logged"


def test_credentials_come_from_env_or_a_netrc_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDSE_USERNAME", raising=False)
    monkeypatch.delenv("CDSE_PASSWORD", raising=False)
    settings = CdseSettings()
    with pytest.raises(DownloadError, match=r"no CDSE credentials: set CDSE_USERNAME") as error:
        credentials(settings)
    assert "machine identity.dataspace.copernicus.eu" in str(error.value)
    netrc = tmp_path / "cdse.netrc"
    netrc.write_text(f"machine identity.dataspace.copernicus.eu login {USER} password {PASSWORD}\n")
    assert credentials(CdseSettings(credentials_file=str(netrc))) == (USER, PASSWORD)
    other = CdseSettings(credentials_file=str(netrc), token_url="http://127.0.0.1:9/token")
    with pytest.raises(DownloadError, match=r"no 'machine 127\.0\.0\.1' entry") as missing:
        credentials(other)
    assert PASSWORD not in str(missing.value)
    with pytest.raises(DownloadError, match=r"credentials_file .*absent does not exist"):
        credentials(CdseSettings(credentials_file=str(tmp_path / "absent")))
    monkeypatch.setenv("CDSE_USERNAME", "env-user")
    monkeypatch.setenv("CDSE_PASSWORD", "env-password")
    assert credentials(CdseSettings(credentials_file=str(netrc))) == ("env-user", "env-password")


def test_wrong_password_is_one_line_without_the_password(
    cdse: CdseStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDSE_PASSWORD", "not-the-password")
    _archive_zip, _settings, record = _one_product(cdse, tmp_path)
    with pytest.raises(
        DownloadError, match=r"refused the login .* HTTP 401 invalid_grant"
    ) as error:
        fetch(record.bands[SAFE_ASSET], tmp_path / "out" / "p.zip", _options(cdse))
    assert "not-the-password" not in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "out" / "p.zip").exists()


def test_download_retries_429_and_503_then_the_product_is_checked(
    cdse: CdseStandIn, tmp_path: Path
) -> None:
    good, settings, record = _one_product(cdse, tmp_path)
    value = f"/odata/v1/Products({_uuid(1)})/$value"
    cdse.script(value, "429:0", "503")
    cdse.script(TOKEN, "503")
    layout = layout_of(settings)

    product = l2a_product(settings, record, layout, _options(cdse))

    assert product.name == f"{L2A_B.name}.SAFE" and (product / "MTD_MSIL2A.xml").is_file()
    fetched = layout.downloads(record) / f"{record.id}.zip"
    assert fetched.read_bytes() == good.read_bytes()
    assert check_archive(fetched).verified > 10
    downloads = [r for r in cdse.requests if r.path == value]
    assert len(downloads) == 3
    assert cdse.grants == ["password"]  # the 503 on the token endpoint was retried


def test_a_product_failing_md5_or_its_manifest_leaves_nothing(
    cdse: CdseStandIn, tmp_path: Path
) -> None:
    good, settings, record = _one_product(cdse, tmp_path)
    layout = layout_of(settings)
    # 1. The bytes served are not those the catalogue's MD5 describes.
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cdse.files[f"/odata/v1/Products({_uuid(1)})/$value"] = bytes(data)
    with pytest.raises(DownloadError, match=r"checksum mismatch"):
        l2a_product(settings, record, layout, _options(cdse))
    assert not any(layout.downloads(record).iterdir())
    # 2. Bytes as catalogued, but a member contradicts manifest.safe: rejected before use.
    tampered = tmp_path / "tampered" / good.name
    tampered.parent.mkdir()
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(tampered, "w") as zout:
        for info in zin.infolist():
            payload = zin.read(info)
            zout.writestr(
                info, payload[::-1] if info.filename.endswith("_B04_10m.jp2") else payload
            )
    entity = s2_entity(tampered, _uuid(2), L2A_B.sensing, cloud=1.0)
    cdse.products.clear()
    cdse.add("SENTINEL-2", entity, tampered.read_bytes())
    (record,) = cdse_odata_search(settings.archive, _query(), _options(cdse)).records
    with pytest.raises(ArchiveError, match=r"_B04_10m\.jp2' fails its manifest\.safe MD5"):
        l2a_product(settings, record, layout, _options(cdse))
    assert not any(layout.downloads(record).iterdir()), "a rejected product is not kept"
    assert not list((layout.scratch(record) / "safe").glob("*.SAFE"))


# ------------------------------------------------------------------ S3 folders (moto)


def _upload_folder(
    moto: str, safe: Path, prefix: str, extra: dict[str, bytes] | None = None
) -> None:
    client = boto3.client(
        "s3", endpoint_url=moto, region_name="us-east-1",
        aws_access_key_id="admin", aws_secret_access_key="admin",
    )  # fmt: skip
    if "eodata" not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket="eodata")
    for path in sorted(p for p in safe.rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(safe).as_posix()}"
        client.put_object(Bucket="eodata", Key=key, Body=path.read_bytes())
    for key, body in (extra or {}).items():
        client.put_object(Bucket="eodata", Key=f"{prefix}/{key}", Body=body)


def test_s3_transfer_fetches_the_safe_folder_and_checks_it(
    cdse: CdseStandIn,
    moto_url: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from raw2ready.sentinel2.safe import extract_safe

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "cdse-s3-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "cdse-s3-secret")
    good = _publish(cdse, tmp_path / "src", L2A_B, 1)
    safe = extract_safe(good, tmp_path / "unzipped")
    entity = cdse.products[0].entity
    _upload_folder(moto_url, safe, entity["S3Path"].removeprefix("/eodata/"))
    s3 = {"endpoint_url": moto_url, "region": "us-east-1", "addressing_style": "path"}
    archive = {**_archive(cdse, transfer="s3"), "s3": s3}
    settings = make_settings(
        tmp_path, archive=archive, tiles=["47PPR"], products=["ndvi", "mask"],
        download={"attempts": 3, "backoff_seconds": 0},
    )  # fmt: skip
    (record,) = _search(archive, _query(), _options(cdse)).records
    assert (
        record.bands[SAFE_ASSET].href
        == f"s3://eodata/Sentinel-2/MSI/L2A/2023/07/05/{L2A_B.name}.SAFE/"
    )

    reprocess_scene(settings, record)

    item = json.loads(layout_of(settings).item(record).read_text())
    # NDVI's thumbnail; no overview, as the scene fetched no band of a composite but B04, B08.
    assert set(item["assets"]) == {"ndvi", "mask", "thumbnail"}
    assert not any(r.path.endswith("$value") for r in cdse.requests), "S3, not OData, was used"
    # A folder whose object contradicts manifest.safe, or with a key leaving the folder,
    # is refused by the SAFE checks and leaves nothing behind.
    for name, extra, reason in (
        (
            "bad-size",
            {"INSPIRE.xml": b"<INSPIRE>changed</INSPIRE>\n"},
            r"INSPIRE\.xml' has 27 bytes",
        ),
        ("bad-md5", {"INSPIRE.xml": b"<inspire/>\n"}, r"INSPIRE\.xml' fails its manifest"),
        ("zip-slip", {"../../evil.txt": b"escape"}, r"'\.\.' component \(zip-slip\)"),
    ):
        prefix = f"Sentinel-2/MSI/L2A/2023/07/05/{name}/{L2A_B.name}.SAFE"
        _upload_folder(moto_url, safe, prefix, extra)
        bad = record.__class__(**{**record.__dict__, "bands": {
            SAFE_ASSET: BandAsset(f"s3://eodata/{prefix}/")}})  # fmt: skip
        layout = layout_of(settings)
        with pytest.raises(ArchiveError, match=reason):
            l2a_product(settings, bad, layout, _options(cdse, **s3))
        assert not any(layout.downloads(bad).iterdir()), name
    assert not list(tmp_path.rglob("evil.txt"))


# ------------------------------------------------------------------ the workflow


def test_workflow_from_cdse_odata_through_sen2cor_leaks_no_secret(
    cdse: CdseStandIn,
    tmp_path: Path,
    doubles: dict[str, Path],  # noqa: F811
) -> None:
    source = tmp_path / "src"
    _publish(cdse, source, SafeSpec(aux_and_html=False), 1)  # L1C only: Sen2Cor
    _publish(cdse, source, L1C_B, 2)
    _publish(cdse, source, L2A_B, 3)  # its L2A exists: no Sen2Cor
    cdse.script(f"/odata/v1/Products({_uuid(1)})/$value", "429:0", "503")
    cdse.script(CATALOGUE, "503")
    config = {
        "campaign": "cdse",
        "archive": {**_archive(cdse, page_size=2), "collection": "sentinel-2-l1c"},
        "tiles": ["47PPR"], "start": "2023-01-01", "end": "2023-12-31",
        "products": ["ndvi", "mask"], "processors": {"l2a": "sen2cor"},
        "download": {"backoff_seconds": 0}, "cog": {"blocksize": 256},
    }  # fmt: skip
    (tmp_path / "cdse.yaml").write_text(json.dumps(config))

    result = snakemake(tmp_path, tmp_path / "cdse.yaml")

    assert result.returncode == 0, result.stderr[-4000:]
    (call,) = doubles["sen2cor_calls"].read_text().splitlines()
    assert SafeSpec().name in call
    items = sorted(p.stem for p in (tmp_path / "results/stac/47PPR").rglob("S2B_*.json"))
    assert [name[:26] for name in items] == [
        "S2B_MSIL1C_20230615T033541", "S2B_MSIL2A_20230705T033541",
    ]  # fmt: skip
    assert validate_stac_tree(tmp_path / "results/stac/collection.json") > 2
    assert cdse.grants.count("password") >= 1
    secrets = [PASSWORD, *cdse.access_tokens, *cdse.refresh_tokens, "access-1-", "refresh-1-"]
    for path in [*(tmp_path / "results").rglob("*"), *(tmp_path / "work").rglob("*"),
                 *(tmp_path / ".snakemake").rglob("*")]:  # fmt: skip
        if path.is_file():
            text = path.read_bytes()
            assert not any(secret.encode() in text for secret in secrets), path
