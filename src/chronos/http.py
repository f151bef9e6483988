"""The project's one HTTP client library, imported here and nowhere else.

httpx stopped at 0.28.1; its API-compatible successor httpx2 is what lightkube (our
Kubernetes client) already depends on, so the project uses httpx2 throughout and
keeps the name swappable in this single place.
"""

from types import TracebackType
from typing import Self

from httpx2 import (
    AsyncClient,
    AsyncHTTPTransport,
    Auth,
    Client,
    ConnectError,
    ConnectTimeout,
    HTTPError,
    HTTPStatusError,
    Limits,
    PoolTimeout,
    RemoteProtocolError,
    Request,
    Response,
    Timeout,
    TimeoutException,
    TransportError,
)


class ClosesClient:
    """For a class that owns a synchronous ``Client`` as ``_http``: ``close()`` closes it,
    and so does the end of a ``with`` block."""

    _http: Client

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = [
    "AsyncClient",
    "AsyncHTTPTransport",
    "Auth",
    "Client",
    "ClosesClient",
    "ConnectError",
    "ConnectTimeout",
    "HTTPError",
    "HTTPStatusError",
    "Limits",
    "PoolTimeout",
    "RemoteProtocolError",
    "Request",
    "Response",
    "Timeout",
    "TimeoutException",
    "TransportError",
]
