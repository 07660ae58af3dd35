"""What a system costs, read from /proc: CPU time of process trees, memory (PSS).

A tree's CPU is the user and system time of every live process in it plus what its
members have reaped from exited children (PostgreSQL's postmaster reaps its
backends), so the difference of two readings is the CPU the tree spent between them.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path

import psutil

TICK = os.sysconf("SC_CLK_TCK")


def tree(roots: Iterable[int]) -> set[int]:
    """The roots and all their descendants that are alive now."""
    pids: set[int] = set()
    for pid in roots:
        try:
            process = psutil.Process(pid)
            pids.add(pid)
            pids.update(child.pid for child in process.children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    return pids


def ticks(pid: int) -> tuple[int, int, int, int]:
    """(utime, stime, cutime, cstime) of a process in clock ticks; zeros once it is gone.
    cutime and cstime are what it reaped from exited children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0, 0, 0
    # after the command: state ppid ... utime(12) stime(13) cutime(14) cstime(15)
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return utime, stime, cutime, cstime


def cpu_seconds(roots: Iterable[int]) -> float:
    """User + system seconds of the trees under `roots`, reaped children included."""
    return sum(sum(ticks(pid)) for pid in tree(roots)) / TICK


def pss_mib(roots: Iterable[int]) -> float:
    """Proportional set size of the trees in MiB: shared pages divided among sharers."""
    total_kib = 0
    for pid in tree(roots):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kib += int(line.split()[1])
                    break
        except OSError:
            continue
    return total_kib / 1024


def machine() -> dict[str, object]:
    """Cores, memory, CPU model, kernel and load: what the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu_model": model or platform.processor(), "kernel": platform.release(),
            "python": platform.python_version(), "load_average": [
                round(value, 2) for value in os.getloadavg()]}


def commit(root: Path) -> str:
    """The checked-out commit's short hash, with `+dirty` for uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=False).stdout.strip()

    sha = git("rev-parse", "--short=10", "HEAD") or "unknown"
    return sha + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
