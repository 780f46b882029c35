"""SAFE archive checks: raw2ready's one pass vs the usual testzip-then-hash-then-extract.

    python benchmarks/safe_check.py            # 400 MB product, 3 alternating rounds
    python benchmarks/safe_check.py --quick    # 20 MB, one round (smoke run)
    python benchmarks/safe_check.py --json     # one JSON object

The archive is a SAFE-shaped zip of incompressible members (JPEG 2000 data does not
deflate either) with a manifest.safe of SHA3-256 checksums, as ESA writes them now. It is
built once and read once before timing, so every approach reads from the page cache and
the seconds compare CPU work; the bytes each approach reads from the archive (rchar of
/proc/self/io, in multiples of the archive size) are what costs when it is not cached
(a cluster file system, an object store mount).

Approaches, all with the same guarantees (CRC-32 of every member, every manifest checksum):
- check, baseline: `ZipFile.testzip()`, then a second pass hashing the manifest's files.
- check, raw2ready: `safe.check_archive`, one pass (CRC checked as each member is read).
- extract, baseline: the two check passes, then `ZipFile.extractall` (a third read).
- extract, raw2ready: `safe.extract_safe`, one pass writing into a temporary folder.
- floor: read every member once (CRC only), nothing else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from raw2ready.sentinel2.safe import check_archive, extract_safe, parse_manifest

PRODUCT = "S2B_MSIL2A_20230615T033541_N0509_R061_T47PPR_20230615T052513.SAFE"
MEMBER_MB = 20


def build(folder: Path, total_mb: int) -> Path:
    """A SAFE-shaped zip of `total_mb` MB of incompressible members plus manifest.safe."""
    archive = folder / "product.zip"
    entries = []
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for index in range(max(1, total_mb // MEMBER_MB)):
            data = os.urandom(MEMBER_MB * 1_000_000)
            name = f"GRANULE/L2A_T47PPR/IMG_DATA/R10m/T47PPR_B{index:02d}_10m.jp2"
            zf.writestr(f"{PRODUCT}/{name}", data)
            digest = hashlib.sha3_256(data).hexdigest().upper()
            entries.append(
                f'<byteStream size="{len(data)}"><fileLocation href="./{name}"/>'
                f'<checksum checksumName="SHA3-256">{digest}</checksum></byteStream>'
            )
        zf.writestr(f"{PRODUCT}/manifest.safe", f"<XFDU>{''.join(entries)}</XFDU>")
    return archive


def baseline_check(archive: Path) -> None:
    """testzip, then hash every manifest-listed member in a second pass."""
    with zipfile.ZipFile(archive) as zf:
        bad = zf.testzip()
        assert bad is None, bad
        manifest = parse_manifest(zf.read(f"{PRODUCT}/manifest.safe"), "manifest.safe")
        for href, entry in manifest.items():
            hasher = hashlib.sha3_256()
            with zf.open(f"{PRODUCT}/{href}") as stream:
                while chunk := stream.read(1 << 20):
                    hasher.update(chunk)
            assert hasher.hexdigest() == entry.digest


def baseline_extract(archive: Path, target: Path) -> None:
    """The two check passes, then extractall."""
    baseline_check(archive)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(target)


def floor(archive: Path) -> None:
    """Read every member once (zipfile checks CRC-32 at each member's end)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            with zf.open(info) as stream:
                while stream.read(1 << 20):
                    pass


def bytes_read() -> int:
    """Bytes this process has read through read() calls so far (Linux /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def timed(action: Callable[[], None]) -> tuple[float, int]:
    """Wall seconds and bytes read of one call, started with no dirty pages to flush."""
    os.sync()
    before = bytes_read()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start, bytes_read() - before


def main() -> None:
    """Build, warm the cache, time alternating rounds, print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    size_mb, rounds = (20, 1) if args.quick else (400, 3)
    with tempfile.TemporaryDirectory(prefix="raw2ready-bench-") as tmp:
        folder = Path(tmp)
        archive = build(folder, size_mb)
        floor(archive)

        def fresh(name: str) -> Path:
            path = folder / name
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            return path

        approaches: dict[str, Callable[[], None]] = {
            "floor": lambda: floor(archive),
            "check_baseline": lambda: baseline_check(archive),
            "check_raw2ready": lambda: (check_archive(archive), None)[1],
            "extract_baseline": lambda: baseline_extract(archive, fresh("a")),
            "extract_raw2ready": lambda: (extract_safe(archive, fresh("b")), None)[1],
        }
        times: dict[str, list[float]] = {name: [] for name in approaches}
        reads: dict[str, int] = {}
        for round_index in range(rounds):
            order = list(approaches)
            if round_index % 2:
                order.reverse()
            for name in order:
                seconds, read = timed(approaches[name])
                times[name].append(seconds)
                reads[name] = read
        archive_bytes = archive.stat().st_size
    median = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "archive_mb": size_mb,
        "rounds": rounds,
        "seconds": {name: round(value, 3) for name, value in median.items()},
        "archive_reads": {name: round(value / archive_bytes, 2) for name, value in reads.items()},
        "check_speedup": round(median["check_baseline"] / median["check_raw2ready"], 2),
        "extract_speedup": round(median["extract_baseline"] / median["extract_raw2ready"], 2),
        "check_vs_floor": round(median["check_raw2ready"] / median["floor"], 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"SAFE zip of {size_mb} MB, SHA3-256 manifest, median of {rounds} round(s):")
    print(f"  {'approach':18s} {'seconds':>7s}  archive read (x its size)")
    for name, value in median.items():
        print(f"  {name:18s} {value:7.3f}  {result['archive_reads'][name]:.2f}")
    print(f"check:   baseline / raw2ready = {result['check_speedup']:.2f}x")
    print(f"extract: baseline / raw2ready = {result['extract_speedup']:.2f}x")
    print(f"raw2ready check / read floor  = {result['check_vs_floor']:.2f}x")


if __name__ == "__main__":
    main()
