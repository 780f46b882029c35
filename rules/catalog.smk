# STAC: each batch wrote its month's catalog; per tile a catalog with a catalog per year and
# quarter of the campaign (Year -> Quarter -> Month), then the campaign's root collection
# and, beside it, the search index of every item of the tree (stac-geoparquet and ndjson;
# rewritten whole whenever the collection is, so a repaired scene's item replaces the old).
# Local rules: seconds of JSON work each, not worth a cluster submission.


rule tile_catalog:
    input:
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
        raw2ready=RAW2READY,
        settings=CAMPAIGN.settings_json,
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
    output:
        collection=CAMPAIGN.out("stac/collection.json"),
        parquet=CAMPAIGN.out("stac/items.parquet"),
        ndjson=CAMPAIGN.out("stac/items.ndjson"),
    log:
        CAMPAIGN.log("collection"),
    localrule: True
    conda:
        "../envs/processing.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        raw2ready=RAW2READY,
        settings=CAMPAIGN.settings_json,
        root=root_of_output(CAMPAIGN.out("stac/collection.json")),
    shell:
        "{params.raw2ready} collection --settings {params.settings:q} --root {params.root:q} 2> {log}"
