"""A workflow job's log and console: everything to the log file, one line to the console.

Rules run `raw2ready --log LOG <command>`: the process's stderr (Python logging, warnings,
GDAL's C-level messages) goes to LOG, and a failure shows on Snakemake's console as one line
naming the command, its tile, month or scene, the cause and the log, instead of a bare
"non-zero exit status" (docs/bad-inputs.md lists what each bad input prints).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Options whose value names what a job works on (shown in its console line).
_SUBJECT_OPTIONS = ("--tile", "--month", "--scene")

#: Exit status of a transient failure (the archive did not answer, after every retry):
#: sysexits' EX_TEMPFAIL. User errors and permanent failures exit 1.
EXIT_TRANSIENT = 75


class JobLog:
    """Where a job's stderr goes (its log file) and where its one-line cause goes."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self._console: int | None = None

    def open(self, path: Path) -> None:
        """Send this process's stderr (fd 2, so C libraries too) to `path`, truncated."""
        path.parent.mkdir(parents=True, exist_ok=True)
        sys.stderr.flush()
        self._console = os.dup(2)
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, 2)
        os.close(handle)
        self.path = path

    def tell_console(self, line: str) -> None:
        """Write `line` to the console (the stderr the job was started with), when --log
        moved stderr to a file; otherwise it is already on the console."""
        if self._console is None:
            return
        text = " ".join(line.split())  # one line, whatever the message held
        os.write(self._console, f"{text} (log: {self.path})\n".encode(errors="replace"))


def subject(argv: list[str], commands: set[str]) -> str:
    """What a command line works on, e.g. `download 47PPR 2023-01` (for the console line)."""
    words = [next((word for word in argv if word in commands), "raw2ready")]
    for option in _SUBJECT_OPTIONS:
        if option in argv[:-1]:
            words.append(argv[argv.index(option) + 1])
    return " ".join(words)
