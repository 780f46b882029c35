# Publication: with a `publish` section, the finished STAC tree is upserted into a pgstac
# database (docs/publish.md). A rerun after a repaired scene rewrites the collection, which
# reruns this job; the upsert updates the changed items and never duplicates one.
PUBLISHED = (
    [CAMPAIGN.work("published/pgstac.json")] if CAMPAIGN.settings.publish.pgstac else []
)


rule publish:
    input:
        CAMPAIGN.out("stac/collection.json"),
        **SETTINGS_INPUT,
    output:
        CAMPAIGN.work("published/pgstac.json"),
    log:
        CAMPAIGN.log("publish"),
    localrule: True
    conda:
        "../envs/processing.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        **SETTINGS_PARAMS,
        raw2ready=RAW2READY,
        root=root_of_output(CAMPAIGN.work("published/pgstac.json")),
    shell:
        "{params.raw2ready} --log {log:q} publish --settings {params.settings:q} --root {params.root:q} "
        "--record {output:q}"
