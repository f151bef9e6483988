"""Property-based run over the published OpenAPI document: no input ever causes a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fixtures_api import ApiServer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from chronos.api.app import create_app
from chronos.api.settings import ApiSettings

pytestmark = pytest.mark.cluster


# The very document /openapi.json serves (create_app builds it without starting up).
schema = schemathesis.openapi.from_dict(create_app(ApiSettings()).openapi())


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors(
    case: Any, api_server: ApiServer, editor_token: str, namespace: str
) -> None:
    # Half the cases act in the editor's namespace (real writes), half where they choose.
    if case.query is not None and len(str(case.query.get("namespace"))) % 2:
        case.query["namespace"] = namespace
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {editor_token}"}
    response = case.call(base_url=api_server.url)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
