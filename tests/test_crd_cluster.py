"""The generated CRD on the real API server: CEL and schema rejections name the field."""

from __future__ import annotations

from typing import Any

import pytest
from cases import BAD_SPECS, spec
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta

from chronos.kube import ChronosJobResource

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
