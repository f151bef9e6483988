"""The runner's configuration: the CHRONOS_* variables of chronos.contract."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from chronos.contract import TERMINATION_MESSAGE_PATH
from chronos.models.chronosjob import MAX_HISTORY, RunTrigger, Task
from chronos.settings import ComponentSettings


class RunnerSettings(ComponentSettings):
    # The Job template sets optional values to "" (e.g. an absent trigger annotation
    # through the downward API): empty means "use the default".
    model_config = SettingsConfigDict(env_ignore_empty=True)

    job_name: str | None = None
    job_namespace: str | None = None
    run_id: str | None = None
    pod_name: str | None = None
    trigger: RunTrigger = RunTrigger.SCHEDULE
    task: Task
    timeout_seconds: float = Field(default=1800.0, gt=0)
    history_limit: int = Field(default=20, ge=1, le=MAX_HISTORY)
    corehub_url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")
    corehub_username: str = Field(min_length=1)
    corehub_password: SecretStr
    corehub_ca_file: Path | None = None
    corehub_insecure_skip_verify: bool = False
    termination_message_path: Path = Path(TERMINATION_MESSAGE_PATH)
    #: Pause between per-entity commands (the original Chronos waited 2 s).
    corehub_command_interval_seconds: float = Field(default=2.0, ge=0)

    @field_validator("corehub_ca_file")
    @classmethod
    def _ca_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no CA bundle at {value}")
        return value
