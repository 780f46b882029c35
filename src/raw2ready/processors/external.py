"""External processors (ESA's Sen2Cor and SNAP gpt): find the binary, run it, keep its log.

These tools come from ESA's installers, not from a package registry, so a missing binary is
an operator's setup question: the error names the tool and the three ways to provide it
(the config path setting, PATH via a conda env or installer, an HPC `module load`).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from raw2ready.errors import ExternalToolError

log = logging.getLogger(__name__)

_TAIL_LINES = 5


@dataclass(frozen=True)
class Tool:
    """An external command-line tool and how an operator provides it."""

    title: str
    command: str
    setting: str
    module: str
    download: str

    def missing(self, detail: str) -> ExternalToolError:
        """The one-line error for a tool that cannot be found."""
        return ExternalToolError(
            f"{self.title} ({self.command}) {detail}: set {self.setting} in the campaign config "
            f"to the binary, or put it on PATH (activate the env or installation that has it; "
            f"installers: {self.download}), or on a cluster `module load {self.module}` "
            "before running"
        )


SEN2COR = Tool(
    title="Sen2Cor",
    command="L2A_Process",
    setting="processors.sen2cor.path",
    module="sen2cor",
    download="https://step.esa.int/main/snap-supported-plugins/sen2cor/",
)
SNAP_GPT = Tool(
    title="ESA SNAP Graph Processing Tool",
    command="gpt",
    setting="processors.snap.gpt",
    module="snap",
    download="https://step.esa.int/main/download/snap-download/",
)


def locate(tool: Tool, configured: str | None) -> str:
    """The executable to run: the configured path when given, else the command on PATH."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise tool.missing(f"is not an executable file at '{configured}'")
        return str(path)
    found = shutil.which(tool.command)
    if found is None:
        raise tool.missing("is not on PATH")
    return found


def run(tool: Tool, argv: list[str], log_file: Path, cwd: Path | None = None) -> None:
    """Run a tool with its output appended to `log_file`; a failure names tool, status, tail."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log.info("running %s", " ".join(argv))
    with log_file.open("a") as stream:
        stream.write(f"$ {' '.join(argv)}\n")
        stream.flush()
        try:
            status = subprocess.run(
                argv, stdout=stream, stderr=subprocess.STDOUT, cwd=cwd, check=False
            ).returncode
        except OSError as exc:
            raise tool.missing(f"cannot be started ({exc})") from exc
    if status != 0:
        with log_file.open() as stream:
            tail = " | ".join(line.strip() for line in deque(stream, _TAIL_LINES) if line.strip())
        raise ExternalToolError(
            f"{tool.title} ({tool.command}) failed with exit status {status}; "
            f"last output: {tail} (full log: {log_file})"
        )
