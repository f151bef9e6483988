"""The kubectl plugin's pure parts: the printer columns read from a ChronosJob, times on
the viewer's clock, the next runs with DST changes marked, history and describe text,
error messages, completion and the offline preview (a fixed "now", never the clock)."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from builders import chronosjob

from chronos.kubectl import commands, completion, views
from chronos.kubectl.__main__ import main
from chronos.kubectl.commands import Io
from chronos.kubectl.errors import CliError
from chronos.models.chronosjob import RunRecord
from chronos.models.crd import PRINTER_COLUMNS
from chronos.schedule.occurrences import ScheduleRule, TimeRules, slots

NOW = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)
ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
READY = {
    "type": "Ready",
    "status": "True",
    "reason": "Applied",
    "message": "CronJob orders is up to date",
    "lastTransitionTime": "2026-11-29T06:00:00Z",
}


def job(name: str = "orders", **status: object) -> dict[str, object]:
    obj = chronosjob(name, "shop", status={"conditions": [READY], **status})
    obj["metadata"]["creationTimestamp"] = "2026-11-26T07:00:00Z"
    return obj


def test_jsonpath_reads_every_printer_column_form() -> None:
    obj = job(cron="30 8 * * 1-5", nextRunTimes=["2026-11-30T08:30:00+01:00"])
    assert views.jsonpath(obj, '.status.conditions[?(@.type=="Ready")].status') == "True"
    assert views.jsonpath(obj, '.status.conditions[?(@.type=="RunsBlocked")].status') is None
    assert views.jsonpath(obj, ".status.nextRunTimes[0]") == "2026-11-30T08:30:00+01:00"
    assert views.jsonpath(obj, ".status.nextRunTimes[3]") is None
    assert views.jsonpath(obj, ".spec.task.type") == "entity_start"
    assert views.jsonpath(obj, ".spec.calendarRef.name") is None
    # every column the CRD declares is in the subset read here
    for column in PRINTER_COLUMNS:
        views.jsonpath(obj, column["jsonPath"])
    with pytest.raises(ValueError, match="unsupported"):
        views.jsonpath(obj, ".spec..task")


def test_get_table_has_the_printer_columns_and_the_next_run_on_the_viewers_clock() -> None:
    objs = [
        job("orders", cron="30 8 * * 1-5", timeZone="Europe/Rome",
            nextRunTimes=["2026-11-30T08:30:00+01:00"], lastRun={"result": "succeeded"}),
        job("refunds"),
    ]  # fmt: skip
    text = views.get_table(objs, viewer=NEW_YORK, now=NOW)
    header, first, second = text.splitlines()
    assert header.split("   ")[0] == "NAME"
    for name in ("READY", "BLOCKED", "SCHEDULE", "TIME ZONE", "NEXT RUN", "NEXT RUN (LOCAL)"):
        assert name in header
    assert "CALENDAR" not in header  # priority 1: -o wide only
    # 08:30 in Rome is 02:30 in New York, 24.5 hours after NOW
    assert "2026-11-30 02:30 EST (in 24h)" in first
    assert "succeeded" in first
    assert "3d" in first
    assert second.startswith("refunds")
    assert header.index("NEXT RUN (LOCAL)") == first.index("2026-11-30 02:30 EST")

    wide = views.get_table(objs, viewer=UTC, now=NOW, wide=True, all_namespaces=True)
    assert wide.splitlines()[0].startswith("NAMESPACE")
    assert "SUSPEND REASON" in wide
    assert "2026-11-30 07:30 UTC" in wide


def test_human_durations_and_relative_times() -> None:
    assert views.human_duration(timedelta(seconds=59)) == "59s"
    assert views.human_duration(timedelta(minutes=90)) == "90m"
    assert views.human_duration(timedelta(hours=30)) == "30h"
    assert views.human_duration(timedelta(days=9)) == "9d"
    assert views.relative(NOW + timedelta(minutes=5), NOW) == "in 5m"
    assert views.relative(NOW - timedelta(hours=3), NOW) == "3h ago"


def _slots(cron: str, zone: str, after: datetime, count: int) -> list:  # type: ignore[type-arg]
    return slots(
        TimeRules(schedules=(ScheduleRule("", cron, None),), zone=zone), after, limit=count
    )


def test_runs_across_spring_forward_mark_the_change_and_the_skipped_wall_time() -> None:
    # Rome springs forward on 2027-03-28 at 02:00: 02:30 does not exist that day.
    after = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)
    found = _slots("30 2 * * *", "Europe/Rome", after, 4)
    lines = views.slot_lines(found, "Europe/Rome", UTC, after)
    text = "\n".join(lines)
    assert "── DST: clocks go forward 02:00 → 03:00 (2027-03-28) ──" in text
    skipped = [line for line in lines if "SKIPPED" in line]
    assert len(skipped) == 1
    assert "02:30 does not exist on 2027-03-28" in skipped[0]
    assert "Sat 2027-03-27 02:30 CET (+01:00)" in text
    assert "Mon 2027-03-29 02:30 CEST (+02:00)" in text
    # the change is listed once, before the first slot after it
    change = next(i for i, line in enumerate(lines) if "clocks go forward" in line)
    assert "2027-03-27" in lines[change - 1]
    assert "2027-03-28" in lines[change + 1]


def test_runs_across_fall_back_say_which_of_the_two_times() -> None:
    after = datetime(2027, 10, 30, 12, 0, tzinfo=UTC)
    found = _slots("30 2 * * *", "Europe/Rome", after, 3)
    text = "\n".join(views.slot_lines(found, "Europe/Rome", ROME, after))
    assert "clocks go back 03:00 → 02:00 (2027-10-31)" in text
    assert "this is the first" in text
    assert "this is the second" in text
    assert "you:" not in text  # the viewer is in the job's zone: one clock is enough


def _record(run: str, **fields: object) -> RunRecord:
    base = {"runId": run, "trigger": "schedule", "result": "succeeded"}
    return RunRecord.model_validate(base | fields)


def test_history_table_in_the_viewers_time_with_reasons() -> None:
    records = [
        _record("orders-2", result="failed", reason="TaskRejected",
                message="CoreHub said: no\nsecond line " + "x" * 100,
                startTime="2026-11-29T06:00:00Z", endTime="2026-11-29T06:01:15Z"),
        _record("orders-1", trigger="run-now", startTime="2026-11-28T06:00:00Z",
                durationSeconds=2.5),
    ]  # fmt: skip
    text = views.history_table(records, ROME, NOW)
    header, first, second = text.splitlines()
    assert header.split() == [
        "RUN",
        "TRIGGER",
        "RESULT",
        "REASON",
        "STARTED",
        "DURATION",
        "MESSAGE",
    ]
    assert "failed" in first
    assert "TaskRejected" in first
    assert "2026-11-29 07:00 CET (60m ago)" in first
    assert "75.0s" in first
    assert first.endswith("…")
    assert "\n" not in first
    assert "run-now" in second
    assert "2.5s" in second


def test_describe_text_has_every_section() -> None:
    obj = job(cron="30 2 * * *", timeZone="Europe/Rome")
    after = datetime(2027, 3, 26, 12, 0, tzinfo=UTC)
    text = views.describe_text(
        obj,
        schedule_words="At 02:30 every day",
        zone="Europe/Rome",
        slots=_slots("30 2 * * *", "Europe/Rome", after, 10),
        history=[_record("orders-1", reason="Succeeded", startTime="2027-03-25T01:30:00Z")],
        viewer=NEW_YORK,
        now=after,
        notes=["a note"],
    )
    assert "Name:         orders" in text
    assert "Namespace:    shop" in text
    assert "At 02:30 every day" in text
    assert "Next 10 runs:" in text
    assert "  10. " in text
    assert "clocks go forward" in text
    assert "note: a note" in text
    assert "Applied" in text
    assert "CronJob orders is up to date" in text
    assert "Last runs (newest first, 1 of 1):" in text
    assert "Succeeded" in text


def test_errors_name_the_close_jobs_and_the_denied_verb() -> None:
    close = views.close_names("ordrs", ["orders", "orders-eu", "refunds", "billing"])
    assert close[:2] == ["orders", "orders-eu"]
    assert "billing" not in close
    assert views.not_found("ordrs", "shop", close[:1]) == (
        'chronosjob "ordrs" not found in namespace "shop"; did you mean "orders"?'
    )
    assert views.not_found("zzz", "shop", []) == 'chronosjob "zzz" not found in namespace "shop"'
    assert views.forbidden("patch", "chronosjobs", "shop").startswith(
        'forbidden: you may not patch chronosjobs in namespace "shop"'
    )
    assert "in all namespaces" in views.forbidden("list", "chronosjobs", None)


def test_completion_candidates() -> None:
    flags = {"get": ["--namespace", "--output"], "describe": ["--context"], "preview": ["--tz"]}
    seen: list[list[str]] = []

    def names(words: object) -> list[str]:
        seen.append(list(words))  # type: ignore[call-overload]
        return ["orders", "refunds"]

    jobs = ("get", "describe")
    assert completion.candidates(["de"], flags, names, jobs) == ["describe"]
    assert completion.candidates(["get", "--o"], flags, names, jobs) == ["--output"]
    assert completion.candidates(["describe", "-n", "x", "o"], flags, names, jobs) == ["orders"]
    assert seen == [["describe", "-n", "x", "o"]]
    assert completion.candidates(["describe", "-n", ""], flags, names, jobs) == []  # a namespace
    assert completion.candidates(["preview", ""], flags, names, jobs) == []
    assert completion.flag_value(["get", "-n", "a", "--namespace=b"], "-n", "--namespace") == "b"
    assert completion.flag_value(["get"], "--context") is None
    for shell in completion.SHELLS:
        assert "kubectl-chronos __complete" in completion.script(shell)


def _io(now: datetime, viewer: object = UTC) -> tuple[Io, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Io(out, err, viewer, clock=lambda: now), out, err  # type: ignore[arg-type]


def test_preview_is_offline_and_marks_dst() -> None:
    io_, out, _ = _io(datetime(2027, 3, 27, 12, 0, tzinfo=UTC))
    assert commands.preview(io_, "30 2 * * *", "Europe/Rome", 3) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "At 02:30 every day (Europe/Rome)"
    assert "clocks go forward" in lines[1]
    assert "SKIPPED" in lines[2]
    assert len([line for line in lines if line.strip()[:2].rstrip(".").isdigit()]) == 3
    with pytest.raises(CliError, match="unknown time zone"):
        commands.preview(io_, "30 2 * * *", "Mars/Base", 3)


def test_bad_input_is_one_error_line_never_a_trace() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["preview", "61 * * * *", "--tz", "UTC"], out, err) == 1
    assert err.getvalue() == "error: schedule.cron: end of range (61) above maximum (59): 61\n"
    err = io.StringIO()
    assert main(["preview", "* * * * *", "--tz", "UTC", "--count", "0"], out, err) == 1
    assert err.getvalue() == "error: --count must be between 1 and 1000\n"
    out = io.StringIO()
    assert main(["completion", "bash"], out, err) == 0
    assert "complete -o default -F _kubectl_chronos kubectl-chronos" in out.getvalue()


def test_preview_from_a_given_time_through_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    out, err = io.StringIO(), io.StringIO()
    argv = ["preview", "30 2 * * 0", "--tz", "Europe/Rome", "--count", "3"]
    assert main([*argv, "--from", "2027-10-20T00:00:00Z"], out, err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0] == "At 02:30 on Sunday (Europe/Rome)"
    assert lines[1].startswith(
        "   1. Sun 2027-10-24 02:30 CEST (+02:00)   you: 2027-10-23 20:30 EDT"
    )
    assert "this is the first" in lines[2]
    assert lines[3] == "  ── DST: clocks go back 03:00 → 02:00 (2027-10-31) ──"
    assert "Sun 2027-10-31 02:30 CET (+01:00)" in lines[4]
    assert "this is the second" in lines[4]
    assert main([*argv, "--from", "yesterday"], out, err) == 1
    assert err.getvalue().endswith("error: --from: not an RFC 3339 time: 'yesterday'\n")


def test_kubectls_completion_protocol_through_the_installed_executable() -> None:
    """kubectl 1.26+ runs kubectl_complete-chronos with the words typed so far and reads
    one candidate a line, then ``:<directive>`` (4: no file names)."""
    exe = Path(sys.executable).with_name("kubectl_complete-chronos")
    done = subprocess.run([str(exe), "su"], capture_output=True, text=True, check=True)
    assert done.stdout == "suspend\n:4\n"
    done = subprocess.run([str(exe), "run", "--f"], capture_output=True, text=True, check=True)
    assert done.stdout == "--follow\n:4\n"
