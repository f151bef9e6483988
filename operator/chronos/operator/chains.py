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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
    history: Sequence[RunRecord]


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
            if triggers(upstream.on, record.result):
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


@dataclass
class ChainIndex:
    """Which jobs run after which, per namespace, fed by the ChronosJob informer: the
    downstream jobs to requeue when an upstream's status changes, and the cycles."""

    #: namespace -> job -> its upstream jobs
    edges: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)
    #: (namespace, upstream) -> its downstream jobs
    reverse: dict[Key, set[str]] = field(default_factory=dict)

    def job_event(self, namespace: str, name: str, spec: Mapping[str, object] | None) -> set[Key]:
        """Record a job's ``spec.after`` (``spec`` None: the job is gone). Returns the
        jobs whose place on a cycle may have changed (to reconcile again): every job on
        a cycle through ``name`` before or after the change."""
        after = (spec or {}).get("after")
        ups = (
            frozenset(str(u["job"]) for u in after or [] if isinstance(u, dict) and u.get("job"))
            if isinstance(after, list)
            else frozenset()
        )
        jobs = self.edges.setdefault(namespace, {})
        old = jobs.get(name, frozenset())
        if old == ups and (spec is not None or name not in jobs):
            return set()
        before = set(find_cycle(jobs, name) or [])
        for up in old - ups:
            self.reverse.get((namespace, up), set()).discard(name)
        for up in ups - old:
            self.reverse.setdefault((namespace, up), set()).add(name)
        if ups:
            jobs[name] = ups
        else:
            jobs.pop(name, None)
        after_change = set(find_cycle(jobs, name) or [])
        return {(namespace, j) for j in before | after_change}

    def downstream_of(self, namespace: str, name: str) -> set[Key]:
        return {(namespace, d) for d in self.reverse.get((namespace, name), ())}

    def cycle_through(self, namespace: str, name: str) -> list[str] | None:
        return find_cycle(self.edges.get(namespace, {}), name)
