"""Issue 20 on the dashboard, the pure parts: the job form's upstream rows, run queue
and container (posted fields <-> REST body <-> a stored job's view, errors by field),
the run-now page's parameters, and what the run pages show of a chain run's cause, a
run's parameters and the active runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from chronos.api import uiformparts as fp
from chronos.api import uiforms as f
from chronos.api import uiviews as v
from chronos.api.schemas import JobCreate, RunNowIn
from chronos.api.web import environment
from chronos.models.wire import RunRecordDict, StatusDict

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
BASE = {
    "name": ["chained"],
    "task_type": ["pipeline_snapshot"],
    "pipeline_id": ["p1"],
    "schedule_kind": ["none"],
    "hour": ["8"],
    "minute": ["0"],
    "enabled": ["true"],
}


def body(form: dict[str, list[str]], *, creating: bool = True) -> dict[str, Any]:
    sent, errors = f.request_body(f.values_from_form(form), creating=creating)
    assert errors == []
    return sent


def test_upstream_rows_become_after_and_a_job_without_schedule_is_chain_only() -> None:
    form = {
        **BASE,
        "after_job": ["orders", "", "stock"],
        "after_when": ["Succeeded", "Failed", "Completed"],
        "after_all": ["true"],
        "after_within_seconds": ["3600"],
    }
    sent = body(form)
    assert sent["after"] == [
        {"job": "orders", "when": "Succeeded"},
        {"job": "stock", "when": "Completed"},
    ]
    assert (sent["after_all"], sent["after_within_seconds"]) == (True, 3600)
    assert "schedule" not in sent
    assert "cron_expression" not in sent
    # the model takes it as a chain-only job
    JobCreate.model_validate(sent)
    # an update clears what the form leaves empty, and both schedule forms
    cleared = body({**BASE, "after_job": [""], "after_when": ["Succeeded"]}, creating=False)
    assert cleared["after"] is None
    assert cleared["after_all"] is None
    assert (cleared["schedule"], cleared["cron_expression"]) == (None, None)


def test_the_run_queue_sends_max_queued_under_enqueue_only() -> None:
    form = {**BASE, "concurrency_policy": ["Enqueue"], "max_queued": ["3"]}
    assert (body(form)["concurrency_policy"], body(form)["max_queued"]) == ("Enqueue", 3)
    allow = body({**form, "concurrency_policy": ["Allow"]})
    assert allow["concurrency_policy"] == "Allow"
    assert "max_queued" not in allow
    _, errors = f.request_body(
        f.values_from_form({**form, "max_queued": ["many"], "after_within_seconds": ["1h"]}),
        creating=True,
    )
    assert errors == [
        ("after_within_seconds", "must be a whole number"),
        ("max_queued", "must be a whole number"),
    ]


def test_a_container_task_sends_its_pod_and_no_pipeline() -> None:
    form = {
        **BASE,
        "task_type": ["container"],
        "schedule_kind": ["cron"],
        "cron_expression": ["@daily"],
        "image": ["registry.example.com/team/export:1.2"],
        "command": ["/bin/sh\r\n-c\r\n\r\n"],
        "args": ["echo hi && exit 3"],
        "env_name": ["MODE", "", ""],
        "env_value": ["full", "", ""],
        "service_account_name": ["exporter"],
    }
    sent = body(form)
    assert "pipeline_id" not in sent
    assert "with_snapshot" not in sent
    assert "snapshot_write_method" not in sent
    # ids of the CoreHub scopes (hidden, still posted) are not sent either
    assert "entity_ids" not in body({**form, "entity_ids": ["e1"], "group_ids": ["g1"]})
    group = body({**form, "task_type": ["group_stop"], "entity_ids": ["e1"], "group_ids": ["g"]})
    assert (group["group_ids"], "entity_ids" in group) == (["g"], False)
    assert sent["container"] == {
        "image": "registry.example.com/team/export:1.2",
        "command": ["/bin/sh", "-c"],
        "args": ["echo hi && exit 3"],
        "env": [{"name": "MODE", "value": "full"}],
        "serviceAccountName": "exporter",
    }
    assert JobCreate.model_validate(sent).container is not None
    # the hidden container fields of a CoreHub task are not sent (an update clears them)
    other = {**form, "task_type": ["pipeline_start"]}
    assert "container" not in body(other)
    assert body(other, creating=False)["container"] is None
    assert body(other)["pipeline_id"] == "p1"


def test_a_stored_job_fills_the_form_and_what_it_does_not_show_is_kept() -> None:
    stored = {
        "image": "busybox:1",
        "command": ["sh", "-c"],
        "env": [
            {"name": "A", "value": "1"},
            {"name": "TOKEN", "secretKeyRef": {"name": "s", "key": "k"}},
            {"name": "CONF", "configMapKeyRef": {"name": "c", "key": "x"}},
        ],
        "resources": {"limits": {"memory": "64Mi"}},
        "runAsUser": 1000,
    }
    view = {
        "task_type": "container",
        "container": stored,
        "after": [{"job": "up", "when": "Failed"}],
        "after_all": False,
        "concurrency_policy": "Enqueue",
        "max_queued": 4,
        "schedule": None,
        "cron_expression": None,
    }
    values = f.values_from_view(view)
    assert values.schedule_kind == "none"
    assert (values.container.image, values.container.command) == ("busybox:1", "sh\n-c")
    assert [(e.name, e.value) for e in values.container.env] == [("A", "1")]
    assert values.order.after == [fp.Upstream("up", "Failed")]
    assert (values.order.concurrency_policy, values.order.max_queued) == ("Enqueue", "4")
    assert [u.job for u in fp.upstream_rows(values.order)] == ["up", "", ""]
    assert fp.env_references(view) == ["TOKEN: key k of Secret s", "CONF: key x of ConfigMap c"]
    # saved again: references, resources and runAsUser are kept; a variable the form
    # now sets by value replaces the reference of that name
    sent = fp.container_body(values.container)
    sent["env"].append({"name": "CONF", "value": "inline"})
    kept = fp.keep_unshown(sent, stored)
    assert kept["resources"] == {"limits": {"memory": "64Mi"}}
    assert kept["runAsUser"] == 1000
    assert kept["env"] == [
        {"name": "A", "value": "1"},
        {"name": "CONF", "value": "inline"},
        {"name": "TOKEN", "secretKeyRef": {"name": "s", "key": "k"}},
    ]
    assert fp.keep_unshown(sent, None) is sent


def test_errors_of_after_container_and_queue_land_next_to_their_fields() -> None:
    assert f.by_field(
        [
            ("after[1].job", "a"),
            ("after.when", "b"),
            ("container.image", "c"),
            ("container.env[0].name", "d"),
            ("container.env.value", "e"),
            ("container", "f"),
            ("container.serviceAccountName", "g"),
            ("max_queued", "h"),
            ("after_within_seconds", "i"),
        ]
    ) == {
        "after": "a; b",
        "image": "c; f",
        "env": "d; e",
        "service_account_name": "g",
        "max_queued": "h",
        "after_within_seconds": "i",
    }


def test_run_now_parameters_send_only_what_the_page_set() -> None:
    empty = fp.parameters_from_form({"key": ["k"], "with_snapshot": [""], "as_of": [" "]})
    assert fp.parameters_body(empty) is None
    given = fp.parameters_from_form(
        {
            "entity_ids": ["e2", "e1"],
            "with_snapshot": ["false"],
            "snapshot_write_method": ["INSERT"],
            "as_of": ["2026-03-01T00:00:00Z"],
        }
    )
    sent = fp.parameters_body(given)
    assert sent == {
        "entity_ids": ["e2", "e1"],
        "with_snapshot": False,
        "snapshot_write_method": "INSERT",
        "as_of": "2026-03-01T00:00:00Z",
    }
    RunNowIn.model_validate({"parameters": sent})
    assert fp.parameter_errors(
        [
            ("parameters.entity_ids[1]", "'x' is not one of the job's ids"),
            ("parameters.as_of", "bad"),
            ("parameters", "too long"),
            ("parameters.colour", "extra"),
        ]
    ) == {
        "entity_ids": "'x' is not one of the job's ids",
        "as_of": "bad",
        "parameters": "too long; extra",
    }
    assert fp.offered("entity_start") == {
        "entity_ids",
        "with_snapshot",
        "snapshot_write_method",
        "as_of",
    }
    assert fp.offered("group_redo") == {"group_ids", "snapshot_write_method", "as_of"}
    assert fp.offered("container") == {"as_of"}
    assert fp.offered("no such type") == {"as_of"}


def test_a_chain_run_shows_its_cause_and_a_run_now_its_parameters() -> None:
    record = cast(
        RunRecordDict,
        {
            "runId": "down-1",
            "trigger": "chain",
            "result": "succeeded",
            "cause": {"job": "up", "runId": "up-<b>1</b>", "result": "failed"},
            "parameters": {"entityIds": ["e1", "e2"], "withSnapshot": True, "asOf": "2026"},
        },
    )
    view = v.run_view("down-1", record, False, NOW)
    assert view.cause == v.Cause("up", "up-<b>1</b>", "failed")
    assert view.parameters == (("Entities", "e1, e2"), ("With snapshot", "yes"), ("As of", "2026"))
    row = v.JobRow(
        "ns", "down", "down", "", "", "", "", "", True, {}, None, None, None, (), 0, None
    )
    html = environment().get_template("run_summary.html").render(row=row, r=view, now=NOW, v=v)
    assert 'href="/ui/jobs/ns/up/runs/up-%3Cb%3E1%3C/b%3E"' in html
    assert "up-&lt;b&gt;1&lt;/b&gt;" in html
    assert "<b>1</b>" not in html
    assert "With snapshot" in html
    assert v.cause_of(cast(RunRecordDict, {"cause": {"runId": "x"}})) is None


def test_active_runs_carry_their_trigger_and_start() -> None:
    status = cast(
        StatusDict,
        {
            "activeRuns": ["a-1", "a-2"],
            "activeRunStarts": [
                {"runId": "a-1", "trigger": "chain", "startTime": "2026-03-28T11:00:00Z"}
            ],
        },
    )
    assert v.active_runs(status) == [
        v.ActiveRun("a-1", "chain", datetime(2026, 3, 28, 11, 0, tzinfo=UTC)),
        v.ActiveRun("a-2", "", None),
    ]


def test_aborted_runs_are_charted_but_outside_the_success_rate() -> None:
    records = cast(
        list[RunRecordDict],
        [
            {"runId": "3", "result": "aborted", "durationSeconds": 5},
            {"runId": "2", "result": "failed", "durationSeconds": 10},
            {"runId": "1", "result": "succeeded", "durationSeconds": 30},
        ],
    )
    stats = v.run_stats(records)
    assert (stats.runs, stats.judged, stats.success_rate) == (3, 2, "50 %")
    assert [b.result for b in stats.bars] == ["succeeded", "failed", "aborted"]
    assert stats.average == "20 s"
