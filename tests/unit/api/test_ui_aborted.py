"""Issue 20, feature 5: an aborted run on the dashboard: its own badge and banner
(never colour alone), counted today, outside the success rate (a stop on request is
not a failure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from chronos.api import uiviews as v
from chronos.api.mapping import job_view
from chronos.api.web import environment
from chronos.models.wire import ChronosJobDict, RunRecordDict

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)


def _job(records: list[dict[str, Any]]) -> tuple[ChronosJobDict, v.JobRow]:
    obj: ChronosJobDict = {
        "metadata": {"name": "a", "namespace": "ns", "labels": {}},
        "spec": {
            "enabled": True,
            "schedule": {"cron": "30 8 * * *"},
            "timeZone": "UTC",
            "task": {"type": "entity_start", "pipelineId": "p", "entityIds": ["e"]},
        },
        "status": {"history": cast(list[RunRecordDict], records), "activeRuns": []},
    }
    view, _ = job_view(obj, "UTC", NOW)
    return obj, v.job_row(obj, view)


def test_aborted_runs_are_counted_today_but_not_against_the_success_rate() -> None:
    records: list[dict[str, Any]] = [
        {
            "runId": "1",
            "trigger": "schedule",
            "result": "succeeded",
            "endTime": "2026-03-28T09:00:00Z",
            "durationSeconds": 10,
        },
        {
            "runId": "2",
            "trigger": "run-now",
            "result": "aborted",
            "endTime": "2026-03-28T10:00:00Z",
            "reason": "Aborted",
        },
    ]
    o = v.overview([_job(records)], NOW, "UTC")
    assert (o.succeeded_today, o.failed_today, o.aborted_today) == (1, 0, 1)
    assert o.success_rate == "100 %"
    assert o.problems == []


def test_an_aborted_run_has_its_banner_and_badge() -> None:
    record = cast(RunRecordDict, {"runId": "r", "trigger": "run-now", "result": "aborted"})
    view = v.run_view("r", record, False, NOW)
    assert (view.state, view.css, view.icon) == ("aborted", "calm", "■")
    assert view.words == "Aborted: stopped on request before it ended"
    macros = environment().get_template("macros.html").module
    badge = str(macros.result("aborted"))  # type: ignore[attr-defined]
    assert badge == ('<span class="badge calm"><span aria-hidden="true">■</span> aborted</span>')
