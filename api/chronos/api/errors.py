"""Errors as JSON ``{"detail": "<field>: <reason>", "errors": [{field, reason}]}``.

Value rules live in ``ChronosJobSpec`` (and its ``chronos.models.rules``) and in the
schedule engine; this module only translates the paths they report (``task.entityIds``,
``schedule.cron``, ``timeZone``) to the snake_case request fields a Chronos client sent.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from lightkube import ApiError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from chronos import http
from chronos.api import chainmap, timemap
from chronos.models.chains import CHAIN_RULES
from chronos.models.chronosjob import SPEC_RULES, WAIT_FOR_RULE
from chronos.models.container import CONTAINER_TASK_RULES, ENV_RULES
from chronos.models.queue import MAX_QUEUED_RULE
from chronos.models.rules import SpecRuleError
from chronos.models.wire import TIME_ZONE
from chronos.schedule import ScheduleError

log = logging.getLogger(__name__)

#: Deepest JSON nesting a request body may have (the deepest valid body has 3 levels).
MAX_BODY_DEPTH = 16

#: ChronosJob spec paths (camelCase, below ``spec``) -> request fields (snake_case).
SPEC_TO_REQUEST: dict[tuple[str, ...], str] = {
    ("displayName",): "name",
    ("description",): "description",
    (TIME_ZONE,): "timezone",
    ("enabled",): "enabled",
    ("task",): "task_type",
    ("task", "type"): "task_type",
    ("task", "pipelineId"): "pipeline_id",
    ("task", "entityIds"): "entity_ids",
    ("task", "groupIds"): "group_ids",
    ("task", "withSnapshot"): "with_snapshot",
    ("task", "snapshotWriteMethod"): "snapshot_write_method",
    ("task", "container"): "container",
    ("task", "waitFor"): "wait_for",
    ("task", "waitFor", "state"): "wait_for.state",
    ("task", "waitFor", "timeoutSeconds"): "wait_for.timeout_seconds",
    ("schedule",): "schedule",
    ("schedule", "cron"): "cron_expression",
    ("schedule", "daysOfWeek"): "schedule.days_of_week",
    ("schedule", "hour"): "schedule.hour",
    ("schedule", "minute"): "schedule.minute",
    ("schedule", "rrule"): "schedule.rrule",
    **timemap.SPEC_FIELDS,
    **chainmap.SPEC_FIELDS,
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


_INDEXED = re.compile(r"^([^\[]*)((?:\[[0-9]+\])+)$")


def _steps(loc: Sequence[str | int]) -> list[str | int]:
    """``loc`` with ``"schedules[1]"`` (the engine's paths) split into its name and
    index, and empty names (a rule's ``.cron``) dropped."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, int):
            out.append(part)
            continue
        match = _INDEXED.match(part)
        if match is None:
            if part:
                out.append(part)
            continue
        if match[1]:
            out.append(match[1])
        out.extend(int(i) for i in re.findall(r"[0-9]+", match[2]))
    return out


def dotted(loc: Sequence[str | int]) -> str:
    """A path as a client reads it: names joined by dots, each index right after the
    name it indexes (``schedules[0].cron``)."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


def request_field(loc: Sequence[str | int]) -> str:
    """The request field of a spec path such as ``("task", "entityIds", 0)``
    (``entity_ids[0]``) or ``("schedules", 0, "cron")`` (``schedules[0].cron``)."""
    steps = _steps(loc)
    names = tuple(str(p) for p in steps if not isinstance(p, int))
    for size in range(len(names), 0, -1):
        mapped = SPEC_TO_REQUEST.get(names[:size])
        if mapped is not None:
            break
    else:
        return dotted(steps)
    parts: list[str | int] = []
    heads = mapped.split(".")
    # The spec's first ``size`` names become ``heads``, aligned at their ends (the two
    # ``task.entityIds`` are the one ``entity_ids``): an index follows the head of the
    # name it follows.
    placed = 0
    seen = 0
    for step in steps:
        if isinstance(step, int):
            parts.append(step)
            continue
        seen += 1
        if seen > size:
            parts.append(step)
            continue
        upto = len(heads) if seen == size else max(0, len(heads) - (size - seen))
        parts.extend(heads[placed:upto])
        placed = max(placed, upto)
    return dotted(parts)


#: The spec rules relating two values of one body: an order (activeFrom before
#: activeUntil) or names unique in a list. JSON Schema cannot compare two values, so the
#: OpenAPI document cannot state them: a body that breaks only these is answered 409
#: (docs/api.md, "Errors"), as a body the stored job or the clock refuses; a 422 is
#: always a body the document refuses.
#: The task type and ``wait_for`` (issue 20) too, ``max_queued`` without Enqueue, the
#: task type and ``container`` (the document states it but for a ``container: null``),
#: the fan-in's ``after_all`` and ``after_within_seconds``, and a container env's one
#: source (value, secretKeyRef or configMapKeyRef): the document could state
#: them, but any further rule on a new job puts ``POST /api/jobs`` beyond the
#: canonical-form bound of schemathesis' generator, which then generates no case for it.
RELATION_RULES = frozenset(
    rule.message for rule in SPEC_RULES if "timestamp(" in rule.cel or "exists_one(" in rule.cel
) | {
    WAIT_FOR_RULE.message,
    MAX_QUEUED_RULE.message,
    *(rule.message for rule in CONTAINER_TASK_RULES[:2]),
    *(rule.message for rule in CHAIN_RULES[1:]),
    ENV_RULES[0].message,
}


def spec_errors(exc: ValidationError, prefix: Sequence[str] = ()) -> ProblemError:
    """A 422 from the ValidationError of ``ChronosJobSpec`` validation (a 409 when only
    ``RELATION_RULES`` refuse it).

    ``prefix`` places a part's errors in the spec (``("schedule",)`` for ``Schedule``).
    """
    found: list[tuple[str, str]] = []
    relations = 0
    for err in exc.errors():
        loc: list[str | int] = [*prefix, *err["loc"]]
        reason = err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, SpecRuleError):
            loc += cause.field.split(".")
            reason = cause.message
            relations += reason in RELATION_RULES
        found.append((request_field(loc), reason))
    return _judged(found, relations)


def _judged(found: list[tuple[str, str]], relations: int) -> ProblemError:
    """A 422 naming ``found``, or a 409 when all ``relations`` of them are RELATION_RULES."""
    if found and relations == len(found):
        return ProblemError(
            409,
            "the values conflict with each other: " + "; ".join(f"{f}: {r}" for f, r in found),
            errors=found,
        )
    return ProblemError.invalid(found)


def request_problem(errors: Sequence[Any]) -> ProblemError:
    """The answer to a request FastAPI could not parse (``RequestValidationError.errors()``):
    a 422 naming each field, or a 409 when only RELATION_RULES refuse it (a model's rule
    inside the body, e.g. a container env with two sources)."""
    found: list[tuple[str, str]] = []
    relations = 0
    for err in errors:
        cause = (err.get("ctx") or {}).get("error")
        if err.get("type") == "json_invalid":
            pos = err["loc"][-1]
            at = f" (at character {pos})" if isinstance(pos, int) and pos >= 0 else ""
            found.append(("body", f"not valid JSON: {cause or 'decode error'}{at}"))
            continue
        loc = list(err.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        relations += isinstance(cause, SpecRuleError) and cause.message in RELATION_RULES
        found.append((dotted(loc), str(err.get("msg"))))
    return _judged(found, relations)


def schedule_error(exc: ScheduleError) -> ProblemError:
    return ProblemError.invalid([(request_field(exc.field.split(".")), exc.reason)])


def problem_response(problem: ProblemError) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, headers=problem.headers)


def kube_problem(exc: ApiError) -> ProblemError:
    code = exc.status.code or 500
    message = exc.status.message or exc.status.reason or "Kubernetes API error"
    if 400 <= code < 500:
        return ProblemError(code, message)
    log.error("Kubernetes API server error %s: %s", code, message)
    return ProblemError(502, f"Kubernetes API server error: {message}")


#: Seconds a client is told to wait when the facade's connections to the API server are
#: all taken (a burst of calls ends within seconds).
BUSY_RETRY_SECONDS = 5


def transport_problem(exc: http.TransportError) -> ProblemError:
    """A 503 with Retry-After for a Kubernetes call that could not be made: every
    connection of the pool was busy for CHRONOS_API_KUBE_POOL_WAIT_SECONDS, or the API
    server could not be reached (never a 500: the request itself was fine)."""
    retry = {"Retry-After": str(BUSY_RETRY_SECONDS)}
    if isinstance(exc, http.PoolTimeout):
        log.warning("no free connection to the Kubernetes API server: answered 503")
        return ProblemError(
            503, "the server is busy: too many Kubernetes calls in flight; retry", headers=retry
        )
    log.error("Kubernetes API server unreachable: %s", type(exc).__name__)
    return ProblemError(503, "the Kubernetes API server could not be reached; retry", headers=retry)


def as_problem(exc: Exception) -> ProblemError:
    """The answer to an error a route let through: its own, Kubernetes', or transport."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, ApiError):
        return kube_problem(exc)
    if isinstance(exc, http.TransportError):
        return transport_problem(exc)
    raise TypeError(f"no problem answer for {type(exc).__name__}")


# ------------------------------------------------------------------- request bodies


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _bad_json(reason: str) -> json.JSONDecodeError:
    # FastAPI turns a JSONDecodeError from Request.json() into a 422 (any other error
    # into a bare 400), and ``on_invalid_request`` reports it as the field "body";
    # position -1 says "no position" to it.
    return json.JSONDecodeError(reason, "", -1)


class JsonBodyRequest(Request):
    """A request whose JSON body must be UTF-8 and at most MAX_BODY_DEPTH deep."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            raw = await self.body()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _bad_json(f"the body is not UTF-8 (byte {exc.start})") from None
            try:
                parsed = json.loads(text)
            except RecursionError:
                parsed = None
                deep = True
            else:
                deep = _depth_exceeds(parsed, MAX_BODY_DEPTH)
            if deep:
                raise _bad_json(f"the body is nested more than {MAX_BODY_DEPTH} levels deep")
            self._json = parsed
        return self._json


class JsonBodyRoute(APIRoute):
    """Routes that read their body with :class:`JsonBodyRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_json_body(request: Request) -> Response:
            return await handler(JsonBodyRequest(request.scope, request.receive))

        return with_json_body


#: Methods probed for the Allow header of a 405.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (Starlette names only the
    methods of the first route that matched the path): each is probed through the
    routes' public ``matches``, which also sees into included routers."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in HTTP_METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    return ", ".join(allowed)


# --------------------------------------------------------------------------- handlers


def install(app: FastAPI) -> None:
    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc)

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        return problem_response(as_problem(exc))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            exc.headers = {**(exc.headers or {}), "Allow": _allowed_methods(request)}
        return await http_exception_handler(request, exc)

    async def on_invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(request_problem(exc.errors()))

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(http.TransportError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(HTTPException, on_http_error)
