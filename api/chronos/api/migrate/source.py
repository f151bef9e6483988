"""Reading every job of a running old Chronos through its REST API.

``GET /api/jobs/?skip=&limit=`` answers ``{"items": [...], "total": N}`` (the old
Chronos registers its routes with the trailing slash). Pages are read until ``total`` is
reached or a page comes back empty; everything the server controls is bounded (jobs,
pages, one answer's size), and a job seen twice (the list moved while it was read) is
kept once, by its integer id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chronos import http

#: The old Chronos caps ``limit`` at 100 (larger pages answer 422).
PAGE_SIZE = 100
#: No old Chronos holds more; a server that keeps paging past it is refused.
MAX_JOBS = 100_000
#: One page of 100 jobs is a few tens of KiB; a larger answer is not a job list.
MAX_PAGE_BYTES = 8 * 1024 * 1024
TIMEOUT_SECONDS = 30.0


class SourceError(Exception):
    """The old Chronos could not be read; the message never quotes its answer's body."""


def jobs_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/api/jobs/"


def _page(client: http.Client, url: str, skip: int, limit: int) -> Mapping[str, Any]:
    try:
        with client.stream("GET", url, params={"skip": skip, "limit": limit}) as answer:
            if answer.status_code != 200:
                raise SourceError(
                    f"GET {url}?skip={skip}&limit={limit} answered {answer.status_code}"
                    + (" (the token is missing or wrong)" if answer.status_code == 401 else "")
                )
            data = b""
            for chunk in answer.iter_bytes():
                data += chunk
                if len(data) > MAX_PAGE_BYTES:
                    raise SourceError(f"GET {url}: an answer larger than {MAX_PAGE_BYTES} bytes")
    except http.HTTPError as exc:
        raise SourceError(f"GET {url}: {type(exc).__name__}") from None
    try:
        body = json.loads(data)
    except ValueError:
        raise SourceError(f"GET {url}: the answer is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise SourceError(f'GET {url}: the answer is not {{"items": [...], "total": N}}')
    return body


def read_jobs(
    client: http.Client, base_url: str, page_size: int = PAGE_SIZE
) -> list[dict[str, Any]]:
    """Every job, ordered by id (``client`` carries the token and TLS settings)."""
    url = jobs_url(base_url)
    by_id: dict[Any, dict[str, Any]] = {}
    unnumbered: list[dict[str, Any]] = []
    skip = 0
    while True:
        body = _page(client, url, skip, page_size)
        items = body["items"]
        total = body.get("total")
        for item in items:
            if not isinstance(item, dict):
                raise SourceError(f"GET {url}: a job that is not an object")
            key = item.get("id")
            if isinstance(key, int) and not isinstance(key, bool):
                by_id[key] = item
            else:
                unnumbered.append(item)  # reported by the conversion, not dropped
        skip += len(items)
        if len(by_id) + len(unnumbered) > MAX_JOBS:
            raise SourceError(f"more than {MAX_JOBS} jobs: refusing to read on")
        if not items or (isinstance(total, int) and skip >= total):
            break
    return [by_id[k] for k in sorted(by_id)] + unnumbered
