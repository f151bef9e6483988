"""Differential test: our cron parser and the real API server agree on every verdict.

Thousands of generated expressions (plus the known quirks of robfig/cron) are sent
to kube-apiserver as CronJobs with a ``timeZone`` (server-side dry run), and each
acceptance or rejection must match :func:`chronos.schedule.parse_cron`.
"""

from __future__ import annotations

import random

import pytest
from builders import cron_job
from lightkube import ApiError, Client

from chronos.http import TransportError
from chronos.schedule import ScheduleError, parse_cron

pytestmark = pytest.mark.cluster

QUIRKS = [
    "5/15 * * * *",
    "*-5 * * * *",
    "+5 * * * *",
    "1,,2 * * * *",
    ", * * * *",
    "*/1 * * * *",
    "0 0 * * 7",
    "0 0 * * 0-6",
    "0 0 L * *",
    "0 0 1W * *",
    "0 0 * * 1#2",
    "H * * * *",
    "@daily",
    "@DAILY",
    " @daily",
    "@daily ",
    "@every 5m",
    "@every 0s",
    "@every -5m",
    "@every 1500ms",
    "@every",
    "@reboot",
    "@hourly",
    "@annually",
    "@midnight",
    "TZ=UTC 0 * * * *",
    "CRON_TZ=UTC 0 * * * *",
    "0 0 * * TZ",
    "TZ=UTC",
    "* * * * * *",
    "* * * *",
    "",
    " ",
    "0 24 * * *",
    "60 * * * *",
    "* * 0 * *",
    "* * 32 * *",
    "* * * 13 *",
    "* * * 0 *",
    "0 0 * JAN-MAR MON-FRI",
    "0 0 * jan sun",
    "0 0 * * sun-sat",
    "0 0 * * sat-sun",
    "0 0 ? * ?",
    "*/0 * * * *",
    "1-60/2 * * * *",
    "0\t0 * * *",
    "0 0 * * 1\n",
    "\uff10 0 * * *",  # a full-width digit
    "5-1 * * * *",
    "1-5/2 * * * *",
]

# (min, max, names) of minute, hour, day of month, month, day of week.
FIELDS = [
    (0, 59, []),
    (0, 23, []),
    (1, 31, []),
    (1, 12, ["jan", "JUN", "Dec"]),
    (0, 6, ["sun", "MON", "fri", "Sat"]),
]
ODD = ["x", "L", "-1", "+3", "007", "?", "", "1W", "3#2", "foo"]


def _atom(rng: random.Random, lo: int, hi: int, names: list[str]) -> str:
    roll = rng.random()
    if roll < 0.88:
        return str(rng.randint(lo, hi))
    if roll < 0.93 and names:
        return rng.choice(names)
    if roll < 0.97:
        return str(rng.choice([lo - 1, hi + 1, hi + 7]))
    return rng.choice(ODD)


def _field(rng: random.Random, lo: int, hi: int, names: list[str]) -> str:
    kind = rng.random()
    atom = _atom(rng, lo, hi, names)
    if kind < 0.3:
        return atom
    if kind < 0.5:
        return "*"
    if kind < 0.55:
        return f"{atom}-{_atom(rng, lo, hi, names)}"
    if kind < 0.7:
        step = rng.choice(["1", "2", "5", "15", "0", str(hi + 2), "x"])
        return f"{rng.choice(['*', atom])}/{step}"
    if kind < 0.85:
        return ",".join(_atom(rng, lo, hi, names) for _ in range(rng.randint(2, 4)))
    return f"{atom}-{_atom(rng, lo, hi, names)}/{rng.choice(['2', '3', '0'])}"


def generated(count: int, seed: int = 20261123) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        fields = [_field(rng, *f) for f in FIELDS]
        roll = rng.random()
        if roll < 0.05:
            fields.pop()
        elif roll < 0.1:
            fields.append(_field(rng, *FIELDS[0]))
        out.append(" ".join(fields))
    return out


def ours_accepts(expression: str) -> bool:
    try:
        parse_cron(expression)
    except ScheduleError:
        return False
    return True


def server_accepts(k8s: Client, expression: str) -> bool:
    try:
        k8s.create(cron_job("differential", "default", expression, "Europe/Rome"), dry_run=True)
    except TransportError:
        # robfig/cron v3.0.1 panics on a bare "TZ=..." and the API server drops the
        # connection: nothing is stored, which for us is a rejection.
        return False
    except ApiError as exc:
        message = exc.status.message or ""
        if exc.status.code != 422 or "spec.schedule" not in message:
            raise AssertionError(f"unexpected rejection of {expression!r}: {message}") from exc
        return False
    return True


def test_parser_and_api_server_agree(k8s: Client) -> None:
    expressions = list(dict.fromkeys(QUIRKS + generated(2500)))
    server = [server_accepts(k8s, e) for e in expressions]
    disagreements = [
        (e, s) for e, s in zip(expressions, server, strict=True) if ours_accepts(e) != s
    ]
    accepted = sum(server)
    # Both verdicts must be well represented, or the comparison proves little.
    assert accepted > 400, accepted
    assert len(expressions) - accepted > 400, accepted
    assert disagreements == [], f"(expression, server accepts) mismatches: {disagreements}"
