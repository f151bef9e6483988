"""Where a test module goes (tests/README.md): tests/unit/<component>/, tests/cluster/ or
tests/realnode/, named without a kind suffix, the folder agreeing with the ``cluster``
marker; helpers shared through shared modules, markers declared in pyproject.toml."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from conftest import module_marks
from support import ROOT, TESTS

#: The components of tests/unit/ (tests/README.md says which code each one covers).
UNIT_COMPONENTS = {"api", "operator", "runner", "corehub", "schedule", "models", "common"}
UNIT_COMPONENTS |= {"dev", "suite", "kubectl"}
#: Suffixes that once told unit from cluster tests: the folder says it now.
KIND_SUFFIX = re.compile(r"_(unit|units|cluster|realnode)\.py$")
#: Markers pytest itself and pytest-timeout define (everything else is registered in
#: pyproject.toml).
BUILTIN_MARKS = {"parametrize", "xfail", "skip", "skipif", "usefixtures", "filterwarnings"}
BUILTIN_MARKS |= {"timeout"}  # pytest-timeout


def modules_of_tests() -> list[Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if "vendor" not in p.parts)


def marks_used(tree: ast.Module) -> set[str]:
    """Every ``pytest.mark.X`` / ``mark.X`` written in a module (strings excluded)."""
    return {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Attribute)
        and n.value.attr == "mark"
    }


def test_every_test_module_sits_in_its_folder_under_its_name() -> None:
    misplaced = []
    for path in modules_of_tests():
        parts = path.relative_to(TESTS).parts
        placed = (len(parts) == 2 and parts[0] in ("cluster", "realnode")) or (
            len(parts) == 3 and parts[0] == "unit" and parts[1] in UNIT_COMPONENTS
        )
        if not placed or KIND_SUFFIX.search(path.name):
            misplaced.append("/".join(parts))
    assert misplaced == [], (
        "test modules go to tests/unit/<component>/, tests/cluster/ or tests/realnode/, "
        f"named without a _unit/_units/_cluster suffix (tests/README.md): {misplaced}"
    )


def test_every_folder_of_test_modules_is_a_package() -> None:
    # Packages let two folders hold the same file name (pytest's `prepend` import mode).
    folders = {p.parent for p in modules_of_tests()}
    folders |= {f.parent for f in folders if f.parent != TESTS}
    missing = sorted(
        str(f.relative_to(TESTS)) for f in folders if not (f / "__init__.py").is_file()
    )
    assert missing == []


def test_the_folder_and_the_cluster_marker_agree() -> None:
    """tests/cluster/ and tests/realnode/ put ``cluster`` on the whole module (so that
    ``-m "not cluster"`` leaves them unimported); nothing under tests/unit/ uses it."""
    wrong = []
    for path in modules_of_tests():
        folder = path.relative_to(TESTS).parts[0]
        if folder == "unit":
            if "cluster" in marks_used(ast.parse(path.read_text())):
                wrong.append(f"{path.relative_to(TESTS)}: marked cluster under unit/")
        elif "cluster" not in module_marks(path):
            wrong.append(f"{path.relative_to(TESTS)}: no module-wide cluster marker")
    assert wrong == []


def test_test_modules_import_helpers_from_shared_modules_only() -> None:
    # Importing a test module runs (and, for a fixture, registers) it twice over.
    importing = []
    for path in [*modules_of_tests(), *TESTS.glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1].startswith(
                "test_"
            ):
                importing.append(f"{path.relative_to(TESTS)}: from {node.module}")
    assert importing == []


def test_every_marker_is_registered_in_pyproject_only() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    registered = {m.split(":")[0] for m in config["tool"]["pytest"]["ini_options"]["markers"]}
    used: set[str] = set()
    for path in [*modules_of_tests(), *TESTS.rglob("*.py")]:
        text = path.read_text()
        used |= marks_used(ast.parse(text))
        assert "addinivalue_line" not in text or path.name == "test_layout.py", path
    assert used - BUILTIN_MARKS <= registered
    assert registered <= used  # no marker left registered that no test uses
