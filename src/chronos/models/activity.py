"""The activity ledger (issue 22): who did what to which ChronosJob, kept where it survives
restarts.

One ConfigMap per namespace, ``chronos-activity`` (``LEDGER_CONFIGMAP``), written only by
the operator (the admission policy ``<fullname>-activity-ledger`` refuses anyone else),
read by the dashboard with the reader's own rights. Its key ``entries`` holds one JSON
object per line, oldest first, bounded by ``trim``: at most ``MAX_ENTRIES`` entries,
none older than ``MAX_AGE``, at most ``MAX_BYTES`` in all (a ConfigMap holds 1 MiB).

Who is true, not claimed: an entry names a user only when the write gave the
attribution annotations ``chronos.gluesync.io/changed-by`` and ``changed-at``
(``contract.CHANGED_BY_ANNOTATION``, ``CHANGED_AT_ANNOTATION``) a new value (``fresh``),
which the admission policy ``<fullname>-change-attribution`` allows only with the
writer's own name (``request.userInfo.username``); otherwise the entry is
"unattributed" and names the field manager the API server recorded, as a hint. Nobody
has to remove the annotations: a later write that leaves them as they were is simply
not attributed to the name they still carry.

Pure: the entry's shape, the diff of two versions of a ChronosJob into entries, the
ledger's encoding and bounds, and the filters of the Activity page. The operator's
``chronos.operator.activity`` does the I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chronos import contract as c
from chronos import runnow

#: The ledger's ConfigMap, one per namespace (leader changes: the operator's namespace).
LEDGER_CONFIGMAP = "chronos-activity"
#: Its one key: JSON lines, oldest first.
LEDGER_KEY = "entries"
#: Bounds of one namespace's ledger (docs/ui.md, "Activity"): whichever comes first.
MAX_ENTRIES = 1000
MAX_AGE = timedelta(days=90)
MAX_BYTES = 512 * 1024
#: Bounds of one entry's texts (a user name has no bound in Kubernetes).
MAX_NAME = 256
MAX_FIELDS = 20
MAX_DETAIL = 256
#: A changed field is named down to this depth below spec (``spec.task.entityIds``).
FIELD_DEPTH = 2


class Kind(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    ENABLED = "enabled"
    DISABLED = "disabled"
    DELETED = "deleted"
    RUN_NOW = "run-now"
    ABORT = "abort"
    BACKFILL = "backfill"
    LEADER = "leader"


class Source(StrEnum):
    """How the entry knows who it was."""

    #: The attribution annotation, which admission lets carry only the writer's own name.
    ADMISSION = "admission-checked"
    #: No annotation: the field manager of the write (a hint, e.g. kubectl-edit).
    UNATTRIBUTED = "unattributed"
    #: The operator itself (leader changes).
    OPERATOR = "operator"


class Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    time: datetime
    kind: Kind
    namespace: str = Field(max_length=MAX_NAME)
    job: str | None = Field(default=None, max_length=MAX_NAME)
    who: str | None = Field(default=None, max_length=MAX_NAME)
    source: Source
    #: For an unattributed change: the field manager the API server recorded.
    manager: str | None = Field(default=None, max_length=MAX_NAME)
    #: The spec fields changed, names only (never values).
    fields: tuple[str, ...] = Field(default=(), max_length=MAX_FIELDS)
    #: A run-now token, a backfill id and range, a run's id, "old → new" leader.
    detail: str | None = Field(default=None, max_length=MAX_DETAIL)

    def line(self) -> str:
        return self.model_dump_json(exclude_none=True, exclude_defaults=True)


def _cut(text: str | None, limit: int = MAX_NAME) -> str | None:
    return None if text is None else text[:limit]


# ------------------------------------------------------------------ the ledger text


def parse_ledger(text: str | None) -> list[Entry]:
    """The entries of a ledger's text, oldest first; a line the model refuses is left out."""
    entries = []
    for line in (text or "").splitlines():
        try:
            entries.append(Entry.model_validate_json(line))
        except ValidationError:
            continue
    return entries


def trim(entries: Sequence[Entry], now: datetime) -> list[Entry]:
    """The newest entries within the bounds (count, age, bytes), oldest first."""
    floor = now - MAX_AGE
    kept: list[Entry] = []
    size = 0
    for entry in reversed(entries):
        if len(kept) >= MAX_ENTRIES or entry.time < floor:
            break
        size += len(entry.line().encode()) + 1
        if size > MAX_BYTES:
            break
        kept.append(entry)
    kept.reverse()
    return kept


def append(text: str | None, new: Iterable[Entry], now: datetime) -> str:
    """The ledger's text with ``new`` appended, in time order, trimmed to its bounds."""
    entries = parse_ledger(text) + list(new)
    entries.sort(key=lambda e: e.time)  # stable: same instant keeps arrival order
    return "".join(e.line() + "\n" for e in trim(entries, now))


# ---------------------------------------------------------------- who made a change


@dataclass(frozen=True)
class Who:
    name: str | None
    source: Source
    manager: str | None = None


def changed_by(meta: Mapping[str, Any]) -> str | None:
    value = (meta.get("annotations") or {}).get(c.CHANGED_BY_ANNOTATION)
    return value if isinstance(value, str) and value else None


#: A write's attribution: (changed-by, changed-at) as the object carries them.
Stamp = tuple[str, str | None]


def stamp(meta: Mapping[str, Any]) -> Stamp | None:
    """The attribution the object carries; None without a name."""
    name = changed_by(meta)
    if name is None:
        return None
    at = (meta.get("annotations") or {}).get(c.CHANGED_AT_ANNOTATION)
    return name, at if isinstance(at, str) else None


def attribution(user: str, now: datetime) -> dict[str, str]:
    """The annotations a write by ``user`` carries to be credited to them: their name as
    the API server knows it (admission refuses any other) and the time, to the
    microsecond, so each write is a new stamp (``fresh``). The REST facade and the
    kubectl plugin both stamp with this."""
    return {
        c.CHANGED_BY_ANNOTATION: user,
        c.CHANGED_AT_ANNOTATION: now.isoformat(timespec="microseconds"),
    }


def fresh(meta: Mapping[str, Any], used: Stamp | None) -> bool:
    """Whether the object's attribution is new since ``used`` (the one last credited, or
    found at the operator's start). Admission lets a write give it a new value only with
    the writer's own name, and lets anyone else's write leave it as it was: so a fresh
    one names the writer of this version, and a stale one names nobody's change here."""
    found = stamp(meta)
    return found is not None and found != used


def last_manager(meta: Mapping[str, Any]) -> str | None:
    """The field manager of the newest write to the object itself (not its status)."""
    best: tuple[str, str] | None = None
    for entry in meta.get("managedFields") or []:
        if not isinstance(entry, dict) or entry.get("subresource"):
            continue
        manager, when = entry.get("manager"), entry.get("time") or ""
        if isinstance(manager, str) and (best is None or str(when) >= best[0]):
            best = (str(when), manager)
    return None if best is None else best[1]


def who(meta: Mapping[str, Any], attributed: bool = True) -> Who:
    """Who wrote this version: the admission-checked name when its attribution is fresh
    (``attributed``), else unattributed with the newest field manager as a hint."""
    name = changed_by(meta) if attributed else None
    if name is not None:
        return Who(_cut(name), Source.ADMISSION)
    return Who(None, Source.UNATTRIBUTED, _cut(last_manager(meta)))


# ------------------------------------------------------------------ the diff


def changed_fields(old: Any, new: Any, prefix: str = "spec", depth: int = FIELD_DEPTH) -> list[str]:
    """The dotted names of the fields that differ, down to ``depth`` levels (names only)."""
    if old == new:
        return []
    # A section added or removed is named by the fields it holds.
    old = {} if old is None and isinstance(new, dict) else old
    new = {} if new is None and isinstance(old, dict) else new
    if depth == 0 or not isinstance(old, dict) or not isinstance(new, dict):
        return [prefix]
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        out.extend(changed_fields(old.get(key), new.get(key), f"{prefix}.{key}", depth - 1))
    return out


def _enabled(spec: Mapping[str, Any]) -> bool:
    return bool(spec.get("enabled", True))


def _backfill_ids(annotations: Mapping[str, str]) -> dict[str, str]:
    """id -> "from → to" of the backfill annotation's requests (shape checked by admission
    and by the operator's backfill; here only which ids are there)."""
    try:
        loaded = json.loads(annotations.get(c.BACKFILL_ANNOTATION) or "[]")
    except ValueError:
        return {}
    out = {}
    for item in loaded if isinstance(loaded, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            out[item["id"]] = f"{item['id']}: {item.get('from')} → {item.get('to')}"
    return out


def _run_now_tokens(annotations: Mapping[str, str], now: datetime) -> set[str]:
    state = runnow.parse(dict(annotations), now)
    tokens = set(state.pending)
    if state.hand_token is not None:
        tokens.add(state.hand_token)
    return tokens


def diff(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    now: datetime,
    *,
    attributed: bool = True,
    listing: bool = False,
) -> list[Entry]:
    """What one watch event of a ChronosJob tells the ledger.

    ``old``: the version seen before (None: none). ``attributed``: the version's
    attribution is ``fresh``. ``listing``: the event comes from the first LIST after the
    operator (re)started: nothing is new then (what changed while no operator led is
    not known).
    """
    if listing:
        return []
    meta = new.get("metadata") or {}
    namespace, name = meta.get("namespace", ""), meta.get("name")
    author = who(meta, attributed)

    def entry(kind: Kind, fields: Sequence[str] = (), detail: str | None = None) -> Entry:
        return Entry(
            time=now,
            kind=kind,
            namespace=namespace,
            job=name,
            who=author.name,
            source=author.source,
            manager=author.manager,
            fields=tuple(fields[:MAX_FIELDS]),
            detail=_cut(detail, MAX_DETAIL),
        )

    spec = new.get("spec") or {}
    if old is None:
        return [entry(Kind.CREATED)]
    out: list[Entry] = []
    old_meta, old_spec = old.get("metadata") or {}, old.get("spec") or {}
    if _enabled(old_spec) != _enabled(spec):
        out.append(entry(Kind.ENABLED if _enabled(spec) else Kind.DISABLED))
    fields = [f for f in changed_fields(old_spec, spec) if f != "spec.enabled"]
    if fields:
        out.append(entry(Kind.CHANGED, fields))
    old_ann, ann = old_meta.get("annotations") or {}, meta.get("annotations") or {}
    for token in sorted(_run_now_tokens(ann, now) - _run_now_tokens(old_ann, now)):
        out.append(entry(Kind.RUN_NOW, detail=token))
    old_ids, ids = _backfill_ids(old_ann), _backfill_ids(ann)
    for backfill_id in sorted(set(ids) - set(old_ids)):
        out.append(entry(Kind.BACKFILL, detail=ids[backfill_id]))
    return out


def deleted(obj: Mapping[str, Any], now: datetime, *, attributed: bool = True) -> Entry:
    """A ChronosJob deleted: its last version names who, when its attribution is fresh
    (the REST facade stamps one just before it deletes)."""
    meta = obj.get("metadata") or {}
    author = who(meta, attributed)
    return Entry(
        time=now,
        kind=Kind.DELETED,
        namespace=meta.get("namespace", ""),
        job=meta.get("name"),
        who=author.name,
        source=author.source,
        manager=author.manager,
    )


def aborted(batch_job: Mapping[str, Any], now: datetime) -> Entry:
    """An abort: the run's batch Job deleted before it ended (``chronos.operator.aborts``).
    Attributed by the annotation the facade stamps on the Job with the abort note."""
    meta = batch_job.get("metadata") or {}
    author = who(meta)
    owner = (meta.get("annotations") or {}).get(c.CHRONOSJOB_ANNOTATION)
    return Entry(
        time=now,
        kind=Kind.ABORT,
        namespace=meta.get("namespace", ""),
        job=_cut(owner),
        who=author.name,
        source=author.source,
        manager=author.manager,
        detail=_cut(meta.get("name"), MAX_DETAIL),
    )


def is_abort(job: Mapping[str, Any], owner: Mapping[str, Any] | None, uid: str | None) -> bool:
    """Whether a run's Job deleted unfinished is an abort to the activity log.

    ``owner`` is its ChronosJob as now known (the cache, then the API server: None when
    gone), ``uid`` the one the cache held when the Job's deletion was seen. Deleting a
    ChronosJob makes the garbage collector delete its CronJobs' Jobs, which is not an
    abort; the informers may tell the Job's deletion before the ChronosJob's, so the
    owner gone, being deleted, or replaced by a namesake all say "went with its job".
    Someone's abort note (``contract.ABORT_ANNOTATION``) makes it one in any case."""
    if c.ABORT_ANNOTATION in ((job.get("metadata") or {}).get("annotations") or {}):
        return True
    if owner is None:
        return False
    meta = owner.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False
    return uid is None or meta.get("uid") == uid


def leader(namespace: str, old: str | None, new: str, now: datetime) -> Entry:
    return Entry(
        time=now,
        kind=Kind.LEADER,
        namespace=namespace,
        who=_cut(new),
        source=Source.OPERATOR,
        detail=_cut(f"{old or 'nobody'} → {new}", MAX_DETAIL),
    )


# ------------------------------------------------------------- the Activity page


@dataclass(frozen=True)
class Filters:
    job: str | None = None
    namespace: str | None = None
    user: str | None = None
    kind: Kind | None = None


def matches(entry: Entry, f: Filters) -> bool:
    return (
        (f.job is None or entry.job == f.job)
        and (f.namespace is None or entry.namespace == f.namespace)
        and (f.user is None or entry.who == f.user or entry.manager == f.user)
        and (f.kind is None or entry.kind is f.kind)
    )


def page(entries: Iterable[Entry], f: Filters, *, skip: int, limit: int) -> tuple[list[Entry], int]:
    """The filtered entries, newest first, one page of them and how many matched."""
    chosen = sorted((e for e in entries if matches(e, f)), key=lambda e: e.time, reverse=True)
    return chosen[skip : skip + limit], len(chosen)
