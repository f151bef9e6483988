"""The project's one HTTP client library, imported here and nowhere else.

httpx stopped at 0.28.1; its API-compatible successor httpx2 is what lightkube (our
Kubernetes client) already depends on, so the project uses httpx2 throughout and
keeps the name swappable in this single place.
"""

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

__all__ = [
    "AsyncClient",
    "AsyncHTTPTransport",
    "Auth",
    "Client",
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
