"""The overview's CPU and memory: Kubernetes quantities, the sum per run, the words shown
(chronos.api.podmetrics' pure parts; no cluster)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from chronos.api.podmetrics import (
    NOT_SERVED,
    SLOW,
    NamespaceUsage,
    Usage,
    format_cpu,
    format_memory,
    format_usage,
    parse_quantity,
    running_usage,
    usage_by_run,
)
from chronos.api.runlog import JOB_NAME_LABEL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12345678n", Decimal("0.012345678")),
        ("250u", Decimal("0.00025")),
        ("5m", Decimal("0.005")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        ("0", Decimal(0)),
        ("12345Ki", Decimal(12345 * 1024)),
        ("12Mi", Decimal(12 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("2k", Decimal(2000)),
        ("3M", Decimal(3_000_000)),
        ("1e3", Decimal(1000)),
        ("2E", Decimal(2 * 10**18)),
        (".5", Decimal("0.5")),
        (" 7Mi ", Decimal(7 * 2**20)),
    ],
)
def test_parse_quantity_reads_kubernetes_quantities(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("text", ["", "m", "12x", "5 m", "-5m", "Ki", "1.2.3", "nan", "inf", "1Q"])
def test_parse_quantity_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("cores", "words"),
    [
        (Decimal("0.012345678"), "12 m CPU"),
        (Decimal("0.0004"), "0.4 m CPU"),
        (Decimal("0.0095"), "9.5 m CPU"),
        (Decimal(0), "0 m CPU"),
        (Decimal("0.00001"), "<0.1 m CPU"),
        (Decimal("0.999"), "999 m CPU"),
        (Decimal("1.25"), "1.25 CPU"),
        (Decimal(2), "2 CPU"),
    ],
)
def test_format_cpu_in_millicores_then_cores(cores: Decimal, words: str) -> None:
    assert format_cpu(cores) == words


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (Decimal(34 * 2**20), "34 MiB"),
        (Decimal("3.5") * 2**20, "3.5 MiB"),
        (Decimal(900 * 1024), "900 KiB"),
        (Decimal("1.2") * 2**30, "1.2 GiB"),
    ],
)
def test_format_memory_in_binary_units(size: Decimal, words: str) -> None:
    assert format_memory(size) == words


def test_format_usage_joins_cpu_and_memory() -> None:
    usage = Usage(parse_quantity("12345678n"), parse_quantity("34816Ki"))
    assert format_usage(usage) == "12 m CPU · 34 MiB"


def _pod(run: str | None, *usages: tuple[str, str]) -> dict[str, Any]:
    labels = {JOB_NAME_LABEL: run} if run else {}
    return {
        "metadata": {"name": f"{run}-x", "labels": labels},
        "containers": [
            {"name": f"c{i}", "usage": {"cpu": c, "memory": m}} for i, (c, m) in enumerate(usages)
        ],
    }


def test_usage_by_run_sums_containers_and_pods_of_each_wanted_run() -> None:
    items = [
        _pod("run-a", ("5m", "10Mi"), ("1m", "2Mi")),
        _pod("run-a", ("4m", "4Mi")),  # a retry's second pod
        _pod("run-b", ("100n", "1Ki")),
        _pod("other", ("1", "1Gi")),  # not one of the runs asked for
        _pod(None, ("1", "1Gi")),  # no Job label
    ]
    got = usage_by_run(items, ["run-a", "run-b", "run-c"])
    assert got == {
        "run-a": Usage(Decimal("0.010"), Decimal(16 * 2**20)),
        "run-b": Usage(Decimal("0.0000001"), Decimal(1024)),
    }


def test_usage_by_run_skips_pods_not_scraped_yet_and_malformed_quantities() -> None:
    items = [
        {"metadata": {"labels": {JOB_NAME_LABEL: "run-a"}}, "containers": []},
        _pod("run-b", ("lots", "10Mi")),
    ]
    assert usage_by_run(items, ["run-a", "run-b"]) == {}


def test_running_usage_shows_a_column_words_and_a_dash_for_runs_not_scraped() -> None:
    answers = {"team": NamespaceUsage("ok", {"r1": Usage(Decimal("0.012"), Decimal(34 * 2**20))})}
    view = running_usage(answers, {"team": ["r1", "r2"]})
    assert view.column
    assert view.cell("team", "r1") == "12 m CPU · 34 MiB"
    assert view.cell("team", "r2") == "—"
    assert view.notes == ()


def test_running_usage_not_served_means_no_column_and_one_calm_note() -> None:
    answers = {"a": NamespaceUsage("not-served"), "b": NamespaceUsage("not-served")}
    view = running_usage(answers, {"a": ["r1"], "b": ["r2"]})
    assert not view.column
    assert view.cell("a", "r1") == ""
    assert view.notes == (NOT_SERVED,)


def test_running_usage_forbidden_names_the_namespaces_and_the_right_needed() -> None:
    answers = {
        "a": NamespaceUsage("forbidden"),
        "b": NamespaceUsage("ok", {"r2": Usage(Decimal("0.001"), Decimal(2**20))}),
        "c": NamespaceUsage("slow"),
    }
    view = running_usage(answers, {"a": ["r1"], "b": ["r2"], "c": ["r3"]})
    assert view.column
    assert view.cell("a", "r1") == ""
    assert view.cell("b", "r2") == "1.0 m CPU · 1.0 MiB"
    assert view.notes[0] == SLOW
    assert 'namespace "a"' in view.notes[1]
    assert "you may not read pod metrics" in view.notes[1]
    assert "list pods in metrics.k8s.io" in view.notes[1]


def test_running_usage_is_hashable_so_it_can_key_the_shared_render() -> None:
    answers = {"a": NamespaceUsage("ok", {"r": Usage(Decimal(1), Decimal(1))})}
    one = running_usage(answers, {"a": ["r"]})
    two = running_usage(answers, {"a": ["r"]})
    assert hash(one) == hash(two)
    assert one == two
