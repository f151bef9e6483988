"""Who is calling: TokenReview, SubjectAccessReview and impersonation.

The facade authenticates each bearer token with a TokenReview and then acts *as the
caller*: reads are checked with a SubjectAccessReview before the cache answers, writes
go to the API server with ``Impersonate-User`` / ``Impersonate-Group`` headers, so
Kubernetes RBAC decides everything. Verdicts are cached briefly (settings).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from lightkube import AsyncClient
from lightkube.models.authentication_v1 import TokenReviewSpec
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authentication_v1 import TokenReview
from lightkube.resources.authorization_v1 import SubjectAccessReview

from chronos.models.chronosjob import GROUP, PLURAL

#: Bound on each verdict cache; when full it is emptied (a burst of new tokens).
MAX_CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class Identity:
    username: str
    groups: tuple[str, ...] = ()
    uid: str | None = None


#: Used for every request while CHRONOS_API_AUTH_DISABLED is true.
DEVELOPER = Identity("chronos-api:auth-disabled")

_caller: ContextVar[Identity | None] = ContextVar("chronos_api_caller", default=None)


class _Request(Protocol):
    headers: Any


@contextmanager
def acting_as(identity: Identity | None) -> Iterator[None]:
    """Kubernetes calls made inside impersonate ``identity`` (None: no impersonation)."""
    token = _caller.set(identity)
    try:
        yield
    finally:
        _caller.reset(token)


class NotImpersonatingError(RuntimeError):
    pass


def impersonate_hook(required: bool) -> Any:
    """An httpx request hook adding Impersonate-* headers for the current caller.

    With ``required`` a request without a caller fails instead of going out with the
    facade's own rights.
    """

    async def hook(request: _Request) -> None:
        identity = _caller.get()
        if identity is None:
            if required:
                raise NotImpersonatingError("Kubernetes call without a caller to impersonate")
            return
        items = [
            (k, v)
            for k, v in request.headers.multi_items()
            if not k.lower().startswith("impersonate-")
        ]
        items.append(("Impersonate-User", identity.username))
        items += [("Impersonate-Group", g) for g in identity.groups]
        request.headers = type(request.headers)(items)

    return hook


def install_impersonation(client: AsyncClient, *, required: bool) -> None:
    """Make ``client`` impersonate the caller set with :func:`acting_as`.

    lightkube exposes no per-request headers, so the hook goes on its httpx client.
    """
    http = client._client._client
    http.event_hooks["request"].append(impersonate_hook(required))


class _TtlCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._data: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> tuple[bool, Any]:
        hit = self._data.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key: Any, value: Any, ttl: float | None = None) -> None:
        if len(self._data) >= MAX_CACHE_ENTRIES:
            self._data.clear()
        self._data[key] = (time.monotonic() + (self.ttl if ttl is None else ttl), value)


class Authenticator:
    """Bearer token -> Identity, by TokenReview (as the facade)."""

    def __init__(self, client: AsyncClient, ttl: float, audiences: list[str]) -> None:
        self._client = client
        self._cache = _TtlCache(ttl)
        self._audiences = audiences or None

    async def identify(self, token: str) -> Identity | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        hit, cached = self._cache.get(key)
        if hit:
            return cached  # type: ignore[no-any-return]
        review = TokenReview(spec=TokenReviewSpec(token=token, audiences=self._audiences))
        with acting_as(None):
            result = await self._client.create(review)
        status = result.status
        identity: Identity | None = None
        if status is not None and status.authenticated and status.user is not None:
            user = status.user
            identity = Identity(
                username=user.username or "",
                groups=tuple(user.groups or ()),
                uid=user.uid,
            )
        # Failures are remembered briefly too, so a bad token cannot flood the API server.
        self._cache.put(key, identity, None if identity else min(self._cache.ttl, 5.0))
        return identity


class Authorizer:
    """May ``identity`` ``verb`` chronosjobs in ``namespace``? By SubjectAccessReview."""

    def __init__(self, client: AsyncClient, ttl: float) -> None:
        self._client = client
        self._cache = _TtlCache(ttl)

    async def allowed(self, identity: Identity, verb: str, namespace: str) -> tuple[bool, str]:
        key = (identity, verb, namespace)
        hit, cached = self._cache.get(key)
        if hit:
            return cached  # type: ignore[no-any-return]
        review = SubjectAccessReview(
            spec=SubjectAccessReviewSpec(
                user=identity.username,
                groups=list(identity.groups),
                uid=identity.uid,
                resourceAttributes=ResourceAttributes(
                    group=GROUP, resource=PLURAL, verb=verb, namespace=namespace
                ),
            )
        )
        with acting_as(None):
            result = await self._client.create(review)
        status = result.status
        verdict = (
            bool(status and status.allowed and not status.denied),
            (status.reason or "") if status else "",
        )
        self._cache.put(key, verdict)
        return verdict
