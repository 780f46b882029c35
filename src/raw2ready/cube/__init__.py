"""The per-tile datacube: scene products or monthly composites in one Icechunk store."""
