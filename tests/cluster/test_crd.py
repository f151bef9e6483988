"""The generated CRD on the real API server: CEL and schema rejections name the field."""

from __future__ import annotations

from typing import Any

import pytest
from builders import spec
from cases import (
    BAD_CALENDARS,
    BAD_CHANNELS,
    BAD_SPECS,
    GOOD_CALENDARS,
    GOOD_CHANNELS,
    GOOD_SPECS,
    HOOK_SECRET,
)
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.types import PatchType

from chronos.devcluster.cluster import Cluster
from chronos.kube import ChronosCalendarResource, ChronosChannelResource, ChronosJobResource
from chronos.models.channels import SPEC_RULES, ChronosChannelSpec
from chronos.models.chronosjob import Schedule

pytestmark = pytest.mark.cluster


def chronos_job(name: str, namespace: str, body: dict[str, Any]) -> Any:
    return ChronosJobResource(metadata=ObjectMeta(name=name, namespace=namespace), spec=body)


@pytest.mark.parametrize(("case", "body", "field"), BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_api_server_rejects_bad_spec_naming_the_field(
    k8s: Client, case: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiError) as info:
        k8s.create(chronos_job("bad", "default", body), dry_run=True)
    assert info.value.status.code == 422, case
    message = info.value.status.message or ""
    assert f"spec.{field}" in message, message


def test_valid_job_is_stored_with_defaults(k8s: Client, namespace: str) -> None:
    body = spec(schedule={"daysOfWeek": ["monday", "wednesday", "friday"], "hour": 8, "minute": 30})
    created = k8s.create(chronos_job("morning", namespace, body))
    stored = k8s.get(ChronosJobResource, "morning", namespace=namespace)
    assert created.metadata is not None
    assert stored.metadata is not None
    assert stored.metadata.uid == created.metadata.uid
    assert stored["spec"]["enabled"] is True
    assert stored["spec"]["concurrencyPolicy"] == "Forbid"
    assert stored["spec"]["task"]["snapshotWriteMethod"] == "UPSERT"


def test_python_and_api_server_agree_on_a_good_spec_for_every_task_type(k8s: Client) -> None:
    for task_type in ("entity", "pipeline", "group"):
        for action in ("start", "stop", "snapshot", "redo"):
            task: dict[str, Any] = {"type": f"{task_type}_{action}", "pipelineId": "p"}
            if task_type != "pipeline":
                task[f"{task_type}Ids"] = ["a", "b"]
            k8s.create(
                chronos_job(f"ok-{task_type}-{action}", "default", spec(task=task)), dry_run=True
            )


@pytest.mark.parametrize(("case", "body"), GOOD_SPECS, ids=[c[0] for c in GOOD_SPECS])
def test_api_server_accepts_good_spec_near_a_rule(
    k8s: Client, case: str, body: dict[str, Any]
) -> None:
    k8s.create(chronos_job("good", "default", body), dry_run=True)


EVERY_PROBES = [
    "@every 1m",
    "@every 60s",
    "@every 60000ms",
    "@every 60000000000ns",
    "@every 1m0.5s",
    "@every .5h",
    "@every 1.h",
    "@every +2m",
    "@every 1h30m",
    "@every 2562047h",
    "@every 59s",
    "@every 59.999999999s",
    "@every 0",
    "@every 0s",
    "@every -1h",
    "@every 1µs",
    "@every 3600000μs",
    "@every 5m ",
    "@every  5m",
    "@every 1d",
    "@every 5",
    "@every .s",
    "@every",
    "@every ",
    "@every 1e3s",
    "@every 0x10m",
    "@every 9999999999999h",
]


def _server_accepts(k8s: Client, body: dict[str, Any]) -> bool:
    """True if the API server takes it; False for a 422 about spec.schedule."""
    try:
        k8s.create(chronos_job("every", "default", body), dry_run=True)
    except ApiError as exc:
        if exc.status.code == 422 and "spec.schedule" in (exc.status.message or ""):
            return False
        raise
    return True


def _python_accepts(cron: str) -> bool:
    try:
        Schedule.model_validate({"cron": cron})
    except ValueError:
        return False
    return True


def test_the_every_floor_is_the_same_rule_in_cel_and_python(k8s: Client) -> None:
    """The CEL expression and its Python twin give the same verdict on each probe."""
    verdicts = {
        cron: (_python_accepts(cron), _server_accepts(k8s, spec(schedule={"cron": cron})))
        for cron in EVERY_PROBES
    }
    assert {c: v for c, v in verdicts.items() if v[0] != v[1]} == {}
    assert verdicts["@every 1m"] == (True, True)
    assert verdicts["@every 59s"] == (False, False)


# ------------------------------------------------------------------ issue 19


def calendar(name: str, namespace: str, body: dict[str, Any]) -> Any:
    return ChronosCalendarResource(metadata=ObjectMeta(name=name, namespace=namespace), spec=body)


@pytest.mark.parametrize(
    ("case", "body", "field"), BAD_CALENDARS, ids=[c[0] for c in BAD_CALENDARS]
)
def test_api_server_rejects_bad_calendar_naming_the_field(
    k8s: Client, case: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiError) as info:
        k8s.create(calendar("bad", "default", body), dry_run=True)
    # An unknown field is a 400 (strict field validation), the rest 422s.
    assert info.value.status.code in (400, 422), case
    message = info.value.status.message or ""
    assert f"spec.{field}" in message, message


@pytest.mark.parametrize(("case", "body"), GOOD_CALENDARS, ids=[c[0] for c in GOOD_CALENDARS])
def test_api_server_stores_a_good_calendar_as_written(
    k8s: Client, namespace: str, case: str, body: dict[str, Any]
) -> None:
    name = f"cal-{GOOD_CALENDARS.index((case, body))}"
    k8s.create(calendar(name, namespace, body))
    stored = k8s.get(ChronosCalendarResource, name, namespace=namespace)
    assert stored["spec"] == body, case


def test_an_old_single_schedule_job_is_stored_without_the_new_fields(
    k8s: Client, namespace: str
) -> None:
    """No CRD default reaches a job that does not use issue 19's fields: a stored job
    reads back as it was written (plus the defaults it always had)."""
    k8s.create(chronos_job("plain", namespace, spec()))
    stored = k8s.get(ChronosJobResource, "plain", namespace=namespace)["spec"]
    assert set(stored) == {
        "task",
        "schedule",
        "timeZone",
        "enabled",
        "concurrencyPolicy",
        "retries",
    }
    assert stored["schedule"] == {"cron": "30 8 * * 1-5"}


def test_printer_columns_show_the_suspension(k8s: Client, namespace: str) -> None:
    body = spec(suspendUntil="2030-01-01T00:00:00Z", suspendReason="freeze")
    k8s.create(chronos_job("paused", namespace, body))
    crd = k8s.get(CustomResourceDefinition, "chronosjobs.chronos.gluesync.io")
    assert crd.spec is not None
    columns = {c.name: c.jsonPath for c in crd.spec.versions[0].additionalPrinterColumns or []}
    assert columns["Suspended Until"] == ".spec.suspendUntil"
    stored = k8s.get(ChronosJobResource, "paused", namespace=namespace)
    assert stored["spec"]["suspendUntil"] == "2030-01-01T00:00:00Z"


# ------------------------------------------------------------------ issue 21


def channel(name: str, namespace: str, body: dict[str, Any]) -> Any:
    return ChronosChannelResource(metadata=ObjectMeta(name=name, namespace=namespace), spec=body)


@pytest.mark.parametrize(("case", "body", "field"), BAD_CHANNELS, ids=[c[0] for c in BAD_CHANNELS])
def test_api_server_rejects_bad_channel_naming_the_field(
    k8s: Client, case: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiError) as info:
        k8s.create(channel("bad", "default", body), dry_run=True)
    # An unknown field is a 400 (strict field validation), the rest 422s.
    assert info.value.status.code in (400, 422), case
    message = info.value.status.message or ""
    assert f"spec.{field}" in message, message


@pytest.mark.parametrize(("case", "body"), GOOD_CHANNELS, ids=[c[0] for c in GOOD_CHANNELS])
def test_api_server_stores_a_good_channel_with_the_models_defaults(
    k8s: Client, namespace: str, case: str, body: dict[str, Any]
) -> None:
    name = f"ch-{GOOD_CHANNELS.index((case, body))}"
    k8s.create(channel(name, namespace, body))
    stored = k8s.get(ChronosChannelResource, name, namespace=namespace)["spec"]
    # The CRD's defaults are the model's: what the operator reads is what it would write.
    expected = ChronosChannelSpec.model_validate(body).model_dump(mode="json", exclude_none=True)
    assert stored == expected, case


def test_channel_rule_messages_are_the_models(k8s: Client) -> None:
    """The API server words a CEL refusal as the Python rule does (one home: SPEC_RULES)."""
    with pytest.raises(ApiError) as info:
        k8s.create(channel("bad", "default", {"type": "slack"}), dry_run=True)
    rule = SPEC_RULES[1]
    assert rule.field_path == ".secretRef"
    assert rule.message.startswith("secretRef is required for types webhook, cloudevents, slack")
    expected = f'spec.secretRef: Invalid value: "object": {rule.message}'
    assert expected in (info.value.status.message or "")


def test_kubectl_shows_the_channel_columns(k8s: Client, cluster: Cluster, namespace: str) -> None:
    k8s.create(channel("ops", namespace, {"type": "webhook", "secretRef": HOOK_SECRET}))
    # The operator writes Ready (status subresource); here the admin stands in for it.
    status = {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "SecretMissing",
                    "message": "Secret 'hook' not found",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ]
        }
    }
    k8s.patch(
        ChronosChannelResource.Status,
        "ops",
        status,
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    lines = cluster.kubectl("get", "chronoschannels", "-n", namespace).splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "READY", "AGE"]
    assert lines[1].split()[:3] == ["ops", "webhook", "False"]
    wide = cluster.kubectl("get", "chchan", "-n", namespace, "-o", "wide").splitlines()
    assert wide[0].split() == ["NAME", "TYPE", "READY", "AGE", "SECRET", "SUSPEND"]
    assert wide[1].split()[-2:] == ["hook", "false"]
    # And in the category every Chronos resource is in.
    assert "chronoschannel.chronos.gluesync.io/ops" in cluster.kubectl(
        "get", "chronos", "-n", namespace, "-o", "name"
    )
