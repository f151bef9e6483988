"""Fixtures for tests in a real browser: Playwright driving Debian's chromium
(``.ci/run`` installs it; Playwright's own browser download is not used), launched as
``python -m chronos.devcluster.screenshots`` launches it.

Pages run under their real Content-Security-Policy; a :class:`Watched` page keeps every
console error (CSP violations included) and script error, for the test to assert none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from support import TESTS

from chronos.devcluster.screenshots import CHROMIUM, FLAGS

AXE = TESTS / "vendor" / "axe-core-4.14.1.min.js"


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The serious and critical violations the pinned axe-core finds on ``page`` (its
    context must bypass the CSP, only so that axe itself can be injected)."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    assert result["passes"], "axe-core checked nothing"
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install chromium (.ci/run does)"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield launched
        launched.close()


class Watched:
    """A page whose console errors (CSP violations included) and page errors are kept."""

    def __init__(self, context: BrowserContext, base: str) -> None:
        self.page: Page = context.new_page()
        self.base = base
        self.problems: list[str] = []
        self.page.on(
            "console",
            lambda m: self.problems.append(f"{m.text} {m.location}") if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def sign_in(self, token: str) -> None:
        self.goto("/ui/login")
        self.page.get_by_label("Kubernetes bearer token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("heading", name="Overview")).to_be_visible()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    yield ctx
    ctx.close()
