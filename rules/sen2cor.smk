# Sen2Cor: the L2A of an L1C SAFE scene whose archive holds no L2A (src/raw2ready/processors/sen2cor.py).
# Only L1C scenes of a safe_folder archive with processors.l2a: sen2cor ask for it; its output
# is temporary (the scene job turns it into products); its input is the SAFE zip its batch's
# download job fetched. L2A_Process comes from ESA's installer:
# processors.sen2cor.path, PATH, or an environment module (processors.sen2cor.modules with
# --use-envmodules). Sen2Cor at 10 m takes several GB of memory and up to an hour or more.


rule sen2cor:
    input:
        **INVENTORY_INPUT,
        **SETTINGS_INPUT,
        downloads=scene_downloads,
    output:
        temp(directory(CAMPAIGN.work("l2a/{tile}/{scene}"))),
    log:
        CAMPAIGN.log("sen2cor/{tile}/{scene}"),
    retries: 0
    conda:
        "../envs/processing.yaml"
    envmodules:
        *CAMPAIGN.settings.processors.sen2cor.modules,
    threads: 2
    resources:
        mem_mb=8000,
        runtime=180,
    params:
        **INVENTORY_PARAMS,
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
    shell:
        "{params.raw2ready} --log {log:q} sen2cor --settings {params.settings:q} --root {params.root:q} "
        "--inventory {params.inventory:q} --scene {wildcards.scene} "
        "--downloads {input.downloads:q}"
