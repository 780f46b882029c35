# raw2ready: the DAG of a Sentinel-2 reprocessing campaign. Logic lives in src/raw2ready.
#   snakemake --configfile config/demo.yaml --cores 2
import os

from raw2ready.errors import Raw2ReadyError
from raw2ready.campaign.workflow import load_campaign

# With --sdm conda, envs/*.post-deploy.sh installs raw2ready from this checkout into each env.
os.environ.setdefault("RAW2READY_SOURCE", workflow.basedir)

try:
    CAMPAIGN = load_campaign(
        config,
        workflow.configfiles,
        object_storage=workflow.storage_settings.default_storage_provider is not None,
    )
except Raw2ReadyError as error:
    raise SystemExit(f"raw2ready: error: {error}")


wildcard_constraints:
    tile=r"\d{2}[C-X][A-Z]{2}",
    year=r"\d{4}",
    quarter=r"Q[1-4]",
    month=r"\d{2}",
    scene=r"[^/]+",
    repair=r"\d+",


include: "rules/common.smk"
include: "rules/search.smk"
include: "rules/sen2cor.smk"
include: "rules/scene.smk"
include: "rules/sentinel1.smk"
include: "rules/composites.smk"
include: "rules/catalog.smk"
include: "rules/provenance.smk"
include: "rules/publish.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        CAMPAIGN.out("stac/collection.json"),
        CAMPAIGN.out("report.html"),
        CAMPAIGN.work("outcome.json"),
        sentinel1_campaign_scenes,
        campaign_batches,
        PUBLISHED,
        CUBES,
