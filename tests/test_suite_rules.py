"""The suite's own rules (tests/conftest.py): the modules that run first, and which
modules a ``-m`` expression lets pytest leave unimported."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import (
    RUNS_FIRST,
    TESTS,
    deselects_all,
    mark_names,
    module_marks,
)
from support import wait_to_clear_midnight


def test_every_module_that_runs_first_exists() -> None:
    # Named by path: a renamed or moved module would silently lose its place.
    missing = [name for name in RUNS_FIRST if not (TESTS / name).is_file()]
    assert missing == [], f"RUNS_FIRST names no module at: {missing}"


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
    assert deselects_all("not (cluster or images)", {"images"})
    assert not deselects_all("not (cluster or images)", set())


def test_an_expression_beyond_names_and_operators_is_collected_as_usual() -> None:
    # pytest's own parser is private: what ours does not read costs the shortcut only.
    assert mark_names("cluster(speed=1)") is None
    assert mark_names("-cluster") is None
    assert mark_names("cluster and") is None
    assert not deselects_all("not cluster(speed=1)", {"cluster"})
    assert mark_names("not (cluster or realnode) and images") == {"cluster", "realnode", "images"}


def test_every_marker_is_registered_in_pyproject() -> None:
    # Not in a plugin's pytest_configure: one list, where --strict-markers reads it.
    registered = {
        line.split(":", 1)[0]
        for line in tomllib.loads((TESTS.parent / "pyproject.toml").read_text())["tool"]["pytest"][
            "ini_options"
        ]["markers"]
    }
    used: set[str] = set()
    for module in TESTS.rglob("*.py"):
        if "vendor" in module.parts:
            continue
        used |= set(re.findall(r"pytest\.mark\.([a-z_]\w*)", module.read_text()))
    builtin = {"parametrize", "usefixtures", "skip", "skipif", "xfail", "filterwarnings"}
    assert used - builtin <= registered, used - builtin - registered


def test_a_test_counting_today_waits_out_midnight_only_near_it() -> None:
    rome = ZoneInfo("Europe/Rome")
    assert wait_to_clear_midnight(datetime(2026, 12, 5, 12, tzinfo=rome), 90, 60) == 0
    assert wait_to_clear_midnight(datetime(2026, 12, 5, 0, 0, 30, tzinfo=rome), 90, 60) == 60
    assert wait_to_clear_midnight(datetime(2026, 12, 5, 23, 59, 30, tzinfo=rome), 90, 60) == 120
    assert wait_to_clear_midnight(datetime(2026, 12, 5, 23, 59, 30, tzinfo=rome), 0, 60) == 30.5
    assert wait_to_clear_midnight(datetime(2026, 12, 5, 23, 55, tzinfo=rome), 0, 60) == 0
    # the day the clocks go forward is 23 hours long; it still ends at midnight
    spring = datetime(2027, 3, 28, 23, 59, 30, tzinfo=rome)
    assert wait_to_clear_midnight(spring, 90, 60) == 120
    assert wait_to_clear_midnight(datetime(2027, 3, 28, 0, 0, 30, tzinfo=rome), 90, 60) == 60
