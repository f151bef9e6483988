"""Run now and abort: the writes that start or stop one run of a job.

Used by the REST route ``POST /api/jobs/{id}/run`` and by the dashboard's Run now and
Abort buttons alike, so both answer with the same rules and messages. The job is read
and written through :class:`~chronos.api.services.JobService` (cache, caller's token,
404s); the callers authorize first, except :meth:`RunService.active_run`, which checks
both rights an abort needs itself before it looks anything up.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from lightkube import ApiError, AsyncClient
from lightkube.resources.batch_v1 import Job as BatchJob
from lightkube.types import CascadeType, PatchType
from pydantic import ValidationError
from pydantic.alias_generators import to_camel, to_snake

from chronos import runnow
from chronos.abort import note_value
from chronos.api.answers import AbortOut, BackfillOut, RunNowOut
from chronos.api.cache import Entry
from chronos.api.errors import ProblemError
from chronos.api.schemas import BackfillIn, RunParametersIn
from chronos.api.services import (
    JOBS,
    Caller,
    JobService,
    UnreadableCalendarError,
    attributed,
)
from chronos.contract import (
    ABORT_ANNOTATION,
    BACKFILL_ANNOTATION,
    RUN_NOW_ANNOTATION,
    RUN_NOW_PARAMETERS_ANNOTATION,
)
from chronos.kube import FORBIDDEN, NOT_FOUND, answered
from chronos.models import params as p
from chronos.models.base import RFC3339
from chronos.models.chronosjob import ChronosJobSpec, ConcurrencyPolicy
from chronos.models.timing import (
    MAX_BACKFILL_AGE_DAYS,
    MAX_BACKFILL_REQUESTS,
    MAX_BACKFILL_SLOTS,
    BackfillRequest,
)
from chronos.models.wire import ACTIVE_RUNS, BACKFILLS, ChronosJobDict
from chronos.schedule import ScheduleError
from chronos.schedule.occurrences import slots
from chronos.timerules import time_rules
from chronos.times import parse_time, rfc3339

#: How long a run-now keeps retrying the annotation write against concurrent writers.
#: Each conflict means another write succeeded, so a burst of N requests needs up to N
#: rounds: bounded by time, not by a count that a burst of six keys already exceeds.
RUN_NOW_CONFLICT_SECONDS = 15.0
IDEMPOTENCY_KEY = re.compile(runnow.TOKEN_PATTERN)
_T = TypeVar("_T")
_RFC3339 = re.compile(RFC3339)
log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


async def _guarded(
    jobs: JobService,
    caller: Caller,
    namespace: str,
    job_id: str,
    attempt: Callable[[], Awaitable[_T | None]],
) -> _T:
    """``attempt``'s answer, retried while it returns None (its resourceVersion-guarded
    write lost to a concurrent one) for RUN_NOW_CONFLICT_SECONDS."""
    deadline = time.monotonic() + RUN_NOW_CONFLICT_SECONDS
    while time.monotonic() < deadline:
        answer = await attempt()
        if answer is not None:
            return answer
        # A little jitter, so the losers of one round do not collide again at once.
        await asyncio.sleep(random.uniform(0, 0.05))  # noqa: S311 (jitter)
        await jobs.refresh(caller, namespace, job_id)
    raise ProblemError(409, f'job "{job_id}" keeps changing; retry later')


class RunService:
    def __init__(self, *, jobs: JobService, client: AsyncClient) -> None:
        self._jobs = jobs
        self._client = client

    async def run_now(
        self,
        caller: Caller,
        namespace: str,
        job_id: str,
        idempotency_key: str | None,
        parameters: RunParametersIn | None = None,
    ) -> RunNowOut:
        """Ask the operator for one run now, at most once per token.

        The token is the Idempotency-Key (or a fresh uuid). It is added to the pending
        requests (``chronos.runnow``) with the resourceVersion it was checked against,
        so two requests racing are decided one after the other: a token already pending
        or served within the window is answered ``already_requested`` without a write
        (a 409 when it was asked for with other ``parameters``), and under
        concurrencyPolicy Forbid a run that is active or pending is a 409.

        ``parameters`` are judged against the stored job's task (``chronos.models.
        params``): a 422 names the field (``parameters.entity_ids[1]``).
        """
        if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
            raise ProblemError.invalid(
                [("Idempotency-Key", "must be 1-128 characters from A-Z a-z 0-9 . _ : -")]
            )
        token = idempotency_key or uuid.uuid4().hex

        async def attempt() -> RunNowOut | None:
            entry = await self._jobs.entry(caller, namespace, job_id)
            now = datetime.now(UTC)
            state = runnow.parse(entry.obj["metadata"].get("annotations") or {}, now)
            raw = _judge_parameters(parameters, entry.obj, job_id)
            if runnow.is_known(state, token, now):
                if not runnow.same_parameters(state, token, raw):
                    raise ProblemError(
                        409,
                        "Idempotency-Key already used for a run-now with other parameters; "
                        "use a new key for other parameters",
                    )
                return _run_now_answer(job_id, token, already=True)
            _check_run_now_allowed(entry.obj, state, job_id)
            annotations = runnow.request_patch(state, token, now, raw)
            written = annotations.get(RUN_NOW_PARAMETERS_ANNOTATION, "")
            if len(written.encode()) > runnow.PARAMETERS_ANNOTATION_MAX_BYTES:
                raise ProblemError(
                    429,
                    f'job "{job_id}" has too many run-now parameters waiting; retry later',
                )
            patch = {
                "metadata": {
                    "resourceVersion": entry.resource_version,
                    "annotations": {**annotations, RUN_NOW_ANNOTATION: token},
                }
            }
            if await self._jobs.patch(caller, namespace, job_id, patch) is None:
                return None
            return _run_now_answer(job_id, token, already=False)

        return await _guarded(self._jobs, caller, namespace, job_id, attempt)

    async def backfill(
        self,
        caller: Caller,
        namespace: str,
        job_id: str,
        body: BackfillIn,
        idempotency_key: str | None,
        now: datetime | None = None,
    ) -> BackfillOut:
        """Ask the operator to run the job's slots in ``[from, to]``, each once.

        The range is judged here as the operator judges it (a 422 or 409 names the
        field: ``_check_range``), the
        slots computed by the engine over the job's rules (its calendar read with the
        caller's rights), and the request appended to the annotation
        ``chronos.gluesync.io/backfill`` with the resourceVersion it was checked
        against. The request id comes from the Idempotency-Key, so a retry with the same
        key finds its request (pending, or served in status.backfills) and writes
        nothing."""
        if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
            raise ProblemError.invalid(
                [("Idempotency-Key", "must be 1-128 characters from A-Z a-z 0-9 . _ : -")]
            )
        start, end = _check_range(body, now or datetime.now(UTC))
        ident = (
            hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
            if idempotency_key is not None
            else uuid.uuid4().hex[:24]
        )

        async def attempt() -> BackfillOut | None:
            entry = await self._jobs.entry(caller, namespace, job_id)
            obj = entry.obj
            waiting = _waiting_backfills(obj, job_id)
            found = await self._backfill_slots(caller, namespace, obj, start, end, body.max)
            if any(i.get("id") == ident for i in waiting) or ident in _served_ids(obj):
                return _backfill_answer(job_id, ident, found, already=True)
            if len(waiting) >= MAX_BACKFILL_REQUESTS:
                raise ProblemError(
                    429,
                    f'job "{job_id}" has {len(waiting)} backfill requests waiting (at most '
                    f"{MAX_BACKFILL_REQUESTS}); retry when the operator has served them",
                )
            request = BackfillRequest(id=ident, from_=start, to=end, max=body.max)
            item = request.model_dump(mode="json", by_alias=True)
            item["from"], item["to"] = rfc3339(start), rfc3339(end)
            text = json.dumps([*waiting, item], separators=(",", ":"))
            patch = {
                "metadata": {
                    "resourceVersion": entry.resource_version,
                    "annotations": {BACKFILL_ANNOTATION: text},
                }
            }
            if await self._jobs.patch(caller, namespace, job_id, patch) is None:
                return None
            return _backfill_answer(job_id, ident, found, already=False)

        return await _guarded(self._jobs, caller, namespace, job_id, attempt)

    async def _backfill_slots(
        self,
        caller: Caller,
        namespace: str,
        obj: ChronosJobDict,
        start: datetime,
        end: datetime,
        most: int,
    ) -> list[datetime]:
        """The run slots of the stored job in ``[start, end]`` after every rule; a 409
        when there is none or more than ``most`` (the job's schedules decide), or when
        the job cannot run now."""
        job_id = obj["metadata"]["name"]
        try:
            spec = ChronosJobSpec.model_validate(obj.get("spec") or {})
        except ValueError:
            raise ProblemError(
                409, f'job "{job_id}" has settings the operator refuses; fix them first'
            ) from None
        if not spec.enabled:
            raise ProblemError(
                409, f'job "{job_id}" is disabled: the operator runs no slot of it; enable it first'
            )
        calendar = None
        if spec.calendar_ref is not None:
            try:
                calendar = await self._jobs.calendar(caller, namespace, spec.calendar_ref.name)
            except UnreadableCalendarError as exc:
                # The stored job's reference, not the request's fault: without its days
                # the slots of the range cannot be picked.
                raise ProblemError(
                    409, f'job "{job_id}" names a calendar that cannot be read: {exc}'
                ) from None
        zone = spec.time_zone or self._jobs.default_time_zone
        try:
            rules = time_rules(spec, job=(namespace, job_id), zone=zone, calendar=calendar)
            found = slots(
                rules,
                start - timedelta(microseconds=1),
                until=end,
                limit=most + 1,
                runs_only=True,
            )
        except ScheduleError as exc:
            raise ProblemError(
                409, f'job "{job_id}" has a schedule the operator refuses: {exc}'
            ) from None
        if not found:
            raise _range_conflict(
                [("from", f"no slot of the job's schedules lies between from and to ({zone})")]
            )
        if len(found) > most:
            field = "max" if most < MAX_BACKFILL_SLOTS else "to"
            raise _range_conflict(
                [(field, f"the range holds more than {most} slots; narrow it or raise max")]
            )
        return [s.instant for s in found]

    async def active_run(self, caller: Caller, namespace: str, job_id: str, run: str) -> Entry:
        """The job, once the caller may ``get`` it and ``delete`` the batch Job ``run``
        (both checked before anything is looked up) and the job lists ``run`` as active.

        A missing job and a job without that active run get the same 404: a caller who
        may delete batch Jobs learns nothing of ChronosJobs they may not read.
        """
        await self._jobs.authorize(caller, "get", namespace, job_id)
        await self._jobs.authorize(caller, "delete", namespace, run, JOBS)
        no_such_run = ProblemError(404, f'job "{job_id}" has no active run "{run}"')
        try:
            entry = await self._jobs.entry(caller, namespace, job_id)
        except ProblemError as exc:
            if exc.status != 404:
                raise
            raise no_such_run from None
        if run not in ((entry.obj.get("status") or {}).get(ACTIVE_RUNS) or []):
            raise no_such_run
        return entry

    async def abort(self, caller: Caller, namespace: str, job_id: str, run: str) -> AbortOut:
        """Stop an active run of the job: note who asked on its batch Job (the abort
        annotation, so the operator records the run ``aborted`` by them even if its pod
        never started), then delete the Job with foreground propagation (its pods get
        SIGTERM and go first), both as the caller. RBAC must let them get the job and
        delete that batch Job; only a run the job lists as active can be aborted."""
        await self.active_run(caller, namespace, job_id, run)
        ended = ProblemError(404, f'run "{run}" has already ended')
        note = attributed(
            caller,
            {"metadata": {"annotations": {ABORT_ANNOTATION: note_value(caller.name, _now())}}},
        )
        try:
            await self._jobs.acting(
                caller,
                lambda: self._client.patch(
                    BatchJob, run, note, namespace=namespace, patch_type=PatchType.MERGE
                ),
            )
        except ApiError as exc:
            if answered(exc, NOT_FOUND):
                raise ended from None
            if not answered(exc, FORBIDDEN):
                raise
            # May delete the Job but not patch it: the run is still recorded aborted
            # (its runner's SIGTERM, or the operator seeing the Job go), only unnamed.
            log.info("abort of %s/%s: %s may not annotate the Job", namespace, run, caller.name)
        try:
            await self._jobs.acting(
                caller,
                lambda: self._client.delete(
                    BatchJob, run, namespace=namespace, cascade=CascadeType.FOREGROUND
                ),
            )
        except ApiError as exc:
            if not answered(exc, NOT_FOUND):
                raise
            raise ended from None
        return AbortOut(
            job_id=job_id,
            run_id=run,
            message="run aborted: its Kubernetes Job is being deleted with its pods; "
            "the history shows it aborted once it has stopped",
        )


def _parameter_field(path: str | int | tuple[str | int, ...]) -> str:
    """``parameters.<field>`` as the client sent it: ``entityIds[1]`` (a model path) or
    ``("entityIds", 1)`` (a validation error's) -> ``parameters.entity_ids[1]``."""
    parts = path if isinstance(path, tuple) else (path,)
    text = "parameters"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name, _, index = str(part).partition("[")
            text += f".{to_snake(name)}" + (f"[{index}" if index else "")
    return text


def _judge_parameters(
    body: RunParametersIn | None, obj: ChronosJobDict, job_id: str
) -> dict[str, Any] | None:
    """The parameters as stored (camelCase JSON of ``RunParameters``), judged by the
    model (a 422 naming the field) and against the job's task (a 409 naming it)."""
    if body is None:
        return None
    sent = {to_camel(k): v for k, v in body.model_dump(exclude_none=True).items()}
    try:
        params = p.RunParameters.model_validate(sent)
    except ValidationError as exc:
        raise ProblemError.invalid(
            [(_parameter_field(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        ) from None
    try:
        spec = ChronosJobSpec.model_validate(obj.get("spec") or {})
    except ValidationError:
        raise ProblemError(
            409, f'job "{job_id}" has settings the operator refuses; fix them first'
        ) from None
    # What this job's task takes (its type, its ids): the body conflicts with the job's
    # current settings (a 409, as for an update; the document cannot know the job).
    found = [(_parameter_field(f), why) for f, why in p.problems(params, spec.task)]
    if not found:
        try:
            p.apply(spec.task, params)
        except ValidationError as exc:
            found = [("parameters", exc.errors()[0]["msg"])]
    if found:
        raise ProblemError(
            409,
            "conflicts with the job's current settings: "
            + "; ".join(f"{f}: {why}" for f, why in found),
            errors=found,
        )
    text = p.dumps(params)
    if len(text.encode()) > p.PARAMETERS_MAX_BYTES:
        raise ProblemError.invalid(
            [("parameters", f"at most {p.PARAMETERS_MAX_BYTES} bytes as compact JSON")]
        )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _check_run_now_allowed(obj: ChronosJobDict, state: runnow.RunNowState, job_id: str) -> None:
    """409 under concurrencyPolicy Forbid while a run is active or a run-now is pending;
    429 when too many requests wait already."""
    policy = (obj.get("spec") or {}).get("concurrencyPolicy") or ConcurrencyPolicy.FORBID
    if policy == ConcurrencyPolicy.FORBID:
        active = (obj.get("status") or {}).get(ACTIVE_RUNS) or []
        if active:
            raise ProblemError(
                409,
                f'job "{job_id}" has concurrencyPolicy Forbid and run {", ".join(active)} '
                "is still active; run it again when that run has finished",
            )
        if state.pending:
            raise ProblemError(
                409,
                f'job "{job_id}" has concurrencyPolicy Forbid and another run-now request '
                "is waiting to start; run it again when that run has finished",
            )
    if len(state.pending) >= runnow.PENDING_MAX:
        raise ProblemError(
            429, f'job "{job_id}" has {len(state.pending)} run-now requests waiting; retry later'
        )


def _run_now_answer(job_id: str, token: str, *, already: bool) -> RunNowOut:
    message = (
        "run already requested with this Idempotency-Key; no new run started"
        if already
        else "run requested; the operator starts it as a Kubernetes Job"
    )
    return RunNowOut(
        success=True,
        message=message,
        job_id=job_id,
        exit_code=None,
        stdout=None,
        stderr=None,
        run_token=token,
        already_requested=already,
    )


def _check_range(body: BackfillIn, now: datetime) -> tuple[datetime, datetime]:
    """``from`` and ``to`` as instants. A 422 naming the field for what the OpenAPI
    document states (RFC 3339 with an offset, ``max`` within 1..MAX_BACKFILL_SLOTS); a
    409 naming it for what no schema can state: ``from`` before ``to`` (an order between
    two values), ``to`` not in the future and ``from`` at most MAX_BACKFILL_AGE_DAYS ago
    (the clock's state, as the job's schedules are in :meth:`RunService._backfill_slots`)."""
    errors: list[tuple[str, str]] = []
    times: dict[str, datetime] = {}
    for field, text in (("from", body.from_), ("to", body.to)):
        parsed = parse_time(text) if _RFC3339.fullmatch(text) else None
        if parsed is None:
            errors.append(
                (
                    field,
                    "must be an RFC 3339 date-time with an offset, such as 2026-01-31T09:00:00Z",
                )
            )
        else:
            times[field] = parsed.astimezone(UTC)
    if not 1 <= body.max <= MAX_BACKFILL_SLOTS:
        errors.append(("max", f"must be 1 to {MAX_BACKFILL_SLOTS}"))
    if errors:
        raise ProblemError.invalid(errors)
    start, end = times["from"], times["to"]
    if start >= end:
        errors.append(("from", "must be before to"))
    if end > now:
        errors.append(
            ("to", f"is in the future ({rfc3339(now)} now): only past slots are backfilled")
        )
    if now - start > timedelta(days=MAX_BACKFILL_AGE_DAYS):
        errors.append(
            ("from", f"is more than {MAX_BACKFILL_AGE_DAYS} days ago ({rfc3339(now)} now)")
        )
    if errors:
        raise _range_conflict(errors)
    return start, end


def _range_conflict(errors: list[tuple[str, str]]) -> ProblemError:
    """A 409 naming the fields: a range the document allows that cannot be served (its
    order, the clock, the job's slots)."""
    return ProblemError(
        409,
        "the range cannot be backfilled: " + "; ".join(f"{f}: {r}" for f, r in errors),
        errors=errors,
    )


def _waiting_backfills(obj: ChronosJobDict, job_id: str) -> list[dict[str, Any]]:
    """The requests in the annotation (the operator drops those it served); a 409 when
    it holds something else (a hand-written value the operator is about to reject)."""
    text = (obj["metadata"].get("annotations") or {}).get(BACKFILL_ANNOTATION)
    if not text:
        return []
    try:
        items = json.loads(text)
    except ValueError:
        items = None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ProblemError(
            409,
            f'job "{job_id}" has a backfill annotation that is not a list of requests; '
            "the operator rejects and removes it: retry shortly",
        )
    return items


def _served_ids(obj: ChronosJobDict) -> set[str]:
    status: Any = obj.get("status") or {}
    return {str(b.get("id")) for b in status.get(BACKFILLS) or [] if isinstance(b, dict)}


def _backfill_answer(
    job_id: str, ident: str, found: list[datetime], *, already: bool
) -> BackfillOut:
    message = (
        "backfill already requested with this Idempotency-Key; nothing new requested"
        if already
        else f"backfill requested: the operator starts {len(found)} run(s), trigger backfill"
    )
    return BackfillOut(
        id=ident,
        job_id=job_id,
        slots=[rfc3339(t) for t in found],
        already_requested=already,
        message=message,
    )
