"""The run page's log lines for people (issue 22): each runner JSON line taken apart
into time, level, step and message with its other fields folded, any other line kept
as text, rendered by the one macro the page and its live stream share; the download's
file name and header."""

from __future__ import annotations

import html
import io
import json
import re

import pytest

from chronos.api.runlog import (
    LEVEL_CHOICES,
    Entry,
    attachment,
    download_name,
    parse_line,
    raw_text,
    sse,
    steps_of,
)
from chronos.api.ui.run import log_line
from chronos.api.web import environment
from chronos.runner.logs import CUT, JsonLog, LogTail

#: Markup that must stay text wherever a log line puts it.
XSS = "<img src=x onerror=alert(1)>"


def runner_line(step: str, message: str = "", **fields: object) -> str:
    """A line exactly as the runner writes it."""
    out = io.StringIO()
    JsonLog(out, LogTail(), runId="r-1", job="j").event(step, message, **fields)  # type: ignore[arg-type]
    return out.getvalue().rstrip("\n")


def test_a_runner_line_is_time_level_step_message_and_its_other_fields() -> None:
    raw = runner_line("activate", "entity e1 active", level="warning", entity="e1", tries=2)
    entry = parse_line(raw)
    assert entry.structured
    assert entry.raw == raw
    assert (entry.level, entry.step, entry.message) == ("warning", "activate", "entity e1 active")
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", entry.clock), entry.clock
    assert entry.time == json.loads(raw)["time"]
    # the other fields in the order logged; values that are not strings as JSON
    assert entry.fields == (("runId", "r-1"), ("job", "j"), ("entity", "e1"), ("tries", "2"))
    assert entry.severity == "warning"


def test_the_clock_is_utc_to_the_millisecond_and_an_odd_time_is_shown_as_logged() -> None:
    line = {"time": "2026-11-29T08:00:01.123456+02:00", "level": "info", "step": "s"}
    assert parse_line(json.dumps(line)).clock == "06:00:01.123"
    assert parse_line(json.dumps({**line, "time": "yesterday"})).clock == "yesterday"
    assert parse_line(json.dumps({"step": "s"})) == Entry(
        '{"step": "s"}', structured=True, step="s"
    )


@pytest.mark.parametrize(
    ("level", "rank", "severity"),
    [
        ("debug", 10, ""),
        ("info", 20, ""),
        ("INFO", 20, ""),
        ("warn", 30, "warning"),
        ("warning", 30, "warning"),
        ("error", 40, "error"),
        ("critical", 50, "error"),
        ("chatty", 20, ""),  # a level it does not know counts as info
    ],
)
def test_levels_rank_for_the_filter_and_errors_are_marked(
    level: str, rank: int, severity: str
) -> None:
    entry = parse_line(json.dumps({"level": level, "step": "x"}))
    assert (entry.rank, entry.severity) == (rank, severity)


def test_the_level_filter_offers_all_then_ever_fewer_lines() -> None:
    assert LEVEL_CHOICES[0] == ("", "all levels")
    ranks = [int(value) for value, _ in LEVEL_CHOICES[1:]]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)


@pytest.mark.parametrize(
    "raw",
    [
        XSS,
        "Traceback (most recent call last):",
        "[1, 2]",
        '"a string"',
        "",
        '{"step": "cut", "message": "a line cut to fit the tail' + CUT,
    ],
)
def test_any_other_line_stays_raw_text(raw: str) -> None:
    entry = parse_line(raw)
    assert entry == Entry(raw)
    assert not entry.structured
    assert entry.severity == ""


def test_steps_in_the_order_they_first_come() -> None:
    lines = ["x", runner_line("start"), runner_line("wait"), runner_line("start"), "y"]
    assert steps_of(parse_line(line) for line in lines) == ["start", "wait"]


# ------------------------------------------------------------------ the one rendering


def line_html(raw: str) -> str:
    return log_line(raw)


def test_a_line_with_fields_folds_them_behind_its_head() -> None:
    rendered = line_html(runner_line("result", "2 of 2 started", level="error", exitCode=3))
    assert rendered.startswith('<li class="line entry is-error" data-rank="40" data-step="result">')
    summary = re.search(r"<summary>(.*)</summary>", rendered)
    assert summary, rendered
    head = re.sub(r"<[^>]+>", "", summary.group(1))
    # time · level · step · message, and how many fields are folded
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} ✗ ERROR result 2 of 2 started \(3 fields\)", head)
    # the error is marked by a sign and its word, not only by colour
    assert '<span class="lvl"><span aria-hidden="true">✗ </span>ERROR</span>' in rendered
    assert "<dt>runId</dt><dd>r-1</dd>" in rendered
    assert "<dt>exitCode</dt><dd>3</dd>" in rendered
    raw = re.search(r'</details><span class="raw">(.*)</span></li>$', rendered)
    assert raw, rendered
    assert html.unescape(raw.group(1)) == json.dumps(json.loads(html.unescape(raw.group(1))))


def test_a_line_without_fields_has_nothing_to_unfold_and_a_warning_has_its_sign() -> None:
    rendered = line_html('{"level": "warning", "step": "tls", "message": "self-signed"}')
    assert "<details>" not in rendered
    assert '<div class="head"><span class="lvl"><span aria-hidden="true">⚠ </span>WARNING' in (
        rendered
    )
    assert "<time" not in rendered  # no time logged, none shown


def test_a_raw_line_renders_as_its_text_only() -> None:
    rendered = line_html(XSS)
    assert rendered == f'<li class="line text"><span class="raw">{html.escape(XSS)}</span></li>'


@pytest.mark.parametrize(
    "raw", [XSS, "a &amp; b </span></li>", runner_line("s", XSS, **{XSS: "</li>"}), ""]
)
def test_a_rendered_line_keeps_the_line_as_logged(raw: str) -> None:
    assert raw_text(log_line(raw)) == raw


def test_markup_in_every_part_of_a_line_stays_text() -> None:
    """The canary in the step, message, a field's name and value, and the raw text."""
    raw = json.dumps({"time": XSS, "level": XSS, "step": XSS, "message": XSS, XSS: XSS, "n": [XSS]})
    rendered = line_html(raw)
    assert "<img" not in rendered
    text = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    assert text.count(XSS) >= 6
    # attribute values are quoted and escaped, so no attribute can be added
    assert f'data-step="{html.escape(XSS)}"' in rendered


def test_the_page_and_the_live_stream_render_a_line_alike() -> None:
    """run.html renders its lines with the macro log_line uses for the stream; an SSE
    event carries that rendering intact (a line break in it cannot end the event)."""
    raw = runner_line("wait", "line one\nline two", entity=XSS)
    macro = environment().get_template("runlog_line.html").module.line  # type: ignore[attr-defined]
    assert log_line(raw) == str(macro(parse_line(raw)))
    event = sse("line", log_line(raw), "2026-11-29T07:00:01Z#1").decode()
    data = "\n".join(
        line.removeprefix("data: ") for line in event.splitlines() if line.startswith("data: ")
    )
    assert data == log_line(raw)
    assert raw_text(data) == raw
    page = environment().loader.get_source(environment(), "run.html")[0]  # type: ignore[union-attr]
    assert '{% import "runlog_line.html" as rl %}' in page
    assert "rl.line(entry)" in page


# ------------------------------------------------------------------------- download


@pytest.mark.parametrize(
    ("job", "run", "name"),
    [
        ("nightly", "nightly-29382", "nightly-nightly-29382.log"),
        ("nightly", "2026-11-29T05:00:00Z", "nightly-2026-11-29T05_00_00Z.log"),
        ('a"b', "r\r\nSet-Cookie: x=1", "a_b-r_Set-Cookie_x_1.log"),
    ],
)
def test_the_download_is_named_after_the_job_and_run(job: str, run: str, name: str) -> None:
    assert download_name(job, run) == name
    assert attachment(name) == f'attachment; filename="{name}"'


@pytest.mark.parametrize("name", ['a"; x=1.log', "a\r\nb.log", "ä b.log", "a\\b.log"])
def test_the_content_disposition_cannot_be_broken(name: str) -> None:
    value = attachment(name)
    assert value.startswith('attachment; filename="')
    assert value.endswith('"')
    inner = value.removeprefix('attachment; filename="').removesuffix('"')
    assert '"' not in inner
    assert "\\" not in inner
    assert re.fullmatch(r"[\x21-\x7e]+", inner), inner
