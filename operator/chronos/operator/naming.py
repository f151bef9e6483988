"""Deterministic, valid names for the objects a ChronosJob owns."""

from __future__ import annotations

import hashlib
import re

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


def label_value(chronosjob: str) -> str:
    return shorten(chronosjob, LABEL_VALUE_MAX)


def run_now_job_name(chronosjob: str, token: str) -> str:
    """One name per (ChronosJob, token): creating it twice is a conflict, never a second run."""
    return f"{cronjob_name(chronosjob)[:42].rstrip('-')}-now-{_digest(token, 6)}"
