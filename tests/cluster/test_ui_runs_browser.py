"""The Runs page and the stats over time in a real browser (``fixtures_browser``):
filtered with its form, exported as a download, an HTML-injection canary in a job's
name, description and a run's message staying text, and axe-core finding no serious
violation on the Runs page, the job page and the overview with their charts."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fixtures_api import ApiServer
from fixtures_browser import Watched, axe_violations
from fixtures_ui import XSS, create_job
from lightkube import Client
from playwright.sync_api import Browser, BrowserContext, expect
from support import set_status

from chronos import http
from chronos.times import rfc3339

pytestmark = pytest.mark.cluster


@pytest.fixture
def namespace(unwatched_namespace: str) -> str:
    """These tests write runs into a job's status by hand (fixtures_ui)."""
    return unwatched_namespace


def _runs(k8s: Client, namespace: str, job_id: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    out = []
    for i, result in enumerate(("succeeded", "failed", "succeeded", "missed", "aborted")):
        ended = now - timedelta(hours=5 + 20 * i)
        out.append(
            {
                "runId": f"{job_id}-{i}",
                "trigger": "schedule",
                "result": result,
                "startTime": rfc3339(ended - timedelta(seconds=30 + i)),
                "endTime": rfc3339(ended),
                "durationSeconds": 30.0 + i,
                "message": XSS,
                "peakCpuMillicores": 20.0 + i,
                "peakMemoryBytes": (30 + i) << 20,
            }
        )
    set_status(k8s, namespace, job_id, {"lastRun": out[0], "history": out})
    return out


def test_the_runs_page_filters_exports_and_keeps_markup_as_text(
    api_server: ApiServer,
    context: BrowserContext,
    editor_token: str,
    api: http.Client,
    k8s: Client,
    namespace: str,
    tmp_path: Path,
) -> None:
    job_id = create_job(api, name=f"canary {XSS}", description=XSS)
    runs = _runs(k8s, namespace, job_id)
    tab = Watched(context, api_server.url)
    tab.sign_in(editor_token)
    page = tab.page
    page.get_by_role("link", name="Runs", exact=True).click()
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    table = page.locator("table.runs tbody")
    expect(table.locator("tr")).to_have_count(len(runs), timeout=15_000)
    expect(table.locator("tr").first).to_contain_text(runs[0]["runId"])
    # The canary is shown as the text it is; no element was made of it.
    expect(table.get_by_role("link", name=f"canary {XSS}").first).to_be_visible()
    expect(table.locator("tr").first).to_contain_text(XSS)
    assert page.locator("img[src=x]").count() == 0

    page.get_by_label("Result").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/ui/runs\?result=failed&"))
    expect(table.locator("tr")).to_have_count(1)
    expect(table).to_contain_text(runs[1]["runId"])

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    saved = tmp_path / "runs.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [r["run_id"] for r in rows] == [runs[1]["runId"]]
    assert rows[0]["message"] == XSS

    page.get_by_role("link", name=runs[1]["runId"]).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(runs[1]["runId"])
    page.get_by_role("link", name=f"canary {XSS}").first.click()
    expect(page.locator("#job-stats-runs")).to_be_visible()
    page.get_by_text("The figures, day by day").click()
    expect(page.locator(".stats-table tbody tr").first).to_contain_text("MiB")
    assert page.locator("img[src=x]").count() == 0
    assert tab.problems == []


def test_no_serious_accessibility_violation_on_the_runs_page_and_the_stats(
    api_server: ApiServer,
    browser: Browser,
    editor_token: str,
    api: http.Client,
    k8s: Client,
    namespace: str,
) -> None:
    job_id = create_job(api, name=f"axe {XSS}", description=XSS)
    _runs(k8s, namespace, job_id)
    ctx = browser.new_context(bypass_csp=True)  # only so that axe itself can be injected
    try:
        tab = Watched(ctx, api_server.url)
        tab.sign_in(editor_token)
        pages = {}
        for path in (
            "/ui/runs",
            "/ui/runs?result=failed",
            f"/ui/jobs/{namespace}/{job_id}",
            "/ui/",
            "/ui/runs?since=not-a-date",
        ):
            tab.goto(path)
            if "job" in path or path == "/ui/runs":
                expect(tab.page.locator("svg.chart, table.runs").first).to_be_visible()
            pages[path] = axe_violations(tab.page)
        found = {
            path: [(v["id"], v["impact"], v["help"]) for v in violations]
            for path, violations in pages.items()
            if violations
        }
        assert found == {}
        assert tab.page.locator("img[src=x]").count() == 0
    finally:
        ctx.close()
