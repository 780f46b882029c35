"""STAC: items, the Year/Quarter/Month catalog tree, the collection, offline validation."""
