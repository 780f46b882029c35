"""Products: the registry (what each product is and how it is computed), spectral indices,
masking."""
