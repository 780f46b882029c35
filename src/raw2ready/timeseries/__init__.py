"""Field time series: per-date statistics of a product over an area of interest."""
