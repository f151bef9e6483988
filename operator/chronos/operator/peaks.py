"""Each run's peak CPU and memory, kept in its record (``RunRecord.peakCpuMillicores``
and ``peakMemoryBytes``) for the dashboard's Runs page and stats over time.

While a run's Job has not finished, the operator (the leader) lists the PodMetrics of
``metrics.k8s.io`` (served by metrics-server) in the run's namespace every
``CHRONOS_PEAK_SAMPLE_SECONDS``, label-selected to the pods of its Jobs, and keeps the
highest figures per run in memory (a run retried in a second pod counts both pods at
once, as the overview does). Once the run is recorded in ``status.history`` (by its
runner, or by the operator for a run the runner could not report), the peaks are
written into that record through the history's amend path (``kubeio.amend_runs``) and
forgotten. So for container and CoreHub runs alike: both run in a pod of a Job.

What this does not see: a run shorter than metrics-server's first scrape of its pod (10 s
at the fastest, and a CPU figure needs two samples) has no peaks; a leader change loses
the peaks of runs still running (the new leader samples on from then on); a cluster
without metrics-server answers 404 and runs simply have no peaks (said once in the log).
RBAC: ``list`` ``pods`` in ``metrics.k8s.io`` (chart and deploy/base).

The decisions (what a sample adds, when a record is amended) are pure and come first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lightkube import ApiError
from lightkube.operators import exists

from chronos import contract as c
from chronos.http import HTTPStatusError
from chronos.kube import PodMetrics
from chronos.models import wire as w
from chronos.models.history import parse_history
from chronos.models.jobstatus import RunRecord
from chronos.operator import kubeio
from chronos.operator.context import OperatorContext
from chronos.usage import pod_usage

log = logging.getLogger(__name__)

#: The pods of a run carry its Job's name (the Job controller's label).
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
#: A finished run whose record has not appeared this long is given up (its peaks are
#: dropped: the runner and the operator record a run within seconds of its end).
RECORD_WAIT_SECONDS = 600.0
#: The longest one namespace's listing may take (a slow aggregated API delays the
#: samples, never the operator's other work: this runs in a task of its own).
LIST_TIMEOUT_SECONDS = 5.0

Key = tuple[str, str]


@dataclass(frozen=True)
class Peak:
    cpu_millicores: float
    memory_bytes: int

    def top(self, other: Peak) -> Peak:
        return Peak(
            max(self.cpu_millicores, other.cpu_millicores),
            max(self.memory_bytes, other.memory_bytes),
        )


def sample(items: Iterable[dict[str, Any]], runs_wanted: Iterable[str]) -> dict[str, Peak]:
    """This listing's use per run (its pods summed), for the runs in ``runs_wanted``."""
    wanted = set(runs_wanted)
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for item in items:
        run = ((item.get("metadata") or {}).get("labels") or {}).get(JOB_NAME_LABEL)
        usage = pod_usage(item)
        if run not in wanted or usage is None:
            continue
        cpu, memory = out.get(run, (Decimal(0), Decimal(0)))
        out[run] = (cpu + usage.cpu, memory + usage.memory)
    return {
        run: Peak(float(round(cpu * 1000, 3)), int(memory)) for run, (cpu, memory) in out.items()
    }


def amended(record: RunRecord, peak: Peak) -> RunRecord | None:
    """``record`` with ``peak`` (each figure the higher of the two), or None when it
    holds those figures already."""
    cpu = max(peak.cpu_millicores, record.peak_cpu_millicores or 0.0)
    memory = max(peak.memory_bytes, record.peak_memory_bytes or 0)
    if (cpu, memory) == (record.peak_cpu_millicores, record.peak_memory_bytes):
        return None
    return record.model_copy(update={"peak_cpu_millicores": cpu, "peak_memory_bytes": memory})


@dataclass
class Tracked:
    owner: Key
    peak: Peak | None = None
    #: Monotonic time the run's Job was last seen unfinished.
    active_at: float = 0.0


@dataclass
class Peaks:
    """The peaks of the runs being sampled, by (namespace, run id)."""

    runs: dict[Key, Tracked] = field(default_factory=dict)

    def running(self, namespace: str, run: str, owner: Key, now: float) -> None:
        tracked = self.runs.setdefault((namespace, run), Tracked(owner))
        tracked.active_at = now

    def add(self, namespace: str, peaks: dict[str, Peak]) -> None:
        for run, peak in peaks.items():
            tracked = self.runs.get((namespace, run))
            if tracked is not None:
                tracked.peak = peak if tracked.peak is None else tracked.peak.top(peak)

    def ended(self, active: set[Key], now: float) -> dict[Key, list[tuple[str, Peak]]]:
        """The sampled runs no longer active, by their ChronosJob; runs without a
        sample are forgotten at once, and all that waited too long for a record."""
        out: dict[Key, list[tuple[str, Peak]]] = {}
        for key, tracked in list(self.runs.items()):
            if key in active:
                continue
            if tracked.peak is None or now - tracked.active_at > RECORD_WAIT_SECONDS:
                del self.runs[key]
                continue
            out.setdefault(tracked.owner, []).append((key[1], tracked.peak))
        return out

    def recorded(self, namespace: str, run: str) -> None:
        self.runs.pop((namespace, run), None)


# ------------------------------------------------------------------------------ I/O


def active_runs(ctx: OperatorContext) -> dict[str, dict[str, Key]]:
    """Unfinished Jobs of the cache by namespace: run id -> its ChronosJob."""
    out: dict[str, dict[str, Key]] = {}
    for owner, name in ctx.cache.running_jobs():
        out.setdefault(owner[0], {})[name] = owner
    return out


async def _listed(ctx: OperatorContext, namespace: str) -> list[dict[str, Any]]:
    items = ctx.client.list(PodMetrics, namespace=namespace, labels={c.JOB_LABEL: exists()})
    return [kubeio.as_dict(i) async for i in items]


async def _write(ctx: OperatorContext, owner: Key, ended: list[tuple[str, Peak]]) -> set[str]:
    """Write the peaks of ``ended`` into their records; the runs recorded (or gone)."""
    fresh = await kubeio.get_chronosjob(ctx.client, *owner)
    if fresh is None:
        return {run for run, _ in ended}
    stored = {r.run_id: r for r in parse_history((fresh.get("status") or {}).get(w.HISTORY))}
    records = []
    for run, peak in ended:
        if run in stored and (record := amended(stored[run], peak)) is not None:
            records.append(record)
    if records:
        limit = (fresh.get("spec") or {}).get("historyLimit") or ctx.settings.history_limit
        await kubeio.amend_runs(ctx.client, owner[0], owner[1], records, limit)
        log.info("%s/%s: recorded peak CPU and memory of %d run(s)", *owner, len(records))
    return {run for run, _ in ended if run in stored}


class Sampler:
    """One round every ``CHRONOS_PEAK_SAMPLE_SECONDS`` while the operator leads."""

    def __init__(self, ctx: OperatorContext) -> None:
        self._ctx = ctx
        self.peaks = Peaks()
        #: (namespace, answer) pairs already said in the log, once each.
        self._said: set[tuple[str, int]] = set()

    async def round(self) -> None:
        now = time.monotonic()
        active = active_runs(self._ctx)
        for namespace, owners in active.items():
            for run, owner in owners.items():
                self.peaks.running(namespace, run, owner, now)
            try:
                items = await asyncio.wait_for(_listed(self._ctx, namespace), LIST_TIMEOUT_SECONDS)
            except ApiError as e:
                self._say(namespace, e.status.code or 0)
                continue
            except HTTPStatusError as e:
                # No metrics.k8s.io registered: the API server's 404 is plain text, not
                # a Status, so lightkube raises it unwrapped (said once, not every round).
                self._say(namespace, e.response.status_code)
                continue
            except TimeoutError:
                continue
            self.peaks.add(namespace, sample(items, owners))
        keys = {(ns, run) for ns, owners in active.items() for run in owners}
        for owner, ended in self.peaks.ended(keys, now).items():
            for run in await _write(self._ctx, owner, ended):
                self.peaks.recorded(owner[0], run)

    def _say(self, namespace: str, code: int) -> None:
        if (namespace, code) in self._said:
            return
        self._said.add((namespace, code))
        known = {
            404: "the metrics.k8s.io API is not served (no metrics-server)",
            503: "the metrics.k8s.io API is not available (metrics-server not answering)",
            403: "RBAC does not let the operator list pods in metrics.k8s.io",
        }
        why = known.get(code, f"the metrics API answered {code}")
        # An expected absence is information; any other answer is a fault to look at.
        level = logging.INFO if code in known else logging.WARNING
        log.log(level, "%s: runs get no peak CPU and memory: %s", namespace, why)

    async def serve(self) -> None:
        while True:
            try:
                await self.round()
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log.warning("peak sampling failed (%s)", kubeio.describe_error(exc))
            await asyncio.sleep(self._ctx.settings.peak_sample_seconds)
