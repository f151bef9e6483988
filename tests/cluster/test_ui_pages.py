"""The dashboard's pages over HTTP, against the real control plane: sign-in, the cookie,
CSRF, the security headers, escaping, RBAC-gated buttons and 403s, and what each page
shows. The facade is the one ``fixtures_api`` serves (auth on, least-privilege RBAC);
callers are ServiceAccounts with real tokens."""

from __future__ import annotations

import html
import re
import threading
import time
from datetime import UTC, timedelta

import pytest
from builders import allow
from fixtures_api import ApiServer
from fixtures_ui import XSS, UiUser, create_job
from lightkube import ApiError, Client
from lightkube.models.batch_v1 import JobSpec
from lightkube.models.core_v1 import Container, ObjectReference, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule
from lightkube.resources.batch_v1 import Job as BatchJob
from lightkube.resources.core_v1 import Event
from lightkube.types import PatchType
from support import clear_of_midnight, wait_for

from chronos import contract as c
from chronos import http
from chronos.api.cache import plain
from chronos.api.web import CSP
from chronos.kube import ChronosJobResource
from chronos.operator.naming import label_value

pytestmark = pytest.mark.cluster


def _enabled(k8s: Client, namespace: str, job_id: str) -> bool:
    obj = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))
    return bool(obj["spec"].get("enabled", True))


# ------------------------------------------------------------------------ sign-in


def test_sign_in_sets_a_strict_http_only_session_cookie(
    api_server: ApiServer, editor_token: str
) -> None:
    with http.Client(base_url=api_server.url, timeout=30, follow_redirects=False) as client:
        assert client.get("/ui/jobs").headers["location"] == "/ui/login"
        page = client.get("/ui/login")
        assert page.status_code == 200
        assert 'name="token"' in page.text
        assert "Signed in as" not in page.text
        assert "Sign out" not in page.text
        answer = client.post("/ui/login", data={"token": editor_token})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/"
        cookie = answer.headers["set-cookie"]
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "path", "max-age"} <= flags
        assert "samesite=strict" in cookie.lower()
        assert "secure" not in flags  # plain http here; https requests get Secure
        assert editor_token not in cookie
        overview = client.get("/ui/")
        assert overview.status_code == 200
        assert "system:serviceaccount:" in overview.text
        assert ":alice" in overview.text


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 3000])
def test_a_bad_token_is_refused_with_the_sign_in_page(api_server: ApiServer, token: str) -> None:
    with http.Client(base_url=api_server.url, timeout=30, follow_redirects=False) as client:
        answer = client.post("/ui/login", data={"token": token})
        assert answer.status_code == 401
        assert "set-cookie" not in answer.headers
        assert 'role="alert"' in answer.text
        assert client.get("/ui/").status_code == 303


def test_a_forged_cookie_is_not_a_session(api_server: ApiServer) -> None:
    with http.Client(
        base_url=api_server.url,
        timeout=30,
        follow_redirects=False,
        cookies={"chronos_session": "v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    ) as client:
        assert client.get("/ui/jobs").headers["location"] == "/ui/login"


def test_sign_out_drops_the_cookie(editor: UiUser) -> None:
    answer = editor.post("/ui/logout", {"csrf": editor.csrf()})
    assert answer.status_code == 303
    assert "chronos_session=" in answer.headers["set-cookie"]
    assert "max-age=0" in answer.headers["set-cookie"].lower()
    assert editor.client.get("/ui/jobs").status_code == 303


def test_an_authenticating_proxy_s_bearer_header_needs_no_cookie(
    api_server: ApiServer, api: http.Client, editor_token: str, namespace: str
) -> None:
    job_id = create_job(api, name="proxied")
    with api_server.client(editor_token) as client:
        page = client.get("/ui/jobs", params={"namespace": namespace})
        assert page.status_code == 200
        assert f"/ui/jobs/{namespace}/{job_id}" in page.text


# ----------------------------------------------------------------------- headers


def test_pages_carry_a_strict_csp_and_no_framing(editor: UiUser) -> None:
    for path in ("/ui/", "/ui/jobs", "/ui/login"):
        answer = editor.client.get(path)
        assert answer.headers["content-security-policy"] == CSP
        assert "'unsafe-inline'" not in CSP
        assert "frame-ancestors 'none'" in CSP
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
    script = editor.client.get("/ui/static/vendor/htmx-2.0.11.min.js")
    assert script.status_code == 200
    assert script.headers["x-content-type-options"] == "nosniff"


def test_every_script_tag_has_an_integrity_hash_that_matches(editor: UiUser) -> None:
    import base64
    import hashlib

    page = editor.client.get("/ui/").text
    tags = re.findall(r'<script src="([^"]+)" integrity="([^"]+)"', page)
    assert [src for src, _ in tags] == [
        "/ui/static/vendor/htmx-2.0.11.min.js",
        "/ui/static/vendor/htmx-ext-sse-2.2.4.min.js",
        "/ui/static/form.js",
        "/ui/static/runlog.js",
    ]
    assert page.count("<script") == len(tags)
    for src, integrity in tags:
        body = editor.client.get(src).content
        assert integrity == "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


# -------------------------------------------------------------------------- CSRF


def test_a_write_without_the_csrf_token_is_refused_and_changes_nothing(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name="guarded")
    path = f"/ui/jobs/{namespace}/{job_id}/enabled"
    for data, headers in (
        ({"enabled": "false"}, {}),
        ({"enabled": "false", "csrf": "forged"}, {}),
        ({"enabled": "false", "csrf": editor.csrf()}, {"Origin": "http://evil.example"}),
    ):
        answer = editor.post(path, data, **headers)
        assert answer.status_code == 403, data
        assert "CSRF" in html.unescape(answer.text)
        assert _enabled(k8s, namespace, job_id)
    answer = editor.post(path, {"enabled": "false", "csrf": editor.csrf()})
    assert answer.status_code == 303
    assert _enabled(k8s, namespace, job_id) is False


def test_another_user_s_csrf_token_does_not_work(
    editor: UiUser, viewer: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name="theirs")
    answer = editor.post(
        f"/ui/jobs/{namespace}/{job_id}/enabled", {"enabled": "false", "csrf": viewer.csrf()}
    )
    assert answer.status_code == 403
    assert _enabled(k8s, namespace, job_id)


# ---------------------------------------------------------------------- escaping


def test_user_strings_render_as_text(editor: UiUser, api: http.Client, namespace: str) -> None:
    job_id = create_job(api, name=XSS, description="<script>alert(2)</script>")
    for path in (f"/ui/jobs?namespace={namespace}", f"/ui/jobs/{namespace}/{job_id}", "/ui/"):
        text = editor.client.get(path).text
        assert "<img src=x" not in text, path
        assert "<script>alert" not in text, path
    listing = editor.client.get(f"/ui/jobs?namespace={namespace}").text
    assert html.escape(XSS, quote=False) in listing
    detail = editor.client.get(f"/ui/jobs/{namespace}/{job_id}").text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in detail
    # also in a filter value reflected into the form
    reflected = editor.client.get("/ui/jobs", params={"name": '"><script>x</script>'}).text
    assert "<script>x" not in reflected


# ------------------------------------------------------------------------- RBAC


def test_a_read_only_user_sees_no_write_buttons_and_gets_403_when_forcing(
    viewer: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name="look-only")
    listing = viewer.client.get(f"/ui/jobs?namespace={namespace}")
    assert listing.status_code == 200
    assert "look-only" in listing.text
    for button in ("Suspend selected", "Resume selected", ">Disable<", 'name="job"'):
        assert button not in listing.text
    detail = viewer.client.get(f"/ui/jobs/{namespace}/{job_id}").text
    for button in ("Run now", "Delete", ">Disable<", "Edit", "New job"):
        assert button not in detail
    csrf = viewer.csrf()
    forced = [
        (f"/ui/jobs/{namespace}/{job_id}/enabled", {"enabled": "false"}),
        (f"/ui/jobs/{namespace}/{job_id}/run", {"key": "k1"}),
        (f"/ui/jobs/{namespace}/{job_id}/delete", {}),
        ("/ui/jobs/bulk", {"action": "suspend", "job": f"{namespace}/{job_id}"}),
    ]
    for path, data in forced:
        answer = viewer.post(path, {**data, "csrf": csrf})
        assert answer.status_code == 403, path
        assert "text/html" in answer.headers["content-type"]
        assert "may not" in answer.text
        assert "Not allowed" in answer.text
    assert "New job" not in listing.text
    assert viewer.client.get(f"/ui/jobs/new?namespace={namespace}").status_code == 403
    assert viewer.client.get(f"/ui/jobs/{namespace}/{job_id}/edit").status_code == 403
    assert viewer.post(f"/ui/jobs/{namespace}/{job_id}/edit", {"csrf": csrf}).status_code == 403
    assert viewer.post("/ui/jobs/new", {"csrf": csrf, "namespace": namespace}).status_code == 403
    assert viewer.client.get(f"/ui/jobs/{namespace}/{job_id}/run").status_code == 403
    assert viewer.client.get(f"/ui/jobs/{namespace}/{job_id}/delete").status_code == 403
    obj = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))
    assert obj["spec"].get("enabled", True)
    assert "chronos.gluesync.io/run-now" not in (obj["metadata"].get("annotations") or {})


def test_a_user_sees_only_namespaces_they_may_list(
    api_server: ApiServer, viewer: UiUser, api: http.Client, namespace: str, k8s: Client
) -> None:
    create_job(api, name="mine")
    other_ns_jobs = viewer.client.get("/ui/jobs").text
    assert "mine" in other_ns_jobs
    namespaces = set(re.findall(r'href="/ui/jobs/([a-z0-9-]+)/', other_ns_jobs))
    assert namespaces == {namespace}
    asked = viewer.client.get("/ui/jobs", params={"namespace": "kube-system"})
    assert asked.status_code == 403


# ------------------------------------------------------------------------- pages


def test_the_jobs_list_filters_and_toggles(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    a = create_job(api, name="alpha nightly", task_type="pipeline_start", entity_id=None)
    b = create_job(api, name="beta weekly")
    page = editor.client.get(f"/ui/jobs?namespace={namespace}").text
    assert "alpha nightly" in page
    assert "beta weekly" in page
    assert "30 8 * * 1,3,5" in page
    assert "UTC" in page
    only_a = editor.client.get(f"/ui/jobs?namespace={namespace}&task_type=pipeline_start").text
    assert "alpha nightly" in only_a
    assert "beta weekly" not in only_a
    only_b = editor.client.get(f"/ui/jobs?namespace={namespace}&name=BETA").text
    assert "beta weekly" in only_b
    assert "alpha nightly" not in only_b

    back = f"/ui/jobs?namespace={namespace}"
    answer = editor.post(
        f"/ui/jobs/{namespace}/{a}/enabled",
        {"enabled": "false", "next": back, "csrf": editor.csrf()},
    )
    assert answer.headers["location"] == f"{back}&done=disabled"
    assert _enabled(k8s, namespace, a) is False
    suspended = editor.client.get(f"/ui/jobs?namespace={namespace}&state=suspended").text
    assert "alpha nightly" in suspended
    assert "beta weekly" not in suspended

    answer = editor.client.post(
        "/ui/jobs/bulk",
        content=f"csrf={editor.csrf()}&action=suspend&job={namespace}/{a}&job={namespace}/{b}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 303
    assert not _enabled(k8s, namespace, a)
    assert not _enabled(k8s, namespace, b)
    answer = editor.client.post(
        "/ui/jobs/bulk",
        content=f"csrf={editor.csrf()}&action=resume&job={namespace}/{a}&job={namespace}/{b}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert _enabled(k8s, namespace, a)
    assert _enabled(k8s, namespace, b)


def test_the_job_page_runs_now_once_per_confirm_and_deletes_after_confirm(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name="detail job", description="what it does")
    page = editor.client.get(f"/ui/jobs/{namespace}/{job_id}").text
    assert "detail job" in page
    assert "what it does" in page
    assert page.count("<li><time") == 10  # the next 10 runs
    assert "Run now" in page
    assert "Delete" in page

    confirm = editor.client.get(f"/ui/jobs/{namespace}/{job_id}/run").text
    key = re.search(r'name="key" value="([^"]+)"', confirm)
    assert key
    assert "Run “detail job” now?" in html.unescape(confirm)
    data = {"key": key.group(1), "csrf": editor.csrf()}
    first = editor.post(f"/ui/jobs/{namespace}/{job_id}/run", data)
    second = editor.post(f"/ui/jobs/{namespace}/{job_id}/run", data)  # a double click
    assert first.headers["location"].endswith("done=run")
    assert second.headers["location"].endswith("done=run-again")
    obj = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))
    assert obj["metadata"]["annotations"]["chronos.gluesync.io/run-now"] == key.group(1)

    confirm = html.unescape(editor.client.get(f"/ui/jobs/{namespace}/{job_id}/delete").text)
    assert "Delete “detail job”?" in confirm
    assert "Delete detail job" in confirm
    answer = editor.post(f"/ui/jobs/{namespace}/{job_id}/delete", {"csrf": editor.csrf()})
    assert answer.headers["location"] == "/ui/jobs?done=deleted"
    names = [
        plain(j)["metadata"]["name"] for j in k8s.list(ChronosJobResource, namespace=namespace)
    ]
    assert job_id not in names
    assert editor.client.get(f"/ui/jobs/{namespace}/{job_id}").status_code == 404


def test_the_overview_counts_the_caller_s_jobs_and_its_stream_announces_changes(
    editor: UiUser, api: http.Client, namespace: str
) -> None:
    create_job(api, name="first", schedule={"days_of_week": [], "hour": 8, "minute": 30})
    page = editor.client.get("/ui/").text
    total = re.search(r"<dt>Jobs</dt><dd>(\d+)</dd>", page)
    assert total
    assert int(total.group(1)) == 1
    assert "Upcoming runs" in page
    assert "first" in page
    since = re.search(r"/ui/events\?since=(\d+)", page)
    assert since

    lines: list[str] = []

    def listen() -> None:
        with editor.client.stream("GET", f"/ui/events?since={since.group(1)}") as stream:
            for line in stream.iter_lines():
                lines.append(line)
                if line.startswith("event: change"):
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(1.5)
    create_job(api, name="second")
    listener.join(15)
    assert "event: change" in lines
    fragment = editor.client.get("/ui/fragments/overview").text
    assert re.search(r"<dt>Jobs</dt><dd>2</dd>", fragment)


def test_a_shared_page_part_never_shows_one_user_s_buttons_to_another(
    editor: UiUser, viewer: UiUser, api: http.Client, namespace: str
) -> None:
    """The jobs table is rendered once and shared by users who see the same jobs: the
    editor's checkboxes and toggles must not reach the read-only viewer, in either order."""
    create_job(api, name="shared table")
    path = f"/ui/jobs?namespace={namespace}"
    for first, second in ((editor, viewer), (viewer, editor)):
        first.client.get(path)
        assert ('name="job"' in second.client.get(path).text) is (second is editor)
    assert 'name="job"' in editor.client.get(path).text
    assert 'name="job"' not in viewer.client.get(path).text


def test_run_history_shows_on_the_job_page_and_failures_on_the_overview(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str, api_server: ApiServer
) -> None:
    job_id = create_job(api, name="with history")
    # Runs of the last minutes, all on today's date in the zone the overview counts days in
    # (clear of its midnight: fixed times of day were yesterday's or future runs at times).
    now = clear_of_midnight(api_server.settings.default_time_zone).astimezone(UTC)

    def at(seconds_ago: int) -> str:
        return (now - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")

    history = [
        {
            "runId": f"{job_id}-{i}",
            "trigger": "schedule",
            "result": "failed" if i % 2 else "succeeded",
            "startTime": at(80 - 10 * i),
            "endTime": at(50 - 10 * i),
            "durationSeconds": 30.0,
            **({"reason": "CoreHubRejected", "message": "entity <e1> is locked"} if i % 2 else {}),
        }
        for i in range(4, 0, -1)  # newest first
    ]
    k8s.patch(
        ChronosJobResource.Status,
        job_id,
        {"status": {"history": history, "lastRun": history[0]}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    page_url = f"/ui/jobs/{namespace}/{job_id}"
    wait_for(lambda: f"{job_id}-4" in editor.client.get(page_url).text, 15, "the status")
    page = editor.client.get(page_url).text
    last_runs = page.split('id="stats-h"')[1].split("</section>")[0]  # not "Over time"
    assert last_runs.count('<rect x="') == 4
    assert "<dt>Success rate</dt><dd>50 %</dd>" in page
    assert "<dt>Average duration</dt><dd>30 s</dd>" in page
    assert "CoreHubRejected" in page
    assert "entity &lt;e1&gt; is locked" in page
    overview = editor.client.get("/ui/fragments/overview").text
    assert "<dt>Failed today</dt><dd>2</dd>" in overview
    assert "<dt>Succeeded today</dt><dd>2</dd>" in overview
    assert "entity &lt;e1&gt; is locked" in overview


def test_the_job_page_lists_its_events_for_those_who_may_read_them(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name="with events")
    uid = plain(k8s.get(ChronosJobResource, job_id, namespace=namespace))["metadata"]["uid"]
    k8s.create(
        Event(
            metadata=ObjectMeta(name=f"{job_id}.1", namespace=namespace),
            involvedObject=ObjectReference(
                apiVersion="chronos.gluesync.io/v1alpha1",
                kind="ChronosJob",
                name=job_id,
                namespace=namespace,
                uid=uid,
            ),
            reason="ScheduleTooFrequent",
            message="<b>every 10 s</b> is too often",
            type="Warning",
            count=3,
        )
    )
    page_url = f"/ui/jobs/{namespace}/{job_id}"
    # alice may not list Events: the page says so (and still renders)
    assert "do not include listing Events" in editor.client.get(page_url).text
    allow(k8s, namespace, "alice", PolicyRule(apiGroups=[""], resources=["events"], verbs=["list"]))

    def listed() -> str | None:
        text = editor.client.get(page_url).text
        return text if "ScheduleTooFrequent" in text else None

    # the caller's access verdicts are cached briefly (2 s in these tests); Events are
    # listed with the caller's token on every page view
    page = wait_for(listed, 15, "the Events to be listed with the caller's new right")
    assert "&lt;b&gt;every 10 s&lt;/b&gt; is too often" in page


def test_over_https_the_session_cookie_is_secure(api_server: ApiServer, editor_token: str) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (its default FORWARDED_ALLOW_IPS),
    # as it would from a TLS-terminating proxy listed there
    with http.Client(base_url=api_server.url, timeout=30, follow_redirects=False) as client:
        answer = client.post(
            "/ui/login", data={"token": editor_token}, headers={"X-Forwarded-Proto": "https"}
        )
        assert answer.status_code == 303
        flags = {p.strip().lower() for p in answer.headers["set-cookie"].split(";")}
        assert "secure" in flags


def test_the_event_stream_resumes_from_last_event_id(editor: UiUser) -> None:
    """A reconnect with an older Last-Event-ID is told of the change it missed at once;
    with the current one it hears nothing until the next change."""

    def first_event(last_event_id: str, seconds: float) -> list[str]:
        """The stream's lines up to its first event, or all it sent within ``seconds``."""
        lines: list[str] = []

        def listen() -> None:
            with http.Client(
                base_url=str(editor.client.base_url),
                cookies=editor.client.cookies,
                timeout=http.Timeout(seconds),
            ) as own:
                headers = {"Last-Event-ID": last_event_id}
                try:
                    with own.stream("GET", "/ui/events", headers=headers) as stream:
                        for line in stream.iter_lines():
                            lines.append(line)
                            if line.startswith("data:"):
                                return
                except http.TimeoutException:
                    return

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        thread.join(seconds + 10)
        assert not thread.is_alive()
        return lines

    page = editor.client.get("/ui/").text
    since = re.search(r"/ui/events\?since=(\d+)", page)
    assert since
    missed = first_event(str(int(since.group(1)) - 1), 10)
    assert "event: change" in missed
    current = next(line for line in missed if line.startswith("id: ")).removeprefix("id: ")
    quiet = first_event(current, 3)
    assert "retry: 3000" in quiet
    # other tests' jobs may change meanwhile (one shared cache): any event then is a
    # later change, never a repeat of the one this client has seen
    later = [int(line.removeprefix("id: ")) for line in quiet if line.startswith("id: ")]
    assert all(seen > int(current) for seen in later), quiet


def test_abort_deletes_a_running_run_s_job_only_for_who_may_delete_jobs(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name="long runner")
    run = f"{job_id}-manual-1"
    # Marked as this job's run, as the operator marks its Jobs: an operator watching the
    # namespace then keeps activeRuns as the test sets it, rather than emptying it.
    owner = ObjectMeta(
        name=run,
        namespace=namespace,
        labels={c.JOB_LABEL: label_value(job_id)},
        annotations={c.CHRONOSJOB_ANNOTATION: job_id},
    )
    k8s.create(
        BatchJob(
            metadata=owner,
            spec=JobSpec(
                template=PodTemplateSpec(
                    spec=PodSpec(
                        restartPolicy="Never",
                        containers=[Container(name="runner", image="chronos-runner:0.1.0")],
                    )
                )
            ),
        )
    )
    k8s.patch(
        ChronosJobResource.Status,
        job_id,
        {"status": {"activeRuns": [run]}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    abort = f"/ui/jobs/{namespace}/{job_id}/runs/{run}/abort"
    wait_for(lambda: run in editor.client.get("/ui/fragments/overview").text, 15, "the run")
    assert abort not in editor.client.get("/ui/fragments/overview").text
    forced = editor.post(abort, {"csrf": editor.csrf()})
    assert forced.status_code == 403
    assert "may not delete jobs.batch" in forced.text
    assert k8s.get(BatchJob, run, namespace=namespace).metadata is not None

    allow(
        k8s,
        namespace,
        "alice",
        PolicyRule(apiGroups=["batch"], resources=["jobs"], verbs=["delete"]),
    )
    wait_for(lambda: abort in editor.client.get("/ui/fragments/overview").text, 15, "Abort")
    confirm = html.unescape(editor.client.get(abort).text)
    assert f"Abort run {run} of “long runner”?" in confirm
    other = editor.post(
        f"/ui/jobs/{namespace}/{job_id}/runs/{job_id}-other/abort", {"csrf": editor.csrf()}
    )
    # only a run the job lists as active: not any Job the caller may delete
    assert other.status_code == 404
    assert "has no active run" in other.text
    answer = editor.post(abort, {"csrf": editor.csrf()})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ui/?done=aborted"

    def gone() -> bool:
        try:
            job = plain(k8s.get(BatchJob, run, namespace=namespace))
        except ApiError as exc:
            return exc.status.code == 404
        return bool(job["metadata"].get("deletionTimestamp"))

    wait_for(gone, 30, "the run's Job to be deleted")
