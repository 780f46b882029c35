"""A stand-in for the Copernicus Data Space Ecosystem on 127.0.0.1: OData catalogue,
Keycloak token endpoint and product download, in one server started and stopped by a test.

It speaks the documented formats: catalogue pages are `{"@odata.context", "value": [...],
"@odata.nextLink"}` with product entities (Id, Name, ContentLength, S3Path, Checksum,
ContentDate, GeoFootprint, Attributes as typed name/value pairs); `$filter` is evaluated
for the clauses CDSE documents (Collection/Name, typed attribute `any(...)`, ContentDate
ranges, contains(Name,...), OData.CSC.Intersects by bounding box) and anything else is a 400,
so a query the real catalogue would reject fails here too. The token endpoint implements
the password and refresh_token grants of client `cdse-public`; `$value` answers 401 without
a valid bearer token, and otherwise serves the zip like FaultyFileServer (Range, ETag and
scripted faults such as `429:0`, `503`, `reset`); the catalogue and token paths take
status faults (`503`, `429:0`, `ok` to answer normally in between).
"""

from __future__ import annotations

import hashlib
import http.server
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .servers import FaultyFileServer, Request

CATALOGUE = "/odata/v1/Products"
TOKEN = "/auth/realms/CDSE/protocol/openid-connect/token"
_VALUE = re.compile(r"^/odata/v1/Products\(([0-9a-f-]+)\)/\$value$")
_ATTRIBUTE = re.compile(
    r"^Attributes/OData\.CSC\.(String|Double|Integer)Attribute/any\(att:att/Name eq '([^']+)' "
    r"and att/OData\.CSC\.\1Attribute/Value (eq|le|lt|ge|gt) ('[^']*'|[-\d.]+)\)$"
)
_DATE = re.compile(r"^ContentDate/Start (ge|gt|le|lt) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "le": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
    "ge": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
}


class FilterError(ValueError):
    """A `$filter` the stand-in (and so, presumably, CDSE) does not understand."""


def _split(expression: str, word: str) -> list[str]:
    """Split at ` word ` outside parentheses and quotes."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    token = f" {word} "
    while i < len(expression):
        char = expression[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and expression.startswith(token, i):
            parts.append(expression[start:i])
            i += len(token)
            start = i
            continue
        i += 1
    parts.append(expression[start:])
    return [part.strip() for part in parts]


def _bbox(coordinates: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    xs, ys = [x for x, _ in coordinates], [y for _, y in coordinates]
    return min(xs), min(ys), max(xs), max(ys)


@dataclass
class Product:
    """One catalogue entry and the zip its `$value` serves."""

    collection: str
    entity: dict[str, Any]
    data: bytes | None = field(default=None, repr=False)

    def matches(self, expression: str) -> bool:
        """Evaluate a `$filter` expression on this product."""
        alternatives = _split(expression, "or")
        if len(alternatives) > 1:
            return any(self.matches(part) for part in alternatives)
        clauses = _split(expression, "and")
        if len(clauses) > 1:
            return all(self.matches(clause) for clause in clauses)
        clause = expression.strip()
        if clause.startswith("(") and clause.endswith(")"):
            return self.matches(clause[1:-1])
        if match := re.fullmatch(r"Collection/Name eq '([^']+)'", clause):
            return self.collection == match.group(1)
        if match := re.fullmatch(r"contains\(Name,'([^']+)'\)", clause):
            return match.group(1) in self.entity["Name"]
        if match := _DATE.fullmatch(clause):
            start = self.entity["ContentDate"]["Start"]
            return _OPS[match.group(1)](_time(start), _time(match.group(2)))
        if match := _ATTRIBUTE.fullmatch(clause):
            kind, name, op, literal = match.groups()
            values = {a["Name"]: a["Value"] for a in self.entity.get("Attributes", [])}
            if name not in values:
                return False
            wanted: Any = literal.strip("'") if kind == "String" else float(literal)
            return _OPS[op](values[name], wanted)
        if match := re.fullmatch(
            r"OData\.CSC\.Intersects\(area=geography'SRID=4326;POLYGON\(\(([^)]+)\)\)'\)", clause
        ):
            points = [tuple(map(float, p.split())) for p in match.group(1).split(",")]
            west, south, east, north = _bbox(points)  # type: ignore[arg-type]
            ring = self.entity["GeoFootprint"]["coordinates"][0]
            w, s, e, n = _bbox([tuple(p) for p in ring])  # type: ignore[misc]
            return w <= east and west <= e and s <= north and south <= n
        raise FilterError(f"unsupported $filter clause: {clause}")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def s2_entity(
    zip_path: Path, product_id: str, sensing: datetime, *, cloud: float, online: bool = True
) -> dict[str, Any]:
    """A Sentinel-2 product entity as the CDSE catalogue returns it (with $expand=Attributes)."""
    name = zip_path.name.removesuffix(".zip")
    level = "L2A" if "_MSIL2A_" in name else "L1C"
    data = zip_path.read_bytes()
    start = f"{sensing:%Y-%m-%dT%H:%M:%S}.024Z"
    tile = re.search(r"_T(\d{2}[A-Z]{3})_", name).group(1)  # type: ignore[union-attr]
    attributes = [
        ("String", "productType", f"S2MSI{level[1:]}"),
        ("Double", "cloudCover", cloud),
        ("String", "tileId", tile),
        ("String", "processingLevel", f"S2MSI{level[1:]}"),
        ("String", "platformShortName", "SENTINEL-2"),
        ("String", "platformSerialIdentifier", name[2]),
    ]
    return {
        "@odata.mediaContentType": "application/octet-stream",
        "Id": product_id,
        "Name": f"{name}.SAFE",
        "ContentType": "application/octet-stream",
        "ContentLength": len(data),
        "OriginDate": start,
        "PublicationDate": start,
        "ModificationDate": start,
        "Online": online,
        "EvictionDate": "9999-12-31T23:59:59.999Z",
        "S3Path": f"/eodata/Sentinel-2/MSI/{level}/{sensing:%Y/%m/%d}/{name}.SAFE",
        "Checksum": [
            {"Value": hashlib.md5(data).hexdigest(), "Algorithm": "MD5", "ChecksumDate": start},
            {
                "Value": hashlib.sha3_256(data).hexdigest(),
                "Algorithm": "SHA3-256",
                "ChecksumDate": start,
            },
        ],
        "ContentDate": {"Start": start, "End": start},
        "Footprint": "geography'SRID=4326;POLYGON ((100 14, 101 14, 101 15, 100 15, 100 14))'",
        "GeoFootprint": {
            "type": "Polygon",
            "coordinates": [[[100, 14], [101, 14], [101, 15], [100, 15], [100, 14]]],
        },
        "Attributes": [
            {
                "@odata.type": f"#OData.CSC.{kind}Attribute",
                "Name": key,
                "Value": value,
                "ValueType": kind,
            }
            for kind, key, value in attributes
        ],
    }


class CdseStandIn(FaultyFileServer):
    """Catalogue, token endpoint and downloads; every request logged in `requests`."""

    def __init__(self, users: dict[str, str], expires_in: int = 600) -> None:
        super().__init__()
        self.users = users
        self.expires_in = expires_in
        self.products: list[Product] = []
        self.grants: list[str] = []
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self._serial = itertools.count(1)

    def __enter__(self) -> CdseStandIn:
        return self

    @property
    def catalogue_url(self) -> str:
        return f"{self.url}/odata/v1"

    @property
    def token_url(self) -> str:
        return f"{self.url}{TOKEN}"

    def add(self, collection: str, entity: dict[str, Any], data: bytes | None = None) -> None:
        """Publish a product (and the bytes its `$value` serves)."""
        self.products.append(Product(collection, entity, data))
        if data is not None:
            self.files[f"/odata/v1/Products({entity['Id']})/$value"] = data

    def revoke_access_tokens(self) -> None:
        """Make every access token issued so far invalid (as an expiry would)."""
        self.access_tokens.clear()

    def catalogue_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(CATALOGUE + "?")]

    # ---- requests ----------------------------------------------------------------------------

    def handle(self, handler: http.server.BaseHTTPRequestHandler, head: bool = False) -> None:
        """Catalogue queries, then bearer-guarded downloads, then plain files."""
        path = handler.path.split("?")[0]
        if path == CATALOGUE:
            self.requests.append(Request(handler.command, handler.path, dict(handler.headers)))
            if not self._fault(handler, path):
                self._catalogue(handler)
            return
        if _VALUE.match(path):
            bearer = handler.headers.get("Authorization", "").removeprefix("Bearer ")
            if bearer not in self.access_tokens:
                self.requests.append(Request(handler.command, handler.path, dict(handler.headers)))
                self._json(handler, 401, {"detail": "Expired signature!"})
                return
        super().handle(handler, head)

    def handle_post(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        """The token endpoint (form-encoded grants)."""
        length = int(handler.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        self.requests.append(Request(handler.command, handler.path, dict(handler.headers)))
        if handler.path != TOKEN:
            self._json(handler, 404, {"error": "not found"})
            return
        if self._fault(handler, TOKEN):
            return
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if form.get("client_id") != "cdse-public":
            self._json(handler, 401, {"error": "invalid_client"})
        elif grant == "password" and self.users.get(form.get("username", "")) == form.get(
            "password"
        ):
            self._issue(handler)
        elif grant == "refresh_token" and form.get("refresh_token") in self.refresh_tokens:
            self.refresh_tokens.discard(form["refresh_token"])
            self._issue(handler)
        else:
            self._json(
                handler,
                400 if grant == "refresh_token" else 401,
                {"error": "invalid_grant", "error_description": "Invalid user credentials"},
            )

    def _issue(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        number = next(self._serial)
        access, refresh = f"access-{number}-{'x' * 24}", f"refresh-{number}-{'y' * 24}"
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        self._json(handler, 200, {
            "access_token": access, "expires_in": self.expires_in,
            "refresh_expires_in": 3600, "refresh_token": refresh, "token_type": "Bearer",
            "not-before-policy": 0, "session_state": "s", "scope": "AUDIENCE_PUBLIC",
        })  # fmt: skip

    def _fault(self, handler: http.server.BaseHTTPRequestHandler, path: str) -> bool:
        """Answer with the next scripted status fault of `path`, if any."""
        queue = self.faults.get(path)
        if not queue:
            return False
        fault = queue.popleft()
        if fault == "ok":
            return False
        status, _, retry_after = fault.partition(":")
        headers = {"Retry-After": retry_after} if retry_after else {}
        self._send_status(handler, int(status), headers)
        return True

    def _catalogue(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(handler.path).query).items()}
        try:
            found = [p for p in self.products if p.matches(query.get("$filter", ""))]
        except FilterError as exc:
            self._json(handler, 400, {"detail": str(exc)})
            return
        if query.get("$orderby") == "ContentDate/Start asc":
            found.sort(key=lambda p: p.entity["ContentDate"]["Start"])
        top, skip = int(query.get("$top", 20)), int(query.get("$skip", 0))
        entities = []
        for product in found[skip : skip + top]:
            entity = dict(product.entity)
            if query.get("$expand") != "Attributes":
                entity.pop("Attributes", None)
            entities.append(entity)
        page: dict[str, Any] = {"@odata.context": "$metadata#Products(Attributes())",
                                "value": entities}  # fmt: skip
        if skip + top < len(found):
            following = {**query, "$skip": str(skip + top)}
            page["@odata.nextLink"] = f"{self.url}{CATALOGUE}?{urlencode(following)}"
        self._json(handler, 200, page)

    @staticmethod
    def _json(handler: http.server.BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
