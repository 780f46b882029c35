"""Sentinel-2: SAFE archives, item metadata into scene records, BOA offset rules and
plausibility."""
