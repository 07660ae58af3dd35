"""Who must coordinate with whom: per pair of teams, the synchronous calls and the event
flows that cross between them (Conway's law, counted from system.toml).

`msa teams` prints it; `msa docs` draws it into docs/teams.md (a generated document).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from msa.system import System

DOCUMENT = Path("docs") / "teams.md"


@dataclass
class Crossing:
    """The edges between two teams, both directions together."""

    calls: int = 0
    events: int = 0

    @property
    def total(self) -> int:
        return self.calls + self.events


def crossings(system: System) -> dict[tuple[str, str], Crossing]:
    """(team, team) in name order → the calls and event flows between them; most first."""
    found: dict[tuple[str, str], Crossing] = {}

    def pair(source: str, target: str) -> Crossing | None:
        teams = (system.services[source].team, system.services[target].team)
        if teams[0] == teams[1]:
            return None
        first, second = sorted(teams)
        return found.setdefault((first, second), Crossing())

    for svc in system.services.values():
        for callee in svc.calls:
            if (crossing := pair(svc.name, callee)) is not None:
                crossing.calls += 1
    for event, publisher in system.publisher_of.items():
        for consumer in system.consumers_of.get(event, []):
            if (crossing := pair(publisher, consumer)) is not None:
                crossing.events += 1
    return dict(sorted(found.items(), key=lambda item: (-item[1].total, item[0])))


def diagram(system: System) -> str:
    """A Mermaid graph of the teams, an edge per pair labelled with what crosses it."""
    lines = ["```mermaid", "flowchart LR"]
    lines += [f'  {team}["{team}"]' for team in system.teams
              if any(svc.team == team for svc in system.services.values())]
    for (first, second), crossing in crossings(system).items():
        lines.append(f'  {first} ---|"{crossing.calls} calls, {crossing.events} events"| '
                     f"{second}")
    lines.append("```")
    return "\n".join(lines)


def documents(system: System) -> list[tuple[Path, str]]:
    """docs/teams.md: the table and the diagram."""
    rows = "".join(f"| {first} | {second} | {c.calls} | {c.events} |\n"
                   for (first, second), c in crossings(system).items())
    text = ("<!-- Generated from system.toml by `msa docs`; do not edit. -->\n"
            f"# Teams of {system.system.name}: who must coordinate with whom\n\n"
            "Per pair of teams, the synchronous calls and the event flows between their "
            "services (both directions). Every crossing is a conversation the two teams "
            "have before one of them changes it; `msa contracts check` names them.\n\n"
            "| team | team | calls | events |\n|---|---|---|---|\n" + rows + "\n"
            + diagram(system) + "\n")
    return [(system.root / DOCUMENT, text)]
