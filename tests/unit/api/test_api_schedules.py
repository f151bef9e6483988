"""The facade's schedule rules without a server: the minimum interval and the warnings
of the job view (pure functions; the HTTP side is in test_api_validation.py)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, cast

import builders
import pytest

from chronos.api.errors import ProblemError
from chronos.api.mapping import job_view
from chronos.api.previews import ScheduleService
from chronos.api.schemas import PreviewIn
from chronos.api.services import validate_spec
from chronos.api.settings import ApiSettings
from chronos.models.wire import ChronosJobDict
from chronos.operator.settings import OperatorSettings
from chronos.settings import SettingsError

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def spec(cron: str) -> dict[str, Any]:
    """A spec with this cron and no time zone of its own."""
    return builders.spec(schedule={"cron": cron}, timeZone=None)


def test_a_raised_minimum_interval_is_a_422_naming_cron_expression() -> None:
    validate_spec(spec("*/5 * * * *"), "UTC", 300)
    with pytest.raises(ProblemError) as info:
        validate_spec(spec("*/2 * * * *"), "UTC", 300)
    assert info.value.status == 422
    assert info.value.errors is not None
    ((field, reason),) = info.value.errors
    assert field == "cron_expression"
    assert "runs can come 2m apart" in reason
    assert "5m" in reason
    with pytest.raises(ProblemError):
        ScheduleService("UTC", 300).preview(PreviewIn(cron_expression="@every 2m"), NOW)
    assert ScheduleService("UTC", 300).preview(PreviewIn(cron_expression="@every 5m"), NOW)


def test_operator_and_facade_share_the_minimum_interval_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.startswith("CHRONOS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CHRONOS_MIN_INTERVAL_SECONDS", "600")
    assert ApiSettings.from_env().min_interval_seconds == 600
    assert OperatorSettings.from_env().min_interval_seconds == 600
    monkeypatch.setenv("CHRONOS_MIN_INTERVAL_SECONDS", "30")
    with pytest.raises(SettingsError, match="CHRONOS_MIN_INTERVAL_SECONDS"):
        ApiSettings.from_env()


def cr(cron: str, conditions: list[dict[str, Any]] | None = None) -> ChronosJobDict:
    obj = {
        "metadata": {"name": "j", "namespace": "ns"},
        "spec": spec(cron),
        "status": {"conditions": conditions} if conditions else {},
    }
    return cast(ChronosJobDict, obj)


def condition(type: str, status: str, message: str) -> dict[str, Any]:
    return {"type": type, "status": status, "reason": "R", "message": message}


def test_the_job_view_says_when_runs_cannot_happen() -> None:
    view, _ = job_view(cr("0 0 30 2 *"), "UTC", NOW)
    assert view["next_run"] is None
    assert view["ready"] is None
    assert "0 0 30 2 * never fires" in view["status_message"]
    ready = condition("Ready", "True", "CronJob j runs daily")
    view, _ = job_view(cr("@daily", [ready]), "UTC", NOW)
    assert (view["ready"], view["status_message"]) == (True, "CronJob j runs daily")
    blocked = condition("RunsBlocked", "True", "ServiceAccount chronos-runner does not exist")
    view, _ = job_view(cr("@daily", [ready, blocked]), "UTC", NOW)
    assert (view["ready"], view["status_message"]) == (True, blocked["message"])
    refused = condition("Ready", "False", "spec.schedule.cron: runs can come 1m apart")
    view, _ = job_view(cr("* * * * *", [refused, blocked]), "UTC", NOW)
    assert (view["ready"], view["status_message"]) == (False, refused["message"])
    # The facade applies the same minimum as the operator: no next runs it would not make.
    view, _ = job_view(cr("* * * * *"), "UTC", NOW, 300)
    assert view["next_run"] is None
