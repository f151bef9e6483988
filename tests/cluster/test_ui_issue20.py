"""Issue 20 on the dashboard, in a real browser (``fixtures_browser``: Debian's chromium
under the pages' real CSP) against the facade of ``fixtures_api`` and the real control
plane with the session's admission policies: the job form's upstream jobs, container
task, waits and run queue; run now with parameters; queued, aborted and chain runs on
the job and run pages, and Abort through the REST abort service."""

from __future__ import annotations

import json
from typing import Any

import pytest
from builders import allow
from fixtures_api import ApiServer
from fixtures_browser import Watched, axe_violations
from fixtures_ui import XSS, create_job
from lightkube import Client
from lightkube.models.batch_v1 import JobSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule
from lightkube.resources.batch_v1 import Job as BatchJob
from lightkube.types import PatchType
from playwright.sync_api import Browser, BrowserContext, Page, expect
from support import set_status, wait_for

from chronos import http
from chronos.api.cache import plain
from chronos.contract import ABORT_ANNOTATION, RUN_NOW_PARAMETERS_ANNOTATION
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster


@pytest.fixture
def namespace(unwatched_namespace: str) -> str:
    """Runs are written into the jobs' status by hand, and run-now requests stay
    pending (no operator serves this namespace)."""
    return unwatched_namespace


def _spec(k8s: Client, namespace: str, job_id: str) -> dict[str, Any]:
    return dict(plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))["spec"])


def _new_job_form(tab: Watched, namespace: str) -> Page:
    tab.goto(f"/ui/jobs/new?namespace={namespace}")
    page = tab.page
    expect(page.get_by_role("heading", name="New job")).to_be_visible()
    return page


def test_the_form_refuses_bad_after_wait_and_container_input_next_to_the_field(
    api_server: ApiServer,
    context: BrowserContext,
    editor_token: str,
    api: http.Client,
    namespace: str,
) -> None:
    tab = Watched(context, api_server.url)
    tab.sign_in(editor_token)
    page = _new_job_form(tab, namespace)
    page.get_by_label("Name", exact=True).fill("refused")
    page.get_by_label("Task type").select_option("entity_wait")
    page.get_by_label("Pipeline id").fill("p1")
    page.get_by_label("Entity ids (comma-separated; entity_* tasks)").fill("e1")
    page.get_by_label("Wait until the entities are (entity_wait, group_wait)").select_option(
        "Active"
    )
    page.get_by_label("Wait at most (seconds)").fill("0")
    page.get_by_label("Upstream job 1 (id)").fill("Not_A_Job")
    page.get_by_label("No schedule: only after the upstream jobs").check()
    page.get_by_role("button", name="Create job").click()
    # 422 (the model's messages), each next to its field, the values kept as typed
    expect(page.locator("#err-after")).to_contain_text("must be a ChronosJob name")
    expect(page.get_by_label("Upstream job 1 (id)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Upstream job 1 (id)")).to_have_value("Not_A_Job")
    expect(page.locator("#err-wait_timeout_seconds")).to_contain_text("greater than or equal")
    # a wait task without a state: the relation rule's 409, by the wait field
    page.get_by_label("Upstream job 1 (id)").fill("upstream")
    page.get_by_label("Wait at most (seconds)").fill("60")
    page.get_by_label("Wait until the entities are (entity_wait, group_wait)").select_option("")
    page.get_by_role("button", name="Create job").click()
    expect(page.locator("#err-wait_state")).to_be_visible()
    expect(page.locator("#err-after")).to_have_count(0)

    # a container task: the CoreHub fields go, the container's come
    page.get_by_label("Task type").select_option("container")
    expect(page.get_by_label("Pipeline id")).to_be_hidden()
    expect(page.get_by_label("Wait at most (seconds)")).to_be_hidden()
    page.get_by_label("Image", exact=True).fill("Not An Image")
    page.get_by_label("Name 1").fill("1BAD")
    page.get_by_label("Value 1").fill(XSS)
    page.get_by_role("button", name="Create job").click()
    expect(page.locator("#err-image")).to_contain_text("must be an image reference")
    expect(page.locator("#err-env")).to_contain_text("environment variable name")
    expect(page.get_by_label("Value 1")).to_have_value(XSS)  # kept, as text
    # well formed, but alice may not create pods: admission's 403, shown on the form
    page.get_by_label("Image", exact=True).fill("busybox:1.36")
    page.get_by_label("Name 1").fill("MODE")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("alert")).to_contain_text("pods")
    assert page.locator("#err-image").count() == 0
    assert api.get("/api/jobs").json()["total"] == 0
    # the browser logs each refused form's 4xx answer; nothing else went wrong
    refused = "/ui/jobs/new'"
    assert [p for p in tab.problems if not ("status of 4" in p and refused in p)] == []
    assert len(tab.problems) == 4


def test_a_chained_container_job_created_in_the_form_reaches_its_stored_spec(
    api_server: ApiServer,
    context: BrowserContext,
    editor_token: str,
    api: http.Client,
    k8s: Client,
    namespace: str,
) -> None:
    upstream = create_job(api, name="orders")
    allow(k8s, namespace, "alice", PolicyRule(apiGroups=[""], resources=["pods"], verbs=["create"]))
    tab = Watched(context, api_server.url)
    tab.sign_in(editor_token)
    page = _new_job_form(tab, namespace)
    page.get_by_label("Name", exact=True).fill("export after orders")
    page.get_by_label("Task type").select_option("container")
    page.get_by_label("Image", exact=True).fill("busybox:1.36")
    page.get_by_label("Command (one item per line; empty: the image's own)").fill("sh\n-c")
    page.get_by_label("Arguments (one per line)").fill("echo $MODE; exit 3")
    page.get_by_label("Name 1").fill("MODE")
    page.get_by_label("Value 1").fill("full")
    page.get_by_label("Upstream job 1 (id)").fill(upstream)
    page.get_by_label("When upstream 1").select_option("Failed")
    page.get_by_label("No schedule: only after the upstream jobs").check()
    expect(page.locator("#preview")).to_contain_text("runs only after its upstream jobs")
    expect(page.get_by_label("Runs that may wait (Enqueue; empty: 10)")).to_be_hidden()
    page.get_by_label("When a run is due while one is active").select_option("Enqueue")
    page.get_by_label("Runs that may wait (Enqueue; empty: 10)").fill("2")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("status")).to_contain_text("Job created")
    job_id = page.url.rstrip("/").split("/")[-1].split("?")[0]
    spec = _spec(k8s, namespace, job_id)
    assert spec["after"] == [{"job": upstream, "when": "Failed"}]
    assert "schedule" not in spec
    assert "pipelineId" not in spec["task"]
    assert spec["task"]["type"] == "container"
    assert spec["task"]["container"] == {
        "image": "busybox:1.36",
        "command": ["sh", "-c"],
        "args": ["echo $MODE; exit 3"],
        "env": [{"name": "MODE", "value": "full"}],
    }
    assert (spec["concurrencyPolicy"], spec["maxQueued"]) == ("Enqueue", 2)
    summary = page.locator("#after")
    expect(summary).to_contain_text(f"{upstream} (Failed)")
    expect(page.get_by_text("none: runs only after its upstream jobs")).to_be_visible()

    # What the form does not show (resources, a Secret reference) survives a save.
    extra = {
        "resources": {"limits": {"memory": "64Mi"}},
        "env": [
            {"name": "MODE", "value": "full"},
            {"name": "TOKEN", "secretKeyRef": {"name": "s", "key": "k"}},
        ],
    }
    k8s.patch(
        ChronosJobResource,
        job_id,
        {"spec": {"task": {"container": extra}}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    # The pages read the facade's watch cache: wait until it holds the patch.
    wait_for(
        lambda: len(api.get(f"/api/jobs/{job_id}").json()["container"]["env"]) == 2,
        what="the patch in the facade's cache",
    )
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_text("TOKEN: key k of Secret s")).to_be_visible()
    page.get_by_label("Arguments (one per line)").fill("exit 4")
    # admission refuses the save (alice may not get that Secret): said on the form
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_contain_text("may not get every Secret")
    expect(page.get_by_label("Arguments (one per line)")).to_have_value("exit 4")
    tab.problems.clear()  # the 403 answer, logged by the browser
    allow(k8s, namespace, "alice", PolicyRule(apiGroups=[""], resources=["secrets"], verbs=["get"]))
    expect(page.get_by_label("Upstream job 1 (id)")).to_have_value(upstream)
    page.get_by_label("Arguments (one per line)").fill("exit 4")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("Changes saved")
    container = _spec(k8s, namespace, job_id)["task"]["container"]
    assert container["args"] == ["exit 4"]
    assert container["resources"] == {"limits": {"memory": "64Mi"}}
    assert container["env"] == extra["env"]
    assert tab.problems == []


def test_run_now_with_parameters_from_the_page_reaches_the_run_now_request(
    api_server: ApiServer,
    context: BrowserContext,
    editor_token: str,
    api: http.Client,
    k8s: Client,
    namespace: str,
) -> None:
    job_id = create_job(api, name="subset", entity_id=None, entity_ids=["e1", "e2", "e3"])
    tab = Watched(context, api_server.url)
    tab.sign_in(editor_token)
    tab.goto(f"/ui/jobs/{namespace}/{job_id}")
    page = tab.page
    page.get_by_role("link", name="Run now").click()
    page.get_by_label("e2").check()
    page.get_by_label("With snapshot").select_option("true")
    page.get_by_label("As of", exact=False).fill("yesterday")
    page.get_by_role("button", name="Run subset").click()
    # refused by the service (422), by the field; nothing requested
    expect(page.locator("#err-as_of")).to_contain_text("RFC 3339")
    expect(page.get_by_label("e2")).to_be_checked()
    tab.problems.clear()  # the 422 answer, logged by the browser
    annotations = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))["metadata"]
    assert RUN_NOW_PARAMETERS_ANNOTATION not in (annotations.get("annotations") or {})
    page.get_by_label("As of", exact=False).fill("2026-03-01T00:00:00Z")
    page.get_by_role("button", name="Run subset").click()
    expect(page.get_by_role("status")).to_contain_text("Run requested")
    annotations = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))["metadata"]
    waiting = json.loads(annotations["annotations"][RUN_NOW_PARAMETERS_ANNOTATION])
    assert list(waiting.values()) == [
        {"entityIds": ["e2"], "withSnapshot": True, "asOf": "2026-03-01T00:00:00Z"}
    ]
    assert _spec(k8s, namespace, job_id)["task"]["entityIds"] == ["e1", "e2", "e3"]
    assert tab.problems == []


#: Holds the aborted run's Job once deleted, so that the test reads what the abort wrote.
HOLD = "chronos.gluesync.io/test-hold"


def _batch_job(k8s: Client, namespace: str, name: str) -> None:
    template = PodTemplateSpec(
        spec=PodSpec(restartPolicy="Never", containers=[Container(name="r", image="none:0")])
    )
    k8s.create(
        BatchJob(
            metadata=ObjectMeta(name=name, namespace=namespace, finalizers=[HOLD]),
            spec=JobSpec(template=template, backoffLimit=0),
        )
    )


def _runs_of_every_kind(
    api: http.Client, k8s: Client, namespace: str
) -> tuple[str, str, str, str, str, str]:
    """An upstream job with a run, and a downstream job with a chain run caused by it,
    an aborted run-now with parameters, an active run and a queued one (written into
    their status by hand). Their ids: upstream, job, upstream run, chain run, aborted
    run, active run."""
    upstream = create_job(api, name="upstream")
    job_id = create_job(api, name="downstream")
    up_run, chain_run, aborted, active = (
        f"{upstream}-1",
        f"{job_id}-c1",
        f"{job_id}-2",
        f"{job_id}-3",
    )
    set_status(
        k8s,
        namespace,
        upstream,
        {"history": [{"runId": up_run, "trigger": "schedule", "result": "succeeded"}]},
    )
    set_status(
        k8s,
        namespace,
        job_id,
        {
            "history": [
                {
                    "runId": chain_run,
                    "trigger": "chain",
                    "result": "succeeded",
                    "cause": {"job": upstream, "runId": up_run, "result": "succeeded"},
                },
                {
                    "runId": aborted,
                    "trigger": "run-now",
                    "result": "aborted",
                    "reason": "Aborted",
                    "message": "aborted by alice",
                    "parameters": {"entityIds": ["entity-456"], "asOf": "2026-03-01T00:00:00Z"},
                },
            ],
            "activeRuns": [active],
            "activeRunStarts": [
                {"runId": active, "trigger": "schedule", "startTime": "2026-11-29T06:00:00Z"}
            ],
            "queued": [
                {
                    "runId": f"{job_id}-29400001",
                    "trigger": "schedule",
                    "scheduledTime": "2026-11-29T06:01:00Z",
                    "queuedAt": "2026-11-29T06:01:00Z",
                }
            ],
        },
    )
    return upstream, job_id, up_run, chain_run, aborted, active


def test_queued_aborted_and_chain_runs_reach_the_pages_and_abort_uses_the_service(
    api_server: ApiServer,
    context: BrowserContext,
    editor_token: str,
    api: http.Client,
    k8s: Client,
    namespace: str,
) -> None:
    upstream, job_id, up_run, chain_run, aborted, active = _runs_of_every_kind(api, k8s, namespace)
    _batch_job(k8s, namespace, active)
    rule = PolicyRule(apiGroups=["batch"], resources=["jobs"], verbs=["get", "delete", "patch"])
    allow(k8s, namespace, "alice", rule)
    tab = Watched(context, api_server.url)
    tab.sign_in(editor_token)
    page = tab.page
    url = f"/ui/jobs/{namespace}/{job_id}"

    def shown() -> bool:
        tab.goto(url)
        return page.locator("#queued").count() == 1

    wait_for(shown, 15, "the queued run on the job page")
    expect(page.locator("#queued")).to_contain_text(f"{job_id}-29400001")
    expect(page.locator("#queued")).to_contain_text("2026-11-29T06:01:00Z")
    history = page.get_by_role("table").filter(has_text=chain_run)
    expect(history.locator("tr", has_text=aborted).locator(".badge.calm")).to_have_text("■ aborted")
    chain_row = history.locator("tr", has_text=chain_run)
    expect(chain_row).to_contain_text(f"after {upstream} run {up_run} (succeeded)")

    # the aborted run's page: its banner and the parameters it ran with
    history.get_by_role("link", name=aborted).click()
    expect(page.locator(".banner")).to_contain_text("Aborted: stopped on request")
    expect(page.get_by_text("entity-456")).to_be_visible()
    # the chain run's page links its cause, which leads to the upstream's run
    tab.goto(f"{url}/runs/{chain_run}")
    expect(page.locator("#cause")).to_contain_text(up_run)
    page.locator("#cause").get_by_role("link", name=up_run).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(up_run)
    expect(page.locator(".banner")).to_contain_text("Succeeded")

    # Abort from the job page: the REST service annotates and deletes the batch Job
    tab.goto(url)
    page.locator("#active").get_by_role("link", name=f"Abort {active}").click()
    page.get_by_role("button", name=f"Abort {active}").click()
    expect(page.get_by_role("status")).to_contain_text("Run aborted")

    def stopped() -> dict[str, Any] | None:
        meta: dict[str, Any] = plain(k8s.get(BatchJob, active, namespace=namespace))["metadata"]
        return meta if meta.get("deletionTimestamp") else None

    meta = wait_for(stopped, 15, "the aborted run's Job to be deleted")
    assert json.loads(meta["annotations"][ABORT_ANNOTATION])["by"].endswith(":alice")
    k8s.patch(
        BatchJob,
        active,
        {"metadata": {"finalizers": None}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    assert tab.problems == []


def test_the_issue_20_pages_have_no_serious_accessibility_violations(
    api_server: ApiServer,
    browser: Browser,
    editor_token: str,
    api: http.Client,
    k8s: Client,
    namespace: str,
) -> None:
    _, job_id, _, chain_run, aborted, _ = _runs_of_every_kind(api, k8s, namespace)
    ctx = browser.new_context(bypass_csp=True)  # only so that axe itself can be injected
    try:
        tab = Watched(ctx, api_server.url)
        tab.sign_in(editor_token)
        url = f"/ui/jobs/{namespace}/{job_id}"

        def queued_shown() -> bool:
            tab.goto(url)
            return tab.page.locator("#queued").count() == 1

        wait_for(queued_shown, 15, "the queued run on the job page")
        found = {url: axe_violations(tab.page)}
        for path in (f"{url}/runs/{chain_run}", f"{url}/runs/{aborted}", f"{url}/run"):
            tab.goto(path)
            found[path] = axe_violations(tab.page)
        tab.goto(f"/ui/jobs/new?namespace={namespace}")
        tab.page.get_by_label("Task type").select_option("container")
        tab.page.get_by_label("When a run is due while one is active").select_option("Enqueue")
        found["form"] = axe_violations(tab.page)
        serious = {p: [(x["id"], x["help"]) for x in v] for p, v in found.items() if v}
        assert serious == {}
    finally:
        ctx.close()
