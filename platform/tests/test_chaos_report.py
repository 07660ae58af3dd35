"""Operation outcomes and the report's figures."""

from __future__ import annotations

import httpx
import pytest

from msa.checks import CheckResult
from msa.tools.chaos.inject import FaultRecord
from msa.tools.chaos.record import Operation, Outcome, Recorder, outcome_of_error, outcome_of_status
from msa.tools.chaos.report import build, percentiles, split_by_faults, summary
from msa.tools.chaos.schedule import FaultEvent, Schedule


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.OK), (201, Outcome.OK), (202, Outcome.OK), (404, Outcome.FAILED),
    (409, Outcome.FAILED), (422, Outcome.FAILED), (500, Outcome.UNKNOWN),
    (503, Outcome.UNKNOWN), (504, Outcome.UNKNOWN),
])
def test_an_answer_is_ok_failed_or_unknown_by_its_status(status: int, outcome: Outcome) -> None:
    assert outcome_of_status(status) is outcome


def test_a_request_never_sent_failed_but_a_lost_answer_is_unknown() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/x")

    assert outcome_of_error(httpx.ConnectError("refused", request=request)) is Outcome.FAILED
    assert outcome_of_error(httpx.ReadTimeout("slow", request=request)) is Outcome.UNKNOWN
    assert outcome_of_error(httpx.RemoteProtocolError("cut", request=request)) is Outcome.UNKNOWN


def test_percentiles_use_the_nearest_rank_in_milliseconds() -> None:
    found = percentiles([i / 1000 for i in range(1, 101)])

    assert found == {"count": 100, "p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0,
                     "max_ms": 100.0}
    assert percentiles([]) == {"count": 0}


def test_operations_overlapping_an_injected_fault_count_as_during_faults() -> None:
    fault = FaultRecord(FaultEvent(1.0, "kill", "a-0"), status="injected", started=10, ended=20)
    skipped = FaultRecord(FaultEvent(2.0, "kill", "a-0"), status="skipped", started=30, ended=40)
    ops = [Operation("x", Outcome.OK, start, start + 1) for start in (0, 9.5, 15, 19.9, 31, 50)]

    during, calm = split_by_faults(ops, [fault, skipped])

    assert len(during) == 3 and len(calm) == 3


def test_the_report_fails_on_any_violation_and_says_why() -> None:
    recorder = Recorder(phase="run")
    recorder.record("checkout", Outcome.OK, 0.0, status=201)
    recorder.record("checkout", Outcome.UNKNOWN, 0.0, detail="ReadTimeout")
    schedule = Schedule(1, "short", 10, ("kill",), (), (FaultEvent(1.0, "kill", "a-0"),))
    fault = FaultRecord(schedule.events[0], status="injected", started=1, ended=2)
    results = [CheckResult("money", {"top_ups": 3}),
               CheckResult("events", {}, ["2 order event(s) notified more than once"])]

    report = build(schedule=schedule, faults=[fault], recorder=recorder, results=results,
                   timings={"run": 10.0, "quiesce": 1.5})

    assert report["ok"] is False and report["violations"] == 1
    assert report["faults"]["by_kind"] == {"kill": 1}
    assert report["operations"]["by_outcome"] == {"ok": 1, "failed": 0, "unknown": 1}
    assert report["operations"]["by_kind"] == {"checkout": {"ok": 1, "unknown": 1}}
    text = summary(report)
    assert "FAILED" in text and "VIOLATED events" in text and "notified more than once" in text
