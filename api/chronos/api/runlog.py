"""A run's log for the dashboard: read from its pod as the caller, or the tail kept with
the run, streamed as Server-Sent Events, and each line taken apart for people to read.

Every Kubernetes call here is made with the caller's own token (``acting_as``): the
facade holds no right on pods, so RBAC decides who reads which log (``list`` pods to
find the run's pod, ``get`` ``pods/log`` to read it). The pure parts (timestamps,
resume cursors, SSE framing) come first and are unit-tested without a cluster.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources import core_v1
from lightkube.resources.core_v1 import Pod

from chronos import http, kubewire
from chronos.api.auth import acting_as
from chronos.api.cache import plain
from chronos.kube import FORBIDDEN, answered
from chronos.notify.send import header_value

#: Lines a page shows and keeps (the first read asks the pod for this many, the page's
#: script drops older ones as new ones arrive).
MAX_LINES = 1000
#: The label the Job controller puts on its pods (the runner's run id is the Job name).
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"

# ------------------------------------------------------------------------ pure parts


def split_line(raw: str) -> tuple[str, str]:
    """``"<RFC 3339 time> <text>"`` (a log read with ``timestamps=true``) -> both parts."""
    stamp, _, text = raw.rstrip("\r\n").partition(" ")
    return stamp, text


def _order(stamp: str) -> str:
    """A key that sorts RFC 3339 UTC times as times: the API server writes RFC3339Nano,
    which drops trailing zeros of the fraction, so plain string order is wrong."""
    body = stamp.removesuffix("Z")
    whole, _, fraction = body.partition(".")
    return f"{whole}.{fraction.ljust(9, '0')[:9]}"


@dataclass(frozen=True)
class Cursor:
    """The last line a reader has: its time and how many lines with that very time it
    has seen (two lines can share a timestamp). An SSE event id is a cursor."""

    stamp: str
    count: int = 1

    @property
    def id(self) -> str:
        return f"{self.stamp}#{self.count}"

    @staticmethod
    def parse(text: str | None) -> Cursor | None:
        if not text:
            return None
        stamp, _, count = text.strip().partition("#")
        if not stamp or " " in stamp or len(stamp) > 64:
            return None
        return Cursor(stamp, int(count) if count.isdigit() else 1)


class Resume:
    """Follows the lines of a log read from ``since``: the API server's ``sinceTime`` has
    whole seconds, so a resumed read repeats lines the reader already has; those are
    dropped here and every other line gets its cursor."""

    def __init__(self, since: Cursor | None) -> None:
        self.since = since
        self.last: Cursor | None = None

    def accept(self, stamp: str) -> Cursor | None:
        """The line's cursor, or None when the reader has the line already."""
        count = self.last.count + 1 if self.last and self.last.stamp == stamp else 1
        self.last = Cursor(stamp, count)
        since = self.since
        if since is not None:
            if _order(stamp) < _order(since.stamp):
                return None
            if _order(stamp) == _order(since.stamp) and count <= since.count:
                return None
        return self.last


def sse(event: str, data: str, event_id: str | None = None) -> bytes:
    """One Server-Sent Event. A line break in ``data`` becomes a second ``data:`` line
    (the browser joins them with a newline), so text can never end the event early or
    forge a field."""
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out = [f"event: {event}"]
    if event_id is not None:
        out.append(f"id: {event_id}")
    out += [f"data: {line}" for line in lines]
    return ("\n".join(out) + "\n\n").encode()


@dataclass(frozen=True)
class LogLine:
    stamp: str
    text: str
    cursor: str


@dataclass(frozen=True)
class PodState:
    name: str
    #: The runner container has ended (the log is complete).
    terminated: bool
    #: Why the container ended (Completed, Error, ...), when it has.
    reason: str
    #: The container has run (a pod still waiting for a node or its image has no log).
    started: bool = True


def pod_state(pod: dict[str, Any]) -> PodState:
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ended = [(s.get("state") or {}).get("terminated") for s in statuses]
    terminated = bool(statuses) and all(ended)
    if status.get("phase") in ("Succeeded", "Failed"):
        terminated = True
    reason = next((str(t.get("reason") or "") for t in ended if t), "") or str(
        status.get("phase") or ""
    )
    states = [s.get("state") or {} for s in statuses]
    started = terminated or any("running" in st or "terminated" in st for st in states)
    return PodState(str(metadata.get("name") or ""), terminated, reason, started)


def newest(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The run's latest pod (a retried run has one pod per attempt)."""
    stamp = lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or "")  # noqa: E731
    return max(pods, key=stamp, default=None)


# ----------------------------------------------------------- lines for people to read

#: How bad each level the runner writes is (``chronos.runner.logs.JsonLog``: debug, info,
#: warning, error; the others are common spellings). The page's level filter shows the
#: lines of a rank and above; a level it does not know counts as info.
LEVEL_RANKS = {
    "debug": 10,
    "info": 20,
    "notice": 20,
    "warn": 30,
    "warning": 30,
    "error": 40,
    "critical": 50,
    "fatal": 50,
}
INFO_RANK = LEVEL_RANKS["info"]
WARNING_RANK = LEVEL_RANKS["warning"]
ERROR_RANK = LEVEL_RANKS["error"]
#: The level filter's choices: (lowest rank shown, label); "" shows every line.
LEVEL_CHOICES = (
    ("", "all levels"),
    (str(INFO_RANK), "info and worse"),
    (str(WARNING_RANK), "warnings and errors"),
    (str(ERROR_RANK), "errors only"),
)
#: The keys every runner line leads with (``JsonLog.event``): shown in the line's head,
#: every other key is folded behind it.
TIME_KEY, LEVEL_KEY, STEP_KEY, MESSAGE_KEY = "time", "level", "step", "message"
_HEAD_KEYS = frozenset({TIME_KEY, LEVEL_KEY, STEP_KEY, MESSAGE_KEY})
#: What a downloaded log's file name keeps of the job and run ids (both have strict
#: patterns already; this only keeps a file system from choking on ``:`` of a slot).
_FILE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Entry:
    """One log line taken apart: a JSON object's head (time, level, step, message) and
    its other fields as text, or, for any other line, only the line itself (``raw``,
    always kept: the raw view, copy and download show it)."""

    raw: str
    structured: bool = False
    time: str = ""
    #: The time of day shown (UTC, to the millisecond), or the logged text as it is.
    clock: str = ""
    level: str = ""
    step: str = ""
    message: str = ""
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def rank(self) -> int:
        return LEVEL_RANKS.get(self.level.lower(), INFO_RANK)

    @property
    def severity(self) -> str:
        """``error`` or ``warning`` for the lines the page marks (with a sign and the
        level's word, not by colour alone), else empty."""
        if not self.structured:
            return ""
        if self.rank >= ERROR_RANK:
            return "error"
        return "warning" if self.rank >= WARNING_RANK else ""


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _clock(stamp: str) -> str:
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return f"{when:%H:%M:%S}.{when.microsecond // 1000:03d}"


def parse_line(raw: str) -> Entry:
    """A log line as the run page shows it: a JSON object becomes time, level, step and
    message with its other fields (in their order; values that are not strings as
    compact JSON); anything else (a cut tail line, a stack trace, a line of another
    program) stays raw text."""
    try:
        found = json.loads(raw)
    except ValueError:
        return Entry(raw)
    if not isinstance(found, dict):
        return Entry(raw)
    stamp = _text(found.get(TIME_KEY, ""))
    return Entry(
        raw,
        structured=True,
        time=stamp,
        clock=_clock(stamp),
        level=_text(found.get(LEVEL_KEY, "")),
        step=_text(found.get(STEP_KEY, "")),
        message=_text(found.get(MESSAGE_KEY, "")),
        fields=tuple((str(k), _text(v)) for k, v in found.items() if k not in _HEAD_KEYS),
    )


#: Where a rendered line (runlog_line.html) keeps the line as logged.
_RAW = re.compile(r'<span class="raw">([^<]*)</span></li>$')


def raw_text(rendered: str) -> str:
    """The line as logged, back from its rendering (a ``line`` event of the live stream):
    for readers of the stream that are not a browser (bench/live_log.py, the tests)."""
    found = _RAW.search(rendered)
    if found is None:
        raise ValueError(f"not a rendered log line: {rendered[:80]!r}")
    return html.unescape(found.group(1))


def steps_of(entries: Iterable[Entry]) -> list[str]:
    """The steps the lines name, in the order they first come (the step filter's)."""
    return list(dict.fromkeys(e.step for e in entries if e.step))


def download_name(job_id: str, run: str) -> str:
    """The file name a downloaded log is saved as."""
    return _FILE_NAME_UNSAFE.sub("_", f"{job_id}-{run}") + ".log"


def attachment(file_name: str) -> str:
    """The ``Content-Disposition`` value that saves a download as ``file_name``, through
    the one header-encoding function (nothing in it can end the header or add one)."""
    quoted = file_name.replace("\\", "_").replace('"', "_")
    return f'attachment; filename="{header_value(quoted)}"'


# ---------------------------------------------------------------------- Kubernetes


class LogUnavailableError(Exception):
    """The pod's log cannot be read for this caller now; the message says why."""

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


def _why(exc: ApiError, what: str, namespace: str) -> LogUnavailableError:
    if answered(exc, FORBIDDEN):
        return LogUnavailableError(
            f'you may not {what} in namespace "{namespace}" (Kubernetes RBAC)', forbidden=True
        )
    return LogUnavailableError(f"Kubernetes answered {exc.status.code}: {exc.status.message}")


class RunLogs:
    """Finds a run's pod and reads or follows its log, as the caller."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def pod(self, token: str | None, namespace: str, run: str) -> PodState | None:
        """The run's newest pod, or None when it has none (not started, or gone)."""

        async def listed() -> list[dict[str, Any]]:
            found = self._client.list(Pod, namespace=namespace, labels={JOB_NAME_LABEL: run})
            return [plain(p) async for p in found]

        try:
            with acting_as(token):
                pods = await listed()
        except ApiError as exc:
            raise _why(exc, "list pods", namespace) from None
        latest = newest(pods)
        return pod_state(latest) if latest else None

    async def lines(
        self,
        token: str | None,
        namespace: str,
        pod: str,
        *,
        follow: bool,
        since: Cursor | None = None,
        tail: int | None = None,
    ) -> AsyncIterator[LogLine]:
        """The pod's log lines after ``since`` (all of them, or the last ``tail``); with
        ``follow`` until the container ends or the API server closes the stream."""
        params: dict[str, Any] = {"timestamps": True, "follow": follow}
        if since is not None:
            params["sinceTime"] = since.stamp
        if tail is not None:
            params["tailLines"] = tail
        # lightkube's own log() has no sinceTime: the same request, one parameter more.
        request = kubewire.get_request(
            self._client,
            core_v1.PodLog,
            name=pod,
            namespace=namespace,
            params=params,
            timeout=http.Timeout(10.0, read=None) if follow else None,
        )
        with acting_as(token):
            response = await kubewire.send(self._client, request)
        try:
            try:
                await kubewire.raise_for_status(response)
            except ApiError as exc:
                raise _why(exc, "get pods/log", namespace) from None
            resume = Resume(since)
            async for raw in response.aiter_lines():
                stamp, text = split_line(raw)
                cursor = resume.accept(stamp)
                if cursor is not None:
                    yield LogLine(stamp, text, cursor.id)
        finally:
            await response.aclose()
