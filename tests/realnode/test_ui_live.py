"""The dashboard in a real browser (``fixtures_browser``) on the REAL node: a job made
with the friendly form, run now from its page, its live log followed from the
overview's "Running now" while the real runner pod writes it, the banner turning to the
result, and an overview left open in another page (never reloaded) that shows the run
running and then among today's successes.

The fake CoreHub takes seconds to activate each entity, so the run lasts long enough
for its log to be seen arriving. Disable/enable/edit/delete: tests/cluster/test_ui_browser.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from builders import may_read_pod_logs
from fixtures_api import ApiServer
from fixtures_browser import Watched
from lightkube import Client
from playwright.sync_api import BrowserContext, Locator, Page, expect
from support import clear_of_midnight, get_cr, wait_for

from chronos.devcluster.operator_process import OperatorProcess
from chronos.fakehub import FakeHubControl

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]

NAME = "Live <i>in</i> the browser"
#: Seconds the fake CoreHub takes to activate each of the job's two entities.
ACTIVATE_SECONDS = 5.0
#: Each line added to the run page's log, when, and what the banner said then.
RECORD_ARRIVALS = """() => {
  window.__arrivals = [];
  const log = document.getElementById("log");
  new MutationObserver((changes) => {
    const banner = document.querySelector(".banner").textContent;
    for (const change of changes) {
      for (const node of change.addedNodes) {
        window.__arrivals.push({at: Date.now(), text: node.textContent, banner: banner});
      }
    }
  }).observe(log, {childList: true});
}"""


def stat(page: Page, label: str) -> Locator:
    return page.locator(".stats div", has=page.locator("dt", has_text=label)).locator("dd")


def create_with_the_form(tab: Watched, namespace: str) -> str:
    """A job made with the friendly form (on a weekday three days away, so its schedule
    stays out of the way); its id."""
    page = tab.page
    tab.goto(f"/ui/jobs/new?namespace={namespace}")
    page.get_by_label("Name", exact=True).fill(NAME)
    page.get_by_label("Task type").select_option("entity_start")
    page.get_by_label("Pipeline id").fill("p1")
    page.get_by_label("Entity ids (comma-separated; entity_* tasks)").fill("e1, e2")
    later = datetime.now(UTC) + timedelta(days=3)
    page.get_by_label(later.strftime("%a"), exact=True).check()
    page.get_by_label("Hour").fill("3")
    page.get_by_label("Minute").fill("0")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("status")).to_contain_text("Job created")
    return page.url.rstrip("/").split("/")[-1].split("?")[0]


def test_a_run_started_in_the_browser_streams_its_log_and_reaches_the_open_overview(
    operator: OperatorProcess,
    fakehub: FakeHubControl,
    k8s: Client,
    runner_rbac: str,
    api_server: ApiServer,
    editor_token: str,
    context: BrowserContext,
) -> None:
    ns = runner_rbac
    # The run it starts is among "today's" on the overview: not when midnight falls between.
    clear_of_midnight(api_server.settings.default_time_zone, after=0, before=300)
    may_read_pod_logs(k8s, ns, "alice")
    fakehub.configure(delays={"activate": ACTIVATE_SECONDS, "stop": 0.05, "snapshot": 0.2})

    # The overview, opened first and never reloaded nor left.
    overview = Watched(context, api_server.url)
    overview.sign_in(editor_token)
    home = overview.page
    home.evaluate("window.__notReloaded = true")
    home_url = home.url

    worker = Watched(context, api_server.url)
    page = worker.page
    job_id = create_with_the_form(worker, ns)
    wait_for(lambda: (get_cr(k8s, ns, job_id).get("status") or {}).get("cronJobName"), 60)
    expect(stat(home, "Jobs")).to_have_text("1", timeout=15_000)
    expect(stat(home, "Succeeded today")).to_have_text("0")

    page.get_by_role("link", name="Run now").click()
    page.get_by_role("button", name=f"Run {NAME}").click()
    expect(page.get_by_role("status")).to_contain_text("Run requested")
    page.get_by_role("link", name="Overview", exact=True).click()
    # the run's link (its id starts with the job's), not the job's nor an Abort
    running = page.get_by_role("region", name="Running now").get_by_role(
        "link", name=re.compile(f"^{re.escape(job_id)}-")
    )
    expect(running).to_be_visible(timeout=60_000)
    run_id = running.inner_text()
    # the overview left open shows it too, with when it started and for how long it has run
    expect(home.get_by_role("link", name=run_id, exact=True)).to_be_visible(timeout=15_000)
    row = home.get_by_role("row").filter(has=home.get_by_role("link", name=run_id, exact=True))
    started, elapsed = row.get_by_role("cell").nth(2), row.get_by_role("cell").nth(3)
    expect(started.locator("time")).to_have_count(1)  # "—" until the operator says
    expect(elapsed).to_have_text(re.compile(r"^\d+ (s|min)"))

    running.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(run_id)
    banner = page.locator(".banner")
    expect(banner).to_contain_text("Running")
    expect(page.get_by_role("region", name="Timings").locator("time")).to_have_count(1)
    page.evaluate(RECORD_ARRIVALS)
    # the log streams live, then ends, and the banner turns to the result
    expect(page.locator("#log-state")).to_contain_text(
        "The run's container has ended", timeout=90_000
    )
    expect(banner).to_contain_text("Succeeded", timeout=30_000)
    expect(banner).not_to_contain_text("Running")
    arrivals: list[dict[str, Any]] = page.evaluate("window.__arrivals")
    while_running = [a for a in arrivals if "Running" in a["banner"]]
    texts = {a["text"] for a in while_running}
    times = sorted(a["at"] for a in while_running)
    assert len(texts) >= 2, arrivals
    # they came as the runner wrote them, seconds apart, not all at once at the end
    assert times[-1] - times[0] > 2000, arrivals
    # the runner's lines are shown as their parts: its result line among them
    expect(page.locator('#log > li.line[data-step="result"] .step')).to_have_text("result")
    # the page says where the lines came from, even if it was made before the pod started
    expect(page.locator("#log-source")).to_contain_text("live from")
    expect(page.locator("#log-note")).to_have_count(0)
    last = (get_cr(k8s, ns, job_id).get("status") or {}).get("lastRun") or {}
    assert last.get("runId") == run_id
    assert last.get("result") == "succeeded"

    # the overview, still the same page, now counts it among today's successes
    expect(stat(home, "Succeeded today")).to_have_text("1", timeout=15_000)
    expect(home.get_by_role("link", name=run_id, exact=True)).to_have_count(0)
    expect(home.get_by_role("region", name="Running now")).to_contain_text("Nothing is running.")
    assert home.evaluate("window.__notReloaded") is True
    assert home.url == home_url
    assert overview.problems == []
    assert worker.problems == []
