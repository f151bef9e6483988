"""The one place that reaches into lightkube's private internals.

lightkube parses every answer into its models; the informers (memory: one page or one
event at a time, as plain dicts), the facade's caller-token auth (lightkube has no
per-request headers) and the run-log follow (its ``log()`` has no ``sinceTime``) need
the HTTP layer under it instead. Every private attribute used for that is read here and
nowhere else, ``pyproject.toml`` pins lightkube to the versions checked, and
``check()`` — run by the unit tests — fails loudly, naming the attribute, when a
lightkube release moves one.
"""

from __future__ import annotations

from typing import Any, cast

from lightkube import ALL_NS, ApiError, AsyncClient
from lightkube.core.generic_client import GenericClient

from chronos import http
from chronos.backoff import parse_retry_after

#: The private attributes relied on, as ``check`` verifies them.
_CLIENT_ATTRIBUTES = ("_client",)
_GENERIC_ATTRIBUTES = ("_client", "prepare_request", "build_adapter_request")


class LightkubeChangedError(RuntimeError):
    """lightkube no longer has an internal this module relies on."""


def _generic(client: AsyncClient) -> Any:
    return client._client


def http_client(client: AsyncClient) -> http.AsyncClient:
    """The httpx client under ``client`` (its base URL, TLS and credentials)."""
    return cast(http.AsyncClient, _generic(client)._client)


def default_timeout(client: AsyncClient) -> http.Timeout:
    """The timeouts ``client`` was configured with (lightkube's default: 10 s)."""
    return http_client(client).timeout


def resource_kind(resource: Any) -> str:
    """The kind of a lightkube resource class (``CronJob`` …)."""
    kind: str = resource._api_info.resource.kind
    return kind


def set_auth(client: AsyncClient, auth: http.Auth) -> None:
    """Authenticate every request of ``client`` with ``auth``."""
    http_client(client).auth = auth


def list_request(
    client: AsyncClient,
    resource: Any,
    *,
    namespace: str | None,
    params: dict[str, Any],
    watch: bool,
    timeout: http.Timeout,
) -> http.Request:
    """A LIST or WATCH request of ``resource`` in ``namespace`` (None: all), built as
    lightkube builds it."""
    basic = _generic(client).prepare_request(
        "list", res=resource, namespace=namespace or ALL_NS, watch=watch, params=params
    )
    return http_client(client).build_request(
        basic.method, basic.url, params=basic.params, timeout=timeout
    )


def get_request(
    client: AsyncClient,
    resource: Any,
    *,
    name: str,
    namespace: str,
    params: dict[str, Any],
    timeout: http.Timeout | None = None,
) -> http.Request:
    """A GET of ``resource`` (a subresource such as ``PodLog`` too)."""
    generic = _generic(client)
    basic = generic.prepare_request("get", resource, name=name, namespace=namespace, params=params)
    if timeout is not None:
        basic.timeout = timeout
    return cast(http.Request, generic.build_adapter_request(basic))


async def send(client: AsyncClient, request: http.Request) -> http.Response:
    """Send ``request``; the answer is streamed (read it or close it)."""
    return await http_client(client).send(request, stream=True)


async def raise_for_status(response: http.Response) -> None:
    """Raise lightkube's ApiError for an error answer (read, then closed)."""
    if response.status_code < 400:
        return
    try:
        await response.aread()
    finally:
        await response.aclose()
    check: Any = GenericClient.raise_for_status
    check(response)


def check(client: AsyncClient) -> None:
    """Raise LightkubeChangedError if ``client`` lacks an internal used here."""
    generic = getattr(client, "_client", None)
    missing = [f"AsyncClient.{a}" for a in _CLIENT_ATTRIBUTES if not hasattr(client, a)]
    missing += [f"GenericAsyncClient.{a}" for a in _GENERIC_ATTRIBUTES if not hasattr(generic, a)]
    if not missing and not isinstance(getattr(generic, "_client", None), http.AsyncClient):
        missing.append("GenericAsyncClient._client (an httpx2 AsyncClient)")
    if not callable(getattr(GenericClient, "raise_for_status", None)):
        missing.append("GenericClient.raise_for_status")
    if missing:
        raise LightkubeChangedError(
            "lightkube changed internals chronos.kubewire relies on: " + ", ".join(missing)
        )


#: The answers whose ``Retry-After`` is obeyed: the API server's priority and fairness
#: (429) and an API server or proxy not serving yet (503).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def retry_after(exc: BaseException) -> float | None:
    """The seconds an API server answering 429 or 503 asked the client to wait (its
    ``Retry-After``); None for any other failure or without the header."""
    if not isinstance(exc, ApiError) or exc.status.code not in RETRY_AFTER_STATUSES:
        return None
    return parse_retry_after(exc.response.headers.get("Retry-After"))
