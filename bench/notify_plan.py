"""What the notifier adds to each sync of a job with ``spec.notify``: ``notices.plan``
with the controller's schedule finder (``controller._next_slot``, built only when a rule
wants ``absent``), for a job with a 20-run history, 20 delivered keys and two channels.

Pure: no control plane. Usage::

    python bench/notify_plan.py [--absent] [--number N]
"""

from __future__ import annotations

import argparse
import timeit
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from chronos.models.wire import ChronosJobDict
from chronos.operator import notices
from chronos.operator.context import OperatorContext
from chronos.operator.controller import _next_slot
from chronos.operator.settings import OperatorSettings
from chronos.times import rfc3339


def job(absent: bool, now: datetime) -> ChronosJobDict:
    history = []
    for i in range(20):
        end = now - timedelta(hours=i)
        history.append(
            {
                "runId": f"j-{i}",
                "trigger": "schedule",
                "result": "failed" if i % 3 else "succeeded",
                "startTime": rfc3339(end - timedelta(seconds=30)),
                "endTime": rfc3339(end),
                "durationSeconds": 30.0,
                "reportedBy": "runner",
            }
        )
    on = ["failed", "recovered", *(["absent"] if absent else [])]
    obj: dict[str, Any] = {
        "metadata": {"name": "j", "namespace": "ns", "uid": "uid-1", "generation": 1},
        "spec": {
            "task": {"type": "pipeline_start", "pipelineId": "p1"},
            "schedule": {"cron": "*/5 * * * *"},
            "notify": [{"channel": "ops", "events": on}, {"channel": "mail", "events": ["failed"]}],
        },
        "status": {
            "history": history,
            "lastRun": history[0],
            "notifications": {
                "since": rfc3339(now - timedelta(days=2)),
                "delivered": [f"uid-1.j-{i}.failed/ops" for i in range(20)],
            },
        },
    }
    return cast(ChronosJobDict, obj)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--absent", action="store_true", help="a rule wants absent")
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    cr = job(args.absent, now)
    settings = OperatorSettings.model_validate(
        {"corehub_url": "https://hub:1717", "corehub_credentials_secret": "hub"}
    )
    ctx = OperatorContext(client=None, settings=settings)  # type: ignore[arg-type]

    def once() -> int:
        return len(notices.plan(cr, now=now, next_slot=_next_slot(ctx, cr)))

    seconds = timeit.timeit(once, number=args.number)
    print(f"plan per sync: {seconds / args.number * 1e6:.0f} us ({once()} pending)")


if __name__ == "__main__":
    main()
