"""One benchmark approach in its own process: the JSON it prints last and its own peak RSS,
with its inputs in the page cache beforehand.

A child's ru_maxrss (from wait4) starts at its parent's peak when it forks, so the parent
keeps its own small: the inputs are read in pieces, never whole into memory.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Bytes read at a time when warming the page cache.
WARM_CHUNK = 1 << 24


def warm_page_cache(paths: Iterable[Path]) -> None:
    """Read the inputs once so every approach starts with them in the page cache."""
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(WARM_CHUNK):
                pass


def run_measured(command: list[str], label: str) -> dict[str, Any]:
    """Run `command`; its last stdout line (a JSON object) plus `peak_rss_mb`."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        stdout = process.stdout.read()
        _pid, status, usage = os.wait4(process.pid, 0)
    except BaseException:  # e.g. Ctrl-C: do not leave the child running
        process.kill()
        process.wait()
        raise
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{label} failed with exit status {code}")
    return json.loads(stdout.strip().splitlines()[-1]) | {"peak_rss_mb": usage.ru_maxrss / 1024}
