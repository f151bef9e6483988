"""The runner's configuration: the CHRONOS_* variables of chronos.contract."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from chronos.contract import TERMINATION_MESSAGE_PATH
from chronos.corehub import MIGRATION_START_TIMEOUT
from chronos.models.chains import RunCause
from chronos.models.chronosjob import DEFAULT_HISTORY, MAX_HISTORY, RunTrigger, Task
from chronos.models.params import RunParameters
from chronos.schedule import validate_time_zone
from chronos.settings import ComponentSettings


class RunnerSettings(ComponentSettings):
    # The Job template sets optional values to "" (e.g. an absent trigger annotation
    # through the downward API): empty means "use the default".
    ignore_empty: ClassVar[bool] = True

    job_name: str | None = Field(
        default=None, description="The ChronosJob; without it the status is not written."
    )
    job_namespace: str | None = Field(default=None, description="The ChronosJob's namespace.")
    run_id: str | None = Field(
        default=None, description="The run's id (the Job's name); defaults to the pod name."
    )
    pod_name: str | None = Field(default=None, description="The pod's name.")
    trigger: RunTrigger = Field(
        default=RunTrigger.SCHEDULE, description="What started the run: schedule or run-now."
    )
    task: Task = Field(description="JSON of the ChronosJob's spec.task (camelCase).")
    parameters: RunParameters | None = Field(
        default=None,
        description=(
            "A run-now's parameters (JSON, camelCase): overrides of this run's task, "
            "within what the task type allows (chronos.models.params)."
        ),
    )
    timeout_seconds: float = Field(
        default=1800.0, gt=0, description="Overall deadline of the run, in seconds."
    )
    history_limit: int = Field(
        default=DEFAULT_HISTORY, ge=1, le=MAX_HISTORY, description="Entries kept in status.history."
    )
    corehub_url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$", description="CoreHub base URL.")
    corehub_username: str = Field(min_length=1, description="CoreHub user (from a Secret).")
    corehub_password: SecretStr = Field(description="CoreHub password (from a Secret).")
    corehub_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle that signs CoreHub's certificate."
    )
    corehub_insecure_skip_verify: bool = Field(
        default=False, description="Skip CoreHub certificate checks (logged as a warning)."
    )
    termination_message_path: Path = Field(
        default=Path(TERMINATION_MESSAGE_PATH),
        description="Where the run's record is written for the operator.",
    )
    schedule: str | None = Field(
        default=None, description="The name of the schedule whose CronJob started the run."
    )
    scheduled_time: datetime | None = Field(
        default=None,
        description=(
            "The slot the run serves (RFC 3339), when its pod carries the "
            "batch.kubernetes.io/cronjob-scheduled-timestamp annotation; else taken from "
            "the run id's minute suffix."
        ),
    )
    time_zone: str | None = Field(
        default=None, description="The job's time zone: the slot's wall time in history."
    )
    jitter_seconds: int = Field(
        default=0,
        ge=0,
        le=3600,
        description=(
            "spec.jitterSeconds: wait a deterministic per-slot delay of up to this many "
            "seconds after the slot before acting (at most half the timeout)."
        ),
    )
    cause: RunCause | None = Field(
        default=None,
        description=(
            "For a chain run: the upstream run that started it (JSON, from the pod's "
            "cause annotation), recorded with the run."
        ),
    )
    corehub_command_interval_seconds: float = Field(
        default=2.0,
        ge=0,
        description="Pause between per-entity commands (the original Chronos waited 2 s).",
    )

    corehub_migration_start_timeout_seconds: float = Field(
        default=MIGRATION_START_TIMEOUT,
        gt=0,
        description=(
            "How long a snapshot or redo may show no sign that its migration started before"
            " it fails as Timeout (migration never started)."
        ),
    )

    @field_validator("time_zone")
    @classmethod
    def _zone_known(cls, value: str | None) -> str | None:
        if value is not None:
            validate_time_zone(value)
        return value

    @field_validator("corehub_ca_file")
    @classmethod
    def _ca_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no CA bundle at {value}")
        return value
