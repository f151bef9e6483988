"""The run page's log viewer in a real browser (issue 22, item 5), live and after the
run: runner JSON lines as time · level · step · message with their fields folded,
errors marked, a filter by level and step, the raw view, copy and download, the same
rendering for lines that came live and lines of the finished run's page, markup in log
lines and fields staying text, and axe finding no serious violation.

The run's pod is on a Node whose kubelet is scripted (tests/fakekubelet.py): the API
server reads and follows the pod's log from it, as the caller, exactly as from a real
kubelet; the test writes the lines. A real runner pod: tests/realnode/test_ui_live.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import may_read_pod_logs
from fakekubelet import ScriptedKubelet, completed, running_pod, scripted_node
from fixtures_api import ApiServer
from fixtures_browser import Watched, axe_violations
from fixtures_ui import XSS, create_job, record
from lightkube import Client
from playwright.sync_api import Browser, BrowserContext, Page, expect
from support import set_status, wait_for

from chronos import http
from chronos.api.runlog import download_name

pytestmark = pytest.mark.cluster

#: The run started a little before now (the page's relative times stay sensible).
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)


def _at(seconds: float) -> str:
    return (STARTED + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def _json(at: float, level: str, step: str, message: str, **fields: object) -> str:
    line = {"time": _at(at), "level": level, "step": step, "runId": "r", **fields}
    if message:
        line["message"] = message
    return json.dumps(line, ensure_ascii=False)


#: What the runner "wrote" before the page was made: a start, a non-JSON line (the
#: canary), a warning with the canary in its message and in a field's name and value,
#: and an error.
BEFORE = [
    _json(1, "info", "start", "entity_start on pipeline p1", entities=["e1", "e2"]),
    XSS,
    _json(2, "warning", "retry", XSS, **{XSS: XSS, "attempt": 2}),
    _json(3, "error", "activate", "entity e2 refused", entity="e2", status=409),
]
#: What it writes while the page follows the log.
LIVE = [
    _json(4, "info", "wait", "waiting for e1 to be active"),
    _json(5, "error", "result", "1 of 2 failed", exitCode=3),
]
ALL = BEFORE + LIVE


def _stamp(n: int) -> str:
    """The container runtime's time of the n-th line (RFC 3339, nanoseconds)."""
    return (STARTED + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%S.000000001Z")


@pytest.fixture
def namespace(unwatched_namespace: str) -> str:
    """These tests write running runs into a job's status by hand (fixtures_ui)."""
    return unwatched_namespace


@pytest.fixture
def node(k8s: Client, tmp_path: Path) -> Iterator[tuple[str, ScriptedKubelet]]:
    with scripted_node(k8s, tmp_path) as found:
        yield found


def _lines(page: Page) -> list[str]:
    """Each shown line's markup, as the page holds it."""
    return list(page.locator("#log > li.line").evaluate_all("all => all.map(l => l.outerHTML)"))


def exercise(page: Page, job_id: str, run: str) -> list[str]:
    """Every tool of the viewer on the page's six lines; the lines' markup after."""
    log = page.locator("#log")
    lines = page.locator("#log > li.line")
    expect(lines).to_have_count(len(ALL))
    shown = page.locator("#log > li.line:visible")
    count = page.locator("#log-count")

    # the head of each JSON line: time · level · step · message; errors marked by a
    # sign and the level's word, not by colour alone
    error = lines.nth(3)
    expect(error).to_have_class(re.compile(r"\bis-error\b"))
    expect(error.locator("summary")).to_contain_text(
        re.compile(r"^\d\d:\d\d:\d\d\.\d{3} ✗ ERROR activate entity e2 refused \(3 fields\)$")
    )
    # the non-JSON line is its text; markup in lines and fields stays text
    expect(lines.nth(1)).to_have_text(XSS)
    expect(lines.nth(2).locator(".msg")).to_have_text(XSS)
    assert log.locator("img").count() == 0

    # fold / unfold: the fields are behind the head
    fields = error.locator("dl.fields")
    expect(fields).to_be_hidden()
    error.locator("summary").click()
    expect(fields).to_be_visible()
    expect(fields).to_contain_text("status409")
    expect(lines.nth(2).locator("dl.fields dt").nth(1)).to_have_text(XSS)
    error.locator("summary").click()
    expect(fields).to_be_hidden()

    # filter by level, then by step (a step that came live is offered too)
    page.get_by_label("Level", exact=True).select_option(label="errors only")
    expect(shown).to_have_count(2)
    expect(count).to_have_text("Showing 2 of 6 lines")
    page.get_by_label("Level", exact=True).select_option(label="warnings and errors")
    expect(shown).to_have_count(3)
    page.get_by_label("Level", exact=True).select_option(label="all levels")
    page.get_by_label("Step", exact=True).select_option("wait")
    expect(shown).to_have_count(1)
    expect(shown.first).to_contain_text("waiting for e1 to be active")
    page.get_by_label("Level", exact=True).select_option(label="errors only")
    expect(shown).to_have_count(0)
    page.get_by_label("Step", exact=True).select_option("result")
    expect(shown).to_have_count(1)

    # copy takes the lines shown, as logged
    page.get_by_role("button", name="Copy shown lines").click()
    expect(count).to_have_text("Copied 1 line")
    assert page.evaluate("navigator.clipboard.readText()") == f"{LIVE[1]}\n"
    page.get_by_label("Step", exact=True).select_option("")
    page.get_by_label("Level", exact=True).select_option("")
    expect(shown).to_have_count(len(ALL))
    expect(count).to_have_text("")

    # the raw view: every line as the runner wrote it
    raw = page.get_by_role("button", name="Raw lines")
    raw.click()
    expect(raw).to_have_attribute("aria-pressed", "true")
    assert [line.strip() for line in log.inner_text().splitlines() if line.strip()] == ALL
    raw.click()
    expect(raw).to_have_attribute("aria-pressed", "false")
    expect(lines.nth(0).locator(".raw")).to_be_hidden()

    # download: the raw lines, in a file named after the job and run
    with page.expect_download() as started:
        page.get_by_role("link", name="Download the raw log").click()
    download = started.value
    assert download.suggested_filename == download_name(job_id, run)
    assert Path(download.path()).read_text() == "".join(f"{line}\n" for line in ALL)
    return _lines(page)


def test_the_log_viewer_live_and_after_the_run(
    api_server: ApiServer,
    browser: Browser,
    editor_token: str,
    api: http.Client,
    k8s: Client,
    namespace: str,
    node: tuple[str, ScriptedKubelet],
) -> None:
    node_name, kubelet = node
    job_id = create_job(api, name="log viewer")
    run = f"{job_id}-manual-1"
    set_status(k8s, namespace, job_id, {"activeRuns": [run]})
    pod = running_pod(k8s, namespace, node_name, run, _at(0))
    kubelet.write(pod, *((_stamp(n), text) for n, text in enumerate(BEFORE)))
    may_read_pod_logs(k8s, namespace, "alice")
    url = f"/ui/jobs/{namespace}/{job_id}/runs/{run}"

    context: BrowserContext = browser.new_context(accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=api_server.url)
    try:
        tab = Watched(context, api_server.url)
        tab.sign_in(editor_token)
        page = tab.page

        def following() -> bool:
            tab.goto(url)
            return page.locator("#log[data-stream]").count() == 1

        wait_for(following, 15, "the live log offered")
        expect(page.locator("#log-source")).to_contain_text(f"live from pod {pod}")
        expect(page.locator("#log > li.line")).to_have_count(len(BEFORE))
        expect(page.locator("#log-state")).to_have_text("Following the log live…")
        page.evaluate("window.__notReloaded = true")
        kubelet.write(pod, *((_stamp(len(BEFORE) + n), text) for n, text in enumerate(LIVE)))
        live = exercise(page, job_id, run)
        assert page.evaluate("window.__notReloaded") is True  # the lines came live

        # the run ends: the stream says so, and the finished run's page shows the same
        kubelet.end(pod)
        completed(k8s, namespace, pod, _at(0), _at(6))
        expect(page.locator("#log-state")).to_have_text(
            "The run's container has ended: Completed", timeout=15_000
        )
        done = record(run, startTime=_at(0), endTime=_at(6), logTail="")
        set_status(k8s, namespace, job_id, {"activeRuns": [], "history": [done], "lastRun": done})

        def finished() -> bool:
            tab.goto(url)
            return page.locator("#log[data-stream]").count() == 0

        wait_for(finished, 15, "the finished run's page")
        expect(page.locator("#log-source")).to_contain_text("complete: its container has ended")
        after = exercise(page, job_id, run)
        # one rendering: a line that came live is the very markup of the finished page's
        assert after == live
        assert tab.problems == []
    finally:
        context.close()

    # no serious accessibility violation, with a line unfolded and with the raw view
    axe = browser.new_context(bypass_csp=True)  # only so that axe itself can be injected
    try:
        tab = Watched(axe, api_server.url)
        tab.sign_in(editor_token)
        tab.goto(url)
        page = tab.page
        expect(page.locator("#log > li.line")).to_have_count(len(ALL))
        page.locator("#log summary").nth(2).click()
        found = axe_violations(page)
        page.get_by_role("button", name="Raw lines").click()
        found += axe_violations(page)
        assert [
            (
                v["id"],
                v["impact"],
                v["help"],
                [(n["target"], n.get("failureSummary", "")[:300]) for n in v["nodes"]],
            )
            for v in found
        ] == []
    finally:
        axe.close()
