"""The OpenAPI document refuses the job bodies the server refuses for their own sake,
and takes the ones it takes.

Each case was found by schemathesis' stateful phase (issue 17, finding 12): a body the
document allowed yet answered 422 whatever job it was sent to, or (the entity ids case)
one the document refused yet the server rightly took. Each pairs a refused body with
the nearest one the server takes.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from chronos.api.app import create_app
from chronos.api.errors import ProblemError
from chronos.api.mapping import RequestShapeError, apply_request
from chronos.api.services import validate_spec
from chronos.api.settings import ApiSettings

DOCUMENT = create_app(ApiSettings()).openapi()


def _valid(schema_name: str, body: dict[str, Any]) -> bool:
    """``body`` against the document's schema, as schemathesis reads it (OpenAPI 3.1 is
    JSON Schema 2020-12)."""
    schema = {
        "$ref": f"#/components/schemas/{schema_name}",
        "components": DOCUMENT["components"],
    }
    return bool(jsonschema_rs.Draft202012Validator(schema).is_valid(body))


def _server_takes(body: dict[str, Any], spec: dict[str, Any]) -> bool:
    try:
        validate_spec(apply_request(spec, body), "UTC", 60)
    except (ProblemError, RequestShapeError):
        return False
    return True


ENTITY_JOB = {
    "task": {"type": "entity_start", "pipelineId": "p", "entityIds": ["e"]},
    "schedule": {"cron": "0 0 * * *"},
}
GROUP_JOB = {
    "task": {"type": "group_start", "pipelineId": "p", "groupIds": ["g"]},
    "schedule": {"cron": "0 0 * * *"},
}

CASES = [
    pytest.param(
        "JobUpdate",
        {"entity_ids": [], "entity_id": "0", "group_ids": ["g1", "g2"]},
        {"group_ids": ["g1", "g2"]},
        GROUP_JOB,
        id="entity-and-group-ids-together",
    ),
    pytest.param(
        "JobUpdate",
        {"task_type": "entity_redo", "entity_ids": []},
        {"task_type": "entity_redo", "entity_ids": [], "entity_id": "e"},
        ENTITY_JOB,
        id="entity-ids-cleared-on-an-entity-task",
    ),
    pytest.param(
        "JobCreate",
        {
            "name": "n",
            "task_type": "ENTITY_STOP",
            "pipeline_id": "0",
            "entity_id": "e",
            "cron_expression": "@monthly",
            "schedule": {"days_of_week": ["monday"], "hour": 15},
        },
        {
            "name": "n",
            "task_type": "ENTITY_STOP",
            "pipeline_id": "0",
            "entity_id": "e",
            "cron_expression": "@monthly",
            "schedule": {"days_of_week": ["monday"], "hour": 15, "minute": 0},
        },
        {},
        id="friendly-form-without-minute-beside-cron",
    ),
]


@pytest.mark.parametrize(("schema", "refused", "taken", "stored"), CASES)
def test_the_document_refuses_what_every_job_refuses(
    schema: str, refused: dict[str, Any], taken: dict[str, Any], stored: dict[str, Any]
) -> None:
    for job in (ENTITY_JOB, GROUP_JOB, {}):
        assert not _server_takes(refused, job)
    assert not _valid(schema, refused)
    assert _server_takes(taken, stored)
    assert _valid(schema, taken)
