"""The run page's pure parts: log lines and their timestamps, resume cursors, SSE
framing, the run's pod and banner; and the page script's rules (text only, capped)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from chronos.api import uiviews as v
from chronos.api.runlog import Cursor, PodState, Resume, newest, pod_state, split_line, sse
from chronos.api.web import STATIC, scripts
from chronos.models.wire import RunRecordDict, StatusDict

NOW = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)


def test_split_line() -> None:
    assert split_line("2026-11-29T07:00:01.5Z hello world\n") == (
        "2026-11-29T07:00:01.5Z",
        "hello world",
    )
    assert split_line("2026-11-29T07:00:01Z ") == ("2026-11-29T07:00:01Z", "")


def test_cursor_round_trip_and_bad_ids() -> None:
    c = Cursor("2026-11-29T07:00:01.123Z", 3)
    assert Cursor.parse(c.id) == c
    assert Cursor.parse("2026-11-29T07:00:01Z") == Cursor("2026-11-29T07:00:01Z", 1)
    for bad in ("", None, "a b#1", "x" * 100):
        assert Cursor.parse(bad) is None


def stamps(since: Cursor | None, lines: list[str]) -> list[str | None]:
    resume = Resume(since)
    return [(c.id if (c := resume.accept(s)) else None) for s in lines]


def test_resume_gives_every_line_a_cursor_counting_equal_timestamps() -> None:
    a, b = "2026-11-29T07:00:01.1Z", "2026-11-29T07:00:01.2Z"
    assert stamps(None, [a, a, b, b, b]) == [f"{a}#1", f"{a}#2", f"{b}#1", f"{b}#2", f"{b}#3"]


def test_resume_drops_the_lines_the_reader_has() -> None:
    # sinceTime has whole seconds: a resumed read starts at 07:00:01 again.
    lines = [
        "2026-11-29T07:00:01Z",
        "2026-11-29T07:00:01.5Z",
        "2026-11-29T07:00:01.5Z",
        "2026-11-29T07:00:01.5Z",
        "2026-11-29T07:00:01.61Z",
        "2026-11-29T07:00:02Z",
    ]
    since = Cursor("2026-11-29T07:00:01.5Z", 2)
    got = stamps(since, lines)
    assert got == [
        None,
        None,
        None,
        "2026-11-29T07:00:01.5Z#3",
        "2026-11-29T07:00:01.61Z#1",
        "2026-11-29T07:00:02Z#1",
    ]


def test_resume_orders_nanosecond_times_as_times_not_strings() -> None:
    # RFC3339Nano drops trailing zeros: ".1Z" is before ".12Z" though it sorts after.
    since = Cursor("2026-11-29T07:00:01.12Z", 1)
    assert stamps(since, ["2026-11-29T07:00:01.1Z", "2026-11-29T07:00:01.123456789Z"]) == [
        None,
        "2026-11-29T07:00:01.123456789Z#1",
    ]


def test_sse_framing() -> None:
    assert sse("line", "hello", "t#1") == b"event: line\nid: t#1\ndata: hello\n\n"
    assert sse("end", "Completed") == b"event: end\ndata: Completed\n\n"
    # a line break in the text cannot end the event or forge a field
    forged = sse("line", "a\r\nevent: end\rdata: x\n\nid: 9")
    assert forged == (
        b"event: line\ndata: a\ndata: event: end\ndata: data: x\ndata: \ndata: id: 9\n\n"
    )
    assert sse("line", "<img src=x onerror=alert(1)>").endswith(
        b"data: <img src=x onerror=alert(1)>\n\n"
    )


def test_pod_state_and_newest() -> None:
    running = {
        "metadata": {"name": "r-abc", "creationTimestamp": "2026-11-29T07:00:00Z"},
        "status": {"phase": "Running", "containerStatuses": [{"state": {"running": {}}}]},
    }
    done = {
        "metadata": {"name": "r-def", "creationTimestamp": "2026-11-29T07:01:00Z"},
        "status": {
            "phase": "Failed",
            "containerStatuses": [{"state": {"terminated": {"reason": "Error", "exitCode": 4}}}],
        },
    }
    pending = {"metadata": {"name": "r-p"}, "status": {"phase": "Pending"}}
    assert pod_state(running) == PodState("r-abc", False, "Running", started=True)
    assert not pod_state(pending).started
    assert pod_state(done).terminated
    assert pod_state(done).reason == "Error"
    assert not pod_state(pending).terminated
    assert newest([running, done]) == done
    assert newest([]) is None


@pytest.mark.parametrize(
    ("record", "active", "state", "css", "icon"),
    [
        (None, True, "running", "run", "▶"),
        ({"runId": "r", "result": "succeeded"}, False, "succeeded", "ok", "✓"),
        ({"runId": "r", "result": "failed", "reason": "TaskRejected"}, False, "failed", "bad", "✗"),
        ({"runId": "r", "result": "missed"}, False, "missed", "warn", "!"),
        # the job still lists it as active: running, whatever an older record says
        ({"runId": "r", "result": "failed"}, True, "running", "run", "▶"),
    ],
)
def test_run_banner(
    record: RunRecordDict | None, active: bool, state: str, css: str, icon: str
) -> None:
    view = v.run_view("r", record, active, NOW)
    assert (view.state, view.css, view.icon) == (state, css, icon)
    assert view.words  # the banner is never colour alone


def test_run_view_timings_and_find_run() -> None:
    record: RunRecordDict = {
        "runId": "r1",
        "result": "running",
        "startTime": "2026-11-29T06:58:30Z",
        "logTail": "a\nb\n",
    }
    status: StatusDict = {"history": [record], "activeRuns": ["r1"]}
    found, active = v.find_run(status, "r1")
    assert found == record
    assert active
    view = v.run_view("r1", found, active, NOW)
    assert view.duration == "1 min 30 s"  # elapsed while running
    assert view.log_tail == "a\nb\n"
    assert v.find_run(status, "other") == (None, False)


def test_a_running_run_without_a_record_takes_its_start_from_the_operator() -> None:
    status: StatusDict = {
        "activeRuns": ["r2"],
        "activeRunStarts": [
            {"runId": "r2", "trigger": "run-now", "startTime": "2026-11-29T06:59:00Z"}
        ],
    }
    found, active = v.find_run(status, "r2")
    assert active
    view = v.run_view("r2", found, active, NOW)
    assert view.state == "running"
    assert view.started == datetime(2026, 11, 29, 6, 59, tzinfo=UTC)
    assert view.trigger == "run-now"
    assert view.duration == "1 min"  # elapsed
    assert v.find_run({"activeRuns": ["r2"]}, "r2") == (None, True)  # no start known


def test_the_page_script_adds_no_markup_of_its_own_and_caps_the_lines() -> None:
    js = (STATIC / "runlog.js").read_text()
    assert js.startswith("// @ts-check")
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", js)
    # a live line is the server's rendering (runlog_line.html, autoescaped), parsed by
    # DOMParser (which runs nothing); only its one list item is taken
    assert js.count("new DOMParser()") == 1
    assert 'querySelector("ol > li.line")' in js
    assert "textContent" in js
    assert "childElementCount > max" in js
    assert "/ui/static/runlog.js" in [s.src for s in scripts()]
