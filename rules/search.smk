# Search the archive for one tile and write its inventory of canonical scene records.
# A checkpoint: the scenes of a tile are known once its inventory exists. A local rule: a
# light STAC query, run where snakemake runs (cluster compute nodes often lack internet).


checkpoint search:
    input:
        **SETTINGS_INPUT,
    output:
        inventory=CAMPAIGN.work("inventories/{tile}.jsonl"),
        rejected=CAMPAIGN.work("inventories/{tile}.rejected.json"),
    log:
        CAMPAIGN.log("search/{tile}"),
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
        "{params.raw2ready} --log {log:q} search --settings {params.settings:q} --tile {wildcards.tile} "
        "--output {output.inventory:q} --rejected {output.rejected:q}"


# The settings file every job reads: written by load_campaign on the machine running
# snakemake; with object storage this rule copies it into the bucket, where pods find it.
rule settings:
    output:
        CAMPAIGN.settings_file,
    log:
        CAMPAIGN.log("settings"),
    localrule: True
    conda:
        "../envs/search.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        raw2ready=RAW2READY,
        written=written_settings,
    shell:
        "{params.raw2ready} --log {log:q} settings --settings {params.written:q} --output {output:q}"
