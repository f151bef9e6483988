"""The chain planner (operator/chains.py): which chain runs are due, exactly once; the
fan-in; cycles; the requeue index. Times are relative to a fixed instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from chronos.models.chains import ChainOn, RunCause
from chronos.models.chronosjob import ChronosJobSpec, RunRecord
from chronos.operator import chains as ch
from chronos.operator.naming import chain_job_name

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TASK = {"type": "pipeline_start", "pipelineId": "p1"}


def spec(**fields: Any) -> ChronosJobSpec:
    return ChronosJobSpec.model_validate({"task": TASK, **fields})


def run(run_id: str, result: str, minutes: float, **extra: Any) -> RunRecord:
    end = T0 + timedelta(minutes=minutes)
    return RunRecord.model_validate(
        {
            "runId": run_id,
            "trigger": "schedule",
            "result": result,
            "startTime": (end - timedelta(seconds=30)).isoformat(),
            "endTime": end.isoformat(),
            **extra,
        }
    )


def down(known: set[str] = frozenset(), history: list[RunRecord] = (), **kw: Any) -> ch.Downstream:  # type: ignore[assignment]
    return ch.Downstream(
        cronjob="b", created=T0, known=frozenset(known), history=tuple(history), **kw
    )


def test_a_success_starts_one_run_named_after_the_upstream_run() -> None:
    a = ch.UpstreamView("uid-a", [run("a-2", "succeeded", 2), run("a-1", "failed", 1)])
    starts = ch.plan(spec(after=[{"job": "a"}]), down(), {"a": a})
    assert [(s.job, s.cause.run_id, s.cause.result) for s in starts] == [
        (chain_job_name("b", [("uid-a", "a-2")]), "a-2", "succeeded")
    ]
    assert len(starts[0].job) <= 63


@pytest.mark.parametrize(
    ("on", "expected"),
    [(ChainOn.SUCCEEDED, ["a-2"]), (ChainOn.FAILED, ["a-1"]), (ChainOn.COMPLETED, ["a-1", "a-2"])],
)
def test_on_chooses_the_results(on: ChainOn, expected: list[str]) -> None:
    history = [
        run("a-3", "running", 3),
        run("a-m", "missed", 2.5),
        run("a-2", "succeeded", 2),
        run("a-1", "failed", 1),
    ]
    starts = ch.plan(
        spec(after=[{"job": "a", "when": on.value}]), down(), {"a": ch.UpstreamView("u", history)}
    )
    assert [s.cause.run_id for s in starts] == expected  # oldest first


def test_runs_served_or_before_creation_start_nothing() -> None:
    a = ch.UpstreamView(
        "u", [run("a-3", "succeeded", 3), run("a-2", "succeeded", 2), run("a-0", "succeeded", -1)]
    )
    served = chain_job_name("b", [("u", "a-2")])
    # a-2's Job exists: a-2 and everything older are served; a-3 is new.
    assert [
        s.cause.run_id for s in ch.plan(spec(after=[{"job": "a"}]), down({served}), {"a": a})
    ] == ["a-3"]
    # a-3 served by a chain run whose Job is gone but whose record names its cause.
    record = run("b-x", "succeeded", 4, cause={"job": "a", "runId": "a-3", "result": "succeeded"})
    assert ch.plan(spec(after=[{"job": "a"}]), down(history=[record]), {"a": a}) == []
    # Planned again with its Job known: nothing (exactly once).
    first = ch.plan(spec(after=[{"job": "a"}]), down(), {"a": a})
    assert [s.cause.run_id for s in first] == ["a-2", "a-3"]  # a-0 ended before b existed
    assert ch.plan(spec(after=[{"job": "a"}]), down({s.job for s in first}), {"a": a}) == []


def test_a_missing_upstream_and_a_burst_are_bounded() -> None:
    burst = [run(f"a-{i}", "succeeded", 100 - i) for i in range(20)]
    starts = ch.plan(
        spec(after=[{"job": "a"}, {"job": "gone"}]), down(), {"a": ch.UpstreamView("u", burst)}
    )
    assert len(starts) == ch.MAX_STARTS
    assert starts[-1].cause.run_id == "a-0"  # the newest are started


def test_fan_in_waits_for_every_upstream_then_runs_once() -> None:
    s = spec(after=[{"job": "a"}, {"job": "c"}], afterAll=True)
    a = ch.UpstreamView("ua", [run("a-1", "succeeded", 1)])
    c_failed = ch.UpstreamView("uc", [run("c-1", "failed", 2)])
    assert ch.plan(s, down(), {"a": a, "c": c_failed}) == []
    c = ch.UpstreamView("uc", [run("c-2", "succeeded", 3), run("c-1", "failed", 2)])
    [start] = ch.plan(s, down(), {"a": a, "c": c})
    assert start.job == chain_job_name("b", sorted([("ua", "a-1"), ("uc", "c-2")]))
    assert (start.cause.job, start.cause.run_id) == ("c", "c-2")  # completed the set
    # Its Job exists: not again; once it ran, the old successes are before its run.
    assert ch.plan(s, down({start.job}), {"a": a, "c": c}) == []
    ran = run(start.job, "succeeded", 4, trigger="chain")
    assert ch.plan(s, down(history=[ran]), {"a": a, "c": c}) == []
    a2 = ch.UpstreamView("ua", [run("a-2", "succeeded", 5), *a.history])
    assert ch.plan(s, down(history=[ran]), {"a": a2, "c": c}) == []  # c not again yet
    c3 = ch.UpstreamView("uc", [run("c-3", "succeeded", 6), *c.history])
    assert len(ch.plan(s, down(history=[ran]), {"a": a2, "c": c3})) == 1


def test_fan_in_window() -> None:
    s = spec(after=[{"job": "a"}, {"job": "c"}], afterAll=True, afterWithinSeconds=600)
    a = ch.UpstreamView("ua", [run("a-1", "succeeded", 1)])
    late = ch.UpstreamView("uc", [run("c-1", "succeeded", 12)])
    assert ch.plan(s, down(), {"a": a, "c": late}) == []
    near = ch.UpstreamView("uc", [run("c-1", "succeeded", 10)])
    assert len(ch.plan(s, down(), {"a": a, "c": near})) == 1


def test_fan_in_counts_a_job_not_yet_in_history_as_the_last_run() -> None:
    s = spec(after=[{"job": "a"}, {"job": "c"}], afterAll=True)
    ups = {
        "a": ch.UpstreamView("ua", [run("a-1", "succeeded", 1)]),
        "c": ch.UpstreamView("uc", [run("c-1", "succeeded", 2)]),
    }
    assert ch.plan(s, down(newest_job=T0 + timedelta(minutes=3)), ups) == []


def test_chain_fields_rules() -> None:
    assert spec(after=[{"job": "a"}]).schedule is None  # chain-only
    with pytest.raises(ValidationError, match="afterAll needs after"):
        spec(schedule={"cron": "0 1 * * *"}, afterAll=True)
    with pytest.raises(ValidationError, match="afterWithinSeconds needs afterAll"):
        spec(after=[{"job": "a"}], afterWithinSeconds=5)
    with pytest.raises(ValidationError, match="listed once"):
        spec(after=[{"job": "a"}, {"job": "a", "when": "Failed"}])
    with pytest.raises(ValidationError, match="ChronosJob name"):
        spec(after=[{"job": "A/../x"}])
    with pytest.raises(ValidationError, match="exactly one of schedule"):
        spec()
    with pytest.raises(ValidationError):
        spec(after=[{"job": f"j{i}"} for i in range(11)])


def test_find_cycle_names_the_jobs_in_order() -> None:
    edges = {"a": {"c"}, "b": {"a"}, "c": {"b"}, "d": {"a"}}
    assert ch.find_cycle(edges, "a") == ["a", "c", "b"]
    assert ch.find_cycle(edges, "d") is None
    assert ch.find_cycle({"s": {"s"}}, "s") == ["s"]
    assert "a → c → b → a" in ch.cycle_message(["a", "c", "b"])


def test_index_requeues_downstreams_and_reports_cycle_changes() -> None:
    index = ch.ChainIndex()
    index.job_event("ns", "b", {"after": [{"job": "a"}]})
    assert index.downstream_of("ns", "a") == {("ns", "b")}
    assert index.downstream_of("other", "a") == set()
    assert index.settle("ns") == set()  # no cycle
    # a now runs after b: both are on the cycle, both reconciled again (once).
    index.job_event("ns", "a", {"after": [{"job": "b"}]})
    assert index.settle("ns") == {("ns", "a"), ("ns", "b")}
    assert index.settle("ns") == set()
    assert index.cycle_through("ns", "b") == ["b", "a"]
    index.job_event("ns", "a", {"after": [{"job": "b"}], "enabled": False})  # same edges
    assert "ns" not in index.dirty
    index.job_event("ns", "a", None)  # deleted
    assert index.settle("ns") == {("ns", "a"), ("ns", "b")}
    assert index.cycle_through("ns", "b") is None
    assert index.downstream_of("ns", "b") == set()
    index.job_event("ns", "self", {"after": [{"job": "self"}]})
    assert index.settle("ns") == {("ns", "self")}
    assert index.cycle_through("ns", "self") == ["self"]


def test_cyclic_groups_are_the_strongly_connected_jobs() -> None:
    edges = {
        "a": {"c"},
        "b": {"a"},
        "c": {"b"},
        "d": {"a", "e"},
        "e": {"d"},
        "f": {"f"},
        "g": {"a"},
    }
    groups = ch.cyclic_groups(edges)
    assert groups["a"] == groups["b"] == groups["c"] == frozenset("abc")
    assert groups["d"] == groups["e"] == frozenset("de")
    assert groups["f"] == frozenset("f")
    assert "g" not in groups


def test_a_long_chain_is_indexed_and_settled_in_linear_time() -> None:
    """10,000 jobs in one chain (the informer's first listing), then the cycle closed:
    each step once, not once per job (330 s when every event searched the chain)."""
    index = ch.ChainIndex()
    for i in range(10_000):
        index.job_event("ns", f"j{i}", {"after": [{"job": f"j{i - 1}"}]} if i else {})
    assert index.settle("ns") == set()
    index.job_event("ns", "j0", {"after": [{"job": "j9999"}]})
    assert len(index.settle("ns")) == 10_000
    cycle = index.cycle_through("ns", "j5")
    assert cycle is not None
    assert len(cycle) == 10_000
    assert cycle[:2] == ["j5", "j4"]


def test_the_chain_jobs_manifest_carries_trigger_and_cause_to_the_runner() -> None:
    from builders import operator_settings

    from chronos import contract as c
    from chronos.operator import runs
    from chronos.operator.cronjob import chain_job
    from chronos.operator.desired import desired_state

    cr: Any = {
        "metadata": {"name": "b", "namespace": "ns", "uid": "u"},
        "spec": {"task": TASK, "after": [{"job": "a"}]},
    }
    template = desired_state(cr, operator_settings()).cronjob
    assert template["spec"]["suspend"] is True  # chain-only: the template, never fired
    template["metadata"]["uid"] = "cj-uid"
    cause = RunCause(job="a", run_id="a-1", result="failed")
    manifest = chain_job(template, name="b-c-1", cause=cause)
    pod = manifest["spec"]["template"]
    for notes in (manifest["metadata"]["annotations"], pod["metadata"]["annotations"]):
        assert notes[c.TRIGGER_ANNOTATION] == "chain"
        assert RunCause.model_validate_json(notes[c.CAUSE_ANNOTATION]) == cause
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert c.CAUSE_ANNOTATION in env[c.ENV_CAUSE]["valueFrom"]["fieldRef"]["fieldPath"]
    # A run the runner could not report: the operator records it with its cause.
    finished = {
        **manifest,
        "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "X"}]},
    }
    record = runs.unreported_run(finished, [], [])
    assert record is not None
    assert record.trigger == "chain"
    assert record.cause == cause
    finished["metadata"]["annotations"][c.CAUSE_ANNOTATION] = "{not json"
    record = runs.unreported_run(finished, [], [])
    assert record is not None
    assert record.cause is None


def test_lazy_history_parses_only_up_to_the_first_served_run() -> None:
    stored = [run(f"a-{i}", "succeeded", 100 - i).model_dump(mode="json") for i in range(100)]
    stored.insert(1, {"runId": "bad", "trigger": "nonsense", "result": "x"})
    history = ch.LazyHistory(stored)
    served = chain_job_name("b", [("u", "a-0")])
    assert (
        ch.plan(spec(after=[{"job": "a"}]), down({served}), {"a": ch.UpstreamView("u", history)})
        == []
    )
    assert len(history._parsed) == 1  # the newest only
    assert [r.run_id for r in history][:2] == ["a-0", "a-1"]  # the refused entry left out
