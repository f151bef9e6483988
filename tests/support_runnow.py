"""Run-now helpers shared by tests/cluster/test_run_now.py and the real node's burst test
(tests/realnode/test_run_now_burst.py)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from fixtures_api import ApiServer
from lightkube import Client
from lightkube.resources.batch_v1 import CronJob, Job
from support import get_cr

from chronos import contract as c

STOP = "/pipelines/p1/commands/sync/stop"


def jobs_by_token(k8s: Client, ns: str) -> dict[str, list[str]]:
    """Run-now Jobs that exist now, by the token that asked for them."""
    found: dict[str, list[str]] = {}
    for job in k8s.list(Job, namespace=ns):
        annotations = (job.metadata.annotations if job.metadata else None) or {}
        token = annotations.get(c.RUN_NOW_TOKEN_ANNOTATION)
        if token is not None and job.metadata is not None:
            found.setdefault(token, []).append(str(job.metadata.name))
    return found


def run_now_records(k8s: Client, ns: str, name: str) -> list[dict[str, Any]]:
    history = (get_cr(k8s, ns, name).get("status") or {}).get("history") or []
    return [h for h in history if h["trigger"] == "run-now"]


def annotation_json(k8s: Client, ns: str, name: str, key: str) -> dict[str, str]:
    raw = (get_cr(k8s, ns, name)["metadata"].get("annotations") or {}).get(key) or "{}"
    value: dict[str, str] = json.loads(raw)
    return value


def send(
    api: ApiServer, token: str, ns: str, job: str, keys: list[str]
) -> list[tuple[str, int, dict[str, Any]]]:
    """POST run for each key at once (a thread and a connection each)."""

    def one(key: str) -> tuple[str, int, dict[str, Any]]:
        with api.client(token, ns) as client:
            r = client.post(f"/api/jobs/{job}/run", headers={"Idempotency-Key": key})
            return key, r.status_code, r.json()

    with ThreadPoolExecutor(len(keys)) as pool:
        return list(pool.map(one, keys))


def accepted_once_each(answers: list[tuple[str, int, dict[str, Any]]]) -> set[str]:
    """Every answer is 200 and each key was accepted (not ``already_requested``) once."""
    assert all(status == 200 for _, status, _ in answers), answers
    accepted = [key for key, _, body in answers if body["already_requested"] is False]
    assert len(accepted) == len(set(accepted)), answers
    return set(accepted)


def active_job(k8s: Client, ns: str, cronjob: str, name: str) -> None:
    """A suspended Job of the ChronosJob: it counts as a run in progress, runs no pod."""
    cj = k8s.get(CronJob, cronjob, namespace=ns).to_dict()
    template = cj["spec"]["jobTemplate"]
    k8s.create(
        cast(
            Job,
            Job.from_dict(
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": name, "namespace": ns, **template["metadata"]},
                    "spec": {**template["spec"], "suspend": True},
                }
            ),
        )
    )
