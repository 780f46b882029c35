# Search the archive for one tile and write its inventory of canonical scene records.
# A checkpoint: the scenes of a tile are known once its inventory exists. A local rule: a
# light STAC query, run where snakemake runs (cluster compute nodes often lack internet).


checkpoint search:
    output:
        CAMPAIGN.work("inventories/{tile}.jsonl"),
    log:
        CAMPAIGN.log("search/{tile}"),
    retries: 2
    localrule: True
    conda:
        "../envs/search.yaml"
    resources:
        mem_mb=500,
        runtime=30,
    params:
        raw2ready=RAW2READY,
        settings=CAMPAIGN.settings_json,
    shell:
        "{params.raw2ready} search --settings {params.settings:q} --tile {wildcards.tile} "
        "--output {output} 2> {log}"
