"""The offline demo archive and synthetic inventories: they serve `make demo` and the
benchmarks, not campaigns."""
