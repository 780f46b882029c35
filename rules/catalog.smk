# STAC: each batch wrote its month's catalog; per tile a catalog with a catalog per year and
# quarter of the campaign (Year -> Quarter -> Month), then the campaign's root collection
# and, beside it, the search index of every item of the tree (stac-geoparquet and ndjson;
# rewritten whole whenever the collection is, so a repaired scene's item replaces the old).
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
    retries: 0
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
        "{params.raw2ready} --log {log:q} tile-catalog --settings {params.settings:q} --root {params.root:q} "
        "--tile {wildcards.tile} {input.batches:q}"


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
        COMPOSITES_COLLECTION,
        **SETTINGS_INPUT,
    output:
        collection=CAMPAIGN.out("stac/collection.json"),
        parquet=CAMPAIGN.out("stac/items.parquet"),
        ndjson=CAMPAIGN.out("stac/items.ndjson"),
    log:
        CAMPAIGN.log("collection"),
    retries: 0
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
        "{params.raw2ready} --log {log:q} collection --settings {params.settings:q} --root {params.root:q}"


# The end of every run: the items the searches rejected and the scenes that failed (in the
# batch records and the Sentinel-1 scene records) are listed on the console; failed scenes
# end the run non-zero, naming them, after the catalogs and the collection of everything
# else are written (the next run retries only them), and after the campaign report, so
# that the report is there and lists them.
rule check:
    input:
        CAMPAIGN.out("stac/collection.json"),
        CAMPAIGN.out("report.html"),
        rejected_lists,
        **SETTINGS_INPUT,
        records=outcome_records,
    output:
        CAMPAIGN.work("outcome.json"),
    log:
        CAMPAIGN.log("check"),
    retries: 0
    localrule: True
    conda:
        "../envs/search.yaml"
    resources:
        mem_mb=500,
        runtime=10,
    params:
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
        root=root_of_output(CAMPAIGN.work("outcome.json")),
    shell:
        "{params.raw2ready} --log {log:q} check --settings {params.settings:q} "
        "--root {params.root:q} --output {output:q} {input.records:q}"
