"""Who is calling and what they may do, asked of Kubernetes with the caller's OWN token.

The facade holds no right to act for anyone. Every Kubernetes call made for a caller
(who they are, what they may do, writes, cache-miss reads) goes out on a client that
has the API server's URL and CA but no credentials of its own; :class:`CallerTokenAuth`
puts the bearer token of the caller set with :func:`acting_as` on each request and
refuses to send one without a caller (fail closed). So Kubernetes authenticates and
authorizes the caller directly, as it does for kubectl, and a stolen facade token can
only list and watch ChronosJobs (the shared cache).

Identity comes from a SelfSubjectReview and access from SelfSubjectAccessReviews, both
made with the caller's token: the facade needs neither TokenReview nor
SubjectAccessReview rights. Verdicts are cached briefly by a hash of the token (never
the token itself), see docs/api.md.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightkube import AsyncClient
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.resources.authentication_v1 import SelfSubjectReview
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview

from chronos import http, kube, kubewire
from chronos.kube import UNAUTHORIZED, or_none
from chronos.models.chronosjob import GROUP, PLURAL

#: Bound on each verdict cache; when full it is emptied (a burst of new tokens).
MAX_CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class Identity:
    username: str
    groups: tuple[str, ...] = ()
    uid: str | None = None


_caller_token: ContextVar[str | None] = ContextVar("chronos_api_caller_token", default=None)


def token_key(token: str) -> str:
    """What the verdict caches are keyed by: a digest, so no token sits in memory twice."""
    return hashlib.sha256(token.encode()).hexdigest()


@contextmanager
def acting_as(token: str | None) -> Iterator[None]:
    """Calls made inside on a :func:`caller_client` carry ``token`` (None: no caller)."""
    reset = _caller_token.set(token)
    try:
        yield
    finally:
        _caller_token.reset(reset)


class NoCallerError(RuntimeError):
    pass


class CallerTokenAuth(http.Auth):
    """Authorization: Bearer <the current caller's token>, or no request at all."""

    def auth_flow(self, request: http.Request) -> Generator[http.Request, http.Response, None]:
        token = _caller_token.get()
        if not token:
            raise NoCallerError("Kubernetes call for a caller made without a caller's token")
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def caller_client(kubeconfig: Path | None, pool: kube.Pool | None = None) -> AsyncClient:
    """A client of the facade's API server that sends only the caller's token.

    lightkube exposes no per-request headers, so the auth goes on its httpx client
    (which was built without credentials, so there is nothing else to send).
    """
    client = kube.credential_free_async_client(kubeconfig, pool=pool)
    kubewire.set_auth(client, CallerTokenAuth())
    return client


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
    """Bearer token -> Identity, by a SelfSubjectReview made with that token.

    The identity only names the caller in messages; access is decided per token.
    """

    def __init__(self, client: AsyncClient, ttl: float) -> None:
        self._client = client
        self._cache = _TtlCache(ttl)

    async def identify(self, token: str) -> Identity | None:
        key = token_key(token)
        hit, cached = self._cache.get(key)
        if hit:
            return cached  # type: ignore[no-any-return]
        identity: Identity | None = None
        with acting_as(token):
            result = await or_none(self._client.create(SelfSubjectReview()), UNAUTHORIZED)
        if result is not None:
            user = result.status.userInfo if result.status else None
            if user is not None:
                identity = Identity(
                    username=user.username or "", groups=tuple(user.groups or ()), uid=user.uid
                )
        # Failures are remembered briefly too, so a bad token cannot flood the API server.
        self._cache.put(key, identity, None if identity else min(self._cache.ttl, 5.0))
        return identity


class Authorizer:
    """May the holder of a token ``verb`` chronosjobs in a namespace (or one of them)?

    By SelfSubjectAccessReview with that token: Kubernetes answers for the token's own
    user, groups and extras, and the facade needs no right to ask about others.
    """

    def __init__(self, client: AsyncClient, ttl: float) -> None:
        self._client = client
        self._cache = _TtlCache(ttl)

    async def allowed(
        self,
        token: str,
        verb: str,
        namespace: str,
        name: str | None = None,
        resource: tuple[str, str] = (GROUP, PLURAL),
    ) -> tuple[bool, str]:
        """``resource`` is (API group, plural): chronosjobs unless said otherwise (the
        dashboard's Abort asks about batch Jobs); a plural ``pods/log`` names a
        subresource."""
        key = (token_key(token), verb, namespace, name, resource)
        hit, cached = self._cache.get(key)
        if hit:
            return cached  # type: ignore[no-any-return]
        group, plural = resource
        plural, _, subresource = plural.partition("/")
        review = SelfSubjectAccessReview(
            spec=SelfSubjectAccessReviewSpec(
                resourceAttributes=ResourceAttributes(
                    group=group,
                    resource=plural,
                    subresource=subresource or None,
                    verb=verb,
                    namespace=namespace,
                    name=name,
                )
            )
        )
        with acting_as(token):
            result = await self._client.create(review)
        status = result.status
        verdict = (
            bool(status and status.allowed and not status.denied),
            (status.reason or "") if status else "",
        )
        self._cache.put(key, verdict)
        return verdict
