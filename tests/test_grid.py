"""The MGRS / Sentinel-2 grid: tile ids in every provider spelling, zones, corners, footprints."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as parquet
import pytest
import shapely
from pyproj import Transformer

from raw2ready.errors import GridError
from raw2ready.grid import TILE_EXTENT_M, Tile, parse_tile, tile_from_parts
from tests.conftest import REAL_S2, requires_real_s2

ESA_GRID = REAL_S2 / "grid" / "sentinel-2-grid_LAND.parquet"


@pytest.mark.parametrize("text", ["47PPR", "T47PPR", "MGRS-47PPR", " 47ppr "])
def test_spellings_normalize_to_one_id(text: str) -> None:
    assert parse_tile(text).id == "47PPR"


def test_zone_band_square_and_projection() -> None:
    north = parse_tile("47PPR")
    assert (north.zone, north.latitude_band, north.grid_square) == (47, "P", "PR")
    assert north.epsg == 32647 and north.grid_code == "MGRS-47PPR"
    south = parse_tile("7HFE")
    assert south.id == "07HFE" and south.epsg == 32707


@pytest.mark.parametrize(
    ("tile", "origin"),
    [
        ("29RKH", (199980, 2800020)),  # Earth Search v1 S2A_29RKH_20200219_0_L2A
        ("55GDP", (399960, 5400040)),  # Earth Search v0 S2B_55GDP_20241003_0_L2A (south)
        ("21MZV", (799980, 10000000)),  # Earth Search v1 S2B_21MZV_20231110_0_L2A (equator)
        ("25LCG", (300000, 8700040)),  # Earth Search v1 S2B_25LCG_20240809_0_L2A
        ("47XML", (399960, 9100020)),  # Planetary Computer S2B_MSIL2A_20240419T095549_R122_T47XML
        ("06VVN", (399960, 6800040)),  # Planetary Computer S2B_MSIL2A_20190629T212529_R043_T06VVN
        ("33UWP", (499980, 5400000)),  # CDSE S2C_MSIL2A_20250330T100051_N0511_R122_T33UWP
    ],
)
def test_upper_left_is_the_real_products_origin(tile: str, origin: tuple[int, int]) -> None:
    # proj:transform origins of real provider items (../shared/fixtures/real-s2/stac_items).
    assert parse_tile(tile).upper_left == origin


def test_bounds_span_10980_pixels_of_10_m() -> None:
    west, south, east, north = parse_tile("29RKH").bounds
    assert (west, north) == parse_tile("29RKH").upper_left
    assert east - west == north - south == 10980 * 10 == TILE_EXTENT_M


def test_footprint_corners_are_the_utm_corners_in_lon_lat() -> None:
    tile = parse_tile("29RKH")
    west, south, east, north = tile.bounds
    to_lonlat = Transformer.from_crs(f"EPSG:{tile.epsg}", "EPSG:4326", always_xy=True)
    corners = np.column_stack(
        to_lonlat.transform([west, west, east, east], [north, south, south, north])
    )
    footprint = tile.footprint
    assert footprint["type"] == "Polygon"
    ring = np.array(footprint["coordinates"][0])
    assert np.array_equal(ring[0], ring[-1])
    for corner in corners:
        assert np.abs(ring - corner).max(axis=1).min() < 1e-7


def test_footprint_across_the_antimeridian_is_split_at_180() -> None:
    tile = parse_tile("01WCP")  # west part of the tile lies east of 180 deg
    west, south, east, north = tile.bounds
    to_lonlat = Transformer.from_crs("EPSG:32601", "EPSG:4326", always_xy=True)
    corner_lons, _lats = to_lonlat.transform([west, west, east, east], [north, south, south, north])
    assert min(corner_lons) < -178 and max(corner_lons) > 178  # the tile does cross it
    footprint = tile.footprint
    assert footprint["type"] == "MultiPolygon" and len(footprint["coordinates"]) == 2
    parts = [np.array(polygon[0]) for polygon in footprint["coordinates"]]
    assert all(np.abs(part[:, 0]).max() <= 180 for part in parts)
    east_part, west_part = sorted(parts, key=lambda part: -part[:, 0].mean())
    assert east_part[:, 0].max() == 180 and west_part[:, 0].min() == -180
    # Both halves meet along the same stretch of the antimeridian.
    east_cut = sorted(east_part[east_part[:, 0] == 180][:, 1])
    west_cut = sorted(west_part[west_part[:, 0] == -180][:, 1])
    assert (east_cut[0], east_cut[-1]) == (west_cut[0], west_cut[-1])


def test_parts_as_in_mgrs_properties() -> None:
    assert tile_from_parts(20, "E", "PT").id == "20EPT"


@pytest.mark.parametrize(
    ("text", "message"),
    [("99ZZZ", "not a Sentinel-2 tile id"), ("61PPR", "outside 1-60"),
     ("47PZZ", "does not exist"), ("47IPR", "not a Sentinel-2 tile id"),
     ("47PPA", "does not exist"),  # square PA lies in band Q, not P
     ("33NTV", "does not exist"),  # square TV lies just south of the equator (33MTV)
     ("32XNA", "does not exist"),  # MGRS has no zone 32X (Svalbard: 31X and 33X)
     ("33XSJ", "does not exist")],  # square SJ lies far west of zone 33X
)  # fmt: skip
def test_bad_tiles_are_named(text: str, message: str) -> None:
    with pytest.raises(GridError, match=message) as error:
        parse_tile(text)
    assert text in str(error.value)


@pytest.fixture(scope="module")
def esa_grid() -> dict[str, np.ndarray]:
    """ESA's tiling grid (real-s2 fixture): ids, EPSG, UTM bounds and lon/lat footprints."""
    table = parquet.read_table(ESA_GRID, columns=["tile", "geometry", "epsg", "utm_bounds"])
    bounds = [text.strip("()").split(",") for text in table.column("utm_bounds").to_pylist()]
    return {
        "tile": np.array(table.column("tile").to_pylist()),
        "epsg": np.array(table.column("epsg").to_pylist()),
        "bounds": np.array(bounds, dtype=float),
        "geometry": shapely.from_wkb(table.column("geometry").to_pylist()),
    }


@pytest.fixture(scope="module")
def parsed(esa_grid: dict[str, np.ndarray]) -> list[Tile]:
    """Every tile of ESA's grid, parsed from its id alone."""
    return [parse_tile(text) for text in esa_grid["tile"]]


@requires_real_s2
def test_every_esa_tile_parses_with_its_epsg_and_corner(
    esa_grid: dict[str, np.ndarray], parsed: list[Tile]
) -> None:
    assert len(parsed) == 20_430
    assert [tile.id for tile in parsed] == esa_grid["tile"].tolist()
    assert np.array_equal([tile.epsg for tile in parsed], esa_grid["epsg"])
    # utm_bounds is (west, south, east, north), as Tile.bounds.
    assert np.abs(np.array([tile.bounds for tile in parsed]) - esa_grid["bounds"]).max() <= 1.0


@requires_real_s2
def test_every_footprint_matches_esa(esa_grid: dict[str, np.ndarray], parsed: list[Tile]) -> None:
    ours = shapely.from_geojson([json.dumps(tile.footprint) for tile in parsed])
    theirs = esa_grid["geometry"]
    assert shapely.is_valid(ours).all()
    # Split at the antimeridian exactly where ESA's footprints are (30 tiles, zones 1/59/60).
    multi = shapely.get_type_id(theirs) == shapely.GeometryType.MULTIPOLYGON
    assert multi.sum() == 30
    assert np.array_equal(shapely.get_type_id(ours) == shapely.GeometryType.MULTIPOLYGON, multi)
    # ESA's corners lie on our outline to 1e-6 deg (0.1 m); its cut points at +-180 are
    # interpolated along its straight edges, so they are left out.
    points, owner = shapely.get_coordinates(theirs, return_index=True)
    corner = np.abs(np.abs(points[:, 0]) - 180) > 1e-9
    outline = shapely.boundary(ours)[owner[corner]]
    distance = shapely.distance(shapely.points(points[corner]), outline)
    assert distance.max() < 1e-6
    # ESA joins the corners with straight lines in lon/lat; a tile's edges are straight in
    # UTM and bend in lon/lat, more so nearer the poles: up to 0.6 % of the tile's area
    # between the two below 60 deg latitude and 3.3 % at 84 deg N.
    relative = shapely.area(shapely.symmetric_difference(ours, theirs)) / shapely.area(theirs)
    latitude = np.abs(shapely.get_coordinates(shapely.centroid(theirs))[:, 1])
    assert (relative < np.where(latitude < 60, 0.006, 0.035)).all()
