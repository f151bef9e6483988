"""Settings from environment variables, shared by every component.

Each component declares its own :class:`ComponentSettings` subclass; all variables
share the ``CHRONOS_`` prefix. An unknown ``CHRONOS_*`` variable is an error at start
(with the closest known name suggested), so a typo never silently falls back to a
default.
"""

from __future__ import annotations

import difflib
import os
from typing import Annotated, Self

from pydantic import AfterValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from chronos.models.chronosjob import MIN_EVERY_SECONDS
from chronos.readiness import DEFAULT_GRACE_SECONDS
from chronos.schedule import validate_time_zone

PREFIX = "CHRONOS_"


def _known_zone(value: str) -> str:
    validate_time_zone(value)
    return value


#: An IANA time zone name that this process's tz database knows.
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]


class SettingsError(ValueError):
    pass


class ComponentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", frozen=True)

    @classmethod
    def known_names(cls) -> set[str]:
        return {PREFIX + name.upper() for name in cls.model_fields}

    @classmethod
    def from_env(cls) -> Self:
        known = cls.known_names()
        unknown = sorted(k for k in os.environ if k.startswith(PREFIX) and k not in known)
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
            raise SettingsError(
                "unknown setting(s): " + ", ".join(hints) + f"; known: {', '.join(sorted(known))}"
            )
        try:
            return cls()
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
