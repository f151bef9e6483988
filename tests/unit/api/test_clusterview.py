"""The Cluster page's and the Your-access page's pure views (issue 22)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chronos.api import accessview as av
from chronos.api import clusterview as cv
from chronos.models.figures import LagEntry, ReplicaFigures, ScheduleLag, entry_key

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
XSS = "<img src=x onerror=alert(1)>"


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def pod(
    name: str,
    *,
    ready: bool = True,
    restarts: int = 0,
    node: str = "n1",
    image: str = "reg/chronos-operator:0.1.0",
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {}},
        "spec": {"nodeName": node, "containers": [{"image": image}]},
        "status": {
            "phase": "Running",
            "startTime": iso(NOW - timedelta(hours=1)),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"restartCount": restarts}],
        },
    }


def lease(holder: str | None, age: float = 2.0) -> dict[str, Any]:
    return {
        "spec": {
            "holderIdentity": holder,
            "renewTime": iso(NOW - timedelta(seconds=age)),
            "acquireTime": iso(NOW - timedelta(minutes=5)),
            "leaseDurationSeconds": 15,
            "leaseTransitions": 3,
        }
    }


def figures(
    identity: str,
    pod_name: str,
    *,
    leader: bool,
    age: float = 3.0,
    lags: list[LagEntry] | None = None,
) -> ReplicaFigures:
    return ReplicaFigures(
        identity=identity,
        pod=pod_name,
        leader=leader,
        started_at=NOW - timedelta(hours=1),
        updated_at=NOW - timedelta(seconds=age),
        version="0.1.0",
        queue_depth=4 if leader else None,
        syncs_per_minute=12.0 if leader else None,
        schedule_lag=ScheduleLag(jobs=len(lags or []), worst=lags or []) if leader else None,
    )


def configmap(*entries: ReplicaFigures) -> cv.Read:
    data = {entry_key(e.identity): e.model_dump_json() for e in entries}
    return cv.Read("ok", ({"data": data},), "figures")


def view(**reads: Any) -> cv.ClusterView:
    base: dict[str, Any] = {
        "operator_pods": cv.Read("ok", (), "operator pods"),
        "facade_pods": cv.Read("ok", (), "facade pods"),
        "lease": cv.Read("ok", (lease(None),), "lease"),
        "figures": cv.Read("missing", (), "the figures"),
        "run_pods": {},
        "visible": [],
        "now": NOW,
    }
    return cv.cluster_view(**{**base, **reads})


def test_the_lease_holder_leads_and_its_lease_age_is_measured_from_renew_time() -> None:
    out = view(
        operator_pods=cv.Read("ok", (pod("op-a"), pod("op-b", ready=False, restarts=2)), "pods"),
        lease=cv.Read("ok", (lease("op-b-7", age=4.0),), "lease"),
        figures=configmap(
            figures("op-b-7", "op-b", leader=True), figures("op-a-9", "op-a", leader=False)
        ),
    )
    assert out.leader is not None
    assert out.leader.holder == "op-b-7"
    assert out.leader.lease_age == 4.0
    assert not out.leader.expired
    assert out.leader.transitions == 3
    assert [(r.name, r.role) for r in out.operators] == [("op-b", "leader"), ("op-a", "standby")]
    leader = out.operators[0]
    assert leader.pod is not None
    assert (
        leader.pod.ready,
        leader.pod.restarts,
        leader.pod.version,
    ) == (False, 2, "0.1.0")
    assert out.work is not None
    assert out.work.queue_depth == 4


def test_replicas_outside_pods_come_from_their_figures_and_a_dead_one_shows_stale() -> None:
    out = view(
        lease=cv.Read("ok", (lease("host-22", age=1.0),), "lease"),
        figures=configmap(
            figures("host-22", "host", leader=True),
            figures("host-11", "host", leader=False, age=300),
        ),
    )
    assert [(r.name, r.role, r.stale) for r in out.operators] == [
        ("host-22", "leader", False),
        ("host-11", "standby", True),
    ]


def test_an_expired_lease_and_no_holder_are_said() -> None:
    expired = view(lease=cv.Read("ok", (lease("op-1", age=40.0),), "lease"))
    assert expired.leader is not None
    assert expired.leader.expired
    assert any("not renewed its lease for 40 s" in n for n in expired.notes)
    # The holder is listed even when nothing else is known of it.
    assert [(r.name, r.role) for r in expired.operators] == [("op-1", "leader")]
    assert any("No operator replica holds" in n for n in view().notes)


def test_what_the_user_may_not_read_is_said_calmly() -> None:
    out = view(
        operator_pods=cv.Read("forbidden", (), 'the operator\'s pods in namespace "chronos"'),
        lease=cv.Read("forbidden", (), "the leader lease"),
        figures=cv.Read("error", (), "the operator's figures"),
        run_pods={"team-b": cv.Read("forbidden", (), "x"), "team-a": cv.Read("ok", (), "y")},
    )
    assert out.leader is None
    assert out.operators == []
    assert (
        'You may not read the operator\'s pods in namespace "chronos" (Kubernetes RBAC)'
        in out.notes[0]
    )
    assert any("Could not read the operator's figures just now" in n for n in out.notes)
    assert any('You may not list pods in "team-b"' in n for n in out.notes)


def test_schedule_lags_are_shown_only_for_namespaces_the_user_may_see() -> None:
    lags = [
        LagEntry(namespace=ns, job=XSS, slot=NOW, created=NOW, lag_seconds=1.0, by="operator")
        for ns in ("mine", "theirs")
    ]
    out = view(
        lease=cv.Read("ok", (lease("op-1"),), "lease"),
        figures=configmap(figures("op-1", "op", leader=True, lags=lags)),
        visible=["mine"],
    )
    assert [(entry.namespace, entry.job) for entry in out.lags] == [("mine", XSS)]


def test_unreadable_figure_entries_are_counted_not_quoted() -> None:
    read = cv.Read("ok", ({"data": {"k": XSS}},), "figures")
    out = view(figures=read)
    assert any("1 operator figure entries could not be read" in n for n in out.notes)
    assert not any(XSS in n for n in out.notes)


def test_nodes_of_the_runs_pods_of_the_last_day() -> None:
    def run_pod(node: str, hours: float) -> dict[str, Any]:
        return {
            "metadata": {"creationTimestamp": iso(NOW - timedelta(hours=hours))},
            "spec": {"nodeName": node},
        }

    out = view(
        run_pods={
            "a": cv.Read("ok", (run_pod("n1", 1), run_pod("n1", 2), run_pod("n2", 30)), "runs")
        }
    )
    assert [(n.name, n.runs, n.last) for n in out.nodes] == [("n1", 2, NOW - timedelta(hours=1))]


def test_durations_in_words() -> None:
    assert [cv.seconds(x) for x in (None, 0.25, 4.21, 185, 7260)] == [
        "—",
        "250 ms",
        "4.2 s",
        "3 min 5 s",
        "2 h 1 min",
    ]


# ----------------------------------------------------------------------- access


def rules(
    *items: tuple[list[str], list[str], list[str]], names: list[str] | None = None
) -> list[dict[str, Any]]:
    return [
        {"verbs": v, "apiGroups": g, "resources": r, **({"resourceNames": names} if names else {})}
        for v, g, r in items
    ]


def cells(status: dict[str, Any]) -> dict[str, tuple[bool, tuple[str, ...]]]:
    row = av.namespace_access("ns", status)
    return {
        a.key: (cell.allowed, cell.missing) for a, cell in zip(av.ACTIONS, row.cells, strict=True)
    }


def test_a_viewer_may_view_and_is_told_what_each_missing_button_needs() -> None:
    out = cells(
        {
            "resourceRules": rules(
                (["get", "list", "watch"], ["chronos.gluesync.io"], ["chronosjobs"])
            )
        }
    )
    assert out["view"] == (True, ())
    assert out["run"] == (False, ("patch chronosjobs.chronos.gluesync.io",))
    assert out["abort"] == (False, ("delete jobs.batch",))
    assert out["logs"] == (False, ("list pods", "get pods/log"))
    assert out["delete"][0] is False
    assert out["create"][0] is False


def test_wildcards_subresources_and_named_only_rules() -> None:
    admin = cells({"resourceRules": rules((["*"], ["*"], ["*"]))})
    assert all(allowed for allowed, _ in admin.values())
    logs = cells({"resourceRules": rules((["list"], [""], ["pods"]), (["get"], [""], ["*/log"]))})
    assert logs["logs"] == (True, ())
    # A right limited to named objects does not offer the action for every job.
    named = cells(
        {
            "resourceRules": rules(
                (["delete"], ["chronos.gluesync.io"], ["chronosjobs"]), names=["one"]
            )
        }
    )
    assert named["delete"][0] is False


def test_an_incomplete_review_is_flagged_with_kubernetes_words() -> None:
    row = av.namespace_access(
        "ns", {"incomplete": True, "evaluationError": "webhook authorizer " * 40}
    )
    assert row.incomplete
    assert len(row.error) == 300


def test_a_pod_is_matched_to_its_figures_and_the_leaders_to_the_holders_entry() -> None:
    restarted = figures("op-a-1", "op-a", leader=False, age=50)
    current = figures("op-a-2", "op-a", leader=True)
    out = view(
        operator_pods=cv.Read("ok", (pod("op-a"), pod("op-b")), "pods"),
        lease=cv.Read("ok", (lease("op-a-2"),), "lease"),
        figures=configmap(restarted, current, figures("op-b-5", "op-b", leader=False)),
    )
    rows = {r.name: r for r in out.operators}
    assert rows["op-a"].role == "leader"
    assert rows["op-a"].figures is not None
    assert rows["op-a"].figures.identity == "op-a-2"
    assert rows["op-b"].figures is not None
    assert rows["op-b"].figures.identity == "op-b-5"
    assert len(out.operators) == 2  # no extra row for the pods' own entries
