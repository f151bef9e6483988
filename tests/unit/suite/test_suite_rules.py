"""The suite's own rules (tests/conftest.py): the modules that run first, and which
modules a ``-m`` expression lets pytest leave unimported."""

from __future__ import annotations

from pathlib import Path

from conftest import RUNS_FIRST, RUNS_LAST_IN_FOLDER, TESTS, deselects_all, module_marks


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
