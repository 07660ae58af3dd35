"""Turn published CRD manifests into the JSON schemas the manifest tests validate with.

    python deploy/crd-schemas/vendor.py URL=LOCAL_CRD.yaml ...

Takes the served `v1` version's openAPIV3Schema, drops descriptions, makes every
object with declared properties closed (`additionalProperties: false`, unless the
CRD preserves unknown fields) so a misspelt field fails as with `kubectl --strict`,
maps `x-kubernetes-int-or-string`, and pins apiVersion and kind. Writes
`<group>_<kind>_v1.json` beside this file with the source URL in `x-source`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

VERSION = "v1"


def _closed(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _closed(item)
        return
    if not isinstance(node, dict):
        return
    node.pop("description", None)
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if ("properties" in node and not node.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in node):
        node["additionalProperties"] = False
    for key, value in list(node.items()):
        if key == "properties":
            for item in value.values():
                _closed(item)
        elif isinstance(value, dict | list):
            _closed(value)


def convert(crd: dict[str, Any], source: str) -> tuple[str, dict[str, Any]]:
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    version = next(v for v in crd["spec"]["versions"] if v["name"] == VERSION)
    schema = version["schema"]["openAPIV3Schema"]
    _closed(schema)
    schema["properties"].update({"metadata": {"type": "object"},
                                 "apiVersion": {"const": f"{group}/{VERSION}"},
                                 "kind": {"const": kind}})
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    return f"{group}_{kind.lower()}_{VERSION}.json", {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"{kind} {group}/{VERSION}", "x-source": source, **schema}


def main(args: list[str]) -> None:
    for arg in args:
        source, _, local = arg.partition("=")
        name, schema = convert(yaml.safe_load(Path(local).read_text()), source)
        target = Path(__file__).with_name(name)
        target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(target)


if __name__ == "__main__":
    main(sys.argv[1:])
