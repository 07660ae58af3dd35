"""Edits to the shared files a service is registered in: system.toml (as text, so every
comment and layout stays as it was) and the uv workspace's pyproject.toml (with tomlkit).

Each edit has its exact inverse, so that `msa remove service` gives back the files
`msa new service` found.
"""

from __future__ import annotations

import re
from pathlib import Path

import tomlkit

from msa.tools.scaffold.blueprint import Blueprint, ScaffoldError

_HEADER = re.compile(r"^\[([^\]]+)\]\s*(#.*)?$")


def _toml_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def service_block(bp: Blueprint) -> str:
    """The `[services.NAME]` table of a new service."""
    lines = [f"[services.{bp.name}]", f'team = "{bp.team}"', f'app = "{bp.name}.app:create_app"',
             f"port = {bp.port}"]
    if not bp.database:
        lines.append("database = false")
    lines += [f'description = "{bp.description}"', f'routes = ["/api/{bp.name}"]']
    for key in ("calls", "publishes", "consumes"):
        values = getattr(bp, key)
        if values:
            lines.append(f"{key} = {_toml_list(values)}")
    return "\n".join(lines) + "\n"


def _headers(lines: list[str]) -> list[tuple[int, str]]:
    return [(i, match.group(1).strip()) for i, line in enumerate(lines)
            if (match := _HEADER.match(line))]


def _section_end(lines: list[str], start: int, prefix: str) -> int:
    """The index after the last content line of the table at `start` and its sub-tables
    (comments and blank lines before the next table belong to that table)."""
    end = len(lines)
    for i, name in _headers(lines):
        if i > start and name != prefix and not name.startswith(prefix + "."):
            end = i
            break
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip()
                               .startswith("#")):
        end -= 1
    return end


def add_service(text: str, bp: Blueprint, gateway: str) -> str:
    """system.toml with the service's table after the last service, and the gateway
    calling it (so the gateway may forward its public routes)."""
    lines = text.splitlines(keepends=True)
    services = [(i, name) for i, name in _headers(lines) if name.startswith("services.")]
    if not services:
        raise ScaffoldError("system.toml has no [services.*] table to add to")
    last, header = services[-1]
    end = _section_end(lines, last, ".".join(header.split(".")[:2]))
    if lines[end - 1] and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    lines[end:end] = ["\n", *service_block(bp).splitlines(keepends=True)]
    return _edit_gateway_calls("".join(lines), gateway, bp.name, add=True)


def remove_service(text: str, name: str, gateway: str) -> str:
    """The inverse of `add_service`."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, header in _headers(lines) if header == f"services.{name}"]
    if not starts:
        raise ScaffoldError(f"system.toml has no [services.{name}]")
    start = starts[0]
    end = _section_end(lines, start, f"services.{name}")
    if start > 0 and not lines[start - 1].strip():
        start -= 1
    del lines[start:end]
    return _edit_gateway_calls("".join(lines), gateway, name, add=False)


def _edit_gateway_calls(text: str, gateway: str, name: str, *, add: bool) -> str:
    lines = text.splitlines(keepends=True)
    starts = [i for i, header in _headers(lines) if header == f"services.{gateway}"]
    if not starts:
        raise ScaffoldError(f"system.toml has no [services.{gateway}] (the gateway)")
    start = starts[0]
    end = next((i for i, _ in _headers(lines) if i > start), len(lines))
    section = "".join(lines[start:end])
    match = re.search(r"^calls\s*=\s*\[(.*?)\]", section, flags=re.S | re.M)
    if add:
        if match is None:
            section = section.rstrip("\n") + f'\ncalls = ["{name}"]\n' + \
                section[len(section.rstrip("\n")) + 1:]
        else:
            after_last = match.start(1) + len(match.group(1).rstrip().rstrip(",").rstrip())
            section = f'{section[:after_last]}, "{name}"{section[after_last:]}'
    elif match is not None:
        section = re.sub(rf',\s*"{re.escape(name)}"', "", section, count=1)
        section = re.sub(rf'^calls = \["{re.escape(name)}"\]\n', "", section, count=1,
                         flags=re.M)
    return "".join(lines[:start]) + section + "".join(lines[end:])


def add_to_workspace(pyproject: Path, name: str) -> None:
    """The root pyproject.toml: the package as a dependency, a workspace source, and
    first-party for ruff's import sorting."""
    document = tomlkit.parse(pyproject.read_text(encoding="utf-8"))
    document["project"]["dependencies"].append(name)
    sources = document["tool"]["uv"]["sources"]
    sources[name] = tomlkit.parse(f"{name} = {{ workspace = true }}\n")[name]
    first_party = _first_party(document)
    if first_party is not None:
        first_party.append(name)
    pyproject.write_text(tomlkit.dumps(document), encoding="utf-8")


def remove_from_workspace(pyproject: Path, name: str) -> None:
    """The inverse of `add_to_workspace`."""
    document = tomlkit.parse(pyproject.read_text(encoding="utf-8"))
    dependencies = document["project"]["dependencies"]
    if name in dependencies:
        dependencies.remove(name)
    sources = document["tool"]["uv"]["sources"]
    if name in sources:
        del sources[name]
    first_party = _first_party(document)
    if first_party is not None and name in first_party:
        first_party.remove(name)
    pyproject.write_text(tomlkit.dumps(document), encoding="utf-8")


def _first_party(document: tomlkit.TOMLDocument) -> list[str] | None:
    try:
        found = document["tool"]["ruff"]["lint"]["isort"]["known-first-party"]
    except KeyError:
        return None
    return found
