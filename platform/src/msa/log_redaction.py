"""Keep personal data and secrets out of the logs.

Logs are read by more people, and kept longer, than the databases: a traceback of a
failed statement carries its parameters (emails, password hashes, request values),
and a careless message can carry a token. `Redactor` is a logging filter on the
platform's handler that rewrites every record before it is written: SQLAlchemy's
`[parameters: …]`, PostgreSQL's `Key (…)=(…)` details, email addresses, bearer
tokens and JWTs are replaced by a marker. Engines are also made with
`hide_parameters=True`, so the parameters are not in the exception to begin with.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # a password in a URL (nats://user:password@host, postgresql://role:password@host)
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s]+@"), r"\1:[redacted]@"),
    # SQLAlchemy's statement parameters, to the end of their line
    (re.compile(r"\[parameters: [^\n]*"), "[parameters: redacted]"),
    # PostgreSQL's detail of a unique or foreign-key violation: the offending values
    (re.compile(r"(Key \([^)]*\))=\([^\n]*?\)( already exists| is not present| is still)"),
     r"\1=(redacted)\2"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[jwt]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), "[email]"),
]


def redact(text: str) -> str:
    """`text` with parameters, emails, bearer tokens and JWTs replaced by markers."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class Redactor(logging.Filter):
    """A handler filter that redacts a record's message, traceback and extra fields."""

    def __init__(self, reserved: set[str]) -> None:
        super().__init__()
        self._reserved = reserved

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in self._reserved and not key.startswith("_"):
                record.__dict__[key] = _redacted(value)
        return True


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value
