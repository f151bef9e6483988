"""A client for the fake CoreHub's control API (``/_fake/...``), in-process or not."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from chronos.corehub import paths
from chronos.http import Client, ClosesClient

#: The control route that sets an entity's state (below ``/_fake``).
ENTITY_STATE = "/pipelines/{pipeline}/entities/{entity}/state"


class FakeHubControl(ClosesClient):
    def __init__(self, url: str, ca_file: Path | None = None) -> None:
        self.url = url.rstrip("/")
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self._http = Client(base_url=self.url + "/_fake", verify=verify, trust_env=False)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def health(self) -> bool:
        return bool(self._call("GET", "/health")["ok"])

    def reset(self) -> None:
        self._call("POST", "/reset")

    def commands(self) -> list[dict[str, Any]]:
        """Every request to a ``/commands/`` path, with its status and injected fault."""
        return list(self._call("GET", "/commands")["commands"])

    def requests(self) -> list[dict[str, Any]]:
        """Every CoreHub request (not the control API), in arrival order."""
        return list(self._call("GET", "/requests")["requests"])

    def stats(self) -> dict[str, Any]:
        """In-flight CoreHub requests and logins now and at their peak (``/_fake/stats``)."""
        return dict(self._call("GET", "/stats"))

    def add_fault(self, kind: str, **fields: Any) -> dict[str, Any]:
        """kind: status, answer, latency, drop, stuck or expire-token; see the package docstring."""
        return dict(self._call("POST", "/faults", {"kind": kind, **fields}))

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/faults")["faults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def expire_tokens(self, token: str | None = None) -> int:
        return int(self._call("POST", "/tokens/expire", {"token": token})["expired"])

    def configure(self, **fields: Any) -> dict[str, Any]:
        """delays={"activate","stop","snapshot"}, wrapPipelines=bool, users={name: pw}."""
        return dict(self._call("PUT", "/config", fields))

    def state(self) -> dict[str, Any]:
        return dict(self._call("GET", "/state"))

    def entity(self, pipeline_id: str, entity_id: str) -> dict[str, Any]:
        for p in self.state()["pipelines"]:
            if p["id"] == pipeline_id:
                for e in p["entities"]:
                    if e["entityId"] == entity_id:
                        return dict(e)
        raise KeyError(f"{pipeline_id}/{entity_id}")

    def set_entity(
        self, pipeline_id: str, entity_id: str, *, after: float | None = None, **status: Any
    ) -> dict[str, Any]:
        """Set ``status`` (isSyncActive, isMigrationActive, isBusy, errorState) now, or
        ``after`` seconds from now (the answer is then the status as it is now)."""
        path = paths.path(ENTITY_STATE, pipeline=pipeline_id, entity=entity_id)
        body = status if after is None else {**status, "afterSeconds": after}
        return dict(self._call("PUT", path, body))
