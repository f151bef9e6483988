"""Structured logs: one JSON object per line and per step, on stdout, the last few KiB
of which are also kept for the run's record (``LogTail``)."""

from __future__ import annotations

import json
import sys
from collections import deque
from datetime import UTC, datetime
from typing import Any, TextIO

from chronos.models.chronosjob import MAX_LOG_TAIL

_WARNING_STEPS = frozenset({"retry", "tls"})
#: Marks a line cut to fit the tail.
CUT = "…"


def _clip_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, ending with CUT when cut."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    room = max(0, limit - len(CUT.encode()))
    return raw[:room].decode(errors="ignore") + CUT


class LogTail:
    """The newest lines whose UTF-8 size (with their newlines) stays within ``limit``
    bytes: memory stays bounded however long the run logs. A single line longer than
    the limit is kept cut (its start: level, step and message come first)."""

    def __init__(self, limit: int = MAX_LOG_TAIL) -> None:
        self.limit = limit
        self._lines: deque[str] = deque()
        self._size = 0

    def add(self, line: str) -> None:
        line = _clip_bytes(line.rstrip("\n"), self.limit - 1)
        self._lines.append(line)
        self._size += len(line.encode()) + 1
        while self._size > self.limit:
            self._size -= len(self._lines.popleft().encode()) + 1

    def text(self) -> str:
        return "".join(f"{line}\n" for line in self._lines)


class JsonLog:
    def __init__(
        self, stream: TextIO | None = None, tail: LogTail | None = None, **context: Any
    ) -> None:
        self.stream = stream or sys.stdout
        self.tail = tail if tail is not None else LogTail()
        self.context = context

    def event(self, step: str, message: str = "", *, level: str = "info", **fields: Any) -> None:
        line: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "step": step,
            **self.context,
        }
        if message:
            line["message"] = message
        line.update(fields)
        text = json.dumps(line, default=str, ensure_ascii=False)
        self.stream.write(text + "\n")
        self.stream.flush()
        self.tail.add(text)

    def corehub(self, step: str, fields: dict[str, Any]) -> None:
        """The CoreHub client's event sink."""
        fields = dict(fields)
        level = str(fields.pop("level", "warning" if step in _WARNING_STEPS else "info"))
        message = str(fields.pop("message", ""))
        self.event(step, message, level=level, **fields)
