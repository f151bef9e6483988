"""The Runs page (Cronicle's Completed tab): every run the caller may read, newest
first, filtered and paged from the facade's watch cache, and its CSV and JSON exports.

What the caller may read: the namespaces where RBAC lets them ``list`` ChronosJobs (a
``namespace`` filter they may not list is a 403 page, said calmly); the rows come from
``status.history`` of the cached jobs there (``chronos.api.runsview``, pure).
"""

from __future__ import annotations

from functools import partial
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from markupsafe import Markup

from chronos.api import runsview as rv
from chronos.api import uiviews as v
from chronos.api.deps import Components, Parts
from chronos.api.errors import ProblemError
from chronos.api.services import Caller
from chronos.api.ui.pages import int_param, job_rows, memo, now_utc, render, visible_namespaces
from chronos.api.web import UI, UiCaller, environment

router = APIRouter()

#: Fixed file names (no user data in the header, so nothing to encode).
CSV_NAME = "chronos-runs.csv"
JSON_NAME = "chronos-runs.json"


def _filters(request: Request) -> rv.RunFilters:
    try:
        return rv.parse_filters(request.query_params)
    except rv.FilterError as e:
        raise ProblemError.invalid(e.problems) from None


async def filtered(
    parts: Components, who: Caller, filters: rv.RunFilters
) -> tuple[tuple[str, ...], list[rv.RunRow]]:
    """The namespaces the caller may read and the runs there that ``filters`` keep,
    newest first (computed once per cache change for everyone who sees the same
    namespaces)."""
    namespaces = tuple(await visible_namespaces(parts, who, filters.namespace))

    def compute() -> list[rv.RunRow]:
        return [r for r in rv.row_cache.rows(job_rows(parts, list(namespaces))) if filters.match(r)]

    return namespaces, memo.get(parts, ("runs", namespaces, filters), compute)


@router.get("/runs")
async def runs_page(request: Request, parts: Parts, who: UiCaller) -> Response:
    filters = _filters(request)
    namespaces, rows = await filtered(parts, who, filters)
    paging = v.paging(len(rows), int_param(request.query_params.get("page"), 1), rv.PAGE)
    params = filters.params()
    link = partial(v.page_link, f"{UI}/runs", params)

    def table() -> Markup:
        return Markup(  # noqa: S704 - the template's own autoescaped output
            environment()
            .get_template("runs_table.html")
            .render(
                rows=rows[paging.skip : paging.skip + paging.size],
                total=len(rows),
                paging=paging,
                newer=link(paging.page - 1) if paging.page > 1 else None,
                older=link(paging.page + 1) if paging.page < paging.pages else None,
                now=now_utc(),
                v=v,
                rv=rv,
            )
        )

    return render(
        parts,
        who,
        "runs.html",
        filters=filters,
        total=len(rows),
        table=memo.get(parts, ("runs-table", namespaces, filters, paging.page), table),
        export_query=urlencode(params),
        results=rv.RESULTS,
        triggers=rv.TRIGGERS,
        v=v,
    )


@router.get("/runs/export.{fmt}")
async def export(request: Request, parts: Parts, who: UiCaller, fmt: str) -> Response:
    """The filtered runs as CSV or JSON: all of them (at most EXPORT_MAX), or one page
    with ``page``."""
    if fmt not in ("csv", "json"):
        raise ProblemError(404, "exports are export.csv and export.json")
    filters = _filters(request)
    _, rows = await filtered(parts, who, filters)
    total = len(rows)
    if "page" in request.query_params:
        paging = v.paging(total, int_param(request.query_params.get("page"), 1), rv.PAGE)
        rows = rows[paging.skip : paging.skip + paging.size]
    else:
        rows = rows[: rv.EXPORT_MAX]
    if fmt == "csv":
        body, media, name = rv.export_csv(rows), "text/csv; charset=utf-8", CSV_NAME
    else:
        body, media, name = rv.export_json(rows, total), "application/json", JSON_NAME
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media, headers=headers)
