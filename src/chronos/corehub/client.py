"""A synchronous CoreHub client: login, Bearer auth, retries, one deadline per run.

Nothing that came from the credentials Secret (the login name as much as the password)
nor the token ever reaches an event, a log line, an exception or a repr: those end up in
the ChronosJob's status, the REST API and the pod log, which people who may not read the
Secret can see. CoreHub's own answers are quoted with those values masked.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chronos.backoff import parse_retry_after
from chronos.corehub import answers, paths
from chronos.corehub.answers import EntityConfig, EntityStatus, mask_secrets, quote, unusable
from chronos.corehub.api import (
    SUCCESS_STATUSES,
    Applied,
    Command,
    maintenance_applied,
    pipelines_list,
)
from chronos.corehub.errors import (
    AnswerLostError,
    AuthenticationError,
    CoreHubTimeoutError,
    CoreHubUnreachableError,
    TaskRejectedError,
)
from chronos.corehub.retry import Deadline, Failure, RetryPolicy, decide
from chronos.http import (
    Client,
    ClosesClient,
    ConnectError,
    ConnectTimeout,
    PoolTimeout,
    Response,
    Timeout,
    TimeoutException,
    TransportError,
)

logger = logging.getLogger(__name__)

#: Receives one event per step: its name ("login", "command", "retry", "wait", "tls")
#: and JSON-serialisable fields.
EventSink = Callable[[str, dict[str, Any]], None]

Params = Sequence[tuple[str, str]]

#: Reads CoreHub's state after a command's answer was lost: did the command act?
Verify = Callable[[], Applied]


def _log_event(step: str, fields: dict[str, Any]) -> None:
    logger.info("%s %s", step, fields)


@dataclass(frozen=True)
class TLSOptions:
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    #: Only ever true when set explicitly; logged as a warning.
    insecure_skip_verify: bool = False


def ssl_context(tls: TLSOptions) -> ssl.SSLContext:
    """Verification against ``ca_file`` (else the system store), unless told to skip it."""
    ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.client_cert:
        ctx.load_cert_chain(str(tls.client_cert), str(tls.client_key) if tls.client_key else None)
    return ctx


@dataclass(frozen=True)
class ClientOptions:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def classify(exc: TransportError) -> Failure:
    # A certificate CoreHub presents will not verify any better on a second try.
    if "CERTIFICATE_VERIFY_FAILED" in str(exc) or isinstance(
        exc.__cause__ or exc.__context__, ssl.SSLCertVerificationError
    ):
        return Failure.TLS_REJECTED
    if isinstance(exc, ConnectError | ConnectTimeout | PoolTimeout):
        return Failure.NOT_SENT
    if isinstance(exc, TimeoutException):
        return Failure.TIMEOUT
    return Failure.CONNECTION_LOST


#: How much of an error answer (CoreHub's ``message``, else its body) is quoted.
MESSAGE_LIMIT = 500


def _message(response: Response) -> str:
    """CoreHub's ``message`` when it gives one, else the body (not yet masked nor cut)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return response.text or response.reason_phrase


def _masked_fields(value: Any, mask: answers.Mask) -> Any:
    """An event's fields with every string in them masked (paths, ids, CoreHub's words)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _masked_fields(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked_fields(v, mask) for v in value]
    return value


class CoreHubClient(ClosesClient):
    """One CoreHub session; every call shares ``deadline``."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        tls: TLSOptions | None = None,
        options: ClientOptions | None = None,
        deadline: Deadline | None = None,
        events: EventSink | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.__password = password
        self.__token: str | None = None
        self.tls = tls or TLSOptions()
        self.options = options or ClientOptions()
        self.deadline = deadline or Deadline(3600.0)
        sink = events or _log_event
        # Events reach the pod log and the run's logTail: whatever CoreHub said in them
        # (a command's answer, entity ids, a retry's cause) is masked on the way out.
        self.events: EventSink = lambda step, fields: sink(step, _masked_fields(fields, self.mask))
        self.sleep = sleep
        self._rand = rand
        if self.tls.insecure_skip_verify and self.base_url.startswith("https:"):
            self.events(
                "tls",
                {
                    "level": "warning",
                    "message": "CoreHub's certificate is NOT verified (insecure_skip_verify)",
                },
            )
        # A plain-http CoreHub needs no certificate store: loading the system's (the
        # runner does it on every start) cost 15-30 ms before the first request. Any
        # other scheme is verified.
        plain_http = self.base_url.lower().startswith("http://")
        self._http = Client(
            base_url=self.base_url,
            verify=False if plain_http else ssl_context(self.tls),
            trust_env=False,
            timeout=None,
        )

    def __repr__(self) -> str:
        return f"CoreHubClient({self.base_url!r})"

    def _said(self, response: Response) -> str:
        """CoreHub's message, with any credential it echoes (e.g. the login name) masked
        before it is cut (so no prefix of one survives the cut)."""
        text = self.mask(_message(response))
        return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"

    def mask(self, text: str) -> str:
        """``text`` (anything CoreHub said) with this session's credentials masked."""
        return mask_secrets(text, (self.username, self.__password, self.__token))

    # ------------------------------------------------------------------ transport

    def _send(
        self,
        method: str,
        path: str,
        params: Params = (),
        *,
        json: Any = None,
        authenticated: bool = True,
        idempotent: bool = True,
        first_attempt: int = 1,
    ) -> Response:
        """One request with retries; returns any non-retryable response.

        A non-idempotent request (a command) whose answer was lost after it may have
        reached CoreHub raises ``AnswerLostError`` instead of being re-sent.
        """
        attempt = first_attempt - 1
        while True:
            attempt += 1
            remaining = self.deadline.remaining()
            if remaining <= 0:
                raise CoreHubTimeoutError(
                    f"the run's {self.deadline.seconds:g}s deadline passed before {method} {path}"
                )
            headers = {"Accept": "application/json"}
            if authenticated and self.__token:
                headers["Authorization"] = f"Bearer {self.__token}"
            timeout = Timeout(
                min(self.options.read_timeout, remaining),
                connect=min(self.options.connect_timeout, remaining),
            )
            status: int | None = None
            failure: Failure | None = None
            retry_after: float | None = None
            try:
                response = self._http.request(
                    method, paths.target(path, params), json=json, headers=headers, timeout=timeout
                )
            except TransportError as exc:
                failure = classify(exc)
                cause = f"{type(exc).__name__}: {exc}"
                if failure is not Failure.NOT_SENT and self.deadline.expired():
                    raise CoreHubTimeoutError(
                        f"the run's {self.deadline.seconds:g}s deadline passed during "
                        f"{method} {path}"
                    ) from None
            else:
                status = response.status_code
                if status not in (429, 502, 503, 504):
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                cause = f"HTTP {status}: {self._said(response)}"
            decision = decide(
                attempt,
                status=status,
                failure=failure,
                idempotent=idempotent,
                retry_after=retry_after,
                remaining=self.deadline.remaining(),
                policy=self.options.retry,
                rand=self._rand(),
            )
            if not decision.retry:
                text = f"{method} {path}: {cause}; {decision.reason}"
                if decision.verify:
                    raise AnswerLostError(text, attempt)
                if decision.out_of_time:
                    raise CoreHubTimeoutError(text)
                raise CoreHubUnreachableError(text)
            self.events(
                "retry",
                {
                    "method": method,
                    "path": path,
                    "attempt": attempt,
                    "cause": cause,
                    "delaySeconds": round(decision.delay, 3),
                },
            )
            self.sleep(decision.delay)

    def login(self, reason: str = "new session") -> None:
        self.events("login", {"url": self.base_url, "reason": reason})
        response = self._send(
            "POST",
            paths.path(paths.LOGIN),
            json={"username": self.username, "password": self.__password},
            authenticated=False,
        )
        if response.status_code not in SUCCESS_STATUSES:
            raise AuthenticationError(
                f"login refused ({response.status_code}): {self._said(response)}"
            )
        try:
            token = response.json().get("apiToken")
        except (ValueError, AttributeError):
            token = None
        if not token:
            raise AuthenticationError("login answered without an apiToken")
        self.__token = str(token)

    def call(
        self,
        method: str,
        path: str,
        params: Params = (),
        *,
        idempotent: bool = True,
        first_attempt: int = 1,
        what: str | None = None,
    ) -> Any:
        """An authenticated call; its JSON body. On 401, one re-login.

        ``what`` names what a read returns: a 2xx without a JSON body is then an
        ``UnusableAnswerError`` saying so. A command's body is optional (None when empty
        or not JSON): what the command did is read from CoreHub's state, not its answer.
        """
        if self.__token is None:
            self.login()
        response = self._send(
            method, path, params, idempotent=idempotent, first_attempt=first_attempt
        )
        if response.status_code == 401:
            self.login(reason="token refused (401)")
            response = self._send(method, path, params, idempotent=idempotent)
            if response.status_code == 401:
                raise AuthenticationError(
                    f"{method} {path}: a fresh token was refused too: {self._said(response)}"
                )
        if response.status_code not in SUCCESS_STATUSES:
            raise TaskRejectedError(response.status_code, self._said(response), method, path)
        try:
            return response.json()
        except ValueError:
            if what is None:
                return None  # no body, or not JSON: a command's is optional
            kind = response.headers.get("Content-Type") or "no Content-Type"
            detail = (
                f"HTTP {response.status_code} ({kind}) "
                f"{quote(response.text, self.mask) or '(empty)'}"
            )
            raise unusable(what, f"{method} {path}", detail) from None

    # ------------------------------------------------------------------ read calls

    def _read(self, path: str, what: str) -> tuple[Any, str, str]:
        """A read's JSON body (a 2xx without one is unusable), ``what`` and where it came from."""
        return self.call("GET", path, what=what), what, f"GET {path}"

    def pipelines(self) -> list[dict[str, Any]]:
        body, _, where = self._read(paths.path(paths.PIPELINES), "a list of pipelines")
        return pipelines_list(body, where, mask=self.mask)

    def pipeline(self, pipeline_id: str) -> dict[str, Any]:
        path = paths.path(paths.PIPELINE, pipeline=pipeline_id)
        return answers.one_object(*self._read(path, "a pipeline"), mask=self.mask)

    def entities(self, pipeline_id: str) -> list[EntityConfig]:
        """Entity configuration: ``[{"entity": {"entityId", "groupId", ...}}]``."""
        path = paths.path(paths.ENTITIES, pipeline=pipeline_id)
        body, _, where = self._read(path, answers.ENTITIES)
        return answers.entities(body, where, mask=self.mask)

    def groups(self, pipeline_id: str) -> list[dict[str, Any]]:
        path = paths.path(paths.GROUPS, pipeline=pipeline_id)
        return answers.objects(*self._read(path, "a list of groups"), mask=self.mask)

    def entities_status(self, pipeline_id: str) -> dict[str, EntityStatus]:
        """Runtime state by entity id."""
        path = paths.path(paths.ENTITIES_STATUS, pipeline=pipeline_id)
        body, _, where = self._read(path, answers.STATUS)
        return answers.entities_status(body, where, mask=self.mask)

    def snapshot_status(self, pipeline_id: str) -> Any:
        path = paths.path(paths.SNAPSHOT_STATUS, pipeline=pipeline_id)
        return self.call("GET", path, what="snapshot status")

    # ------------------------------------------------------------------ commands

    def command(self, path: str, params: Params = (), verify: Verify | None = None) -> Any:
        """``POST`` a command: re-sent only when CoreHub cannot have acted on it.

        Connection refused, 429 and 503 are re-sent with backoff. When the answer was
        lost after the command may have reached CoreHub, ``verify`` reads CoreHub's state:
        the command is accepted if it took effect (the body is then None), re-sent if it
        did not (counting against the retry budget), and never re-sent when the state
        cannot tell (or without ``verify``): that fails as unreachable, outcome unknown.
        """
        attempt = 1
        while True:
            try:
                return self.call("POST", path, params, idempotent=False, first_attempt=attempt)
            except AnswerLostError as lost:
                if verify is None:
                    raise CoreHubUnreachableError(
                        f"{lost}; outcome unknown: not re-sent, since CoreHub may have acted"
                    ) from None
                applied = verify()
                if applied in (Applied.TOOK_EFFECT, Applied.IN_ERROR):
                    self.events(
                        "verify",
                        {"path": path, "applied": str(applied), "cause": str(lost)},
                    )
                    return None
                if applied is not Applied.NO_EFFECT:
                    raise CoreHubUnreachableError(
                        f"{lost}; outcome unknown: CoreHub's state does not show whether it "
                        f"acted ({applied}), so it is not re-sent"
                    ) from None
                decision = decide(
                    lost.attempt,
                    status=None,
                    failure=Failure.NOT_APPLIED,
                    idempotent=False,
                    retry_after=None,
                    remaining=self.deadline.remaining(),
                    policy=self.options.retry,
                    rand=self._rand(),
                )
                cause = f"{lost}; CoreHub's state shows it did not act"
                if not decision.retry:
                    text = f"{cause}; {decision.reason}"
                    if decision.out_of_time:
                        raise CoreHubTimeoutError(text) from None
                    raise CoreHubUnreachableError(text) from None
                self.events(
                    "retry",
                    {
                        "method": "POST",
                        "path": path,
                        "attempt": lost.attempt,
                        "cause": cause,
                        "delaySeconds": round(decision.delay, 3),
                    },
                )
                self.sleep(decision.delay)
                attempt = lost.attempt + 1

    def send(self, command: Command, verify: Verify | None = None) -> Any:
        """Send one command; the event is emitted once CoreHub has accepted it."""
        body = self.command(command.path, command.params, verify)
        said = body.get("message") if isinstance(body, dict) else None
        answer = None if said is None else quote(said, self.mask)
        self.events(
            "command",
            {"path": command.path, "params": dict(command.params), "answer": answer},
        )
        return body

    def maintenance(self, pipeline_id: str, enter: bool) -> Any:
        action = "enter" if enter else "exit"
        return self.command(
            paths.path(paths.MAINTENANCE_COMMAND, pipeline=pipeline_id, action=action),
            verify=lambda: maintenance_applied(self.pipeline(pipeline_id), enter),
        )
