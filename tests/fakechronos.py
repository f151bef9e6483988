"""A fake of the old Chronos scheduler's REST API, over real HTTP on 127.0.0.1.

It serves what ``chronos migrate`` reads, in the documented shapes
(/work/shared/corehub-api.md, "The Chronos REST API"): ``GET /api/jobs/?skip=&limit=``
answering ``{"items": [...], "total": N}`` with integer ids, the trailing-slash route
the old Chronos registers (and the bare one), limits capped like FastAPI's
``Query(le=...)`` would answer (422), an optional bearer token (401 without it), and
the response fields the old Chronos adds to each job (``id``, ``cron_expression``
also for the friendly form, ``is_cron_expression``, ``created_at``, ...).

Every request is recorded (``requests``) so tests can check the paging.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

#: The old Chronos's own cap on ``limit`` (its router's Query(le=...)).
MAX_LIMIT = 100
WEEKDAY_NUMBERS = {
    "sunday": 0,
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
}


def old_job(job_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """A job as the old Chronos answers it, from the body it was created with: the
    friendly form converted to cron exactly as it did (``minute hour * * days``)."""
    out: dict[str, Any] = {
        "id": job_id,
        "description": None,
        "pipeline_id": None,
        "entity_ids": [],
        "with_snapshot": False,
        "snapshot_write_method": "UPSERT",
        "enabled": True,
        "created_at": "2025-03-01T09:00:00",
        "updated_at": "2025-03-01T09:00:00",
        "last_run": None,
        "next_run": None,
    }
    out.update({k: v for k, v in body.items() if k not in ("schedule", "entity_id")})
    if body.get("entity_id") is not None:
        out["entity_ids"] = [body["entity_id"]]
    friendly = body.get("schedule")
    if friendly is not None:
        days = sorted({WEEKDAY_NUMBERS[d] for d in friendly.get("days_of_week") or []})
        dow = ",".join(str(d) for d in days) or "*"
        out["cron_expression"] = f"{friendly['minute']} {friendly['hour']} * * {dow}"
        out["is_cron_expression"] = False
    else:
        out["is_cron_expression"] = True
    return out


@dataclass
class FakeChronos:
    """The jobs (old-Chronos shapes, by integer id) and what the server was asked."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    token: str | None = None
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def add(self, body: Mapping[str, Any]) -> dict[str, Any]:
        job = old_job(max((j["id"] for j in self.jobs), default=0) + 1, body)
        self.jobs.append(job)
        return job

    def answer(self, path: str, params: dict[str, str], auth: str | None) -> tuple[int, Any]:
        self.requests.append((path, params))
        if self.token is not None and auth != f"Bearer {self.token}":
            return 401, {"detail": "Not authenticated"}
        if path not in ("/api/jobs", "/api/jobs/"):
            return 404, {"detail": "Not Found"}
        try:
            skip, limit = int(params.get("skip", "0")), int(params.get("limit", "100"))
        except ValueError:
            return 422, {"detail": "skip and limit must be integers"}
        if skip < 0 or not 1 <= limit <= MAX_LIMIT:
            return 422, {"detail": f"limit must be 1-{MAX_LIMIT}, skip >= 0"}
        ordered = sorted(self.jobs, key=lambda j: j["id"])
        return 200, {"items": ordered[skip : skip + limit], "total": len(ordered)}


@contextmanager
def serving(fake: FakeChronos, tls: ssl.SSLContext | None = None) -> Iterator[FakeChronos]:
    """``fake`` served on a free loopback port (``fake.url``) for the block; over HTTPS
    with ``tls`` (a server context)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, body = fake.answer(
                parts.path, dict(parse_qsl(parts.query)), self.headers.get("Authorization")
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    fake.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
