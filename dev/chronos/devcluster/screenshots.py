"""Screenshots of every dashboard page, for docs/ui.md, from a running ``make up`` system.

    python -m chronos.devcluster.screenshots [--url URL] [--token-file FILE] [--out DIR]
        [--job NAMESPACE/ID] [--command-seconds S] [--overview-delay S]

By default it reads what ``make up`` recorded and printed: the dashboard's URL and the
fake CoreHub's (``services.json`` in the state folder) and the sign-in token
(``.devcluster/token``). It drives Debian's chromium through Playwright (a development
dependency; ``apt-get install chromium``), signs in and, on the sample job
(``default/morning-sync``, else the first job listed), presses **Run now**: the run is a
real one, a runner pod on the kind node acting on the fake CoreHub, which answers each
command ``--command-seconds`` late meanwhile (a latency fault, cleared afterwards). It
saves one PNG per page in ``docs/screenshots/``: the run-now confirmation, the run page
while its log streams live, the overview during the run, the run page once it has ended
(its log's result line unfolded), then the jobs list, the job (its history holding the
run, its stats over time), its edit form, the new-job form and the Runs page.
Re-runnable on the same system: each time adds one run.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from chronos.devcluster.kindcluster import state_dir, target
from chronos.devcluster.system import api_port, recorded
from chronos.fakehub import FakeHubControl

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
#: The closed network refuses chromium's background connections: keep it from trying
#: (tests/fixtures_browser.py launches it the same way).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = (
    "run",
    "run-live",
    "overview",
    "run-log",
    "jobs",
    "job",
    "edit",
    "new",
    "runs",
    "cluster",
    "access",
    "activity",
)
SAMPLE_JOB = "default/morning-sync"  # deploy/samples/chronosjob-sample.yaml
#: How long a run may take to start (image already on the node) and to end.
RUN_TIMEOUT_MS = 180_000
#: The longest the Runs page's shot waits for the run's peak CPU and memory.
PEAK_WAIT_SECONDS = 30
#: htmx and the live parts settle this long after a page has loaded.
SETTLE_SECONDS = 1.0


@contextmanager
def slow_hub(url: str | None, seconds: float) -> Iterator[None]:
    """The fake CoreHub answers each command ``seconds`` late meanwhile (a latency fault),
    so that the run lasts long enough to be seen running, whatever state its entities
    are in; the fault is cleared afterwards. A hub with faults of someone else's is
    left alone."""
    if url is None or seconds <= 0:
        yield
        return
    with FakeHubControl(url) as hub:
        if hub.faults():
            print(f"the fake CoreHub at {url} has faults already: not slowing it", flush=True)
            yield
            return
        hub.add_fault("latency", method="POST", path="/commands/", seconds=seconds, count=None)
        try:
            yield
        finally:
            hub.clear_faults()


def _job_path(page: Page, url: str, job: str) -> str:
    """The page of ``job`` (namespace/id) if it exists, else of the first job listed."""
    answer = page.goto(f"{url}/ui/jobs/{job}")
    if answer is not None and answer.ok:
        return f"/ui/jobs/{job}"
    page.goto(f"{url}/ui/jobs")
    href = page.locator("table.jobs tbody a").first.get_attribute("href")
    if href is None:
        raise SystemExit("no job to show: `make up` applies one (deploy/samples)")
    return href


def _wait_idle(page: Page, job_url: str) -> None:
    """Until the job runs nothing (its concurrency policy would refuse another run)."""
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while True:
        page.goto(job_url)
        running = page.locator("dt:text-is('Running now') + dd").inner_text().strip()
        if running == "0":
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{job_url} still has {running} run(s) in progress")
        time.sleep(2)


def take(
    url: str,
    token: str,
    out: Path,
    job: str,
    hub: str | None,
    seconds: float,
    overview_delay: float = 0.0,
) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def shot(name: str) -> None:
            # Not "networkidle": the live pages keep their event streams open.
            page.wait_for_load_state("load")
            time.sleep(SETTLE_SECONDS)
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)
            print(path, flush=True)

        page.goto(f"{url}/ui/login")
        page.get_by_label("Kubernetes bearer token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        job_path = _job_path(page, url, job)
        job_url = f"{url}{job_path}"
        _wait_idle(page, job_url)
        page.goto(f"{job_url}/run")
        shot("run")
        with slow_hub(hub, seconds):
            page.get_by_role("button", name=re.compile("^Run ")).click()
            expect(page.get_by_role("status")).to_contain_text("Run requested")
            page.goto(f"{url}/ui/")
            run_link = page.locator(f"#live a[href^='{job_path}/runs/']").first
            expect(run_link).to_be_visible(timeout=RUN_TIMEOUT_MS)
            run_url = f"{url}{run_link.get_attribute('href')}"
            run_link.click()
            expect(page.locator("#log .line").nth(1)).to_be_attached(timeout=RUN_TIMEOUT_MS)
            shot("run-live")
            page.goto(f"{url}/ui/")
            time.sleep(overview_delay)  # e.g. for metrics-server's first look at the pod
            shot("overview")
            page.goto(run_url)
            banner = page.locator(".banner")
            expect(banner).not_to_contain_text("Running", timeout=RUN_TIMEOUT_MS)
        page.goto(run_url)
        source = page.locator("#log-source").inner_text().strip()
        print(f"the run: {banner.inner_text().strip()} ({run_url}); log {source}", flush=True)
        # the log viewer with the runner's result line unfolded (its fields shown)
        result = page.locator('#log > li.line[data-step="result"] summary')
        if result.count():
            result.last.click()
        shot("run-log")
        page.goto(f"{url}/ui/jobs")
        shot("jobs")
        page.goto(job_url)
        shot("job")
        page.goto(f"{job_url}/edit")
        shot("edit")
        page.goto(f"{url}/ui/jobs/new?namespace={job_path.split('/')[3]}")
        shot("new")
        page.goto(f"{url}/ui/runs")  # every run, the one just taken with its peaks
        # The operator writes a run's peaks into its record one sampling round after the
        # run is recorded (docs/ui.md); a run too short for metrics-server has none.
        deadline = time.monotonic() + PEAK_WAIT_SECONDS
        newest = page.locator("table.runs tbody tr").first
        while "CPU" not in newest.inner_text() and time.monotonic() < deadline:
            time.sleep(2)
            page.reload()
        shot("runs")
        # Issue 22: the Cluster page (leader, replicas, the nodes of runs, the leader's
        # figures) and Your access.
        page.goto(f"{url}/ui/cluster")
        expect(page.locator("#leader-holder")).to_be_visible()
        shot("cluster")
        page.goto(f"{url}/ui/access")
        shot("access")
        # Issue 22: the run-now above and the operator's leader changes, among others.
        page.goto(f"{url}/ui/activity")
        shot("activity")
        browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    system = recorded(target())
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", default=system.api_url if system else f"http://127.0.0.1:{api_port()}"
    )
    parser.add_argument("--token-file", type=Path, default=state_dir() / "token")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--job", default=SAMPLE_JOB, help="namespace/id of the job to run")
    parser.add_argument(
        "--corehub-url",
        default=system.corehub_url if system else None,
        help="the fake CoreHub to slow down during the run (none: the run is as fast as it is)",
    )
    parser.add_argument("--command-seconds", type=float, default=8.0)
    parser.add_argument(
        "--overview-delay",
        type=float,
        default=0.0,
        help="seconds to wait on the overview during the run before its shot "
        "(keep it below the run's length: --command-seconds per command)",
    )
    args = parser.parse_args(argv)
    if not args.token_file.exists():
        raise SystemExit(f"{args.token_file} missing: run `make up` first (it writes the token)")
    token = args.token_file.read_text().strip()
    take(
        args.url.rstrip("/"),
        token,
        args.out,
        args.job,
        args.corehub_url,
        args.command_seconds,
        args.overview_delay,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
