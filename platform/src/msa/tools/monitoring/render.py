"""A small YAML writer for the generated monitoring files (no YAML library needed).

Covers what Prometheus configuration and rule files use: mappings, lists,
strings, numbers and booleans. Strings are always double-quoted JSON strings
(valid YAML), except multi-line ones, written as literal blocks so that long
PromQL expressions stay readable in review.
"""

from __future__ import annotations

import json
from typing import Any

HEADER = "# Generated from system.toml by `msa docs`; do not edit.\n"


def to_yaml(value: Any) -> str:
    """`value` as a YAML document."""
    return HEADER + "\n".join(_lines(value, 0)) + "\n"


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        lines: list[str] = []
        for key, item in value.items():
            lines.extend(_entry(f"{pad}{key}:", item, indent))
        return lines
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            inner = _lines(item, indent + 2)
            lines.append(pad + "- " + inner[0][indent + 2:])
            lines.extend(inner[1:])
        return lines
    return [pad + _scalar(value)]


def _entry(head: str, item: Any, indent: int) -> list[str]:
    if isinstance(item, str) and "\n" in item:
        body = [" " * (indent + 2) + line if line else "" for line in item.rstrip("\n").split("\n")]
        return [f"{head} |-", *body]
    if isinstance(item, dict | list) and item:
        return [head, *_lines(item, indent + 2)]
    return [f"{head} {_lines(item, 0)[0]}"]


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))
