"""Atomic file placement: write under a temporary name in the target folder, then rename.

A crash or kill at any moment leaves either the old file, no file, or a `.partial` file
that no reader mistakes for a product; never a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
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


def write_json(final: Path, data: Any) -> None:
    """Write JSON atomically (sorted keys are not imposed: STAC readers expect field order)."""
    with atomic_path(final) as temporary:
        temporary.write_text(json.dumps(data, indent=2) + "\n")


def write_text(final: Path, text: str) -> None:
    """Write text atomically."""
    with atomic_path(final) as temporary:
        temporary.write_text(text)
