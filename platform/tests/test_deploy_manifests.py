"""Kubernetes manifests from system.toml: valid offline, within the policy, exactly the edges.

Every rendered object is validated against the Kubernetes schemas
(kubernetes-validate, strict) or, for custom resources, against the CRD schemas
vendored in deploy/crd-schemas; `kubectl kustomize` builds each overlay where
kubectl exists; the policy checker passes on the render and fails on a render
with a probe or a policy taken out.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from msa.system import System, load_system
from msa.tools.deploy import RenderOptions, policy, render_tree, write_tree
from msa.tools.deploy.layout import PROD_COMPONENTS

ROOT = Path(__file__).parents[2]
KUBERNETES_VERSION = "1.33.0"
CRD_SCHEMAS = ROOT / "deploy" / "crd-schemas"


@pytest.fixture(scope="module")
def system() -> System:
    return load_system(ROOT / "system.toml")


def parse(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def prod_objects(system: System) -> list[dict[str, Any]]:
    """What the prod overlay holds: the base and the prod components (no kubectl needed)."""
    tree = render_tree(system, RenderOptions(environments=("prod",), tag="0123abcd"))
    folders = ("base/", *(f"components/{name}/" for name in PROD_COMPONENTS))
    return [obj for path, text in tree.items()
            if path.startswith(folders) and not path.endswith("kustomization.yaml")
            for obj in parse(text)]


def crd_validators() -> dict[tuple[str, str], jsonschema.Draft7Validator]:
    found = {}
    for path in CRD_SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        key = (schema["properties"]["apiVersion"]["const"], schema["properties"]["kind"]["const"])
        found[key] = jsonschema.Draft7Validator(schema)
    return found


def validation_errors(objects: list[dict[str, Any]]) -> list[str]:
    validators = crd_validators()
    errors = []
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        validator = validators.get((obj["apiVersion"], obj["kind"]))
        if validator is not None:
            errors += [f"{where}: {error.message} at {list(error.absolute_path)}"
                       for error in validator.iter_errors(obj)]
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{where}: no schema for {obj['apiVersion']} {obj['kind']}")
    return errors


def test_every_prod_object_validates_against_kubernetes_or_its_crd_schema(system):
    objects = prod_objects(system)
    kinds = {obj["kind"] for obj in objects}
    assert {"Cluster", "Database", "ServiceMonitor", "PrometheusRule", "HTTPRoute",
            "Deployment", "StatefulSet", "NetworkPolicy", "HorizontalPodAutoscaler",
            "PodDisruptionBudget"} <= kinds
    assert validation_errors(objects) == []


def test_the_crd_schemas_catch_a_wrong_field(system):
    objects = prod_objects(system)
    cluster = next(obj for obj in objects if obj["kind"] == "Cluster")
    route = next(obj for obj in objects if obj["kind"] == "HTTPRoute")
    broken = [{**cluster, "spec": {**cluster["spec"], "instance": 3}},
              {**route, "spec": {**route["spec"], "rules": [{"backendRefs": "gateway"}]}}]
    errors = validation_errors(broken)
    assert len(errors) >= 2
    assert any("instance" in error for error in errors)


def test_the_kubernetes_schemas_catch_a_wrong_field(system):
    deployment = next(obj for obj in prod_objects(system) if obj["kind"] == "Deployment")
    broken = copy.deepcopy(deployment)
    broken["spec"]["replica"] = 2
    assert validation_errors([broken]) != []


def test_the_prod_render_passes_the_policy(system):
    assert policy.violations(prod_objects(system), system) == []


def test_the_policy_fails_when_a_probe_is_dropped(system):
    objects = prod_objects(system)
    deployment = next(obj for obj in objects if obj["kind"] == "Deployment"
                      and obj["metadata"]["name"] == "wallet")
    del deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert policy.violations(objects, system) == [
        "Deployment/wallet wallet: no readinessProbe"]


def test_the_policy_fails_when_a_network_policy_is_dropped(system):
    objects = [obj for obj in prod_objects(system)
               if not (obj["kind"] == "NetworkPolicy" and obj["metadata"]["name"] == "ledger")]
    found = policy.violations(objects, system)
    assert "service ledger: no NetworkPolicy" in found
    assert any("misses declared" in line and "('orders', 'ledger')" in line for line in found)


def test_the_policy_fails_on_an_undeclared_edge_or_latest(system):
    objects = prod_objects(system)
    reviews = next(obj for obj in objects if obj["kind"] == "NetworkPolicy"
                   and obj["metadata"]["name"] == "reviews")
    reviews["spec"]["egress"].append({"to": [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "wallet"}}}]})
    catalog = next(obj for obj in objects if obj["kind"] == "Deployment"
                   and obj["metadata"]["name"] == "catalog")
    catalog["spec"]["template"]["spec"]["containers"][0]["image"] = "bookstore-catalog:latest"
    found = policy.violations(objects, system)
    assert "NetworkPolicy egress_calls: allows undeclared [('reviews', 'wallet')]" in found
    assert any("bookstore-catalog:latest" in line for line in found)


def test_network_policies_allow_exactly_the_declared_edges(system):
    allowed = policy.allowed_edges(prod_objects(system), system)
    assert ("orders", "wallet") in allowed["egress_calls"]
    assert ("gateway", "orders") in allowed["ingress_calls"]
    assert ("wallet", "orders") not in allowed["egress_calls"]
    assert "gateway" not in allowed["to_nats"] and "identity" not in allowed["to_nats"]
    assert "notifications" in allowed["to_nats"] and "gateway" not in allowed["to_database"]


def test_nats_keeps_every_write_and_runs_three_replicas(system):
    objects = prod_objects(system)
    config = next(obj for obj in objects if obj["metadata"]["name"] == "nats-config")
    nats = next(obj for obj in objects if obj["kind"] == "StatefulSet")
    assert "sync_interval: always" in config["data"]["nats.conf"]
    assert nats["spec"]["replicas"] == 3


def test_replicas_and_databases_follow_system_toml(system):
    objects = prod_objects(system)
    deployments = {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == "Deployment"}
    assert deployments["orders"]["spec"]["replicas"] == system.services["orders"].replicas == 2
    assert "initContainers" not in deployments["gateway"]["spec"]["template"]["spec"]
    cluster = next(obj for obj in objects if obj["kind"] == "Cluster")
    roles = {role["name"] for role in cluster["spec"]["managed"]["roles"]}
    databases = {obj["spec"]["name"] for obj in objects if obj["kind"] == "Database"}
    assert roles == databases == {svc.name for svc in system.with_database()}


def test_no_secret_value_is_rendered(system):
    tree = render_tree(system)
    assert not any(obj.get("kind") == "Secret" for text in tree.values() for obj in parse(text))
    assert not any("password@" in text or "stringData" in text for text in tree.values())


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_kubectl_kustomize_builds_each_overlay(system, tmp_path, env):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the overlays were not built with kustomize")
    write_tree(render_tree(system), tmp_path / "k8s")
    built = subprocess.run([kubectl, "kustomize", str(tmp_path / "k8s" / "overlays" / env)],
                           capture_output=True, text=True, timeout=120, check=True).stdout
    objects = parse(built)
    assert validation_errors(objects) == []
    deployments = [obj for obj in objects if obj["kind"] == "Deployment"]
    assert {obj["metadata"]["name"] for obj in deployments} >= set(system.services)
    if env == "prod":
        assert policy.violations(objects, system) == []
        assert {obj["metadata"].get("namespace") for obj in objects} == {"bookstore"}
    else:
        assert all(obj["spec"]["template"]["spec"]["hostNetwork"] for obj in deployments)
        assert not [obj for obj in objects if obj["kind"] in ("Cluster", "NetworkPolicy")]
        for obj in deployments:
            image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
            assert image.startswith("localhost/bookstore-") and image.endswith(":unreleased")


def run_msa(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    import sys

    return subprocess.run([sys.executable, "-m", "msa.tools.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_an_unknown_environment_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "k8s"
    result = run_msa("deploy", "render", "--env", "staging", "--out", str(out))
    assert result.returncode == 1
    assert result.stderr == "msa: unknown environment 'staging' (known: dev, prod)\n"
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_service_name_that_is_no_dns_label_is_refused_and_the_old_render_kept(tmp_path):
    text = (ROOT / "system.toml").read_text()
    text = text.replace("[services.ledger]", "[services.old_ledger]").replace(
        '"ledger"]', '"old_ledger"]').replace('"wallet", "ledger"', '"wallet", "old_ledger"')
    (tmp_path / "system.toml").write_text(text)
    out = tmp_path / "k8s"
    out.mkdir()
    (out / "kept.yaml").write_text("kept\n")
    result = run_msa("--system", str(tmp_path / "system.toml"), "deploy", "render",
                     "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("msa: 'old_ledger' is not a DNS label")
    assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k8s", "system.toml"]
    assert [p.name for p in out.iterdir()] == ["kept.yaml"]


def test_render_replaces_the_output_folder_whole(tmp_path):
    out = tmp_path / "k8s"
    out.mkdir()
    (out / "stale.yaml").write_text("from an older render\n")
    result = run_msa("deploy", "render", "--env", "prod", "--tag", "abc123", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert not (out / "stale.yaml").exists()
    assert not (out / "overlays" / "dev").exists()
    assert "newTag: \"abc123\"" in (out / "overlays" / "prod" / "kustomization.yaml").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["k8s"]


def test_msa_docs_finds_and_removes_a_file_the_render_no_longer_makes(tmp_path):
    from msa.tools import docs

    for name in ("system.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    copy = load_system(tmp_path / "system.toml")
    docs.write(copy)
    assert docs.stale(copy) == []
    left = tmp_path / "deploy" / "k8s" / "base" / "retired.yaml"
    left.write_text("kind: Service\n")
    assert docs.stale(copy) == [left]
    assert docs.write(copy) == [left] and not left.exists()
    assert (tmp_path / "deploy" / "k8s" / "overlays" / "prod" / "kustomization.yaml").exists()


def _by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def test_nats_has_a_user_per_service_with_its_declared_permissions_and_no_password(system,
                                                                                  tmp_path):
    from msa.nats_auth import nats_users, server_authorization, service_permissions
    from msa.tools.deploy.stores import NATS_LOGINS, password_variable

    objects = prod_objects(system)
    config = _by_kind(objects, "ConfigMap")["nats-config"]["data"]["nats.conf"]
    users = nats_users(system)
    assert "orders" in users and "operator" in users and "gateway" not in users
    # the rendered block is the runner's, each password an (unquoted) environment variable
    rendered = re.sub(r"(\$NATS_PASSWORD_\w+)", r'"\1"', config.partition("authorization ")[2])
    expected = server_authorization(system, {u: f"${password_variable(u)}" for u in users})
    assert json.loads(rendered) == json.loads(expected.partition("authorization ")[2])
    assert [u["permissions"] for u in json.loads(rendered)["users"] if u["user"] == "orders"] \
        == [service_permissions(system, "orders")]
    [nats] = _by_kind(objects, "StatefulSet").values()
    env = {item["name"]: item for item in nats["spec"]["template"]["spec"]["containers"][0]["env"]}
    for user in users:
        assert env[password_variable(user)]["valueFrom"]["secretKeyRef"] == {
            "name": NATS_LOGINS, "key": user}
    # the real server accepts the config, with the passwords from the environment only
    nats_server = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    (tmp_path / "nats.conf").write_text(config.replace("/data", str(tmp_path)))
    bound = {password_variable(user): f"pw-{user}" for user in users}
    checked = subprocess.run([nats_server, "-c", str(tmp_path / "nats.conf"), "-t"],
                             capture_output=True, text=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin", "POD_NAME": "nats-0", **bound})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    missing = subprocess.run([nats_server, "-c", str(tmp_path / "nats.conf"), "-t"],
                             capture_output=True, text=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin", "POD_NAME": "nats-0"})
    assert missing.returncode != 0 and "NATS_PASSWORD_" in missing.stdout + missing.stderr


def test_each_service_on_nats_reads_its_own_password_where_the_platform_looks(system):
    from msa.nats_auth import password_file, uses_nats
    from msa.tools.deploy.workloads import DATA_DIR, nats_secret

    deployments = _by_kind(prod_objects(system), "Deployment")
    for name in system.services:
        spec = deployments[name]["spec"]["template"]["spec"]
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        mounts = {mount["name"]: mount for mount in spec["containers"][0]["volumeMounts"]}
        if not uses_nats(system, name):
            assert "nats-credentials" not in volumes, name
            continue
        secret = volumes["nats-credentials"]["secret"]
        assert secret["secretName"] == nats_secret(name)
        [item] = secret["items"]
        mounted = Path(mounts["nats-credentials"]["mountPath"]) / item["path"]
        assert mounted == password_file(DATA_DIR, name), name


def test_nats_secrets_are_made_fresh_and_validate(system):
    from msa.nats_auth import nats_users
    from msa.tools.deploy.stores import NATS_LOGINS, nats_secrets

    first, second = nats_secrets(system, "shop"), nats_secrets(system, "shop")
    assert validation_errors(first) == []
    names = [secret["metadata"]["name"] for secret in first]
    assert names[0] == NATS_LOGINS
    assert sorted(names[1:]) == sorted(f"msa-nats-{user}" for user in nats_users(system))
    servers = first[0]["stringData"]
    for secret in first[1:]:
        user = secret["metadata"]["name"].removeprefix("msa-nats-")
        assert secret["stringData"] == {"password": servers[user]}  # the two agree
    assert servers != second[0]["stringData"]  # random each time: none is in the repository
    assert all(len(password) >= 24 for password in servers.values())
