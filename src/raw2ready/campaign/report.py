"""The campaign report: one static HTML page (`<output_dir>/report.html`) that opens from
disk without a server: a map of the tiles (inline SVG of ESA's tile footprints, coloured by
scenes per tile), scenes per tile and year, mean clear-sky share, the failed scenes with their
one-line causes, the latest quicklook of each tile and relative links into the STAC tree.

Everything is read from the files the run wrote (items, scene logs); nothing from the
network, no script. docs/report.md says how it relates to Snakemake's own `--report`.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from raw2ready.atomic import write_text
from raw2ready.campaign.batch_job import _ERROR_FORMAT as ERROR_FORMAT  # a failed log's end
from raw2ready.config import Settings
from raw2ready.grid import parse_tile
from raw2ready.layout import ITEM, SCENE_LOG, Layout
from raw2ready.products.registry import PRODUCTS, Kind
from raw2ready.raster.quicklook import colour_table

log = logging.getLogger(__name__)

#: Width of the map, in CSS pixels (its height follows the tiles' extent).
MAP_WIDTH = 640
#: The map's ramp for scenes per tile, from none (light) to the most (dark green).
MAP_RAMP = "ylgn"


@dataclass(frozen=True)
class FailedScene:
    """A scene whose last processing attempt failed, and why (one line)."""

    tile: str
    scene: str
    cause: str
    log: Path


@dataclass(frozen=True)
class SceneEntry:
    """What the report shows of one scene's item."""

    tile: str
    scene: str
    datetime: str
    clear_percent: float | None
    item: Path
    thumbnail: Path | None


def failed_scenes(layout: Layout) -> list[FailedScene]:
    """The scenes whose last attempt failed: their log (logs/scene/...) ends with the error
    line the batch job writes, and no item was written since. The one reader of failure
    records, so that a richer record changes only this function."""
    prefix = ERROR_FORMAT % ""
    pattern = SCENE_LOG.format(tile="*", year="*", quarter="*", month="*", scene="*")
    failed = []
    for path in sorted(layout.work_dir.glob(pattern)):
        lines = path.read_text(errors="replace").splitlines()
        if not lines or not lines[-1].startswith(prefix):
            continue
        tile, year, quarter, month = path.parts[-5:-1]
        scene = path.stem
        item = layout.output_dir / ITEM.format(
            tile=tile, year=year, quarter=quarter, month=month, scene=scene
        )
        if not item.exists():
            failed.append(FailedScene(tile, scene, lines[-1].removeprefix(prefix), path))
    return failed


def _clear_percent(item: dict[str, Any]) -> float | None:
    """Share of the tile's pixels the mask left clear: the valid share of the item's first
    continuous product (registry order), whose masked pixels are nodata."""
    for spec in PRODUCTS.values():
        asset = item["assets"].get(spec.name)
        if spec.kind is Kind.INDEX and asset:
            for band in asset.get("raster:bands", []):
                if "valid_percent" in band.get("statistics", {}):
                    return float(band["statistics"]["valid_percent"])
    return None


def scene_entries(layout: Layout, tiles: Iterable[str]) -> list[SceneEntry]:
    """Every item of the tiles' STAC trees, oldest first."""
    entries = []
    for tile in tiles:
        pattern = ITEM.format(tile=tile, year="*", quarter="*", month="*", scene="*")
        for path in layout.output_dir.glob(pattern):
            item = json.loads(path.read_text())
            thumbnail = item["assets"].get("thumbnail")
            entries.append(
                SceneEntry(
                    tile=tile,
                    scene=item["id"],
                    datetime=item["properties"]["datetime"],
                    clear_percent=_clear_percent(item),
                    item=path,
                    thumbnail=(path.parent / thumbnail["href"]).resolve() if thumbnail else None,
                )
            )
    return sorted(entries, key=lambda entry: (entry.datetime, entry.scene))


def _href(target: Path, layout: Layout) -> str:
    """A link from the report to `target`, relative, URL-safe for the page."""
    relative = Path(os.path.relpath(target, layout.report().parent)).as_posix()
    return html.escape(relative, quote=True)


def _rings(tile: str) -> list[list[list[float]]]:
    """The outer rings (lon, lat) of a tile's footprint in ESA's grid."""
    geometry = parse_tile(tile).footprint
    polygons = (
        geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    )
    return [polygon[0] for polygon in polygons]


def _colour(count: int, most: int) -> str:
    """Fill colour of a tile with `count` scenes (white: none)."""
    if count == 0:
        return "#ffffff"
    red, green, blue, _alpha = colour_table(MAP_RAMP)[64 + (191 * count) // max(most, 1)]
    return f"#{red:02x}{green:02x}{blue:02x}"


def tile_map(counts: dict[str, int], failures: Counter[str], clear: dict[str, str]) -> str:
    """Inline SVG of the tiles' footprints (equirectangular, north up), coloured by scenes;
    tiles with failed scenes outlined in red. Hovering a tile shows its figures."""
    rings = {tile: _rings(tile) for tile in counts}
    points = [point for tile_rings in rings.values() for ring in tile_rings for point in ring]
    west, east = min(p[0] for p in points), max(p[0] for p in points)
    south, north = min(p[1] for p in points), max(p[1] for p in points)
    stretch = max(0.2, math.cos(math.radians((south + north) / 2)))  # degrees of longitude
    span_x, span_y = (east - west) * stretch, north - south
    scale = (MAP_WIDTH - 20) / max(span_x, span_y, 1e-9)
    height = round(span_y * scale + 20)
    most = max(counts.values(), default=0)
    shapes = []
    for tile, tile_rings in sorted(rings.items()):
        outline = "#d7301f" if failures[tile] else "#333333"
        width = 3 if failures[tile] else 1
        tip = html.escape(
            f"{tile}: {counts[tile]} scene(s), clear sky {clear[tile]}, {failures[tile]} failed"
        )
        for ring in tile_rings:
            xy = " ".join(
                f"{10 + (lon - west) * stretch * scale:.1f},{10 + (north - lat) * scale:.1f}"
                for lon, lat in ring
            )
            shapes.append(
                f'<polygon points="{xy}" fill="{_colour(counts[tile], most)}" '
                f'fill-opacity="0.85" stroke="{outline}" stroke-width="{width}">'
                f"<title>{tip}</title></polygon>"
            )
        lon = sum(p[0] for p in tile_rings[0]) / len(tile_rings[0])
        lat = sum(p[1] for p in tile_rings[0]) / len(tile_rings[0])
        shapes.append(
            f'<text x="{10 + (lon - west) * stretch * scale:.1f}" '
            f'y="{10 + (north - lat) * scale:.1f}" text-anchor="middle" class="tile-label">'
            f"{tile} ({counts[tile]})</text>"
        )
    step = 1 if max(east - west, north - south) <= 10 else 5
    grid = [
        f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" class="graticule"/>'
        f'<text x="{x + 2:.1f}" y="{height - 2}" class="graticule-label">{lon}°</text>'
        for lon in range(math.ceil(west / step) * step, math.floor(east) + 1, step)
        if (x := 10 + (lon - west) * stretch * scale) >= 0
    ] + [
        f'<line x1="0" y1="{y:.1f}" x2="{MAP_WIDTH}" y2="{y:.1f}" class="graticule"/>'
        f'<text x="2" y="{y - 2:.1f}" class="graticule-label">{lat}°</text>'
        for lat in range(math.ceil(south / step) * step, math.floor(north) + 1, step)
        if (y := 10 + (north - lat) * scale) >= 0
    ]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_WIDTH}" height="{height}" '
        f'viewBox="0 0 {MAP_WIDTH} {height}" role="img" aria-label="Map of the campaign tiles">'
        f'<rect width="{MAP_WIDTH}" height="{height}" fill="#f4f8fb"/>'
        + "".join(grid + shapes)
        + "</svg>"
    )


STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.tile-label { font-size: 13px; font-weight: bold; fill: #111; paint-order: stroke;
  stroke: #fff; stroke-width: 3px; }
.graticule { stroke: #c8d3dc; stroke-width: 1; }
.graticule-label { font-size: 10px; fill: #789; }
.looks { display: flex; flex-wrap: wrap; gap: 1em; }
.looks figure { margin: 0; }
.looks img { width: 240px; height: 240px; object-fit: contain;
  background: repeating-conic-gradient(#ddd 0% 25%, #fff 0% 50%) 50% / 16px 16px; }
.failed td { color: #a50026; }
"""


def render_report(settings: Settings, layout: Layout) -> str:
    """The report's HTML for the campaign as its files are now."""
    entries = scene_entries(layout, settings.tiles)
    failed = failed_scenes(layout)
    counts = {tile: 0 for tile in settings.tiles}
    by_year: Counter[tuple[str, str]] = Counter()
    clear_shares: dict[str, list[float]] = defaultdict(list)
    for entry in entries:
        counts[entry.tile] += 1
        by_year[entry.tile, entry.datetime[:4]] += 1
        if entry.clear_percent is not None:
            clear_shares[entry.tile].append(entry.clear_percent)
    clear = {
        tile: f"{sum(shares) / len(shares):.0f} %" if (shares := clear_shares[tile]) else "n/a"
        for tile in settings.tiles
    }
    failures = Counter(scene.tile for scene in failed)
    years = [str(year) for year in range(settings.start.year, settings.end.year + 1)]
    escape = html.escape
    rows = "".join(
        f'<tr data-tile="{tile}"><td><a href="{_href(layout.tile_catalog(tile), layout)}">'
        f"{tile}</a></td>"
        + "".join(f'<td data-year="{year}">{by_year[tile, year]}</td>' for year in years)
        + f'<td class="total">{counts[tile]}</td><td>{clear[tile]}</td>'
        f"<td>{failures[tile]}</td></tr>"
        for tile in settings.tiles
    )
    failed_rows = "".join(
        f'<tr class="failed"><td>{escape(scene.scene)}</td><td>{scene.tile}</td>'
        f"<td>{escape(scene.cause)}</td><td><code>{escape(str(scene.log))}</code></td></tr>"
        for scene in failed
    )
    latest = {entry.tile: entry for entry in entries}  # entries are oldest first
    looks = "".join(
        f'<figure data-tile="{tile}"><a href="{_href(entry.item, layout)}">'
        + (
            f'<img src="{_href(entry.thumbnail, layout)}" alt="Thumbnail of {entry.scene}">'
            if entry.thumbnail
            else "(no thumbnail)"
        )
        + f"</a><figcaption>{tile}: {escape(entry.scene)}<br>{entry.datetime[:10]}"
        "</figcaption></figure>"
        for tile, entry in sorted(latest.items())
    )
    written = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>raw2ready campaign {escape(settings.campaign)}</title>
<style>{STYLE}</style></head>
<body>
<h1>Campaign {escape(settings.campaign)}</h1>
<p>{len(entries)} scene(s) on {len(settings.tiles)} tile(s), {settings.start} to {settings.end};
{len(failed)} failed. Written {written}.
<a href="{_href(layout.collection(), layout)}">STAC collection</a></p>
<h2>Tiles</h2>
{tile_map(counts, failures, clear)}
<p>Colour: scenes per tile (white: none); red outline: failed scenes. Clear sky: the mean
share of each scene's pixels left unmasked.</p>
<h2>Scenes per tile and year</h2>
<table id="counts"><thead><tr><th>Tile</th>{"".join(f"<th>{y}</th>" for y in years)}
<th>Total</th><th>Clear sky</th><th>Failed</th></tr></thead><tbody>{rows}</tbody></table>
<h2>Failed scenes</h2>
{
        f'<table id="failed"><thead><tr><th>Scene</th><th>Tile</th><th>Cause</th><th>Log</th>'
        f"</tr></thead><tbody>{failed_rows}</tbody></table>"
        if failed
        else '<p id="failed">None.</p>'
    }
<h2>Latest quicklook per tile</h2>
<div class="looks">{looks or "<p>No scene yet.</p>"}</div>
</body></html>
"""


def write_report(settings: Settings, layout: Layout) -> Path:
    """Write the campaign's report page atomically; return its path."""
    path = layout.report()
    write_text(path, render_report(settings, layout))
    log.info("campaign report: %s", path)
    return path
