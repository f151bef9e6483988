"""Settings from environment variables, shared by every component.

Each component declares its own :class:`ComponentSettings` subclass; all variables
share the ``CHRONOS_`` prefix. An unknown ``CHRONOS_*`` variable is an error at start
(with the closest known name suggested), so a typo never silently falls back to a
default.

A plain pydantic model read by :meth:`ComponentSettings.from_env`, not
pydantic-settings: the runner starts once per run, and pydantic-settings (with the
pydantic dataclasses and dotenv support it imports) cost about a third of its imports
(docs/performance.md). What the project used of it is here: the prefix, JSON for
structured fields, and, where a component asks, empty meaning unset.
"""

from __future__ import annotations

import difflib
import json
import os
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from chronos.models.chronosjob import MIN_EVERY_SECONDS
from chronos.readiness import DEFAULT_GRACE_SECONDS

PREFIX = "CHRONOS_"


def _known_zone(value: str) -> str:
    # Imported here: the runner has no time-zone setting, and the schedule engine is
    # about 10 ms of imports it would pay on every run (docs/performance.md).
    from chronos.schedule import validate_time_zone

    validate_time_zone(value)
    return value


#: An IANA time zone name that this process's tz database knows.
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]


class SettingsError(ValueError):
    pass


def _structured(annotation: Any) -> bool:
    """Whether a field's value comes as JSON (a model, a mapping, a list …), as
    pydantic-settings decided it: any member of a union that is structured counts."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, Annotated):
        return any(_structured(arg) for arg in typing.get_args(annotation))
    if origin is not None:
        return origin in (dict, list, set, frozenset, tuple, Mapping)
    return isinstance(annotation, type) and issubclass(annotation, (BaseModel, dict, list))


class ComponentSettings(BaseModel):
    # defer_build: a component's validator is built when it first reads its settings, so
    # the runner does not build the settings classes of the others it imports.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    #: Whether an empty variable means "use the default" (the runner's Job template sets
    #: optional values to "", e.g. an absent annotation through the downward API).
    ignore_empty: ClassVar[bool] = False

    @classmethod
    def known_names(cls) -> set[str]:
        return {PREFIX + name.upper() for name in cls.model_fields}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        known = cls.known_names()
        unknown = sorted(k for k in env if k.startswith(PREFIX) and k not in known)
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
            raise SettingsError(
                "unknown setting(s): " + ", ".join(hints) + f"; known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            raw = env.get(PREFIX + name.upper())
            if raw is None or (raw == "" and cls.ignore_empty):
                continue
            if _structured(field.annotation):
                try:
                    values[name] = json.loads(raw)
                except ValueError as exc:
                    raise SettingsError(f"{PREFIX}{name.upper()}: not valid JSON ({exc})") from None
            else:
                values[name] = raw
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{PREFIX}{str(e['loc'][0]).upper()}: {e['msg']}" if e["loc"] else e["msg"]
                for e in exc.errors()
            )
            raise SettingsError(problems) from None


class ScheduleSettings(ComponentSettings):
    """What the operator and the REST facade both enforce: one variable, one meaning."""

    ready_grace_seconds: float = Field(
        default=DEFAULT_GRACE_SECONDS,
        gt=0,
        le=300,
        description=(
            "/readyz turns false once the API server has been unreachable (or the watch "
            "broken) for this long, and true again after the next successful list."
        ),
    )

    min_interval_seconds: int = Field(
        default=MIN_EVERY_SECONDS,
        ge=MIN_EVERY_SECONDS,
        le=86400,
        description=(
            "Shortest time allowed between two runs of a schedule (`@every 30s`, "
            "`*/5 * * * *` …). The REST facade rejects a closer schedule with 422, the "
            "operator marks it Ready=False (ScheduleTooFrequent). At least 60: the CRD "
            "itself refuses `@every` below one minute."
        ),
    )
