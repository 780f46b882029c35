"""The processing baseline and the BOA offset rule it decides (DESIGN.md s.3).

From baseline 04.00 on, L2A DNs carry BOA_ADD_OFFSET (-1000); below it they do not. The
decision rests on the baseline, never on the sensing date.
"""

from __future__ import annotations

import re

from raw2ready.errors import ItemError

_BASELINE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\s*$")
#: The +1000 DN offset exists from processing baseline 04.00 on.
OFFSET_BASELINE = (4, 0)


def parse_baseline(text: str) -> str:
    """Normalize a baseline like `5.1`, `05.10` or `N0510` to `05.10`."""
    text = str(text).strip()
    match = _BASELINE.match(text)
    if match:
        return f"{int(match.group(1)):02d}.{int(match.group(2)):02d}"
    match = re.match(r"^N?(\d{2})(\d{2})$", text)
    if match:
        return f"{match.group(1)}.{match.group(2)}"
    raise ItemError(f"processing baseline '{text}' is not of the form NN.NN")


def baseline_has_offset(baseline: str) -> bool:
    """True when products of this baseline carry BOA_ADD_OFFSET (04.00 and later)."""
    major, minor = (int(part) for part in baseline.split("."))
    return (major, minor) >= OFFSET_BASELINE


def decide_boa_offset(baseline: str, already_applied: bool | None) -> bool:
    """Whether raw2ready must add BOA_ADD_OFFSET: from the baseline, never the sensing date."""
    if not baseline_has_offset(baseline):
        return False
    return not already_applied
