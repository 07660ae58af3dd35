"""Every shape of service `msa new service` makes is lint- and type-clean Python on the
front door: with or without a database, publishing, consuming, calling."""

import subprocess
from pathlib import Path

import pytest

from msa.system import load_system
from msa.tools.scaffold import files, plan

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {
    "plain": {},
    "edge": {"database": False, "calls": ["catalog"]},
    "busy": {"publishes": ["busy.parcel.sent.v1", "busy.parcel_label.printed.v2"],
             "consumes": ["orders.order.confirmed.v1", "catalog.book.created.v1"],
             "calls": ["inventory", "wallet"]},
}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The services of every shape, written under one `services/` folder."""
    folder = tmp_path_factory.mktemp("scaffolded") / "services"
    system = load_system(ROOT / "system.toml")
    for name, shape in SHAPES.items():
        for relative, text in files(plan(system, name, "fulfilment", **shape)).items():
            (folder / name / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / name / relative).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_scaffolded_service_is_lint_clean_and_on_the_front_door(
        name: str, services: Path) -> None:
    first_party = '["msa", "catalog", "orders", "' + name + '"]'
    linted = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ruff"), "check", "--no-cache", "--config",
         str(ROOT / "pyproject.toml"), "--config", f"lint.isort.known-first-party = {first_party}",
         str(services / name)], capture_output=True, text=True, check=False)
    assert linted.returncode == 0, linted.stdout
    sources = list((services / name / "src").rglob("*.py"))
    assert sources
    assert not any("from msa." in path.read_text(encoding="utf-8") for path in sources)


def test_every_scaffolded_service_is_type_clean(services: Path) -> None:
    typed = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "mypy"), "--config-file", str(ROOT / "pyproject.toml"),
         *(str(services / name / "src") for name in SHAPES)],
        capture_output=True, text=True, check=False, cwd=services.parent)
    assert typed.returncode == 0, typed.stdout
