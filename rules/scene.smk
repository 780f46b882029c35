# One job per batch, the scenes of one tile and month (src/raw2ready/campaign/batches.py): each scene
# whose outputs are missing goes download -> mask -> NDVI/LAI -> COG -> STAC item
# (src/raw2ready/campaign/reprocess.py); scenes already done are skipped, so a rerun redoes only them.
# Batches, not scenes, keep the dry-run of a 25,000-scene campaign to seconds (docs/reruns.md).


rule scenes:
    input:
        **INVENTORY_INPUT,
        l2a=batch_l2a if CAMPAIGN.uses_sen2cor else [],
    output:
        **BATCH_FOLDERS,
        record=CAMPAIGN.work("batches/{tile}/{year}/{quarter}/{month}.json"),
    log:
        CAMPAIGN.log("batch/{tile}/{year}/{quarter}/{month}"),
    retries: 2
    conda:
        "../envs/processing.yaml"
    threads: 2
    resources:
        mem_mb=1000,
        runtime=per_unfinished_scene(minutes=20),
    params:
        **INVENTORY_PARAMS,
        settings=CAMPAIGN.settings_json,
    shell:
        "raw2ready process-batch --settings {params.settings:q} --root {params.root:q} "
        "--inventory {params.inventory:q} --tile {wildcards.tile} "
        "--month {wildcards.year}-{wildcards.month} --output {output.record:q} 2> {log}"


# A finished batch that lost an output (or gained a scene) is asked for its next repair
# record: the same job, which redoes only the scenes whose outputs are missing.
use rule scenes as repair_scenes with:
    output:
        record=CAMPAIGN.work(
            "batches/{tile}/{year}/{quarter}/{month}.repair-{repair}.json"
        ),
    log:
        CAMPAIGN.log("batch/{tile}/{year}/{quarter}/{month}.repair-{repair}"),
