"""Raster engine: the strip-wise tile chain, COG writing, overviews."""
