"""OGC API-EDR on the campaign's cubes: a pygeoapi configuration with one collection per
tile cube (served by `edr_provider.IcechunkEDRProvider`), and the local server.

pygeoapi is imported only when serving, so the package stays light without the `edr` extra.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import pyproj
import yaml

from raw2ready.config import Settings
from raw2ready.cube.datacube import open_cube
from raw2ready.errors import ConfigError
from raw2ready.layout import Layout

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
PROVIDER = "raw2ready.cube.edr_provider.IcechunkEDRProvider"
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def collection(settings: Settings, tile: str, cube: Path) -> dict[str, Any]:
    """The pygeoapi resource of one tile cube: its CRS84 extent, time span and provider."""
    dataset = open_cube(cube)
    crs = pyproj.CRS.from_wkt(dataset["spatial_ref"].attrs["crs_wkt"])
    half_x = abs(float(dataset.x[1] - dataset.x[0])) / 2
    half_y = abs(float(dataset.y[1] - dataset.y[0])) / 2
    bounds = pyproj.Transformer.from_crs(crs, "OGC:CRS84", always_xy=True).transform_bounds(
        float(dataset.x.min()) - half_x,
        float(dataset.y.min()) - half_y,
        float(dataset.x.max()) + half_x,
        float(dataset.y.max()) + half_y,
        densify_pts=21,
    )
    times = dataset.time.values
    return {
        "type": "collection",
        "title": f"{settings.campaign} {tile} ({settings.cube.source})",
        "description": f"Datacube of tile {tile}: {', '.join(dataset.data_vars)} per "
        f"{'scene' if settings.cube.source == 'scenes' else 'month'}, decoded values",
        "keywords": ["Sentinel-2", tile, *dataset.data_vars],
        "extents": {
            "spatial": {"bbox": [round(value, 6) for value in bounds], "crs": CRS84_URI},
            "temporal": {
                "begin": f"{str(times.min())[:19]}Z",
                "end": f"{str(times.max())[:19]}Z",
            },
        },
        "providers": [
            {
                "type": "edr",
                "name": PROVIDER,
                "data": str(cube.resolve()),
                "x_field": "x",
                "y_field": "y",
                "time_field": "time",
                "storage_crs": f"http://www.opengis.net/def/crs/EPSG/0/{crs.to_epsg()}",
                "format": {"name": "zarr", "mimetype": "application/zip"},
            }
        ],
    }


def pygeoapi_config(settings: Settings, layout: Layout, port: int) -> dict[str, Any]:
    """pygeoapi's configuration: the server on 127.0.0.1:port and one collection per tile
    cube that holds at least one time step."""
    if not settings.cube.enabled:
        raise ConfigError("cube.enabled is false: there is no cube to serve")
    resources = {}
    for tile in settings.tiles:
        cube = layout.cube(tile)
        if not cube.exists():
            log.warning("tile %s has no cube yet (%s): not served", tile, cube)
            continue
        if open_cube(cube).sizes["time"] == 0:
            log.warning("the cube of tile %s holds no time step yet: not served", tile)
            continue
        resources[tile] = collection(settings, tile, cube)
    if not resources:
        raise ConfigError(
            f"no cube with data under {layout.output_dir}: run the workflow with cube.enabled"
        )
    url = f"http://{HOST}:{port}"
    return {
        "server": {
            "bind": {"host": HOST, "port": port},
            "url": url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "language": "en-US",
            "pretty_print": False,
            "limits": {"default_items": 10, "max_items": 10000},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": ""},
        },
        "logging": {"level": "WARNING"},
        "metadata": {
            "identification": {
                "title": f"raw2ready {settings.campaign}",
                "description": "OGC API-EDR access to the campaign's per-tile datacubes",
                "keywords": ["Sentinel-2", "datacube", "EDR"],
                "keywords_type": "theme",
                "terms_of_service": url,
                "url": url,
            },
            "license": {"name": "as the campaign's products", "url": url},
            "provider": {"name": "raw2ready", "url": url},
            "contact": {"name": "raw2ready"},
        },
        "resources": resources,
    }


def serve(settings: Settings, layout: Layout, port: int) -> None:
    """Serve the campaign's cubes with pygeoapi on 127.0.0.1:port until interrupted."""
    config = pygeoapi_config(settings, layout, port)
    with tempfile.TemporaryDirectory(prefix="raw2ready-edr-") as folder:
        config_path = Path(folder) / "pygeoapi.yml"
        config_path.write_text(yaml.safe_dump(config))
        from pygeoapi.openapi import generate_openapi_document

        openapi_path = Path(folder) / "openapi.yml"
        openapi_path.write_text(generate_openapi_document(config_path, "yaml"))
        # pygeoapi's Flask app reads both documents from the environment when imported.
        os.environ["PYGEOAPI_CONFIG"] = str(config_path)
        os.environ["PYGEOAPI_OPENAPI"] = str(openapi_path)
        from pygeoapi.flask_app import APP

        log.info("EDR on http://%s:%d/collections (%s)", HOST, port, ", ".join(config["resources"]))
        APP.run(host=HOST, port=port, threaded=True)
