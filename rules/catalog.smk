# STAC: a Year -> Quarter -> Month catalog per tile, then the campaign's root collection.
# Local rules: seconds of JSON work each, not worth a cluster submission.


rule tile_catalog:
    input:
        batches=tile_batches,
    output:
        catalog=CAMPAIGN.out("stac/{tile}/catalog.json"),
        summary=CAMPAIGN.work("tiles/{tile}.summary.json"),
    log:
        CAMPAIGN.log("tile_catalog/{tile}"),
    localrule: True
    conda:
        "../envs/processing.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        settings=CAMPAIGN.settings_json,
        inventory=CAMPAIGN.work("inventories/{tile}.jsonl"),
    shell:
        "raw2ready tile-catalog --settings {params.settings:q} --tile {wildcards.tile} "
        "--inventory {params.inventory} 2> {log}"


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
        SENTINEL1_COLLECTION,
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
        settings=CAMPAIGN.settings_json,
    shell:
        "raw2ready collection --settings {params.settings:q} 2> {log}"
