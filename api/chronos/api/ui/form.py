"""The job form: new job, edit job, and the live schedule preview beside it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from lightkube import ApiError
from markupsafe import Markup
from pydantic import ValidationError

from chronos.api import uiformparts as fp
from chronos.api import uiforms as f
from chronos.api import uiviews as v
from chronos.api.deps import Components, Parts
from chronos.api.errors import ProblemError, as_problem
from chronos.api.schemas import JobCreate, JobUpdate, PreviewIn
from chronos.api.services import Caller
from chronos.api.ui.pages import Form, allowed, job_url, readable_job, render, see_other
from chronos.api.web import UI, UiCaller, environment
from chronos.times import parse_time

router = APIRouter()
#: Answers shown on the form itself, next to the fields they name: the body is not
#: valid (422), its values conflict with each other or the stored job (409), or
#: admission refused it for the caller's rights (403: a container task without the
#: right to create pods names the missing right).
FORM_ERRORS = (403, 409, 422)
NO_SCHEDULE = "No schedule: runs only after its upstream jobs"


def _preview(parts: Components, values: f.FormValues) -> Markup:
    """The schedule's words and next runs (ScheduleService.preview, as the REST route),
    or why it is not valid."""
    body, errors = f.schedule_body(values)
    template = environment().get_template("preview.html")
    if values.schedule_kind == "none":
        html = template.render(problem=None, description=NO_SCHEDULE, cron=None, runs=[])
        return Markup(html)  # noqa: S704 - autoescaped
    try:
        if errors:
            raise ProblemError.invalid(errors)
        sent = {k: val for k, val in body.items() if val is not None}
        try:
            request = PreviewIn.model_validate({**sent, "count": 5})
        except ValidationError as exc:
            raise ProblemError.invalid(f.pydantic_errors(exc.errors())) from None
        out = parts.schedules.preview(request)
    except ProblemError as problem:
        if problem.status != 422:
            raise
        return Markup(template.render(problem=problem.detail))  # noqa: S704 - autoescaped
    runs = v.next_runs_marked([t for t in map(parse_time, out.next_run_times) if t])
    html = template.render(
        problem=None, description=out.description, cron=out.cron_expression, runs=runs
    )
    return Markup(html)  # noqa: S704 - autoescaped


def _form_page(
    parts: Components,
    who: Caller,
    values: f.FormValues,
    *,
    action: str,
    cancel: str,
    creating: bool,
    problem: ProblemError | None = None,
    stored: dict[str, Any] | None = None,
) -> Response:
    errors = f.by_field(problem.errors or []) if problem else {}
    return render(
        parts,
        who,
        "job_form.html",
        problem.status if problem else 200,
        f=values,
        creating=creating,
        action=action,
        cancel=cancel,
        errors=errors,
        message=problem.detail if problem else None,
        preview=_preview(parts, values),
        task_types=f.TASK_TYPES,
        write_methods=f.WRITE_METHODS,
        wait_states=f.WAIT_STATES,
        upstreams=fp.upstream_rows(values.order),
        chain_on=fp.CHAIN_ON,
        policies=fp.POLICIES,
        env_rows=fp.env_rows(values.container),
        env_refs=fp.env_references(stored or {}),
        weekdays=f.WEEKDAYS,
        zones=f.zones(),
        default_zone=parts.settings.default_time_zone,
    )


def _validated(
    model: type[JobCreate] | type[JobUpdate],
    values: f.FormValues,
    stored: dict[str, Any] | None = None,
) -> Any:
    """The request body of the form; ``stored``, the job's view when editing, gives
    what the form does not show of its container (kept)."""
    body, errors = f.request_body(values, creating=model is JobCreate)
    if body.get("container") is not None:
        body["container"] = fp.keep_unshown(body["container"], (stored or {}).get("container"))
    if errors:
        raise ProblemError.invalid(errors)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ProblemError.invalid(f.pydantic_errors(exc.errors())) from None


@router.get("/jobs/new")
async def new_job(request: Request, parts: Parts, who: UiCaller) -> Response:
    namespace = request.query_params.get("namespace") or parts.settings.api_default_namespace
    await allowed(parts, who, namespace, None, "create")
    values = f.FormValues(namespace=namespace)
    return _form_page(
        parts, who, values, action=f"{UI}/jobs/new", cancel=f"{UI}/jobs", creating=True
    )


@router.post("/jobs/new")
async def create_job(parts: Parts, who: UiCaller, form: Form) -> Response:
    values = f.values_from_form(form)
    namespace = values.namespace or parts.settings.api_default_namespace
    await allowed(parts, who, namespace, None, "create")
    try:
        entry = await parts.jobs.create(who, namespace, _validated(JobCreate, values))
    except (ProblemError, ApiError) as exc:
        problem = as_problem(exc)
        if problem.status not in FORM_ERRORS:
            raise
        return _form_page(
            parts,
            who,
            values,
            action=f"{UI}/jobs/new",
            cancel=f"{UI}/jobs",
            creating=True,
            problem=problem,
        )
    return see_other(f"{job_url(namespace, entry.obj['metadata']['name'])}?done=created")


@router.get("/jobs/{namespace}/{job_id}/edit")
async def edit_job(parts: Parts, who: UiCaller, namespace: str, job_id: str) -> Response:
    entry, view = await readable_job(parts, who, namespace, job_id, "patch")
    url = job_url(namespace, job_id)
    return _form_page(
        parts,
        who,
        f.values_from_view(view, entry.obj["metadata"].get("generation")),
        action=f"{url}/edit",
        cancel=url,
        creating=False,
        stored=view,
    )


@router.post("/jobs/{namespace}/{job_id}/edit")
async def save_job(
    parts: Parts, who: UiCaller, form: Form, namespace: str, job_id: str
) -> Response:
    _, stored = await readable_job(parts, who, namespace, job_id, "patch")
    values = f.values_from_form(form)
    url = job_url(namespace, job_id)
    # The settings the form was read at: a change made meanwhile is a 412, not overwritten.
    read_at = int(values.generation) if values.generation.isdigit() else None
    try:
        body = _validated(JobUpdate, values, stored)
        await parts.jobs.update(who, namespace, job_id, body, None, generation=read_at)
    except (ProblemError, ApiError) as exc:
        # (An update's write may answer as Kubernetes did: admission's 403.)
        problem = as_problem(exc)
        if problem.status not in (*FORM_ERRORS, 412):
            raise
        return _form_page(
            parts,
            who,
            values,
            action=f"{url}/edit",
            cancel=url,
            creating=False,
            problem=problem,
            stored=stored,
        )
    return see_other(f"{url}?done=saved")


@router.post("/schedule/preview")
async def preview(parts: Parts, who: UiCaller, form: Form) -> Response:
    return HTMLResponse(_preview(parts, f.values_from_form(form)))
