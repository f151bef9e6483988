"""The Your-access page: what the signed-in identity may do in each namespace it can see
(a SelfSubjectRulesReview per namespace, made with its own token; ``accessview``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from lightkube import ApiError
from lightkube.models.authorization_v1 import SelfSubjectRulesReviewSpec
from lightkube.resources.authorization_v1 import SelfSubjectRulesReview

from chronos import http
from chronos.api import accessview as av
from chronos.api.auth import acting_as
from chronos.api.cache import plain
from chronos.api.deps import Components, Parts
from chronos.api.services import Caller
from chronos.api.ui.pages import check_namespace, render, visible_namespaces
from chronos.api.web import UiCaller

router = APIRouter()

#: At most this many namespaces (columns) on the page, one review each.
MAX_NAMESPACES = 30
READ_SECONDS = 5.0


async def _review(parts: Components, who: Caller, namespace: str) -> dict[str, Any] | None:
    """The rules review's status, or None when Kubernetes did not answer it."""
    review = SelfSubjectRulesReview(spec=SelfSubjectRulesReviewSpec(namespace=namespace))
    try:
        with acting_as(who.token):
            async with asyncio.timeout(READ_SECONDS):
                result = await parts.as_caller.create(review)
    except (ApiError, TimeoutError, http.HTTPError):
        return None
    status: dict[str, Any] = plain(result).get("status") or {}
    return status


@router.get("/access")
async def access_page(request: Request, parts: Parts, who: UiCaller) -> Response:
    asked = request.query_params.get("namespace", "").strip()
    if asked:
        check_namespace(asked)  # 404 for a name that cannot be a namespace
    # Any namespace may be asked about: the review tells the user only their own rights.
    seen = await visible_namespaces(parts, who, "")
    default = parts.settings.api_default_namespace
    namespaces = list(dict.fromkeys([*([asked] if asked else []), default, *seen]))
    notes = []
    if len(namespaces) > MAX_NAMESPACES:
        notes.append(
            f"Only the first {MAX_NAMESPACES} of {len(namespaces)} namespaces are shown; "
            "name another one above."
        )
        namespaces = namespaces[:MAX_NAMESPACES]
    statuses = await asyncio.gather(*(_review(parts, who, ns) for ns in namespaces))
    rows = []
    for namespace, status in zip(namespaces, statuses, strict=True):
        if status is None:
            notes.append(f'Kubernetes did not answer for namespace "{namespace}"; try again.')
        else:
            rows.append(av.namespace_access(namespace, status))
    return render(
        parts, who, "access.html", rows=rows, actions=av.ACTIONS, notes=notes, asked=asked
    )
