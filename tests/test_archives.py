"""The archive registry and the provider interface: every configurable kind has a provider,
a new archive needs only its module and a registry entry, and the shared transport never
imports a provider."""

from __future__ import annotations

import ast
import hashlib
from datetime import date
from pathlib import Path

import pytest

import raw2ready.archives.transfer
from raw2ready.archives import registry
from raw2ready.archives.provider import SearchQuery, SearchResult
from raw2ready.archives.search import search_archive
from raw2ready.archives.transfer import DownloadOptions, download_scene
from raw2ready.archives.transfer.fetcher import Fetcher
from raw2ready.archives.transfer.options import AssetSource
from raw2ready.config import ArchiveSection, DownloadSection, config_schema
from raw2ready.errors import ConfigError, DownloadError
from raw2ready.scene import BandAsset, SceneRecord

from .rasters import geotiff_bytes

TRANSFER = Path(raw2ready.archives.transfer.__file__).parent
QUERY = SearchQuery(
    tile="47PPR", start=date(2023, 1, 1), end=date(2023, 12, 31), max_cloud_cover=50.0,
    collection="sentinel-2-l2a", bands=frozenset({"B04"}),
)  # fmt: skip
PAYLOAD = geotiff_bytes(0, 64)  # a real band file: fetched rasters are decoded in full


def test_the_registry_knows_every_kind_the_schema_allows() -> None:
    schema_kinds = config_schema()["properties"]["archive"]["properties"]["kind"]["enum"]
    assert set(schema_kinds) == registry.kinds()
    assert len(schema_kinds) == len(set(schema_kinds))


def test_an_unknown_kind_is_a_config_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"archive.kind 'ftp_mirror' is unknown; known kinds: "):
        registry.provider_for("ftp_mirror")


# ------------------------------------------------------------------ a new archive, in one module


class TinySource:
    """Fetches `tiny://` hrefs, which only this archive can read, through the shared transport."""

    def serves(self, href: str) -> bool:
        return href.startswith("tiny://")

    def fetch(self, asset: BandAsset, final: Path, options: DownloadOptions) -> Path:
        def write(href: str, target: Path) -> None:
            target.write_bytes(PAYLOAD)

        return Fetcher(options, write=write).fetch(asset, final)


class TinyArchive:
    """A whole archive in a few lines: one scene of tile 47PPR and one unusable item."""

    def search(
        self, archive: ArchiveSection, query: SearchQuery, options: DownloadOptions
    ) -> SearchResult:
        checksum = "1220" + hashlib.sha256(PAYLOAD).hexdigest()  # multihash sha2-256
        record = SceneRecord(
            id="S2B_TINY_20230615_47PPR", tile="47PPR", datetime="2023-06-15T03:35:41Z",
            platform="sentinel-2b", processing_baseline="05.09", apply_boa_offset=True,
            cloud_cover=3.0, collection=query.collection, source_href=f"{archive.url}/1",
            bands={"B04": BandAsset("tiny://47PPR/B04", len(PAYLOAD), checksum)},
        )  # fmt: skip
        records = [record] if record.tile == query.tile else []
        return SearchResult(records, [("tiny-2", "no B04")])

    def sources(self, archive: ArchiveSection) -> tuple[AssetSource, ...]:
        return (TinySource(),)


def test_a_registered_provider_serves_search_and_download(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(registry.PROVIDERS, "tiny", TinyArchive())
    archive = ArchiveSection("tiny", "tiny://archive")

    result = search_archive(archive, QUERY)
    assert [record.id for record in result.records] == ["S2B_TINY_20230615_47PPR"]
    assert result.rejected == [("tiny-2", "no B04")]

    options = DownloadOptions.from_settings(DownloadSection(attempts=1), archive)
    paths = download_scene(result.records[0], tmp_path, options)
    assert paths == {"B04": tmp_path / "B04.tif"}
    assert paths["B04"].read_bytes() == PAYLOAD
    # no partial file left; the proof of the fetched file beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B04.tif", "B04.tif.proof.json"]


def test_without_its_provider_the_transport_cannot_read_the_archive(tmp_path: Path) -> None:
    record = TinyArchive().search(ArchiveSection("tiny", "tiny://a"), QUERY, DownloadOptions())
    with pytest.raises(DownloadError, match=r"no transport for 'tiny' hrefs"):
        download_scene(record.records[0], tmp_path, DownloadOptions(attempts=1))


# ------------------------------------------------------------------ import direction


def imported_modules(source: str, module: str) -> set[str]:
    """Every module an import statement of `source` names (function-local ones included)."""
    package = module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_the_import_check_sees_function_local_and_relative_imports() -> None:
    source = "def f():\n    from raw2ready.archives.sentinelhub import fetch_band\n"
    source += "from .. import registry\n"
    found = imported_modules(source, "raw2ready.archives.transfer.fetcher")
    assert "raw2ready.archives.sentinelhub" in found
    assert "raw2ready.archives.registry" in found


def test_the_transport_imports_no_provider() -> None:
    modules = sorted(TRANSFER.glob("*.py"))
    assert {p.name for p in modules} >= {"fetcher.py", "http.py", "s3.py", "retries.py"}
    for path in modules:
        module = f"raw2ready.archives.transfer.{path.stem}"
        if path.stem == "__init__":
            module = "raw2ready.archives.transfer.__init__"
        outside = {
            name
            for name in imported_modules(path.read_text(), module)
            if name.startswith("raw2ready.archives")
            and not name.startswith("raw2ready.archives.transfer")
        }
        assert not outside, f"transfer/{path.name} imports {sorted(outside)}"
