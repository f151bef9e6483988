"""The jobs list (with bulk suspend and resume), a job's page, and its Enable/Disable,
Run now and Delete buttons."""

from __future__ import annotations

import uuid
from functools import partial

from fastapi import APIRouter, Request, Response
from markupsafe import Markup
from pydantic import ValidationError

from chronos.api import runsview as rv
from chronos.api import stats as st
from chronos.api import uiformparts as fp
from chronos.api import uiforms as f
from chronos.api import uiviews as v
from chronos.api.deps import Components, Parts
from chronos.api.errors import ProblemError
from chronos.api.mapping import run_records
from chronos.api.schemas import RunNowIn
from chronos.api.services import JOBS, Caller
from chronos.api.ui.pages import (
    Form,
    allowed,
    check_namespace,
    confirm,
    int_param,
    job_rows,
    job_url,
    memo,
    notice,
    now_utc,
    readable_job,
    render,
    see_other,
    visible_namespaces,
)
from chronos.api.web import UI, UiCaller, environment, first
from chronos.schedule import ScheduleError, next_run_times

router = APIRouter()


@router.get("/jobs")
async def jobs_page(request: Request, parts: Parts, who: UiCaller) -> Response:
    q = request.query_params
    filters = v.Filters(
        name=q.get("name", ""),
        namespace=q.get("namespace", ""),
        label=q.get("label", ""),
        task_type=q.get("task_type", "") if q.get("task_type") in f.TASK_TYPES else "",
        state=q.get("state", "") if q.get("state") in v.STATES else "",
    )
    namespaces = await visible_namespaces(parts, who, filters.namespace)
    writable = {ns for ns in namespaces if await parts.jobs.may(who, "patch", ns)}
    page = int_param(q.get("page"), 1)

    def table() -> Markup:
        rows = [row for _, row in job_rows(parts, namespaces) if filters.match(row)]
        paging = v.paging(len(rows), page, v.JOBS_PAGE)
        params = dict(q.items())
        link = partial(v.page_link, f"{UI}/jobs", params)
        return Markup(  # noqa: S704 - the template's own autoescaped output
            environment()
            .get_template("jobs_table.html")
            .render(
                total=len(rows),
                rows=rows[paging.skip : paging.skip + paging.size],
                paging=paging,
                newer=link(paging.page - 1) if paging.page > 1 else None,
                older=link(paging.page + 1) if paging.page < paging.pages else None,
                writable=writable,
                now=now_utc(),
                v=v,
            )
        )

    key = ("jobs", tuple(namespaces), filters, page, frozenset(writable))
    return render(
        parts,
        who,
        "jobs.html",
        notice=notice(request),
        table=memo.get(parts, key, table),
        filters=filters,
        writable=writable,
        task_types=f.TASK_TYPES,
        can_create=await parts.jobs.may(
            who, "create", filters.namespace or parts.settings.api_default_namespace
        ),
        states=v.STATES,
        here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )


@router.post("/jobs/bulk")
async def bulk(parts: Parts, who: UiCaller, form: Form) -> Response:
    action = first(form, "action")
    if action not in ("suspend", "resume"):
        raise ProblemError.invalid([("action", "must be suspend or resume")])
    targets = []
    for value in form.get("job", []):
        namespace, _, job_id = value.partition("/")
        check_namespace(namespace)
        targets.append((namespace, job_id))
    for namespace, job_id in targets:  # every right first: all of the writes or none
        await parts.jobs.authorize(who, "patch", namespace, job_id)
    for namespace, job_id in targets:
        await parts.jobs.set_enabled(who, namespace, job_id, action == "resume", None)
    done = "resumed" if action == "resume" else "suspended"
    return see_other(f"{UI}/jobs?done={done}")


@router.get("/jobs/{namespace}/{job_id}")
async def job_page(
    request: Request, parts: Parts, who: UiCaller, namespace: str, job_id: str
) -> Response:
    entry, view = await readable_job(parts, who, namespace, job_id)
    row = v.job_row(entry.obj, view)
    # status.history is bounded by the CRD (a hundred records): page it here.
    history = await parts.jobs.history(who, namespace, job_id, skip=0, limit=10_000)
    paging = v.paging(history.total, int_param(request.query_params.get("page"), 1))
    now = now_utc()
    try:
        upcoming = next_run_times(row.cron, row.zone, now, 10) if row.cron else []
    except (ScheduleError, ValueError):
        upcoming = []
    return render(
        parts,
        who,
        "job.html",
        notice=notice(request),
        row=row,
        view=view,
        spec=entry.obj.get("spec") or {},
        runs=history.items[paging.skip : paging.skip + paging.size],
        paging=paging,
        next_runs=v.next_runs_marked(upcoming),
        stats=v.run_stats(run_records(entry.obj.get("status") or {})),
        over_time=st.stats(rv.run_rows([(entry.obj, row)]), now, parts.settings.default_time_zone),
        st=st,
        events=await parts.jobs.events(who, namespace, job_id),
        active=v.active_runs(entry.obj.get("status") or {}),
        queued=view.get("queued") or [],
        can_abort=await parts.jobs.may(who, "delete", namespace, None, JOBS),
        can_patch=await parts.jobs.may(who, "patch", namespace, job_id),
        can_delete=await parts.jobs.may(who, "delete", namespace, job_id),
        now=now,
        v=v,
    )


@router.post("/jobs/{namespace}/{job_id}/enabled")
async def set_enabled(
    parts: Parts, who: UiCaller, form: Form, namespace: str, job_id: str
) -> Response:
    await allowed(parts, who, namespace, job_id, "patch")
    enabled = first(form, "enabled") == "true"
    await parts.jobs.set_enabled(who, namespace, job_id, enabled, None)
    back = v.safe_next(first(form, "next"), job_url(namespace, job_id))
    joiner = "&" if "?" in back else "?"
    return see_other(f"{back}{joiner}done={'enabled' if enabled else 'disabled'}")


async def _run_now_page(
    parts: Components,
    who: Caller,
    namespace: str,
    job_id: str,
    *,
    key: str,
    values: fp.RunParameters,
    problem: ProblemError | None = None,
) -> Response:
    """Run now's page: what the run may override (what the job's task type takes), a
    fresh idempotency key; again with the service's errors next to their fields."""
    await allowed(parts, who, namespace, job_id, "patch")
    entry = await parts.jobs.get(who, namespace, job_id)
    assert entry.view is not None
    view = entry.view
    return render(
        parts,
        who,
        "run_now.html",
        problem.status if problem else 200,
        row=v.job_row(entry.obj, view),
        view=view,
        key=key,
        p=values,
        offered=fp.offered(str(view.get("task_type") or "")),
        write_methods=fp.WRITE_METHODS,
        errors=fp.parameter_errors(problem.errors or []) if problem else {},
        message=problem.detail if problem else None,
        post_url=f"{job_url(namespace, job_id)}/run",
    )


@router.get("/jobs/{namespace}/{job_id}/run")
async def run_confirm(parts: Parts, who: UiCaller, namespace: str, job_id: str) -> Response:
    return await _run_now_page(
        parts, who, namespace, job_id, key=uuid.uuid4().hex, values=fp.RunParameters()
    )


def _run_now_body(values: fp.RunParameters) -> RunNowIn:
    try:
        return RunNowIn.model_validate({"parameters": fp.parameters_body(values)})
    except ValidationError as exc:
        raise ProblemError.invalid(f.pydantic_errors(exc.errors())) from None


@router.post("/jobs/{namespace}/{job_id}/run")
async def run_now(parts: Parts, who: UiCaller, form: Form, namespace: str, job_id: str) -> Response:
    await allowed(parts, who, namespace, job_id, "patch")
    # The key came with the page: a second click of the same page is one run.
    key = first(form, "key")
    values = fp.parameters_from_form(form)
    try:
        body = _run_now_body(values)
        answer = await parts.runs.run_now(who, namespace, job_id, key or None, body.parameters)
    except ProblemError as problem:
        if problem.status not in (409, 422):
            raise
        return await _run_now_page(
            parts, who, namespace, job_id, key=key, values=values, problem=problem
        )
    done = "run-again" if answer.already_requested else "run"
    return see_other(f"{job_url(namespace, job_id)}?done={done}")


# Delete is a confirm page (GET) and its action (POST), as Abort (run.py).


@router.get("/jobs/{namespace}/{job_id}/delete")
async def delete_confirm(parts: Parts, who: UiCaller, namespace: str, job_id: str) -> Response:
    return await confirm(parts, who, namespace, job_id, "delete", "delete")


@router.post("/jobs/{namespace}/{job_id}/delete")
async def delete(parts: Parts, who: UiCaller, form: Form, namespace: str, job_id: str) -> Response:
    await allowed(parts, who, namespace, job_id, "delete")
    await parts.jobs.delete(who, namespace, job_id, None)
    return see_other(f"{UI}/jobs?done=deleted")
