"""Archives raw2ready reads from: item normalization and search, one module per concern."""
