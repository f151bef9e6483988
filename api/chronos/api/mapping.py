"""Pure translations between Chronos REST bodies and ChronosJob resources (plain dicts).

Nothing here decides whether a value is valid: requests become a camelCase spec that
``ChronosJobSpec`` and the schedule engine judge (see ``chronos.api.services``).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import string
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from chronos import runnow
from chronos.api.answers import QueuedRunOut, RunRecordOut
from chronos.api.chainmap import apply_chains, chains_view
from chronos.api.schemas import JOB_ID, documented_cron
from chronos.api.timemap import apply_time_rules, drop_schedules, sends_schedules, time_rules_view
from chronos.contract import RUN_NOW_ANNOTATION
from chronos.models.chronosjob import MIN_EVERY_SECONDS, WAIT_TYPES, ChronosJobSpec, TaskType
from chronos.models.resolve import NEVER_FIRES_MESSAGE, resolve_schedule
from chronos.models.wire import (
    CONDITIONS,
    CRON,
    DESCRIPTION,
    END_TIME,
    HISTORY,
    LAST_RUN,
    LAST_SCHEDULE_TIME,
    NEXT_RUN_TIMES,
    QUEUED,
    RUN_ID,
    SCHEDULED_TIME,
    START_TIME,
    TIME_ZONE,
    ChronosJobDict,
    ConditionDict,
    ObjectMetaDict,
    RunRecordDict,
    ScheduleDict,
    SpecDict,
    StatusDict,
    TaskDict,
)
from chronos.schedule import ScheduleError, describe
from chronos.schedule.occurrences import TimeRules, slots
from chronos.timerules import time_rules
from chronos.times import parse_time, rfc3339

#: Ids stay short enough for every name the operator derives from them.
ID_STEM_MAX = 46
SUFFIX_LENGTH = 5
NEXT_RUNS = 5
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
ID_PATTERN = re.compile(JOB_ID)


class RequestShapeError(ValueError):
    """A request that cannot even be turned into a spec (``field``, ``reason``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


# ------------------------------------------------------------------------------- ids


#: Letters that Unicode does not decompose to Latin: Greek (ELOT 743) and Cyrillic
#: (a simple scientific-style table), lower case. Accents go by NFKD first.
_TRANSLITERATION = str.maketrans(
    {
        **dict(zip("αβγδεζηικλμνξοπρστυφως", "abgdeziiklmnxoprstyfos", strict=True)),
        **{"θ": "th", "χ": "ch", "ψ": "ps"},
        **dict(zip("абвгдезиклмнопрстуфцыэі", "abvgdeziklmnoprstufcyei", strict=True)),
        **{
            "ж": "zh",
            "\N{CYRILLIC SMALL LETTER HA}": "kh",
            "ч": "ch",
            "ш": "sh",
            "щ": "shch",
            "ъ": "",
            "ь": "",
        },
        **{"ю": "yu", "я": "ya", "є": "ye", "ґ": "g"},
        **{"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ð": "d", "þ": "th", "ł": "l"},
    }
)
#: Syllabic scripts whose Unicode character names end in the syllable's romanisation
#: ("HIRAGANA LETTER KA", "HANGUL SYLLABLE HAN").
_SYLLABARIES = ("HIRAGANA LETTER ", "KATAKANA LETTER ", "HANGUL SYLLABLE ")


def _latin(char: str) -> str:
    if char.isascii():
        return char
    named = unicodedata.name(char, "")
    if named.startswith(_SYLLABARIES):
        return named.rsplit(" ", 1)[-1].lower()
    return "".join(c for c in unicodedata.normalize("NFKD", char) if c.isascii())


def _lettered(char: str) -> bool:
    """A letter or digit that carries meaning (not a mark or a length sign like ー)."""
    return unicodedata.category(char) in ("Lu", "Ll", "Lt", "Lo", "Nd", "Nl", "No")


def slugify(name: str) -> str:
    """A DNS-label id stem from a free-text name: "Monday Job!" -> "monday-job".

    Accented, Greek and Cyrillic letters and Japanese kana and Korean syllables are
    transliterated ("Αθήνα" -> "athina", "Отчёт" -> "otchet"). A name with letters that
    have no Latin form (Chinese, Arabic, ...) gets a short digest of itself added, so
    that its id is stable and differs from other such names ("日报" -> "job-21087896").
    """
    # NFKD first, so that accented Greek and Cyrillic letters meet the table bare;
    # NFC after, so that kana and Hangul syllables are whole again for _latin.
    text = unicodedata.normalize("NFKD", name.lower()).translate(_TRANSLITERATION)
    text = unicodedata.normalize("NFC", text)
    latin = "".join(_latin(c) for c in text)
    lost = any(_lettered(c) and not _latin(c) for c in text)
    stem = _NOT_ALNUM.sub("-", latin)[:ID_STEM_MAX].strip("-")
    if not lost:
        return stem or "job"
    digest = hashlib.sha256(unicodedata.normalize("NFC", name).encode()).hexdigest()[:8]
    return f"{(stem or 'job')[: ID_STEM_MAX - len(digest) - 1].strip('-')}-{digest}"


def with_suffix(stem: str) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return f"{stem}-{''.join(secrets.choice(alphabet) for _ in range(SUFFIX_LENGTH))}"


# ------------------------------------------------------------------- request -> spec


def _ids(values: list[str] | None) -> list[str] | None:
    # Chronos clients send [] for "none"; the ChronosJob says "none" by omitting the list.
    return list(values) if values else None


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


def _friendly(schedule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    days = schedule.get("days_of_week")
    if days is not None:
        # Chronos took the days as a set; the ChronosJob refuses a day listed twice.
        lowered = [d.lower() if isinstance(d, str) else d for d in days]
        out["daysOfWeek"] = [d for i, d in enumerate(lowered) if d not in lowered[:i]]
    for key in ("hour", "minute"):
        if schedule.get(key) is not None:
            out[key] = schedule[key]
    return out


def schedule_forms(sent: Mapping[str, Any]) -> tuple[Any, Any]:
    """The friendly form and the cron expression a body sets (``None``: not set).

    With both, the friendly form is the schedule and ``cron_expression`` is the
    read-only echo a GET returns beside it (a job read back and sent again): ignored,
    like the other response fields, yet still held to what the OpenAPI document allows
    there (``schemas.JOB_BODY_RULES`` says the same)."""
    friendly, cron = sent.get("schedule"), sent.get("cron_expression")
    if friendly is None or cron is None or not _friendly(friendly):
        return friendly, cron
    if not isinstance(cron, str) or not documented_cron(cron):
        raise RequestShapeError("cron_expression", "not a cron expression")
    return friendly, None


def _wait_for(sent: Mapping[str, Any]) -> dict[str, Any]:
    """``wait_for`` as ``Task.waitFor`` (its values judged by the model)."""
    out: dict[str, Any] = {}
    if "state" in sent:
        out["state"] = sent["state"]
    if "timeout_seconds" in sent:
        out["timeoutSeconds"] = sent["timeout_seconds"]
    return out


def apply_request(spec: Mapping[str, Any], sent: Mapping[str, Any]) -> SpecDict:
    """``spec`` (camelCase, not modified) updated with the request fields in ``sent``.

    ``sent`` holds only the fields the client sent (``model_dump(exclude_unset=True)``),
    so the same function serves create (from ``{}``) and the partial PUT. The answer is
    the request's values in the spec's shape, not yet judged: ``validate_spec`` does.
    """
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in spec.items()}
    if "name" in sent:
        _set(out, "displayName", sent["name"])
    if "description" in sent:
        _set(out, "description", sent["description"])
    if "timezone" in sent:
        _set(out, TIME_ZONE, sent["timezone"])
    if "enabled" in sent:
        _set(out, "enabled", sent["enabled"])

    task: dict[str, Any] = out.setdefault("task", {})
    if "task_type" in sent:
        value = sent["task_type"]
        _set(task, "type", value.lower() if isinstance(value, str) else value)
    if "pipeline_id" in sent:
        _set(task, "pipelineId", sent["pipeline_id"])
    if sent.get("entity_id") is not None and sent.get("entity_ids"):
        raise RequestShapeError("entity_id", "give entity_ids or entity_id, not both")
    if "entity_ids" in sent:
        _set(task, "entityIds", _ids(sent["entity_ids"]))
    if sent.get("entity_id") is not None:
        task["entityIds"] = [sent["entity_id"]]
    if "group_ids" in sent:
        _set(task, "groupIds", _ids(sent["group_ids"]))
    if "with_snapshot" in sent:
        _set(task, "withSnapshot", sent["with_snapshot"])
    if "snapshot_write_method" in sent:
        value = sent["snapshot_write_method"]
        _set(task, "snapshotWriteMethod", value.upper() if isinstance(value, str) else value)
    if "container" in sent:
        _set(task, "container", sent["container"])
    if "wait_for" in sent:
        wait = sent["wait_for"]
        _set(task, "waitFor", None if wait is None else _wait_for(wait))
    if "task_type" in sent and isinstance(task.get("type"), str):
        # A container task has no CoreHub pipeline, other tasks no container, and only a
        # wait task a waitFor (TASK_RULES): a new task type drops what no longer fits
        # unless the client sent it.
        is_container = task["type"] == TaskType.CONTAINER.value
        if is_container and "pipeline_id" not in sent:
            task.pop("pipelineId", None)
        if not is_container and "container" not in sent:
            task.pop("container", None)
        if "wait_for" not in sent and task["type"] not in WAIT_TYPES:
            task.pop("waitFor", None)
        # A new task type drops the ids of another scope unless the client sent them.
        scope = task["type"].split("_", 1)[0]
        if scope != "entity" and "entity_ids" not in sent and "entity_id" not in sent:
            task.pop("entityIds", None)
        if scope != "group" and "group_ids" not in sent:
            task.pop("groupIds", None)

    apply_time_rules(out, sent)
    apply_chains(out, sent)
    friendly, cron = schedule_forms(sent)
    if sends_schedules(sent):
        pass  # schedule and cron_expression are the echo of the first schedule
    elif "schedule" in sent or "cron_expression" in sent:
        schedule: dict[str, Any] = {}
        if friendly is not None:
            schedule.update(_friendly(friendly))
        if cron is not None:
            schedule["cron"] = cron
        if friendly is None and cron is None:
            # Only one form was cleared: keep the other one if it is not being replaced.
            old = out.get("schedule") or {}
            keep_cron = "cron_expression" not in sent and "cron" in old
            keep_friendly = "schedule" not in sent and "cron" not in old
            schedule = dict(old) if keep_cron or keep_friendly else {}
        if schedule:
            out["schedule"] = schedule
        else:
            # Both forms cleared: no schedule, which only a job with ``after`` may
            # have (chain-only; the model says so to any other).
            out.pop("schedule", None)
        if friendly is not None or cron is not None:
            drop_schedules(out)
    # Where a request comes in: built key by key from the client's fields above.
    return cast(SpecDict, out)


# ------------------------------------------------------------------ resource -> view


def _wait_for_view(wait: Any) -> dict[str, Any] | None:
    if not isinstance(wait, Mapping):
        return None
    return {"state": wait.get("state"), "timeout_seconds": wait.get("timeoutSeconds")}


def _updated_at(metadata: ObjectMetaDict) -> str | None:
    times = [
        entry["time"]
        for entry in metadata.get("managedFields") or []
        if entry.get("time") and not entry.get("subresource")
    ]
    parsed = [(t, parse_time(t)) for t in times]
    valid = [(t, p) for t, p in parsed if p is not None]
    if not valid:
        created = metadata.get("creationTimestamp")
        return str(created) if created else None
    return str(max(valid, key=lambda tp: tp[1])[0])


def run_records(status: StatusDict) -> list[RunRecordDict]:
    """lastRun then history (newest first), each run once."""
    seen: set[str] = set()
    out: list[RunRecordDict] = []
    last = status.get(LAST_RUN)
    for record in ([last] if isinstance(last, dict) else []) + list(status.get(HISTORY) or []):
        # Stored data checked as it is read: an entry of another shape is skipped.
        if not isinstance(record, dict):
            continue
        key = str(record.get(RUN_ID))
        if key in seen:
            continue
        seen.add(key)
        out.append(record)
    return out


def _when(record: RunRecordDict, *keys: str) -> str | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _status_message(
    conditions: list[ConditionDict], warning: str | None
) -> tuple[ConditionDict | None, str | None]:
    """The Ready condition, and what most needs saying about the job.

    Ready=False says why the operator refused the spec; otherwise a RunsBlocked=True
    condition (no runner ServiceAccount, a schedule that never fires) or the warning
    computed here (so a job just created says it at once) comes before Ready's message.
    """
    by_type = {c.get("type"): c for c in conditions if isinstance(c, dict)}
    ready, blocked = by_type.get("Ready"), by_type.get("RunsBlocked")
    if ready is not None and ready.get("status") == "False":
        return ready, ready.get("message")
    if blocked is not None and blocked.get("status") == "True":
        return ready, blocked.get("message")
    if warning is not None:
        return ready, warning
    return ready, ready.get("message") if ready else None


def anchor_of(obj: ChronosJobDict) -> datetime | None:
    """Where ``@every`` counts from for a stored job, as the CronJob controller does:
    its last scheduled time, else its creation."""
    status: StatusDict = obj.get("status") or {}
    metadata: ObjectMetaDict = obj.get("metadata") or {}
    return parse_time(status.get(LAST_SCHEDULE_TIME)) or parse_time(
        metadata.get("creationTimestamp")
    )


def _describe(rules: TimeRules) -> str:
    """Each schedule in words, the resolved cron's (an RRULE as itself)."""
    return "; ".join(
        describe(r.cron) if r.cron is not None else f"RRULE {r.rrule}" for r in rules.schedules
    )


def _next_runs(
    spec: ChronosJobSpec, rules: TimeRules, obj: ChronosJobDict, now: datetime
) -> list[datetime]:
    """The job's next runs: computed here (every schedule, DST policy, window, ``@every``
    from its anchor) unless a calendar decides them; then the operator's
    status.nextRunTimes, which read the calendar's days."""
    zone = ZoneInfo(rules.zone)
    if spec.calendar_ref is None:
        found = slots(rules, now, limit=NEXT_RUNS, anchor=anchor_of(obj), runs_only=True)
        return [s.instant.astimezone(zone) for s in found]
    status: StatusDict = obj.get("status") or {}
    times = [parse_time(t) for t in status.get(NEXT_RUN_TIMES) or []]
    return [t.astimezone(zone) for t in times if t is not None and t > now][:NEXT_RUNS]


def job_view(
    obj: ChronosJobDict,
    default_time_zone: str,
    now: datetime,
    min_interval_seconds: int = MIN_EVERY_SECONDS,
) -> tuple[dict[str, Any], float]:
    """The Chronos view of a ChronosJob and the time (epoch s) until which it holds.

    The view changes on its own only when its next run time passes.
    """
    metadata: ObjectMetaDict = obj.get("metadata") or {}
    spec: SpecDict = obj.get("spec") or {}
    status: StatusDict = obj.get("status") or {}
    task: TaskDict = spec.get("task") or {}
    schedule: ScheduleDict = spec.get("schedule") or {}
    is_cron = "cron" in schedule
    zone = spec.get(TIME_ZONE) or status.get(TIME_ZONE) or default_time_zone
    enabled = bool(spec.get("enabled", True))

    job = (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
    cron: str | None = schedule.get("cron") if is_cron else status.get(CRON)
    resolved_cron: str | None = status.get(CRON)
    description: str | None = status.get(DESCRIPTION)
    next_runs: list[datetime] = []
    warning: str | None = None
    try:
        model = ChronosJobSpec.model_validate(spec)
        rules = time_rules(model, job=job, zone=zone, calendar=None)
        if not rules.schedules:
            # A chain-only job has no cron, whatever the status still says of the
            # schedule it had before (the operator may not have caught up yet).
            cron = resolved_cron = None
            raise LookupError("chain-only (spec.after): no schedule, no next runs")
        first = rules.schedules[0]
        if first.cron is not None:
            resolve_schedule(model, zone, min_interval_seconds, job=job)  # its interval
    except (ValidationError, ScheduleError, ValueError, LookupError):
        pass
    else:
        resolved_cron = first.cron
        if not is_cron and schedule:
            cron = first.cron  # the friendly form's cron, as an echo
        description = f"{_describe(rules)} ({zone})"
        next_runs = _next_runs(model, rules, obj, now)
        if not next_runs and first.cron is not None and model.calendar_ref is None:
            warning = NEVER_FIRES_MESSAGE.format(cron=first.cron)
        if not enabled:
            next_runs = []
    valid_until = next_runs[0].timestamp() if next_runs else math.inf

    runs = run_records(status)
    last = runs[0] if runs else None
    success = next((r for r in runs if r.get("result") == "succeeded"), None)
    failure = next((r for r in runs if r.get("result") in ("failed", "missed")), None)
    ready, status_message = _status_message(status.get(CONDITIONS) or [], warning)
    annotations = metadata.get("annotations") or {}

    view: dict[str, Any] = {
        "id": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "name": spec.get("displayName") or metadata.get("name"),
        "description": spec.get("description"),
        "task_type": task.get("type"),
        "schedule": None
        if is_cron or not schedule
        else {
            "days_of_week": list(schedule.get("daysOfWeek") or []),
            "hour": schedule.get("hour"),
            "minute": schedule.get("minute"),
        },
        "cron_expression": cron,
        "is_cron_expression": is_cron,
        "timezone": zone,
        "schedule_description": description,
        "pipeline_id": task.get("pipelineId"),
        "container": task.get("container"),
        "entity_ids": list(task.get("entityIds") or []),
        "group_ids": list(task.get("groupIds") or []),
        "with_snapshot": bool(task.get("withSnapshot", False)),
        "snapshot_write_method": task.get("snapshotWriteMethod") or "UPSERT",
        "wait_for": _wait_for_view(task.get("waitFor")),
        "enabled": enabled,
        "created_at": metadata.get("creationTimestamp"),
        "updated_at": _updated_at(metadata),
        "last_run": _when(last, START_TIME, SCHEDULED_TIME, END_TIME) if last else None,
        "last_run_status": last.get("result") if last else None,
        "last_successful_run": _when(success, END_TIME, START_TIME) if success else None,
        "last_error_message": (failure.get("message") or failure.get("reason"))
        if failure
        else None,
        "last_run_error_time": _when(failure, END_TIME, START_TIME, SCHEDULED_TIME)
        if failure
        else None,
        "next_run": rfc3339(next_runs[0]) if next_runs else None,
        "next_run_times": [rfc3339(t) for t in next_runs],
        "ready": None if ready is None else ready.get("status") == "True",
        "status_message": status_message,
        "resource_version": metadata.get("resourceVersion") or "",
        # The hand-set annotation's token, also of its JSON form with parameters.
        "run_now_token": runnow.parse_hand_set(annotations.get(RUN_NOW_ANNOTATION))[0],
        "resolved_cron_expression": resolved_cron,
        **time_rules_view(spec),
        "queued": queued_view(status),
        **chains_view(spec),
    }
    return view, valid_until


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
#: What REST shows of a queued run (a run-now's token stays in the object).
_QUEUED_KEYS = frozenset(QueuedRunOut.model_fields)


def queued_view(status: StatusDict) -> list[dict[str, Any]] | None:
    """status.queued with snake_case keys, as ``QueuedRunOut`` (None: nothing waits)."""
    queued = [
        {k: v for k, v in snake_keys(q).items() if k in _QUEUED_KEYS}
        for q in status.get(QUEUED) or []
    ]
    return queued or None


def snake_keys(value: Any) -> Any:
    """A run record (camelCase, as in status.history) with snake_case keys."""
    if isinstance(value, dict):
        return {_CAMEL.sub("_", str(k)).lower(): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def history_view(obj: ChronosJobDict) -> list[RunRecordOut]:
    """lastRun then history, as the response model.

    A stored record the model refuses (one written under an older CRD version) is left
    out rather than failing the whole answer.
    """
    status: StatusDict = obj.get("status") or {}
    records = []
    for raw in run_records(status):
        try:
            records.append(RunRecordOut.model_validate(snake_keys(raw)))
        except ValidationError:
            continue
    return records
