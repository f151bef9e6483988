"""The dashboard in a real browser (``fixtures_browser``) against the facade of
``fixtures_api`` and the real control plane.

Pages run under their real Content-Security-Policy, and any CSP violation or script
error fails the test. The accessibility check injects the pinned axe-core
(tests/vendor) in a context that bypasses the CSP for that one script.
"""

from __future__ import annotations

import re

import pytest
from builders import may_read_pod_logs
from fixtures_api import ApiServer
from fixtures_browser import Watched, axe_violations
from fixtures_ui import XSS, create_job, record
from lightkube import Client
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod
from playwright.sync_api import Browser, BrowserContext, expect
from support import set_status, wait_for

from chronos import http
from chronos.api.cache import plain
from chronos.api.runlog import JOB_NAME_LABEL
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster


@pytest.fixture
def namespace(unwatched_namespace: str) -> str:
    """These tests write running runs into a job's status by hand (fixtures_ui)."""
    return unwatched_namespace


def _enabled(k8s: Client, namespace: str, job_id: str) -> bool:
    obj = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))
    return bool(obj["spec"].get("enabled", True))


def test_sign_in_list_disable_and_enable_a_job_and_run_it(
    api_server: ApiServer,
    context: BrowserContext,
    editor_token: str,
    api: http.Client,
    k8s: Client,
    namespace: str,
) -> None:
    job_id = create_job(api, name="browser job")
    tab = Watched(context, api_server.url)
    tab.sign_in(editor_token)
    page = tab.page
    page.get_by_role("link", name="Jobs", exact=True).click()
    row = page.locator(f"#job-{namespace}-{job_id}")
    expect(row).to_contain_text("browser job")
    expect(row).to_contain_text("enabled")

    row.get_by_role("button", name="Disable browser job").click()
    expect(page.get_by_role("status")).to_contain_text("Job disabled")
    expect(page.locator(f"#job-{namespace}-{job_id}")).to_contain_text("suspended")
    assert _enabled(k8s, namespace, job_id) is False

    page.locator(f"#job-{namespace}-{job_id}").get_by_role(
        "button", name="Enable browser job"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("Job enabled")
    assert _enabled(k8s, namespace, job_id) is True

    page.get_by_role("link", name="browser job").click()
    page.get_by_role("link", name="Run now").click()
    page.get_by_role("button", name="Run browser job").click()
    expect(page.get_by_role("status")).to_contain_text("Run requested")
    annotations = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))["metadata"]
    assert "chronos.gluesync.io/run-now" in (annotations.get("annotations") or {})
    assert tab.problems == []


def test_create_a_job_with_the_friendly_form_edit_it_and_delete_it(
    api_server: ApiServer,
    context: BrowserContext,
    editor_token: str,
    k8s: Client,
    namespace: str,
) -> None:
    tab = Watched(context, api_server.url)
    tab.sign_in(editor_token)
    page = tab.page
    tab.goto(f"/ui/jobs?namespace={namespace}")
    page.get_by_role("link", name="New job").click()
    expect(page.get_by_role("heading", name="New job")).to_be_visible()
    # only the ids the task type needs are shown
    expect(page.get_by_label("Group ids (comma-separated; group_* tasks)")).to_be_hidden()
    page.get_by_label("Task type").select_option("group_start")
    expect(page.get_by_label("Entity ids (comma-separated; entity_* tasks)")).to_be_hidden()
    expect(page.get_by_label("Group ids (comma-separated; group_* tasks)")).to_be_visible()
    page.get_by_label("Task type").select_option("entity_start")
    page.get_by_label("Name", exact=True).fill("Friendly <b>form</b> job")
    page.get_by_label("Pipeline id").fill("pipeline-9")
    page.get_by_label("Entity ids (comma-separated; entity_* tasks)").fill("e-1")
    page.get_by_label("Tue").check()
    page.get_by_label("Thu").check()
    page.get_by_label("Hour").fill("6")
    page.get_by_label("Minute").fill("15")
    page.get_by_label("Time zone").fill("Asia/Tokyo")
    preview = page.locator("#preview")
    # the preview follows the form as it is filled in (htmx, no reload)
    expect(preview).to_contain_text("Asia/Tokyo")
    expect(preview).to_contain_text("06:15")
    page.get_by_label("Hour").fill("7")
    expect(preview).to_contain_text("07:15")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("status")).to_contain_text("Job created")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Friendly <b>form</b> job")
    job_id = page.url.rstrip("/").split("/")[-1].split("?")[0]
    spec = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))["spec"]
    assert spec["schedule"] == {"daysOfWeek": ["tuesday", "thursday"], "hour": 7, "minute": 15}

    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name=re.compile("^Edit"))).to_be_visible()
    page.get_by_label("A cron expression").check()
    page.get_by_role("textbox", name="Cron expression").fill("0 9 * * *")
    expect(preview).to_contain_text("09:00")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("Changes saved")
    spec = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))["spec"]
    assert spec["schedule"] == {"cron": "0 9 * * *"}

    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete Friendly <b>form</b> job").click()
    expect(page.get_by_role("status")).to_contain_text("Job deleted")
    names = [
        plain(j)["metadata"]["name"] for j in k8s.list(ChronosJobResource, namespace=namespace)
    ]
    assert job_id not in names
    assert tab.problems == []


def test_a_read_only_user_sees_no_write_buttons(
    api_server: ApiServer,
    context: BrowserContext,
    viewer_token: str,
    api: http.Client,
    namespace: str,
) -> None:
    job_id = create_job(api, name="viewed job")
    tab = Watched(context, api_server.url)
    tab.sign_in(viewer_token)
    tab.goto(f"/ui/jobs?namespace={namespace}")
    page = tab.page
    expect(page.locator(f"#job-{namespace}-{job_id}")).to_contain_text("viewed job")
    expect(
        page.get_by_role("button", name=re.compile("Suspend|Resume|Disable|Enable"))
    ).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    tab.goto(f"/ui/jobs/{namespace}/{job_id}")
    expect(page.get_by_role("heading", name=re.compile("viewed job"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Run now|Delete"))).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Disable|Enable"))).to_have_count(0)
    assert tab.problems == []


def test_the_overview_updates_without_a_reload(
    api_server: ApiServer,
    context: BrowserContext,
    editor_token: str,
    api: http.Client,
) -> None:
    create_job(api, name="first live")
    tab = Watched(context, api_server.url)
    tab.sign_in(editor_token)
    page = tab.page
    jobs = page.locator(".stats div", has_text="Jobs").first.locator("dd")
    expect(jobs).to_have_text("1")
    page.evaluate("window.__notReloaded = true")
    create_job(api, name="second live", schedule=None, cron_expression="0 * * * *")
    expect(jobs).to_have_text("2", timeout=15_000)
    assert page.evaluate("window.__notReloaded") is True
    # hourly: its next runs are among the upcoming runs of the next 24 h
    expect(page.get_by_role("link", name="second live").first).to_be_visible()
    assert tab.problems == []


def test_the_run_page_shows_log_lines_as_text_and_follows_a_live_run(
    api_server: ApiServer,
    context: BrowserContext,
    editor_token: str,
    api: http.Client,
    k8s: Client,
    namespace: str,
) -> None:
    job_id = create_job(api, name="run page")
    done, live = f"{job_id}-1", f"{job_id}-2"
    set_status(k8s, namespace, job_id, {"history": [record(done)], "activeRuns": [live]})
    # the live run's pod exists but has no node here: the stream says "waiting"
    k8s.create(
        Pod(
            metadata=ObjectMeta(
                name=f"{live}-p", namespace=namespace, labels={JOB_NAME_LABEL: live}
            ),
            spec=PodSpec(restartPolicy="Never", containers=[Container(name="r", image="none:0")]),
        )
    )
    tab = Watched(context, api_server.url)
    tab.sign_in(editor_token)
    page = tab.page
    expect(page.get_by_role("link", name=live)).to_be_visible(timeout=15_000)
    tab.goto(f"/ui/jobs/{namespace}/{job_id}")
    page.get_by_role("link", name=done).click()
    expect(page.locator(".banner")).to_contain_text("Failed")
    lines = page.locator("#log .line")
    expect(lines).to_have_count(3)
    expect(lines.nth(1)).to_have_text(XSS)
    assert page.locator("#log img").count() == 0
    # no pods/log for alice: said on the page; with it, the live run's stream is followed
    expect(page.get_by_text("You may not read pod logs")).to_be_visible()
    may_read_pod_logs(k8s, namespace, "alice")
    url = f"/ui/jobs/{namespace}/{job_id}/runs/{live}"

    def offered() -> bool:
        tab.goto(url)
        return page.locator("#log[data-stream]").count() == 1

    wait_for(offered, 15, "the live stream offered")
    expect(page.locator("#log-state")).to_have_text(
        "The run's pod has not started yet.", timeout=15_000
    )
    assert tab.problems == []


def test_every_page_has_no_serious_accessibility_violations(
    api_server: ApiServer,
    browser: Browser,
    editor_token: str,
    api: http.Client,
    k8s: Client,
    namespace: str,
) -> None:
    job_id = create_job(api, name="accessible job", description="<b>not bold</b>")
    set_status(k8s, namespace, job_id, {"history": [record(f"{job_id}-1")]})
    ctx = browser.new_context(bypass_csp=True)  # only so that axe itself can be injected
    try:
        tab = Watched(ctx, api_server.url)
        tab.goto("/ui/login")
        pages = {"/ui/login": axe_violations(tab.page)}
        tab.sign_in(editor_token)
        for path in (
            "/ui/",
            f"/ui/jobs?namespace={namespace}",
            f"/ui/jobs/{namespace}/{job_id}",
            f"/ui/jobs/{namespace}/{job_id}/run",
            f"/ui/jobs/{namespace}/{job_id}/delete",
            f"/ui/jobs/{namespace}/{job_id}/edit",
            f"/ui/jobs/{namespace}/{job_id}/runs/{job_id}-1",
            f"/ui/jobs/new?namespace={namespace}",
            "/ui/jobs/no-such-namespace-x/none",
        ):
            tab.goto(path)
            pages[path] = axe_violations(tab.page)
        found = {
            path: [(v["id"], v["impact"], v["help"]) for v in violations]
            for path, violations in pages.items()
            if violations
        }
        assert found == {}
    finally:
        ctx.close()
