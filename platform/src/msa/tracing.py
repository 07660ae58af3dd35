"""Trace context across HTTP calls and NATS messages (W3C traceparent)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from opentelemetry import context as otel_context
from opentelemetry.propagate import extract, inject


def inject_headers(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context to outgoing headers (no-op without a span)."""
    inject(headers)


def context_from(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context carried by incoming headers."""
    return extract(dict(headers or {}))
