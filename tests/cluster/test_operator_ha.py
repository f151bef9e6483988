"""Operators of their own per test: restarts and leader failover."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable

import pytest
from builders import create_chronosjob as create
from builders import pipeline_spec as spec
from lightkube import Client
from lightkube.resources.batch_v1 import CronJob
from lightkube.resources.coordination_v1 import Lease
from support import cronjob, patch_spec, ready, wait_for

from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster


def counter(process: OperatorProcess, name: str) -> float:
    total = 0.0
    for line in process.metrics().splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_changes_made_while_down_are_reconciled_on_start(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    ns = solo_namespace
    first = start_operator()
    create(k8s, ns, "kept", spec())
    create(k8s, ns, "removed", spec())
    wait_for(lambda: cronjob(k8s, ns, "kept") and cronjob(k8s, ns, "removed"), what="CronJobs")
    first.stop()

    patch_spec(k8s, ns, "kept", {"schedule": {"cron": "45 4 * * 1"}, "enabled": False})
    create(k8s, ns, "added", spec())
    k8s.delete(CronJob, "removed", namespace=ns)
    time.sleep(2)
    assert cronjob(k8s, ns, "added") is None  # nobody is reconciling

    start_operator()
    wait_for(
        lambda: (
            (cj := cronjob(k8s, ns, "kept"))
            and cj["spec"]["schedule"] == "45 4 * * 1"
            and cj["spec"]["suspend"]
        ),
        what="the update made while down",
    )
    wait_for(lambda: cronjob(k8s, ns, "added"), what="the job created while down")
    wait_for(lambda: cronjob(k8s, ns, "removed"), what="the CronJob deleted while down")
    time.sleep(3)
    names = sorted(str(c.metadata.name) for c in k8s.list(CronJob, namespace=ns) if c.metadata)
    assert names == ["added", "kept", "removed"]  # nothing duplicated


def writes(process: OperatorProcess) -> dict[str, float]:
    """The operator's API write requests so far, by what they write."""
    found: dict[str, float] = {}
    for line in process.metrics().splitlines():
        match = re.match(r'^chronos_operator_writes_total\{write="([^"]+)"\} (\S+)$', line)
        if match and float(match.group(2)):
            found[match.group(1)] = float(match.group(2))
    return found


def test_a_new_job_costs_two_writes_and_a_restart_none_for_jobs_in_sync(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    ns = solo_namespace
    first = start_operator()
    for name in ("one", "two"):
        create(k8s, ns, name, spec())
    for name in ("one", "two"):
        wait_for(lambda n=name: ready(k8s, ns, n), what=f"{name} Ready")  # type: ignore[misc]
    time.sleep(7)  # two housekeeping rounds (3 s) visit both jobs
    assert writes(first) == {"cronjob_create": 2, "status_patch": 2}
    first.stop()

    second = start_operator()
    reconciles = "chronos_operator_reconciles_total"
    wait_for(lambda: counter(second, reconciles) >= 2, what="both jobs confirmed in sync")
    time.sleep(7)  # and two housekeeping rounds
    assert counter(second, reconciles) == 2
    assert writes(second) == {}


def test_one_replica_acts_and_a_standby_takes_over(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    ns = solo_namespace
    active = start_operator()
    standby = start_operator()
    create(k8s, ns, "before", spec())
    wait_for(lambda: cronjob(k8s, ns, "before"), what="the leader to reconcile")
    time.sleep(2)
    reconciles = "chronos_operator_reconciles_total"
    assert counter(active, "chronos_operator_leader") == 1
    assert counter(standby, "chronos_operator_leader") == 0
    assert counter(active, reconciles) >= 1
    assert counter(standby, reconciles) == 0

    assert active.proc is not None
    killed = time.monotonic()
    active.stop(signal.SIGKILL)  # no chance to release the lease
    wait_for(lambda: counter(standby, "chronos_operator_leader") == 1, timeout=30, what="takeover")
    took_over = time.monotonic() - killed
    create(k8s, ns, "after", spec())
    wait_for(lambda: cronjob(k8s, ns, "after"), what="the new leader to reconcile")
    reconciled = time.monotonic() - killed
    assert counter(standby, reconciles) >= 1
    lease = k8s.get(Lease, standby.env["CHRONOS_LEASE_NAME"], namespace="default")
    assert lease.spec is not None
    assert re.search(r"-\d+$", lease.spec.holderIdentity or "")
    assert lease.spec.leaseTransitions == 1
    # The lease lasts 6 s in these tests; a standby retries every 2 s.
    assert took_over < 6 + 2 + 3, took_over
    print(f"\nfailover: leader after {took_over:.1f}s, first reconcile after {reconciled:.1f}s")
    assert k8s.get(ChronosJobResource, "after", namespace=ns)


def test_sigterm_stops_the_leader_within_two_seconds_and_releases_the_lease(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    ns = solo_namespace
    operator = start_operator()
    create(k8s, ns, "busy", spec())
    # The operator works (its watches listed, its workers run) once it reconciles.
    wait_for(lambda: cronjob(k8s, ns, "busy"), what="the operator to reconcile")
    wait_for(lambda: counter(operator, "chronos_operator_leader") == 1, what="leadership")
    assert operator.proc is not None
    sent = time.monotonic()
    operator.proc.send_signal(signal.SIGTERM)
    code = operator.proc.wait(timeout=30)
    took = time.monotonic() - sent
    # A clean stop is quick (Kopf's SIGTERM path once waited 5 s for "hung" tasks, and
    # `make down` with it).
    assert took < 2, f"took {took:.1f}s: " + operator.log_path.read_text()[-3000:]
    assert code == 0, operator.log_path.read_text()[-2000:]
    lease = k8s.get(Lease, operator.env["CHRONOS_LEASE_NAME"], namespace="default")
    assert lease.spec is not None
    assert lease.spec.holderIdentity is None  # released: a standby can take over at once
