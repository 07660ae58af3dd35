"""What can go wrong calling another service, as typed exceptions (raised by `msa.client`).

The distinction callers act on is whether the call may have taken effect:
`ServiceUnavailable` (and its kinds `CircuitOpen`, `BulkheadFull`) means nothing
was done, `ServiceTimeout` means the outcome is unknown, `RemoteProblem` carries
the callee's answer (status and problem body).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from msa.transport import Response


class ServiceCallError(Exception):
    """A call to another service did not succeed."""

    def __init__(self, target: str, message: str, status: int | None = None,
                 problem: dict[str, Any] | None = None) -> None:
        super().__init__(f"{target}: {message}")
        self.target = target
        self.status = status
        self.problem = problem or {}


class ServiceUnavailable(ServiceCallError):
    """The callee could not be reached or said it is unavailable: nothing was done."""


class CircuitOpen(ServiceUnavailable):
    """The callee kept failing; calls fail fast until a probe succeeds. Nothing was sent."""


class BulkheadFull(ServiceUnavailable):
    """Too many calls to the callee are in flight already. Nothing was sent."""


class ServiceTimeout(ServiceCallError):
    """The deadline passed before an answer: the call may or may not have taken effect."""


class RemoteProblem(ServiceCallError):
    """The callee answered with an error (4xx/5xx) and a problem body."""

    def __init__(self, target: str, message: str, status: int | None = None,
                 problem: dict[str, Any] | None = None,
                 response: Response | None = None) -> None:
        super().__init__(target, message, status, problem)
        self.response = response

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "")
