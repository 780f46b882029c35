# Input functions shared by the rules: scenes are enumerated from the tile inventories.


def scenes_of(tile):
    """Products and items of every scene of a tile, known once the tile's search has run."""
    inventory = checkpoints.search.get(tile=tile).output[0]
    return CAMPAIGN.scene_outputs(inventory)


def tile_scenes(wildcards):
    """Input function: the scenes of the tile a catalog job is for."""
    return scenes_of(wildcards.tile)


def campaign_scenes(wildcards):
    """Products and items of every scene of the campaign: targets, so a missing one reruns."""
    return [path for tile in CAMPAIGN.settings.tiles for path in scenes_of(tile)]


def sen2cor_l2a(wildcards):
    """Input function: the Sen2Cor L2A of an L1C SAFE scene (none when its L2A exists)."""
    inventory = checkpoints.search.get(tile=wildcards.tile).output[0]
    return CAMPAIGN.sen2cor_inputs(inventory, wildcards.scene)


# The optional Sentinel-1 family (rules/sentinel1.smk): its scenes, from its tile inventories.
from raw2ready.grd import product_names, scene_outputs

SENTINEL1 = CAMPAIGN.settings.raw["sentinel1"]
SENTINEL1_COLLECTION = (
    [CAMPAIGN.out("stac/sentinel-1/collection.json")] if SENTINEL1["enabled"] else []
)


def sentinel1_scenes_of(tile):
    """Products and items of the Sentinel-1 scenes of a tile, once its search has run."""
    inventory = checkpoints.sentinel1_search.get(tile=tile).output[0]
    layout, polarisations = CAMPAIGN.layout, SENTINEL1["polarisations"]
    return [path.as_posix() for path in scene_outputs(layout, inventory, polarisations)]


def sentinel1_scenes(wildcards):
    """Input function: the Sentinel-1 scenes of the tile a catalog job is for."""
    return sentinel1_scenes_of(wildcards.tile)


def sentinel1_campaign_scenes(wildcards):
    """Every Sentinel-1 output of the campaign: targets, so a missing one reruns its scene."""
    if not SENTINEL1["enabled"]:
        return []
    return [
        path for tile in CAMPAIGN.settings.tiles for path in sentinel1_scenes_of(tile)
    ]
