"""Atomic file placement: write under a temporary name in the target folder, then rename.

A crash or kill at any moment leaves either the old file, no file, or a `.partial` file
that no reader mistakes for a product; never a half-written file under the final name. The
next write of the same file deletes what a killed writer left of it (in a workflow a file has
one writer at a time), so killed runs do not pile up temporaries among the outputs.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PARTIAL_SUFFIX = ".partial"


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it into place if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    handle, name = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=f"{final.suffix}{PARTIAL_SUFFIX}", dir=final.parent
    )
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def remove_stale_temporaries(final: Path) -> None:
    """Delete the temporaries `atomic_path` made for `final` that were never renamed (their
    writer was killed); mkstemp names them `.<stem>.<8 random characters><suffix>.partial`."""
    name = re.compile(
        rf"\.{re.escape(final.stem)}\.[a-z0-9_]{{8}}{re.escape(final.suffix)}"
        rf"{re.escape(PARTIAL_SUFFIX)}"
    )
    for path in final.parent.glob(f".{glob.escape(final.stem)}.*{PARTIAL_SUFFIX}"):
        if name.fullmatch(path.name):
            path.unlink(missing_ok=True)


def write_json(final: Path, data: Any) -> None:
    """Write JSON atomically (sorted keys are not imposed: STAC readers expect field order)."""
    with atomic_path(final) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n")


def write_text(final: Path, text: str) -> None:
    """Write text atomically."""
    with atomic_path(final) as temporary:
        temporary.write_text(text)
