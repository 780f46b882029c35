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
