"""The Runs page and stats over time, pure: rows from jobs, filters (and their 422s),
exports (CSV formula injection), per-day stats and percentiles, the SVG drawing.
"now" is fixed: nothing here depends on the wall clock."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from markupsafe import Markup

from chronos.api import runsview as rv
from chronos.api import stats as st
from chronos.api import uiviews as v
from chronos.api.mapping import job_view
from chronos.api.services import Caller
from chronos.api.web import environment, page_context
from chronos.models.wire import ChronosJobDict
from chronos.times import rfc3339

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
CANARY = "<img src=x onerror=alert(1)>"


def record(run_id: str, result: str, ago_hours: float, **more: Any) -> dict[str, Any]:
    end = NOW - timedelta(hours=ago_hours)
    out: dict[str, Any] = {
        "runId": run_id,
        "trigger": more.pop("trigger", "schedule"),
        "result": result,
        "startTime": rfc3339(end - timedelta(seconds=more.get("durationSeconds", 10))),
        "endTime": rfc3339(end),
        "durationSeconds": 10.0,
    }
    out.update(more)
    return out


def job(ns: str, name: str, records: list[dict[str, Any]], **labels: str) -> ChronosJobDict:
    return cast(
        ChronosJobDict,
        {
            "metadata": {"namespace": ns, "name": name, "labels": labels},
            "spec": {
                "displayName": name.title(),
                "task": {"type": "entity_start", "pipelineId": "p", "entityIds": ["e"]},
                "schedule": {"cron": "0 * * * *"},
            },
            "status": {"history": records},
        },
    )


def rows(*jobs: ChronosJobDict) -> list[rv.RunRow]:
    return rv.run_rows((obj, v.job_row(obj, job_view(obj, "UTC", NOW)[0])) for obj in jobs)


def sample() -> list[rv.RunRow]:
    return rows(
        job(
            "a",
            "alpha",
            [
                record("alpha-1", "succeeded", 1, peakCpuMillicores=12.5, peakMemoryBytes=3 << 20),
                record("alpha-2", "failed", 30, reason="Boom", message="=cmd|' /C calc'!A0"),
                record("alpha-3", "succeeded", 24 * 10, trigger="run-now"),
            ],
            team="ops",
        ),
        job("b", "beta", [record("beta-1", "missed", 2), record("beta-2", "aborted", 50)]),
    )


def test_runs_of_all_jobs_come_newest_first_with_their_job() -> None:
    got = sample()
    assert [r.run_id for r in got] == ["alpha-1", "beta-1", "alpha-2", "beta-2", "alpha-3"]
    first = got[0]
    assert (first.namespace, first.job_id, first.job_name) == ("a", "alpha", "Alpha")
    assert first.peak_cpu_millicores == 12.5
    assert first.peak_memory_bytes == 3 << 20
    assert first.duration == 10.0
    assert first.when == NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"result": "succeeded"}, ["alpha-1", "alpha-3"]),
        ({"trigger": "run-now"}, ["alpha-3"]),
        ({"job": "BET"}, ["beta-1", "beta-2"]),
        ({"namespace": "b"}, ["beta-1", "beta-2"]),
        ({"label": "team=ops"}, ["alpha-1", "alpha-2", "alpha-3"]),
        ({"label": "team=dev"}, []),
        # Times relative to the fixed NOW: the last 36 hours, then an explicit day.
        ({"since": rfc3339(NOW - timedelta(hours=36))}, ["alpha-1", "beta-1", "alpha-2"]),
        ({"since": "2026-03-18", "until": "2026-03-18"}, ["alpha-3"]),
        ({"until": rfc3339(NOW - timedelta(hours=24))}, ["alpha-2", "beta-2", "alpha-3"]),
    ],
)
def test_filters_keep_the_runs_they_name(query: dict[str, str], expected: list[str]) -> None:
    filters = rv.parse_filters(query)
    assert [r.run_id for r in sample() if filters.match(r)] == expected
    # The filters' own query gives them back (page and export links).
    assert rv.parse_filters(filters.params()) == filters


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"result": "exploded"}, "result"),
        ({"trigger": "magic"}, "trigger"),
        ({"namespace": "Not_A_Namespace"}, "namespace"),
        ({"label": "a<b"}, "label"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-45"}, "until"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
        ({"job": "x" * 254}, "job"),
        ({"label": "x" * 1025}, "label"),
    ],
)
def test_a_bad_filter_names_its_field(query: dict[str, str], field: str) -> None:
    with pytest.raises(rv.FilterError) as caught:
        rv.parse_filters(query)
    assert [f for f, _ in caught.value.problems] == [field]


def test_the_csv_export_neutralises_formulas_and_keeps_everything_else() -> None:
    text = rv.export_csv(sample())
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == rv.COLUMNS
    by_run = {row[3]: dict(zip(rv.COLUMNS, row, strict=True)) for row in table[1:]}
    assert by_run["alpha-2"]["message"] == "'=cmd|' /C calc'!A0"
    assert by_run["alpha-1"]["peak_memory_bytes"] == str(3 << 20)
    assert by_run["alpha-1"]["peak_cpu_millicores"] == "12.5"
    assert by_run["beta-1"]["peak_cpu_millicores"] == ""
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert rv.neutral(f"{start}1+1") == f"'{start}1+1"
    assert rv.neutral("plain -dash") == "plain -dash"
    assert rv.neutral(3.5) == "3.5"


def test_the_json_export_has_the_total_and_the_same_columns() -> None:
    body = json.loads(rv.export_json(sample()[:2], 5))
    assert body["total"] == 5
    assert [i["run_id"] for i in body["items"]] == ["alpha-1", "beta-1"]
    assert tuple(body["items"][0]) == rv.COLUMNS
    assert body["items"][0]["end_time"] == rfc3339(NOW - timedelta(hours=1))


def test_usage_words_are_the_overviews() -> None:
    assert rv.cpu_words(None) == "—"
    assert rv.cpu_words(0.05) == "<0.1 m CPU"
    assert rv.cpu_words(250.0) == "250 m CPU"
    assert rv.cpu_words(1500) == "1.50 CPU"
    assert rv.memory_words(3 << 20) == "3.0 MiB"
    assert rv.memory_words(48 << 20) == "48 MiB"


def test_percentiles_are_nearest_rank() -> None:
    values = [float(x) for x in range(1, 101)]
    assert st.percentile(values, 50) == 50.0
    assert st.percentile(values, 90) == 90.0
    assert st.percentile(values, 99) == 99.0
    assert st.percentile([7.0], 99) == 7.0
    assert st.percentile([], 50) is None


def test_stats_count_runs_per_day_by_result_and_rate_over_7_and_30_days() -> None:
    s = st.stats(sample(), NOW, "UTC")
    assert len(s.days) == st.DAYS
    assert s.days[-1].day == NOW.date()
    today, yesterday = s.days[-1], s.days[-2]
    # Today: alpha-1 succeeded, beta-1 missed; yesterday: alpha-2 failed (30 h ago).
    assert dict(zip(st.DRAWN, today.counts, strict=True)) == {
        "succeeded": 1,
        "failed": 0,
        "missed": 1,
        "aborted": 0,
    }
    assert yesterday.counts == (0, 1, 0, 0)
    assert today.peak_cpu_millicores == 12.5
    assert today.peak_memory_bytes == 3 << 20
    assert today.durations == (10.0, 10.0, 10.0)  # the missed run has no duration
    assert s.runs == 5
    rates = {r.days: r for r in s.rates}
    # Aborted runs are neither success nor failure; alpha-3 (10 days ago) only in 30 days.
    assert (rates[7].succeeded, rates[7].judged) == (1, 3)
    assert (rates[30].succeeded, rates[30].judged) == (2, 4)
    assert rates[30].words == "50 %"
    assert st.Rate(7, 0, 0).words == "—"


def test_a_day_is_the_day_in_the_zone_and_future_runs_are_left_out() -> None:
    late = job("a", "x", [record("x-1", "succeeded", 12.5), record("x-2", "failed", -3)])
    # 23:30 UTC the day before is already today in Tokyo.
    tokyo = st.stats(rows(late), NOW, "Asia/Tokyo", days=2)
    assert [d.total for d in tokyo.days] == [0, 1]
    utc = st.stats(rows(late), NOW, "UTC", days=2)
    assert [d.total for d in utc.days] == [1, 0]


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(markup.replace('xmlns="http://www.w3.org/2000/svg" ', ""))


def test_the_charts_are_accessible_svg_with_a_title_a_description_and_shape_titles() -> None:
    s = st.stats(sample(), NOW, "UTC")
    for chart, title in ((st.runs_chart(s), "Runs per day"), (st.durations_chart(s), "Dur")):
        svg = _svg(str(chart))
        assert svg.get("role") == "img"
        labelled = (svg.get("aria-labelledby") or "").split()
        assert [svg.find(f".//*[@id='{i}']") is not None for i in labelled] == [True, True]
        assert (svg.findtext("title") or "").startswith(title)
        assert "table below" in (svg.findtext("desc") or "")
    bars = _svg(str(st.runs_chart(s))).findall("rect")
    assert len(bars) == 5  # one per result per day that has runs of it
    assert {b.get("class") for b in bars} == {
        "bar succeeded",
        "bar failed",
        "bar missed",
        "bar aborted",
    }
    today = [b for b in bars if (b.findtext("title") or "").startswith(NOW.date().isoformat())]
    assert [b.findtext("title") for b in today] == [f"{NOW.date()}: 1 succeeded, 1 missed"] * 2
    # Stacked: the two bars of today meet.
    low, high = sorted(today, key=lambda b: -float(b.get("y") or 0))
    assert float(high.get("y") or 0) + float(high.get("height") or 0) == pytest.approx(
        float(low.get("y") or 0)
    )


def test_empty_stats_draw_an_empty_chart_without_failing() -> None:
    s = st.stats([], NOW, "UTC", days=7)
    assert s.runs == 0
    assert _svg(str(st.runs_chart(s))).findall("rect") == []
    assert _svg(str(st.durations_chart(s))).findall("circle") == []
    assert st.day_words(s.days[0])["p50"] == "—"


def test_markup_in_a_job_name_reason_and_message_stays_text_on_the_runs_page() -> None:
    evil = job("a", "evil", [record("evil-1", "failed", 1, message=CANARY, reason=CANARY)])
    obj = cast(dict[str, Any], evil)
    obj["spec"]["displayName"] = CANARY
    table = (
        environment()
        .get_template("runs_table.html")
        .render(
            rows=rows(evil),
            total=1,
            paging=v.paging(1, 1, rv.PAGE),
            newer=None,
            older=None,
            now=NOW,
            v=v,
            rv=rv,
        )
    )
    page = (
        environment()
        .get_template("runs.html")
        .render(
            **page_context(Caller(None), "csrf", False),
            filters=rv.RunFilters(job=CANARY),
            total=1,
            table=Markup(table),
            export_query="",
            results=rv.RESULTS,
            triggers=rv.TRIGGERS,
            v=v,
        )
    )
    assert CANARY not in page
    # The job name, the reason, the message, and the job filter as typed.
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") == 4


def test_the_row_cache_rebuilds_only_a_changed_job_and_keeps_the_order() -> None:
    a = job("a", "alpha", [record("alpha-1", "succeeded", 1), record("alpha-2", "failed", 3)])
    b = job("b", "beta", [record("beta-1", "missed", 2)])
    for obj, version in ((a, "1"), (b, "7")):
        cast(dict[str, Any], obj)["metadata"]["resourceVersion"] = version
    pairs = [(obj, v.job_row(obj, job_view(obj, "UTC", NOW)[0])) for obj in (a, b)]
    cache = rv.RowCache()
    first = cache.rows(pairs)
    assert [r.run_id for r in first] == ["alpha-1", "beta-1", "alpha-2"]
    assert first == rv.run_rows(pairs)
    again = cache.rows(pairs)
    assert again[0] is first[0]  # the same row objects: nothing rebuilt
    changed = cast(dict[str, Any], a)
    changed["status"]["history"] = [record("alpha-3", "succeeded", 0.5)]
    assert [r.run_id for r in cache.rows(pairs)] == ["alpha-1", "beta-1", "alpha-2"]
    changed["metadata"]["resourceVersion"] = "2"
    assert [r.run_id for r in cache.rows(pairs)] == ["alpha-3", "beta-1"]
