"""Cross-field rules, each written once for both enforcement points.

The API server enforces a rule through the CEL expression in the generated CRD, the
REST facade and the operator through the Python predicate. Both share the message and
the field path, so a client sees the same words whichever door it came through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

M = TypeVar("M")


@dataclass(frozen=True)
class Rule(Generic[M]):
    """One cross-field rule: a CEL expression and the equivalent Python predicate."""

    cel: str
    message: str
    #: Relative JSON path (e.g. ``.entityIds``) of the field the message is about.
    field_path: str
    check: Callable[[M], bool]
    #: The CamelCase reason the operator's Ready=False condition gives when a stored
    #: object breaks the rule (objects written before the rule existed); None: InvalidSpec.
    reason: str | None = None

    def as_validation(self) -> dict[str, Any]:
        return {"rule": self.cel, "message": self.message, "fieldPath": self.field_path}


class SpecRuleError(ValueError):
    """Raised by :func:`enforce`; ``field`` is relative to the model the rule is on."""

    def __init__(self, field: str, message: str, reason: str | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.reason = reason


def cel_extension(rules: Sequence[Rule[Any]]) -> dict[str, Any]:
    """The JSON-schema extension that carries the rules into the CRD."""
    return {"x-kubernetes-validations": [r.as_validation() for r in rules]}


def enforce(model: M, rules: Sequence[Rule[M]]) -> M:
    for rule in rules:
        if not rule.check(model):
            raise SpecRuleError(rule.field_path.lstrip("."), rule.message, rule.reason)
    return model
