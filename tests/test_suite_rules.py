"""The suite's own rules (tests/conftest.py): the modules that run first."""

from __future__ import annotations

from conftest import RUNS_FIRST, TESTS


def test_every_module_that_runs_first_exists() -> None:
    # Named by path: a renamed or moved module would silently lose its place.
    missing = [name for name in RUNS_FIRST if not (TESTS / name).is_file()]
    assert missing == [], f"RUNS_FIRST names no module at: {missing}"
