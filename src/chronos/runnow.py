"""Run-now requests on a ChronosJob, as pure functions over its annotations.

Shared by the REST facade (which adds requests) and the operator (which serves them), so
both read and write the annotations the same way. Four annotations (names in
``chronos.contract``):

* ``run-now-pending``: requests accepted but not served yet, ``{token: requestedAt}``.
  Any number may wait, so a burst of distinct keys loses none. Only the operator removes
  an entry, and only in the same write that records it as served.
* ``run-now-done``: tokens served, ``{token: servedAt}``, newest first. A token stays
  for ``WINDOW`` (and among the newest ``SERVED_KEPT``): within it, asking again with the
  same token never starts a second run. The token in ``run-now`` is kept as long as that
  annotation holds it, so an old ``kubectl annotate`` never fires again.
* ``run-now``: one token set by hand (``kubectl annotate``); the operator first copies a
  new value into ``run-now-pending`` and serves it from there. Instead of a bare token it
  may hold ``{"token": "<token>", "parameters": {...}}`` (token first; at most
  ``HAND_SET_MAX_BYTES``): a run with parameters (``chronos.models.params``).
* ``run-now-parameters``: the parameters of pending requests, ``{token: {...}}``, written
  in the same write that adds the token to ``run-now-pending``. Kept apart from
  ``run-now-pending`` so that one stays a flat map the admission policy can count. When
  the token is served its parameters become their digest (``"sha256:..."``), kept as long
  as the token is: asking again with the same token and other parameters is told apart
  (the REST facade answers 409) without keeping every served run's parameters.

Every write of these annotations carries the resourceVersion it was computed from (a
conflict means: read again, compute again), so concurrent writers never drop each
other's tokens. ``requestedAt`` is part of the run-now Job's name: a retry of one request
hits the same name (a conflict, never a second Job), while the same key accepted again
after the window gets a new name, so no two runs ever share a runId.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chronos import contract as c
from chronos.models.params import PARAMETERS_MAX_BYTES, digest
from chronos.times import parse_time, rfc3339

#: How long a served token is remembered: a retry within it never runs again.
WINDOW = timedelta(hours=24)
#: At most this many served tokens are kept (the oldest go first), which bounds the
#: annotation to about 40 KiB even with 128-character keys.
SERVED_KEPT = 256
#: At most this many requests may wait: the REST facade answers 429 beyond it, the
#: admission policy ``<fullname>-job-limits`` refuses a longer list from anyone else
#: (kubectl), and the operator drops what lies beyond it (Event RunNowLimit).
PENDING_MAX = 64
#: A run-now token: the REST facade's Idempotency-Key, or a value set by hand on the
#: ``run-now`` annotation (the admission policy refuses any other).
TOKEN_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"  # noqa: S105 - a pattern, not a password
_TOKEN = TOKEN_PATTERN.strip("^$")
_TIME = r"[-0-9T:.Z+]{1,40}"
_ENTRY = f'"{_TOKEN}":"{_TIME}"'
#: ``run-now-pending`` as this module writes it (compact JSON, valid tokens): what the
#: admission policy accepts, so it can count the entries by their commas. ``[{]``
#: rather than ``\{``: the policy holds it as a CEL string, without escapes to get wrong.
PENDING_PATTERN = f"^[{{]({_ENTRY}(,{_ENTRY})*)?[}}]$"
#: The longest such annotation with PENDING_MAX entries (a cheap first check).
PENDING_MAX_BYTES = 2 + PENDING_MAX * (len('"":"",') + 128 + 40)
_TOKEN_RE = re.compile(TOKEN_PATTERN)
#: The longest ``run-now-parameters`` annotation anyone but the operator may write (the
#: REST facade answers 429 beyond it, the admission policy refuses it; the operator's
#: own writes only shrink it). About 15 requests with the largest parameters waiting.
PARAMETERS_ANNOTATION_MAX_BYTES = 65536
#: The JSON form of the hand-set ``run-now`` annotation, as the admission policy checks
#: it (the operator validates the parameters themselves when it serves the request).
HAND_SET_PATTERN = f'^[{{] *"token" *: *"{_TOKEN}" *(, *"parameters" *: *[{{].*[}}])? *[}}]$'
#: The longest hand-set ``run-now`` annotation: the parameters and room for the token.
HAND_SET_MAX_BYTES = PARAMETERS_MAX_BYTES + 256
_HAND_SET_RE = re.compile(HAND_SET_PATTERN)


def valid_token(token: str) -> bool:
    return _TOKEN_RE.fullmatch(token) is not None


def stamp(when: datetime) -> str:
    """RFC 3339 in UTC with microseconds: distinct for requests a moment apart."""
    return rfc3339(when.astimezone(UTC), "microseconds")


def _load(raw: str | None) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RunNowState:
    #: token -> requestedAt exactly as stored (the Job name is derived from the string).
    pending: dict[str, str]
    #: token -> when it was served.
    served: dict[str, datetime]
    #: The value of the hand-set ``run-now`` annotation, if any.
    annotation: str | None
    #: token -> its parameters (a JSON object) while pending, their digest once served.
    parameters: dict[str, Any]
    #: The token of the hand-set annotation (itself, or its JSON form's ``token``).
    hand_token: str | None = None
    #: The parameters of the hand-set annotation's JSON form, if any.
    hand_parameters: dict[str, Any] | None = None


def parse_hand_set(value: str | None) -> tuple[str | None, dict[str, Any] | None]:
    """The token and parameters of a hand-set ``run-now`` value: a bare token, or the
    JSON form; ``(None, None)`` for a value of neither form."""
    if not value:
        return None, None
    if not value.startswith("{"):
        return value, None
    if len(value.encode()) > HAND_SET_MAX_BYTES or not _HAND_SET_RE.fullmatch(value):
        return None, None
    loaded = _load(value)
    token = loaded.get("token") if isinstance(loaded, dict) else None
    params = loaded.get("parameters") if isinstance(loaded, dict) else None
    if not isinstance(token, str) or not (params is None or isinstance(params, dict)):
        return None, None
    return token, params


def parse(annotations: dict[str, str], now: datetime) -> RunNowState:
    """The run-now state; malformed entries are ignored rather than fatal.

    A ``run-now-done`` in the old format (a JSON list of tokens) counts as served now.
    """
    raw_pending = _load(annotations.get(c.RUN_NOW_PENDING_ANNOTATION))
    pending = (
        {k: v for k, v in raw_pending.items() if isinstance(v, str) and parse_time(v)}
        if isinstance(raw_pending, dict)
        else {}
    )
    raw_served = _load(annotations.get(c.RUN_NOW_DONE_ANNOTATION))
    served: dict[str, datetime] = {}
    if isinstance(raw_served, dict):
        for token, value in raw_served.items():
            when = parse_time(value)
            if when is not None:
                served[token] = when
    elif isinstance(raw_served, list):
        served = {t: now for t in raw_served if isinstance(t, str)}
    annotation = annotations.get(c.RUN_NOW_ANNOTATION) or None
    raw_params = _load(annotations.get(c.RUN_NOW_PARAMETERS_ANNOTATION))
    params = (
        {k: v for k, v in raw_params.items() if isinstance(v, dict | str)}
        if isinstance(raw_params, dict)
        else {}
    )
    hand_token, hand_parameters = parse_hand_set(annotation)
    return RunNowState(
        pending=pending,
        served=served,
        annotation=annotation,
        parameters=params,
        hand_token=hand_token,
        hand_parameters=hand_parameters,
    )


def parameters_of(state: RunNowState, token: str) -> dict[str, Any] | None:
    """The parameters a pending request was made with (None: without)."""
    found = state.parameters.get(token)
    return found if isinstance(found, dict) else None


def same_parameters(state: RunNowState, token: str, requested: dict[str, Any] | None) -> bool:
    """Whether a known ``token`` was asked for with these parameters (compared by
    digest, so also once it was served)."""
    stored = state.parameters.get(token)
    known = stored if isinstance(stored, str) else digest(stored)
    return known == digest(requested)


def is_known(state: RunNowState, token: str, now: datetime) -> bool:
    """Pending, or served within the window: asking again starts nothing."""
    if token in state.pending:
        return True
    served = state.served.get(token)
    return served is not None and (now - served < WINDOW or token == state.hand_token)


def waiting(state: RunNowState, now: datetime) -> list[tuple[str, str]]:
    """Every pending request not served yet, oldest first: ``(token, requestedAt)``."""
    found = [
        (t, at)
        for t, at in state.pending.items()
        if t not in state.served or now - state.served[t] >= WINDOW
    ]
    return sorted(found, key=lambda item: (parse_time(item[1]) or now, item[0]))


def queue(state: RunNowState, now: datetime) -> list[tuple[str, str]]:
    """The requests to serve, oldest first: at most PENDING_MAX, whatever a hand-written
    annotation holds, so one write never makes the operator start unbounded work."""
    return waiting(state, now)[:PENDING_MAX]


def excess(state: RunNowState, now: datetime) -> list[str]:
    """Tokens of the requests beyond PENDING_MAX (the newest): dropped, never served."""
    return [t for t, _ in waiting(state, now)[PENDING_MAX:]]


def unadopted(state: RunNowState, now: datetime) -> str | None:
    """The hand-set token, if it still has to be copied into the pending requests."""
    token = state.hand_token
    # A token admission would refuse (set before the policy existed) is never adopted:
    # the write that adopts it would be refused, again and again.
    if token is None or not valid_token(token) or is_known(state, token, now):
        return None
    return token


def _dump_pending(pending: dict[str, Any]) -> str:
    return json.dumps(pending, separators=(",", ":"))


def request_patch(
    state: RunNowState, token: str, now: datetime, parameters: dict[str, Any] | None = None
) -> dict[str, str]:
    """Annotations that add ``token`` to the pending requests, with its ``parameters``
    (camelCase JSON of ``RunParameters``) if any (the caller checked ``is_known``)."""
    patch = {c.RUN_NOW_PENDING_ANNOTATION: _dump_pending({**state.pending, token: stamp(now)})}
    if parameters is not None:
        patch[c.RUN_NOW_PARAMETERS_ANNOTATION] = _dump_pending(
            {**state.parameters, token: parameters}
        )
    return patch


def prune(
    served: dict[str, datetime], now: datetime, keep: str | None = None
) -> dict[str, datetime]:
    """Served tokens within the window, newest first, at most SERVED_KEPT; ``keep`` (the
    hand-set token) stays regardless."""
    newest = sorted(served.items(), key=lambda item: item[1], reverse=True)
    kept = [(t, at) for t, at in newest if now - at < WINDOW][:SERVED_KEPT]
    result = dict(kept)
    if keep is not None and keep in served and keep not in result:
        result[keep] = served[keep]
    return result


def served_patch(
    state: RunNowState, tokens: list[str], now: datetime, dropped: list[str] | None = None
) -> dict[str, str | None]:
    """Annotations that move ``tokens`` from pending to served (one write, so a token is
    never in neither), pruning served tokens outside the window; ``dropped`` tokens (those
    beyond PENDING_MAX) leave the pending ones without being served."""
    served = prune({**state.served, **dict.fromkeys(tokens, now)}, now, state.hand_token)
    gone = set(tokens) | set(dropped or ())
    pending = {t: at for t, at in state.pending.items() if t not in gone}
    patch: dict[str, str | None] = {
        c.RUN_NOW_PENDING_ANNOTATION: _dump_pending(pending) if pending else None,
        c.RUN_NOW_DONE_ANNOTATION: json.dumps(
            {t: stamp(at) for t, at in served.items()}, separators=(",", ":")
        ),
    }
    if state.parameters:
        # A served request's parameters shrink to their digest; entries of tokens
        # neither pending nor served any more go.
        params = {
            t: digest(p) if t in tokens and isinstance(p, dict) else p
            for t, p in state.parameters.items()
            if t in pending or (t in served and t not in (dropped or ()))
        }
        patch[c.RUN_NOW_PARAMETERS_ANNOTATION] = _dump_pending(params) if params else None
    return patch
