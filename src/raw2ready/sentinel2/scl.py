"""The Sen2Cor scene classification (SCL): class codes, ESA's names, and the usual groups.

Codes and names are those of the `Scene_Classification_List` in every L2A product's
MTD_MSIL2A.xml (names without their `SC_` prefix); the groups are how masks, cloud cover and
the Earth Search / STAC `s2:*_percentage` properties read them.
"""

from __future__ import annotations

from enum import IntEnum


class SceneClass(IntEnum):
    """An SCL class: its value is the code stored in the SCL raster, its name ESA's."""

    NODATA = 0
    SATURATED_DEFECTIVE = 1
    DARK_FEATURE_SHADOW = 2
    CLOUD_SHADOW = 3
    VEGETATION = 4
    NOT_VEGETATED = 5
    WATER = 6
    UNCLASSIFIED = 7
    CLOUD_MEDIUM_PROBA = 8
    CLOUD_HIGH_PROBA = 9
    THIN_CIRRUS = 10
    SNOW_ICE = 11


#: Class code -> ESA's name (SCENE_CLASSIFICATION_TEXT without `SC_`).
CLASSES: dict[int, str] = {int(member): member.name for member in SceneClass}

#: Opaque clouds (medium and high probability).
CLOUD: frozenset[int] = frozenset({SceneClass.CLOUD_MEDIUM_PROBA, SceneClass.CLOUD_HIGH_PROBA})
#: Thin cirrus.
CIRRUS: frozenset[int] = frozenset({SceneClass.THIN_CIRRUS})
#: Cloud shadows.
SHADOW: frozenset[int] = frozenset({SceneClass.CLOUD_SHADOW})
#: What ESA counts as cloud cover (`eo:cloud_cover`): opaque clouds and thin cirrus.
CLOUD_COVER: frozenset[int] = CLOUD | CIRRUS
#: Valid pixels whose surface is seen: neither no data, defective, cloud, cirrus nor shadow.
CLEAR: frozenset[int] = (
    frozenset(SceneClass)
    - CLOUD_COVER
    - SHADOW
    - {
        SceneClass.NODATA,
        SceneClass.SATURATED_DEFECTIVE,
    }
)
#: The usual default mask (DESIGN.md s.3); dark features, unclassified and snow are left clear.
DEFAULT_MASKED: frozenset[int] = frozenset(SceneClass) - CLEAR

#: Earth Search / STAC `s2:*_percentage` property -> the class it counts (share of valid pixels).
PERCENTAGE_PROPERTIES: dict[str, int] = {
    "s2:saturated_defective_pixel_percentage": SceneClass.SATURATED_DEFECTIVE,
    "s2:dark_features_percentage": SceneClass.DARK_FEATURE_SHADOW,
    "s2:cloud_shadow_percentage": SceneClass.CLOUD_SHADOW,
    "s2:vegetation_percentage": SceneClass.VEGETATION,
    "s2:not_vegetated_percentage": SceneClass.NOT_VEGETATED,
    "s2:water_percentage": SceneClass.WATER,
    "s2:unclassified_percentage": SceneClass.UNCLASSIFIED,
    "s2:medium_proba_clouds_percentage": SceneClass.CLOUD_MEDIUM_PROBA,
    "s2:high_proba_clouds_percentage": SceneClass.CLOUD_HIGH_PROBA,
    "s2:thin_cirrus_percentage": SceneClass.THIN_CIRRUS,
    "s2:snow_ice_percentage": SceneClass.SNOW_ICE,
}
