"""External processors: ESA Sen2Cor and SNAP gpt, run as subprocesses."""
