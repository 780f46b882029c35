"""The MGRS / Sentinel-2 grid: tile ids in every provider spelling, zones and projections."""

from __future__ import annotations

import pytest

from raw2ready.errors import GridError
from raw2ready.grid import parse_tile, tile_from_parts


@pytest.mark.parametrize("text", ["47PPR", "T47PPR", "MGRS-47PPR", " 47ppr "])
def test_spellings_normalize_to_one_id(text: str) -> None:
    assert parse_tile(text).id == "47PPR"


def test_zone_band_square_and_projection() -> None:
    north = parse_tile("47PPR")
    assert (north.zone, north.latitude_band, north.grid_square) == (47, "P", "PR")
    assert north.epsg == 32647 and north.grid_code == "MGRS-47PPR"
    south = parse_tile("7HFE")
    assert south.id == "07HFE" and south.epsg == 32707


def test_upper_left_matches_the_real_tile_grid() -> None:
    # Real Earth Search item S2A_29RKH_20200219: proj:transform origin (199980, 2800020).
    easting, northing = parse_tile("29RKH").upper_left
    assert abs(easting - 199980) <= 40 and abs(northing - 2800020) <= 40


def test_parts_as_in_mgrs_properties() -> None:
    assert tile_from_parts(20, "E", "PT").id == "20EPT"


@pytest.mark.parametrize(
    ("text", "message"),
    [("99ZZZ", "not a Sentinel-2 tile id"), ("61PPR", "outside 1-60"),
     ("47PZZ", "does not exist"), ("47IPR", "not a Sentinel-2 tile id")],
)  # fmt: skip
def test_bad_tiles_are_named(text: str, message: str) -> None:
    with pytest.raises(GridError, match=message) as error:
        parse_tile(text)
    assert text in str(error.value)
