"""CPU and memory of running runs, for the overview: PodMetrics of ``metrics.k8s.io``.

Where the cluster serves the resource metrics API (metrics-server), the overview's
"Running now" shows each run's CPU and memory, as Cronicle does. They are read with the
caller's OWN token (``acting_as``), so RBAC decides (``list`` ``pods`` in
``metrics.k8s.io``); never through the kubelet's ``nodes/proxy``. One request per
namespace, label-selected to the Job pods of the runs running there, cached briefly per
caller and namespace, and bounded in time: a slow aggregated API costs the page at most
:data:`TIMEOUT_SECONDS`, never a stalled page.

The pure parts (Kubernetes quantities and the words shown: ``chronos.usage``, shared with
the operator's peak sampling; the sum per run) are unit-tested without a cluster.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from lightkube import ApiError, AsyncClient
from lightkube.operators import in_

from chronos import http
from chronos.api.auth import acting_as, token_key
from chronos.api.cache import JobCache, plain
from chronos.api.runlog import JOB_NAME_LABEL
from chronos.kube import PodMetrics
from chronos.models.wire import ACTIVE_RUNS
from chronos.usage import Usage as Usage
from chronos.usage import format_cpu as format_cpu
from chronos.usage import format_memory as format_memory
from chronos.usage import format_usage as format_usage
from chronos.usage import parse_quantity as parse_quantity
from chronos.usage import pod_usage

log = logging.getLogger(__name__)
#: How long one caller's answer for one namespace is reused (metrics-server itself
#: scrapes every 10 s at the fastest, so a fresher read would show the same numbers).
TTL_SECONDS = 5.0
#: The longest the overview waits for the aggregated API (all namespaces at once).
TIMEOUT_SECONDS = 2.0
#: Bound on the cache; when full it is emptied.
MAX_ENTRIES = 4096

NOT_SERVED = "CPU and memory need metrics-server (the metrics.k8s.io API is not served here)."
SLOW = "CPU and memory are not shown: metrics-server did not answer in time (or failed)."

# ------------------------------------------------------------------------ pure parts


def usage_by_run(items: Iterable[dict[str, Any]], runs: Iterable[str]) -> dict[str, Usage]:
    """The PodMetrics ``items`` summed per run (the Job, whose pods carry its name in
    ``batch.kubernetes.io/job-name``; a retried run can have two pods at once). Runs
    whose pods have no metrics yet (not scraped) are absent. A malformed quantity counts
    as no metrics for that pod, never an error page."""
    wanted = set(runs)
    out: dict[str, Usage] = {}
    for item in items:
        labels = (item.get("metadata") or {}).get("labels") or {}
        run = labels.get(JOB_NAME_LABEL)
        pod = pod_usage(item)
        if run not in wanted or pod is None:
            continue
        out[run] = out[run] + pod if run in out else pod
    return out


State = Literal["ok", "not-served", "forbidden", "slow"]


@dataclass(frozen=True)
class NamespaceUsage:
    """One namespace's answer: its state, and the usage of each run with metrics."""

    state: State
    runs: dict[str, Usage] = field(default_factory=dict)


@dataclass(frozen=True)
class RunningUsage:
    """What the overview's "Running now" shows: a column only when some namespace
    answered; each run's words, or "—" while its pods are not scraped yet; notes that
    say calmly why numbers are missing. Hashable, so it can key a shared render."""

    column: bool = False
    cells: tuple[tuple[tuple[str, str], str], ...] = ()
    notes: tuple[str, ...] = ()

    def cell(self, namespace: str, run: str) -> str:
        return dict(self.cells).get((namespace, run), "")


def forbidden_note(namespaces: list[str]) -> str:
    where = ", ".join(f'"{ns}"' for ns in namespaces)
    noun = "namespace" if len(namespaces) == 1 else "namespaces"
    return (
        f"CPU and memory are not shown for {noun} {where}: you may not read pod metrics "
        "there (Kubernetes RBAC: list pods in metrics.k8s.io)."
    )


def running_usage(answers: dict[str, NamespaceUsage], runs: dict[str, list[str]]) -> RunningUsage:
    """The overview's view of the namespaces' ``answers`` for their running ``runs``."""
    cells: list[tuple[tuple[str, str], str]] = []
    forbidden: list[str] = []
    notes: list[str] = []
    for namespace in sorted(answers):
        answer = answers[namespace]
        if answer.state == "forbidden":
            forbidden.append(namespace)
        elif answer.state == "ok":
            for run in runs.get(namespace, []):
                usage = answer.runs.get(run)
                cells.append(((namespace, run), format_usage(usage) if usage else "—"))
    states = {a.state for a in answers.values()}
    if "not-served" in states:
        notes.append(NOT_SERVED)
    if "slow" in states:
        notes.append(SLOW)
    if forbidden:
        notes.append(forbidden_note(forbidden))
    return RunningUsage(column="ok" in states, cells=tuple(cells), notes=tuple(notes))


# ---------------------------------------------------------------------- Kubernetes


def active_runs(cache: JobCache, namespaces: list[str]) -> dict[str, list[str]]:
    """The run ids of each namespace's active runs (its jobs' ``status.activeRuns``)."""
    return {
        ns: [
            str(run)
            for entry in cache.entries(ns)
            for run in (entry.obj.get("status") or {}).get(ACTIVE_RUNS) or []
        ]
        for ns in namespaces
    }


def anything_running(cache: JobCache) -> bool:
    return any(
        (entry.obj.get("status") or {}).get(ACTIVE_RUNS)
        for ns in cache.namespaces()
        for entry in cache.entries(ns)
    )


def _state(code: int | None) -> State:
    if code == 403:
        return "forbidden"
    # 404: the group is not served; 503: its APIService is unavailable; anything else
    # the page cannot help with either.
    return "not-served" if code in (404, 503) else "slow"


def _answer(
    task: asyncio.Task[NamespaceUsage], done: set[asyncio.Task[NamespaceUsage]]
) -> NamespaceUsage:
    """A task's answer; one still waiting, or one that failed in a way the reads do not
    expect (an answer that is no PodMetricsList), counts as "slow": a note, never a 500."""
    if task not in done:
        return NamespaceUsage("slow")
    failure = task.exception()
    if failure is not None:
        log.warning("reading pod metrics failed: %r", failure)
        return NamespaceUsage("slow")
    return task.result()


class PodMetricsReader:
    """Reads the running runs' PodMetrics as the caller, cached per caller and namespace."""

    def __init__(
        self, client: AsyncClient, ttl: float = TTL_SECONDS, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._timeout = timeout
        self._cache: dict[tuple[str, str, frozenset[str]], tuple[float, NamespaceUsage]] = {}

    async def _read(
        self, token: str | None, namespace: str, runs: frozenset[str]
    ) -> NamespaceUsage:
        key = (token_key(token or ""), namespace, runs)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        try:
            with acting_as(token):
                found = self._client.list(
                    PodMetrics, namespace=namespace, labels={JOB_NAME_LABEL: in_(sorted(runs))}
                )
                items = [plain(item) async for item in found]
            answer = NamespaceUsage("ok", usage_by_run(items, runs))
        except ApiError as exc:
            answer = NamespaceUsage(_state(exc.status.code))
        except http.HTTPStatusError as exc:  # an answer that is no Status: "404 page not found"
            answer = NamespaceUsage(_state(exc.response.status_code))
        except http.HTTPError:
            answer = NamespaceUsage("slow")
        if len(self._cache) >= MAX_ENTRIES:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + self._ttl, answer)
        return answer

    async def running(self, token: str | None, runs: dict[str, list[str]]) -> RunningUsage:
        """The usage of ``runs`` (namespace -> run ids), all namespaces read at once;
        those that do not answer within the time-out count as "slow" (not cached, so
        the next refresh asks again)."""
        wanted = {ns: frozenset(ids) for ns, ids in runs.items() if ids}
        if not wanted:
            return RunningUsage()
        tasks = {ns: asyncio.create_task(self._read(token, ns, ids)) for ns, ids in wanted.items()}
        done, pending = await asyncio.wait(tasks.values(), timeout=self._timeout)
        for task in pending:
            task.cancel()
        answers = {ns: _answer(task, done) for ns, task in tasks.items()}
        return running_usage(answers, {ns: sorted(ids) for ns, ids in wanted.items()})
