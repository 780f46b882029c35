# The campaign report (report.html): after the collection, so whenever a batch changed.
# A run that fails writes it too (onerror in provenance.smk: Snakemake keeps one handler),
# so the page lists the scenes that failed.


rule report:
    input:
        CAMPAIGN.out("stac/collection.json"),
        **SETTINGS_INPUT,
    output:
        report(CAMPAIGN.out("report.html"), category="Campaign"),
    log:
        CAMPAIGN.log("report"),
    localrule: True
    conda:
        "../envs/processing.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
        root=root_of_output(CAMPAIGN.out("report.html")),
    shell:
        "{params.raw2ready} --log {log:q} report --settings {params.settings:q} --root {params.root:q}"
