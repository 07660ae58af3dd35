"""The kustomize tree: which object goes in which file, and writing it all or nothing.

`render_tree` returns {relative path: text}; `write_tree` writes it into a fresh
temporary folder beside the target and swaps it in, so a failed render leaves the
old tree untouched and a reader never sees half of a new one.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msa.errors import ConfigError
from msa.system import System
from msa.tools.deploy import dev, network, stores, workloads

ENVIRONMENTS = ("dev", "prod")
HEADER = "# Generated from system.toml by `msa deploy render`; do not edit.\n"
DEFAULT_TAG = "unreleased"
"""The image tag until a release sets one (`kustomize edit set image`); never `latest`."""
PROD_COMPONENTS = ("network-policies", "cloudnative-pg", "nats", "gateway-api", "monitoring")
DEV_COMPONENTS = ("local-infra",)
DEV_HOST_DIR = "/var/lib/msa-dev"
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class RenderOptions:
    """What varies between renders: the environments, the image tag, the dev host."""

    environments: tuple[str, ...] = ENVIRONMENTS
    tag: str = DEFAULT_TAG
    dev_ports: dev.HostPorts | None = None
    dev_host_dir: str = DEV_HOST_DIR
    namespace: str = ""


def check_renderable(system: System, options: RenderOptions) -> None:
    """ConfigError (one line) when the input cannot make valid manifests."""
    for env in options.environments:
        if env not in ENVIRONMENTS:
            raise ConfigError(f"unknown environment {env!r} (known: {', '.join(ENVIRONMENTS)})")
    for name in [system.system.name, *system.services]:
        if not _DNS_LABEL.match(name) or len(name) > 40:
            raise ConfigError(f"{name!r} is not a DNS label (lower-case letters, digits and "
                              "'-', at most 40 characters): Kubernetes cannot name it")
    if not _TAG.match(options.tag) or options.tag == "latest":
        raise ConfigError(f"image tag {options.tag!r}: give an explicit tag such as a git sha "
                          "(never 'latest')")


def yaml_documents(objects: list[dict[str, Any]]) -> str:
    """Objects as one multi-document YAML file."""
    from msa.tools.monitoring.render import to_yaml

    bodies = [to_yaml(obj).removeprefix(_monitoring_header()) for obj in objects]
    return HEADER + "---\n".join(bodies)


def _monitoring_header() -> str:
    from msa.tools.monitoring.render import HEADER as MONITORING_HEADER

    return MONITORING_HEADER


def _kustomization(kind: str = "Kustomization", **fields: Any) -> str:
    api = ("kustomize.config.k8s.io/v1alpha1" if kind == "Component"
           else "kustomize.config.k8s.io/v1beta1")
    return yaml_documents([{"apiVersion": api, "kind": kind, **fields}])


def component_objects(system: System, options: RenderOptions) -> dict[str, list[dict[str, Any]]]:
    """component name → its objects."""
    ports = options.dev_ports or dev.HostPorts.of(system)
    return {
        "network-policies": network.policies(system),
        "cloudnative-pg": stores.database_objects(system),
        "nats": stores.nats_objects(system),
        "gateway-api": stores.route_objects(system),
        "monitoring": stores.monitoring_objects(system),
        "local-infra": dev.local_infra(system, options.tag, ports, options.dev_host_dir),
    }


def render_tree(system: System, options: RenderOptions | None = None) -> dict[str, str]:
    """{path relative to the output folder: text} of the base, components and overlays."""
    options = options or RenderOptions()
    check_renderable(system, options)
    tree: dict[str, str] = {}
    base_files = ["system-config.yaml"]
    tree["base/system-config.yaml"] = yaml_documents([workloads.system_config(system)])
    for svc in system.services.values():
        tree[f"base/{svc.name}.yaml"] = yaml_documents(
            workloads.service_objects(system, svc, options.tag))
        base_files.append(f"{svc.name}.yaml")
    tree["base/kustomization.yaml"] = _kustomization(
        resources=base_files,
        labels=[{"pairs": {"app.kubernetes.io/managed-by": "msa"}, "includeSelectors": False}])
    needed = set(PROD_COMPONENTS if "prod" in options.environments else ())
    needed |= set(DEV_COMPONENTS if "dev" in options.environments else ())
    for name, objects in component_objects(system, options).items():
        if name in needed:
            tree[f"components/{name}/{name}.yaml"] = yaml_documents(objects)
            tree[f"components/{name}/kustomization.yaml"] = _kustomization(
                "Component", resources=[f"{name}.yaml"])
    images = [{"name": workloads.image_name(svc.name), "newTag": options.tag}
              for svc in system.services.values()]
    if "prod" in options.environments:
        tree["overlays/prod/kustomization.yaml"] = _kustomization(
            namespace=options.namespace or system.system.name,
            resources=["../../base"],
            components=[f"../../components/{name}" for name in PROD_COMPONENTS],
            images=images)
    if "dev" in options.environments:
        tree.update(_dev_overlay(system, options, images))
    return tree


def _dev_overlay(system: System, options: RenderOptions,
                 images: list[dict[str, str]]) -> dict[str, str]:
    ports = options.dev_ports or dev.HostPorts.of(system)
    patches: list[dict[str, Any]] = [{"path": "system-config.yaml"}]
    for svc in system.services.values():
        patches.append({"target": {"kind": "Deployment", "name": svc.name},
                        "patch": json.dumps(dev.deployment_patch(
                            system, svc.name, ports, options.dev_host_dir))})
    local_images = [{**image, "newName": f"localhost/{image['name']}"} for image in images]
    local_images.append({"name": dev.INFRA_IMAGE, "newName": f"localhost/{dev.INFRA_IMAGE}",
                         "newTag": options.tag})
    return {
        "overlays/dev/kustomization.yaml": _kustomization(
            resources=["../../base"],
            components=[f"../../components/{name}" for name in DEV_COMPONENTS],
            patches=patches, images=local_images),
        "overlays/dev/system-config.yaml": yaml_documents(
            [dev.system_config_patch(system, ports)]),
    }


def write_tree(tree: dict[str, str], out: Path) -> None:
    """Replace the folder `out` with `tree`, all or nothing."""
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for relative, text in tree.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        old = out.with_name(f".{out.name}-old")
        if old.exists():
            shutil.rmtree(old)
        if out.exists():
            out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_tree(out: Path) -> dict[str, str]:
    """The files under `out` as {relative path: text} (for the drift check)."""
    if not out.is_dir():
        return {}
    return {str(path.relative_to(out)): path.read_text(encoding="utf-8")
            for path in sorted(out.rglob("*")) if path.is_file()}
