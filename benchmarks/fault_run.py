"""Fault run: the demo campaign fetched from a local archive server that injects HTTP faults and
silent corruption; every product must be valid and equal to an uninterrupted reference run.

    python benchmarks/fault_run.py                          # 256 px, 20 % faults, 10 % corrupt
    python benchmarks/fault_run.py --size 128 --seed 7 --json

The sample archive is written twice from the same seed. The reference run reads it from disk.
The fault run reads its band files from the fault-injecting file server of the tests
(tests/servers.py, on 127.0.0.1), its items rewritten as most real Earth Search items are:
asset hrefs on the server and no `file:checksum`. A share of the band files gets one HTTP
fault on its first request (503, 429 with Retry-After, connection reset, truncated body,
stall, a 1 byte/s drip, an HTML page with 200: in turn), another share silent corruption
(200, the right length, 64 flipped bytes, the original file's MD5 ETag). The run must
complete; then every COG is validated (rio-cogeo, strict) and compared pixel for pixel, mask
included, with the reference, the STAC tree validates, and every item's `file:size` and
`file:checksum` match its files. Figures: faults served by kind, requests, refetches after a
failed integrity check, and the time of both runs. Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import yaml

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from benchmarks.kill_test import ARCHIVE, RESULTS, check_file, snakemake, write_campaign  # noqa: E402
from raw2ready.checksums import file_matches  # noqa: E402
from raw2ready.products.registry import required_bands  # noqa: E402
from raw2ready.sentinel2.normalize import COMMON_NAME_BANDS  # noqa: E402
from raw2ready.stac.validation import validate_stac_tree  # noqa: E402
from tests.servers import FaultyFileServer  # noqa: E402 (the project's test server)

#: HTTP faults, one per chosen band file, in turn.
HTTP_FAULTS = ("503", "429:1", "reset", "truncate", "stall", "drip", "html")
#: What the fault run's downloads are allowed: a stall is cut by the per-read timeout, a drip
#: by the minimum rate after its grace period.
DOWNLOAD = {
    "attempts": 6, "backoff_seconds": 0.05, "timeout_seconds": 3,
    "min_rate_bytes_per_s": 4096, "rate_grace_seconds": 2,
}  # fmt: skip
#: Logged by the fetcher when bytes failed an integrity check and are fetched again.
REFETCH_LINE = "deleted, fetching it again"


def write_editable_campaign(root: Path, size: int) -> Path:
    """A checkout-like campaign folder as the kill test lays it out (the README's commands
    run there), with config/ a copy the fault run may edit; returns its demo config."""
    root.mkdir(parents=True)
    write_campaign(root, size)
    (root / "config").unlink()
    shutil.copytree(PROJECT / "config", root / "config")
    return root / "config" / "demo.yaml"


def serve_items(
    archive: Path, server: FaultyFileServer, products: list[str], lai_model: str
) -> list[str]:
    """Point every item's assets at the server and drop their checksums; return the URL
    paths of the band files the campaign's products read."""
    needed = required_bands(products, lai_model)
    paths = []
    for item_file in sorted(archive.rglob("*.json")):
        data = json.loads(item_file.read_text())
        if data.get("type") != "Feature":
            continue
        for key, asset in data["assets"].items():
            local = (item_file.parent / asset["href"]).resolve()
            if local.suffix != ".tif":
                continue
            path = "/" + local.relative_to(archive.resolve()).as_posix()
            asset["href"] = f"{server.url}{path}"
            asset.pop("file:checksum", None)
            if COMMON_NAME_BANDS.get(key) in needed:
                paths.append(path)
        item_file.write_text(json.dumps(data))
    return paths


def script_faults(
    server: FaultyFileServer, paths: list[str], http_share: float, corrupt_share: float, seed: int
) -> None:
    """One fault on the first request of a random share of the band files."""
    chosen = random.Random(seed).sample(paths, len(paths))
    http_count = round(http_share * len(paths))
    corrupt_count = round(corrupt_share * len(paths))
    for number, path in enumerate(chosen[:http_count]):
        server.script(path, HTTP_FAULTS[number % len(HTTP_FAULTS)])
    for path in chosen[http_count : http_count + corrupt_count]:
        server.script(path, "corrupt")


def timed_run(root: Path) -> tuple[float, int, str]:
    """Run the workflow to its end; (seconds, exit status, output tail)."""
    started = time.monotonic()
    result = snakemake(root)
    return time.monotonic() - started, result.returncode, (result.stdout + result.stderr)[-3000:]


def same_pixels(reference: Path, candidate: Path) -> str | None:
    """Why two COGs differ (grid, values, masks), or None."""
    with rasterio.open(reference) as ref, rasterio.open(candidate) as got:
        if (ref.crs, ref.transform, ref.shape, ref.dtypes) != (
            got.crs, got.transform, got.shape, got.dtypes,
        ):  # fmt: skip
            return f"{candidate.name}: grid or type differs from the reference"
        if not np.array_equal(ref.read(masked=False), got.read(masked=False)):
            return f"{candidate.name}: pixel values differ from the reference"
        if not np.array_equal(ref.read_masks(), got.read_masks()):
            return f"{candidate.name}: mask differs from the reference"
    return None


def item_problems(item_path: Path) -> list[str]:
    """Where an item's file:size / file:checksum disagree with the files it points at."""
    problems = []
    item = json.loads(item_path.read_text())
    for key, asset in item.get("assets", {}).items():
        target = (item_path.parent / asset["href"]).resolve()
        if not target.is_file():
            continue
        if "file:size" in asset and asset["file:size"] != target.stat().st_size:
            problems.append(f"{item_path.name} {key}: file:size differs from {target.name}")
        if "file:checksum" in asset and not file_matches(target, asset["file:checksum"]):
            problems.append(f"{item_path.name} {key}: file:checksum differs from {target.name}")
    return problems


def compare(reference: Path, faulty: Path) -> tuple[int, list[str]]:
    """(COGs compared, problems) of the fault run's outputs against the reference's."""
    problems = []
    cogs = sorted((reference / RESULTS).rglob("*.tif"))
    for ref in cogs:
        got = faulty / RESULTS / ref.relative_to(reference / RESULTS)
        if not got.is_file():
            problems.append(f"{got.name}: missing")
            continue
        problems += [p for p in (check_file(got), same_pixels(ref, got)) if p]
    extra = {p.relative_to(faulty / RESULTS) for p in (faulty / RESULTS).rglob("*.tif")}
    extra -= {p.relative_to(reference / RESULTS) for p in cogs}
    problems += [f"{path}: not in the reference run" for path in sorted(extra)]
    try:
        validate_stac_tree(faulty / RESULTS / "stac" / "collection.json")
    except Exception as exc:  # the tree must validate as a whole
        problems.append(f"STAC tree: {exc}")
    for item_path in (faulty / RESULTS).rglob("*_L2A.json"):
        problems += item_problems(item_path)
    return len(cogs), problems


def refetches(root: Path) -> int:
    """Integrity failures that made the fetcher fetch a file again (from the jobs' logs)."""
    count = 0
    for path in root.rglob("*.log"):
        count += path.read_text(errors="replace").count(REFETCH_LINE)
    return count


def run(size: int, http_share: float, corrupt_share: float, seed: int) -> dict[str, Any]:
    """The reference run, the fault run, and the comparison; the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="raw2ready-faults-") as tmp:
        reference, faulty = Path(tmp) / "reference", Path(tmp) / "faults"
        write_editable_campaign(reference, size)
        reference_s, status, tail = timed_run(reference)
        if status != 0:
            raise SystemExit(f"the reference run failed:\n{tail}")
        config_path = write_editable_campaign(faulty, size)
        with FaultyFileServer(root=faulty / ARCHIVE) as server:
            config = yaml.safe_load(config_path.read_text())
            paths = serve_items(
                faulty / ARCHIVE, server, config["products"], config["lai"]["model"]
            )
            config["download"] = DOWNLOAD
            config_path.write_text(yaml.safe_dump(config))
            script_faults(server, paths, http_share, corrupt_share, seed)
            faulty_s, status, tail = timed_run(faulty)
            band_requests = sum(
                1 for r in server.requests if r.method == "GET" and r.path.endswith(".tif")
            )
            injected = dict(server.injected)
        cogs, problems = (0, [f"the fault run failed:\n{tail}"]) if status else (0, [])
        if not status:
            cogs, problems = compare(reference, faulty)
        http_faults = sum(n for kind, n in injected.items() if kind != "corrupt")
        return {
            "band_files_read": len(paths),
            "band_requests": band_requests,
            "faults_injected": injected,
            "http_fault_share_of_requests": round(http_faults / max(band_requests, 1), 3),
            "corrupt_share_of_requests": round(
                injected.get("corrupt", 0) / max(band_requests, 1), 3
            ),
            "refetches_after_integrity_failure": refetches(faulty),
            "reference_seconds": round(reference_s, 1),
            "fault_run_seconds": round(faulty_s, 1),
            "time_ratio": round(faulty_s / reference_s, 2),
            "cogs_compared": cogs,
            "problems": problems,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="scene size in pixels")
    parser.add_argument("--http-faults", type=float, default=0.2, help="share of band files")
    parser.add_argument("--corrupt", type=float, default=0.1, help="share of band files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = run(args.size, args.http_faults, args.corrupt, args.seed)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            if key != "problems":
                print(f"{key:36} {value}")
        for problem in figures["problems"]:
            print(f"PROBLEM {problem}")
        print("OK" if not figures["problems"] else f"{len(figures['problems'])} problem(s)")
    sys.exit(1 if figures["problems"] else 0)


if __name__ == "__main__":
    main()
