"""The service map: system.toml's services in layers, their call and event edges.

A service's layer is the longest chain of calls from the gateway to it, so callers
sit above what they call. Event edges run from a publisher to each consumer of
what it publishes. Positions are SVG units; the template draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

from msa import System

WIDTH = 1000.0
NODE_W, NODE_H = 130.0, 48.0
LAYER_GAP = 150.0


@dataclass(frozen=True)
class Node:
    name: str
    team: str
    replicas: int
    x: float
    y: float


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # "call" or "event"
    label: str
    path: str  # SVG path data


def layers(system: System) -> dict[str, int]:
    """service → its layer (0 for the gateway and anything nobody calls)."""
    layer = {name: 0 for name in system.services}
    for _ in system.services:  # longest path by relaxation; the call graph has no cycles
        for name, spec in system.services.items():
            for target in spec.calls:
                if target in layer and layer[target] < layer[name] + 1:
                    layer[target] = layer[name] + 1
    return layer


def layout(system: System) -> tuple[list[Node], list[Edge], float]:
    """Nodes, edges and the drawing's height."""
    layer = layers(system)
    rows: dict[int, list[str]] = {}
    for name in system.services:
        rows.setdefault(layer[name], []).append(name)
    nodes: dict[str, Node] = {}
    for depth, names in rows.items():
        step = WIDTH / len(names)
        for i, name in enumerate(names):
            spec = system.services[name]
            nodes[name] = Node(name, spec.team, spec.replicas, step * i + (step - NODE_W) / 2,
                               20 + depth * LAYER_GAP)
    edges = []
    for name, spec in system.services.items():
        for target in spec.calls:
            if target in nodes:
                a, b = nodes[name], nodes[target]
                edges.append(Edge(name, target, "call", f"{name} calls {target}",
                                  f"M{a.x + NODE_W / 2:.0f},{a.y + NODE_H:.0f} "
                                  f"L{b.x + NODE_W / 2:.0f},{b.y:.0f}"))
    for name, spec in system.services.items():
        for event in spec.publishes:
            for consumer in system.services.values():
                if event in consumer.consumes and consumer.name in nodes:
                    a, b = nodes[name], nodes[consumer.name]
                    # a curve below both boxes, so it does not hide the call lines
                    ax, bx = a.x + NODE_W * 0.7, b.x + NODE_W * 0.3
                    ay, by = a.y + NODE_H, b.y + NODE_H
                    bend = max(ay, by) + 40 + abs(ax - bx) * 0.08
                    edges.append(Edge(name, consumer.name, "event", event,
                                      f"M{ax:.0f},{ay:.0f} C{ax:.0f},{bend:.0f} "
                                      f"{bx:.0f},{bend:.0f} {bx:.0f},{by:.0f}"))
    height = 20 + (max(rows) + 1) * LAYER_GAP
    return list(nodes.values()), edges, height
