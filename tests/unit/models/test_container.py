"""The container task's model: its patterns and rules (issue 20, feature 7)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chronos.models import Task

GOOD = {"type": "container", "container": {"image": "registry.example.com:5000/team/export:1.2"}}


def _task(**container: Any) -> dict[str, Any]:
    return {"type": "container", "container": {"image": "busybox:1.36", **container}}


def test_a_container_task_needs_no_pipeline() -> None:
    task = Task.model_validate(GOOD)
    assert task.pipeline_id is None
    assert task.container is not None
    with pytest.raises(ValueError, match="no CoreHub pipeline"):
        _ = task.pipeline


@pytest.mark.parametrize(
    ("task", "field"),
    [
        ({"type": "container", "pipelineId": "p1", **{"container": {"image": "x"}}}, "pipelineId"),
        ({"type": "container"}, "container"),
        ({"type": "pipeline_start"}, "pipelineId"),
        ({"type": "pipeline_start", "pipelineId": "p1", "container": {"image": "x"}}, "container"),
    ],
)
def test_container_and_pipeline_belong_to_their_types(task: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=f"{field}: "):
        Task.model_validate(task)


@pytest.mark.parametrize(
    "image",
    [
        "Busybox",
        "busybox latest",
        "busybox;rm -rf /",
        "$(id)",
        "a/../b",
        "x:tag@sha256:12",
        "a//b",
        "-x",
    ],
)
def test_image_references_are_strict(image: str) -> None:
    with pytest.raises(ValidationError, match="image reference"):
        Task.model_validate(_task(image=image))


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "busybox:1.36",
        "ghcr.io/org/app_x__y:v1.0-rc",
        "localhost:5000/a/b",
        "a@sha256:" + "0" * 64,
    ],
)
def test_image_references_that_are_fine(image: str) -> None:
    assert Task.model_validate(_task(image=image)).container is not None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ([{"name": "1A", "value": "x"}], "environment variable name"),
        ([{"name": "A-B", "value": "x"}], "environment variable name"),
        ([{"name": "CHRONOS_TASK", "value": "x"}], "reserved for Chronos"),
        ([{"name": "A"}], "exactly one of value"),
        (
            [{"name": "A", "value": "x", "secretKeyRef": {"name": "s", "key": "k"}}],
            "exactly one of value",
        ),
        ([{"name": "A", "secretKeyRef": {"name": "S_x", "key": "k"}}], "Secret name"),
        ([{"name": "A", "configMapKeyRef": {"name": "c", "key": "k/x"}}], "Secret key"),
        ([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}], "different name"),
        ([{"name": "A", "value": "a\x1b[2J"}], "control characters"),
    ],
)
def test_env_is_strict(env: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Task.model_validate(_task(env=env))


@pytest.mark.parametrize("quantity", ["-1", "1e9", "1 Gi", "1gi", "0x10", "1.2.3"])
def test_resources_are_plain_quantities(quantity: str) -> None:
    with pytest.raises(ValidationError, match="quantity"):
        Task.model_validate(_task(resources={"limits": {"memory": quantity}}))


def test_references_are_listed_once() -> None:
    task = Task.model_validate(
        _task(
            env=[
                {"name": "A", "secretKeyRef": {"name": "s1", "key": "a"}},
                {"name": "B", "secretKeyRef": {"name": "s1", "key": "b"}},
                {"name": "C", "configMapKeyRef": {"name": "c1", "key": "c"}},
                {"name": "D", "value": "plain"},
            ]
        )
    )
    assert task.container is not None
    assert task.container.secret_names() == ["s1"]
    assert task.container.config_map_names() == ["c1"]


@pytest.mark.parametrize("name", ["Default", "a_b", "-a", "a" * 254])
def test_service_account_names_are_dns_subdomains(name: str) -> None:
    with pytest.raises(ValidationError, match="serviceAccountName"):
        Task.model_validate(_task(serviceAccountName=name))


def test_root_is_refused() -> None:
    with pytest.raises(ValidationError, match="runAsUser"):
        Task.model_validate(_task(runAsUser=0))
