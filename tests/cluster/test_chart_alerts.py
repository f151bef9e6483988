"""The chart's optional PrometheusRule (issue 21): off by default, its values checked by
the chart's schema, and every alert expression parsed (a PromQL subset parser here:
no promtool on the machines) and checked against the metrics the operator really
exposes — the names and the labels the rules group and match on.

Needs helm (built from its Go module and cached, dev/chronos/devcluster/binaries), not
the control plane."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from fixtures_deploy import CHART, Helm, docs, find
from prometheus_client import REGISTRY

from chronos.operator import metrics

pytestmark = pytest.mark.cluster

RULE_VALUES = ("--set", "prometheusRule.enabled=true")


# ------------------------------------------------------------------ a PromQL subset

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<duration>[0-9]+(?:ms|s|m|h|d|w|y)(?:[0-9]+(?:ms|s|m|h|d|w|y))*)(?![A-Za-z0-9_])
    | (?P<number>[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=(){}\[\],])
    )""",
    re.VERBOSE,
)
AGGREGATIONS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "group"}
FUNCTIONS = {"increase", "rate", "time", "absent", "abs", "clamp_min", "delta", "changes"}
#: Binary operators by precedence, lowest first (PromQL's).
LEVELS = [
    {"or"},
    {"and", "unless"},
    {"==", "!=", ">", "<", ">=", "<="},
    {"+", "-"},
    {"*", "/", "%"},
]


class PromQLError(ValueError):
    pass


@dataclass
class Parsed:
    """What an expression refers to."""

    metrics: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise PromQLError(f"cannot read {text[pos:]!r}")
            kind = match.lastgroup
            assert kind is not None
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.at = 0
        self.found = Parsed()

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def kind(self) -> str | None:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        if self.at >= len(self.tokens):
            raise PromQLError(f"unexpected end, wanted {expected or 'more'}")
        value = self.tokens[self.at][1]
        if expected is not None and value != expected:
            raise PromQLError(f"wanted {expected!r}, got {value!r}")
        self.at += 1
        return value

    def parse(self) -> Parsed:
        self.expr(0)
        if self.at != len(self.tokens):
            raise PromQLError(f"left over: {self.tokens[self.at :]}")
        return self.found

    def expr(self, level: int) -> None:
        if level == len(LEVELS):
            self.power()
            return
        self.expr(level + 1)
        while self.peek() in LEVELS[level]:
            self.take()
            if self.peek() == "bool":
                self.take()
            if self.peek() in ("on", "ignoring"):
                self.take()
                self.found.labels |= self.label_list()
            if self.peek() in ("group_left", "group_right"):
                self.take()
                if self.peek() == "(":
                    self.label_list()
            self.expr(level + 1)

    def power(self) -> None:
        self.unary()
        if self.peek() == "^":
            self.take()
            self.power()

    def unary(self) -> None:
        if self.peek() in ("-", "+"):
            self.take()
        self.primary()

    def label_list(self) -> set[str]:
        self.take("(")
        names: set[str] = set()
        while self.peek() != ")":
            if self.kind() != "ident":
                raise PromQLError(f"a label name, not {self.peek()!r}")
            names.add(self.take())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return names

    def args(self) -> None:
        self.take("(")
        while self.peek() != ")":
            self.expr(0)
            if self.peek() == ",":
                self.take()
        self.take(")")

    def primary(self) -> None:
        kind, value = self.kind(), self.peek()
        if kind in ("number", "string"):
            self.take()
        elif value == "(":
            self.take()
            self.expr(0)
            self.take(")")
        elif kind == "ident" and value in AGGREGATIONS:
            self.take()
            if self.peek() in ("by", "without"):
                self.take()
                self.found.labels |= self.label_list()
            self.args()
            if self.peek() in ("by", "without"):
                self.take()
                self.found.labels |= self.label_list()
        elif kind == "ident" and value in FUNCTIONS:
            self.take()
            self.args()
        elif kind == "ident" or value == "{":
            self.selector()
        else:
            raise PromQLError(f"unexpected {value!r}")

    def selector(self) -> None:
        if self.kind() == "ident":
            self.found.metrics.add(self.take())
        if self.peek() == "{":
            self.take()
            while self.peek() != "}":
                self.found.labels.add(self.take())
                if self.peek() not in ("=", "!=", "=~", "!~"):
                    raise PromQLError(f"a matcher operator, not {self.peek()!r}")
                self.take()
                if self.kind() != "string":
                    raise PromQLError("a matcher needs a quoted value")
                self.take()
                if self.peek() == ",":
                    self.take()
            self.take("}")
        if self.peek() == "[":
            self.take()
            if self.kind() != "duration":
                raise PromQLError(f"a range needs a duration, not {self.peek()!r}")
            self.take()
            self.take("]")


def parse(text: str) -> Parsed:
    return Parser(text).parse()


@pytest.mark.parametrize(
    "bad",
    [
        "max by (namespace (x)",
        "increase(x[1 h])",
        "x >",
        "sum by (namespace) (x) > > 1",
        "x{job=unquoted}",
        "rate(x[5m]",
    ],
)
def test_the_parser_refuses_broken_expressions(bad: str) -> None:
    with pytest.raises(PromQLError):
        parse(bad)


def test_the_parser_reads_what_it_should() -> None:
    found = parse(
        'sum by (a) (rate(m_total{x="1"}[5m])) / on (a) group_left () max(n) > bool 2 ^ 3'
    )
    assert found.metrics == {"m_total", "n"}
    assert found.labels == {"a", "x"}


# ------------------------------------------------------------------ the chart


def exposed() -> dict[str, set[str]]:
    """Every sample name the operator exposes, with its label names (a job observed so
    that the per-job series exist; notification counters touched once)."""
    metrics.observe_job("alerts-ns", "alerts-job", metrics.JobGauges(1.0, 1, 2.0, frozenset()))
    metrics.NOTIFICATIONS_UNDELIVERED.labels("webhook").inc(0)
    try:
        samples: dict[str, set[str]] = {}
        for family in REGISTRY.collect():
            for sample in family.samples:
                samples.setdefault(sample.name, set()).update(sample.labels)
        return samples
    finally:
        metrics.forget_job("alerts-ns", "alerts-job")


def rules(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    rule = find(objs, "PrometheusRule", "chronos")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def test_no_prometheus_rule_by_default(helm: Helm) -> None:
    assert not [o for o in docs(helm.template()) if o["kind"] == "PrometheusRule"]


def test_every_alert_parses_and_reads_metrics_the_operator_exposes(helm: Helm) -> None:
    alerts = rules(docs(helm.template(*RULE_VALUES)))
    assert set(alerts) == {
        "ChronosJobFailing",
        "ChronosJobMissedRuns",
        "ChronosJobAbsent",
        "ChronosJobScheduleStale",
        "ChronosNotificationsFailing",
    }
    samples = exposed()
    for name, alert in alerts.items():
        found = parse(alert["expr"])
        assert found.metrics, name
        for metric in found.metrics:
            assert metric in samples, f"{name}: {metric} is not exposed"
            missing = found.labels - samples[metric]
            assert not missing, f"{name}: {metric} has no label {missing}"
        assert alert["labels"]["severity"] == "warning"
        assert "{{ $labels." in alert["annotations"]["summary"]


def test_the_thresholds_come_from_values(helm: Helm) -> None:
    alerts = rules(
        docs(
            helm.template(
                *RULE_VALUES,
                "--set",
                "prometheusRule.failureStreak=3",
                "--set",
                "prometheusRule.absentSeconds=7200",
                "--set",
                "prometheusRule.missedWindow=6h",
                "--set",
                "prometheusRule.for=15m",
                "--set",
                "prometheusRule.labels.release=prometheus",
            )
        )
    )
    assert alerts["ChronosJobFailing"]["expr"].endswith(">= 3")
    assert alerts["ChronosJobFailing"]["for"] == "15m"
    assert "> 7200)" in alerts["ChronosJobAbsent"]["expr"]
    assert "[6h]" in alerts["ChronosJobMissedRuns"]["expr"]
    objs = docs(helm.template(*RULE_VALUES, "--set", "prometheusRule.labels.release=prom"))
    assert find(objs, "PrometheusRule", "chronos")["metadata"]["labels"]["release"] == "prom"


@pytest.mark.parametrize(
    ("flag", "where"),
    [
        ("prometheusRule.failureStreak=0", "/prometheusRule/failureStreak"),
        ("prometheusRule.missedWindow=an hour", "/prometheusRule/missedWindow"),
        ("prometheusRule.absentSecond=60", "/prometheusRule"),  # a typo is refused
    ],
)
def test_bad_rule_values_are_refused_by_the_schema(helm: Helm, flag: str, where: str) -> None:
    result = helm.run("template", "x", str(CHART), *RULE_VALUES, "--set", flag, check=False)
    assert result.returncode != 0, f"{flag} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert where in result.stderr, result.stderr


def test_the_operator_is_scraped_with_its_own_job_labels(helm: Helm) -> None:
    """honorLabels on the operator's endpoint (the per-job series' ``namespace`` and
    ``job`` are the ChronosJob's, not renamed exported_*); the API's is left alone."""
    objs = docs(helm.template("--set", "serviceMonitor.enabled=true"))
    operator = find(objs, "ServiceMonitor", "chronos-operator")["spec"]["endpoints"][0]
    api = find(objs, "ServiceMonitor", "chronos-api")["spec"]["endpoints"][0]
    assert operator["honorLabels"] is True
    assert "honorLabels" not in api


def test_helm_lint_passes_with_the_rule(helm: Helm) -> None:
    out = helm.run("lint", "--strict", str(CHART), *RULE_VALUES).stdout
    assert "0 chart(s) failed" in out
