"""One supervisor per data folder, enforced with an advisory file lock."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from msa.errors import MsaError

LOCK_FILE = "supervisor.lock"


class DataDirLock:
    """An exclusive `flock` on `<data_dir>/supervisor.lock`, released when the holder dies."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise MsaError naming the pid that holds it."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f" (supervisor pid {holder})" if holder else ""
            raise MsaError(f"the system in {self.path.parent} is already running{who}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
