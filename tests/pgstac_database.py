"""A throwaway PostgreSQL + PostGIS cluster with pgstac migrated in, on 127.0.0.1, from
Debian's packages (postgresql-15, postgresql-15-postgis-3): for tests/test_pgstac.py and
benchmarks/publish_scale.py. initdb refuses root, so the cluster runs as `postgres`, in a
folder that user owns."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

INITDB = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
#: Why a throwaway cluster cannot start here, or None when it can.
UNAVAILABLE = (
    "PostgreSQL binaries absent (apt-get install postgresql-15 postgresql-15-postgis-3)"
    if not INITDB
    else "starting PostgreSQL as its own user needs root and runuser"
    if not shutil.which("runuser") or os.geteuid() != 0
    else None
)
DATABASE = "postgres"


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*command: str | Path) -> None:
    """Run a PostgreSQL tool as the `postgres` user."""
    subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True,
                   capture_output=True, text=True)  # fmt: skip


@contextlib.contextmanager
def pgstac_database() -> Iterator[int]:
    """A running cluster with pgstac migrated into its `postgres` database (trust auth for
    the `postgres` role): its port. Stopped and removed on exit."""
    bin_dir = INITDB[-1].parent
    base = Path(tempfile.mkdtemp(prefix="raw2ready-pg-"))
    shutil.chown(base, "postgres")
    data, sockets, port = base / "data", base / "sockets", free_port()
    _as_postgres("mkdir", sockets)
    _as_postgres(bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets}"
    pg_ctl = bin_dir / "pg_ctl"
    _as_postgres(pg_ctl, "-D", data, "-l", base / "server.log", "-w", "-o", options, "start")
    try:
        subprocess.run(
            [Path(sys.executable).parent / "pypgstac", "migrate", "--dsn",
             f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        yield port
    finally:
        _as_postgres(pg_ctl, "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(base)
