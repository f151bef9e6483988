"""Chains and fan-in (issue 20, ``spec.after``): which chain runs are due, decided by
pure functions, and the index upstream → downstream jobs that requeues them.

Exactly once per upstream run: a chain run's Job name is derived from the upstream
job's uid and the upstream run's id (fan-in: from every upstream run it waited for),
so planning it again — a retry, a restart between the upstream's end and the create, a
new leader — creates the same name: AlreadyExists, never a second run. An upstream run
is served once its derived name is a Job of the downstream job or a runId in its
history, or a chain run in its history names it as its cause; scanning an upstream's
history (newest first) stops at the first served run, so runs already served whose Job
and history entry have gone are not served again either.

The I/O (reading the jobs, creating the Jobs) is ``operate.serve_chains``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from chronos.models.chains import ChainOn, RunCause
from chronos.models.chronosjob import ChronosJobSpec, RunRecord, RunResult, RunTrigger
from chronos.models.history import run_time
from chronos.operator.naming import chain_job_name

Key = tuple[str, str]

#: The Ready=False reason of a job on a cycle of spec.after.
CYCLE = "ChainCycle"
#: At most this many chain runs are started per upstream job and sync: an upstream
#: whose history fills at once (a restore) does not start a burst of 100 runs.
MAX_STARTS = 5
#: Results that are no end of a run: a missed or skipped slot never ran.
_NOT_ENDED = frozenset({RunResult.RUNNING.value, RunResult.MISSED.value, RunResult.SKIPPED.value})


def triggers(on: ChainOn, result: str) -> bool:
    """Whether an upstream run that ended ``result`` starts a run under ``on``."""
    if result in _NOT_ENDED:
        return False
    if on == ChainOn.SUCCEEDED:
        return result == RunResult.SUCCEEDED.value
    if on == ChainOn.FAILED:
        return result == RunResult.FAILED.value
    return True  # Completed: succeeded, failed, aborted …


@dataclass(frozen=True)
class UpstreamView:
    """What the planner needs of one upstream job: its uid (a job deleted and made again
    is another job) and its history, newest first."""

    uid: str
    history: Iterable[RunRecord]


class LazyHistory:
    """A stored status.history, each entry parsed when first reached (and kept): the
    planner stops at the first served run, usually the newest, so a sync in which
    nothing is due parses one entry per upstream, not up to 100 (10 upstreams of 100
    runs: 22 ms a sync, parsed in full). An entry the model refuses is left out, as
    ``parse_history`` does."""

    def __init__(self, stored: object) -> None:
        self._raw = list(stored) if isinstance(stored, list) else []
        self._parsed: list[RunRecord | None] = []

    def __iter__(self) -> Iterator[RunRecord]:
        for i, raw in enumerate(self._raw):
            if i == len(self._parsed):
                try:
                    self._parsed.append(RunRecord.model_validate(raw))
                except ValidationError:
                    self._parsed.append(None)
            if (record := self._parsed[i]) is not None:
                yield record


@dataclass(frozen=True)
class ChainStart:
    """One chain run to start: its Job's name and the upstream run that caused it."""

    job: str
    cause: RunCause


@dataclass(frozen=True)
class Downstream:
    """The downstream job as the planner sees it."""

    #: Its CronJob's name: the stem of its Jobs' names.
    cronjob: str
    #: When it was created: upstream runs that ended before it do not start runs.
    created: datetime
    #: Its Jobs' names and the runIds of its history (lastRun included).
    known: frozenset[str]
    #: Its history (newest first): causes of past chain runs, its last run's time.
    history: Sequence[RunRecord] = ()
    #: When its newest Job was created (a run not in the history yet).
    newest_job: datetime | None = None

    @property
    def causes(self) -> frozenset[tuple[str, str]]:
        return frozenset((r.cause.job, r.cause.run_id) for r in self.history if r.cause)


def plan(
    spec: ChronosJobSpec, down: Downstream, upstreams: Mapping[str, UpstreamView]
) -> list[ChainStart]:
    """The chain runs due for ``spec`` (a job with ``after``), oldest cause first.
    ``upstreams``: the upstream jobs that exist (a missing one starts nothing)."""
    if not spec.after:
        return []
    if spec.after_all:
        start = fan_in(spec, down, upstreams)
        return [] if start is None else [start]
    starts: list[tuple[datetime, ChainStart]] = []
    causes = down.causes
    for upstream in spec.after:
        view = upstreams.get(upstream.job)
        if view is None:
            continue
        due: list[tuple[datetime, ChainStart]] = []
        for record in view.history:
            end = record.end_time
            if record.result in _NOT_ENDED or end is None:
                continue
            if end <= down.created:
                break
            name = chain_job_name(down.cronjob, [(view.uid, record.run_id)])
            if name in down.known or (upstream.job, record.run_id) in causes:
                break  # served, and every older run before it
            if triggers(upstream.when, record.result):
                cause = RunCause(job=upstream.job, run_id=record.run_id, result=record.result)
                due.append((end, ChainStart(name, cause)))
        starts += due[:MAX_STARTS]  # the newest, if an upstream has a burst
    return [s for _, s in sorted(starts, key=lambda p: (p[0], p[1].job))]


def last_run(down: Downstream) -> datetime | None:
    """When the downstream job last ran: its newest run in history that ran (a missed or
    skipped slot did not), or its newest Job."""
    times = [
        t
        for r in down.history
        if r.result not in (RunResult.MISSED.value, RunResult.SKIPPED.value)
        and (t := r.start_time or run_time(r)) is not None
    ]
    if down.newest_job is not None:
        times.append(down.newest_job)
    return max(times) if times else None


def fan_in(
    spec: ChronosJobSpec, down: Downstream, upstreams: Mapping[str, UpstreamView]
) -> ChainStart | None:
    """The fan-in run due: once each upstream job has a success that ended after the
    downstream's last run (and its creation), and — with afterWithinSeconds — those
    successes ended within that many seconds of each other. The run is named after all
    of them, and its cause is the success that completed the set (the newest)."""
    floor = max([down.created, *([t] if (t := last_run(down)) else [])])
    chosen: list[tuple[datetime, str, str, str]] = []  # end, job, uid, runId
    for upstream in spec.after or []:
        view = upstreams.get(upstream.job)
        if view is None:
            return None
        newest = next(
            (
                r
                for r in view.history
                if r.result == RunResult.SUCCEEDED.value and r.end_time and r.end_time > floor
            ),
            None,
        )
        if newest is None or newest.end_time is None:
            return None
        chosen.append((newest.end_time, upstream.job, view.uid, newest.run_id))
    ends = [c[0] for c in chosen]
    within = spec.after_within_seconds
    if within is not None and max(ends) - min(ends) > timedelta(seconds=within):
        return None
    name = chain_job_name(down.cronjob, sorted((uid, run) for _, _, uid, run in chosen))
    if name in down.known:
        return None
    _, job, _, run_id = max(chosen)
    cause = RunCause(job=job, run_id=run_id, result=RunResult.SUCCEEDED.value)
    return ChainStart(name, cause)


def refused_record(start: ChainStart, blocking: Sequence[str], now: datetime) -> RunRecord:
    """The history entry of a chain run refused under concurrencyPolicy Forbid: under
    its Job's name (so it is served), with its cause."""
    return RunRecord(
        run_id=start.job,
        trigger=RunTrigger.CHAIN,
        result=RunResult.MISSED,
        end_time=now,
        reason="ConcurrencyForbid",
        message=(
            f"chain run refused: run {', '.join(blocking)} was still active "
            "(concurrencyPolicy Forbid)"
        ),
        reported_by="operator",
        cause=start.cause,
    )


# ------------------------------------------------------------------------- cycles


def find_cycle(edges: Mapping[str, Iterable[str]], start: str) -> list[str] | None:
    """A cycle of ``edges`` (job → its upstream jobs) through ``start``, as the jobs in
    order from ``start`` (``[a, b]``: a runs after b, b after a); None if there is none.
    Depth-first, iterative (no recursion limit), the upstreams in name order so the
    answer is the same every time."""
    path: list[str] = [start]
    stack: list[list[str]] = [sorted(edges.get(start, ()), reverse=True)]
    seen: set[str] = {start}
    while stack:
        if not stack[-1]:
            stack.pop()
            path.pop()
            continue
        nxt = stack[-1].pop()
        if nxt == start:
            return list(path)
        if nxt in seen:
            continue
        seen.add(nxt)
        path.append(nxt)
        stack.append(sorted(edges.get(nxt, ()), reverse=True))
    return None


def cycle_message(cycle: Sequence[str]) -> str:
    chain = " → ".join([*cycle, cycle[0]])
    return (
        f"spec.after makes a cycle: {chain} (each runs after the next); no chain run "
        "starts until one of them leaves the cycle"
    )


def cyclic_groups(edges: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """Each job on a cycle of ``edges`` and the jobs of its strongly connected component
    (Tarjan's algorithm, iterative: O(jobs + edges), no recursion limit). A job alone
    is on a cycle only when it names itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: dict[str, frozenset[str]] = {}
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    members.append(top)
                    if top == node:
                        break
                group = frozenset(members)
                if len(group) > 1 or node in edges.get(node, ()):
                    groups.update(dict.fromkeys(group, group))
    return groups


@dataclass
class ChainIndex:
    """Which jobs run after which, per namespace, fed by the ChronosJob informer: the
    downstream jobs to requeue when an upstream's status changes, and the cycles.

    The cycles are found once per change of a namespace's edges, when first asked
    (``settle``, at a sync), not at each informer event: at start the informer lists
    every job before any sync, and the namespace's graph is read once (O(jobs + edges));
    deciding per event cost O(chain length) each, 330 s for a 10,000-job chain."""

    #: namespace -> job -> its upstream jobs
    edges: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)
    #: (namespace, upstream) -> its downstream jobs
    reverse: dict[Key, set[str]] = field(default_factory=dict)
    #: namespace -> job -> the jobs of the cycle group it is in, as last settled
    groups: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)
    #: namespaces whose edges changed since they were last settled
    dirty: set[str] = field(default_factory=set)
    _cycles: dict[Key, list[str]] = field(default_factory=dict)

    def job_event(self, namespace: str, name: str, spec: Mapping[str, object] | None) -> None:
        """Record a job's ``spec.after`` (``spec`` None: the job is gone)."""
        after = (spec or {}).get("after")
        ups = (
            frozenset(str(u["job"]) for u in after if isinstance(u, dict) and u.get("job"))
            if isinstance(after, list)
            else frozenset()
        )
        jobs = self.edges.setdefault(namespace, {})
        old = jobs.get(name, frozenset())
        if old == ups:
            return
        for up in old - ups:
            self.reverse.get((namespace, up), set()).discard(name)
        for up in ups - old:
            self.reverse.setdefault((namespace, up), set()).add(name)
        if ups:
            jobs[name] = ups
        else:
            jobs.pop(name, None)
        self.dirty.add(namespace)

    def settle(self, namespace: str) -> set[Key]:
        """Find the namespace's cycles again if its edges changed; the jobs whose cycle
        group changed (to reconcile again: Ready says ChainCycle, or no longer)."""
        if namespace not in self.dirty:
            return set()
        self.dirty.discard(namespace)
        old = self.groups.get(namespace, {})
        new = cyclic_groups(self.edges.get(namespace, {}))
        self.groups[namespace] = new
        changed = {j for j in old.keys() | new.keys() if old.get(j) != new.get(j)}
        for job in changed:
            self._cycles.pop((namespace, job), None)
        return {(namespace, j) for j in changed}

    def downstream_of(self, namespace: str, name: str) -> set[Key]:
        return {(namespace, d) for d in self.reverse.get((namespace, name), ())}

    def cycle_through(self, namespace: str, name: str) -> list[str] | None:
        """The cycle ``name`` is on, in order (as of the last ``settle``), or None."""
        group = self.groups.get(namespace, {}).get(name)
        if group is None:
            return None
        key = (namespace, name)
        if key not in self._cycles:
            edges = self.edges.get(namespace, {})
            inside = {j: edges.get(j, frozenset()) & group for j in group}
            self._cycles[key] = find_cycle(inside, name) or [name]
        return self._cycles[key]
