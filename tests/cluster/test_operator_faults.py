"""The operator under faults between it and the real API server (issue 18).

Each operator runs as a real process whose only way to the API server is a fault proxy
(tests/faults.py: TLS-terminating, so HTTP-level faults are possible too). For each
fault the test changes the world while the operator is cut off — a schedule edited, a
CronJob deleted, a job created — and then checks, after the fault clears:

* every ChronosJob converges (its CronJob matches, status current and Ready) within
  the fault's stated bound (``Fault.bound``, seconds after it cleared);
* /readyz turned false while the operator was cut off, and is true at the end;
* no write was repeated: each CronJob that had to be restored or created is written
  exactly once, no write request reaches the API server twice with the same body;
* the log says what happened once: a bounded number of lines, not a line per retry;
* the request rate stays bounded while cut off and while recovering (printed, and
  recorded in docs/performance.md).

The leader-election test cuts the leader's connection half-open on cue while the
standby's stays healthy, records every write of both replicas with its lease epoch,
and checks that they never overlap and that the standby takes over in time.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from builders import create_chronosjob as create
from builders import pipeline_spec as spec
from faults import Exchange, FaultProxy, Rule
from fixtures_api import ServedApp
from lightkube import Client
from lightkube.resources.batch_v1 import CronJob
from support import cronjob, get_cr, patch_spec, wait_for

from chronos import http
from chronos.api.settings import ApiSettings
from chronos.devcluster.cluster import Cluster, free_port
from chronos.devcluster.operator_process import OperatorProcess
from chronos.informer import WATCH_GRACE, WATCH_SECONDS
from chronos.models.activity import LEDGER_CONFIGMAP
from chronos.models.figures import FIGURES_SUFFIX

pytestmark = pytest.mark.cluster

#: /readyz turns false after this long cut off (CHRONOS_READY_GRACE_SECONDS).
GRACE = 2.0
#: How long each fault lasts: longer than GRACE and a few probe periods.
OUTAGE = 6.0
#: What a relist, a reconcile of four jobs and a status write take, at most, on a busy
#: 2-core machine once the operator talks to the API server again.
WORK = 10.0
#: After a failure the informers retry after 0.8 s doubling to 30 s, each with up to
#: as much again of jitter (chronos.backoff): after an outage of OUTAGE seconds the next
#: retry comes at most 2 x 6.4 s after the fault clears.
BACKOFF_AFTER_OUTAGE = 12.8
#: A connection that went dead without a word is noticed when its watch's deadline
#: passes: the server ends each watch within WATCH_SECONDS, silence beyond that plus
#: WATCH_GRACE means the connection is dead.
SILENT_WATCH = WATCH_SECONDS[1] + WATCH_GRACE
LEASE_DURATION, LEASE_RENEW = 6.0, 2.0
#: Requests a second the operator may send while a fault lasts (see the test).
MAX_REQUESTS_PER_S = 10


def _server(cluster: Cluster) -> str:
    server: str = json.loads(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    return server


def new_proxy(cluster: Cluster, directory: Path) -> FaultProxy:
    return FaultProxy(
        _server(cluster),
        cluster.probe_context(),
        directory,
        client_cert=cluster.pki / "admin.crt",
        client_key=cluster.pki / "admin.key",
    ).start()


class ReadyzRecorder:
    """Polls an operator's /readyz every 0.2 s in a thread: (time, ready) samples."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/readyz"
        self.samples: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=1) as answer:
                    ok = answer.status == 200
            except OSError:
                ok = False
            self.samples.append((time.time(), ok))
            self._stop.wait(0.2)

    def between(self, start: float, end: float) -> list[bool]:
        return [ok for at, ok in self.samples if start <= at < end]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def log_lines(process: OperatorProcess, start: float, end: float) -> list[dict[str, Any]]:
    """The operator's JSON log lines written between ``start`` and ``end``."""
    found = []
    for line in process.log_path.read_text().splitlines():
        try:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["time"]).timestamp()
        except (ValueError, KeyError, TypeError):
            continue
        if start <= at < end:
            found.append(entry)
    return found


def _show(exchanges: list[Exchange], start: float) -> list[str]:
    return [
        f"{e.at - start:+.1f}s {e.method} {e.path} -> {e.status} {e.body[:300]!r}"
        for e in exchanges
    ]


def _figures(e: Exchange) -> bool:
    """A write of the replicas' figures: every replica publishes its own key every 10 s,
    a standby too (the Cluster page), so it is no write "as the leader"."""
    return e.resource == "configmaps" and e.name.endswith(FIGURES_SUFFIX)


def _bookkeeping(e: Exchange) -> bool:
    """A write of the operator's own ConfigMaps, not of the jobs' objects: the figures
    and the leader's activity ledger."""
    return _figures(e) or (e.resource == "configmaps" and e.name == LEDGER_CONFIGMAP)


def delivered_writes(exchanges: list[Exchange]) -> list[Exchange]:
    """Writes that reached the API server and were accepted (but the bookkeeping)."""
    return [
        e
        for e in exchanges
        if e.write and e.forwarded and (e.status or 0) < 300 and not _bookkeeping(e)
    ]


@dataclass
class Harness:
    cluster: Cluster
    k8s: Client
    ns: str
    proxy: FaultProxy
    operator: OperatorProcess
    readyz: ReadyzRecorder
    notes: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def harness(
    cluster: Cluster,
    k8s: Client,
    tmp_path: Path,
    operator_settings: dict[str, str],
    solo_namespace: str,
) -> Iterator[Harness]:
    """One operator (no leader election: a single replica) behind its own fault proxy,
    watching ``solo_namespace`` with three jobs in sync."""
    proxy = new_proxy(cluster, tmp_path / "proxy")
    operator = OperatorProcess(
        proxy.kubeconfig,
        tmp_path,
        **{
            **operator_settings,
            "CHRONOS_NAMESPACES": solo_namespace,
            "CHRONOS_LEADER_ELECTION": "false",
            "CHRONOS_READY_GRACE_SECONDS": str(GRACE),
        },
    ).start()
    readyz = ReadyzRecorder(operator.port)
    try:
        for name in ("a", "b", "c"):
            create(k8s, solo_namespace, name, spec())
        wait_for(lambda: all(_converged(k8s, solo_namespace, n) for n in "abc"), what="in sync")
        yield Harness(cluster, k8s, solo_namespace, proxy, operator, readyz)
    finally:
        readyz.stop()
        operator.stop(signal.SIGKILL)
        proxy.stop()


EDITED = "15 4 * * *"


def _converged(k8s: Client, ns: str, name: str, schedule: str = "0 3 * * *") -> bool:
    """The CronJob matches the spec, and the status is current and Ready."""
    job = cronjob(k8s, ns, name)
    if job is None or job["spec"]["schedule"] != schedule:
        return False
    cr = get_cr(k8s, ns, name)
    status = cr.get("status") or {}
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
    return (
        status.get("observedGeneration") == cr["metadata"]["generation"]
        and conditions.get("Ready") == "True"
        and bool(status.get("nextRunTimes"))
    )


def change_the_world(h: Harness) -> None:
    """What happens in the cluster while the operator cannot see it."""
    patch_spec(h.k8s, h.ns, "a", {"schedule": {"cron": EDITED}})
    h.k8s.delete(CronJob, "b", namespace=h.ns)
    create(h.k8s, h.ns, "d", spec())


def all_converged(h: Harness) -> bool:
    return _converged(h.k8s, h.ns, "a", EDITED) and all(_converged(h.k8s, h.ns, n) for n in "bcd")


@dataclass(frozen=True)
class Fault:
    name: str
    begin: Callable[[Harness], None]
    end: Callable[[Harness], None]
    #: Seconds after ``end`` within which every job must have converged.
    bound: float
    #: True: /readyz must turn false while it lasts; False: it must stay true (a
    #: routine event, not an outage); None: not asserted.
    unready: bool | None = True
    #: Whether the fault is healed before the jobs converge (a stall is not: the
    #: operator must find its way around it on its own).
    heals_first: bool = True


def _refuse(h: Harness) -> None:
    h.proxy.refuse()
    h.proxy.reset_all()


def _answer_everything(status: int) -> Callable[[Harness], None]:
    def begin(h: Harness) -> None:
        h.proxy.add(Rule(lambda _: True, "answer", status=status, retry_after=1))
        h.proxy.reset_all()  # the open watches too must ask again

    return begin


def _gone_then_cut_lists(h: Harness) -> None:
    """410 on every watch request and a LIST cut mid-body twice per informer: the
    watches must list afresh, through broken pages."""
    h.proxy.add(Rule(lambda e: e.watch, "answer", status=410))
    h.proxy.add(Rule(lambda e: e.method == "GET" and "limit" in e.query, "reset_mid_body", times=6))
    h.proxy.reset_all()


def _error_events(h: Harness) -> None:
    h.proxy.add(Rule(lambda e: e.watch, "watch_error", status=410, times=3))
    h.proxy.watch_error_now(410)


def _etcd_url(cluster: Cluster) -> str:
    etcd = next(c for c in cluster.components() if c.name == "etcd")
    flag = next(a for a in etcd.argv if a.startswith("--listen-client-urls="))
    return flag.split("=", 1)[1]


def compact_etcd(cluster: Cluster) -> int:
    """Compact etcd's history up to its current revision (its JSON gateway); returns it."""
    url = _etcd_url(cluster)

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{url}{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            result: dict[str, Any] = json.loads(answer.read())
            return result

    key = base64.b64encode(b"/").decode()
    revision = int(post("/v3/kv/range", {"key": key, "count_only": True})["header"]["revision"])
    post("/v3/kv/compaction", {"revision": revision, "physical": True})
    return revision


def _restart_api_server(h: Harness) -> None:
    """The API server killed while the operator is cut off, etcd compacted (the
    operator's resourceVersions are history now), the API server started again."""
    h.proxy.refuse()
    h.proxy.reset_all()
    apiserver = next(c for c in h.cluster.components() if c.name == "kube-apiserver")
    os.kill(apiserver.pid, signal.SIGKILL)
    wait_for(lambda: not apiserver.alive(), timeout=10, what="the API server to die")
    h.notes["compacted_at_revision"] = compact_etcd(h.cluster)
    started = time.monotonic()
    h.cluster.restart_dead()
    h.notes["api_server_restart_s"] = round(time.monotonic() - started, 1)


FAULTS = [
    Fault("refused", _refuse, lambda h: h.proxy.heal(), BACKOFF_AFTER_OUTAGE + WORK),
    # The connections open when it struck stay dead after it heals: the watches on them
    # are noticed dead only at their deadline.
    Fault(
        "half-open", lambda h: h.proxy.half_open(), lambda h: h.proxy.heal(), SILENT_WATCH + WORK
    ),
    Fault(
        "stalled",
        lambda h: h.proxy.stall(),
        lambda h: None,
        SILENT_WATCH + WORK,
        unready=None,
        heals_first=False,
    ),
    Fault(
        "410-and-lists-cut",
        _gone_then_cut_lists,
        lambda h: h.proxy.clear_rules(),
        BACKOFF_AFTER_OUTAGE + WORK,
    ),
    Fault(
        "410-error-event",
        _error_events,
        lambda h: h.proxy.clear_rules(),
        BACKOFF_AFTER_OUTAGE + WORK,
        unready=False,
    ),
    Fault(
        "429-retry-after",
        _answer_everything(429),
        lambda h: h.proxy.clear_rules(),
        BACKOFF_AFTER_OUTAGE + WORK,
    ),
    Fault(
        "503-retry-after",
        _answer_everything(503),
        lambda h: h.proxy.clear_rules(),
        BACKOFF_AFTER_OUTAGE + WORK,
    ),
    # Cut off for the restart (up to ~10 s) and then OUTAGE: the informers' retry after
    # it may come one doubling later than after OUTAGE alone.
    Fault(
        "api-server-restart-etcd-compacted",
        _restart_api_server,
        lambda h: h.proxy.heal(),
        2 * BACKOFF_AFTER_OUTAGE + WORK,
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_every_job_converges_after_the_fault(harness: Harness, fault: Fault) -> None:
    h = harness
    time.sleep(1)  # the status writes of the set-up settle
    began = time.time()
    fault.begin(h)
    change_the_world(h)
    time.sleep(OUTAGE)
    fault.end(h)
    healed = time.time()
    wait_for(lambda: all_converged(h), timeout=fault.bound + 30, what=f"convergence ({fault.name})")
    converged = time.time()
    time.sleep(4)  # a housekeeping round (3 s) after convergence: nothing more to write
    quiet = time.time()

    recovery = converged - (healed if fault.heals_first else began)
    exchanges = h.proxy.since(began, quiet)
    during = h.proxy.since(began, healed)
    after = h.proxy.since(healed, converged)
    lines = log_lines(h.operator, began, quiet)
    loud = [e for e in lines if e["level"] in ("warning", "error", "critical")]
    summary = {
        "fault": fault.name,
        "bound_s": round(fault.bound, 1),
        "recovered_s": round(recovery, 1),
        "requests_during_fault_per_s": round(len(during) / max(healed - began, 0.001), 1),
        "requests_recovering": len(after),
        "requests_recovering_per_s": round(len(after) / max(converged - healed, 0.001), 1),
        "log_lines": len(lines),
        "warnings": len(loud),
        "connections": len({e.conn for e in h.proxy.since(began, converged)}),
        "writes_unanswered": sum(
            1 for e in exchanges if e.write and e.forwarded and not e.delivered
        ),
        **h.notes,
    }
    print(f"\nFAULT {json.dumps(summary)}")

    assert recovery <= fault.bound, summary

    # Readiness: false while cut off (after the grace), true at the end.
    states = h.readyz.between(began, healed + 1)
    if fault.unready:
        assert False in states, f"/readyz stayed true through {fault.name}: {summary}"
    elif fault.unready is False:
        assert all(states), f"/readyz turned false for {fault.name}: {summary}"
    wait_for(lambda: h.readyz.samples[-1][1], timeout=10, what="/readyz true again")

    # No write repeated: each CronJob restored or created exactly once, none of the
    # untouched job, and no write reached the API server twice with the same body.
    writes = delivered_writes(exchanges)
    # (A schedule edit also stamps the CronJob's lastScheduleTime and an annotation, so
    # that no past slot fires: those writes carry no spec.)
    cronjob_writes = Counter(
        e.name for e in writes if e.resource == "cronjobs" and b'"spec"' in e.body
    )
    if os.environ.get("CHRONOS_FAULTS_VERBOSE"):
        print("\n".join(_show(writes, began)))
        print("\n".join(json.dumps(x)[:300] for x in lines))
    assert cronjob_writes == {"a": 1, "b": 1, "d": 1}, _show(writes, began)
    # A write whose answer never came back (a stalled connection) may be sent again:
    # the client cannot know it landed. One it was told landed is never sent again.
    same = Counter((e.method, e.path, e.body) for e in writes if e.delivered)
    assert max(same.values()) == 1, [k[:2] for k, n in same.items() if n > 1]
    objects = [e for e in writes if e.resource != "events"]
    # Three CronJob writes and a status write or two per job, one more per job when a
    # restarted API server fails it again while it warms up (a second outage, as for the
    # log below; CI, loaded: 12 and 13 writes), never a write per retry.
    assert len(objects) <= 3 + 4 * 3, [(e.method, e.path) for e in objects]

    # The log says what happened once per outage, not a line per retry: a warning per
    # informer (five: ChronosJobs, CronJobs, Jobs, ChronosCalendars, ChronosChannels) and
    # at most one per job. A restarted API server may fail requests again while it warms
    # up, after the informer or the job was healthy: a second outage of its own (CI,
    # loaded: 10 warnings with four informers; a cold CI run: two jobs' syncs failed
    # twice), still far from one per retry (a dozen per outage).
    per_informer = Counter(
        e["message"].split(" ")[0] for e in loud if e["logger"] == "chronos.informer"
    )
    assert max(per_informer.values(), default=0) <= 2, per_informer
    syncs = [e for e in loud if e["message"].startswith("sync of ")]
    per_job = Counter(e["message"].split(" ")[2] for e in syncs)
    assert max(per_job.values(), default=0) <= 2, per_job
    other = [e for e in loud if e["logger"] != "chronos.informer" and e not in syncs]
    assert len(per_job) + len(other) <= 4, [e["message"] for e in loud]
    assert len(lines) <= 40, [e["message"] for e in lines]
    # And the API server is not hammered while it lasts: a probe every 0.67 s, per
    # informer a relist and a rewatch per fault event, the work of three changed jobs
    # make about 6 requests a second; a retry loop without backoff makes 80-150.
    assert summary["requests_during_fault_per_s"] <= MAX_REQUESTS_PER_S, summary
    # Reconnections are few: the three watches and a few pooled connections.
    assert summary["connections"] <= 20, summary


# ----------------------------------------------------------------- leader election


def _lease_epochs(exchanges: list[Exchange]) -> list[tuple[float, int]]:
    """(time, leaseTransitions) of each Lease write this replica got accepted."""
    epochs = []
    for e in exchanges:
        if e.resource == "leases" and e.write and e.forwarded and (e.status or 0) < 300:
            spec_ = json.loads(e.body)["spec"]
            epochs.append((e.at, int(spec_.get("leaseTransitions") or 0)))
    return epochs


def test_a_half_open_leader_stops_before_the_standby_writes(
    cluster: Cluster,
    k8s: Client,
    tmp_path: Path,
    operator_settings: dict[str, str],
    solo_namespace: str,
) -> None:
    ns = solo_namespace
    lease = f"chronos-faults-{os.getpid()}-{int(time.time())}"
    proxies, operators = {}, {}
    try:
        for role in ("first", "second"):
            proxies[role] = new_proxy(cluster, tmp_path / role)
            operators[role] = OperatorProcess(
                proxies[role].kubeconfig,
                tmp_path,
                **{
                    **operator_settings,
                    "CHRONOS_NAMESPACES": ns,
                    "CHRONOS_LEASE_NAME": lease,
                    "CHRONOS_LEASE_DURATION_SECONDS": str(LEASE_DURATION),
                    "CHRONOS_LEASE_RENEW_SECONDS": str(LEASE_RENEW),
                },
            ).start()
            if role == "first":
                wait_for(
                    lambda: _lease_epochs(proxies["first"].exchanges), what="the first to lead"
                )
        create(k8s, ns, "before", spec())
        wait_for(lambda: _converged(k8s, ns, "before"), what="the leader to reconcile")
        leader, standby = proxies["first"], proxies["second"]
        assert not delivered_writes(standby.exchanges), "the standby wrote"

        # The leader's connections go half-open exactly when it writes the next CronJob.
        leader.add(Rule(lambda e: e.write and e.resource == "cronjobs", "cut", times=1))
        create(k8s, ns, "during", spec())
        cut = wait_for(
            lambda: next((e for e in leader.exchanges if e.injected == "cut"), None),
            what="the leader's write to be cut",
        )
        old = operators["first"]
        assert old.proc is not None
        code = old.proc.wait(timeout=LEASE_DURATION + 10)  # it must give up by itself
        stopped = time.time()
        assert code == 1, old.log_path.read_text()[-2000:]
        wait_for(lambda: _converged(k8s, ns, "during"), timeout=30, what="the standby to reconcile")
        time.sleep(2)

        # Every write of each replica as the leader, with the lease epoch it held.
        # (attempted ones too; not the figures, each replica's own, a standby's too)
        first_writes = [e for e in leader.exchanges if e.write and not _figures(e)]
        second_writes = [e for e in standby.exchanges if e.write and not _figures(e)]
        second_epochs = _lease_epochs(standby.exchanges)
        first_epochs = _lease_epochs(leader.exchanges)
        assert second_epochs, "the standby never took the lease"
        took_over, new_epoch = second_epochs[0]
        last_renewed = max(at for at, _ in first_epochs)
        assert new_epoch == max(ep for _, ep in first_epochs) + 1
        # At no moment do two replicas write: everything the old leader sent, or tried
        # to send, came before the new leader's first write (its lease takeover).
        assert max(e.at for e in first_writes) < took_over
        assert min(e.at for e in second_writes) >= took_over
        # The old leader gave up within its renew deadline (duration - renew) of its
        # last renewal, before the lease could expire for anyone else.
        deadline = LEASE_DURATION - LEASE_RENEW
        assert stopped - last_renewed <= deadline + 2, stopped - last_renewed
        assert stopped < took_over
        # The standby took over within the lease duration plus one renew period of the
        # last renewal it could see (plus one period: it polls every renew period).
        takeover = took_over - last_renewed
        assert takeover <= LEASE_DURATION + 2 * LEASE_RENEW, takeover
        # The old leader's last log line precedes the new leader's acquisition.
        acquired = [
            e["time"]
            for e in log_lines(operators["second"], 0, time.time())
            if "acquired lease" in e["message"]
        ]
        assert acquired
        assert log_lines(old, 0, time.time())[-1]["time"] < acquired[-1]
        # The cut write never landed; the new leader's landed once.
        assert not cut.forwarded
        landed = [e for e in delivered_writes(standby.exchanges) if e.resource == "cronjobs"]
        assert [e.name for e in landed] == ["during"]
        print(
            "\nLEADER "
            + json.dumps(
                {
                    "cut_to_old_leader_stopped_s": round(stopped - cut.at, 1),
                    "last_renewal_to_takeover_s": round(takeover, 1),
                    "cut_to_takeover_s": round(took_over - cut.at, 1),
                    "gap_between_leaders_s": round(took_over - max(e.at for e in first_writes), 1),
                }
            )
        )
    finally:
        for process in operators.values():
            process.stop(signal.SIGKILL)
        for proxy in proxies.values():
            proxy.stop()


# ------------------------------------------------------------------- the REST facade


def test_the_facades_cache_follows_through_a_refused_connection(
    cluster: Cluster, k8s: Client, tmp_path: Path, namespace: str
) -> None:
    """The facade's job cache is kept by the same informer: cut off (connections reset,
    new ones refused), /readyz turns false; a job created meanwhile is listed within
    the bound after the connection is back, and /readyz is true again."""
    proxy = new_proxy(cluster, tmp_path / "proxy")
    settings = ApiSettings(
        api_port=free_port(),
        api_kubeconfig=proxy.kubeconfig,
        api_auth_disabled=True,
        ready_grace_seconds=GRACE,
    )
    try:
        with ServedApp(settings) as app, http.Client(base_url=app.url, timeout=5) as api:

            def listed() -> set[str]:
                answer = api.get("/api/jobs", params={"namespace": namespace})
                return {j["id"] for j in answer.json()["items"]} if answer.is_success else set()

            create(k8s, namespace, "before", spec())
            wait_for(lambda: "before" in listed(), what="the job in the facade's cache")
            began = time.time()
            _refuse(Harness(cluster, k8s, namespace, proxy, None, None))  # type: ignore[arg-type]
            create(k8s, namespace, "during", spec())
            wait_for(
                lambda: api.get("/readyz").status_code == 503,
                timeout=GRACE + 10,
                what="/readyz false",
            )
            time.sleep(OUTAGE)
            proxy.heal()
            healed = time.time()
            wait_for(
                lambda: "during" in listed(),
                timeout=BACKOFF_AFTER_OUTAGE + WORK,
                what="the job created while cut off",
            )
            converged = time.time()
            wait_for(lambda: api.get("/readyz").status_code == 200, timeout=10, what="ready")
            during = proxy.since(began, healed)
            print(
                "\nFAULT "
                + json.dumps(
                    {
                        "fault": "facade-refused",
                        "bound_s": BACKOFF_AFTER_OUTAGE + WORK,
                        "recovered_s": round(converged - healed, 1),
                        "requests_during_fault_per_s": round(len(during) / (healed - began), 1),
                        "requests_recovering": len(proxy.since(healed, converged)),
                    }
                )
            )
            assert len(during) / (healed - began) <= 6
    finally:
        proxy.stop()
