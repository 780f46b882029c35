"""What proving a downloaded band costs: each check on one full-size band file, as ratios to
reading its bytes once (the sha2-256 of the proof itself).

    python benchmarks/proof_cost.py              # 10980 x 10980 uint16, DEFLATE, 1024 blocks
    python benchmarks/proof_cost.py --side 5490 --json

The band is synthetic (smooth fields plus noise, like a reflectance band) and encoded as
Earth Search's COGs are (DEFLATE with predictor 2, 1024 x 1024 blocks). Each check runs
`--repeat` times; the fastest run counts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from raw2ready.archives.transfer.decode import decode_fully
from raw2ready.archives.transfer.server_digests import check_signals
from raw2ready.checksums import file_checksum


def write_band(path: Path, side: int) -> None:
    """A reflectance-like uint16 band, written block row by block row."""
    profile = {
        "driver": "GTiff", "width": side, "height": side, "count": 1, "dtype": "uint16",
        "tiled": True, "blockxsize": 1024, "blockysize": 1024, "compress": "deflate",
        "predictor": 2, "crs": "EPSG:32647", "transform": Affine(10, 0, 600000, 0, -10, 1700040),
    }  # fmt: skip
    rng = np.random.default_rng(0)
    cols = np.arange(side)
    with rasterio.open(path, "w", **profile) as dataset:
        for top in range(0, side, 1024):
            rows = np.arange(top, min(top + 1024, side))[:, None]
            field = 1500 + 800 * np.sin(cols / 300.0) * np.cos(rows / 450.0)
            noise = rng.normal(0, 60, (len(rows), side))
            window = ((top, top + len(rows)), (0, side))
            dataset.write((field + noise).clip(1, 10000).astype(np.uint16), 1, window=window)


def fastest(run: Callable[[], object], repeat: int) -> float:
    """The shortest of `repeat` timed runs, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def multipart_etag(path: Path, part_size: int) -> str:
    """The ETag an upload in `part_size` parts gets (computed here, to check against)."""
    digests = b""
    with path.open("rb") as stream:
        while part := stream.read(part_size):
            digests += hashlib.md5(part).digest()
    count = -(-path.stat().st_size // part_size)
    return f'"{hashlib.md5(digests).hexdigest()}-{count}"'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=10980)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="raw2ready-proof-") as tmp:
        band = Path(tmp) / "B04.tif"
        write_band(band, args.side)
        md5 = f'"{hashlib.md5(band.read_bytes()).hexdigest()}"'
        s3cmd = multipart_etag(band, 15 << 20)  # found after the 8 and 16 MiB candidates
        checks = {
            "sha2-256 (the proof; baseline)": lambda: file_checksum(band),
            "ETag MD5, single part": lambda: check_signals(band, {"etag": md5}, "B04"),
            "ETag MD5, multipart, 15 MiB parts": lambda: check_signals(
                band, {"etag": s3cmd}, "B04"
            ),
            "full decode of every block": lambda: decode_fully(band, "B04"),
        }
        seconds = {name: fastest(check, args.repeat) for name, check in checks.items()}
        size = band.stat().st_size
    baseline = seconds["sha2-256 (the proof; baseline)"]
    figures = {
        "side": args.side, "file_mb": round(size / 1e6, 1),
        "seconds": {name: round(value, 3) for name, value in seconds.items()},
        "ratio_to_sha256": {name: round(value / baseline, 2) for name, value in seconds.items()},
    }  # fmt: skip
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"band {args.side} x {args.side}, {figures['file_mb']} MB")
    for name, value in seconds.items():
        print(f"{name:36} {value:7.3f} s  x{value / baseline:5.2f}")


if __name__ == "__main__":
    main()
