"""Deterministic, valid names for the objects a ChronosJob owns."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

#: A CronJob's name may be at most 52 characters: the controller appends an 11-character
#: suffix to make each Job's name, which must stay within 63.
CRONJOB_NAME_MAX = 52
LABEL_VALUE_MAX = 63
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _digest(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def shorten(name: str, limit: int) -> str:
    """``name`` if it is a DNS label within ``limit``; else a stable shortened form.

    Anything altered (too long, or containing dots) gets a hash of the full name, so two
    different ChronosJobs never map to the same name.
    """
    if len(name) <= limit and _DNS_LABEL.match(name):
        return name
    cleaned = re.sub(r"[^a-z0-9-]", "-", name.lower())
    stem = cleaned[: limit - 9].strip("-") or "job"
    return f"{stem}-{_digest(name)}"


def cronjob_name(chronosjob: str) -> str:
    return shorten(chronosjob, CRONJOB_NAME_MAX)


def schedule_cronjob_name(chronosjob: str, schedule: str, index: int) -> str:
    """The CronJob of a job's schedule: schedule 0 keeps the job's own CronJob name (so a
    job that gains schedules keeps its CronJob and history); the others are
    ``<job>-<schedule>`` cut to fit, then a hash of ``<job>/<schedule>`` — always, since
    a hyphen joins ambiguously (job ``a`` with schedule ``b-x`` and job ``a-b`` with
    schedule ``x`` both read ``a-b-x``) and ``/`` is in neither name, so two different
    (job, schedule) pairs never share a name. A job's own name can still spell another
    job's schedule CronJob name: reconcile refuses to take over a CronJob it does not
    own (CronJobNameTaken)."""
    if index == 0:
        return cronjob_name(chronosjob)
    digest = _digest(f"{chronosjob}/{schedule}")
    stem = re.sub(r"[^a-z0-9-]", "-", f"{chronosjob}-{schedule}".lower())
    stem = stem[: CRONJOB_NAME_MAX - len(digest) - 1].strip("-") or "job"
    return f"{stem}-{digest}"


def label_value(chronosjob: str) -> str:
    return shorten(chronosjob, LABEL_VALUE_MAX)


def run_now_job_name(chronosjob: str, token: str, requested_at: str) -> str:
    """One name per accepted run-now request (token and the time it was accepted).

    Serving one request twice (a retry, or again after an operator restart) creates the
    same name, a conflict rather than a second run; the same token accepted again after
    the served window gets another name, so a runId (the Job name) never repeats. 64 bits
    of digest: distinct requests never collide in practice. 42 + 5 + 16 = 63 characters.
    """
    digest = _digest(f"{token}\n{requested_at}", 16)
    return f"{cronjob_name(chronosjob)[:42].rstrip('-')}-now-{digest}"


def backfill_job_name(chronosjob: str, request: str, slot: datetime) -> str:
    """One name per backfill request and slot: serving a request again (a retry, an
    operator restart) is a create conflict, not a second run. 42 + 4 + 16 = 62."""
    digest = _digest(f"{request}\n{int(slot.timestamp())}", 16)
    return f"{cronjob_name(chronosjob)[:42].rstrip('-')}-bf-{digest}"


def chain_job_name(cronjob: str, upstream_runs: list[tuple[str, str]]) -> str:
    """One name per chain run: the downstream's CronJob name and a digest of the upstream
    runs that cause it, each ``(upstream job's uid, runId)`` (one for a chain, one per
    upstream for a fan-in, in a fixed order). Planning the run again (a retry, a restart
    between the upstream's end and the create, a new leader) makes the same name: a
    create conflict, never a second run. 42 + 3 + 16 = 61 characters."""
    digest = _digest("\n".join(f"{uid}/{run}" for uid, run in upstream_runs), 16)
    return f"{cronjob[:42].rstrip('-')}-c-{digest}"
