# One job per scene: download -> mask -> NDVI/LAI -> COG -> STAC item (src/raw2ready/reprocess.py).


rule scene:
    input:
        l2a=sen2cor_l2a,
    output:
        products=expand(
            CAMPAIGN.out(
                "products/{tile}/{year}/{quarter}/{month}/{scene}/{scene}_{product}.tif"
            ),
            product=CAMPAIGN.settings.products,
            allow_missing=True,
        ),
        item=CAMPAIGN.out("stac/{tile}/{year}/{quarter}/{month}/{scene}/{scene}.json"),
    log:
        CAMPAIGN.log("scene/{tile}/{year}/{quarter}/{month}/{scene}"),
    retries: 2
    conda:
        "../envs/processing.yaml"
    threads: 2
    resources:
        mem_mb=1000,
        runtime=20,
    params:
        settings=CAMPAIGN.settings_json,
        inventory=CAMPAIGN.work("inventories/{tile}.jsonl"),
    shell:
        "raw2ready process-scene --settings {params.settings:q} "
        "--inventory {params.inventory} --scene {wildcards.scene} 2> {log}"
