# STAC: each batch wrote its month's catalog; per tile a catalog with a catalog per year and
# quarter of the campaign (Year -> Quarter -> Month), then the campaign's root collection.
# Local rules: seconds of JSON work each, not worth a cluster submission.


rule tile_catalog:
    input:
        **SETTINGS_INPUT,
        batches=tile_batches,
    output:
        catalog=CAMPAIGN.out("stac/{tile}/catalog.json"),
        summary=CAMPAIGN.work("tiles/{tile}.summary.json"),
        tree=CAMPAIGN.tree_catalogs(),
    log:
        CAMPAIGN.log("tile_catalog/{tile}"),
    localrule: True
    conda:
        "../envs/processing.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
        root=root_of_output(CAMPAIGN.out("stac/{tile}/catalog.json")),
    shell:
        "{params.raw2ready} tile-catalog --settings {params.settings:q} --root {params.root:q} "
        "--tile {wildcards.tile} {input.batches:q} 2> {log}"


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
        stac_tree_below_tiles,
        SENTINEL1_COLLECTION,
        **SETTINGS_INPUT,
    output:
        CAMPAIGN.out("stac/collection.json"),
    log:
        CAMPAIGN.log("collection"),
    localrule: True
    conda:
        "../envs/processing.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
        root=root_of_output(CAMPAIGN.out("stac/collection.json")),
    shell:
        "{params.raw2ready} collection --settings {params.settings:q} --root {params.root:q} 2> {log}"
