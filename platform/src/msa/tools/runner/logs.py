"""Reading the runner's log files: select, merge by timestamp, filter, follow.

Services write JSON lines with an ISO `ts`; other lines (tracebacks, PostgreSQL's
own log) pass through and stay with the JSON line before them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from msa.errors import ConfigError
from msa.runner_state import RunnerState
from msa.system import System

LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40, "critical": 50,
          "fatal": 50}
SERVERS = ("postgres", "nats", "supervisor", "forkserver")


@dataclass(frozen=True)
class LogLine:
    """One line of one log file, with the time used to order it."""

    source: str
    raw: str
    record: dict[str, Any] | None
    when: float

    @property
    def level(self) -> str:
        value = (self.record or {}).get("level") or (self.record or {}).get("levelname") or ""
        return str(value).lower()

    @property
    def message(self) -> str:
        record = self.record or {}
        return str(record.get("message", record.get("msg", record.get("event", self.raw))))

    @property
    def trace_id(self) -> str | None:
        record = self.record or {}
        value = record.get("trace_id", record.get("traceId", record.get("trace")))
        return str(value) if value else None


@dataclass(frozen=True)
class LogFilter:
    """Which lines to keep: minimum level, one trace, one service (in the monolith's log)."""

    level: str | None = None
    trace: str | None = None
    service: str | None = None

    def __post_init__(self) -> None:
        if self.level and self.level.lower() not in LEVELS:
            raise ConfigError(f"unknown level {self.level!r} (known: debug, info, warning, "
                              "error, critical)")

    def keeps(self, line: LogLine) -> bool:
        """Whether a JSON line passes (non-JSON lines follow the line before them)."""
        if self.level and LEVELS.get(line.level, 0) < LEVELS[self.level.lower()]:
            return False
        if self.trace and line.trace_id != self.trace:
            return False
        service = (line.record or {}).get("service")
        return not (self.service and service and service != self.service)


def select_files(log_dir: Path, system: System, name: str | None) -> dict[str, Path]:
    """source → log file for a service (all its instances), an instance, or a server."""
    if name in SERVERS:
        return {name: log_dir / f"{name}.log"}
    if name is not None and name not in system.services:
        instance = re.fullmatch(r"([a-z][a-z0-9_]*)-(\d+)", name)
        if name == "monolith":  # every worker of a monolith
            return {path.stem: path for path in sorted(log_dir.glob("monolith-*.log"))}
        owner = instance.group(1) if instance else None
        if not (owner in system.services or owner == "monolith"):
            known = ", ".join([*sorted(system.services), *SERVERS])
            raise ConfigError(f"unknown service {name!r} (known: {known})")
        return {name: log_dir / f"{name}.log"}
    pattern = re.compile(rf"({re.escape(name) if name else '[a-z][a-z0-9_]*'})-\d+|monolith")
    return {path.stem: path for path in sorted(log_dir.glob("*.log"))
            if pattern.fullmatch(path.stem)}


def parse_lines(source: str, lines: Iterable[str], last_when: float = 0.0) -> list[LogLine]:
    """Parse raw lines; a line without a timestamp takes the time of the one before."""
    parsed = []
    for raw in lines:
        record = _json_object(raw)
        when = _timestamp(record) if record else None
        last_when = when if when is not None else last_when
        parsed.append(LogLine(source, raw, record, last_when))
    return parsed


def apply_filter(lines: list[LogLine], wanted: LogFilter) -> list[LogLine]:
    """Keep matching JSON lines and the non-JSON lines that follow them."""
    kept, keeping = [], True
    for line in lines:
        if line.record is not None:
            keeping = wanted.keeps(line)
        if keeping:
            kept.append(line)
    return kept


def read_merged(files: dict[str, Path], wanted: LogFilter) -> list[LogLine]:
    """All lines of `files`, filtered, ordered by time (stable within a file)."""
    lines: list[LogLine] = []
    for source, path in files.items():
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        lines.extend(apply_filter(parse_lines(source, text.splitlines()), wanted))
    return sorted(lines, key=lambda line: line.when)


class Follower:
    """Yields lines appended to a set of files since the last call (`tail -f`)."""

    def __init__(self, files: dict[str, Path], wanted: LogFilter, from_end: bool = True) -> None:
        self.files, self.wanted = dict(files), wanted
        self._offsets = {source: (path.stat().st_size if from_end and path.exists() else 0)
                         for source, path in files.items()}
        self._partial = dict.fromkeys(files, b"")
        self._when = dict.fromkeys(files, 0.0)

    def add(self, files: dict[str, Path]) -> None:
        """Also follow these files (new ones are read from their beginning)."""
        for source, path in files.items():
            if source not in self.files:
                self.files[source] = path
                self._offsets[source], self._partial[source], self._when[source] = 0, b"", 0.0

    def poll(self) -> list[LogLine]:
        """New complete lines of every file, merged by time."""
        fresh: list[LogLine] = []
        for source, path in self.files.items():
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size < self._offsets[source]:  # truncated or replaced: start over
                self._offsets[source], self._partial[source] = 0, b""
            with open(path, "rb") as handle:
                handle.seek(self._offsets[source])
                chunk = handle.read()
            self._offsets[source] += len(chunk)
            data = self._partial[source] + chunk
            complete, newline, self._partial[source] = data.rpartition(b"\n")
            if not newline:
                continue
            text = complete.decode("utf-8", errors="replace").splitlines()
            lines = parse_lines(source, text, self._when[source])
            if lines:
                self._when[source] = lines[-1].when
            fresh.extend(apply_filter(lines, self.wanted))
        return sorted(fresh, key=lambda line: line.when)


def describe_laggards(state: RunnerState) -> str:
    """`name (log path: last line)` of everything not ready yet."""
    waiting = [item for item in [state.postgres, state.nats, *state.instances]
               if item is not None and not item.ready]
    parts = []
    for item in waiting:
        hint = last_line(Path(item.log))
        parts.append(f"{item.name} (log {item.log}" + (f": {hint})" if hint else ")"))
    return ", ".join(parts)


def describe_crash_loop(
    state: RunnerState, exit_codes: tuple[int, ...] = (2, 127), restarts: int = 2
) -> str | None:
    """`name: last log line` of an instance that keeps failing at start for good.

    `msa.serve` exits with 2 on bad settings or system.toml, and 127 means the
    command could not be run: restarting cannot help, so waiting for readiness
    should stop early and say why.
    """
    for item in state.instances:
        if not item.ready and item.last_exit in exit_codes and item.restarts >= restarts:
            return f"{item.name} keeps failing: {last_line(Path(item.log)) or 'no output'}"
    return None


def last_line(path: Path) -> str:
    """The last line of a file (within its last 8 kB) that is not a note of the runner's
    own, at most 200 characters: usually the reason a process died."""
    try:
        with open(path, "rb") as log:
            log.seek(0, 2)
            log.seek(max(0, log.tell() - 8192))
            lines = log.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if not line.strip() or ('"logger": "msa.tools.runner"' in line
                                and "cannot start" not in line):
            continue
        record = _json_object(line)
        text = str(record.get("msg", record.get("message", line))) if record else line
        return text.split("; restarting in")[0].strip()[:200]
    return ""


def _json_object(raw: str) -> dict[str, Any] | None:
    if not raw.startswith("{"):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _timestamp(record: dict[str, Any]) -> float | None:
    value = record.get("ts", record.get("timestamp", record.get("time")))
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
