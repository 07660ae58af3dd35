"""Services import the platform through its front door only: `from msa import ...`.

The lint walks every Python file under services/*/src (migrations too) and fails on
`from msa.<module> import ...` or `import msa.<module>`. The front door itself is
checked too: every name in `msa.__all__` resolves, and the names type checkers see
are the names the door hands out at run time.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import msa

ROOT = Path(__file__).resolve().parents[1]

NOT_YET_ON_FRONT_DOOR: frozenset[str] = frozenset()
"""Services whose code still reaches past the front door (their checkout code is being
rewritten); empty this set as each one moves to `from msa import ...`."""


def back_door_imports(path: Path) -> list[str]:
    """`file:line: statement` for each import of an msa module other than `msa` itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.startswith("msa."):
            found.append(f"{where}:{node.lineno}: from {node.module} import")
        elif isinstance(node, ast.Import):
            found += [f"{where}:{node.lineno}: import {alias.name}"
                      for alias in node.names if alias.name.startswith("msa.")]
    return found


def service_folders() -> list[Path]:
    return sorted(path.parent for path in (ROOT / "services").glob("*/pyproject.toml"))


def test_services_import_the_platform_only_through_its_front_door() -> None:
    offences = [
        offence
        for folder in service_folders() if folder.name not in NOT_YET_ON_FRONT_DOOR
        for path in sorted((folder / "src").rglob("*.py"))
        for offence in back_door_imports(path)
    ]
    assert offences == [], "use `from msa import ...`:\n" + "\n".join(offences)


def test_the_allow_list_names_only_services_that_still_need_it() -> None:
    folders = {folder.name: folder for folder in service_folders()}
    unknown = NOT_YET_ON_FRONT_DOOR - set(folders)
    assert unknown == set(), f"not services: {sorted(unknown)}"
    converted = sorted(name for name in NOT_YET_ON_FRONT_DOOR
                       if not any(back_door_imports(path)
                                  for path in (folders[name] / "src").rglob("*.py")))
    assert converted == [], f"already on the front door, take them off the list: {converted}"


def test_the_lint_finds_both_kinds_of_back_door_import(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("import msa.db\nfrom msa.service import Runtime\nfrom msa import emit\n"
                      "def f():\n    from msa.problems import NotFound\n", encoding="utf-8")
    found = back_door_imports(source)
    assert [line.split(": ", 1)[1] for line in found] == [
        "import msa.db", "from msa.service import", "from msa.problems import"]


def test_every_front_door_name_resolves_to_the_platform_object() -> None:
    for name in msa.__all__:
        module_name, attribute = msa._EXPORTS[name]
        assert getattr(msa, name) is getattr(importlib.import_module(module_name), attribute)
    assert sorted(msa.__all__) == sorted(msa._EXPORTS)
    assert 30 <= len(msa.__all__) <= 80


def test_type_checkers_see_the_same_names_as_run_time() -> None:
    tree = ast.parse(Path(msa.__file__).read_text(encoding="utf-8"))
    guarded = next(node for node in tree.body if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    seen = {(alias.asname or alias.name): (stmt.module, alias.name)
            for stmt in guarded.body if isinstance(stmt, ast.ImportFrom)
            for alias in stmt.names}
    assert seen == msa._EXPORTS


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        msa.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("msa.NoSuchThing resolved")
