"""Screenshots of every dashboard page, for docs/ui.md, from a running system.

    python -m chronos.devcluster.screenshots [--url URL] [--token-file FILE] [--out DIR]

By default it reads what ``make up`` prints and saves: the facade on
``http://127.0.0.1:$CHRONOS_DEVCLUSTER_API_PORT`` (8088) and the token in
``.devcluster/token``. It drives Debian's chromium through Playwright (a development
dependency; ``apt-get install chromium``), signs in, and saves one PNG per page in
``docs/screenshots/``: overview, jobs, a job, one of its runs (when it has run), its
edit form, the new-job form and the run-now confirmation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from chronos.devcluster.__main__ import state_dir
from chronos.devcluster.system import api_port

CHROMIUM = "/usr/bin/chromium"
#: The closed network refuses chromium's background connections: keep it from trying
#: (tests/test_ui_browser.py launches it the same way).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = ("overview", "jobs", "job", "run-log", "edit", "new", "run")


def take(url: str, token: str, out: Path) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def shot(name: str) -> None:
            page.wait_for_load_state("networkidle")
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)

        page.goto(f"{url}/ui/login")
        page.get_by_label("Kubernetes bearer token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        shot("overview")
        page.goto(f"{url}/ui/jobs")
        shot("jobs")
        first = page.locator("table.jobs tbody a").first
        href = first.get_attribute("href")
        if href is None:
            raise SystemExit("no job to show: create one first")
        job = f"{url}{href}"
        page.goto(job)
        shot("job")
        # A run of its history, when it has one: the run page with its log.
        run = page.locator("table a[href*='/runs/']").first
        run_href = run.get_attribute("href") if run.count() else None
        if run_href is not None:
            page.goto(f"{url}{run_href}")
            shot("run-log")
        for name, suffix in (("edit", "/edit"), ("run", "/run")):
            page.goto(job + suffix)
            shot(name)
        page.goto(f"{url}/ui/jobs/new?namespace={urlsplit(job).path.split('/')[3]}")
        shot("new")
        browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=f"http://127.0.0.1:{api_port()}")
    parser.add_argument("--token-file", type=Path, default=state_dir() / "token")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    token = args.token_file.read_text().strip()
    for path in take(args.url.rstrip("/"), token, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
