"""Planetary Computer assets: signed just in time with the real `planetary-computer` package.

Two local servers stand in for Microsoft's: a SAS token endpoint (the package is pointed at
it with PC_SDK_SAS_URL, as its settings allow) and the blob storage, reached through
HTTP_PROXY so that the real `*.blob.core.windows.net` hostnames of a real PC item are used
(the proxy serves them over plain http). The blob server refuses requests without the
current token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import planetary_computer
import pytest
from planetary_computer.sas import TOKEN_CACHE

from raw2ready.archives.transfer import DownloadOptions, download_scene
from raw2ready.config import ArchiveSection, DownloadSection
from raw2ready.errors import DownloadError
from raw2ready.scene import BandAsset, SceneRecord
from raw2ready.sentinel2.normalize import normalize_item, read_item

from .conftest import REAL_S2, requires_real_s2
from .rasters import geotiff_bytes
from .servers import FaultyFileServer, LocalServer, QuietHandler

PC_ITEM = (
    REAL_S2 / "stac_items"
    / "pc__sentinel-2-l2a__S2B_MSIL2A_20240419T095549_R122_T47XML_20240419T123458.json"
)  # fmt: skip
BANDS = frozenset({"B04", "SCL"})


class TokenServer(LocalServer):
    """The SAS endpoint: GET /<account>/<container> -> {"msft:expiry", "token"}."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                token = f"st=2024&se=2099&sp=rl&sv=2021&sr=c&sig=SECRET{len(owner.issued)}"
                owner.issued.append(self.path)
                expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
                body = json.dumps({"msft:expiry": expiry, "token": token}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)

    @property
    def latest(self) -> str:
        return f"sig=SECRET{len(self.issued) - 1}"


Servers = tuple[TokenServer, FaultyFileServer]


@pytest.fixture
def pc(monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    tokens = TokenServer()
    with FaultyFileServer() as blobs:
        monkeypatch.setenv("PC_SDK_SAS_URL", f"{tokens.url}/api/sas/v1/token")
        monkeypatch.delenv("PC_SDK_SUBSCRIPTION_KEY", raising=False)
        monkeypatch.setenv("HTTP_PROXY", blobs.url)
        monkeypatch.setenv("http_proxy", blobs.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
        planetary_computer.settings.Settings.get.cache_clear()
        TOKEN_CACHE.clear()
        blobs.authorize = lambda target: tokens.issued != [] and tokens.latest in target
        try:
            yield tokens, blobs
        finally:
            planetary_computer.settings.Settings.get.cache_clear()
            TOKEN_CACHE.clear()
            tokens.close()


def pc_record(blobs: FaultyFileServer) -> tuple[SceneRecord, dict[str, bytes]]:
    """The real PC item's record, its https blob URLs served (over http) by the proxy."""
    record = normalize_item(read_item(PC_ITEM), BANDS)
    data = {band: geotiff_bytes(seed, 400) for seed, band in enumerate(record.bands)}
    bands = {}
    for band, asset in record.bands.items():
        assert asset.href.startswith("https://sentinel2l2a01.blob.core.windows.net/")
        href = "http://" + asset.href.removeprefix("https://")
        blobs.files[href] = data[band]
        bands[band] = BandAsset(href, len(data[band]))
    return replace(record, bands=bands), data


def options() -> DownloadOptions:
    """A Planetary Computer campaign's options, built as the scene jobs build them."""
    return DownloadOptions.from_settings(
        DownloadSection(attempts=3, backoff_seconds=0, timeout_seconds=5),
        ArchiveSection("stac_api", "https://planetarycomputer.microsoft.com/api/stac/v1"),
    )


@requires_real_s2
def test_blob_urls_are_signed_at_download_time(pc: Servers, tmp_path: Path) -> None:
    tokens, blobs = pc
    record, data = pc_record(blobs)
    paths = download_scene(record, tmp_path, options())
    assert {band: path.read_bytes() for band, path in paths.items()} == data
    assert tokens.issued == ["/api/sas/v1/token/sentinel2l2a01/sentinel2-l2"]  # cached once
    assert all("sig=SECRET0" in r.path for r in blobs.requests)
    assert all("sig=" not in asset.href for asset in record.bands.values())


@requires_real_s2
def test_a_rejected_token_is_replaced(pc: Servers, tmp_path: Path) -> None:
    tokens, blobs = pc
    record, data = pc_record(blobs)
    first = next(iter(blobs.files))
    blobs.script(first.split("?")[0], "403")
    paths = download_scene(record, tmp_path, options())
    assert {band: path.read_bytes() for band, path in paths.items()} == data
    assert len(tokens.issued) == 2
    assert "sig=SECRET1" in blobs.requests[-1].path


@requires_real_s2
def test_tokens_stay_out_of_errors_and_logs(
    pc: Servers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _tokens, blobs = pc
    record, _data = pc_record(blobs)
    for href in blobs.files:
        blobs.script(href, *["503"] * 5)
    with (
        caplog.at_level(logging.DEBUG, logger="raw2ready"),
        pytest.raises(DownloadError, match="HTTP 503") as error,
    ):
        download_scene(record, tmp_path, options())
    assert "SECRET" not in str(error.value)
    assert "sig=" not in str(error.value)
    assert "SECRET" not in caplog.text
    assert not [p for p in tmp_path.rglob("*.tif")]
