"""The run page and its live-log stream over HTTP, against the real control plane: the
banner, timings and entities from a run recorded in status; the log's source named
(the pod's log read as the caller, or the tail kept with the run); escaping; a caller
without ``pods/log`` told so. Streaming from a running pod needs a kubelet:
tests/realnode/test_live_log.py."""

from __future__ import annotations

import html
from typing import Any

import pytest
from builders import may_read_pod_logs
from fixtures_ui import TAIL, XSS, UiUser, create_job, page_when, record
from lightkube import Client
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod
from support import set_status

from chronos import http
from chronos.api.runlog import JOB_NAME_LABEL

pytestmark = pytest.mark.cluster


@pytest.fixture
def namespace(unwatched_namespace: str) -> str:
    """These tests write running runs into a job's status by hand (fixtures_ui)."""
    return unwatched_namespace


def test_a_finished_run_shows_its_banner_entities_and_stored_tail(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name="tailed")
    run = f"{job_id}-7"
    set_status(k8s, namespace, job_id, {"lastRun": record(run), "history": [record(run)]})
    job_page = page_when(editor, f"/ui/jobs/{namespace}/{job_id}", run)
    url = f"/ui/jobs/{namespace}/{job_id}/runs/{run}"
    assert f'href="{url}"' in job_page  # history rows link to their run

    page = editor.client.get(url).text
    assert '<p class="banner bad" role="status"><span aria-hidden="true">✗</span> Failed' in page
    assert "<strong>TaskRejected</strong>" in page
    assert "1 min 15 s" in page
    assert "<td>e1</td>" in page
    # alice may read chronosjobs only: she is told why the pod's log is not shown
    assert 'You may not read pod logs in namespace "' in html.unescape(page)
    assert "(Kubernetes RBAC: get pods/log)" in page
    assert "the log tail kept with the run" in page
    # each JSON line shown as its parts (here a step only), any other line as its text
    assert (
        '<li class="line entry" data-rank="20" data-step="start"><div class="head">'
        '<span class="lvl"></span> <span class="step">start</span>'
    ) in page
    assert '<span class="raw">{&#34;step&#34;: &#34;start&#34;}</span></li>' in page
    assert f'<li class="line text"><span class="raw">{html.escape(XSS)}</span></li>' in page
    # log lines and entity messages are text, never markup
    assert XSS not in page
    assert page.count(html.escape(XSS)) == 2
    assert "data-stream" not in page  # nothing live to follow
    # the download is the lines shown, as logged: here the tail kept with the run
    raw = editor.client.get(f"{url}/log/raw")
    assert raw.status_code == 200
    assert raw.text == TAIL
    assert raw.headers["content-type"] == "text/plain; charset=utf-8"
    assert raw.headers["content-disposition"] == f'attachment; filename="{job_id}-{run}.log"'
    assert f'href="{url}/log/raw" download' in page

    may_read_pod_logs(k8s, namespace, "alice")
    page = page_when(editor, url, "pod is gone")
    assert "The run&#39;s pod is gone (Kubernetes removed its Job)." in page
    assert "the log tail kept with the run" in page
    assert "You may not read pod logs" not in page

    history = api.get(f"/api/jobs/{job_id}/history").json()["items"]
    assert history[0]["log_tail"] == TAIL  # REST has it too


def test_a_missed_run_and_an_unknown_run(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name="missed one")
    slot = "2026-11-29T05:00:00Z"
    missed = {"runId": slot, "trigger": "schedule", "result": "missed", "reason": "Missed"}
    set_status(k8s, namespace, job_id, {"history": [missed]})
    page_when(editor, f"/ui/jobs/{namespace}/{job_id}", "Missed")
    page = editor.client.get(f"/ui/jobs/{namespace}/{job_id}/runs/{slot}").text
    assert "Missed: this slot never ran" in page
    assert 'class="banner warn"' in page
    assert "no log: none was kept with this run" in page
    for path in ("runs/nope", "runs/nope/log/events", "runs/nope/log/raw"):
        unknown = editor.client.get(f"/ui/jobs/{namespace}/{job_id}/{path}")
        assert unknown.status_code == 404
        assert "has no run" in unknown.text


def test_a_running_run_whose_pod_has_not_started(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    """A pod with no node (this control plane has no kubelet) has no log yet: the page
    says so and offers the live stream, which asks the browser to come back."""
    job_id = create_job(api, name="starting")
    run = f"{job_id}-manual-1"
    k8s.create(
        Pod(
            metadata=ObjectMeta(
                name=f"{run}-x1", namespace=namespace, labels={JOB_NAME_LABEL: run}
            ),
            spec=PodSpec(
                restartPolicy="Never", containers=[Container(name="runner", image="none:0")]
            ),
        )
    )
    set_status(k8s, namespace, job_id, {"activeRuns": [run]})
    overview = page_when(editor, "/ui/fragments/overview", run)
    url = f"/ui/jobs/{namespace}/{job_id}/runs/{run}"
    assert f'href="{url}"' in overview  # running now links to the live log
    events = f"{url}/log/events"

    page = editor.client.get(url).text
    assert '<p class="banner run" role="status"><span aria-hidden="true">▶</span> Running' in page
    assert "Known when the run ends." in page
    assert "(Kubernetes RBAC: get pods/log)" in page
    assert "data-stream" not in page
    # without the right the stream says so and ends (no retry loop against a 403)
    with editor.client.stream("GET", events) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.headers["x-accel-buffering"] == "no"
        body = answer.read().decode()
    assert "event: unavailable\ndata: you may not list pods in namespace" in body

    may_read_pod_logs(k8s, namespace, "alice")
    page = page_when(editor, url, "not started yet")
    assert "The run&#39;s pod has not started yet." in page
    assert "Source: <strong>nothing yet</strong>" in page
    assert f'data-stream="{events}"' in page
    with editor.client.stream("GET", events, headers={"Last-Event-ID": "x y"}) as answer:
        body = answer.read().decode()
    # the stream closes; the browser comes back after the retry time
    assert body == "retry: 3000\n\nevent: waiting\ndata: The run's pod has not started yet.\n\n"


def test_a_running_run_s_banner_follows_the_cache_until_its_result(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    """The page of a run in progress fetches its banner, timings and entities again at
    each change of the watch cache, so they turn to the result without a reload
    (tests/realnode/test_ui_live.py watches it happen in a browser)."""
    job_id = create_job(api, name="following")
    run = f"{job_id}-manual-2"
    set_status(k8s, namespace, job_id, {"activeRuns": [run]})
    url = f"/ui/jobs/{namespace}/{job_id}/runs/{run}"
    page = page_when(editor, url, "Running")
    assert 'sse-connect="/ui/events?since=' in page
    assert f'hx-get="{url}/summary" hx-trigger="sse:change"' in page
    assert "Running" in editor.client.get(f"{url}/summary").text

    done = record(run, result="succeeded", reason="Succeeded", message="2 of 2 started")
    set_status(k8s, namespace, job_id, {"activeRuns": [], "history": [done], "lastRun": done})
    summary = page_when(editor, f"{url}/summary", "Succeeded")
    assert '<p class="banner ok" role="status"><span aria-hidden="true">✓</span> Succeeded' in (
        summary
    )
    assert "1 min 15 s" in summary
    assert "<html" not in summary  # the part, not a page
    assert "sse-connect" not in editor.client.get(url).text  # a finished run: nothing to follow
    unknown = editor.client.get(f"/ui/jobs/{namespace}/{job_id}/runs/nope/summary")
    assert unknown.status_code == 404


def test_the_log_stream_and_summary_need_a_session_and_the_right_to_read_the_job(
    api_server: Any, viewer: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name="private")
    set_status(k8s, namespace, job_id, {"activeRuns": [f"{job_id}-1"]})
    run = f"{job_id}/runs/{job_id}-1"
    for part in ("log/events", "summary", "log/raw"):
        with http.Client(base_url=api_server.url, timeout=30, follow_redirects=False) as nobody:
            assert nobody.get(f"/ui/jobs/{namespace}/{run}/{part}").status_code in (303, 401)
        assert viewer.client.get(f"/ui/jobs/other-ns/{run}/{part}").status_code == 403
