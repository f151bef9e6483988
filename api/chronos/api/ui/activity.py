"""The Activity page (Cronicle's Activity Log): who did what to which job.

It reads each namespace's activity ledger (the ConfigMap ``chronos-activity`` the
operator writes, ``chronos.models.activity``) with the signed-in user's own token: what
RBAC lets them ``get`` is shown, a namespace they may not read is named calmly. The
namespaces are those of the watch cache the user may list jobs in, plus the facade's
own (where the operator's leader changes are recorded), or the one asked for.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from fastapi import APIRouter, Request, Response
from lightkube import ApiError
from lightkube.resources.core_v1 import ConfigMap

from chronos.api import uiviews as v
from chronos.api.deps import Components, Parts
from chronos.api.errors import ProblemError
from chronos.api.services import Caller
from chronos.api.settings import DNS_LABEL
from chronos.api.ui.pages import check_namespace, now_utc, render, visible_namespaces
from chronos.api.web import UI, UiCaller
from chronos.kube import FORBIDDEN, NOT_FOUND, answered, or_none
from chronos.models import activity as a
from chronos.models.activity import Entry, Filters, Kind

router = APIRouter()

#: Entries per page.
PAGE = 50
#: At most this many ledgers are read for one page (each is one GET as the user).
MAX_NAMESPACES = 50
#: At most this many pages deep (the ledgers hold MAX_ENTRIES each).
MAX_PAGE = 1000
_JOB = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_NAMESPACE = re.compile(DNS_LABEL)
#: The facade's own namespace, in a pod (the operator's, in a chart install).
SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def parse_filters(q: Mapping[str, str]) -> tuple[Filters, int]:
    """The page's filters and page number; a 422 naming the parameter when one cannot
    be (a filter never reaches a look-up unchecked)."""

    def bad(name: str, why: str) -> ProblemError:
        return ProblemError(422, f"query parameter {name}: {why}")

    job, namespace = q.get("job", ""), q.get("namespace", "")
    user, kind, page = q.get("user", ""), q.get("kind", ""), q.get("page", "1")
    if job and not _JOB.match(job):
        raise bad("job", "a ChronosJob name (lowercase letters, digits, '-', '.')")
    if namespace and not _NAMESPACE.match(namespace):
        raise bad("namespace", "a namespace name (lowercase letters, digits, '-')")
    if len(user) > a.MAX_NAME or any(ch < " " for ch in user):
        raise bad("user", f"a user name of at most {a.MAX_NAME} printable characters")
    if kind and kind not in Kind.__members__.values():
        raise bad("kind", "one of " + ", ".join(k.value for k in Kind))
    if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        raise bad("page", f"a page number from 1 to {MAX_PAGE}")
    filters = Filters(
        job=job or None,
        namespace=namespace or None,
        user=user or None,
        kind=Kind(kind) if kind else None,
    )
    return filters, int(page)


def _own_namespace() -> str | None:
    try:
        name = SA_NAMESPACE.read_text().strip()
    except OSError:
        return None
    return name if _NAMESPACE.match(name) else None


@dataclass(frozen=True)
class Read:
    entries: list[Entry]
    #: Namespaces whose ledger the user may not read.
    refused: list[str]
    #: Namespaces left out beyond MAX_NAMESPACES.
    skipped: int


async def read_ledgers(parts: Components, who: Caller, namespaces: list[str]) -> Read:
    """The entries of the namespaces' ledgers the user may get, read as the user."""
    chosen = namespaces[:MAX_NAMESPACES]
    client = parts.as_caller

    async def one(namespace: str) -> list[Entry] | None:
        async def get() -> ConfigMap:
            return await client.get(ConfigMap, a.LEDGER_CONFIGMAP, namespace=namespace)

        try:
            cm = await or_none(parts.jobs.acting(who, get), NOT_FOUND)
        except ApiError as exc:
            if answered(exc, FORBIDDEN):
                return None  # said calmly on the page
            raise
        return [] if cm is None else a.parse_ledger((cm.data or {}).get(a.LEDGER_KEY))

    found = await asyncio.gather(*(one(ns) for ns in chosen))
    entries = [e for got in found if got for e in got]
    refused = [ns for ns, got in zip(chosen, found, strict=True) if got is None]
    return Read(entries, refused, len(namespaces) - len(chosen))


@router.get("/activity")
async def activity_page(request: Request, parts: Parts, who: UiCaller) -> Response:
    q = request.query_params
    filters, page = parse_filters(q)
    if filters.namespace:
        check_namespace(filters.namespace)
        namespaces = [filters.namespace]
    else:
        namespaces = await visible_namespaces(parts, who, "")
        own = _own_namespace()
        if own and own not in namespaces:
            namespaces.append(own)
    read = await read_ledgers(parts, who, namespaces)
    total_entries = len(read.entries)
    shown, total = a.page(read.entries, filters, skip=(page - 1) * PAGE, limit=PAGE)
    paging = v.paging(total, page, PAGE)
    link = partial(v.page_link, f"{UI}/activity", dict(q.items()))
    return render(
        parts,
        who,
        "activity.html",
        entries=shown,
        total=total,
        read_total=total_entries,
        filters=filters,
        kinds=[k.value for k in Kind],
        paging=paging,
        newer=link(paging.page - 1) if paging.page > 1 else None,
        older=link(paging.page + 1) if paging.page < paging.pages else None,
        refused=read.refused,
        skipped=read.skipped,
        namespaces=namespaces,
        limits={"entries": a.MAX_ENTRIES, "days": a.MAX_AGE.days},
        now=now_utc(),
    )
