"""Fixtures for the dashboard: callers with real ServiceAccount tokens and RBAC, and
HTTP clients signed in to the facade served by ``fixtures_api``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from builders import grant
from fixtures_api import ApiServer, example_job, sa_token
from fixtures_operator import SOLO_PREFIX
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from support import wait_for

from chronos import http

VIEWER_VERBS = ("get", "list", "watch")
#: Markup that must reach every page escaped.
XSS = "<img src=x onerror=alert(1)>"
TAIL = f'{{"step": "start"}}\n{XSS}\n{{"step": "result", "message": "done"}}\n'
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class UiUser:
    client: http.Client
    token: str

    def csrf(self, path: str = "/ui/jobs") -> str:
        """The CSRF token the pages give this user."""
        found = _CSRF.search(self.client.get(path).text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(self, path: str, data: dict[str, str], **headers: str) -> http.Response:
        return self.client.post(path, data=data, headers=headers)


@contextmanager
def signed_in(api_server: ApiServer, token: str) -> Iterator[http.Client]:
    with http.Client(base_url=api_server.url, timeout=30, follow_redirects=False) as client:
        answer = client.post("/ui/login", data={"token": token})
        assert answer.status_code == 303, answer.text
        yield client


@pytest.fixture
def editor(api_server: ApiServer, editor_token: str) -> Iterator[UiUser]:
    with signed_in(api_server, editor_token) as client:
        yield UiUser(client, editor_token)


@pytest.fixture
def viewer_token(k8s: Client, namespace: str) -> str:
    """A ServiceAccount that may only read the chronosjobs of ``namespace``."""
    grant(k8s, namespace, "viewer", VIEWER_VERBS, role="chronos-viewer")
    return sa_token(k8s, namespace, "viewer")


@pytest.fixture
def viewer(api_server: ApiServer, viewer_token: str) -> Iterator[UiUser]:
    with signed_in(api_server, viewer_token) as client:
        yield UiUser(client, viewer_token)


@pytest.fixture
def unwatched_namespace(k8s: Client) -> Iterator[str]:
    """A namespace the suite's shared operator leaves alone (``SOLO_PREFIX``), for tests
    that write runs into a job's status by hand: an operator watching the namespace
    would correct activeRuns from the Jobs it sees (none there) at its next visit."""
    name = f"{SOLO_PREFIX}ui-{uuid.uuid4().hex[:8]}"
    k8s.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    k8s.delete(Namespace, name)


def create_job(api: http.Client, **overrides: object) -> str:
    """A job created through the REST API (the editor's client); its id."""
    answer = api.post("/api/jobs", json=example_job(**overrides))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def page_when(user: UiUser, url: str, text: str) -> str:
    """The page once it shows ``text`` (the watch cache and the 2 s access verdicts
    catch up with a change)."""

    def shown() -> str | None:
        answer = user.client.get(url)
        return answer.text if answer.status_code == 200 and text in answer.text else None

    return wait_for(shown, 15, f"{text!r} on {url}")


def record(run: str, **extra: Any) -> dict[str, Any]:
    return {
        "runId": run,
        "trigger": "run-now",
        "result": "failed",
        "startTime": "2026-11-29T06:00:00Z",
        "endTime": "2026-11-29T06:01:15Z",
        "durationSeconds": 75.0,
        "reason": "TaskRejected",
        "message": "entity_start on pipeline p1: 1 of 1 failed",
        "entities": [{"id": "e1", "result": "failed", "state": "Stopped", "message": XSS}],
        "reportedBy": "runner",
        "logTail": TAIL,
        **extra,
    }
