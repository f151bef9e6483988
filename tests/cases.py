"""Bad and good ChronosJob specs shared by the model tests and the CRD tests."""

from __future__ import annotations

from typing import Any

from builders import spec

#: A wait task's waitFor, and a group wait without it (issue 20).
WAIT: dict[str, Any] = {"state": "Warning", "timeoutSeconds": 1}
GROUP_WAIT: dict[str, Any] = {"type": "group_wait", "pipelineId": "p", "groupIds": ["g"]}

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
    # Issue 19: several schedules, RRULE, calendars, DST, jitter, windows, catch-up.
    # Errors inside a list item name the list (pydantic says schedules.0.name, the API
    # server spec.schedules[0].name).
    (
        "schedule and schedules together",
        spec(schedules=[{"cron": "0 1 * * *"}]),
        "schedules",
    ),
    ("neither schedule nor schedules", spec(schedule=None), "schedules"),
    ("empty schedules", spec(schedule=None, schedules=[]), "schedules"),
    (
        "eleven schedules",
        spec(schedule=None, schedules=[{"cron": f"{m} 1 * * *"} for m in range(11)]),
        "schedules",
    ),
    (
        "two schedules of one name",
        spec(
            schedule=None,
            schedules=[{"name": "a", "cron": "0 1 * * *"}, {"name": "a", "cron": "0 2 * * *"}],
        ),
        "schedules",
    ),
    (
        "a schedule named like an unnamed one",
        spec(schedule=None, schedules=[{"cron": "0 1 * * *"}, {"name": "s0", "cron": "0 2 * * *"}]),
        "schedules",
    ),
    (
        "schedule name in capitals",
        spec(schedule={"name": "Night", "cron": "0 1 * * *"}),
        "schedule.name",
    ),
    (
        "schedule name over 20 characters",
        spec(schedule={"name": "a" * 21, "cron": "0 1 * * *"}),
        "schedule.name",
    ),
    (
        "cron and rrule together",
        spec(schedule={"cron": "0 1 * * *", "rrule": "FREQ=DAILY"}),
        "schedule.cron",
    ),
    ("rrule and hour together", spec(schedule={"rrule": "FREQ=DAILY", "hour": 1}), "schedule.cron"),
    ("rrule with a space", spec(schedule={"rrule": "FREQ=DAILY; BYHOUR=9"}), "schedule.rrule"),
    (
        "rrule with a shell",
        spec(schedule={"rrule": "FREQ=DAILY;X=$(id)"}),
        "schedule.rrule",
    ),
    (
        "rrule too long",
        spec(schedule={"rrule": "FREQ=DAILY" + ";BYHOUR=1" * 200}),
        "schedule.rrule",
    ),
    ("calendarRef name with '_'", spec(calendarRef={"name": "bank_holidays"}), "calendarRef.name"),
    ("onExcluded without calendarRef", spec(onExcluded="Skip"), "onExcluded"),
    ("maxQueued without Enqueue", spec(maxQueued=2), "maxQueued"),
    ("maxQueued over 100", spec(concurrencyPolicy="Enqueue", maxQueued=101), "maxQueued"),
    ("maxQueued 0", spec(concurrencyPolicy="Enqueue", maxQueued=0), "maxQueued"),
    (
        "onExcluded unknown",
        spec(calendarRef={"name": "h"}, onExcluded="Later"),
        "onExcluded",
    ),
    (
        "springForward unknown",
        spec(dstPolicy={"springForward": "Later"}),
        "dstPolicy.springForward",
    ),
    ("fallBack unknown", spec(dstPolicy={"fallBack": "Thrice"}), "dstPolicy.fallBack"),
    ("jitterSeconds over an hour", spec(jitterSeconds=3601), "jitterSeconds"),
    ("jitterSeconds negative", spec(jitterSeconds=-1), "jitterSeconds"),
    (
        "activeFrom after activeUntil",
        spec(activeFrom="2030-01-02T00:00:00Z", activeUntil="2030-01-01T00:00:00Z"),
        "activeUntil",
    ),
    (
        "activeFrom equal to activeUntil",
        spec(activeFrom="2030-01-01T00:00:00Z", activeUntil="2030-01-01T01:00:00+01:00"),
        "activeUntil",
    ),
    ("activeFrom without an offset", spec(activeFrom="2030-01-01T00:00:00"), "activeFrom"),
    # Instants near datetime's ends overflowed the engine's arithmetic (a 500 in preview).
    ("activeFrom in the year 1", spec(activeFrom="0001-01-01T00:00:00Z"), "activeFrom"),
    ("activeUntil in the year 9999", spec(activeUntil="9999-12-31T23:59:00Z"), "activeUntil"),
    ("suspendUntil not a time", spec(suspendUntil="tomorrow"), "suspendUntil"),
    ("suspendReason without suspendUntil", spec(suspendReason="migration"), "suspendReason"),
    (
        "suspendReason on two lines",
        spec(suspendUntil="2030-01-01T00:00:00Z", suspendReason="a\nb"),
        "suspendReason",
    ),
    (
        "suspendReason over 256 characters",
        spec(suspendUntil="2030-01-01T00:00:00Z", suspendReason="x" * 257),
        "suspendReason",
    ),
    ("catchUp policy unknown", spec(catchUp={"policy": "Some"}), "catchUp.policy"),
    ("catchUp window under a minute", spec(catchUp={"windowSeconds": 59}), "catchUp.windowSeconds"),
    (
        "catchUp window over a week",
        spec(catchUp={"windowSeconds": 604801}),
        "catchUp.windowSeconds",
    ),
    ("catchUp max over 50", spec(catchUp={"policy": "All", "max": 51}), "catchUp.max"),
    # Issue 20: waitFor is for the wait task types only, and required there.
    (
        "entity_wait without waitFor",
        spec(task={"type": "entity_wait", "pipelineId": "p", "entityIds": ["e"]}),
        "task.waitFor",
    ),
    (
        "waitFor on a maintenance task",
        spec(task={"type": "pipeline_maintenance_enter", "pipelineId": "p", "waitFor": WAIT}),
        "task.waitFor",
    ),
    (
        "wait for an unknown state",
        spec(task={**GROUP_WAIT, "waitFor": {**WAIT, "state": "Running"}}),
        "task.waitFor.state",
    ),
    (
        "wait for 0 seconds",
        spec(task={**GROUP_WAIT, "waitFor": {**WAIT, "timeoutSeconds": 0}}),
        "task.waitFor.timeoutSeconds",
    ),
    (
        "wait for over a day",
        spec(task={**GROUP_WAIT, "waitFor": {**WAIT, "timeoutSeconds": 86401}}),
        "task.waitFor.timeoutSeconds",
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
    (
        "three schedules, two named",
        spec(
            schedule=None,
            schedules=[
                {"name": "morning", "cron": "H 8 * * 1-5"},
                {"rrule": "DTSTART:20260105T090000\nFREQ=WEEKLY;INTERVAL=2;BYDAY=TU"},
                {"name": "s-1", "daysOfWeek": ["friday"], "hour": 17, "minute": 0},
            ],
        ),
    ),
    ("ten schedules", spec(schedule=None, schedules=[{"cron": f"{m} 1 * * *"} for m in range(10)])),
    ("Enqueue at maxQueued's bound", spec(concurrencyPolicy="Enqueue", maxQueued=100)),
    ("Enqueue without maxQueued", spec(concurrencyPolicy="Enqueue")),
    (
        "rrule with RRULE: prefix",
        spec(schedule={"name": "s", "rrule": "RRULE:FREQ=MONTHLY;BYDAY=-1FR"}),
    ),
    (
        "every time rule",
        spec(
            calendarRef={"name": "it.holidays"},
            onExcluded="NextBusinessDay",
            dstPolicy={"springForward": "RunAtNextValidTime", "fallBack": "RunOnce"},
            jitterSeconds=3600,
            activeFrom="2030-01-01T00:00:00+01:00",
            activeUntil="2030-01-01T00:00:01+01:00",
            suspendUntil="2030-01-01T00:00:00.5Z",
            suspendReason="freeze: end-of-year",
            catchUp={"policy": "All", "windowSeconds": 604800, "max": 50},
        ),
    ),
    (
        "jitter 0 and a minimal catch-up",
        spec(jitterSeconds=0, catchUp={"windowSeconds": 60, "max": 1}),
    ),
    (
        "group wait for a day",
        spec(task={**GROUP_WAIT, "waitFor": {**WAIT, "timeoutSeconds": 86400}}),
    ),
    ("maintenance exit", spec(task={"type": "pipeline_maintenance_exit", "pipelineId": "p"})),
]

# ChronosCalendar specs (camelCase) the model and the API server refuse, naming the field.
BAD_CALENDARS: list[tuple[str, dict[str, Any], str]] = [
    ("excludedDates not a date", {"excludedDates": ["2026-13-01"]}, "excludedDates"),
    ("excludedDates twice", {"excludedDates": ["2026-12-25", "2026-12-25"]}, "excludedDates"),
    (
        "range ending before it starts",
        {"excludedRanges": [{"from": "2026-08-15", "to": "2026-08-01"}]},
        "excludedRanges",
    ),
    ("yearly date 13-01", {"yearlyDates": ["13-01"]}, "yearlyDates"),
    ("yearly date 02-30", {"yearlyDates": ["02-30"]}, "yearlyDates"),
    ("yearly date 4-1", {"yearlyDates": ["4-1"]}, "yearlyDates"),
    ("weekday unknown", {"excludedWeekdays": ["caturday"]}, "excludedWeekdays"),
    ("time zone Local", {"timeZone": "Local"}, "timeZone"),
    (
        "ConfigMap name with '/'",
        {"ics": {"configMapRef": {"name": "../x", "key": "h.ics"}}},
        "ics.configMapRef.name",
    ),
    (
        "ConfigMap key with a space",
        {"ics": {"configMapRef": {"name": "h", "key": "h ics"}}},
        "ics.configMapRef.key",
    ),
]
GOOD_CALENDARS: list[tuple[str, dict[str, Any]]] = [
    ("empty", {}),
    (
        "every field",
        {
            "timeZone": "Europe/Rome",
            "excludedDates": ["2026-12-25", "2027-01-01"],
            "excludedRanges": [{"from": "2026-08-10", "to": "2026-08-10"}],
            "yearlyDates": ["02-29", "12-31", "01-01"],
            "excludedWeekdays": ["saturday", "sunday"],
            "ics": {"configMapRef": {"name": "holidays", "key": "it.ics"}},
        },
    ),
]

# ChronosChannel specs (camelCase, issue 21) the model and the API server refuse, naming
# the field.
HOOK_SECRET: dict[str, Any] = {"name": "hook"}
MAIL: dict[str, Any] = {
    "host": "smtp.example.com",
    "from": "chronos@example.com",
    "to": ["ops@example.com"],
}
BAD_CHANNELS: list[tuple[str, dict[str, Any], str]] = [
    ("webhook without secretRef", {"type": "webhook"}, "secretRef"),
    ("slack without secretRef", {"type": "slack"}, "secretRef"),
    ("cronicle without secretRef", {"type": "cronicle"}, "secretRef"),
    ("email without email", {"type": "email"}, "email"),
    (
        "email settings on a webhook",
        {"type": "webhook", "secretRef": HOOK_SECRET, "email": MAIL},
        "email",
    ),
    (
        "email settings on cloudevents",
        {"type": "cloudevents", "secretRef": HOOK_SECRET, "email": MAIL},
        "email",
    ),
    ("type unknown", {"type": "sms", "secretRef": HOOK_SECRET}, "type"),
    ("Secret name with '/'", {"type": "webhook", "secretRef": {"name": "../x"}}, "secretRef.name"),
    ("Secret name upper case", {"type": "slack", "secretRef": {"name": "Hook"}}, "secretRef.name"),
    (
        "sender not an address",
        {"type": "email", "email": {**MAIL, "from": "chronos"}},
        "email.from",
    ),
    (
        "recipient with a header break",
        {"type": "email", "email": {**MAIL, "to": ["ops@example.com\r\nBcc: x@evil.example"]}},
        "email.to",
    ),
    (
        "recipient twice",
        {"type": "email", "email": {**MAIL, "to": ["a@b.example"] * 2}},
        "email.to",
    ),
    ("no recipient", {"type": "email", "email": {**MAIL, "to": []}}, "email.to"),
    (
        "host with a space",
        {"type": "email", "email": {**MAIL, "host": "smtp example.com"}},
        "email.host",
    ),
    (
        "host with a port",
        {"type": "email", "email": {**MAIL, "host": "smtp.example.com:25"}},
        "email.host",
    ),
    ("port 0", {"type": "email", "email": {**MAIL, "port": 0}}, "email.port"),
    ("no attempt", {"type": "webhook", "secretRef": HOOK_SECRET, "maxAttempts": 0}, "maxAttempts"),
    (
        "timeout over a minute",
        {"type": "webhook", "secretRef": HOOK_SECRET, "timeoutSeconds": 61},
        "timeoutSeconds",
    ),
]
GOOD_CHANNELS: list[tuple[str, dict[str, Any]]] = [
    ("webhook", {"type": "webhook", "secretRef": HOOK_SECRET}),
    (
        "cloudevents at the bounds",
        {"type": "cloudevents", "secretRef": HOOK_SECRET, "maxAttempts": 20, "timeoutSeconds": 60},
    ),
    (
        "slack suspended",
        {
            "type": "slack",
            "secretRef": HOOK_SECRET,
            "suspend": True,
            "maxAttempts": 1,
            "timeoutSeconds": 1,
        },
    ),
    ("cronicle", {"type": "cronicle", "secretRef": HOOK_SECRET}),
    ("email without AUTH", {"type": "email", "email": MAIL}),
    (
        "email on an address, no STARTTLS",
        {
            "type": "email",
            "secretRef": {"name": "smtp"},
            "email": {
                **MAIL,
                "host": "10.0.0.25",
                "port": 465,
                "startTls": False,
                "to": ["a@b.example", "o.p+q@x-y.example"],
            },
        },
    ),
]
