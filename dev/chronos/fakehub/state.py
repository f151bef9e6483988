"""The fake CoreHub's in-memory world: users, tokens, pipelines, entities, faults, logs.

State changes after a command are scheduled on the monotonic clock and applied lazily
whenever the state is read, so no background thread is needed and reads are exact.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import yaml

JSON = Any

DEFAULT_SEED: dict[str, Any] = {
    "users": {"admin": "admin"},
    "delays": {"activate": 0.2, "stop": 0.2, "snapshot": 0.5},
    "pipelines": [
        {
            "id": "p1",
            "name": "Orders",
            "entities": [
                {"id": "e1", "name": "orders", "groupId": "_default"},
                {"id": "e2", "name": "order_lines", "groupId": "_default"},
                {"id": "e3", "name": "customers", "groupId": "g1"},
                {"id": "e4", "name": "addresses", "groupId": "g1"},
            ],
        },
        {
            "id": "pipeline-123",
            "name": "Example",
            "entities": [{"id": "entity-456", "name": "example", "groupId": "_default"}],
        },
    ],
}

FAULT_KINDS = ("status", "answer", "latency", "drop", "stuck", "expire-token")
AFTER_KINDS = ("status", "answer", "latency", "drop")
#: What an ``answer`` fault sends without ``json`` or ``text``: a proxy's or SSO login
#: page answering 200 in CoreHub's place.
HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head>"
    "<body><form action=/login><input name=user></form></body></html>"
)
SYNC_ACTIONS = ("start", "stop", "one-time-snapshot", "redo")
WRITE_METHODS = ("UPSERT", "INSERT")
#: What the in-flight counters count: every CoreHub request, and logins alone.
LOAD_KINDS = ("requests", "logins")
INVALID_TOKEN = "Invalid authorization token, please retry or make a new login"  # noqa: S105


def load_seed(path: Path | None) -> dict[str, Any]:
    """A seed file (JSON or YAML, same shape as DEFAULT_SEED), or the defaults."""
    if path is None:
        return copy.deepcopy(DEFAULT_SEED)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the seed must be a mapping")
    return {**copy.deepcopy(DEFAULT_SEED), **data}


@dataclass
class Entity:
    id: str
    name: str
    group_id: str
    order_index: int
    sync: bool = False
    migration: bool = False
    busy: bool = False
    error: dict[str, Any] | None = None
    pending: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    #: Changes a test scheduled (``set_entity`` with ``afterSeconds``): unlike a
    #: command's ``pending`` ones they do not show as ``isBusy``, since CoreHub is not
    #: acting on the entity (an agent going down, someone else's command).
    scheduled: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def advance(self, now: float) -> None:
        due = [p for p in self.pending + self.scheduled if p[0] <= now]
        self.pending = [p for p in self.pending if p[0] > now]
        self.scheduled = [p for p in self.scheduled if p[0] > now]
        for _, changes in sorted(due, key=lambda p: p[0]):
            for key, value in changes.items():
                setattr(self, key, value)

    def status(self) -> dict[str, Any]:
        return {
            "entityId": self.id,
            "isSyncActive": self.sync,
            "isMigrationActive": self.migration,
            "isBusy": self.busy or bool(self.pending),
            "errorState": self.error,
        }

    def config(self) -> dict[str, Any]:
        return {
            "entity": {
                "entityId": self.id,
                "entityName": self.name,
                "groupId": self.group_id,
                "orderIndex": self.order_index,
                "agentEntities": [],
            }
        }


@dataclass
class Pipeline:
    id: str
    name: str
    description: str
    entities: dict[str, Entity]
    maintenance: bool = False

    def groups(self) -> list[str]:
        return sorted({e.group_id for e in self.entities.values()} | {"_default"})

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "sourceAgentsInfo": [],
            "targetAgentsInfo": [],
            "configurationCompleted": True,
            "isInMaintenanceMode": self.maintenance,
        }


@dataclass
class Fault:
    id: int
    kind: str
    method: str | None = None
    path: str | None = None
    count: int | None = 1
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0
    message: str = "injected fault"
    #: ``answer``: the body, as raw text (with ``content_type``) or as JSON.
    text: str | None = None
    body_json: JSON = None
    #: ``json`` was given (it may be ``null``, which is an answer too).
    has_json: bool = False
    content_type: str = "text/html; charset=utf-8"
    #: ``drop``, ``status``, ``answer`` and ``latency`` act after the request was handled (a
    #: command applied) instead of before: CoreHub acted and the answer was lost.
    after: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        if self.method and self.method.upper() != method:
            return False
        return self.path is None or re.search(self.path, path) is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "count": self.count,
            "status": self.status,
            "retryAfter": self.retry_after,
            "seconds": self.seconds,
            "message": self.message,
            "text": self.text,
            "json": self.body_json,
            "contentType": self.content_type,
            "after": self.after,
        }

    def reply(self) -> Reply:
        """The answer of a ``status`` or ``answer`` fault."""
        if self.kind == "status":
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return Reply(self.status, {"message": self.message}, headers)
        if self.has_json:
            raw = json.dumps(self.body_json).encode()
            return Reply(self.status, raw=raw, content_type="application/json")
        text = HTML_PAGE if self.text is None else self.text
        return Reply(self.status, raw=text.encode(), content_type=self.content_type)


@dataclass
class Reply:
    status: int
    #: Sent as JSON, unless ``raw`` is given (then sent as is, with ``content_type``).
    body: JSON = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class FakeHubState:
    """Thread-safe: every public method takes the lock."""

    def __init__(
        self, seed: Mapping[str, Any] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seed = copy.deepcopy(dict(seed) if seed is not None else DEFAULT_SEED)
        self.clock = clock
        self.lock = threading.RLock()
        self.reset()

    # ------------------------------------------------------------------ control

    def reset(self) -> None:
        with self.lock:
            seed = copy.deepcopy(self.seed)
            self.users: dict[str, str] = dict(seed.get("users") or {})
            delays = {"activate": 0.2, "stop": 0.2, "snapshot": 0.5, **(seed.get("delays") or {})}
            self.delays: dict[str, float] = {k: float(v) for k, v in delays.items()}
            self.wrap_pipelines = bool(seed.get("wrapPipelines", False))
            self.tokens: dict[str, str] = {}
            self.expired: set[str] = set()
            self.faults: list[Fault] = []
            self.commands: list[dict[str, Any]] = []
            self.requests: list[dict[str, Any]] = []
            # CoreHub requests being served right now, and the most ever at once since the
            # reset, by kind (LOAD_KINDS): a busy minute's stampede as CoreHub would feel it.
            self.in_flight: dict[str, int] = dict.fromkeys(LOAD_KINDS, 0)
            self.peak_in_flight: dict[str, int] = dict.fromkeys(LOAD_KINDS, 0)
            self._next_id = 1
            self.pipelines: dict[str, Pipeline] = {}
            for p in seed.get("pipelines") or []:
                entities = {}
                for i, e in enumerate(p.get("entities") or []):
                    entity = Entity(
                        str(e["id"]),
                        str(e.get("name", e["id"])),
                        str(e.get("groupId", "_default")),
                        i,
                    )
                    entity.sync = bool(e.get("active", False))
                    entities[entity.id] = entity
                self.pipelines[str(p["id"])] = Pipeline(
                    str(p["id"]),
                    str(p.get("name", p["id"])),
                    str(p.get("description", "")),
                    entities,
                )

    def configure(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            for key, value in (body.get("delays") or {}).items():
                if key not in ("activate", "stop", "snapshot"):
                    raise ValueError(f"unknown delay {key!r}")
                self.delays[key] = float(value)
            if "wrapPipelines" in body:
                self.wrap_pipelines = bool(body["wrapPipelines"])
            for user, password in (body.get("users") or {}).items():
                self.users[str(user)] = str(password)
            return self.config()

    def config(self) -> dict[str, Any]:
        with self.lock:
            return {
                "delays": dict(self.delays),
                "wrapPipelines": self.wrap_pipelines,
                "users": sorted(self.users),
            }

    def add_fault(self, body: Mapping[str, Any]) -> Fault:
        with self.lock:
            kind = str(body.get("kind", ""))
            if kind not in FAULT_KINDS:
                raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}")
            retry_after = body.get("retryAfter")
            count = body.get("count", 1)
            text = body.get("text")
            if kind == "answer" and text is not None and "json" in body:
                raise ValueError("an answer fault has text or json, not both")
            fault = Fault(
                id=self._next_id,
                kind=kind,
                method=body.get("method"),
                path=body.get("path"),
                count=None if count is None else int(count),
                status=int(body.get("status", 200 if kind == "answer" else 503)),
                retry_after=None if retry_after is None else str(retry_after),
                seconds=float(body.get("seconds", 0.0)),
                message=str(body.get("message", "injected fault")),
                text=None if text is None else str(text),
                body_json=body.get("json"),
                has_json="json" in body,
                content_type=str(body.get("contentType", "text/html; charset=utf-8")),
                after=bool(body.get("after", False)),
            )
            if fault.after and kind not in AFTER_KINDS:
                raise ValueError(f"after applies to {', '.join(AFTER_KINDS)} faults only")
            if fault.path is not None:
                re.compile(fault.path)
            self._next_id += 1
            self.faults.append(fault)
            return fault

    def matching_faults(self, method: str, path: str) -> list[Fault]:
        """The faults that may apply to this request, in the order they were added.

        Nothing is used up here: a fault that never gets to act on the request (an
        earlier one answered it) keeps its count for the next matching request.
        """
        with self.lock:
            return [copy.copy(f) for f in self.faults if f.matches(method, path)]

    def claim(self, fault: Fault) -> bool:
        """Use one of ``fault``'s count as it acts; False if it is used up meanwhile."""
        with self.lock:
            live = next((f for f in self.faults if f.id == fault.id), None)
            if live is None or (live.count is not None and live.count <= 0):
                return False
            if live.count is not None:
                live.count -= 1
            return True

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def expire_tokens(self, token: str | None = None) -> int:
        with self.lock:
            victims = [token] if token else list(self.tokens)
            fresh = [t for t in victims if t in self.tokens and t not in self.expired]
            self.expired.update(fresh)
            return len(fresh)

    def set_entity(self, pipeline_id: str, entity_id: str, body: Mapping[str, Any]) -> JSON:
        """Set an entity's status now, or with ``afterSeconds`` schedule it (states that
        change over time: a wait that is met later, or never within its timeout)."""
        with self.lock:
            entity = self.pipelines[pipeline_id].entities[entity_id]
            now = self.clock()
            entity.advance(now)
            if body.get("afterSeconds") is not None:
                after = float(body["afterSeconds"])
                if not after >= 0:
                    raise ValueError("afterSeconds must be a number >= 0")
                names = {
                    "isSyncActive": "sync",
                    "isMigrationActive": "migration",
                    "isBusy": "busy",
                    "errorState": "error",
                }
                unknown = set(body) - set(names) - {"afterSeconds"}
                if unknown:
                    raise ValueError(f"unknown entity fields {sorted(unknown)}")
                changes = {
                    names[k]: (v if k == "errorState" else bool(v))
                    for k, v in body.items()
                    if k in names
                }
                entity.scheduled.append((now + after, changes))
                return entity.status()
            entity.pending.clear()
            entity.scheduled.clear()
            entity.sync = bool(body.get("isSyncActive", entity.sync))
            entity.migration = bool(body.get("isMigrationActive", entity.migration))
            entity.busy = bool(body.get("isBusy", entity.busy))
            if "errorState" in body:
                entity.error = body["errorState"]
            return entity.status()

    def snapshot(self) -> JSON:
        with self.lock:
            now = self.clock()
            out = []
            for p in self.pipelines.values():
                for e in p.entities.values():
                    e.advance(now)
                out.append({**p.info(), "entities": [e.status() for e in p.entities.values()]})
            return {"pipelines": out}

    def log_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            entry = {"seq": len(self.requests) + 1, "time": _now_iso(), **entry}
            self.requests.append(entry)
            if "/commands/" in entry["path"]:
                self.commands.append({**entry, "seq": len(self.commands) + 1})

    def enter(self, kinds: tuple[str, ...]) -> None:
        """A CoreHub request of ``kinds`` (LOAD_KINDS) began: count it in flight."""
        with self.lock:
            for kind in kinds:
                self.in_flight[kind] += 1
                self.peak_in_flight[kind] = max(self.peak_in_flight[kind], self.in_flight[kind])

    def leave(self, kinds: tuple[str, ...]) -> None:
        with self.lock:
            for kind in kinds:
                self.in_flight[kind] -= 1

    def stats(self) -> dict[str, Any]:
        """The load counters: in flight now, the peak since the reset, totals logged."""
        with self.lock:
            return {
                "inFlight": dict(self.in_flight),
                "peakInFlight": dict(self.peak_in_flight),
                "requests": len(self.requests),
            }

    # ------------------------------------------------------------------ CoreHub

    def login(self, body: JSON) -> Reply:
        with self.lock:
            if not isinstance(body, dict):
                return Reply(
                    400, {"notificationId": -1, "message": "username and password required"}
                )
            user, password = body.get("username"), body.get("password")
            if not isinstance(user, str) or self.users.get(user) != password:
                return Reply(401, {"notificationId": -1, "message": "Invalid username or password"})
            token = "fake." + secrets.token_urlsafe(24)
            self.tokens[token] = user
            return Reply(200, {"apiToken": token, "changeRequired": False})

    def authorized(self, header: str | None) -> str | None:
        """The token of a valid ``Authorization: Bearer`` header, else None."""
        with self.lock:
            if not header or not header.startswith("Bearer "):
                return None
            token = header.removeprefix("Bearer ").strip()
            if token in self.tokens and token not in self.expired:
                return token
            return None

    def handle(self, method: str, path: str, query: str, stuck: bool = False) -> Reply:
        """An authenticated CoreHub call (login is separate)."""
        with self.lock:
            # Split first, then decode each segment, as an HTTP server does: an encoded
            # "/" stays inside its segment.
            parts = [unquote(p) for p in path.split("/") if p]
            params = dict(parse_qsl(query, keep_blank_values=True))
            if method == "GET" and parts == ["pipelines"]:
                items = [p.info() for p in self.pipelines.values()]
                return Reply(200, {"pipelines": items} if self.wrap_pipelines else items)
            if len(parts) < 2 or parts[0] != "pipelines":
                return Reply(404, {"message": f"no route {method} {path}"})
            pipeline = self.pipelines.get(parts[1])
            if pipeline is None:
                return Reply(404, {"message": f"Pipeline {parts[1]} not found"})
            now = self.clock()
            for e in pipeline.entities.values():
                e.advance(now)
            rest = parts[2:]
            if method == "GET":
                if not rest:
                    return Reply(200, pipeline.info())
                if rest == ["entities"]:
                    return Reply(200, [e.config() for e in pipeline.entities.values()])
                if rest == ["config", "groups"]:
                    return Reply(200, [{"groupId": g} for g in pipeline.groups()])
                if rest == ["entities-status"]:
                    return Reply(200, [e.status() for e in pipeline.entities.values()])
                if rest == ["snapshot-status"]:
                    return Reply(
                        200,
                        {
                            "entities": [
                                {"entityId": e.id, "inProgress": e.migration}
                                for e in pipeline.entities.values()
                            ]
                        },
                    )
            if method == "POST" and rest[:2] == ["commands", "maintenance"] and len(rest) == 3:
                if rest[2] not in ("enter", "exit"):
                    return Reply(404, {"message": f"no route {method} {path}"})
                pipeline.maintenance = rest[2] == "enter"
                return Reply(200, {"id": pipeline.id, "message": f"maintenance {rest[2]}"})
            if method == "POST" and rest[:2] == ["commands", "sync"] and len(rest) == 3:
                return self._sync(pipeline, rest[2], params, now, stuck)
            return Reply(404, {"message": f"no route {method} {path}"})

    def _sync(
        self, pipeline: Pipeline, action: str, params: dict[str, str], now: float, stuck: bool
    ) -> Reply:
        group = action.endswith("-group")
        base = action.removesuffix("-group")
        if base not in SYNC_ACTIONS:
            return Reply(404, {"message": f"unknown command {action}"})
        if pipeline.maintenance:
            return Reply(409, {"message": f"Pipeline {pipeline.id} is in maintenance mode"})
        method = params.get("snapshotWriteMethod", "UPSERT")
        if method not in WRITE_METHODS:
            return Reply(400, {"message": f"Invalid snapshotWriteMethod {method}"})
        with_snapshot = params.get("withSnapshot", "false")
        if with_snapshot not in ("true", "false"):
            return Reply(400, {"message": f"Invalid withSnapshot {with_snapshot}"})
        if group:
            group_id = params.get("groupId")
            if not group_id:
                return Reply(400, {"message": "groupId is required"})
            targets = [e for e in pipeline.entities.values() if e.group_id == group_id]
            if not targets and group_id not in pipeline.groups():
                return Reply(404, {"message": f"Group {group_id} not found"})
        elif "entity" in params:
            entity = pipeline.entities.get(params["entity"])
            if entity is None:
                return Reply(404, {"message": f"Entity {params['entity']} not found"})
            targets = [entity]
        else:
            targets = list(pipeline.entities.values())
        a, s, st = self.delays["activate"], self.delays["snapshot"], self.delays["stop"]
        plans: dict[str, list[tuple[float, dict[str, Any]]]] = {
            "start": (
                [
                    (a, {"migration": True, "sync": False}),
                    (a + s, {"migration": False, "sync": True}),
                ]
                if with_snapshot == "true"
                else [(a, {"sync": True})]
            ),
            "stop": [(st, {"sync": False, "migration": False})],
            "one-time-snapshot": [(a, {"migration": True}), (a + s, {"migration": False})],
            "redo": [
                (a, {"migration": True, "sync": False}),
                (a + s, {"migration": False, "sync": True}),
            ],
        }
        for entity in targets:
            entity.pending = [] if stuck else [(now + d, dict(c)) for d, c in plans[base]]
        status = 202 if base in ("one-time-snapshot", "redo") else 200
        return Reply(
            status,
            {
                "id": pipeline.id,
                "name": pipeline.name,
                "status": "ACCEPTED",
                "message": f"{action} accepted for {len(targets)} entities",
            },
        )
