"""Server-side sign-out of dashboard sessions, shared by every replica.

A session cookie is sealed by the facade and carries the caller's token
(``chronos.api.session``); dropping it in the browser does not stop a copy of it from
working. So a sign-out is recorded as the time a USER signed out, and every session of
that user issued at or before that time is refused from then on ("sign out
everywhere"). Kept per user, not per session, the record is bounded by the number of
users who signed out within one session lifetime (older entries can match no live
session and are dropped), however often anyone signs in and out.

The records live in one ConfigMap (CHRONOS_API_SIGN_OUT_CONFIG_MAP) that every replica
watches and patches with the facade's own credentials: key = a digest of the user name,
value = the sign-out time. A replica applies its own sign-out at once and the others
within the watch's delay (milliseconds). Without the setting the record is this
process's only. docs/ui.md describes the design.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0


def user_key(username: str) -> str:
    """The ConfigMap key of a user: a digest (valid as a key, and no name in the map)."""
    return hashlib.sha256(username.encode()).hexdigest()[:40]


def parse_times(data: dict[str, str] | None) -> dict[str, float]:
    """The sign-out times in a ConfigMap's data; malformed entries are skipped."""
    out: dict[str, float] = {}
    for key, value in (data or {}).items():
        try:
            out[key] = float(value)
        except ValueError:
            log.warning("sign-out record %s is not a time; ignored", key)
    return out


class SignOuts:
    """When each user last signed out of the dashboard (see the module docstring)."""

    def __init__(self, client: AsyncClient, config_map: str | None, session_seconds: float) -> None:
        self._client = client
        self._where: tuple[str, str] | None = None
        if config_map:
            # A bare name: the facade's own namespace (in a pod, its ServiceAccount's).
            namespace, _, name = config_map.rpartition("/")
            self._where = (namespace or client.namespace, name)
        self._lifetime = session_seconds
        self._times: dict[str, float] = {}

    @property
    def shared(self) -> bool:
        return self._where is not None

    def ended(self, username: str, issued: float) -> bool:
        """Whether a session of ``username`` issued at ``issued`` was signed out."""
        at = self._times.get(user_key(username))
        return at is not None and issued <= at

    def _merge(self, times: dict[str, float]) -> None:
        for key, at in times.items():
            if at > self._times.get(key, 0.0):
                self._times[key] = at

    async def sign_out(self, username: str, now: float) -> None:
        """Record that ``username`` signed out at ``now`` (here at once, and in the
        shared ConfigMap; raises if that write fails)."""
        key = user_key(username)
        self._merge({key: now})
        stale = [k for k, at in self._times.items() if at + self._lifetime < now]
        for k in stale:
            del self._times[k]
        if self._where is None:
            return
        namespace, name = self._where
        data: dict[str, Any] = {k: None for k in stale}
        data[key] = f"{now:.6f}"
        await self._client.patch(
            ConfigMap, name, {"data": data}, namespace=namespace, patch_type=PatchType.MERGE
        )

    async def run(self) -> None:
        """Follow the shared ConfigMap until cancelled (nothing to do without one)."""
        if self._where is None:
            return
        namespace, name = self._where
        while True:
            try:
                async for _, obj in self._client.watch(
                    ConfigMap, namespace=namespace, fields={"metadata.name": name}
                ):
                    self._merge(parse_times(obj.data))
            except asyncio.CancelledError:
                raise
            except Exception:
                # Sessions stay checked by Kubernetes (the token); only sign-outs made on
                # other replicas meanwhile wait for the watch to come back.
                log.warning(
                    "watch of the sign-out ConfigMap %s/%s failed", *self._where, exc_info=True
                )
            await asyncio.sleep(RETRY_SECONDS)
