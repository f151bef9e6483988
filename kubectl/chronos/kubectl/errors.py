"""The plugin's one error type: a message for people, and the exit code to leave with."""

from __future__ import annotations


class CliError(Exception):
    """What went wrong, said plainly (printed as ``error: <message>``, never a trace)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
