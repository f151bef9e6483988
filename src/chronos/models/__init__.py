"""The ChronosJob data model (pydantic v2), the single source of truth for the CRD."""

from chronos.models.chronosjob import (
    ChronosJob,
    ChronosJobSpec,
    ChronosJobStatus,
    Schedule,
    Task,
    TaskType,
)
from chronos.models.rules import SpecRuleError

__all__ = [
    "ChronosJob",
    "ChronosJobSpec",
    "ChronosJobStatus",
    "Schedule",
    "SpecRuleError",
    "Task",
    "TaskType",
]
