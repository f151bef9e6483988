"""The local control plane is real: CronJobs fire in their zone, GC collects, tokens work."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from builders import cron_job, service_account
from lightkube import Client
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, ServiceAccount

from chronos.devcluster.cluster import Cluster
from chronos.schedule.cron import next_run_times

pytestmark = pytest.mark.cluster

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
# UTC+05:45: a wall-clock minute here never coincides with the same minute in UTC.
ZONE = "Asia/Kathmandu"


def test_controller_creates_a_job_at_the_scheduled_minute_in_a_non_utc_zone(
    k8s: Client, namespace: str
) -> None:
    tz = ZoneInfo(ZONE)
    now = datetime.now(tz)
    # The next whole minute at least 15 s away, as a daily schedule in Kathmandu time.
    target = (now + timedelta(seconds=75)).replace(second=0, microsecond=0)
    schedule = f"{target.minute} {target.hour} * * *"
    assert next_run_times(schedule, ZONE, now, 1) == [target]

    k8s.create(cron_job("kathmandu", namespace, schedule, ZONE))

    deadline = time.monotonic() + (target - now).total_seconds() + 60
    jobs: list[Job] = []
    while time.monotonic() < deadline and not jobs:
        jobs = list(k8s.list(Job, namespace=namespace))
        time.sleep(1)
    seen_at = datetime.now(UTC)

    assert len(jobs) == 1, "the CronJob controller created no Job in time"
    meta = jobs[0].metadata
    assert meta is not None
    assert meta.annotations is not None
    assert meta.ownerReferences
    assert meta.ownerReferences[0].kind == "CronJob"
    scheduled = datetime.fromisoformat(meta.annotations[SCHEDULED_ANNOTATION])
    assert scheduled == target
    assert meta.creationTimestamp is not None
    assert target <= meta.creationTimestamp <= target + timedelta(seconds=30)
    assert seen_at >= target.astimezone(UTC)


def test_garbage_collector_removes_owned_objects(k8s: Client, namespace: str) -> None:
    owner = k8s.create(ConfigMap(metadata=ObjectMeta(name="owner", namespace=namespace)))
    assert owner.metadata is not None
    assert owner.metadata.uid is not None
    ref = OwnerReference(apiVersion="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    k8s.create(
        ConfigMap(metadata=ObjectMeta(name="owned", namespace=namespace, ownerReferences=[ref]))
    )
    k8s.delete(ConfigMap, "owner", namespace=namespace)
    deadline = time.monotonic() + 60
    names = {"owned"}
    while time.monotonic() < deadline and "owned" in names:
        names = {
            c.metadata.name
            for c in k8s.list(ConfigMap, namespace=namespace)
            if c.metadata and c.metadata.name
        }
        time.sleep(0.5)
    assert "owned" not in names, "the garbage collector did not remove the owned ConfigMap"


def test_service_account_tokens_authenticate(cluster: Cluster, k8s: Client, namespace: str) -> None:
    k8s.create(service_account("robot", namespace))
    token = k8s.create(
        ServiceAccount.Token(
            metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[], expirationSeconds=600)
        ),
        "robot",
        namespace=namespace,
    )
    assert token.status is not None
    server = json.loads(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    out = cluster.kubectl(
        "--kubeconfig=/dev/null",
        f"--server={server}",
        "--insecure-skip-tls-verify",
        f"--token={token.status.token}",
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    )
    assert out == f"system:serviceaccount:{namespace}:robot"
    # RBAC is on: a fresh ServiceAccount may not list Secrets.
    denied = cluster.kubectl(
        "--kubeconfig=/dev/null",
        f"--server={server}",
        "--insecure-skip-tls-verify",
        f"--token={token.status.token}",
        "get",
        "secrets",
        "-n",
        namespace,
        check=False,
    )
    assert "forbidden" in denied
