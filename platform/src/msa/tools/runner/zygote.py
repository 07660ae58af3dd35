"""The fork server ("zygote"): imports the services' code once, then forks service processes.

    python -m msa.tools.runner.zygote --fd N [--preload MODULE ...]

Starting a service with `python -m msa.serve` costs about a second of CPU in
imports (FastAPI, pydantic, SQLAlchemy, asyncpg, nats, httpx, OpenTelemetry…);
ten of them on two cores take many seconds, and each holds its own copy of the
same modules. This process imports all of it once, calls `gc.freeze()`, and then
forks one child per request: a child starts in milliseconds and shares the
imported code with its siblings until it writes to it.

The supervisor talks to it over the Unix socket `--fd`, one JSON object a line:

- zygote → supervisor, once: `{"event": "hello", "forkable": true, "pid": P,
  "seconds": S, "modules": N, "failed": {module: error}}` (or `"forkable": false`
  with an `"error"` when forking is unsafe, e.g. a thread was started by an import);
- supervisor → zygote: `{"op": "spawn", "id": I, "argv": [...], "env": {...},
  "log": PATH, "cwd": DIR or null}`;
- zygote → supervisor: `{"event": "spawned", "id": I, "pid": P}` (or `"error"`),
  always before that pid's `{"event": "exit", "pid": P, "code": C}` (C as
  `subprocess` reports it: negative for a signal).

A child gets a new session, the request's environment (exactly), stdin from
/dev/null, stdout and stderr appended to `log`, SIGTERM if the zygote dies, and
runs `msa.serve.main(argv)`, then `os._exit` with its code. The zygote itself
reaps every child; it exits when the supervisor closes the socket (or dies).

Nothing here may start a thread or an event loop before forking: only the
standard library is imported at the top, and the preloaded modules are checked.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

WARM_MODULES = (
    # what a service imports while it starts, found with `python -X importtime` and by
    # listing the modules a forked child imported after the fork
    "msa.serve", "msa.runtime", "msa.service", "msa.settings", "msa.logs", "msa.metrics",
    "msa.client",
    "msa.db", "msa.messaging", "msa.messaging.api", "msa.sagas", "msa.sagas.api",
    "msa.idempotency", "msa.problems", "msa.tracing", "msa.gauges",
    "uvicorn", "uvicorn.config", "uvicorn.server", "uvicorn.main", "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl", "uvicorn.lifespan.on", "uvloop", "httptools",
    "asyncpg", "sqlalchemy.dialects.postgresql.asyncpg", "sqlalchemy.ext.asyncio",
    "alembic.command", "alembic.config", "alembic.script", "alembic.runtime.migration",
    "alembic.runtime.environment", "alembic.operations", "nats", "nats.js", "httpx", "orjson",
    "msa.transport.http", "msa.transport.inprocess",
    "encodings.idna", "fastapi.telemetry._runtime",
)
"""Imported before the app modules; a module that does not exist is skipped."""

_PR_SET_PDEATHSIG = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Preload, say hello, then fork on request until the supervisor goes away."""
    parser = argparse.ArgumentParser(prog="python -m msa.tools.runner.zygote")
    parser.add_argument("--fd", type=int, required=True, help="the control socket")
    parser.add_argument("--preload", nargs="*", default=[], help="the services' app modules")
    args = parser.parse_args(argv)
    gc.disable()  # no collections while importing: fewer holes in pages the children share
    control = socket.socket(fileno=args.fd)
    began = time.monotonic()
    failed = preload([*WARM_MODULES, *args.preload])
    prctl = _load_prctl()
    threads = thread_count()
    if threads > 1:
        _send(control, {"event": "hello", "forkable": False, "pid": os.getpid(),
                        "error": f"{threads} threads run after preloading; forking is unsafe"})
        return 1
    gc.collect()
    gc.freeze()  # the children's collections leave the shared objects' pages alone
    _send(control, {"event": "hello", "forkable": True, "pid": os.getpid(),
                    "seconds": round(time.monotonic() - began, 3), "modules": len(sys.modules),
                    "failed": failed})
    return _serve(control, prctl)


def preload(modules: Sequence[str]) -> dict[str, str]:
    """Import each module; returns module → error for those that failed.

    A failure is not fatal: the child imports the module again and its log shows
    the real traceback, as with a process started from scratch.
    """
    failed: dict[str, str] = {}
    for name in dict.fromkeys(modules):
        try:
            importlib.import_module(name)
        except Exception as exc:  # reported, not raised
            if not (isinstance(exc, ModuleNotFoundError) and name in WARM_MODULES):
                failed[name] = f"{type(exc).__name__}: {exc}"
    return failed


def thread_count() -> int:
    """Threads of this process as the kernel sees them (C-level threads too)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _serve(control: socket.socket, prctl: Any) -> int:
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, _ignore)  # a Python handler, so the wakeup fd is written
    zygote = os.getpid()
    pending = b""
    while True:
        try:
            readable, _, _ = select.select([control.fileno(), wake_read], [], [], 1.0)
        except InterruptedError:  # pragma: no cover - PEP 475 retries select
            readable = []
        if wake_read in readable:
            _drain(wake_read)
        _reap(control)
        if control.fileno() not in readable:
            continue
        data = control.recv(1 << 16)
        if not data:
            return 0  # the supervisor closed the socket (or died): the children get SIGTERM
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            if request.get("op") != "spawn":
                continue
            try:
                pid = os.fork()
            except OSError as exc:
                _send(control, {"event": "spawned", "id": request["id"], "error": str(exc)})
                continue
            if pid == 0:
                _child(request, zygote, prctl, (control.fileno(), wake_read, wake_write))
            _send(control, {"event": "spawned", "id": request["id"], "pid": pid})


def _reap(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(control, {"event": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)})


def _child(request: dict[str, Any], zygote: int, prctl: Any, fds: tuple[int, ...]) -> NoReturn:
    """Become the service process of `request`; never returns."""
    code = 1
    try:
        os.setsid()
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != zygote:  # the zygote died before we asked
            os._exit(1)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in fds:
            os.close(fd)
        _redirect(request["log"])
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("cwd"):
            os.chdir(request["cwd"])
        sys.argv = ["msa.serve", *request["argv"]]
        gc.enable()
        from msa.serve import main as serve

        code = serve(list(request["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # never back into the loop
        traceback.print_exc()
    finally:
        _finish(code)


def _finish(code: int) -> NoReturn:
    try:
        import logging

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _redirect(log_path: str) -> None:
    """stdin from /dev/null; stdout and stderr appended to `log_path`."""
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(log, 0o600)  # logs are their owner's only (msa.tools.runner.logs.LOG_MODE)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    try:
        control.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")
    except OSError:  # the supervisor is gone: leave, and the children follow (SIGTERM)
        os._exit(0)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _ignore(signum: int, frame: Any) -> None:
    """SIGCHLD only wakes the loop up (through the wakeup fd)."""


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl


if __name__ == "__main__":
    sys.exit(main())
