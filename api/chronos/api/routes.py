"""Routes: thin adapters from HTTP to ``chronos.api.services`` and ``chronos.api.runs``."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import JSONResponse

from chronos.api.answers import (
    AbortOut,
    BackfillOut,
    ErrorOut,
    HistoryOut,
    JobList,
    JobOut,
    PreviewOut,
    RunNowOut,
)
from chronos.api.cache import Entry
from chronos.api.deps import (
    Allowed,
    CallerDep,
    Components,
    GatedRoute,
    NamespaceParam,
    Parts,
    allowed,
)
from chronos.api.errors import ProblemError
from chronos.api.runs import IDEMPOTENCY_KEY
from chronos.api.schemas import (
    BackfillIn,
    JobCreate,
    JobUpdate,
    PreviewIn,
    RunNowIn,
    StatusIn,
    TaskTypeFilter,
)
from chronos.api.services import IF_MATCH, etag
from chronos.models.base import DNS_SUBDOMAIN

JSON = "application/json"
log = logging.getLogger(__name__)

_token: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No or invalid bearer token."},
    422: {"model": ErrorOut, "description": "Invalid input; names the field and the reason."},
    502: {"model": ErrorOut, "description": "The Kubernetes API server failed (5xx)."},
}
_errors: dict[int | str, dict[str, Any]] = {
    **_token,
    403: {
        "model": ErrorOut,
        "description": "Kubernetes RBAC denies the caller (checked first: the same answer "
        "whether the job exists or not).",
    },
}
_one = {**_errors, 404: {"model": ErrorOut, "description": "No such job."}}
_write = {
    **_one,
    400: {"model": ErrorOut, "description": "The Kubernetes API server rejected the request."},
    409: {
        "model": ErrorOut,
        "description": "Conflicting concurrent change, a partial update the job's "
        "current settings refuse, or values no schema can compare that conflict "
        "(active_from not before active_until, two schedules with one name; fields named).",
    },
    412: {"model": ErrorOut, "description": "If-Match does not match the current ETag."},
}

_run = {
    **_one,
    400: _write[400],
    409: {
        "model": ErrorOut,
        "description": "concurrencyPolicy Forbid and a run is active or waiting to start "
        "(names the run); or the Idempotency-Key was used with other parameters.",
    },
    422: {
        "model": ErrorOut,
        "description": "Parameters the job's task type does not take, or ids not among the "
        "job's (the field named, e.g. parameters.entity_ids[1]).",
    },
    429: {
        "model": ErrorOut,
        "description": "Too many run-now requests (or their parameters) are waiting.",
    },
}

IfMatch = Annotated[
    str | None,
    Header(
        pattern=IF_MATCH.pattern,
        description="ETag from a previous read (or `*`, or a comma-separated list); the "
        "write fails with 412 if it changed.",
    ),
]
Skip = Annotated[int, Query(ge=0, description="Items to skip.")]
#: Its documented maximum is CHRONOS_API_MAX_PAGE_SIZE (``chronos.api.app``).
Limit = Annotated[int, Query(ge=1, description="Most items to return.")]

# Each route's components, caller and namespace, once RBAC allows the verbs docs/api.md
# states for it.
Lister = Annotated[Allowed, allowed("list")]
Creator = Annotated[Allowed, allowed("create")]
Reader = Annotated[Allowed, allowed("get")]
Updater = Annotated[Allowed, allowed("get", "patch")]
Patcher = Annotated[Allowed, allowed("patch")]
Deleter = Annotated[Allowed, allowed("delete")]

jobs_router = APIRouter(prefix="/api/jobs", tags=["jobs"], route_class=GatedRoute)
schedule_router = APIRouter(prefix="/api/schedule", tags=["schedule"], route_class=GatedRoute)
health_router = APIRouter(tags=["operations"])


def _job(entry: Entry, status_code: int = 200, **headers: str) -> Response:
    assert entry.view is not None
    return Response(
        content=entry.body,
        status_code=status_code,
        media_type=JSON,
        headers={"ETag": etag(entry.resource_version), **headers},
    )


def _limit(parts: Components, limit: int) -> None:
    if limit > parts.settings.api_max_page_size:
        raise ProblemError.invalid(
            [("limit", f"must be at most {parts.settings.api_max_page_size}")]
        )


# ---------------------------------------------------------------------------- jobs


@jobs_router.get("", response_model=JobList, responses=_errors, summary="List jobs")
@jobs_router.get("/", response_model=JobList, include_in_schema=False)
async def list_jobs(
    call: Lister,
    skip: Skip = 0,
    limit: Limit = 100,
    task_type: Annotated[TaskTypeFilter, Query(description="Only this task type.")] = None,
    enabled: Annotated[bool | None, Query(description="Only enabled or disabled.")] = None,
) -> Response:
    _limit(call.parts, limit)
    body = await call.parts.jobs.list_body(
        call.caller, call.namespace, skip=skip, limit=limit, task_type=task_type, enabled=enabled
    )
    return Response(content=body, media_type=JSON)


@jobs_router.post(
    "", status_code=201, response_model=JobOut, responses=_write, summary="Create a job"
)
@jobs_router.post("/", status_code=201, response_model=JobOut, include_in_schema=False)
async def create_job(call: Creator, body: JobCreate) -> Response:
    entry = await call.parts.jobs.create(call.caller, call.namespace, body)
    location = f"/api/jobs/{entry.obj['metadata']['name']}?namespace={call.namespace}"
    return _job(entry, 201, Location=location)


@jobs_router.get(
    "/{job_id}",
    response_model=JobOut,
    responses={**_one, 304: {"description": "Not modified: If-None-Match lists the ETag."}},
    summary="Get a job",
)
async def get_job(
    call: Reader,
    job_id: str,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    entry = await call.parts.jobs.get(call.caller, call.namespace, job_id)
    tag = etag(entry.resource_version)
    if if_none_match is not None and tag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": tag})
    return _job(entry)


@jobs_router.put(
    "/{job_id}", response_model=JobOut, responses=_write, summary="Update a job (partial)"
)
async def update_job(
    call: Updater,
    job_id: str,
    body: JobUpdate,
    if_match: IfMatch = None,
) -> Response:
    return _job(await call.parts.jobs.update(call.caller, call.namespace, job_id, body, if_match))


@jobs_router.delete("/{job_id}", status_code=204, responses=_write, summary="Delete a job")
async def delete_job(call: Deleter, job_id: str, if_match: IfMatch = None) -> Response:
    await call.parts.jobs.delete(call.caller, call.namespace, job_id, if_match)
    return Response(status_code=204)


# Deliberately the shape of update_job (duplicates pairs them): FastAPI reads each
# route's contract from its own parameters.
@jobs_router.patch(
    "/{job_id}/status", response_model=JobOut, responses=_write, summary="Enable or disable"
)
async def set_status(
    call: Patcher,
    job_id: str,
    body: StatusIn,
    if_match: IfMatch = None,
) -> Response:
    return _job(
        await call.parts.jobs.set_enabled(
            call.caller, call.namespace, job_id, body.enabled, if_match
        )
    )


@jobs_router.post(
    "/{job_id}/run", response_model=RunNowOut, responses=_run, summary="Run a job now"
)
async def run_now(
    call: Patcher,
    job_id: str,
    body: RunNowIn | None = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY.pattern,
            description="Retrying with the same key never starts a second run.",
        ),
    ] = None,
) -> RunNowOut:
    parameters = body.parameters if body is not None else None
    return await call.parts.runs.run_now(
        call.caller, call.namespace, job_id, idempotency_key, parameters
    )


_backfill = {
    **_one,
    400: _write[400],
    409: {
        "model": ErrorOut,
        "description": "The range cannot be served (fields named): from not before to, "
        "to in the future, from more than 366 days ago, no slot of the job in it or more "
        "than max; or the job cannot run slots now (disabled, settings the operator "
        "refuses, a calendar that cannot be read), or it keeps changing.",
    },
    429: {"model": ErrorOut, "description": "Too many backfill requests are waiting."},
}


@jobs_router.post(
    "/{job_id}/backfill",
    status_code=202,
    response_model=BackfillOut,
    responses=_backfill,
    summary="Run the slots of a past range",
)
async def backfill(
    call: Patcher,
    job_id: str,
    body: BackfillIn,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY.pattern,
            description="Retrying with the same key never requests the range twice.",
        ),
    ] = None,
) -> BackfillOut:
    return await call.parts.runs.backfill(
        call.caller, call.namespace, job_id, body, idempotency_key
    )


_abort = {
    **_errors,
    403: {
        "model": ErrorOut,
        "description": "RBAC does not let the caller get the job, or delete the run's batch "
        "Job (checked first: the same answer whether the job and the run exist or not).",
    },
    404: {
        "model": ErrorOut,
        "description": "No such job, or the job has no such active run (the same answer "
        "for both), or the run has just ended.",
    },
}
RunParam = Annotated[
    str,
    Path(
        pattern=DNS_SUBDOMAIN,
        max_length=63,
        description="The run's id: the name of its Kubernetes Job (status.activeRuns).",
    ),
]


@jobs_router.post(
    "/{job_id}/runs/{run}/abort",
    status_code=202,
    response_model=AbortOut,
    responses=_abort,
    summary="Abort an active run",
)
async def abort_run(call: Reader, job_id: str, run: RunParam) -> AbortOut:
    """Delete the run's Kubernetes Job (its pods get SIGTERM) as the caller, after
    noting who asked on it: the run is recorded ``aborted`` in the history, with the
    CoreHub commands its runner had sent and the states it left."""
    return await call.parts.runs.abort(call.caller, call.namespace, job_id, run)


@jobs_router.get(
    "/{job_id}/history",
    response_model=HistoryOut,
    # A run record lists what is known of the run, as status.history does.
    response_model_exclude_none=True,
    responses=_one,
    summary="Past runs",
)
async def history(
    call: Reader,
    job_id: str,
    skip: Skip = 0,
    limit: Limit = 100,
) -> HistoryOut:
    _limit(call.parts, limit)
    return await call.parts.jobs.history(
        call.caller, call.namespace, job_id, skip=skip, limit=limit
    )


# ------------------------------------------------------------------------ schedule


@schedule_router.post(
    "/preview",
    response_model=PreviewOut,
    responses={
        **_token,
        403: {
            "model": ErrorOut,
            "description": "job_id names a job RBAC does not let the caller get (the same "
            "answer whether it exists or not).",
        },
        409: {
            "model": ErrorOut,
            "description": "Values no schema can compare conflict (active_from not before "
            "active_until, two schedules with one name; fields named).",
        },
    },
    summary="Preview a schedule",
)
async def preview(
    parts: Parts, caller: CallerDep, body: PreviewIn, namespace: NamespaceParam = None
) -> PreviewOut:
    return await parts.schedules.preview_as(
        caller, namespace or parts.settings.api_default_namespace, body
    )


# ---------------------------------------------------------------------- operations


@health_router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health_router.get("/readyz", include_in_schema=False)
async def readyz(parts: Parts) -> JSONResponse:
    # Anyone may ask: the answer is the status code and a fixed word, nothing of the
    # cluster (the cache's figures are on the metrics port, the reason in the log).
    ready, why = parts.cache.readiness.state()
    if ready:
        return JSONResponse({"status": "ready"})
    log.info("not ready: %s", why)
    return JSONResponse({"status": "not ready"}, status_code=503)
