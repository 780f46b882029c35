# Monthly composites and datacubes (config: composites, cube; docs/composites.md). Per tile
# and month with scenes, `composite` reduces the month's finished scene products to the
# median (or greenest) clear observation and their count, COGs and a STAC item; its input
# is the month's batch record, so it is redone when that batch is (a scene added or
# redone), and only then (with object storage also the month's product and STAC folders,
# which it reads). Their tile catalogs and collection form the campaign's
# `composites` child collection. Per tile, `cube` commits each new or redone month to the
# tile's Icechunk store (one atomic commit per month; the store itself is not a declared
# output, so a rerun keeps what is committed).


COMPOSITES = CAMPAIGN.settings.composites
COMPOSITES_COLLECTION = (
    [CAMPAIGN.out("stac/composites/collection.json")] if COMPOSITES.enabled else []
)
CUBES = (
    expand(CAMPAIGN.work("cubes/{tile}.json"), tile=CAMPAIGN.settings.tiles)
    if CAMPAIGN.settings.cube.enabled
    else []
)


rule composite:
    input:
        **INVENTORY_INPUT,
        **SETTINGS_INPUT,
        **MONTH_FOLDERS,
        batch=composite_batch,
    output:
        products=expand(
            CAMPAIGN.out(
                "products/composites/{tile}/{year}/{quarter}/{month}/{tile}_{year}-{month}_{product}.tif"
            ),
            product=[*COMPOSITES.products, "clear_count"],
            allow_missing=True,
        ),
        item=CAMPAIGN.out(
            "stac/composites/{tile}/{year}/{quarter}/{month}/{tile}_{year}-{month}/{tile}_{year}-{month}.json"
        ),
    log:
        CAMPAIGN.log("composite/{tile}/{year}/{quarter}/{month}"),
    retries: 0
    conda:
        "../envs/processing.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        **SETTINGS_PARAMS,
        **INVENTORY_PARAMS,
        raw2ready=RAW2READY,
    shell:
        "{params.raw2ready} --log {log:q} composite --settings {params.settings:q} --root {params.root:q} "
        "--inventory {params.inventory:q} --tile {wildcards.tile} "
        "--month {wildcards.year}-{wildcards.month}"


rule composites_tile_catalog:
    input:
        **SETTINGS_INPUT,
        composites=tile_composite_items,
    output:
        catalog=CAMPAIGN.out("stac/composites/{tile}/catalog.json"),
        summary=CAMPAIGN.work("tiles/composites/{tile}.summary.json"),
        tree=CAMPAIGN.tree_catalogs(COMPOSITES_FAMILY, months=True),
    log:
        CAMPAIGN.log("composites_tile_catalog/{tile}"),
    localrule: True
    conda:
        "../envs/processing.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
        root=root_of_output(CAMPAIGN.out("stac/composites/{tile}/catalog.json")),
    shell:
        "{params.raw2ready} --log {log:q} tile-catalog --family composites --settings {params.settings:q} "
        "--root {params.root:q} --tile {wildcards.tile} {input.composites:q}"


rule composites_collection:
    input:
        expand(
            CAMPAIGN.out("stac/composites/{tile}/catalog.json"),
            tile=CAMPAIGN.settings.tiles,
        ),
        expand(
            CAMPAIGN.work("tiles/composites/{tile}.summary.json"),
            tile=CAMPAIGN.settings.tiles,
        ),
        composites_stac_below_tiles,
        **SETTINGS_INPUT,
    output:
        CAMPAIGN.out("stac/composites/collection.json"),
    log:
        CAMPAIGN.log("composites_collection"),
    localrule: True
    conda:
        "../envs/processing.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
        root=root_of_output(CAMPAIGN.out("stac/composites/collection.json")),
    shell:
        "{params.raw2ready} --log {log:q} collection --family composites --settings {params.settings:q} "
        "--root {params.root:q}"


rule cube:
    input:
        cube_inputs,
        **SETTINGS_INPUT,
    output:
        CAMPAIGN.work("cubes/{tile}.json"),
    log:
        CAMPAIGN.log("cube/{tile}"),
    conda:
        "../envs/processing.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
        root=root_of_output(CAMPAIGN.work("cubes/{tile}.json")),
    shell:
        "{params.raw2ready} --log {log:q} cube --settings {params.settings:q} --root {params.root:q} "
        "--tile {wildcards.tile} --output {output:q}"
