"""A single-node Slurm cluster on 127.0.0.1, started and stopped by the test suite.

Everything lives in one folder (config, munge key and socket, state, spool, logs), so no
system file is touched: munged, slurmctld and slurmd run in the foreground as children of
the test process with explicit paths and free ports. Slurm's client commands read the
config from SLURM_CONF, which Snakemake's jobstep plugin strips inside jobs (snakemake-
executor-plugin-slurm issue 164), so `bin/` holds wrappers that set it; putting `bin/` first
on PATH (sbatch exports PATH into jobs) makes every client call, inside jobs too, find the
cluster. Settings measured to work with Slurm 22.05 from Debian: cons_tres, linuxproc
proctrack, no task plugin, no accounting (status via squeue, so MinJobAge >= 120 s),
DefMemPerCPU so that one job does not take the whole node.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

CLIENTS = ("sbatch", "squeue", "scancel", "srun", "sinfo", "scontrol", "sacct", "sacctmgr")
DAEMONS = ("munged", "slurmctld", "slurmd")


def slurm_available() -> bool:
    """Whether the Slurm and munge daemons and clients are installed."""
    return all(shutil.which(name) for name in (*DAEMONS, *CLIENTS[:4], "mungekey"))


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _node_memory_mb() -> int:
    """Memory to declare for the node: most of this machine's, at most 16 GB."""
    total_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return min(int(total_kb / 1024 * 0.8), 16000)


class SlurmCluster:
    """munged + slurmctld + slurmd for one node with all of this machine's cores."""

    def __init__(self, root: Path, partition: str = "ci") -> None:
        self.root = root
        self.partition = partition
        self.conf = root / "slurm.conf"
        self.bin = root / "bin"
        self.munge_socket = root / "munge" / "munge.socket"
        self.cpus = os.cpu_count() or 1
        self.memory_mb = _node_memory_mb()
        self._daemons: list[subprocess.Popen[bytes]] = []

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment whose Slurm commands talk to this cluster."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.bin}:{env.get('PATH', '')}"
        env["SLURM_CONF"] = str(self.conf)
        return env

    def start(self, timeout: float = 60) -> None:
        """Write the config, start the three daemons and wait until the node is idle."""
        for folder in ("munge", "state", "spool", "log", "bin"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "munge").chmod(0o711)
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
        self._write_conf()
        self._write_wrappers()
        munge = self.root / "munge"
        self._spawn(
            ["munged", "--foreground", "--force", f"--socket={self.munge_socket}",
             f"--key-file={key}", f"--log-file={munge / 'munged.log'}",
             f"--pid-file={munge / 'munged.pid'}", f"--seed-file={munge / 'munged.seed'}"],
        )  # fmt: skip
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged socket")
        self._spawn(["slurmctld", "-D", "-f", str(self.conf)])
        self._spawn(["slurmd", "-D", "-f", str(self.conf)])
        self._wait(self._node_idle, timeout, "idle Slurm node")

    def stop(self, timeout: float = 60) -> None:
        """Cancel every job, wait for the queue to drain, then stop the daemons."""
        if self._daemons and self._daemons[0].poll() is None:
            self.run("scancel", "--full", f"--partition={self.partition}", check=False)
            with contextlib.suppress(TimeoutError):
                self._wait(lambda: not self.queue(), timeout, "empty queue")
        for process in reversed(self._daemons):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self._daemons):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._daemons.clear()

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A Slurm client command against this cluster."""
        return subprocess.run(
            list(command), env=self.env(), capture_output=True, text=True, check=check
        )

    def queue(self) -> list[dict[str, str]]:
        """Jobs that are pending or running: id, name, state, comment (rule and wildcards)."""
        result = self.run("squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING",
                          "--format=%i|%j|%T|%k")  # fmt: skip
        jobs = []
        for line in result.stdout.splitlines():
            job_id, name, state, comment = line.split("|", 3)
            jobs.append({"id": job_id, "name": name, "state": state, "comment": comment})
        return jobs

    def _spawn(self, command: list[str]) -> None:
        """Start a daemon in the foreground, its output in log/<name>.out."""
        log = (self.root / "log" / f"{Path(command[0]).name}.out").open("wb")
        self._daemons.append(
            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env())
        )
        log.close()

    def _node_idle(self) -> bool:
        """Whether the node has registered and accepts jobs; fail fast if a daemon died."""
        for process in self._daemons:
            if process.poll() is not None:
                name = Path(str(process.args[0])).name
                output = (self.root / "log" / f"{name}.out").read_text(errors="replace")
                raise RuntimeError(f"{name} exited with {process.returncode}: {output[-2000:]}")
        result = self.run("sinfo", "--noheader", "--format=%t", check=False)
        return result.returncode == 0 and result.stdout.strip() == "idle"

    @staticmethod
    def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        """Poll `condition` until it holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.5)

    def _write_conf(self) -> None:
        """slurm.conf for one node named after this host, bound to 127.0.0.1."""
        host = socket.gethostname().split(".")[0]
        root = self.root
        self.conf.write_text(
            "\n".join([
                "ClusterName=raw2ready-ci",
                f"SlurmctldHost={host}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={self.munge_socket}",
                "CommunicationParameters=NoCtldInAddrAny,NoInAddrAny",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "SchedulerType=sched/backfill",
                "SchedulerParameters=sched_interval=1",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/none",
                "MpiDefault=none",
                "ReturnToService=2",
                "MinJobAge=300",
                "DefMemPerCPU=1000",
                f"NodeName={host} NodeAddr=127.0.0.1 CPUs={self.cpus} "
                f"RealMemory={self.memory_mb} State=UNKNOWN",
                f"PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ])
        )  # fmt: skip

    def _write_wrappers(self) -> None:
        """bin/<client>: the real client with SLURM_CONF set (jobs lose it otherwise)."""
        for name in CLIENTS:
            real = shutil.which(name, path=os.defpath + ":/usr/bin:/usr/sbin")
            if real is None:
                continue
            wrapper = self.bin / name
            wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec {real} "$@"\n')
            wrapper.chmod(0o755)
