"""A scene's mean sun and view angles from real STAC items and real SAFE tile metadata,
compared with the raw files read independently."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pystac
import pytest

from raw2ready.scene import SceneRecord
from raw2ready.sentinel2.angles import SunView, from_item_properties, from_tile_metadata
from raw2ready.sentinel2.normalize import normalize_item
from raw2ready.sentinel2.safe import parse_metadata

from .conftest import REAL_S2, requires_real_s2

ES1_ITEM = REAL_S2 / "stac_items" / "es1__sentinel-2-c1-l2a__S2A_T37WDS_20240419T090557_L2A.json"
SAFE = REAL_S2 / "safe_metadata" / "S2B_MSIL2A_20220413T150759_N0400_R025_T33XWJ_20220414T082126"
#: ESA band order: bandId N of MTD_TL.xml.
BAND_IDS = {"B03": "2", "B04": "3", "B05": "4", "B06": "5", "B07": "6", "B8A": "8"}


@requires_real_s2
def test_item_angles_are_the_view_extension_properties() -> None:
    properties = json.loads(ES1_ITEM.read_text())["properties"]
    record = normalize_item(pystac.Item.from_file(ES1_ITEM), frozenset({"B04"}))
    assert record.angles == SunView(
        90.0 - properties["view:sun_elevation"],
        properties["view:sun_azimuth"],
        properties["view:incidence_angle"],
        properties["view:azimuth"],
    )
    assert SceneRecord.from_json(record.to_json()) == record


@requires_real_s2
def test_safe_angles_average_the_bands_viewing_angles() -> None:
    tile_xml = (SAFE / "MTD_TL.xml").read_bytes()
    meta = parse_metadata((SAFE / "MTD_MSIL2A.xml").read_bytes(), tile_xml, SAFE.name)
    angles = meta.sun_view(BAND_IDS)
    root = ET.fromstring(tile_xml)
    sun = next(e for e in root.iter() if e.tag.endswith("Mean_Sun_Angle"))
    views = [
        e for e in root.iter()
        if e.tag.endswith("Mean_Viewing_Incidence_Angle") and e.get("bandId") in BAND_IDS.values()
    ]  # fmt: skip
    assert len(views) == len(BAND_IDS)
    zenith = np.mean([float(e.findtext("ZENITH_ANGLE")) for e in views])
    azimuths = np.radians([float(e.findtext("AZIMUTH_ANGLE")) for e in views])
    azimuth = np.degrees(np.angle(np.exp(1j * azimuths).mean())) % 360
    assert angles is not None
    assert angles.sun_zenith == pytest.approx(float(sun.findtext("ZENITH_ANGLE")))
    assert angles.sun_azimuth == pytest.approx(float(sun.findtext("AZIMUTH_ANGLE")))
    assert angles.view_zenith == pytest.approx(zenith)
    # The circular mean, as the mean direction of unit phasors.
    assert angles.view_azimuth == pytest.approx(azimuth, abs=1e-6)


def test_view_azimuths_are_averaged_on_the_circle() -> None:
    angles = from_tile_metadata((30.0, 150.0), {"B03": (5.0, 359.0), "B04": (7.0, 1.0)}, ["B03"])
    assert angles.view_zenith == 5.0 and angles.view_azimuth == pytest.approx(359.0)
    both = from_tile_metadata((30.0, 150.0), {"B03": (5.0, 359.0), "B04": (7.0, 1.0)}, [])
    assert both.view_zenith == 6.0
    assert min(both.view_azimuth, 360.0 - both.view_azimuth) == pytest.approx(0.0, abs=1e-9)


def test_items_without_angles_give_none_and_records_keep_their_form() -> None:
    assert from_item_properties({"view:sun_elevation": 40.0}) is None
    earth_search_v1 = {
        "s2:mean_solar_zenith": 50.0, "s2:mean_solar_azimuth": 160.0,
        "view:incidence_angle": 4.0, "view:azimuth": 100.0,
    }  # fmt: skip
    assert from_item_properties(earth_search_v1) == SunView(50.0, 160.0, 4.0, 100.0)
    record = SceneRecord("s", "32TQM", "2023-05-01T10:00:00Z", "sentinel-2a", "05.09", False,
                         None, "c", "h")  # fmt: skip
    assert "angles" not in json.loads(record.to_json())
