"""Bad and good ChronosJob specs shared by the model tests and the CRD tests."""

from __future__ import annotations

from typing import Any

from builders import spec

# Each bad spec with the path (below spec) of the field its error must name.
BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    (
        "entity task without entityIds",
        spec(task={"type": "entity_stop", "pipelineId": "p1"}),
        "task.entityIds",
    ),
    (
        "entity task with empty entityIds",
        spec(task={"type": "entity_stop", "pipelineId": "p1", "entityIds": []}),
        "task.entityIds",
    ),
    (
        "pipeline task with entityIds",
        spec(task={"type": "pipeline_stop", "pipelineId": "p1", "entityIds": ["e"]}),
        "task.entityIds",
    ),
    (
        "group task without groupIds",
        spec(task={"type": "group_start", "pipelineId": "p1"}),
        "task.groupIds",
    ),
    (
        "both schedule forms",
        spec(schedule={"cron": "* * * * *", "hour": 1, "minute": 2}),
        "schedule.cron",
    ),
    ("neither schedule form", spec(schedule={}), "schedule.cron"),
    ("friendly form without minute", spec(schedule={"hour": 8}), "schedule.hour"),
    ("hour 24", spec(schedule={"hour": 24, "minute": 0}), "schedule.hour"),
    ("minute 60", spec(schedule={"hour": 1, "minute": 60}), "schedule.minute"),
    (
        "unknown weekday",
        spec(schedule={"daysOfWeek": ["funday"], "hour": 1, "minute": 0}),
        "schedule.daysOfWeek",
    ),
    ("TZ prefix in cron", spec(schedule={"cron": "TZ=UTC 0 * * * *"}), "schedule.cron"),
    ("time zone with a space", spec(timeZone="Europe/Not A Zone"), "timeZone"),
    ("time zone Local", spec(timeZone="Local"), "timeZone"),
    ("time zone with ..", spec(timeZone="../etc/passwd"), "timeZone"),
    ("unknown task type", spec(task={"type": "entity_launch", "pipelineId": "p"}), "task.type"),
    ("negative retries", spec(retries=-1), "retries"),
    # @every: Kubernetes accepts any Go duration (robfig runs 0s and -5m every second).
    ("@every 0s", spec(schedule={"cron": "@every 0s"}), "schedule.cron"),
    ("@every -5m", spec(schedule={"cron": "@every -5m"}), "schedule.cron"),
    ("@every 1s", spec(schedule={"cron": "@every 1s"}), "schedule.cron"),
    ("@every 59.9s", spec(schedule={"cron": "@every 59.9s"}), "schedule.cron"),
    ("@every without a unit", spec(schedule={"cron": "@every 5"}), "schedule.cron"),
    # Control characters in ids and names: every run would fail inside CoreHub's client.
    (
        "NUL in pipelineId",
        spec(task={"type": "pipeline_start", "pipelineId": "p\x001"}),
        "task.pipelineId",
    ),
    (
        "newline in an entity id",
        spec(task={"type": "entity_start", "pipelineId": "p", "entityIds": ["e\n1"]}),
        "task.entityIds",
    ),
    (
        "escape in a group id",
        spec(task={"type": "group_stop", "pipelineId": "p", "groupIds": ["g\x1b"]}),
        "task.groupIds",
    ),
    # Issue 17: an id becomes a CoreHub path segment; only CoreHub's characters pass.
    (
        "path in pipelineId",
        spec(task={"type": "pipeline_start", "pipelineId": "x/../../_fake/state#"}),
        "task.pipelineId",
    ),
    (
        "query in an entity id",
        spec(task={"type": "entity_stop", "pipelineId": "p", "entityIds": ["e", "e?a=b"]}),
        "task.entityIds",
    ),
    (
        "dot-dot group id",
        spec(task={"type": "group_stop", "pipelineId": "p", "groupIds": [".."]}),
        "task.groupIds",
    ),
    (
        "spaces and unicode in pipelineId",
        spec(task={"type": "pipeline_start", "pipelineId": "p é 1"}),
        "task.pipelineId",
    ),
    (
        "percent escape in an entity id",
        spec(task={"type": "entity_start", "pipelineId": "p", "entityIds": ["%2e%2e"]}),
        "task.entityIds",
    ),
    (
        "leading dash in pipelineId",
        spec(task={"type": "pipeline_stop", "pipelineId": "-p"}),
        "task.pipelineId",
    ),
    ("newline in displayName", spec(displayName="a\nb"), "displayName"),
    ("NUL in description", spec(description="a\x00b"), "description"),
    (
        "Secret name with an underscore",
        spec(coreHub={"credentialsSecretRef": {"name": "hub_creds"}}),
        "coreHub.credentialsSecretRef.name",
    ),
    (
        "Secret key with a space",
        spec(coreHub={"tls": {"caSecretRef": {"name": "ca", "key": "ca crt"}}}),
        "coreHub.tls.caSecretRef.key",
    ),
    # Strict types, as the API server's schema: no "8" for 8, no "yes" for true.
    ("hour as a string", spec(schedule={"hour": "8", "minute": 0}), "schedule.hour"),
    ("enabled as a string", spec(enabled="yes"), "enabled"),
    ("retries as a boolean", spec(retries=True), "retries"),
    # x-kubernetes-list-type: set — the API server refuses a value listed twice.
    (
        "duplicate entity ids",
        spec(task={"type": "entity_start", "pipelineId": "p", "entityIds": ["e1", "e1"]}),
        "task.entityIds",
    ),
    (
        "duplicate weekdays",
        spec(schedule={"daysOfWeek": ["monday", "monday"], "hour": 1, "minute": 0}),
        "schedule.daysOfWeek",
    ),
]

# Specs both the model and the API server accept, near the edges of the rules above.
GOOD_SPECS: list[tuple[str, dict[str, Any]]] = [
    ("@every 1m", spec(schedule={"cron": "@every 1m"})),
    ("@every 60s", spec(schedule={"cron": "@every 60s"})),
    ("@every 1h30m", spec(schedule={"cron": "@every 1h30m"})),
    ("@every 1.5m", spec(schedule={"cron": "@every 1.5m"})),
    (
        "ids as CoreHub shows them",
        spec(
            task={
                "type": "group_start",
                "pipelineId": "pipeline-123",
                "groupIds": ["_default", "g.1_x", "0b7e3c1a-5d2f-4e8a-9c1b-2f3d4e5a6b7c"],
            }
        ),
    ),
    ("multi-line description", spec(description="first line\n\tsecond line")),
    (
        "Secret refs",
        spec(
            coreHub={
                "credentialsSecretRef": {"name": "hub.creds-1", "usernameKey": "user_name"},
                "tls": {"caSecretRef": {"name": "ca", "key": "ca.crt"}},
            }
        ),
    ),
]
