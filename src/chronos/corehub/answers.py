"""CoreHub's answers as pydantic models, parsed where they arrive.

A read whose answer does not have the documented shape (/work/shared/corehub-api.md)
raises ``UnusableAnswerError`` here, so nothing downstream ever sees ``[null]`` or an
HTML page and turns it into "no entities", "not there yet" or a ``TypeError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from chronos.corehub.errors import UnusableAnswerError

#: How much of an unusable answer is quoted in the error: enough to recognise a login
#: page or a proxy's error, not a whole document.
QUOTE_LIMIT = 200
#: Replaces what must never be quoted (credentials) in a text taken from CoreHub. Every
#: quote of an answer takes one, so none can be written without masking.
Mask = Callable[[str], str]
#: What a masked value is replaced with.
MASKED = "***"
#: What each read returns, as error messages name it.
STATUS = "entity status"
ENTITIES = "a list of entities"


#: Validators are built on first use, not at import: the runner starts once per run and
#: sends its first request before it reads any answer (docs/performance.md, runner start).
_LAZY = ConfigDict(defer_build=True)


class _Answer(BaseModel):
    # CoreHub adds fields over releases: only the ones read here are checked.
    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        coerce_numbers_to_str=True,
        defer_build=True,
    )


class EntityStatus(_Answer):
    """One item of ``GET /pipelines/{p}/entities-status``: an entity's runtime state."""

    entity_id: str = Field(alias="entityId", min_length=1)
    is_sync_active: bool = Field(alias="isSyncActive")
    is_migration_active: bool = Field(alias="isMigrationActive")
    #: Listed by MOLO17's clients; an answer without it shows no sign of CoreHub acting.
    is_busy: bool = Field(default=False, alias="isBusy")
    error_state: dict[str, Any] | str | None = Field(default=None, alias="errorState")


class EntityConfig(_Answer):
    """One item of ``GET /pipelines/{p}/entities``: ``{"entity": {...}}`` (or the bare entity)."""

    entity_id: str = Field(alias="entityId", min_length=1)
    #: Required: without it a group task could not tell which entities it acts on.
    group_id: str = Field(alias="groupId", min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("entity"), dict):
            return data["entity"]
        return data


_STATUSES = TypeAdapter(list[EntityStatus], config=_LAZY)
_ENTITIES = TypeAdapter(list[EntityConfig], config=_LAZY)
_OBJECTS = TypeAdapter(list[dict[str, Any]], config=_LAZY)
_OBJECT = TypeAdapter(dict[str, Any], config=_LAZY)

T = TypeVar("T")


def mask_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ``***``, as written or as JSON escapes it.

    The one masking function for CoreHub's answers (the client binds it to its login
    name, password and token). An answer is quoted as JSON, where a password holding
    ``"`` or ``\\`` appears escaped, so the escaped forms are masked too; longest first,
    so a secret that contains another is masked whole.
    """
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.add(secret)
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
            forms.add(json.dumps(secret)[1:-1])
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASKED)
    return text


def quote(body: Any, mask: Mask) -> str:
    """The start of an answer, for an error message: masked first, then made one short line
    (so a secret cut by the limit or split by whitespace is masked all the same)."""
    text = body if isinstance(body, str) else json.dumps(body, default=str, ensure_ascii=False)
    text = " ".join(mask(text).split())
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 1] + "…"


def unusable(what: str, where: str, detail: str) -> UnusableAnswerError:
    return UnusableAnswerError(
        f"CoreHub answered something that is not {what} to {where}: {detail}"
    )


def _problems(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    shown = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in errors[:3]
    )
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return shown + more


def _parse(adapter: TypeAdapter[T], body: Any, what: str, where: str, mask: Mask) -> T:
    try:
        return adapter.validate_python(body)
    except ValidationError as exc:
        # _problems quotes no input (include_input=False), only field names and pydantic's
        # words; the field names are CoreHub's and masked like the rest.
        raise unusable(what, where, mask(f"{quote(body, mask)} ({_problems(exc)})")) from None


def entities_status(body: Any, where: str, *, mask: Mask) -> dict[str, EntityStatus]:
    """``/entities-status``: the runtime state by entity id."""
    return {s.entity_id: s for s in _parse(_STATUSES, body, STATUS, where, mask)}


def entities(body: Any, where: str, *, mask: Mask) -> list[EntityConfig]:
    """``/entities``: the configured entities, in CoreHub's order."""
    return _parse(_ENTITIES, body, ENTITIES, where, mask)


def objects(body: Any, what: str, where: str, *, mask: Mask) -> list[dict[str, Any]]:
    """A list of JSON objects (pipelines, groups): their fields are not read here."""
    return _parse(_OBJECTS, body, what, where, mask)


def one_object(body: Any, what: str, where: str, *, mask: Mask) -> dict[str, Any]:
    return _parse(_OBJECT, body, what, where, mask)
