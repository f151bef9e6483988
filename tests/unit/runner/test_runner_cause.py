"""A chain run's cause (issue 20): the runner reads it from CHRONOS_CAUSE (the pod's
cause annotation) and records it with the run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chronos import contract
from chronos.models.chains import RunCause
from chronos.runner.outcome import ExitCode, build_record
from chronos.runner.settings import RunnerSettings
from chronos.settings import SettingsError

ENV = {
    contract.ENV_COREHUB_URL: "https://corehub:1717",
    contract.ENV_COREHUB_USERNAME: "u",
    contract.ENV_COREHUB_PASSWORD: "pw",
    contract.ENV_TASK: '{"type": "pipeline_start", "pipelineId": "p"}',
    contract.ENV_TRIGGER: "chain",
}


def test_the_cause_is_read_and_recorded() -> None:
    cause = {"job": "extract", "runId": "extract-1", "result": "succeeded"}
    settings = RunnerSettings.from_env({**ENV, contract.ENV_CAUSE: json.dumps(cause)})
    assert settings.cause == RunCause.model_validate(cause)
    now = datetime.now(UTC)
    record = build_record(
        run_id="load-c-1",
        trigger=settings.trigger,
        start=now,
        end=now,
        code=ExitCode.SUCCESS,
        message="ok",
        cause=settings.cause,
    )
    assert record.model_dump(mode="json")["cause"] == cause
    assert record.trigger == "chain"


def test_no_cause_when_the_annotation_is_absent() -> None:
    # The downward API gives "" for a missing annotation: every run but a chain run.
    assert RunnerSettings.from_env({**ENV, contract.ENV_CAUSE: ""}).cause is None


def test_a_malformed_cause_is_a_clear_configuration_error() -> None:
    with pytest.raises(SettingsError, match="CHRONOS_CAUSE"):
        RunnerSettings.from_env({**ENV, contract.ENV_CAUSE: '{"job": 1}'})
