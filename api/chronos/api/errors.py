"""Errors as JSON ``{"detail": "<field>: <reason>", "errors": [{field, reason}]}``.

Value rules live in ``ChronosJobSpec`` (and its ``chronos.models.rules``) and in the
schedule engine; this module only translates the paths they report (``task.entityIds``,
``schedule.cron``, ``timeZone``) to the snake_case request fields a Chronos client sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from lightkube import ApiError
from pydantic import ValidationError

from chronos.models.rules import SpecRuleError
from chronos.schedule import ScheduleError

log = logging.getLogger(__name__)

#: ChronosJob spec paths (camelCase, below ``spec``) -> request fields (snake_case).
SPEC_TO_REQUEST: dict[tuple[str, ...], str] = {
    ("displayName",): "name",
    ("description",): "description",
    ("timeZone",): "timezone",
    ("enabled",): "enabled",
    ("task",): "task_type",
    ("task", "type"): "task_type",
    ("task", "pipelineId"): "pipeline_id",
    ("task", "entityIds"): "entity_ids",
    ("task", "groupIds"): "group_ids",
    ("task", "withSnapshot"): "with_snapshot",
    ("task", "snapshotWriteMethod"): "snapshot_write_method",
    ("schedule",): "schedule",
    ("schedule", "cron"): "cron_expression",
    ("schedule", "daysOfWeek"): "schedule.days_of_week",
    ("schedule", "hour"): "schedule.hour",
    ("schedule", "minute"): "schedule.minute",
}


class ProblemError(Exception):
    """An error answer: status, a one-line detail and, for bad input, the fields."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.headers = headers

    @classmethod
    def invalid(cls, errors: Sequence[tuple[str, str]]) -> ProblemError:
        return cls(422, "; ".join(f"{f}: {r}" for f, r in errors), errors=errors)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"detail": self.detail}
        if self.errors:
            out["errors"] = [{"field": f, "reason": r} for f, r in self.errors]
        return out


def request_field(loc: Sequence[str | int]) -> str:
    """The request field of a spec path such as ``("task", "entityIds", 0)``."""
    names = tuple(str(p) for p in loc if not isinstance(p, int))
    for size in range(len(names), 0, -1):
        mapped = SPEC_TO_REQUEST.get(names[:size])
        if mapped is not None:
            rest = [str(p) for p in names[size:]]
            break
    else:
        mapped, rest = ".".join(names) or "body", []
    indices = "".join(f"[{p}]" for p in loc if isinstance(p, int))
    return ".".join([mapped, *rest]) + indices


def spec_errors(exc: ValidationError, prefix: Sequence[str] = ()) -> ProblemError:
    """A 422 from the ValidationError of ``ChronosJobSpec`` validation.

    ``prefix`` places a part's errors in the spec (``("schedule",)`` for ``Schedule``).
    """
    found: list[tuple[str, str]] = []
    for err in exc.errors():
        loc: list[str | int] = [*prefix, *err["loc"]]
        reason = err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, SpecRuleError):
            loc += cause.field.split(".")
            reason = cause.message
        found.append((request_field(loc), reason))
    return ProblemError.invalid(found)


def schedule_error(exc: ScheduleError) -> ProblemError:
    return ProblemError.invalid([(request_field(exc.field.split(".")), exc.reason)])


def _problem_response(problem: ProblemError) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, headers=problem.headers)


def kube_problem(exc: ApiError) -> ProblemError:
    code = exc.status.code or 500
    message = exc.status.message or exc.status.reason or "Kubernetes API error"
    if 400 <= code < 500:
        return ProblemError(code, message)
    log.error("Kubernetes API server error %s: %s", code, message)
    return ProblemError(502, f"Kubernetes API server error: {message}")


def install(app: FastAPI) -> None:
    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return _problem_response(exc)

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return _problem_response(kube_problem(exc))

    async def on_invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        found = []
        for err in exc.errors():
            loc = list(err.get("loc", ()))
            if loc and loc[0] in ("body", "query", "path", "header"):
                loc = loc[1:]
            names = ".".join(str(p) for p in loc if not isinstance(p, int)) or "body"
            indices = "".join(f"[{p}]" for p in loc if isinstance(p, int))
            found.append((names + indices, str(err.get("msg"))))
        return _problem_response(ProblemError.invalid(found))

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
