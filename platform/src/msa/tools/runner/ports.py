"""TCP ports on 127.0.0.1: pick free ones, and name who holds a taken one."""

from __future__ import annotations

import socket
from collections.abc import Mapping

from msa.errors import MsaError

HOST = "127.0.0.1"


def free_port() -> int:
    """A port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now.

    SO_REUSEADDR is set as servers do, so connections lingering in TIME_WAIT
    from a previous run do not count as "taken".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def port_holder(port: int) -> str | None:
    """`name (pid N)` of the process listening on `port`, if the OS tells us."""
    import psutil

    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            if conn.pid is None:
                return None
            try:
                return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return None


def ensure_ports_free(claims: Mapping[int, str]) -> None:
    """Raise MsaError naming the first taken port, what wanted it, and who holds it.

    `claims` maps each port to what we want it for, e.g. `{8105: "orders-0"}`.
    """
    for port, purpose in sorted(claims.items()):
        if port_is_free(port):
            continue
        holder = port_holder(port)
        by = f" by {holder}" if holder else ""
        raise MsaError(f"port {port} (wanted by {purpose}) is already in use{by}")
