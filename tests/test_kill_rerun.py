"""kill -9 of the whole workflow, the short version of benchmarks/kill_test.py.

Two trials on the demo campaign with small rasters, killed at 35 % and 70 % of the reference
run's duration (the script runs 10 or more at random moments): after each kill every file
under its final name is sound (COGs read in full and equal to the reference run's, items
matching their files), and the README's recovery commands run exactly the jobs the dry-run
planned, leave every scene that was complete untouched, process exactly the incomplete ones
and leave a complete campaign equal to the reference, with no scratch left.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .conftest import PROJECT

sys.path.insert(0, str(PROJECT / "benchmarks"))

from kill_test import run_trials


def test_kill_9_at_any_moment_leaves_nothing_invalid_and_the_rerun_does_only_the_rest(
    tmp_path: Path,
) -> None:
    outcomes = run_trials(tmp_path, fractions=[0.35, 0.7], size=256)
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert outcome.problems == [], outcome
    assert any(o.final_files_checked for o in outcomes), "no kill left anything to check"
