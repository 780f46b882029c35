"""Sentinel-1 GRD: product naming, search, backscatter products."""
