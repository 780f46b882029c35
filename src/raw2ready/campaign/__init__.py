"""The campaign: what the Snakefile imports (workflow), batches, inventories, planning and
provenance."""
