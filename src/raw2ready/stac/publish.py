"""Publication of a finished STAC tree to a pgstac database (the scale path of the catalog).

The collection is upserted before its items (pgstac partitions items by collection) and
both with pypgstac's upsert method, so a rerun or a repaired scene updates rows and never
duplicates them. Published documents carry absolute hrefs: the database does not know
where the tree was on disk, and a STAC API serves the documents as they are stored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
from psycopg.conninfo import make_conninfo
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods

from raw2ready.config import PgstacSection
from raw2ready.errors import PublishError

log = logging.getLogger(__name__)

#: Links that only make sense inside the static tree: a STAC API writes its own.
TREE_RELS = frozenset({"root", "parent", "child", "item", "collection", "self"})


@dataclass(frozen=True)
class Published:
    """What one publication upserted."""

    collections: int
    items: int


def absolute_href(href: str, document: Path) -> str:
    """`href` as written in `document` made absolute: a URL as it is, a relative path
    resolved against the document's folder."""
    if urlparse(href).scheme or Path(href).is_absolute():
        return href
    return str((document.parent / href).resolve())


def published_document(data: dict[str, Any], document: Path) -> dict[str, Any]:
    """A copy of a STAC item or collection read from `document` as it is published: asset
    and link hrefs absolute, the static tree's own navigation links left to the API."""
    out = dict(data)
    out["links"] = [
        {**link, "href": absolute_href(link["href"], document)}
        for link in data.get("links", [])
        if link["rel"] not in TREE_RELS
    ]
    if "assets" in data:
        out["assets"] = {
            key: {**asset, "href": absolute_href(asset["href"], document)}
            for key, asset in data["assets"].items()
        }
    return out


def _read(path: Path) -> dict[str, Any]:
    """A STAC JSON document."""
    return json.loads(path.read_text())


def stac_tree(collection: Path) -> tuple[list[Path], list[Path]]:
    """The collection files and item files of the tree under `collection`, found by
    following its child and item links (so only what the tree links is published)."""
    collections, items = [], []
    pending = [collection.resolve()]
    while pending:
        path = pending.pop()
        data = _read(path)
        if data["type"] == "Collection":
            collections.append(path)
        for link in data.get("links", []):
            target = (path.parent / link["href"]).resolve()
            if link["rel"] == "child":
                pending.append(target)
            elif link["rel"] == "item":
                items.append(target)
    return collections, items


def conninfo(section: PgstacSection) -> str:
    """The libpq connection string of `publish.pgstac`, the password from its environment
    variable (none when unset: trust auth or ~/.pgpass)."""
    password = os.environ.get(section.password_env)
    return make_conninfo(
        host=section.host,
        port=section.port,
        dbname=section.dbname,
        user=section.user,
        **({"password": password} if password else {}),
    )


def upsert(
    dsn: str, collections: Iterable[dict[str, Any]], items: Iterable[dict[str, Any]]
) -> None:
    """Upsert published collections, then their items, into the pgstac database at `dsn`."""
    try:  # fail fast, in one line: pypgstac's pool would retry an unreachable host for 30 s
        psycopg.connect(dsn, connect_timeout=10).close()
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[-1]
        raise PublishError(f"cannot publish to pgstac: {first_line}") from error
    db = PgstacDB(dsn=dsn)
    try:
        loader = Loader(db=db)
        loader.load_collections(iter(collections), insert_mode=Methods.upsert)
        loader.load_items(iter(items), insert_mode=Methods.upsert)
    finally:
        db.close()


def publish_tree(collection: Path, section: PgstacSection) -> Published:
    """Publish the STAC tree whose root collection is `collection` to `publish.pgstac`."""
    collection_files, item_files = stac_tree(collection)

    def items() -> Iterator[dict[str, Any]]:
        for path in item_files:
            yield published_document(_read(path), path)

    upsert(
        conninfo(section),
        [published_document(_read(path), path) for path in collection_files],
        items(),
    )
    published = Published(collections=len(collection_files), items=len(item_files))
    log.info(
        "published %d collection(s) and %d item(s) to pgstac at %s:%d/%s",
        published.collections, published.items, section.host, section.port, section.dbname,
    )  # fmt: skip
    return published
