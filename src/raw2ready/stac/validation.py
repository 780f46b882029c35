"""Offline STAC validation against the official JSON schemas shipped in stac/schemas/.

schemas/index.json maps every schema URL raw2ready's STAC objects use (core, extensions and
what they reference) to a file beside it, with its SHA-256, provenance and licence. Validation
reads only those files, never the network; a schema URL missing from the index is an error
that names it. The index is also a `stac-validator --schema-config` file: run
`python -m raw2ready.stac.validation` to print its path.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import deque
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT7

from raw2ready.errors import ProductValidationError

logger = logging.getLogger(__name__)

SCHEMA_FOLDER = Path(__file__).with_name("schemas")
#: URL -> file (the `schemas` key, as stac-validator reads it), and each file's digest.
SCHEMA_INDEX = SCHEMA_FOLDER / "index.json"

_CORE_SCHEMAS = {
    "Feature": "item-spec/json-schema/item.json",
    "Catalog": "catalog-spec/json-schema/catalog.json",
    "Collection": "collection-spec/json-schema/collection.json",
}
_CHILD_RELS = ("child", "item")


@cache
def schema_registry() -> Registry:
    """The shipped schemas for jsonschema, by URL and by their own `$id`; nothing else."""
    index = json.loads(SCHEMA_INDEX.read_text(encoding="utf-8"))
    resources = [
        (url, Resource.from_contents(json.loads((SCHEMA_FOLDER / name).read_bytes()), DRAFT7))
        for url, name in index["schemas"].items()
    ]
    return Registry().with_resources(resources).crawl()


def schema_urls(stac: dict[str, Any], source: Path) -> list[str]:
    """The schemas a STAC object must satisfy: the core one of its type, then its extensions."""
    kind, version = stac.get("type"), stac.get("stac_version")
    core = _CORE_SCHEMAS.get(kind) if isinstance(kind, str) else None
    if core is None or not isinstance(version, str):
        raise ProductValidationError(
            f"{source}: not a STAC item, catalog or collection "
            f"(type {kind!r}, stac_version {version!r})"
        )
    return [f"https://schemas.stacspec.org/v{version}/{core}", *stac.get("stac_extensions", [])]


def _deepest_failure(errors: Iterable[ValidationError]) -> ValidationError | None:
    """The failure deepest in the object, as it names the field: STAC schemas wrap everything
    in oneOf/anyOf, whose own error only says that the whole object matched no branch."""
    leaves: list[ValidationError] = []
    pending = list(errors)
    while pending:
        error = pending.pop()
        if error.context:
            pending.extend(error.context)
        else:
            leaves.append(error)
    depth = max((len(error.absolute_path) for error in leaves), default=0)
    return best_match(error for error in leaves if len(error.absolute_path) == depth)


def validate_stac_object(stac: dict[str, Any], source: Path) -> None:
    """Check one STAC object against its core and extension schemas, offline.

    Raises ProductValidationError naming the file, the schema and the first failing field,
    or the schema URL that raw2ready does not ship.
    """
    registry = schema_registry()
    for url in schema_urls(stac, source):
        try:
            schema = registry.contents(url)
        except NoSuchResource:
            raise ProductValidationError(
                f"{source}: schema {url} is not shipped with raw2ready ({SCHEMA_INDEX}), so it "
                "cannot be checked offline"
            ) from None
        validator = validator_for(schema, default=Draft7Validator)(schema, registry=registry)
        try:
            error = _deepest_failure(validator.iter_errors(stac))
        except Unresolvable as err:
            raise ProductValidationError(
                f"{source}: schema {url} refers to {err.ref}, which is not shipped ({SCHEMA_INDEX})"
            ) from err
        if error is not None:
            raise ProductValidationError(
                f"invalid STAC: {source} against {url}: {error.message} (at {error.json_path})"
            )


def _linked_path(source: Path, href: str) -> Path:
    """The local file a child/item link of `source` points to."""
    parsed = urlparse(href)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme:
        raise ProductValidationError(f"{source}: link {href} is not a local file")
    return Path(os.path.normpath(source.parent / href))


def validate_stac_tree(root: Path) -> int:
    """Validate a catalog/collection file and every child and item below it; return the count."""
    pending = deque([Path(os.path.normpath(Path(root).absolute()))])
    seen: set[Path] = set()
    while pending:
        path = pending.popleft()
        if path in seen:
            continue
        seen.add(path)
        try:
            stac = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ProductValidationError(f"{path}: cannot read STAC JSON: {err}") from err
        if not isinstance(stac, dict):
            raise ProductValidationError(f"{path}: not a STAC object (not a JSON object)")
        validate_stac_object(stac, path)
        if stac["type"] != "Feature":
            for link in stac.get("links", []):
                if link.get("rel") in _CHILD_RELS:
                    pending.append(_linked_path(path, link["href"]))
    logger.info("validated %d STAC objects below %s", len(seen), root)
    return len(seen)


if __name__ == "__main__":
    # stac-validator validate --schema-config "$(python -m raw2ready.stac.validation)" ...
    sys.stdout.write(f"{SCHEMA_INDEX}\n")
