"""Deployment from system.toml: Kubernetes manifests and container images.

`msa deploy render` writes a kustomize tree under `deploy/k8s/` (committed, and
checked for drift by `msa docs --check`); `msa deploy images` writes one
Containerfile per service from one template; `msa deploy try` runs the rendered
dev overlay with `podman kube play`. Like Online Boutique's kustomize folder, a
base holds what every environment shares (the services) and components hold the
optional parts (NetworkPolicies, CloudNativePG, the NATS cluster, Gateway API,
Prometheus operator objects, or plain local PostgreSQL and NATS for podman):

    deploy/k8s/base/                      one file per service + the shared ConfigMap
    deploy/k8s/components/<part>/         network-policies, cloudnative-pg, nats,
                                          gateway-api, monitoring, local-infra
    deploy/k8s/overlays/prod|dev/         which components, image tags, env

Nothing here talks to a cluster; the modules only build dicts (`objects`) and
write files (`layout`).
"""

from msa.tools.deploy.layout import ENVIRONMENTS, RenderOptions, render_tree, write_tree

__all__ = ["ENVIRONMENTS", "RenderOptions", "render_tree", "write_tree"]
