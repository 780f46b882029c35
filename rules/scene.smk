# Per batch, the scenes of one tile and month (src/raw2ready/campaign/batches.py), two jobs:
# `download` fetches and verifies the inputs of the scenes whose outputs are missing
# (src/raw2ready/campaign/downloads.py) where the internet is (download.where: local runs it
# where snakemake runs, e.g. a cluster's login node); `scenes` makes each of those scenes
# mask -> NDVI/LAI -> COG -> STAC item from them (src/raw2ready/campaign/reprocess.py) and
# never downloads. Scenes already done are skipped by both, so a rerun redoes only them.
# Batches, not scenes, keep the dry-run of a 25,000-scene campaign to seconds (docs/reruns.md).


rule download:
    input:
        **INVENTORY_INPUT,
        **SETTINGS_INPUT,
    output:
        DOWNLOADS,
    log:
        CAMPAIGN.log("download/{tile}/{year}/{quarter}/{month}"),
    retries: 0
    localrule: CAMPAIGN.downloads_local
    conda:
        "../envs/processing.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=per_unfinished_scene(minutes=10),
    params:
        **INVENTORY_PARAMS,
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
    shell:
        "{params.raw2ready} --log {log:q} download --settings {params.settings:q} --root {params.root:q} "
        "--inventory {params.inventory:q} --tile {wildcards.tile} "
        "--month {wildcards.year}-{wildcards.month} --output {output:q}"


rule scenes:
    input:
        **INVENTORY_INPUT,
        **BATCH_DOWNLOADS,
        **SETTINGS_INPUT,
        l2a=batch_l2a if CAMPAIGN.uses_sen2cor else [],
    output:
        **BATCH_FOLDERS,
        record=CAMPAIGN.work("batches/{tile}/{year}/{quarter}/{month}.json"),
    log:
        CAMPAIGN.log("batch/{tile}/{year}/{quarter}/{month}"),
    retries: 0
    conda:
        "../envs/processing.yaml"
    threads: 2
    resources:
        mem_mb=CAMPAIGN.batch_memory_mb,
        runtime=per_unfinished_scene(minutes=20),
    params:
        **INVENTORY_PARAMS,
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
        downloads=batch_downloads,
        fetch="--fetch" if CAMPAIGN.object_storage else "",
    shell:
        "{params.raw2ready} --log {log:q} process-batch --settings {params.settings:q} --root {params.root:q} "
        "--inventory {params.inventory:q} --tile {wildcards.tile} "
        "--month {wildcards.year}-{wildcards.month} --downloads {params.downloads:q} "
        "{params.fetch} --output {output.record:q}"


# A finished batch that lost an output (or gained a scene) is asked for its next repair
# record: the same jobs, which fetch and redo only the scenes whose outputs are missing.
use rule scenes as repair_scenes with:
    output:
        record=CAMPAIGN.work(
            "batches/{tile}/{year}/{quarter}/{month}.repair-{repair}.json"
        ),
    log:
        CAMPAIGN.log("batch/{tile}/{year}/{quarter}/{month}.repair-{repair}"),
