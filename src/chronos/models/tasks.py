"""The task types beyond CoreHub's sync commands: what a wait task waits for.

``EntityState`` is the state the CoreHub UI derives from ``/entities-status``; the one
mapping from CoreHub's answer to it is ``chronos.corehub.api.entity_state``. It lives
here, below the models, so a ``waitFor`` names exactly the states that mapping returns.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from chronos.models.base import Lax, _Model

#: The longest a wait task may wait: a day. A run's own timeout (spec.timeoutSeconds)
#: still bounds it.
MAX_WAIT_SECONDS = 86_400


class EntityState(StrEnum):
    """The state the CoreHub UI derives from ``/entities-status``."""

    ACTIVE = "Active"
    HOLD = "Hold"
    ERROR = "Error"
    WARNING = "Warning"


class WaitFor(_Model):
    """For entity_wait and group_wait tasks: the state every named entity must reach."""

    state: Annotated[EntityState, Lax] = Field(
        description=(
            "Active (sync or snapshot running), Hold (stopped), Error or Warning (CoreHub's "
            "error state, by its severity). The task succeeds once every entity (for a "
            "group, every entity in it) is in this state at the same read."
        )
    )
    timeout_seconds: int = Field(
        ge=1,
        le=MAX_WAIT_SECONDS,
        description=(
            "How long to wait before the run fails with reason Timeout; the run's "
            "timeoutSeconds still applies."
        ),
    )
