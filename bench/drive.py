"""Run one load against one system: the load generator in its own process, the
system's CPU read from /proc around the run."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from bench.measure import cpu_seconds, pss_mib
from bench.ours import ROOT


def drive(job: dict[str, Any], roots: Callable[[], list[int]]) -> dict[str, Any]:
    """Run `job` (see bench.loadgen); add `cpu_seconds` spent by the processes under
    `roots()` meanwhile, and `ms_cpu_per_op` per completed operation."""
    process = subprocess.Popen([sys.executable, "-m", "bench.loadgen"], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(json.dumps(job) + "\n")
        process.stdin.flush()
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the load generator did not start")
        pids = roots()
        before = cpu_seconds(pids)
        memory: list[float] = []  # the system's PSS halfway through: memory under load
        halfway = threading.Timer(float(job["seconds"]) / 2,
                                  lambda: memory.append(pss_mib(roots())))
        process.stdin.write("go\n")
        process.stdin.flush()
        halfway.start()
        line = process.stdout.readline()
        halfway.cancel()
        after = cpu_seconds(pids + roots())
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if not line:
        raise RuntimeError(f"the load generator failed (exit {process.returncode})")
    result: dict[str, Any] = json.loads(line)
    result["cpu_seconds"] = after - before
    result["loaded_pss_mib"] = memory[0] if memory else None
    ok = result["outcomes"].get(job.get("success", "CONFIRMED"), 0)
    result["completed"] = ok
    result["per_second"] = ok / result["seconds"]
    result["ms_cpu_per_op"] = 1000 * result["cpu_seconds"] / ok if ok else None
    result["loadgen_ms_cpu_per_op"] = (1000 * result["loadgen_cpu_seconds"] / ok
                                       if ok else None)
    return result
