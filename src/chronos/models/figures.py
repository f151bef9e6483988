"""The operator's published figures: what each operator replica writes into the figures
ConfigMap and the dashboard's Cluster page reads (issue 22).

One ConfigMap beside the leader Lease, named after it (:func:`figures_config_map`), one
key per replica (:func:`entry_key` of its identity), the value a JSON
:class:`ReplicaFigures`. Each replica refreshes its own key every
``refreshSeconds`` (a JSON merge patch of that key alone, so replicas never overwrite
one another) and removes it on a clean stop; an entry not refreshed for
:data:`STALE_SECONDS` belongs to a replica that died and is dropped by the next replica
that refreshes. Not on the Lease itself: the leader replaces the Lease every renewal
with the resourceVersion it read, so a standby writing there would make the leader's
renewal a 409 (a lost lease).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

#: Suffix of the figures ConfigMap's name after the Lease's (``chronos-operator`` ->
#: ``chronos-operator-figures``): one setting (the Lease's name) finds both.
FIGURES_SUFFIX = "-figures"
#: How often a replica refreshes its entry.
REFRESH_SECONDS = 10.0
#: An entry this old is a dead replica's: pruned by the others, shown as gone.
STALE_SECONDS = 60.0
#: Most jobs listed by their schedule lag (the largest first): bounds the ConfigMap
#: (about 150 bytes each) whatever the number of jobs.
MAX_LAG_ENTRIES = 100
_KEY_CHARS = re.compile(r"[^-._a-zA-Z0-9]")


def figures_config_map(lease_name: str) -> str:
    return f"{lease_name}{FIGURES_SUFFIX}"


def entry_key(identity: str) -> str:
    """A replica's key in the ConfigMap (keys allow ``[-._a-zA-Z0-9]`` only)."""
    return _KEY_CHARS.sub("_", identity)[:253] or "_"


class _Figures(BaseModel):
    # Written by one version of the operator, read by another version of the facade:
    # fields it does not know are ignored rather than failing the page.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", serialize_by_alias=True
    )


class LagEntry(_Figures):
    """One job's newest scheduled run: its slot, when its Job was created, the gap."""

    namespace: str
    job: str
    slot: datetime
    created: datetime
    lag_seconds: float
    #: Who created the Job: the CronJob controller (a native schedule) or the operator
    #: (operator-mode slots, chronos.operator.operate).
    by: Literal["cronjob-controller", "operator"]


class ScheduleLag(_Figures):
    """Slot -> Job created over the jobs' newest scheduled runs seen by this replica."""

    jobs: int = 0
    p50_seconds: float | None = None
    p95_seconds: float | None = None
    max_seconds: float | None = None
    #: The largest lags, at most MAX_LAG_ENTRIES, largest first.
    worst: list[LagEntry] = Field(default_factory=list)


class ReplicaFigures(_Figures):
    identity: str
    #: The pod's name (its hostname) where the replica runs in a pod.
    pod: str
    leader: bool
    #: When this replica last gained the lease (None: it does not hold it).
    leader_since: datetime | None = None
    started_at: datetime
    updated_at: datetime
    version: str
    refresh_seconds: float = REFRESH_SECONDS
    #: The leader's work queue: keys waiting for a worker (None on a standby, which
    #: runs no workers).
    queue_depth: int | None = None
    #: Keys served by the workers (each a sync: the reconcile loop of one job, failed
    #: ones included) and CronJob reconciles (spec changes applied), per minute over
    #: the last minute.
    syncs_per_minute: float | None = None
    reconciles_per_minute: float | None = None
    schedule_lag: ScheduleLag | None = None


def parse_figures(data: dict[str, str] | None) -> tuple[list[ReplicaFigures], list[str]]:
    """The entries of a figures ConfigMap's data, and the keys that could not be read
    (named, never quoted: their text is whatever was written there)."""
    found: list[ReplicaFigures] = []
    bad: list[str] = []
    for key, text in sorted((data or {}).items()):
        try:
            found.append(ReplicaFigures.model_validate(json.loads(text)))
        except (ValueError, ValidationError):
            bad.append(key)
    return found, bad
