# Run records (src/raw2ready/campaign/provenance.py): each run that has jobs to do writes what it
# started from (config, software versions, inventory snapshots) to work/<campaign>/runs/,
# and marks it succeeded or failed at the end; `raw2ready provenance diff` compares.
from raw2ready.campaign.provenance import command_line, finish_run, start_run

RUN = {}


onstart:
    from raw2ready.campaign.provenance import command_line, start_run

    RUN["record"] = start_run(CAMPAIGN.settings, CAMPAIGN.layout, command_line())


onsuccess:
    from raw2ready.campaign.provenance import finish_run

    if "record" in RUN:
        finish_run(CAMPAIGN.settings, CAMPAIGN.layout, RUN["record"], "succeeded")


onerror:
    from raw2ready.campaign.provenance import finish_run

    if "record" in RUN:
        finish_run(CAMPAIGN.settings, CAMPAIGN.layout, RUN["record"], "failed")
    # The campaign report (rules/report.smk) too, so that it lists the scenes that failed:
    # best effort, on a shared file system (with object storage the outputs are in the bucket).
    if not CAMPAIGN.object_storage:
        shell(
            "{RAW2READY} report --settings {settings:q} || true",
            settings=CAMPAIGN.settings_file,
        )
