"""Bad input is a 422 naming the request field, with the model's and engine's reasons."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_api import ApiServer, example_job

from chronos import http
from chronos.api.runs import IDEMPOTENCY_KEY
from chronos.api.schemas import JobUpdate
from chronos.models.chronosjob import TASK_RULES
from chronos.models.rules import COREHUB_ID

pytestmark = pytest.mark.cluster

ENTITY_RULE = TASK_RULES[0].message

BAD: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "hour of the wrong type",
        example_job(schedule={"hour": "eight", "minute": 0}),
        "schedule.hour",
        "integer",
    ),
    ("name missing", {k: v for k, v in example_job().items() if k != "name"}, "name", "required"),
    ("enabled not a bool", example_job(enabled="sometimes"), "enabled", "boolean"),
    # Strict JSON types, as the Kubernetes API has them: no coercion from strings.
    ("enabled 'yes'", example_job(enabled="yes"), "enabled", "boolean"),
    ("enabled 1", example_job(enabled=1), "enabled", "boolean"),
    (
        "hour '8'",
        example_job(schedule={"days_of_week": ["monday"], "hour": "8", "minute": 0}),
        "schedule.hour",
        "integer",
    ),
    ("minute 0.5", example_job(schedule={"hour": 8, "minute": 0.5}), "schedule.minute", "integer"),
    ("with_snapshot 'true'", example_job(with_snapshot="true"), "with_snapshot", "boolean"),
    ("pipeline id a number", example_job(pipeline_id=123), "pipeline_id", "string"),
    ("unknown field", example_job(cron="* * * * *"), "cron", "not permitted"),
    ("unknown task_type", example_job(task_type="entity_launch"), "task_type", "entity_start"),
    ("hour 24", example_job(schedule={"hour": 24, "minute": 0}), "schedule.hour", "23"),
    ("minute 60", example_job(schedule={"hour": 1, "minute": 60}), "schedule.minute", "59"),
    (
        "unknown weekday",
        example_job(schedule={"days_of_week": ["funday"], "hour": 1, "minute": 0}),
        "schedule.days_of_week[0]",
        "monday",
    ),
    ("bad time zone", example_job(timezone="Mars/Olympus"), "timezone", "unknown time zone"),
    ("time zone Local", example_job(timezone="Local"), "timezone", "IANA"),
    (
        # Beside the friendly form a cron_expression is ignored, but held to the document.
        "not a cron beside the friendly form",
        example_job(cron_expression="0"),
        "cron_expression",
        "not a cron expression",
    ),
    (
        "no schedule",
        {k: v for k, v in example_job().items() if k != "schedule"},
        "schedule",
        "required",
    ),
    ("bad cron", example_job(schedule=None, cron_expression="61 * * * *"), "cron_expression", "61"),
    (
        "TZ in cron",
        example_job(schedule=None, cron_expression="TZ=UTC 0 * * * *"),
        "cron_expression",
        "timeZone",
    ),
    (
        "no entity ids for an entity task",
        {k: v for k, v in example_job().items() if k != "entity_id"},
        "entity_ids",
        ENTITY_RULE,
    ),
    ("empty entity ids", example_job(entity_id=None, entity_ids=[]), "entity_ids", ENTITY_RULE),
    (
        "entity ids for a pipeline task",
        example_job(task_type="pipeline_start"),
        "entity_ids",
        "absent",
    ),
    ("both entity forms", example_job(entity_ids=["a"]), "entity_id", "not both"),
    (
        "@every below a minute",
        example_job(schedule=None, cron_expression="@every 30s"),
        "cron_expression",
        "@every needs a positive duration of at least 1m",
    ),
    (
        "negative @every",
        example_job(schedule=None, cron_expression="@every -5m"),
        "cron_expression",
        "at least 1m",
    ),
    # Issue 17: ids become CoreHub path segments; only CoreHub's characters pass.
    ("NUL in the pipeline id", example_job(pipeline_id="p\x00"), "pipeline_id", "CoreHub id"),
    (
        "a path in the pipeline id",
        example_job(pipeline_id="x/../../_fake/state#"),
        "pipeline_id",
        "must be a CoreHub id: ASCII letters, digits",
    ),
    (
        "escape in an entity id",
        example_job(entity_id=None, entity_ids=["a\x1b[0m"]),
        "entity_ids[0]",
        "CoreHub id",
    ),
    (
        "a query in the second entity id",
        example_job(entity_id=None, entity_ids=["a", "b?entity=c"]),
        "entity_ids[1]",
        "CoreHub id",
    ),
    ("dot-dot as the entity id", example_job(entity_id=".."), "entity_ids[0]", "CoreHub id"),
    (
        "a fragment in a group id",
        example_job(task_type="group_stop", entity_id=None, group_ids=["_default", "g#x"]),
        "group_ids[1]",
        "CoreHub id",
    ),
    (
        "an entity id twice",
        example_job(entity_id=None, entity_ids=["a", "b", "a"]),
        "entity_ids",
        "duplicate value 'a' at index 2",
    ),
    ("newline in the name", example_job(name="two\nlines"), "name", "control"),
    (
        "bad write method",
        example_job(snapshot_write_method="MERGE"),
        "snapshot_write_method",
        "UPSERT",
    ),
]


@pytest.mark.parametrize(("case", "body", "field", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_body_is_422_naming_the_field(
    api: http.Client, case: str, body: dict[str, Any], field: str, reason: str
) -> None:
    r = api.post("/api/jobs", json=body)
    assert r.status_code == 422, (case, r.text)
    problem = r.json()
    assert field in [e["field"] for e in problem["errors"]], problem
    reasons = " ".join(e["reason"] for e in problem["errors"] if e["field"] == field)
    assert reason.lower() in reasons.lower(), problem
    assert problem["detail"].startswith(problem["errors"][0]["field"])
    assert api.get("/api/jobs").json()["total"] == 0


def test_a_corehub_task_without_a_pipeline_is_409_naming_it(api: http.Client) -> None:
    """A CoreHub task needs a pipeline, a container task must not have one: a rule
    between two fields that the document leaves out (stating it put POST /api/jobs past
    schemathesis' generator bound), so the server answers it as a conflict."""
    body = {k: v for k, v in example_job().items() if k != "pipeline_id"}
    r = api.post("/api/jobs", json=body)
    assert r.status_code == 409, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["pipeline_id"]
    assert "required" in r.json()["errors"][0]["reason"]
    assert api.get("/api/jobs").json()["total"] == 0


def test_bad_update_is_422_and_changes_nothing(api: http.Client) -> None:
    job_id = api.post("/api/jobs", json=example_job()).json()["id"]
    r = api.put(f"/api/jobs/{job_id}", json={"schedule": {"hour": 25, "minute": 0}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "schedule.hour"
    r = api.put(f"/api/jobs/{job_id}", json={"task_type": "group_start", "group_ids": []})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "group_ids"
    assert api.get(f"/api/jobs/{job_id}").json()["cron_expression"] == "30 8 * * 1,3,5"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"task_type": "group_start"}, "group_ids"),  # no group ids stored
        ({"entity_ids": None}, "entity_ids"),  # an entity task keeps needing them
        ({"group_ids": ["g1"]}, "group_ids"),  # not for an entity task
        # the stored form, with no other given: no schedule (only after may go without)
        ({"schedule": None}, "schedule"),
    ],
)
def test_an_update_only_the_stored_job_refuses_is_409_naming_the_field(
    api: http.Client, body: dict[str, object], field: str
) -> None:
    """The document states a body's own rules, not the stored job's: a body it allows
    that this job's settings refuse is a conflict (schemathesis' stateful run found
    `entity_ids: null` on an entity job answered 422 for a schema-valid request)."""
    job_id = api.post("/api/jobs", json=example_job()).json()["id"]

    def settings() -> dict[str, object]:
        # What a request sets; the status (ready, messages, next runs) is the operator's,
        # which may write it meanwhile.
        job = api.get(f"/api/jobs/{job_id}").json()
        return {k: v for k, v in job.items() if k in JobUpdate.model_fields}

    before = settings()
    r = api.put(f"/api/jobs/{job_id}", json=body)
    assert r.status_code == 409, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert settings() == before


def test_bad_query_parameters_are_422(api: http.Client) -> None:
    assert api.get("/api/jobs", params={"limit": 0}).status_code == 422
    assert api.get("/api/jobs", params={"limit": 10**6}).json()["errors"][0]["field"] == "limit"
    assert api.get("/api/jobs", params={"namespace": "Not_Valid"}).status_code == 422
    r = api.get("/api/jobs", params={"task_type": "unknown"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "task_type"
    assert "entity_start" in r.json()["errors"][0]["reason"]
    for known in ("pipeline_start", "PIPELINE_START"):
        assert api.get("/api/jobs", params={"task_type": known}).status_code == 200


def test_preview_count_is_strict(api: http.Client) -> None:
    r = api.post("/api/schedule/preview", json={"cron_expression": "@daily", "count": "5"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "count"


@pytest.mark.parametrize(
    ("case", "raw", "reason"),
    [
        ("Latin-1, not UTF-8", b'{"name": "Caf\xe9"}', "not UTF-8"),
        ("a lone continuation byte", b'{"name": "\x80"}', "not UTF-8"),
        ("nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, "nested"),
        ("nested 40 deep", b'{"name": ' + b"[" * 40 + b"]" * 40 + b"}", "nested"),
        ("not JSON", b'{"name": ', "not valid JSON"),
    ],
)
def test_undecodable_bodies_are_the_documented_422(
    api: http.Client, case: str, raw: bytes, reason: str
) -> None:
    for method, path in (("POST", "/api/jobs"), ("PUT", "/api/jobs/any")):
        r = api.request(method, path, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (case, r.status_code, r.text)
        problem = r.json()
        assert problem["errors"][0]["field"] == "body", problem
        assert reason in problem["errors"][0]["reason"], problem
        assert problem["detail"] == f"body: {problem['errors'][0]['reason']}"


def test_405_lists_every_method_of_the_path(api: http.Client) -> None:
    for method, path, allowed in (
        ("POST", "/api/jobs/some-job", "GET, PUT, DELETE"),
        ("PATCH", "/api/jobs/some-job", "GET, PUT, DELETE"),
        ("DELETE", "/api/jobs", "GET, POST"),
        ("PUT", "/api/jobs/", "GET, POST"),
        ("GET", "/api/jobs/some-job/run", "POST"),
        ("GET", "/api/jobs/some-job/status", "PATCH"),
        ("GET", "/api/schedule/preview", "POST"),
    ):
        r = api.request(method, path)
        assert r.status_code == 405, (method, path)
        assert r.headers["Allow"] == allowed, (method, path)
        assert r.json() == {"detail": "Method Not Allowed"}


def test_openapi_states_what_is_enforced(api_server: ApiServer) -> None:
    with http.Client(base_url=api_server.url) as public:
        doc = public.get("/openapi.json").json()
    paths = doc["paths"]

    def parameter(path: str, method: str, name: str) -> dict[str, Any]:
        found = [p for p in paths[path][method]["parameters"] if p["name"] == name]
        assert len(found) == 1, (path, method, name)
        return found[0]["schema"]  # type: ignore[no-any-return]

    for path in ("/api/jobs", "/api/jobs/{job_id}/history"):
        limit = parameter(path, "get", "limit")
        assert (limit["minimum"], limit["maximum"]) == (1, api_server.settings.api_max_page_size)
    key = parameter("/api/jobs/{job_id}/run", "post", "Idempotency-Key")
    assert key["anyOf"][0]["pattern"] == IDEMPOTENCY_KEY.pattern
    assert "pipeline_start" in parameter("/api/jobs", "get", "task_type")["enum"]
    # Every CoreHub id, single or in a list, shows the models' pattern (issue 17).
    for model in ("JobCreate", "JobUpdate"):
        fields = doc["components"]["schemas"][model]["properties"]
        for name in ("pipeline_id", "entity_id"):
            assert fields[name]["anyOf"][0]["pattern"] == COREHUB_ID.regex, (model, name)
        for name in ("entity_ids", "group_ids"):
            assert fields[name]["anyOf"][0]["items"]["pattern"] == COREHUB_ID.regex, name
    schedule = doc["components"]["schemas"]["ScheduleIn"]["properties"]
    assert (schedule["hour"]["minimum"], schedule["hour"]["maximum"]) == (0, 23)
    assert (schedule["minute"]["minimum"], schedule["minute"]["maximum"]) == (0, 59)
    get_job = paths["/api/jobs/{job_id}"]["get"]["responses"]
    assert {"304", "403", "404", "502"} <= set(get_job)
    for path, method in (
        ("/api/jobs", "post"),
        ("/api/jobs/{job_id}", "put"),
        ("/api/jobs/{job_id}", "delete"),
        ("/api/jobs/{job_id}/status", "patch"),
        ("/api/jobs/{job_id}/run", "post"),
    ):
        assert {"400", "403", "422", "502"} <= set(paths[path][method]["responses"]), path
    for operations in paths.values():
        for operation in operations.values():
            assert {"401", "422", "502"} <= set(operation["responses"])


def test_limit_above_the_documented_maximum_is_422(api_server: ApiServer, api: http.Client) -> None:
    top = api_server.settings.api_max_page_size
    assert api.get("/api/jobs", params={"limit": top}).status_code == 200
    r = api.get("/api/jobs", params={"limit": top + 1})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "limit"


def test_schedule_preview(api: http.Client) -> None:
    r = api.post(
        "/api/schedule/preview",
        json={
            "schedule": {
                "days_of_week": ["monday", "wednesday", "friday"],
                "hour": 8,
                "minute": 30,
            },
            "timezone": "Europe/Rome",
            "count": 3,
        },
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["cron_expression"] == "30 8 * * 1,3,5"
    assert out["description"] == "At 08:30 on Monday, Wednesday and Friday (Europe/Rome)"
    assert len(out["next_run_times"]) == 3
    assert all(t[11:16] == "08:30" for t in out["next_run_times"])
    cron = api.post("/api/schedule/preview", json={"cron_expression": "@daily"}).json()
    assert (cron["is_cron_expression"], cron["timezone"]) == (True, "UTC")
    bad = api.post("/api/schedule/preview", json={"cron_expression": "* * *"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cron_expression"
    bad = api.post("/api/schedule/preview", json={"schedule": {"hour": 24, "minute": 0}})
    assert bad.json()["errors"][0]["field"] == "schedule.hour"
    bad = api.post("/api/schedule/preview", json={"cron_expression": "@daily", "timezone": "X/Y"})
    assert bad.json()["errors"][0]["field"] == "timezone"
    bad = api.post("/api/schedule/preview", json={"cron_expression": "@every 1s"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cron_expression"


def test_a_weekday_sent_twice_counts_once(api: http.Client) -> None:
    """Chronos took the days as a set; the ChronosJob lists each once (list-type set)."""
    body = example_job(
        schedule={"days_of_week": ["friday", "Monday", "monday"], "hour": 8, "minute": 0}
    )
    r = api.post("/api/jobs", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["schedule"]["days_of_week"] == ["friday", "monday"]
    assert r.json()["cron_expression"] == "0 8 * * 1,5"


def test_a_schedule_that_never_fires_is_accepted_with_a_warning(api: http.Client) -> None:
    r = api.post("/api/jobs", json=example_job(schedule=None, cron_expression="0 0 30 2 *"))
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["next_run"], job["next_run_times"]) == (None, [])
    assert "never fires" in job["status_message"]
