"""The Runs page, its exports and the stats over time against the real control plane:
runs written into jobs' status (times relative to now), read as a signed-in user with
their own RBAC; filters, bad filters (a 422 page naming the field), a namespace they may
not list (a calm 403), CSV/JSON exports of the filtered view, the stats on the job page
and the overview, and the peak CPU and memory kept in a run's record. The operator's
sampling of a real pod's peaks: tests/realnode/test_run_peaks.py."""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fixtures_ui import XSS, UiUser, create_job, page_when
from lightkube import Client
from lightkube.types import PatchType
from support import set_status

from chronos import http, kube
from chronos.times import rfc3339

pytestmark = pytest.mark.cluster


@pytest.fixture
def namespace(unwatched_namespace: str) -> str:
    """These tests write runs into a job's status by hand (fixtures_ui)."""
    return unwatched_namespace


def run(run_id: str, result: str, ended: datetime, **more: Any) -> dict[str, Any]:
    return {
        "runId": run_id,
        "trigger": "schedule",
        "result": result,
        "startTime": rfc3339(ended - timedelta(seconds=42)),
        "endTime": rfc3339(ended),
        "durationSeconds": 42.0,
        "reportedBy": "runner",
        **more,
    }


def test_every_readable_run_is_listed_filtered_exported_and_counted_over_time(
    editor: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    now = datetime.now(UTC)
    job_id = create_job(api, name=f"Nightly {XSS}", description=XSS)
    other = create_job(api, name="other")
    k8s.patch(
        kube.ChronosJobResource,
        job_id,
        {"metadata": {"labels": {"team": "ops"}}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    newest = run(
        f"{job_id}-3",
        "succeeded",
        now - timedelta(minutes=5),
        peakCpuMillicores=250.0,
        peakMemoryBytes=48 << 20,
    )
    failed = run(
        f"{job_id}-2",
        "failed",
        now - timedelta(days=2),
        reason="TaskRejected",
        message=f'=HYPERLINK("http://evil") {XSS}',
    )
    old = run(f"{job_id}-1", "succeeded", now - timedelta(days=40))
    set_status(k8s, namespace, job_id, {"lastRun": newest, "history": [newest, failed, old]})
    between = run(f"{other}-1", "missed", now - timedelta(hours=1), trigger="catchup")
    set_status(k8s, namespace, other, {"history": [between]})

    page = page_when(editor, "/ui/runs", f"{other}-1")
    assert page_when(editor, "/ui/runs", f"{job_id}-1")
    order = [page.index(f">{r}</a>") for r in (newest["runId"], between["runId"])]
    order += [page.index(f">{r}</a>") for r in (failed["runId"], old["runId"])]
    assert order == sorted(order), "newest first"
    assert "250 m CPU · 48 MiB" in page
    assert XSS not in page
    assert html.escape(XSS, quote=False) in page.replace("&#34;", '"')

    def runs_of(url: str) -> list[str]:
        answer = editor.client.get(url)
        assert answer.status_code == 200, answer.text
        ids = (newest, between, failed, old)
        return [str(r["runId"]) for r in ids if f">{r['runId']}</a>" in answer.text]

    assert runs_of("/ui/runs?result=failed") == [failed["runId"]]
    assert runs_of("/ui/runs?trigger=catchup") == [between["runId"]]
    assert runs_of("/ui/runs?label=team%3Dops") == [newest["runId"], failed["runId"], old["runId"]]
    assert runs_of("/ui/runs?job=other") == [between["runId"]]
    since, until = rfc3339(now - timedelta(days=3)), rfc3339(now - timedelta(days=1))
    assert runs_of(f"/ui/runs?since={since}&until={until}") == [failed["runId"]]
    assert runs_of(f"/ui/runs?since={rfc3339(now - timedelta(hours=2))}") == [
        newest["runId"],
        between["runId"],
    ]

    # Bad filters: a 422 page naming the field, never a 500.
    for query, field in (("result=exploded", "result"), ("since=yesterday", "since")):
        answer = editor.client.get(f"/ui/runs?{query}")
        assert answer.status_code == 422, answer.text
        assert field in answer.text
    # A namespace the caller may not list: said calmly, nothing of it shown.
    answer = editor.client.get("/ui/runs?namespace=kube-system")
    assert answer.status_code == 403
    assert "kube-system" in answer.text

    # The exports hold the filtered view; CSV cells cannot start a formula.
    answer = editor.client.get("/ui/runs/export.csv?label=team%3Dops")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="chronos-runs.csv"' in answer.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["run_id"] for r in table] == [newest["runId"], failed["runId"], old["runId"]]
    assert table[1]["message"].startswith("'=HYPERLINK(")
    assert table[0]["peak_memory_bytes"] == str(48 << 20)
    body = editor.client.get("/ui/runs/export.json?result=succeeded&page=1").json()
    assert body["total"] == 2
    assert [i["run_id"] for i in body["items"]] == [newest["runId"], old["runId"]]
    assert body["items"][0]["peak_cpu_millicores"] == 250.0
    assert editor.client.get("/ui/runs/export.xml").status_code == 404

    # Stats over time: the job's page (its runs in the last 30 days) and the overview.
    job_page = editor.client.get(f"/ui/jobs/{namespace}/{job_id}").text
    assert 'id="job-stats-runs"' in job_page
    assert "Success rate, 7 days</dt><dd>50 %" in job_page
    assert "Runs, 30 days</dt><dd>2<" in job_page
    overview = editor.client.get("/ui/").text
    assert 'id="all-stats-runs"' in overview
    assert "Runs, 30 days</dt><dd>3<" in overview
    assert XSS not in job_page
    assert XSS not in overview

    # The REST history carries the peaks too.
    items = api.get(f"/api/jobs/{job_id}/history").json()["items"]
    assert items[0]["peak_cpu_millicores"] == 250.0
    assert items[0]["peak_memory_bytes"] == 48 << 20


def test_a_viewer_of_one_namespace_sees_only_its_runs(
    viewer: UiUser, api: http.Client, k8s: Client, namespace: str
) -> None:
    job_id = create_job(api, name="seen")
    ended = datetime.now(UTC) - timedelta(minutes=1)
    set_status(k8s, namespace, job_id, {"history": [run(f"{job_id}-1", "succeeded", ended)]})
    page = page_when(viewer, "/ui/runs", f"{job_id}-1")
    assert "1 run<" in page
    # Writing a peak that is not a number is refused by the CRD's schema.
    with pytest.raises(Exception, match="peakCpuMillicores"):
        set_status(
            k8s,
            namespace,
            job_id,
            {"history": [run(f"{job_id}-1", "succeeded", ended, peakCpuMillicores="lots")]},
        )
