"""The dashboard's pure parts: sessions and CSRF tokens, the vendored scripts' hashes,
and the view-model functions (``chronos.api.uiviews``)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from support import TESTS

from chronos.api import uiviews as v
from chronos.api.mapping import job_view
from chronos.api.session import SessionCodec
from chronos.api.web import CSP, VENDORED, environment, scripts
from chronos.models.wire import ChronosJobDict, RunRecordDict
from chronos.schedule import next_run_times

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
KEY = b"k" * 32


# -------------------------------------------------------------------------- session


def test_a_sealed_session_opens_with_its_token_until_it_expires() -> None:
    codec = SessionCodec(KEY, 3600)
    cookie = codec.seal("the-token", 1000.0)
    assert "the-token" not in cookie
    opened = codec.open(cookie, 1000.0 + 3599)
    assert opened is not None
    assert opened.token == "the-token"
    assert codec.open(cookie, 1000.0 + 3600) is None


def test_a_session_is_refused_when_altered_forged_or_sealed_with_another_key() -> None:
    codec = SessionCodec(KEY, 3600)
    cookie = codec.seal("the-token", 1000.0)
    raw = bytearray(base64.urlsafe_b64decode(cookie[3:] + "=" * (-len(cookie[3:]) % 4)))
    raw[-1] ^= 1
    altered = "v1." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert codec.open(altered, 1000.0) is None
    assert SessionCodec(b"x" * 32, 3600).open(cookie, 1000.0) is None
    for junk in (None, "", "v1.", "v1.!!!", "v2." + cookie[3:], "v1.AAAA"):
        assert codec.open(junk, 1000.0) is None


def test_two_seals_of_one_token_differ_and_both_open() -> None:
    codec = SessionCodec(KEY, 60)
    first, second = codec.seal("t", 0.0), codec.seal("t", 0.0)
    assert first != second
    assert codec.open(first, 1.0) is not None
    assert codec.open(second, 1.0) is not None


def test_csrf_tokens_belong_to_one_caller_and_one_key() -> None:
    codec = SessionCodec(KEY, 60)
    token = codec.csrf("alice-token")
    assert token == codec.csrf("alice-token")
    assert codec.csrf_ok("alice-token", token)
    assert not codec.csrf_ok("bob-token", token)
    assert not codec.csrf_ok("alice-token", "")
    assert not codec.csrf_ok("alice-token", None)
    assert not SessionCodec(b"y" * 32, 60).csrf_ok("alice-token", token)


# ----------------------------------------------------------------- vendored scripts


def test_every_vendored_script_matches_its_recorded_sri_hash() -> None:
    entries = json.loads(VENDORED.read_text())["scripts"]
    assert [e["package"] for e in entries] == ["htmx.org", "htmx-ext-sse"]
    for entry in entries:
        data = (VENDORED.parent / entry["file"]).read_bytes()
        digest = base64.b64encode(hashlib.sha384(data).digest()).decode()
        assert entry["sha384"] == f"sha384-{digest}", entry["file"]
        assert entry["version"] in entry["file"]
    assert [s.integrity for s in scripts()][: len(entries)] == [e["sha384"] for e in entries]


def test_the_axe_core_copy_used_by_the_browser_tests_is_the_pinned_one() -> None:
    axe = TESTS / "vendor" / "axe-core-4.14.1.min.js"
    digest = base64.b64encode(hashlib.sha384(axe.read_bytes()).digest()).decode()
    assert digest == "xt1SFg49QaDwsyt0Xfs2XAyBtYPClXl3X2q5OOLeGAUmq9jZTYIMdztpF99WdhiH"


def test_templates_hold_no_inline_script_or_style() -> None:
    folder = Path(environment().loader.searchpath[0])  # type: ignore[union-attr]
    for template in folder.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script>|<style|\sstyle=|\son[a-z]+=", text), template.name
    assert "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP


# ------------------------------------------------------------------------ uiviews


def job(
    name: str,
    *,
    enabled: bool = True,
    cron: str = "30 8 * * *",
    zone: str = "UTC",
    labels: dict[str, str] | None = None,
    records: list[dict[str, Any]] | None = None,
    active: list[str] | None = None,
    task: str = "entity_start",
) -> tuple[ChronosJobDict, v.JobRow]:
    obj: ChronosJobDict = {
        "metadata": {"name": name, "namespace": "ns", "labels": labels or {}},
        "spec": {
            "enabled": enabled,
            "schedule": {"cron": cron},
            "timeZone": zone,
            "task": {"type": task, "pipelineId": "p", "entityIds": ["e"]},
        },
        "status": {"history": cast(list[RunRecordDict], records or []), "activeRuns": active or []},
    }
    view, _ = job_view(obj, "UTC", NOW)
    return obj, v.job_row(obj, view)


def test_words_for_durations_and_relative_times() -> None:
    assert v.duration_words(None) == "—"
    assert v.duration_words(42) == "42 s"
    assert v.duration_words(75) == "1 min 15 s"
    assert v.duration_words(7200) == "2 h"
    assert v.duration_words(3 * 86400 + 3600) == "3 d 1 h"
    assert v.relative(NOW + timedelta(minutes=5), NOW) == "in 5 min"
    assert v.relative(NOW - timedelta(hours=3), NOW) == "3 h ago"
    assert v.relative(None, NOW) == "—"


def test_a_job_row_reads_the_schedule_last_result_and_running_count() -> None:
    _, row = job(
        "a",
        records=[
            {
                "runId": "a-1",
                "trigger": "schedule",
                "result": "failed",
                "endTime": "2026-03-28T08:31:00Z",
            }
        ],
        active=["a-2"],
    )
    assert (row.cron, row.zone, row.state, row.running) == ("30 8 * * *", "UTC", "enabled", 1)
    assert row.last_result == "failed"
    assert row.last_when == datetime(2026, 3, 28, 8, 31, tzinfo=UTC)
    assert row.next_run == datetime(2026, 3, 29, 8, 30, tzinfo=UTC)
    assert row.words


def test_filters_by_name_label_task_type_and_state() -> None:
    _, ops = job("nightly-ops", labels={"team": "ops"})
    _, dev = job("dev-sync", labels={"team": "dev", "tier": "1"}, enabled=False, task="group_start")
    rows = [ops, dev]
    assert [r.id for r in rows if v.Filters(name="OPS").match(r)] == ["nightly-ops"]
    assert [r.id for r in rows if v.Filters(label="team=dev").match(r)] == ["dev-sync"]
    assert [r.id for r in rows if v.Filters(label="tier").match(r)] == ["dev-sync"]
    assert [r.id for r in rows if v.Filters(label="team=dev,tier=2").match(r)] == []
    assert [r.id for r in rows if v.Filters(task_type="group_start").match(r)] == ["dev-sync"]
    assert [r.id for r in rows if v.Filters(state="suspended").match(r)] == ["dev-sync"]
    assert [r.id for r in rows if v.Filters(namespace="other").match(r)] == []


def test_the_overview_counts_today_in_the_zone_and_lists_upcoming_and_problems() -> None:
    today: list[dict[str, Any]] = [
        {
            "runId": "1",
            "trigger": "schedule",
            "result": "succeeded",
            "endTime": "2026-03-28T09:00:00Z",
            "durationSeconds": 10,
        },
        {
            "runId": "2",
            "trigger": "schedule",
            "result": "failed",
            "endTime": "2026-03-28T10:00:00Z",
            "durationSeconds": 30,
            "reason": "CoreHubError",
            "message": "boom",
        },
        {
            "runId": "3",
            "trigger": "schedule",
            "result": "missed",
            "scheduledTime": "2026-03-28T11:00:00Z",
            "reason": "NoJob",
        },
        # yesterday in UTC: not today
        {
            "runId": "0",
            "trigger": "schedule",
            "result": "succeeded",
            "endTime": "2026-03-27T23:30:00Z",
        },
    ]
    jobs = [
        job("a", records=today, active=["a-9"]),
        job("b", enabled=False),
        job("c", cron="0 * * * *"),
    ]
    o = v.overview(jobs, NOW, "UTC")
    assert (o.total, o.enabled, o.suspended) == (3, 2, 1)
    assert (o.succeeded_today, o.failed_today, o.missed_today) == (1, 1, 1)
    assert o.success_rate == "33 %"
    assert o.average_duration == "20 s"
    assert [r.run_id for r in o.running] == ["a-9"]
    assert o.running[0].started is None  # the operator has not said when it started
    assert [p.reason for p in o.problems] == ["NoJob", "CoreHubError"]
    # "c" hourly: 24 runs in the next 24 h; "a" once (08:30 tomorrow); "b" suspended: none
    assert len([u for u in o.upcoming if u.row.id == "c"]) == 24
    assert [u.when for u in o.upcoming if u.row.id == "a"] == [
        datetime(2026, 3, 29, 8, 30, tzinfo=UTC)
    ]
    assert not [u for u in o.upcoming if u.row.id == "b"]
    assert [u.when for u in o.upcoming] == sorted(u.when for u in o.upcoming)
    # In UTC+14 it is already the 29th: only the runs from 10:00 UTC on are today.
    far_east = v.overview(jobs, NOW, "Pacific/Kiritimati")
    assert (far_east.succeeded_today, far_east.failed_today, far_east.missed_today) == (0, 1, 1)


def test_next_runs_mark_a_skipped_and_a_doubled_slot() -> None:
    spring = next_run_times("30 2 * * *", "Europe/Rome", datetime(2026, 3, 26, 12, tzinfo=UTC), 4)
    notes = [n.dst_note for n in v.next_runs_marked(spring)]
    # 29 March 02:30 does not exist in Rome: the engine skips it; the run after says so.
    assert [t.day for t in spring] == [27, 28, 30, 31]
    assert notes[0] is None
    assert notes[1] is None
    assert notes[3] is None
    assert (
        notes[2]
        == "clocks go forward (UTC+01:00 → UTC+02:00): a slot in the skipped hour does not run"
    )
    autumn = next_run_times("30 2 * * *", "Europe/Rome", datetime(2026, 10, 24, 12, tzinfo=UTC), 3)
    notes = [n.dst_note for n in v.next_runs_marked(autumn)]
    assert [t.day for t in autumn] == [25, 25, 26]
    assert notes == [
        None,
        "clocks go back (UTC+02:00 → UTC+01:00): this time occurs twice and runs twice",
        None,
    ]


def test_paging_is_clamped() -> None:
    assert v.paging(0, 1) == v.Paging(1, 1, 0, v.HISTORY_PAGE)
    assert v.paging(45, 3, 20) == v.Paging(3, 3, 40, 20)
    assert v.paging(45, 99, 20).page == 3
    assert v.paging(45, -1, 20).page == 1


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ui/jobs?name=x", "/ui/jobs?name=x"),
        ("https://evil.example/", "/ui/"),
        ("//evil.example/ui/", "/ui/"),
        ("/ui//evil.example", "/ui/"),
        ("/ui/\\evil", "/ui/"),
        (None, "/ui/"),
    ],
)
def test_redirects_stay_in_the_dashboard(target: str | None, expected: str) -> None:
    assert v.safe_next(target, "/ui/") == expected


def test_page_links_keep_the_filters_and_drop_the_notice() -> None:
    params = {"name": "a b", "state": "", "page": "3", "done": "enabled"}
    assert v.page_link("/ui/jobs", params, 2) == "/ui/jobs?name=a+b&page=2"


def test_upcoming_runs_reuse_stored_run_times_exactly() -> None:
    _, hourly = job("hourly", cron="7 * * * *", zone="Europe/Rome")
    first = v.upcoming_runs(hourly, NOW)
    later = NOW + timedelta(minutes=90)
    again = v.upcoming_runs(hourly, later)  # answered from the stored times
    fresh = [
        t
        for t in next_run_times("7 * * * *", "Europe/Rome", later, 30)
        if t <= later + timedelta(hours=24)
    ][: v.UPCOMING_PER_JOB]
    assert len(first) == v.UPCOMING_PER_JOB
    assert again == fresh
    assert again[0] == datetime(2026, 3, 28, 14, 7, tzinfo=UTC)  # 15:07 in Rome


def test_the_form_becomes_the_rest_body_and_back() -> None:
    from chronos.api import uiforms as f

    form = {
        "name": [" Job "],
        "task_type": ["group_start"],
        "group_ids": ["g1,g2 ,, g3"],
        "schedule_kind": ["friendly"],
        "days_of_week": ["monday"],
        "hour": ["8"],
        "minute": [""],
        "timezone": [""],
        "enabled": ["true"],
    }
    values = f.values_from_form(form)
    body, errors = f.request_body(values, creating=True)
    assert errors == []
    assert body["group_ids"] == ["g1", "g2", "g3"]
    assert body["schedule"] == {"days_of_week": ["monday"], "hour": 8, "minute": None}
    assert "timezone" not in body
    assert "cron_expression" not in body
    assert body["name"] == "Job"
    update, _ = f.request_body(values, creating=False)
    assert update["timezone"] is None
    assert update["cron_expression"] is None
    cron = f.values_from_form({**form, "schedule_kind": ["cron"], "cron_expression": ["@daily"]})
    assert f.schedule_body(cron)[0] == {
        "timezone": None,
        "schedule": None,
        "cron_expression": "@daily",
    }
    _, errors = f.request_body(f.values_from_form({**form, "hour": ["8am"]}), creating=True)
    assert errors == [("schedule.hour", "must be a whole number")]
    assert f.by_field([("schedule.hour", "a"), ("entity_id", "b"), ("entity_ids[0]", "c")]) == {
        "hour": "a",
        "entity_ids": "b; c",
    }


def test_the_form_sends_wait_for_for_wait_tasks_only() -> None:
    from chronos.api import uiforms as f

    form = {
        "name": ["w"],
        "task_type": ["group_wait"],
        "group_ids": ["g1"],
        "wait_state": ["Active"],
        "wait_timeout_seconds": ["600"],
        "schedule_kind": ["cron"],
        "cron_expression": ["@daily"],
    }
    body, errors = f.request_body(f.values_from_form(form), creating=True)
    assert errors == []
    assert body["wait_for"] == {"state": "Active", "timeout_seconds": 600}
    # The hidden wait fields of another task type are not sent (an update clears them).
    other = f.values_from_form({**form, "task_type": ["group_stop"]})
    assert "wait_for" not in f.request_body(other, creating=True)[0]
    assert f.request_body(other, creating=False)[0]["wait_for"] is None
    bad = f.values_from_form({**form, "wait_timeout_seconds": ["10m"]})
    assert f.request_body(bad, creating=True)[1] == [
        ("wait_timeout_seconds", "must be a whole number")
    ]
    assert f.by_field([("wait_for.state", "a"), ("wait_for.timeout_seconds", "b")]) == {
        "wait_state": "a",
        "wait_timeout_seconds": "b",
    }
    shown = {"task_type": "group_wait", "wait_for": {"state": "Hold", "timeout_seconds": 5}}
    back = f.values_from_view(shown)
    assert (back.wait_state, back.wait_timeout_seconds) == ("Hold", "5")


def test_a_job_s_view_fills_the_form() -> None:
    from chronos.api import uiforms as f

    obj, _ = job("x", cron="5 4 * * *", zone="Asia/Tokyo")
    view, _ = job_view(obj, "UTC", NOW)
    values = f.values_from_view(view)
    assert (values.schedule_kind, values.cron_expression, values.timezone) == (
        "cron",
        "5 4 * * *",
        "Asia/Tokyo",
    )
    assert values.entity_ids == "e"
    assert "Europe/Rome" in f.zones()
    assert "UTC" in f.zones()


def test_run_stats_over_the_last_fifty_finished_runs() -> None:
    records: list[RunRecordDict] = [{"runId": "now", "result": "running"}]
    for i in range(60):  # newest first, as status.history
        result = "failed" if i % 4 == 0 else "missed" if i % 10 == 5 else "succeeded"
        records.append({"runId": f"r{i}", "result": result, "durationSeconds": 10 + i})
    stats = v.run_stats(records)
    assert stats.runs == v.STATS_RUNS
    newest = records[1:51]
    assert stats.succeeded == sum(1 for r in newest if r["result"] == "succeeded")
    assert stats.success_rate == f"{100 * stats.succeeded / 50:.0f} %"
    assert [b.label.split(":")[0] for b in stats.bars] == [r["runId"] for r in reversed(newest)]
    tallest = max(stats.bars, key=lambda b: b.height)
    assert tallest.height == v.CHART_HEIGHT  # r49, the longest of those shown
    assert tallest.label.startswith("r49")
    assert all(0 <= b.y <= v.CHART_HEIGHT and b.x + b.width <= v.CHART_WIDTH for b in stats.bars)
    assert v.run_stats([]).success_rate == "—"
    assert v.run_stats([]).bars == ()


def test_running_now_shows_when_each_active_run_started() -> None:
    obj, row = job("a", active=["a-2", "a-1"])
    status = obj.get("status")
    assert status is not None
    status["activeRunStarts"] = [
        {"runId": "a-1", "startTime": "2026-03-28T11:50:00Z"},
        {"runId": "a-2", "startTime": "2026-03-28T11:55:00Z"},
        {"runId": "gone", "startTime": "2026-03-28T11:00:00Z"},
    ]
    o = v.overview([(obj, row)], NOW, "UTC")
    assert [(r.run_id, r.started) for r in o.running] == [
        ("a-1", datetime(2026, 3, 28, 11, 50, tzinfo=UTC)),
        ("a-2", datetime(2026, 3, 28, 11, 55, tzinfo=UTC)),
    ]
