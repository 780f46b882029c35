"""kill -9 of the whole workflow, the short version of benchmarks/kill_test.py.

Two trials on the demo campaign with small rasters, killed at 35 % and 70 % of a full run's
duration (the script runs 10 or more at random moments): after each kill every file under
its final name is valid, and the rerun runs exactly the jobs its dry-run planned, leaves
every scene that was complete untouched, processes exactly the incomplete ones and leaves a
complete, valid campaign.
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
