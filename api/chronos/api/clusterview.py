"""The Cluster page's view (Cronicle's Admin > Servers), from what the user could read.

Pure: the route (``chronos.api.ui.cluster``) reads, with the user's own token, the
operator's and the facade's pods, the leader Lease, the operator's figures ConfigMap
(``chronos.models.figures``) and the runs' pods of the namespaces the user may see;
each read is a :class:`Read` (what came back, or why nothing did). This module turns
them into rows and calm notes; unit-tested without a cluster.

Who leads comes from the Lease alone (its holder and ``renewTime``); a replica is
matched to it by its pod name (an operator's identity is ``<hostname>-<pid>`` and a
pod's hostname is its name) or, outside pods, by its figures entry's identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from chronos.models.figures import STALE_SECONDS, LagEntry, ReplicaFigures, parse_figures
from chronos.times import parse_time

#: Nodes are listed from the runs' pods created within this window.
NODE_WINDOW = timedelta(hours=24)

State = Literal["ok", "forbidden", "missing", "error"]


@dataclass(frozen=True)
class Read:
    """One read the page made as the user: its answer, or why there is none."""

    state: State
    #: A list's items, or the one object read (as a one-item list).
    items: tuple[dict[str, Any], ...] = ()
    #: What was read, in words, for the notes ("pods in namespace chronos").
    what: str = ""

    @property
    def one(self) -> dict[str, Any] | None:
        return self.items[0] if self.state == "ok" and self.items else None


@dataclass(frozen=True)
class PodRow:
    name: str
    node: str
    image: str
    version: str
    started: datetime | None
    ready: bool
    restarts: int
    phase: str


@dataclass(frozen=True)
class ReplicaRow:
    """An operator replica: its pod (if listed), its role, its published figures."""

    name: str
    role: Literal["leader", "standby"]
    pod: PodRow | None
    figures: ReplicaFigures | None
    #: Its figures entry is older than STALE_SECONDS (the replica may be gone).
    stale: bool


@dataclass(frozen=True)
class Leader:
    holder: str
    #: now - renewTime (None: no renewTime).
    lease_age: float | None
    duration: float | None
    acquired: datetime | None
    transitions: int

    @property
    def expired(self) -> bool:
        """Not renewed within its duration: a standby takes over (or none is left)."""
        return (
            self.lease_age is not None
            and self.duration is not None
            and (self.lease_age > self.duration)
        )


@dataclass(frozen=True)
class NodeRow:
    name: str
    runs: int
    last: datetime | None


@dataclass(frozen=True)
class ClusterView:
    leader: Leader | None
    operators: list[ReplicaRow]
    facades: list[PodRow]
    #: The leader's figures (queue, rates, lag summary), if it publishes them.
    work: ReplicaFigures | None
    #: The leader's worst schedule lags, only of jobs in namespaces the user may see.
    lags: list[LagEntry]
    nodes: list[NodeRow]
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------- helpers


def _image_version(image: str) -> str:
    """The tag of an image reference (``repo:tag``, ``repo@sha256:…`` -> the digest's
    start); "" when it has neither."""
    ref = image.rsplit("/", 1)[-1]
    if "@" in ref:
        return ref.split("@", 1)[1][:19]
    return ref.split(":", 1)[1] if ":" in ref else ""


def pod_row(pod: dict[str, Any]) -> PodRow:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    containers = spec.get("containers") or [{}]
    statuses = status.get("containerStatuses") or []
    image = str(containers[0].get("image") or "")
    labels = meta.get("labels") or {}
    version = str(labels.get("app.kubernetes.io/version") or _image_version(image))
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return PodRow(
        name=str(meta.get("name") or ""),
        node=str(spec.get("nodeName") or ""),
        image=image,
        version=version,
        started=parse_time(status.get("startTime")),
        ready=conditions.get("Ready") == "True",
        restarts=sum(int(s.get("restartCount") or 0) for s in statuses),
        phase=str(status.get("phase") or "Pending"),
    )


def _holder_pod(holder: str) -> str:
    """The pod name in an operator identity ``<hostname>-<pid>``."""
    stem, _, pid = holder.rpartition("-")
    return stem if stem and pid.isdigit() else holder


def leader_of(lease: dict[str, Any] | None, now: datetime) -> Leader | None:
    spec = (lease or {}).get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder:
        return None
    renewed = parse_time(spec.get("renewTime"))
    duration = spec.get("leaseDurationSeconds")
    return Leader(
        holder=str(holder),
        lease_age=None if renewed is None else max(0.0, (now - renewed).total_seconds()),
        duration=float(duration) if isinstance(duration, int | float) else None,
        acquired=parse_time(spec.get("acquireTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def _fresh(entry: ReplicaFigures, now: datetime) -> bool:
    return (now - entry.updated_at).total_seconds() <= STALE_SECONDS


def operator_rows(
    pods: Iterable[dict[str, Any]],
    figures: list[ReplicaFigures],
    leader: Leader | None,
    now: datetime,
) -> list[ReplicaRow]:
    """One row per operator pod, plus one per figures entry of a replica not among the
    pods (a process outside the cluster, or pods the user may not list); the Lease's
    holder leads, whatever a figures entry says."""
    holder = leader.holder if leader else None
    by_identity = {f.identity: f for f in figures}
    by_pod: dict[str, ReplicaFigures] = {}
    for published in sorted(figures, key=lambda f: f.updated_at):
        by_pod[published.pod] = published  # the newest entry of a pod (a restarted process)
    rows: list[ReplicaRow] = []
    seen: set[str] = set()
    for pod in pods:
        row = pod_row(pod)
        leads = holder is not None and _holder_pod(holder) == row.name
        # The holder's own entry (a restarted pod has its old process's entry too).
        entry = (by_identity.get(holder) if leads and holder else None) or by_pod.get(row.name)
        if entry is not None:
            seen.add(entry.identity)
        rows.append(
            ReplicaRow(
                row.name,
                "leader" if leads else "standby",
                row,
                entry,
                entry is not None and not _fresh(entry, now),
            )
        )
    pod_names = {r.name for r in rows}
    for other in figures:
        if other.identity in seen or other.pod in pod_names:
            continue
        rows.append(
            ReplicaRow(
                other.identity,
                "leader" if other.identity == holder else "standby",
                None,
                other,
                not _fresh(other, now),
            )
        )
    if holder and not any(r.role == "leader" for r in rows):
        rows.append(ReplicaRow(holder, "leader", None, None, False))
    # The leader first, then by name: a failover moves a row to the top.
    return sorted(rows, key=lambda r: (r.role != "leader", r.name))


def nodes_of(pods: Iterable[dict[str, Any]], now: datetime) -> list[NodeRow]:
    """The nodes that ran the runs' pods created within NODE_WINDOW: how many, when
    the newest started."""
    found: dict[str, tuple[int, datetime | None]] = {}
    for pod in pods:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        created = parse_time(meta.get("creationTimestamp"))
        node = spec.get("nodeName")
        if not node or created is None or now - created > NODE_WINDOW:
            continue
        count, last = found.get(node, (0, None))
        found[node] = (count + 1, created if last is None or created > last else last)
    return [NodeRow(name, n, last) for name, (n, last) in sorted(found.items())]


def note(read: Read) -> str | None:
    """What the page says calmly about a read that brought nothing."""
    match read.state:
        case "forbidden":
            return f"You may not read {read.what} (Kubernetes RBAC), so they are not shown."
        case "missing":
            return f"There are no {read.what}."
        case "error":
            return f"Could not read {read.what} just now; it is asked again at the next refresh."
    return None


def cluster_view(
    *,
    operator_pods: Read,
    facade_pods: Read,
    lease: Read,
    figures: Read,
    run_pods: dict[str, Read],
    visible: Iterable[str],
    now: datetime,
) -> ClusterView:
    """The page from its reads; ``visible``: the namespaces whose jobs the user may
    list (only their schedule lags are shown: the figures name jobs of every
    namespace)."""
    notes = [n for r in (operator_pods, facade_pods, lease, figures) if (n := note(r))]
    entries, bad = parse_figures((figures.one or {}).get("data"))
    if bad:
        notes.append(f"{len(bad)} operator figure entries could not be read and are left out.")
    leader = leader_of(lease.one, now)
    if lease.state == "ok" and leader is None:
        notes.append("No operator replica holds the leader lease now.")
    elif leader is not None and leader.expired:
        notes.append(
            f"The leader has not renewed its lease for {leader.lease_age:.0f} s: a standby "
            "takes over (if one is running)."
        )
    operators = operator_rows(operator_pods.items, entries, leader, now)
    work = next(
        (r.figures for r in operators if r.role == "leader" and r.figures and r.figures.leader),
        None,
    )
    shown = set(visible)
    lags = [
        e
        for e in (work.schedule_lag.worst if work and work.schedule_lag else [])
        if e.namespace in shown
    ]
    runs: list[dict[str, Any]] = []
    denied = []
    for namespace, read in sorted(run_pods.items()):
        if read.state == "ok":
            runs.extend(read.items)
        elif read.state == "forbidden":
            denied.append(namespace)
        elif text := note(read):
            notes.append(text)
    if denied:
        names = ", ".join(f'"{ns}"' for ns in denied)
        notes.append(
            f"You may not list pods in {names} (Kubernetes RBAC), so the nodes of "
            "runs there are not shown."
        )
    return ClusterView(
        leader=leader,
        operators=operators,
        facades=sorted((pod_row(p) for p in facade_pods.items), key=lambda p: p.name),
        work=work,
        lags=lags,
        nodes=nodes_of(runs, now),
        notes=notes,
    )


def seconds(value: float | None) -> str:
    """A duration as the page shows it: ``"850 ms"``, ``"4.2 s"``, ``"3 min 5 s"``."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"
