"""The detached supervisor behind `msa up -d`: `python -m msa.tools.runner.detached ...`.

It runs a `Runner` in its own session (so closing the terminal does not stop it)
until SIGTERM, SIGINT or SIGHUP; `msa down` sends SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from msa.errors import MsaError
from msa.tools.runner.plan import MODES, Mode
from msa.tools.runner.processes import open_log


def start_detached(
    system_file: Path,
    data_dir: Path,
    *,
    mode: Mode = "process",
    gateway_port: int | None = None,
    env: str = "dev",
    workers: int = 1,
) -> subprocess.Popen[bytes]:
    """Start the supervisor process and return at once; its output goes to supervisor.log."""
    command = [sys.executable, "-m", "msa.tools.runner.detached", "--system", str(system_file),
               "--data-dir", str(data_dir), "--mode", mode, "--env", env,
               "--workers", str(workers)]
    if gateway_port:
        command += ["--gateway-port", str(gateway_port)]
    log_path = data_dir / "logs" / "supervisor.log"
    with os.fdopen(open_log(log_path), "ab") as log:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=system_file.parent,
        )


def main(argv: list[str] | None = None) -> int:
    """Run the system until asked to stop; exit code 1 if it could not start."""
    from msa.system import load_system
    from msa.tools.runner.supervisor import Runner

    parser = argparse.ArgumentParser(prog="python -m msa.tools.runner.detached")
    parser.add_argument("--system", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--mode", choices=MODES, default="process")
    parser.add_argument("--gateway-port", type=int, default=None)
    parser.add_argument("--env", default="dev")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)

    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, request_stop)
    try:
        runner = Runner(load_system(args.system), data_dir=args.data_dir, mode=args.mode,
                        gateway_port=args.gateway_port, env=args.env, workers=args.workers)
        runner.start(wait_ready=False)
    except MsaError as exc:
        print(f"msa supervisor: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"msa supervisor: started {runner.system.system.name} in {args.mode} mode",
          flush=True)
    while not stop.wait(0.5):
        if runner.wait(0):
            break
    runner.stop()
    print("msa supervisor: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
