"""The logic behind the routes: jobs over ChronosJobs, history, preview (run now and
abort: ``chronos.api.runs``).

The routes authorize the caller (:meth:`JobService.authorize`, a SelfSubjectAccessReview
with the caller's token) before calling anything here, so nothing below is reached, and
nothing looked up, for a caller without the right. Reads come from the watch-backed
cache; writes (and cache-miss reads) go to the API server with the caller's own token
and their responses are put in the cache, so the caller's next read sees them. Every
value rule is the model's or the schedule engine's: :func:`validate_spec` builds
``ChronosJobSpec`` and resolves its schedule, and ``chronos.api.errors`` maps their
errors to request fields.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import ConfigMap, Event
from lightkube.types import PatchType
from pydantic import ValidationError

from chronos.api.answers import HistoryOut
from chronos.api.auth import Authorizer, Identity, acting_as
from chronos.api.cache import Entry, JobCache, chronosjob, plain
from chronos.api.errors import ProblemError, schedule_error, spec_errors
from chronos.api.mapping import (
    ID_PATTERN,
    RequestShapeError,
    apply_request,
    history_view,
    slugify,
    with_suffix,
)
from chronos.api.schemas import JobCreate, JobUpdate
from chronos.kube import (
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    ChronosCalendarResource,
    ChronosJobResource,
    answered,
    or_none,
)
from chronos.models.activity import attribution
from chronos.models.chronosjob import (
    GROUP,
    KIND,
    MIN_EVERY_SECONDS,
    PLURAL,
    VERSION,
    ChronosJobSpec,
)
from chronos.models.resolve import STAND_IN, Job, check_schedules
from chronos.models.wire import SpecDict
from chronos.schedule import ScheduleError
from chronos.schedule.calendar import Calendar, CalendarError
from chronos.timerules import calendar_of

CREATE_ATTEMPTS = 5
UPDATE_ATTEMPTS = 5
#: Resources RBAC is asked about, as (API group, plural): the facade's own, and the
#: Kubernetes Jobs of runs (the dashboard's Abort).
CHRONOSJOBS = (GROUP, PLURAL)
JOBS = ("batch", "jobs")
#: The run page's live log: reading a pod's log (a subresource).
POD_LOGS = ("", "pods/log")


@dataclass(frozen=True)
class Caller:
    """Who a request acts for, with their bearer token; both None only while auth is
    disabled (then the facade's own credentials are used)."""

    identity: Identity | None
    token: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.identity.username if self.identity else "anonymous"


def attributed(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (a merge patch or a new object) stamped with the caller's user name and
    the time in the attribution annotations (issue 22, ``contract.CHANGED_BY_ANNOTATION``,
    ``CHANGED_AT_ANNOTATION``), which the operator's activity ledger records as who made
    the change. The name is the one the API server gave for the caller's own token (a
    SelfSubjectReview), and the write is sent with that token, so admission
    (<fullname>-change-attribution) accepts it: nobody can be named but the writer.
    Without a caller (auth disabled) nothing is stamped."""
    if caller.identity is None:
        return body
    meta = dict(body.get("metadata") or {})
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        **attribution(caller.name, datetime.now(UTC)),
    }
    return {**body, "metadata": meta}


NO_SCHEDULE = (
    "required: send schedule (days_of_week, hour, minute), cron_expression, or schedules "
    "(or after, for a chain-only job)"
)


def validate_spec(
    spec: Mapping[str, Any],
    default_time_zone: str,
    min_interval_seconds: int = MIN_EVERY_SECONDS,
    job: Job = STAND_IN,
) -> ChronosJobSpec:
    """The spec as the model and the schedule engine judge it, or a 422 naming fields
    (``job``: its ``(namespace, name)``, what ``H`` in a cron is hashed from)."""
    if spec.get("schedule") is None and spec.get("schedules") is None and not spec.get("after"):
        # The model's rule says "exactly one of schedule and schedules"; a REST client
        # that sent none is told what to send, in its own field names.
        raise ProblemError.invalid([("schedule", NO_SCHEDULE)])
    try:
        model = ChronosJobSpec.model_validate(spec)
    except ValidationError as exc:
        raise spec_errors(exc) from None
    try:
        check_schedules(model, default_time_zone, min_interval_seconds, job)
    except ScheduleError as exc:
        raise schedule_error(exc) from None
    return model


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``."""
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            inner = merge_patch(before, value)
            if inner:
                patch[key] = inner
        elif value != before or key not in old:
            patch[key] = value
    return patch


def etag(resource_version: str) -> str:
    return f'"{resource_version}"'


#: An ``If-Match`` the writes accept (the OpenAPI document states it; anything else is
#: a 422): ``*``, or a comma-separated list of entity tags, quoted as ETag sends them
#: or bare resource versions. Weak tags never match (RFC 9110 compares them strongly).
IF_MATCH = re.compile(r'^ *(\*|((W/)?"[^"]*"|[^ ",]+)( *, *((W/)?"[^"]*"|[^ ",]+))*) *$')


def check_if_match(if_match: str | None, resource_version: str) -> None:
    """412 unless ``If-Match`` is absent, ``*`` or lists the current ETag."""
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",") if t.strip()]
    if "*" in tags or etag(resource_version) in tags or resource_version in tags:
        return
    raise ProblemError(
        412,
        f"If-Match {if_match} does not match the job's current ETag "
        f"{etag(resource_version)}: it was changed since you read it; "
        "read it again and retry",
        headers={"ETag": etag(resource_version)},
    )


class UnreadableCalendarError(Exception):
    """A ChronosCalendar that could not be read as the caller (missing, not allowed, its
    ``.ics`` missing or invalid); the message says which, never the calendar's days."""


def shape_error(exc: RequestShapeError) -> ProblemError:
    """A 422 naming the request field a body could not even be mapped by."""
    return ProblemError.invalid([(exc.field, exc.reason)])


#: A stored job of each task scope and schedule form, without time rules or with those
#: other fields need (suspendUntil for suspendReason, calendarRef for onExcluded, afterAll
#: for afterWithinSeconds, concurrencyPolicy Enqueue for maxQueued). A body
#: one of them accepts is well formed; if the job at hand refuses it, its stored
#: settings do.
_STORED_KINDS = tuple(
    {"task": {"pipelineId": "p", **task}, "schedule": schedule, **rules}
    for task in (
        {"type": "pipeline_start"},
        {"type": "entity_start", "entityIds": ["e"]},
        {"type": "group_start", "groupIds": ["g"]},
    )
    for schedule in ({"cron": "0 0 * * *"}, {"hour": 0, "minute": 0})
    for rules in (
        {},
        {
            "suspendUntil": "2000-01-01T00:00:00Z",
            "calendarRef": {"name": "c"},
            "after": [{"job": "u"}],
            "afterAll": True,
            "concurrencyPolicy": "Enqueue",
            "maxQueued": 1,
        },
    )
)


def _against_stored(
    problem: ProblemError, sent: dict[str, Any], zone: str, min_interval: int
) -> ProblemError:
    """A partial update the job refuses: a 422 when the body is at fault by itself (no
    kind of job would take it), else a 409, the body conflicting with this job's current
    settings (entity ids cleared on an entity task, a new task type without the ids it
    needs, the current schedule form cleared). The OpenAPI document states the body's own
    rules; it cannot know the stored job. (A 409 already, values of the body that
    conflict with each other, stays one.)"""
    if problem.status != 422:
        return problem
    for stored in _STORED_KINDS:
        try:
            validate_spec(apply_request(copy.deepcopy(stored), sent), zone, min_interval)
        except (ProblemError, RequestShapeError):
            continue
        return ProblemError(
            409,
            f"conflicts with the job's current settings: {problem.detail}",
            errors=problem.errors,
        )
    return problem


class JobService:
    def __init__(
        self,
        *,
        cache: JobCache,
        client: AsyncClient,
        authorizer: Authorizer | None,
        default_time_zone: str,
        min_interval_seconds: int = MIN_EVERY_SECONDS,
    ) -> None:
        self._cache = cache
        self._client = client
        self._authorizer = authorizer
        self._zone = default_time_zone
        self._min_interval = min_interval_seconds

    @property
    def default_time_zone(self) -> str:
        """The zone of jobs without spec.timeZone (CHRONOS_DEFAULT_TIME_ZONE)."""
        return self._zone

    # ---------------------------------------------------------------------- helpers

    async def authorize(
        self,
        caller: Caller,
        verb: str,
        namespace: str,
        job_id: str | None = None,
        resource: tuple[str, str] = CHRONOSJOBS,
    ) -> None:
        """403 unless Kubernetes RBAC lets the caller ``verb`` chronosjobs (or another
        ``resource``: group, plural) in ``namespace`` (the object ``job_id`` if given).
        The answer depends only on the caller, the verb, the namespace and the name,
        never on whether the object exists."""
        if self._authorizer is None:
            return  # CHRONOS_API_AUTH_DISABLED
        allowed, reason = (
            await self._authorizer.allowed(caller.token, verb, namespace, job_id, resource)
            if caller.token
            else (False, "no token")  # fail closed; deps.caller never lets this happen
        )
        if not allowed:
            because = f" ({reason})" if reason else ""
            kind = ".".join(part for part in reversed(resource) if part)
            raise ProblemError(
                403,
                f'{caller.name} may not {verb} {kind} in namespace "{namespace}"{because}',
            )

    # Deliberately the parameters of ``authorize`` (duplicates pairs them): the same
    # question, answered as a bool.
    async def may(
        self,
        caller: Caller,
        verb: str,
        namespace: str,
        job_id: str | None = None,
        resource: tuple[str, str] = CHRONOSJOBS,
    ) -> bool:
        """Whether :meth:`authorize` would let the caller through (the dashboard shows a
        button only then; the write itself is authorized again)."""
        try:
            await self.authorize(caller, verb, namespace, job_id, resource)
        except ProblemError:
            return False
        return True

    async def acting(self, caller: Caller, call: Callable[[], Awaitable[Any]]) -> Any:
        """``call``'s answer, its requests sent with the caller's own token."""
        with acting_as(caller.token):
            return await call()

    @staticmethod
    def _not_found(namespace: str, job_id: str) -> ProblemError:
        return ProblemError(404, f'job "{job_id}" not found in namespace "{namespace}"')

    async def entry(self, caller: Caller, namespace: str, job_id: str) -> Entry:
        """The job from the cache or, on a miss, from the API server as the caller."""
        if not ID_PATTERN.match(job_id):
            raise self._not_found(namespace, job_id)
        entry = self._cache.get(namespace, job_id)
        if entry is not None:
            return entry
        obj = await or_none(
            self.acting(
                caller, lambda: self._client.get(ChronosJobResource, job_id, namespace=namespace)
            )
        )
        if obj is None:
            raise self._not_found(namespace, job_id)
        return self._cache.put(chronosjob(obj))

    def _rendered(self, entry: Entry) -> Entry:
        return self._cache.rendered(entry)

    async def patch(
        self, caller: Caller, namespace: str, job_id: str, patch: dict[str, Any]
    ) -> Entry | None:
        """The job as merged with ``patch`` by the caller; None when the patch carries a
        resourceVersion that is no longer current (409: read again, compute again)."""
        try:
            result = await or_none(
                self.acting(
                    caller,
                    lambda: self._client.patch(
                        ChronosJobResource,
                        job_id,
                        attributed(caller, patch),
                        namespace=namespace,
                        patch_type=PatchType.MERGE,
                    ),
                ),
                CONFLICT,
            )
        except ApiError as exc:
            if answered(exc, NOT_FOUND):
                raise self._not_found(namespace, job_id) from None
            raise
        return None if result is None else self._rendered(self._cache.put(chronosjob(result)))

    async def _update_spec(
        self,
        caller: Caller,
        namespace: str,
        job_id: str,
        change: Callable[[SpecDict], SpecDict],
        if_match: str | None,
        generation: int | None = None,
    ) -> Entry:
        """Apply ``change`` to the current spec, guarded by the resource version.

        Without If-Match a concurrent change is merged by retrying on the new version;
        with If-Match it is the client's to resolve (412). ``generation``: the spec the
        change was made against (the dashboard's form); a later spec is a 412, a status
        written meanwhile is not.
        """
        for _ in range(UPDATE_ATTEMPTS):
            entry = await self.entry(caller, namespace, job_id)
            rv = entry.resource_version
            check_if_match(if_match, rv)
            current = entry.obj["metadata"].get("generation")
            if generation is not None and current != generation:
                raise ProblemError(
                    412,
                    "the job's settings were changed by someone else since this form was "
                    "opened; reload it to see them",
                )
            old_spec: SpecDict = entry.obj.get("spec") or {}
            new_spec = change(old_spec)
            validate_spec(new_spec, self._zone, self._min_interval, (namespace, job_id))
            patch: dict[str, Any] = {"metadata": {"resourceVersion": rv}}
            spec_patch = merge_patch(old_spec, new_spec)
            if spec_patch:
                patch["spec"] = spec_patch
            written = await self.patch(caller, namespace, job_id, patch)
            if written is not None:
                return written
            if if_match is not None:
                raise ProblemError(
                    412,
                    "the job was changed by someone else while this update was being "
                    "applied; read it again and retry",
                )
            await self.refresh(caller, namespace, job_id)
        raise ProblemError(409, f'job "{job_id}" keeps changing; retry the update later')

    async def refresh(self, caller: Caller, namespace: str, job_id: str) -> None:
        """Read the job again from the API server (after a conflict) into the cache."""
        obj = await self.acting(
            caller, lambda: self._client.get(ChronosJobResource, job_id, namespace=namespace)
        )
        self._cache.put(chronosjob(obj))

    # ------------------------------------------------------------------------ reads

    async def calendar(self, caller: Caller, namespace: str, name: str) -> Calendar:
        """The ChronosCalendar ``name`` (and its ``.ics``) read as the caller; an
        :class:`UnreadableCalendarError` when it cannot be read (missing or not allowed: the
        same message, so nobody learns of calendars they may not read) or its ``.ics``
        cannot. Never the request's fault: the caller says what to do with it (a
        preview notes it, a backfill answers 409)."""
        client = self._client
        found = await or_none(
            self.acting(
                caller, lambda: client.get(ChronosCalendarResource, name, namespace=namespace)
            ),
            NOT_FOUND,
            FORBIDDEN,
        )
        if found is None:
            raise UnreadableCalendarError(
                f'no ChronosCalendar "{name}" that you may get in namespace "{namespace}"'
            )
        spec: Mapping[str, Any] = plain(found).get("spec") or {}
        ics = None
        ref = (spec.get("ics") or {}).get("configMapRef") or {}
        if ref:
            cm = await or_none(
                self.acting(
                    caller, lambda: client.get(ConfigMap, ref["name"], namespace=namespace)
                ),
                NOT_FOUND,
                FORBIDDEN,
            )
            ics = None if cm is None else (cm.data or {}).get(ref.get("key", ""))
            if ics is None:
                raise UnreadableCalendarError(
                    f'calendar "{name}": its ics ConfigMap "{ref.get("name")}" '
                    f'(key "{ref.get("key")}") does not exist or you may not get it'
                )
        try:
            return calendar_of(name, spec, ics)
        except CalendarError as exc:
            raise UnreadableCalendarError(f'calendar "{name}": {exc}') from None

    async def list_body(
        self,
        caller: Caller,
        namespace: str,
        *,
        skip: int,
        limit: int,
        task_type: str | None,
        enabled: bool | None,
    ) -> bytes:
        """The list response, pre-serialised: ``{"items": [...], "total": N}``."""
        wanted = task_type.lower() if task_type is not None else None

        def select(entries: list[Entry]) -> tuple[list[Entry], int]:
            if wanted is not None or enabled is not None:
                entries = [
                    e
                    for e in entries
                    if (wanted is None or (e.obj["spec"].get("task") or {}).get("type") == wanted)
                    and (enabled is None or bool(e.obj["spec"].get("enabled", True)) == enabled)
                ]
            return entries[skip : skip + limit], len(entries)

        return self._cache.page(namespace, (skip, limit, wanted, enabled), select)

    async def get(self, caller: Caller, namespace: str, job_id: str) -> Entry:
        return self._rendered(await self.entry(caller, namespace, job_id))

    async def history(
        self, caller: Caller, namespace: str, job_id: str, *, skip: int, limit: int
    ) -> HistoryOut:
        entry = await self.entry(caller, namespace, job_id)
        records = history_view(entry.obj)
        return HistoryOut(job_id=job_id, items=records[skip : skip + limit], total=len(records))

    async def events(
        self, caller: Caller, namespace: str, job_id: str
    ) -> list[dict[str, Any]] | None:
        """The Events about a job, newest first, listed with the caller's own token;
        None when RBAC does not let the caller list Events in the namespace (reading a
        job does not imply reading its Events: they are another resource)."""
        selector: dict[str, Any] = {"involvedObject.kind": KIND, "involvedObject.name": job_id}

        async def listed() -> list[dict[str, Any]]:
            found = self._client.list(Event, namespace=namespace, fields=selector)
            return [plain(e) async for e in found]

        events: list[dict[str, Any]] | None = await or_none(self.acting(caller, listed), FORBIDDEN)
        if events is None:
            return None
        stamp = ("lastTimestamp", "eventTime", "firstTimestamp")
        events.sort(key=lambda e: next((str(e[k]) for k in stamp if e.get(k)), ""), reverse=True)
        return events

    # ----------------------------------------------------------------------- writes

    async def create(self, caller: Caller, namespace: str, body: JobCreate) -> Entry:
        try:
            spec = apply_request({}, body.model_dump(exclude_unset=True))
        except RequestShapeError as exc:
            raise shape_error(exc) from None
        stem = slugify(body.name)
        validate_spec(spec, self._zone, self._min_interval, (namespace, stem))
        name = stem if not self._cache.exists(namespace, stem) else with_suffix(stem)
        for _ in range(CREATE_ATTEMPTS):
            obj = ChronosJobResource.from_dict(
                attributed(
                    caller,
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": KIND,
                        "metadata": {"name": name, "namespace": namespace},
                        "spec": spec,
                    },
                )
            )
            try:
                result = await self.acting(caller, partial(self._client.create, obj))
            except ApiError as exc:
                if answered(exc, CONFLICT) and exc.status.reason == "AlreadyExists":
                    name = with_suffix(stem)
                    continue
                raise
            return self._rendered(self._cache.put(chronosjob(result)))
        raise ProblemError(409, f'could not find a free id for "{body.name}"; retry')

    async def update(
        self,
        caller: Caller,
        namespace: str,
        job_id: str,
        body: JobUpdate,
        if_match: str | None,
        *,
        generation: int | None = None,
    ) -> Entry:
        sent = body.model_dump(exclude_unset=True)

        def change(spec: SpecDict) -> SpecDict:
            try:
                new_spec = apply_request(spec, sent)
            except RequestShapeError as exc:
                raise shape_error(exc) from None
            try:
                validate_spec(new_spec, self._zone, self._min_interval, (namespace, job_id))
            except ProblemError as exc:
                raise _against_stored(exc, sent, self._zone, self._min_interval) from None
            return new_spec

        return await self._update_spec(caller, namespace, job_id, change, if_match, generation)

    async def set_enabled(
        self, caller: Caller, namespace: str, job_id: str, enabled: bool, if_match: str | None
    ) -> Entry:
        return await self._update_spec(
            caller, namespace, job_id, lambda s: {**s, "enabled": enabled}, if_match
        )

    async def delete(
        self, caller: Caller, namespace: str, job_id: str, if_match: str | None
    ) -> None:
        entry = await self.entry(caller, namespace, job_id)
        check_if_match(if_match, entry.resource_version)
        if caller.identity is not None:
            # The delete itself carries no annotation: the job's last version names who
            # deletes it (the activity ledger reads the DELETED event's object). A
            # caller who may delete but not patch is recorded unattributed.
            with contextlib.suppress(ProblemError, ApiError):
                await self.patch(caller, namespace, job_id, {"metadata": {}})
        try:
            await self.acting(
                caller,
                lambda: self._client.delete(ChronosJobResource, job_id, namespace=namespace),
            )
        except ApiError as exc:
            if not answered(exc, NOT_FOUND):
                raise
            self._cache.remove(namespace, job_id)
            raise self._not_found(namespace, job_id) from None
        self._cache.remove(namespace, job_id)
