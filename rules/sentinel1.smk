# The optional Sentinel-1 family (config: sentinel1; src/raw2ready/sentinel1/search.py): per
# tile, the GRD products covering it (a checkpoint); per product and tile a download job (the
# zip, fetched where the internet is, like the Sentinel-2 downloads: download.where) and a
# job that checks it and runs ESA SNAP gpt (orbit, noise, beta0, terrain-flattened gamma0, terrain correction),
# gamma0 COGs cut to the tile and a STAC item, and records how it went (a failure costs only
# that product: the final check lists it, the next run retries it); then the family's tile catalogs and its
# collection (stac/sentinel-1/), a child of the campaign's root collection. gpt comes from
# ESA's installer: processors.snap.gpt, PATH, or processors.snap.modules (--use-envmodules).
# Search and catalogs are local rules (light, run where snakemake runs); the scene jobs are
# the cluster work.


checkpoint sentinel1_search:
    input:
        **SETTINGS_INPUT,
    output:
        CAMPAIGN.work("inventories/sentinel-1/{tile}.jsonl"),
    log:
        CAMPAIGN.log("sentinel1_search/{tile}"),
    retries: 0
    localrule: True
    conda:
        "../envs/search.yaml"
    resources:
        mem_mb=500,
        runtime=30,
    params:
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
    shell:
        "{params.raw2ready} --log {log:q} s1-search --settings {params.settings:q} --tile {wildcards.tile} "
        "--output {output}"


rule sentinel1_download:
    input:
        **S1_INVENTORY_INPUT,
        **SETTINGS_INPUT,
    output:
        S1_DOWNLOADS,
    log:
        CAMPAIGN.log("sentinel1_download/{tile}/{year}/{quarter}/{month}/{scene}"),
    retries: 0
    localrule: CAMPAIGN.downloads_local
    conda:
        "../envs/processing.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    params:
        **S1_INVENTORY_PARAMS,
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
    shell:
        "{params.raw2ready} --log {log:q} download-scene --settings {params.settings:q} --root {params.root:q} "
        "--inventory {params.inventory:q} --scene {wildcards.scene} --output {output:q} "


rule sentinel1_scene:
    input:
        **S1_INVENTORY_INPUT,
        **SETTINGS_INPUT,
        downloads=S1_DOWNLOAD_FOLDER,
    output:
        **S1_SCENE_FOLDERS,
        record=CAMPAIGN.work(
            "scenes/sentinel-1/{tile}/{year}/{quarter}/{month}/{scene}/record.json"
        ),
    log:
        CAMPAIGN.log("sentinel1_scene/{tile}/{year}/{quarter}/{month}/{scene}"),
    wildcard_constraints:
        scene=r"S1[^/]+",  # its STAC folder sits beside the month's catalog.json
    retries: 0
    conda:
        "../envs/processing.yaml"
    envmodules:
        *CAMPAIGN.settings.processors.snap.modules,
    threads: 2
    resources:
        mem_mb=8000,
        runtime=90,
    params:
        **S1_INVENTORY_PARAMS,
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
    shell:
        "{params.raw2ready} --log {log:q} s1-scene --settings {params.settings:q} --root {params.root:q} "
        "--inventory {params.inventory:q} --scene {wildcards.scene} "
        "--downloads {input.downloads:q} --output {output.record:q}"


# A product that failed or lost an output is asked for its next repair record: the same
# jobs, which fetch and process it again.
use rule sentinel1_scene as sentinel1_repair_scene with:
    output:
        record=CAMPAIGN.work(
            "scenes/sentinel-1/{tile}/{year}/{quarter}/{month}/{scene}/repair-{repair}.json"
        ),
    log:
        CAMPAIGN.log(
            "sentinel1_scene/{tile}/{year}/{quarter}/{month}/{scene}.repair-{repair}"
        ),


rule sentinel1_tile_catalog:
    input:
        **SETTINGS_INPUT,
        inventory=CAMPAIGN.work("inventories/sentinel-1/{tile}.jsonl"),
        scenes=sentinel1_scenes,
    output:
        catalog=CAMPAIGN.out("stac/sentinel-1/{tile}/catalog.json"),
        summary=CAMPAIGN.work("tiles/sentinel-1/{tile}.summary.json"),
        tree=CAMPAIGN.tree_catalogs(SENTINEL1_FAMILY, months=True),
    log:
        CAMPAIGN.log("sentinel1_tile_catalog/{tile}"),
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
        root=root_of_output(CAMPAIGN.out("stac/sentinel-1/{tile}/catalog.json")),
    shell:
        "{params.raw2ready} --log {log:q} tile-catalog --family sentinel-1 --settings {params.settings:q} "
        "--root {params.root:q} --tile {wildcards.tile} --inventory {input.inventory:q} "


rule sentinel1_collection:
    input:
        expand(
            CAMPAIGN.out("stac/sentinel-1/{tile}/catalog.json"),
            tile=CAMPAIGN.settings.tiles,
        ),
        expand(
            CAMPAIGN.work("tiles/sentinel-1/{tile}.summary.json"),
            tile=CAMPAIGN.settings.tiles,
        ),
        sentinel1_stac_below_tiles,
        **SETTINGS_INPUT,
    output:
        CAMPAIGN.out("stac/sentinel-1/collection.json"),
    log:
        CAMPAIGN.log("sentinel1_collection"),
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
        root=root_of_output(CAMPAIGN.out("stac/sentinel-1/collection.json")),
    shell:
        "{params.raw2ready} --log {log:q} collection --family sentinel-1 --settings {params.settings:q} "
        "--root {params.root:q}"
