"""The campaign's embedded search index: every item of the STAC tree as stac-geoparquet
(and ndjson) beside the root collection, searched offline with DuckDB.

The index is rewritten whole by the collection job, so a repaired scene's new item replaces
the old one. Relative hrefs are rebased onto the index's folder (which sits in the published
tree, like the items), so the index's items resolve from where the index is read.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import cql2
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from stac_geoparquet.arrow import parse_stac_items_to_parquet, stac_table_to_items

from raw2ready.atomic import atomic_path, write_text
from raw2ready.errors import CatalogSearchError
from raw2ready.products.registry import PRODUCTS

log = logging.getLogger(__name__)

PARQUET_NAME = "items.parquet"
NDJSON_NAME = "items.ndjson"
#: Items per stac-geoparquet chunk: bounds the memory of writing a 25,000-item campaign.
CHUNK_SIZE = 4096


@dataclass(frozen=True)
class IndexPaths:
    """Where a STAC tree's index files live: beside its root collection."""

    parquet: Path
    ndjson: Path

    @classmethod
    def beside(cls, collection: Path) -> IndexPaths:
        """The index files of the tree whose root collection is `collection`."""
        return cls(collection.parent / PARQUET_NAME, collection.parent / NDJSON_NAME)


def _linked(path: Path, rels: tuple[str, ...]) -> Iterator[Path]:
    """Files a STAC object links with relative links of the given relations."""
    data = json.loads(path.read_text())
    for link in data.get("links", []):
        href = link["href"]
        if link["rel"] in rels and not urlparse(href).scheme:
            yield (path.parent / href).resolve()


def tree_items(collection: Path) -> Iterator[Path]:
    """Every item file of a STAC tree, walking child and item links from its root."""
    pending = [collection.resolve()]
    while pending:
        node = pending.pop()
        yield from sorted(_linked(node, ("item",)))
        pending.extend(sorted(_linked(node, ("child",)), reverse=True))


def _rebased(href: str, source_dir: Path, index_dir: Path) -> str:
    """A relative href of a file in `source_dir`, as seen from `index_dir`; others as is."""
    if urlparse(href).scheme or href.startswith("/"):
        return href
    return Path(os.path.relpath(source_dir / href, index_dir)).as_posix()


def index_item(path: Path, index_dir: Path) -> dict[str, Any]:
    """An item as the index holds it: hrefs relative to the index's folder, a self link."""
    item = json.loads(path.read_text())
    source_dir = path.parent
    for asset in item["assets"].values():
        asset["href"] = _rebased(asset["href"], source_dir, index_dir)
    links = [link for link in item["links"] if link["rel"] != "self"]
    for link in links:
        link["href"] = _rebased(link["href"], source_dir, index_dir)
    self_href = Path(os.path.relpath(path, index_dir)).as_posix()
    item["links"] = [{"rel": "self", "href": self_href, "type": "application/geo+json"}, *links]
    return item


def write_index(collection: Path) -> IndexPaths:
    """Write the index of the tree under `collection` (parquet and ndjson), atomically."""
    paths = IndexPaths.beside(collection)
    index_dir = collection.parent.resolve()
    items = [index_item(path, index_dir) for path in tree_items(collection)]
    write_text(paths.ndjson, "".join(json.dumps(item) + "\n" for item in items))
    with atomic_path(paths.parquet) as temporary:
        if items:
            parse_stac_items_to_parquet(
                items, output_path=temporary, schema="ChunksToDisk", chunk_size=CHUNK_SIZE
            )
        else:
            temporary.write_bytes(b"")
    log.info("search index of %d items: %s", len(items), paths.parquet)
    return paths


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """`W,S,E,N` in degrees (W > E: across the antimeridian)."""
    try:
        west, south, east, north = (float(part) for part in text.split(","))
    except ValueError:
        raise CatalogSearchError(f"bbox '{text}' is not W,S,E,N in degrees") from None
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise CatalogSearchError(f"bbox '{text}' is outside -180..180, -90..90 or S > N")
    return west, south, east, north


def _instant(text: str, end: bool) -> datetime | None:
    """One end of a datetime interval: an RFC 3339 time or a date ('..' or '' is open)."""
    if text in ("", ".."):
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = datetime.fromisoformat(text + "T00:00:00+00:00")
            return day.replace(hour=23, minute=59, second=59, microsecond=999999) if end else day
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CatalogSearchError(
            f"datetime '{text}' is not an RFC 3339 time or a YYYY-MM-DD date"
        ) from None
    if moment.tzinfo is None:
        raise CatalogSearchError(f"datetime '{text}' has no time zone (add Z for UTC)")
    return moment


def parse_datetime(text: str) -> tuple[datetime | None, datetime | None]:
    """A STAC API datetime: an instant, a date (the whole day) or `A/B` with open ends."""
    start, slash, end = text.partition("/")
    if not slash:
        return _instant(text, False), _instant(text, True)
    return _instant(start, False), _instant(end, True)


def _bbox_clause(bbox: tuple[float, float, float, float]) -> tuple[str, list[Any]]:
    """SQL that an item's bbox struct intersects `bbox` (either may cross the antimeridian)."""
    west, south, east, north = bbox
    latitude = "bbox.ymin <= ? AND bbox.ymax >= ?"
    if west <= east:
        longitude = (
            "CASE WHEN bbox.xmin <= bbox.xmax THEN bbox.xmin <= ? AND bbox.xmax >= ? "
            "ELSE bbox.xmin <= ? OR bbox.xmax >= ? END"
        )
        return f"({latitude}) AND ({longitude})", [north, south, east, west, east, west]
    longitude = "bbox.xmin > bbox.xmax OR bbox.xmax >= ? OR bbox.xmin <= ?"
    return f"({latitude}) AND ({longitude})", [north, south, west, east]


def _filter_sql(text: str) -> str:
    """A CQL2 text filter as SQL over the index's columns (properties are top-level)."""
    try:
        expression = cql2.parse_text(text)
        expression.validate()
        return expression.to_sql()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        where = next((line for line in lines if line.startswith("-->")), "")
        expected = next((line[2:] for line in lines if line.startswith("= ")), lines[-1:])
        detail = f"{expected} (at {where.removeprefix('--> ')})" if where else str(expected)
        raise CatalogSearchError(f"filter '{text}' is not valid CQL2 text: {detail}") from None


def _refused_filter(exc: duckdb.Error, text: str | None) -> CatalogSearchError:
    """What DuckDB refused in a filter (a property no item has, a value of the wrong type, a
    spatial function, which needs an extension DuckDB cannot fetch offline), in one line."""
    message = str(exc)
    column = re.search(r'Referenced column "([^"]+)" not found', message)
    if column:
        return CatalogSearchError(f"filter '{text}': no item has a property '{column[1]}'")
    if "spatial extension" in message:
        return CatalogSearchError(
            f"filter '{text}': spatial functions are not available offline; use --bbox"
        )
    first = message.splitlines()[0].split(": ", 1)[-1]
    return CatalogSearchError(f"filter '{text}' cannot run on the index: {first}")


@dataclass(frozen=True)
class SearchCriteria:
    """What a search asks; items must match every criterion given.

    bbox: W,S,E,N degrees; datetime_range: inclusive ends, None for open; tiles: MGRS ids
    (any of them); products: asset names (items having all of them); cql2_filter: CQL2 text
    over item properties, e.g. `eo:cloud_cover < 10`.
    """

    bbox: tuple[float, float, float, float] | None = None
    datetime_range: tuple[datetime | None, datetime | None] | None = None
    tiles: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    cql2_filter: str | None = None

    def where(self, schema: pa.Schema) -> tuple[str, list[Any]]:
        """The SQL condition over an index of this Arrow schema, and its parameters."""
        clauses: list[str] = []
        values: list[Any] = []
        if self.bbox is not None:
            clause, params = _bbox_clause(self.bbox)
            clauses.append(clause)
            values.extend(params)
        start, end = self.datetime_range or (None, None)
        if start is not None:
            clauses.append('"datetime" >= ?')
            values.append(start)
        if end is not None:
            clauses.append('"datetime" <= ?')
            values.append(end)
        if self.tiles:
            clauses.append(f'"grid:code" IN ({", ".join("?" for _ in self.tiles)})')
            values.extend(f"MGRS-{tile}" for tile in self.tiles)
        known_assets = sorted(field.name for field in schema.field("assets").type)
        for product in self.products:
            if product not in known_assets:
                held = [name for name in known_assets if name in PRODUCTS]  # not quicklooks
                raise CatalogSearchError(
                    f"no product '{product}' in the index; its products: " + ", ".join(held)
                )
            clauses.append(f'assets."{product}" IS NOT NULL')
        if self.cql2_filter:
            clauses.append(f"({_filter_sql(self.cql2_filter)})")
        return " AND ".join(clauses) or "TRUE", values


def _matching(index: Path, columns: str, criteria: SearchCriteria) -> pa.Table | None:
    """`columns` of the index's matching rows, by datetime then id (None: an empty index)."""
    if not index.is_file():
        raise CatalogSearchError(
            f"search index {index} does not exist: run the workflow (its collection step writes it)"
        )
    if index.stat().st_size == 0:
        return None
    schema = pq.read_schema(index)
    where, values = criteria.where(schema)
    query = f'SELECT {columns} FROM read_parquet(?) WHERE {where} ORDER BY "datetime", id'
    try:
        table = duckdb.connect().sql(query, params=[str(index), *values]).to_arrow_table()
    except duckdb.Error as exc:
        raise _refused_filter(exc, criteria.cql2_filter) from None
    return table.cast(schema) if columns == "*" else table


def search_ids(index: Path, criteria: SearchCriteria) -> list[str]:
    """The ids of the index's items matching `criteria`, by datetime then id (fast: no item
    is rebuilt)."""
    table = _matching(index, "id", criteria)
    return [] if table is None else table.column("id").to_pylist()


def search_index(index: Path, criteria: SearchCriteria) -> list[dict[str, Any]]:
    """The index's items matching `criteria`, by datetime then id, with absolute hrefs (so
    stackstac, odc-stac or rasterio read them from anywhere)."""
    table = _matching(index, "*", criteria)
    if table is None:
        return []
    folder = index.parent.absolute()
    return [_as_found(item, folder) for item in stac_table_to_items(table)]


def _absolute(href: str, folder: Path) -> str:
    """A relative href of the index as an absolute path; URLs and absolute paths as they are."""
    if urlparse(href).scheme or href.startswith("/"):
        return href
    return os.path.normpath(folder / href)


def _as_found(item: dict[str, Any], folder: Path) -> dict[str, Any]:
    """An item read back from the index, ready for any client: hrefs absolute (they were
    relative to the index's `folder`), and no null link fields (Arrow's common schema gave
    them to the links that lack them; STAC wants them absent)."""
    for asset in item["assets"].values():
        asset["href"] = _absolute(asset["href"], folder)
    item["links"] = [
        {key: value for key, value in link.items() if value is not None} for link in item["links"]
    ]
    for link in item["links"]:
        link["href"] = _absolute(link["href"], folder)
    return item
