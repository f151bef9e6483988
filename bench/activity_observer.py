"""The activity ledger's cost in the operator (issue 22): per ChronosJob watch event, and
per ledger write. No I/O: the observer's synchronous part and the ledger's text.

Usage::

    python bench/activity_observer.py [--jobs N]

Reported: microseconds per event for N new jobs (one entry each), N status writes (the
fingerprint says nothing changed: no diff) and N spec changes; the size of a full ledger
(MAX_ENTRIES entries) and the time to append one entry to it (parse, sort, trim, dump).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any, cast

from lightkube import AsyncClient

from chronos import contract as c
from chronos.models import activity as a
from chronos.operator.activity import Activity


def _job(i: int, generation: int, zone: str) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "team-a",
            "name": f"job-{i}",
            "resourceVersion": str(generation),
            "generation": generation,
            "annotations": {
                c.CHANGED_BY_ANNOTATION: "system:serviceaccount:team-a:alice",
                c.CHANGED_AT_ANNOTATION: f"2026-12-06T10:00:00.{generation:06d}+00:00",
            },
            "managedFields": [
                {"manager": "kubectl-patch", "operation": "Update", "time": "2026-12-06T10:00:00Z"}
            ],
        },
        "spec": {
            "task": {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1", "e2"]},
            "schedule": {"cron": "30 8 * * 1-5"},
            "timeZone": zone,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=5_000)
    n = parser.parse_args().jobs
    observer = Activity(cast(AsyncClient, None))  # no request is made
    observer.listing = False
    jobs = [_job(i, 1, "UTC") for i in range(n)]
    started = time.perf_counter()
    for job in jobs:
        observer.job_event(job, lambda: None)
    created = time.perf_counter() - started
    statuses = [{**j, "metadata": {**j["metadata"], "resourceVersion": "9"}} for j in jobs]
    started = time.perf_counter()
    for job, status in zip(jobs, statuses, strict=True):
        observer.job_event(status, lambda job=job: job)  # type: ignore[misc]
    status_only = time.perf_counter() - started
    changed = [_job(i, 2, "Europe/Rome") for i in range(n)]
    started = time.perf_counter()
    for job, new in zip(jobs, changed, strict=True):
        observer.job_event(new, lambda job=job: job)  # type: ignore[misc]
    change = time.perf_counter() - started
    print(
        f"{n} jobs: created {created / n * 1e6:.1f} us/event, status write "
        f"{status_only / n * 1e6:.1f} us/event, spec change {change / n * 1e6:.1f} us/event"
    )
    now = datetime.now(UTC)
    entries = [
        a.Entry(
            time=now,
            kind=a.Kind.CHANGED,
            namespace="team-a",
            job=f"job-{i}",
            who="system:serviceaccount:team-a:alice",
            source=a.Source.ADMISSION,
            fields=("spec.timeZone",),
        )
        for i in range(a.MAX_ENTRIES)
    ]
    text = a.append(None, entries, now)
    started = time.perf_counter()
    a.append(text, entries[:1], now)
    print(
        f"full ledger: {a.MAX_ENTRIES} entries, {len(text.encode()) / 1024:.0f} KiB; "
        f"append one: {(time.perf_counter() - started) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
