"""The overview's CPU and memory on the plain test control plane, which serves no
``metrics.k8s.io``: the page says so calmly (never a 500), tells a caller without the
right that they may not read pod metrics, and its event stream refreshes while a run is
running. The real numbers from a real metrics-server: tests/realnode/test_pod_metrics.py.
"""

from __future__ import annotations

import time

import pytest
from builders import allow
from fixtures_ui import UiUser, create_job, page_when
from lightkube import Client
from lightkube.models.rbac_v1 import PolicyRule
from support import set_status

from chronos import http
from chronos.api.podmetrics import NOT_SERVED
from chronos.api.ui import overview

pytestmark = pytest.mark.cluster


@pytest.fixture
def namespace(unwatched_namespace: str) -> str:
    """These tests write running runs into a job's status by hand (fixtures_ui), as
    tests/cluster/test_ui_runs.py does."""
    return unwatched_namespace


def test_without_metrics_server_the_overview_says_so_and_without_the_right_says_that(
    editor: UiUser,
    api: http.Client,
    k8s: Client,
    namespace: str,
) -> None:
    job_id = create_job(api, name="busy")
    run = f"{job_id}-manual-1"
    set_status(k8s, namespace, job_id, {"activeRuns": [run]})
    # Kubernetes authorizes before it looks the API up: without the right, a 403.
    page = page_when(editor, "/ui/fragments/overview", run)
    assert "you may not read pod metrics there" in page
    assert f"namespace &#34;{namespace}&#34;" in page
    assert "CPU · memory" not in page  # no column without numbers
    assert NOT_SERVED.split(" (")[0] not in page

    allow(
        k8s,
        namespace,
        "alice",
        PolicyRule(apiGroups=["metrics.k8s.io"], resources=["pods"], verbs=["get", "list"]),
    )
    # With the right: a 404, as the group is not served here; the whole page works too.
    page = page_when(editor, "/ui/fragments/overview", "need metrics-server")
    assert "CPU and memory need metrics-server" in page
    assert "you may not read pod metrics" not in page
    assert "CPU · memory" not in page
    assert run in page
    whole = editor.client.get("/ui/")
    assert whole.status_code == 200
    assert "CPU and memory need metrics-server" in whole.text


def test_nothing_running_asks_no_metrics_and_shows_no_note(
    editor: UiUser,
    api: http.Client,
    k8s: Client,
    namespace: str,
) -> None:
    # Every ten minutes: among the next 24 hours' runs whatever the day and hour (the
    # example's Monday/Wednesday/Friday has none on a weekend).
    create_job(api, name="idle", schedule=None, cron_expression="*/10 * * * *")
    page = page_when(editor, "/ui/fragments/overview", "idle")
    assert "Nothing is running." in page
    assert "metrics" not in page


def test_the_event_stream_refreshes_while_a_run_is_running(
    editor: UiUser,
    api: http.Client,
    k8s: Client,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its CPU and memory change while the job's object does not: the stream sends the
    same version again after USAGE_REFRESH_SECONDS (shortened here), so the page
    fetches the overview again."""
    job_id = create_job(api, name="busy")
    set_status(k8s, namespace, job_id, {"activeRuns": [f"{job_id}-manual-1"]})
    page_when(editor, "/ui/fragments/overview", f"{job_id}-manual-1")
    monkeypatch.setattr(overview, "USAGE_REFRESH_SECONDS", 1.0)
    ids: list[str] = []
    started = time.monotonic()
    with editor.client.stream("GET", "/ui/events", timeout=30) as answer:
        for line in answer.iter_lines():
            if line.startswith("id: "):
                ids.append(line.removeprefix("id: "))
            # The first event tells the version; a second with the very same id is a
            # refresh (a change of the shared cache would carry a higher one).
            if len(ids) >= 2 and ids[-1] in ids[:-1]:
                break
            assert time.monotonic() - started < 20, ids
    assert time.monotonic() - started < overview.REFRESH_SECONDS
