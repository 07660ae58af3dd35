"""The generated CI workflows (.github/workflows, from system.toml by `msa docs`): valid
GitHub Actions workflows (SchemaStore's schema, vendored in tests/data), every command
they run exists, and each service's path filters cover its folder and nothing absent."""

import fnmatch
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from msa.system import load_system
from msa.tools import ci, docs
from msa.tools.cli import app as msa_app

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = load_system(ROOT / "system.toml")
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SCHEMA = json.loads((ROOT / "tests" / "data" / "github-workflow.schema.json").read_text())


def workflow(path: Path) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in loaded:  # YAML 1.1 reads the key `on` as true; GitHub reads it as "on"
        loaded["on"] = loaded.pop(True)
    return loaded


def runs(loaded: dict[str, Any]) -> list[str]:
    return [step["run"] for job in loaded["jobs"].values() for step in job["steps"]
            if "run" in step]


def test_there_is_one_workflow_per_service_and_one_for_the_platform() -> None:
    assert [path.stem for path in WORKFLOWS] == sorted([*SYSTEM.services, "platform"])
    assert docs.stale(SYSTEM) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_each_workflow_is_valid_for_github_actions(path: Path) -> None:
    jsonschema.validate(workflow(path), SCHEMA)


def test_the_schema_refuses_what_github_would_refuse() -> None:
    broken = workflow(ROOT / ".github" / "workflows" / "catalog.yml")
    broken["jobs"]["test"]["runs-on"] = None
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_every_make_target_and_msa_command_run_exists(path: Path) -> None:
    commands = {sub.name for sub in msa_app.registered_groups} | {
        command.name or (command.callback.__name__ if command.callback else "")
        for command in msa_app.registered_commands}
    for line in runs(workflow(path)):
        words = shlex.split(line)
        if words[0] == "make":
            dry = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True,
                                 text=True, check=False)
            assert dry.returncode == 0, f"{line}: {dry.stderr}"
            for recipe in re.findall(r"msa (\w+)", dry.stdout):
                assert recipe in commands | {"deploy"}, f"{line} runs unknown `msa {recipe}`"
        else:
            raise AssertionError(f"{path.name} runs {line!r}: steps run make targets only")


@pytest.mark.parametrize("name", sorted(SYSTEM.services))
def test_a_service_workflow_runs_on_its_folder_and_what_it_is_built_from(name: str) -> None:
    loaded = workflow(ROOT / ".github" / "workflows" / f"{name}.yml")
    paths = loaded["on"]["push"]["paths"]
    assert loaded["on"]["pull_request"]["paths"] == paths
    own = f"services/{SYSTEM.services[name].package}/**"
    assert own in paths and "platform/**" in paths
    others = {f"services/{other.package}/**" for other in SYSTEM.services.values()
              if other.name != name}
    assert others.isdisjoint(paths), "another service's whole folder would trigger this one"
    for pattern in paths:
        assert _matches_something(pattern), f"{name}: path filter {pattern} matches no file"
    assert f"make test-service SERVICE={name}" in runs(loaded)
    deploys = loaded["jobs"]
    assert deploys["deploy-prod"]["environment"]["name"] == "prod"
    assert deploys["deploy-prod"]["needs"] == "deploy-dev"


def test_a_change_in_one_service_triggers_only_its_own_workflow() -> None:
    changed = "services/reviews/src/reviews/domain.py"
    triggered = [path.stem for path in WORKFLOWS
                 if any(fnmatch.fnmatch(changed, pattern)
                        for pattern in workflow(path)["on"]["push"]["paths"])]
    assert triggered == ["reviews"]


def _matches_something(pattern: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for path in _repository_files())


def _repository_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return listed


def test_the_workflows_are_what_the_generator_gives() -> None:
    for path, text in ci.documents(SYSTEM):
        assert path.read_text(encoding="utf-8") == text


def test_msa_docs_removes_the_workflow_of_a_service_gone_but_keeps_hand_written_ones(
        tmp_path: Path) -> None:
    for name in ("system.toml", "README.md"):
        (tmp_path / name).write_text((ROOT / name).read_text(encoding="utf-8"))
    system = load_system(tmp_path / "system.toml")
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    gone = folder / "shipping.yml"
    gone.write_text(ci.render({"name": "shipping"}), encoding="utf-8")
    own = folder / "release.yml"
    own.write_text("name: release\non: push\n", encoding="utf-8")

    docs.write(system)

    assert not gone.exists() and own.exists()
    assert (folder / "catalog.yml").exists()
    assert docs.stale(system) == []
