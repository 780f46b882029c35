# STAC: a Year -> Quarter -> Month catalog per tile, then the campaign's root collection.


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


rule tile_catalog:
    input:
        inventory=CAMPAIGN.work("inventories/{tile}.jsonl"),
        scenes=tile_scenes,
    output:
        catalog=CAMPAIGN.out("stac/{tile}/catalog.json"),
        summary=CAMPAIGN.work("tiles/{tile}.summary.json"),
    params:
        settings=CAMPAIGN.settings_json,
    log:
        CAMPAIGN.log("tile_catalog/{tile}"),
    conda:
        "../envs/raw2ready.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    shell:
        "raw2ready tile-catalog --settings {params.settings:q} --tile {wildcards.tile} "
        "--inventory {input.inventory} 2> {log}"


rule collection:
    input:
        expand(
            CAMPAIGN.out("stac/{tile}/catalog.json"),
            tile=CAMPAIGN.settings.tiles,
        ),
        expand(
            CAMPAIGN.work("tiles/{tile}.summary.json"),
            tile=CAMPAIGN.settings.tiles,
        ),
    output:
        CAMPAIGN.out("stac/collection.json"),
    params:
        settings=CAMPAIGN.settings_json,
    log:
        CAMPAIGN.log("collection"),
    conda:
        "../envs/raw2ready.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "raw2ready collection --settings {params.settings:q} 2> {log}"
