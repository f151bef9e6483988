"""Run now on the real node: each Idempotency-Key runs exactly once through bursts of
concurrent and sequential keys, the garbage collection of old Jobs and an operator
restart — real runner pods against the fake CoreHub, counted in its command log.

The usual fixture names are bound to the real node (tests/realnode/conftest.py); the
operators started here make runner pods of the real runner image.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from builders import create_chronosjob as create
from builders import grant
from fixtures_api import ApiServer, sa_token
from lightkube import Client
from lightkube.resources.batch_v1 import Job
from lightkube.types import CascadeType
from support import get_cr, wait_for
from support_runnow import (
    STOP,
    accepted_once_each,
    annotation_json,
    jobs_by_token,
    run_now_records,
    send,
)

from chronos import contract as c
from chronos.devcluster.operator_process import OperatorProcess
from chronos.fakehub import FakeCoreHub, FakeHubControl
from realnode.fixtures import Node, chronos_job, install_runner, node_runner_settings

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]


@pytest.fixture
def operator_settings(operator_settings: dict[str, str], real_node: Node) -> dict[str, str]:
    """The session's test settings, plus runner pods of the real runner image."""
    return {**operator_settings, **node_runner_settings(real_node)}


def test_each_key_runs_once_through_bursts_garbage_collection_and_a_restart(
    start_operator: Callable[..., OperatorProcess],
    solo_namespace: str,
    api_server: ApiServer,
    fakehub_server: FakeCoreHub,
    fakehub: FakeHubControl,
    k8s: Client,
) -> None:
    ns = install_runner(k8s, solo_namespace)
    grant(k8s, ns, "alice")
    token = sa_token(k8s, ns, "alice")
    body = chronos_job(fakehub_server.url, {"type": "pipeline_stop", "pipelineId": "p1"})
    create(k8s, ns, "burst", {**body, "concurrencyPolicy": "Allow", "historyLimit": 50})
    operator = start_operator()
    wait_for(lambda: (get_cr(k8s, ns, "burst").get("status") or {}).get("cronJobName"))

    def finished_runs(count: int) -> list[dict[str, Any]] | None:
        records = [
            r for r in run_now_records(k8s, ns, "burst") if r["result"] in ("succeeded", "failed")
        ]
        return records if len(records) >= count else None

    # A burst: six distinct keys at once, each sent twice (a client retrying at once).
    burst = [f"k{i}" for i in range(6)]
    assert accepted_once_each(send(api_server, token, ns, "burst", burst * 2)) == set(burst)
    # Then two more, one after the other.
    for key in ("k6", "k7"):
        assert accepted_once_each(send(api_server, token, ns, "burst", [key])) == {key}
    wait_for(lambda: finished_runs(8), timeout=180, what="eight finished runs")

    # Retries of every key, after their runs: nothing new.
    retries = send(api_server, token, ns, "burst", [f"k{i}" for i in range(8)])
    assert accepted_once_each(retries) == set()

    # The old Job of k0 is garbage-collected (as the CronJob's history limit does).
    for name in jobs_by_token(k8s, ns).get("k0", []):
        k8s.delete(Job, name, namespace=ns, cascade=CascadeType.BACKGROUND)
    wait_for(lambda: "k0" not in jobs_by_token(k8s, ns), what="k0's Job to be gone")
    assert accepted_once_each(send(api_server, token, ns, "burst", ["k0"])) == set()

    # The operator restarts; meanwhile old keys are retried and new ones arrive.
    operator.stop()
    while_down = ["k0", "k3", "k8", "k9", "k8", "k9"]
    assert accepted_once_each(send(api_server, token, ns, "burst", while_down)) == {"k8", "k9"}
    assert set(annotation_json(k8s, ns, "burst", c.RUN_NOW_PENDING_ANNOTATION)) == {"k8", "k9"}
    start_operator()
    wait_for(lambda: finished_runs(10), timeout=120, what="ten finished runs")
    time.sleep(8)  # two housekeeping rounds (3 s each): time for an extra run to show up

    records = run_now_records(k8s, ns, "burst")
    run_ids = [r["runId"] for r in records]
    assert len(run_ids) == 10, records
    assert len(set(run_ids)) == 10  # no record replaced another run's
    assert all(r["result"] == "succeeded" for r in records), records
    assert [cmd["path"] for cmd in fakehub.commands()].count(STOP) == 10, fakehub.commands()
    assert all(len(names) == 1 for names in jobs_by_token(k8s, ns).values())
    served = annotation_json(k8s, ns, "burst", c.RUN_NOW_DONE_ANNOTATION)
    assert set(served) == {f"k{i}" for i in range(10)}
    assert annotation_json(k8s, ns, "burst", c.RUN_NOW_PENDING_ANNOTATION) == {}
