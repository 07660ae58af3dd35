"""The supervisor's side of the fork server (`msa.tools.runner.zygote`): start it, ask it to
fork service processes, and learn when they exit.

A reader thread takes the zygote's reports off the socket: the pid of each fork,
then its exit code (the zygote is the children's parent, so it reaps them). A
`ForkedChild` looks to the supervisor like a `subprocess.Popen`: `pid`, `poll()`,
`wait()`, `returncode`.

If the zygote dies, its children get SIGTERM from the kernel; they are no longer
anyone's children we can wait for, so the reader thread watches them by pid (and
start time) until they are gone, SIGKILLs them after `ORPHAN_GRACE` seconds, and
only then reports them exited. The next fork request starts a new zygote.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from msa.errors import MsaError
from msa.tools.runner.processes import create_time, process_alive, signal_group, spawn

HELLO_TIMEOUT = 120.0
"""Seconds the zygote may take to import everything (a cold cache on a busy machine)."""
ORPHAN_GRACE = 5.0
"""Seconds the children of a dead zygote get to stop before SIGKILL."""


class ForkServerError(MsaError):
    """The zygote is not there (any more), or refused to fork."""


class ForkedChild:
    """A service process forked by the zygote, with the face of a `subprocess.Popen`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.create_time = create_time(pid)
        self.returncode: int | None = None
        self.exit_note: str | None = None
        """Why it ended when the code alone does not tell (it outlived its zygote)."""
        self._done = threading.Event()

    def poll(self) -> int | None:
        """The exit code once the process has ended, else None."""
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Block until the process has ended; `subprocess.TimeoutExpired` after `timeout`."""
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def ended(self, code: int, note: str | None = None) -> None:
        """Record the exit (from the reader thread)."""
        if self._done.is_set():
            return
        self.returncode, self.exit_note = code, note
        self._done.set()


class ForkServer:
    """One zygote process and the reader thread that listens to it."""

    def __init__(self, preload: Sequence[str], *, env: Mapping[str, str], log_path: Path,
                 cwd: Path | None = None) -> None:
        self.preload = list(preload)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.hello: dict[str, Any] | None = None
        self.started_at: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._hello = threading.Event()
        self._gone = threading.Event()
        self._ids = 0
        self._pending: dict[int, concurrent.futures.Future[ForkedChild]] = {}
        self._children: dict[int, ForkedChild] = {}
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The zygote's pid once started."""
        return self._process.pid if self._process else None

    @property
    def alive(self) -> bool:
        """Started, not known to have died or been closed."""
        return self._process is not None and not self._gone.is_set()

    def start(self) -> None:
        """Start the zygote; call it from the supervisor thread (it dies with that thread)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            command = [sys.executable, "-m", "msa.tools.runner.zygote",
                       "--fd", str(theirs.fileno()), "--preload", *self.preload]
            self._process = spawn(command, env={**self.env, "PYTHONUNBUFFERED": "1"},
                                  log_path=self.log_path, cwd=self.cwd,
                                  pass_fds=(theirs.fileno(),))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._socket = ours
        self.started_at = time.monotonic()
        self._reader = threading.Thread(target=self._read, name="msa-forkserver-reader",
                                        daemon=True)
        self._reader.start()

    async def ready(self, timeout: float = HELLO_TIMEOUT) -> dict[str, Any]:
        """Wait for the zygote's hello; ForkServerError if it died or cannot fork."""
        hello = await asyncio.to_thread(self._wait_hello, timeout)
        if not hello.get("forkable"):
            raise ForkServerError(f"the fork server cannot fork: {hello.get('error')}")
        return hello

    def _wait_hello(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self._hello.wait(0.05):
            if self._gone.is_set():
                raise ForkServerError(f"the fork server exited while importing "
                                      f"(see {self.log_path})")
            if time.monotonic() > deadline:
                raise ForkServerError(f"the fork server did not start in {timeout:.0f} s")
        assert self.hello is not None
        return self.hello

    async def spawn(self, argv: Sequence[str], env: Mapping[str, str], log_path: Path,
                    cwd: Path | None = None) -> ForkedChild:
        """Fork a child running `msa.serve.main(argv)`; returns once its pid is known."""
        future: concurrent.futures.Future[ForkedChild] = concurrent.futures.Future()
        with self._lock:
            if not self.alive:
                raise ForkServerError("the fork server is not running")
            self._ids += 1
            request_id = self._ids
            self._pending[request_id] = future
        try:
            self._write({"op": "spawn", "id": request_id, "argv": list(argv),
                         "env": dict(env), "log": str(log_path),
                         "cwd": str(cwd) if cwd else None})
        except ForkServerError:
            with self._lock:
                self._pending.pop(request_id, None)
            raise
        # If this is cancelled (the runner stops), the child is still known here and
        # stopped with the zygote.
        return await asyncio.wrap_future(future)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the zygote (children still running get SIGTERM from the kernel) and reap it."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        proc = self._process
        if proc is not None and self.hello is None:  # still importing: nothing forked yet
            signal_group(proc.pid, signal.SIGKILL)
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout + ORPHAN_GRACE + 5)
        if self._socket is not None:
            self._socket.close()

    def _write(self, message: dict[str, Any]) -> None:
        assert self._socket is not None
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        try:
            with self._send_lock:
                self._socket.sendall(data)
        except OSError as exc:
            raise ForkServerError(f"the fork server is gone ({exc.strerror})") from None

    # -- the reader thread ---------------------------------------------------

    def _read(self) -> None:
        assert self._socket is not None
        buffer = b""
        try:
            while True:
                try:
                    data = self._socket.recv(1 << 16)
                except OSError:
                    data = b""
                if not data:
                    break
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    self._handle(json.loads(line))
        except (ValueError, KeyError, TypeError):  # not the protocol: do not trust it further
            pass
        finally:
            self._lost()

    def _handle(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event == "hello":
            self.hello = message
            self._hello.set()
        elif event == "spawned":
            child = ForkedChild(int(message["pid"])) if "pid" in message else None
            with self._lock:
                future = self._pending.pop(int(message["id"]), None)
                if child is not None:
                    self._children[child.pid] = child
            if future is None:
                return
            with contextlib.suppress(concurrent.futures.InvalidStateError):  # cancelled
                if child is not None:
                    future.set_result(child)
                else:
                    future.set_exception(ForkServerError(f"fork failed: {message.get('error')}"))
        elif event == "exit":
            with self._lock:
                child = self._children.pop(int(message["pid"]), None)
            if child is not None:
                child.ended(int(message["code"]))

    def _lost(self) -> None:
        """The zygote is gone: fail what waits, and see its orphans out."""
        with self._lock:
            self._gone.set()
            pending, self._pending = self._pending, {}
            orphans, self._children = list(self._children.values()), {}
        for future in pending.values():
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(ForkServerError("the fork server died"))
        if self._process is not None:
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:  # it broke the protocol, or hangs: end it
                signal_group(self._process.pid, signal.SIGKILL)
                self._process.wait()
        if self._socket is not None:
            self._socket.close()
        for child in orphans:
            signal_group(child.pid, signal.SIGTERM)  # the kernel sends it too (PDEATHSIG)
        code, note = -signal.SIGTERM, "stopped with its fork server"
        deadline = time.monotonic() + ORPHAN_GRACE
        while orphans:
            for child in [child for child in orphans
                          if not process_alive(child.pid, child.create_time)]:
                child.ended(code, note)
                orphans.remove(child)
            if orphans and time.monotonic() > deadline and code != -signal.SIGKILL:
                for child in orphans:
                    signal_group(child.pid, signal.SIGKILL)
                code, note = -signal.SIGKILL, "killed: it outlived its fork server"
            time.sleep(0.02)
