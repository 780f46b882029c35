"""The proof of a fetched file: a sidecar `<file>.proof.json` written once it passed every
check, so that a rerun trusts a file only when the proof exists and its bytes still match.

The sidecar records the size, the sha2-256 multihash of the bytes and what was checked (the
item's size and checksum, the server's digests, the full decode). It is written atomically
after the file got its final name: a crash in between leaves a file without a proof, which
the next run fetches again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from raw2ready.archives.transfer.hrefs import shown_href
from raw2ready.atomic import write_json
from raw2ready.checksums import file_checksum, file_matches

log = logging.getLogger(__name__)

PROOF_SUFFIX = ".proof.json"


def proof_path(path: Path) -> Path:
    """Where the proof of `path` lives."""
    return path.with_name(f"{path.name}{PROOF_SUFFIX}")


def write_proof(path: Path, href: str, checked: list[str]) -> None:
    """Record that `path` (now under its final name) passed `checked`."""
    write_json(
        proof_path(path),
        {
            "href": shown_href(href),
            "size": path.stat().st_size,
            "checksum": file_checksum(path),
            "checked": checked,
        },
    )


def is_proven(path: Path) -> bool:
    """True when `path` has a proof and its bytes are still the proven ones."""
    sidecar = proof_path(path)
    if not path.is_file() or not sidecar.is_file():
        return False
    try:
        proof = json.loads(sidecar.read_text())
        size, checksum = int(proof["size"]), str(proof["checksum"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return path.stat().st_size == size and file_matches(path, checksum) is True


def forget(path: Path) -> None:
    """Delete a file that is not (or no longer) proven, and its proof."""
    path.unlink(missing_ok=True)
    proof_path(path).unlink(missing_ok=True)
