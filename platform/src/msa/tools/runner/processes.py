"""Starting and stopping child processes so that none outlives its supervisor.

Every child gets its own session (so a Ctrl-C in the terminal reaches only the
supervisor, which then stops the children in order) and, on Linux, asks the
kernel to send it SIGTERM when the supervising thread dies, so a supervisor
killed with SIGKILL does not leave services running.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from msa.runner_state import process_alive

_PR_SET_PDEATHSIG = 1
LOG_MODE = 0o600
"""Log files are their owner's only: a failure's record may still say more than it should."""


def open_log(path: Path) -> int:
    """A descriptor appending to the log file `path`, created (or made) mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, LOG_MODE)
    os.fchmod(fd, LOG_MODE)  # a file left by an older run keeps its mode otherwise
    return fd


class Child(Protocol):
    """A service process as the supervisor holds it: a `subprocess.Popen`, or a
    `msa.tools.runner.forkserver.ForkedChild` (forked by the zygote)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def spawn(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start `command` with stdout and stderr appended to `log_path`.

    Call it from a thread that lives as long as the child should: on Linux the
    child receives SIGTERM when that thread ends. `pass_fds` stay open in the child.
    """
    with os.fdopen(open_log(log_path), "ab") as log:
        return subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
            preexec_fn=_die_with_parent_hook(),  # see the module docstring
        )


def signal_group(pid: int, sig: int) -> bool:
    """Send `sig` to the process group led by `pid` (or to `pid` alone); False if gone."""
    try:
        os.killpg(pid, sig)
        return True
    except ProcessLookupError:
        pass
    except PermissionError:
        return False
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def terminate(processes: Sequence[Child], timeout: float) -> None:
    """SIGTERM every process group, wait up to `timeout`, SIGKILL what is left, reap all."""
    running = [proc for proc in processes if proc.poll() is None]
    for proc in running:
        signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        time.sleep(0.02)
        running = [proc for proc in running if proc.poll() is None]
    for proc in running:
        signal_group(proc.pid, signal.SIGKILL)
    for proc in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        # The group may still hold grandchildren; only the group is signalled
        # here, as the leader's pid may already belong to someone else.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def create_time(pid: int) -> float | None:
    """The start time of `pid` as the OS records it (to tell a reused pid apart)."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def kill_pid(
    pid: int | None, created: float | None, timeout: float = 10.0, sig: int = signal.SIGTERM
) -> None:
    """Stop a process we do not hold a handle to: `sig`, wait, then SIGKILL."""
    if not pid or not process_alive(pid, created):
        return
    signal_group(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_alive(pid, created):
        time.sleep(0.05)
    if process_alive(pid, created):
        signal_group(pid, signal.SIGKILL)


def _die_with_parent_hook() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return functools.partial(_die_with_parent, libc.prctl, os.getpid())


def _die_with_parent(prctl: Any, parent: int) -> None:
    # Runs in the child between fork and exec (after any user switch, which
    # would clear the setting).
    prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before we asked
        os.kill(os.getpid(), signal.SIGTERM)
