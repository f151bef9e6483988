"""The suite's own rules (tests/conftest.py, tests/README.md): the modules that run first,
which modules a ``-m`` expression lets pytest leave unimported, and where a test module
goes."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from conftest import RUNS_FIRST, RUNS_LAST_IN_FOLDER, deselects_all, module_marks
from support import ROOT, TESTS


def test_every_module_that_runs_first_exists() -> None:
    # Named by path: a renamed or moved module would silently lose its place.
    missing = [name for name in RUNS_FIRST if not (TESTS / name).is_file()]
    assert missing == [], f"RUNS_FIRST names no module at: {missing}"


def test_every_test_that_runs_last_in_its_folder_exists() -> None:
    for nodeid in RUNS_LAST_IN_FOLDER:
        module, test = nodeid.split("::")
        assert f"def {test}(" in (TESTS / module).read_text(), nodeid


def test_a_modules_markers_are_read_without_importing_it(tmp_path: Path) -> None:
    module = tmp_path / "test_x.py"
    body = "\nraise SystemExit('imported')\n"
    module.write_text(
        "import pytest\npytestmark = [pytest.mark.cluster, pytest.mark.realnode]" + body
    )
    assert module_marks(module) == {"cluster", "realnode"}
    module.write_text("import pytest\npytestmark = pytest.mark.cluster" + body)
    assert module_marks(module) == {"cluster"}
    module.write_text("import pytest\n@pytest.mark.cluster\ndef test_x() -> None: ..." + body)
    assert module_marks(module) == set()


def test_only_a_module_whose_every_test_is_deselected_is_left_out() -> None:
    assert deselects_all("not cluster", {"cluster"})
    assert deselects_all("not cluster", {"cluster", "realnode"})
    assert not deselects_all("not cluster", set())
    assert not deselects_all("cluster", {"cluster"})
    # A test of the module may add a marker of its own.
    assert not deselects_all("realnode or slow", {"cluster"})
    assert not deselects_all("cluster and not realnode", {"cluster"})
    assert deselects_all("cluster and not realnode", {"cluster", "realnode"})
    assert deselects_all("not cluster and not images", {"images"})


# ----------------------------------------------------------------- the layout (README)

#: The components of tests/unit/ (tests/README.md says which code each one covers).
UNIT_COMPONENTS = {"api", "operator", "runner", "corehub", "schedule", "models", "common"}
UNIT_COMPONENTS |= {"dev", "suite"}
#: Suffixes that once told unit from cluster tests: the folder says it now.
KIND_SUFFIX = re.compile(r"_(unit|units|cluster|realnode)\.py$")
#: Markers pytest itself defines (everything else is registered in pyproject.toml).
BUILTIN_MARKS = {"parametrize", "xfail", "skip", "skipif", "usefixtures", "filterwarnings"}


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
        assert "addinivalue_line" not in text or path.name == "test_suite_rules.py", path
    assert used - BUILTIN_MARKS <= registered
    assert registered <= used  # no marker left registered that no test uses
