"""Structured logs: one JSON object per line and per step, on stdout."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_WARNING_STEPS = frozenset({"retry", "tls"})


class JsonLog:
    def __init__(self, stream: TextIO | None = None, **context: Any) -> None:
        self.stream = stream or sys.stdout
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
        self.stream.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")
        self.stream.flush()

    def corehub(self, step: str, fields: dict[str, Any]) -> None:
        """The CoreHub client's event sink."""
        fields = dict(fields)
        level = str(fields.pop("level", "warning" if step in _WARNING_STEPS else "info"))
        message = str(fields.pop("message", ""))
        self.event(step, message, level=level, **fields)
