"""Rules, each written once for every enforcement point.

The API server enforces a rule through the CEL expression (or, for a ``Pattern``, the
schema's ``pattern``) in the generated CRD, the REST facade and the operator through the
Python predicate. Both share the message and the field path, so a client sees the same
words whichever door it came through; the REST facade's OpenAPI document shows the same
pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic.alias_generators import to_camel

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


@dataclass(frozen=True)
class Pattern:
    """A rule on one string's characters: a regular expression both JSON Schema (the
    CRD, the OpenAPI document) and Python read the same way, and the message of a
    mismatch. Keep to the common subset (classes, anchors, ``*``/``{m,n}``)."""

    regex: str
    message: str
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.regex))

    def matches(self, value: str) -> bool:
        return self._compiled.fullmatch(value) is not None

    def as_schema(self) -> dict[str, Any]:
        return {"pattern": self.regex}


#: What a CoreHub id (``pipelineId``, ``entityIds``, ``groupIds``) may hold. The ids
#: documented or captured (/work/shared/corehub-api.md: ``pipeline-123``, ``entity-456``,
#: the default group ``_default``; the fake's ``p1``, ``e1``) and UUIDs all fit: ASCII
#: letters and digits, ``_``, ``-`` and ``.``, not starting with ``-`` or ``.``. These are
#: RFC 3986 unreserved characters, so a valid id goes into a CoreHub path unchanged, and
#: no valid id can be ``.``/``..`` or hold ``/ ? # %``, spaces or control characters
#: (issue 17: ``x/../../path#`` sent the runner's authenticated request elsewhere). The
#: length bound (253) is the field's ``maxLength``. Widen it here, and only here, should
#: a CoreHub be found to use other characters: ``chronos.corehub.paths`` encodes any
#: character anyway.
COREHUB_ID = Pattern(
    r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
    "must be a CoreHub id: ASCII letters, digits, '_', '-' and '.', not starting with '-' or '.'",
)


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


def present_only_for(field: str, types: Sequence[str], message: str) -> Rule[Any]:
    """``field`` required for the task types ``types`` and absent for every other one.

    One list of type values gives both the CEL rule and the Python check, so the two
    cannot name different types. The model the rule is on has ``type`` and ``field``.
    """
    camel = to_camel(field)
    listed = ", ".join(f"'{t}'" for t in types)
    wanted = frozenset(types)
    return Rule(
        cel=f"self.type in [{listed}] ? has(self.{camel}) : !has(self.{camel})",
        message=message,
        field_path=f".{camel}",
        check=lambda m: (str(m.type) in wanted) == (getattr(m, field) is not None),
    )
