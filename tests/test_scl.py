"""Tests of the SCL class table (raw2ready.sentinel2.scl) against real ESA product metadata,
real Earth Search / Planetary Computer item statistics and the config schema's default mask."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from raw2ready.sentinel2 import scl

from .conftest import REAL_S2, requires_real_s2

L2A_METADATA = sorted((REAL_S2 / "safe_metadata").glob("*/MTD_MSIL2A.xml"))
L2A_ITEMS = sorted(
    path
    for path in (REAL_S2 / "stac_items").glob("*.json")
    if "s2:high_proba_clouds_percentage" in path.read_text()
)


def _scene_classification_list(path: Path) -> dict[int, str]:
    """SCENE_CLASSIFICATION_INDEX -> SCENE_CLASSIFICATION_TEXT of an MTD_MSIL2A.xml."""
    root = ElementTree.parse(path).getroot()
    return {
        int(entry.findtext("SCENE_CLASSIFICATION_INDEX")): entry.findtext(
            "SCENE_CLASSIFICATION_TEXT"
        )
        for entry in root.iter("Scene_Classification_ID")
    }


@requires_real_s2
def test_codes_and_names_are_those_of_esa_product_metadata() -> None:
    assert L2A_METADATA
    for path in L2A_METADATA:
        esa = _scene_classification_list(path)
        assert esa == {code: f"SC_{name}" for code, name in scl.CLASSES.items()}, path.parent.name


@requires_real_s2
def test_cloud_cover_is_the_share_of_cloud_and_cirrus_classes_in_real_items() -> None:
    assert L2A_ITEMS
    codes = {code: key for key, code in scl.PERCENTAGE_PROPERTIES.items()}
    for path in L2A_ITEMS:
        props = json.loads(path.read_text())["properties"]
        cloudy = sum(props[codes[code]] for code in scl.CLOUD_COVER)
        assert props["eo:cloud_cover"] == pytest.approx(cloudy, abs=1e-5), path.name


@requires_real_s2
def test_percentage_properties_cover_every_valid_pixel_of_real_items() -> None:
    for path in L2A_ITEMS:
        props = json.loads(path.read_text())["properties"]
        # Some items leave out classes with no pixels (e.g. dark features).
        total = sum(props.get(key, 0.0) for key in scl.PERCENTAGE_PROPERTIES)
        assert total == pytest.approx(100.0, abs=1e-3), path.name
    assert set(scl.PERCENTAGE_PROPERTIES.values()) == set(scl.CLASSES) - {scl.SceneClass.NODATA}


def test_groups_partition_the_classes() -> None:
    groups = [
        scl.CLEAR,
        scl.CLOUD,
        scl.CIRRUS,
        scl.SHADOW,
        {scl.SceneClass.NODATA},
        {scl.SceneClass.SATURATED_DEFECTIVE},
    ]
    assert sorted(code for group in groups for code in group) == sorted(scl.CLASSES)
    # the codes DESIGN.md s.3 lists: clear surface, and ESA's cloud cover
    assert {2, 4, 5, 6, 7, 11} == scl.CLEAR
    assert {8, 9, 10} == scl.CLOUD_COVER


def test_default_mask_is_the_config_schema_default() -> None:
    schema = yaml.safe_load(
        resources.files("raw2ready").joinpath("schemas/config.schema.yaml").read_text()
    )
    default = schema["properties"]["mask"]["properties"]["scl_classes"]["default"]
    assert frozenset(default) == scl.DEFAULT_MASKED
