"""Run now and abort: the writes that start or stop one run of a job.

Used by the REST route ``POST /api/jobs/{id}/run`` and by the dashboard's Run now and
Abort buttons alike, so both answer with the same rules and messages. The job is read
and written through :class:`~chronos.api.services.JobService` (cache, caller's token,
404s); the callers authorize first, except :meth:`RunService.active_run`, which checks
both rights an abort needs itself before it looks anything up.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from datetime import UTC, datetime

from lightkube import ApiError, AsyncClient
from lightkube.resources.batch_v1 import Job as BatchJob
from lightkube.types import CascadeType

from chronos import runnow
from chronos.api.cache import Entry
from chronos.api.errors import ProblemError
from chronos.api.schemas import RunNowOut
from chronos.api.services import JOBS, Caller, JobService
from chronos.contract import RUN_NOW_ANNOTATION
from chronos.kube import NOT_FOUND, answered
from chronos.models.chronosjob import ConcurrencyPolicy
from chronos.models.wire import ACTIVE_RUNS, ChronosJobDict

#: How long a run-now keeps retrying the annotation write against concurrent writers.
#: Each conflict means another write succeeded, so a burst of N requests needs up to N
#: rounds: bounded by time, not by a count that a burst of six keys already exceeds.
RUN_NOW_CONFLICT_SECONDS = 15.0
IDEMPOTENCY_KEY = re.compile(runnow.TOKEN_PATTERN)


class RunService:
    def __init__(self, *, jobs: JobService, client: AsyncClient) -> None:
        self._jobs = jobs
        self._client = client

    async def run_now(
        self, caller: Caller, namespace: str, job_id: str, idempotency_key: str | None
    ) -> RunNowOut:
        """Ask the operator for one run now, at most once per token.

        The token is the Idempotency-Key (or a fresh uuid). It is added to the pending
        requests (``chronos.runnow``) with the resourceVersion it was checked against,
        so two requests racing are decided one after the other: a token already pending
        or served within the window is answered ``already_requested`` without a write,
        and under concurrencyPolicy Forbid a run that is active or pending is a 409.
        """
        if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
            raise ProblemError.invalid(
                [("Idempotency-Key", "must be 1-128 characters from A-Z a-z 0-9 . _ : -")]
            )
        token = idempotency_key or uuid.uuid4().hex
        deadline = time.monotonic() + RUN_NOW_CONFLICT_SECONDS
        while time.monotonic() < deadline:
            entry = await self._jobs.entry(caller, namespace, job_id)
            now = datetime.now(UTC)
            state = runnow.parse(entry.obj["metadata"].get("annotations") or {}, now)
            if runnow.is_known(state, token, now):
                return _run_now_answer(job_id, token, already=True)
            _check_run_now_allowed(entry.obj, state, job_id)
            patch = {
                "metadata": {
                    "resourceVersion": entry.resource_version,
                    "annotations": {
                        **runnow.request_patch(state, token, now),
                        RUN_NOW_ANNOTATION: token,
                    },
                }
            }
            if await self._jobs.patch(caller, namespace, job_id, patch) is not None:
                return _run_now_answer(job_id, token, already=False)
            # A little jitter, so the losers of one round do not collide again at once.
            await asyncio.sleep(random.uniform(0, 0.05))  # noqa: S311 (jitter)
            await self._jobs.refresh(caller, namespace, job_id)
        raise ProblemError(409, f'job "{job_id}" keeps changing; retry the run later')

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

    async def abort(self, caller: Caller, namespace: str, job_id: str, run: str) -> None:
        """Delete the Kubernetes Job of an active run of the job, with foreground
        propagation (its pods go first), as the caller: RBAC must let them get the job
        and delete that batch Job. Only a run the job lists as active can be aborted."""
        await self.active_run(caller, namespace, job_id, run)
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
            raise ProblemError(404, f'run "{run}" has already ended') from None


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
