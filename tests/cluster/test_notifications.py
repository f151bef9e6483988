"""Notifications end to end (issue 21): the operator process on the real control plane
delivers to real receivers (tests/receivers.py) — an HTTP server that verifies the
Standard Webhooks signature and counts deliveries by id, and an SMTP server (aiosmtpd,
STARTTLS from a CA made for the test, AUTH).

Runs are fabricated as the runner reports them (its status write of the run record);
every time is relative to now.
"""

from __future__ import annotations

import base64
import json
import secrets
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from builders import create_chronosjob as create
from builders import pipeline_spec as spec
from builders import secret
from fixtures_operator import COREHUB_SECRET
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import CronJob
from lightkube.resources.core_v1 import Event, Secret
from lightkube.types import PatchType
from receivers import Answer, SmtpServer, WebhookReceiver
from support import cronjob, get_cr, patch_spec, ready, set_status, wait_for

from chronos.devcluster.operator_process import OperatorProcess
from chronos.models.channels import (
    ADDRESS_KEY,
    PASSWORD_KEY,
    SIGNING_KEY,
    TOKEN_KEY,
    USERNAME_KEY,
)
from chronos.models.notify import Notification, NotifyOn, ledger_key
from chronos.notify.payloads import message_id
from chronos.operator.kubeio import ChronosChannelResource
from chronos.times import rfc3339

pytestmark = pytest.mark.cluster

DELIVERED = "NotificationsDelivered"
UNAVAILABLE = Answer(503, {"Retry-After": "1"})


@pytest.fixture
def receivers() -> Iterator[Callable[[], WebhookReceiver]]:
    """Start signed webhook receivers (each with its own key); all stopped at the end."""
    started: list[WebhookReceiver] = []

    def start() -> WebhookReceiver:
        key = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        receiver = WebhookReceiver(signing_key=key).__enter__()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.__exit__(None, None, None)


def seen(receiver: WebhookReceiver) -> Counter[str]:
    """Requests per event id, whatever they were answered."""
    return Counter(d.event_id for d in receiver.deliveries)


# ------------------------------------------------------------------ objects


def hook_secret(k8s: Client, ns: str, name: str, receiver: WebhookReceiver, **extra: str) -> None:
    values = {ADDRESS_KEY: receiver.url, SIGNING_KEY: receiver.signing_key or "", **extra}
    k8s.create(secret(name, ns, values))


def channel(k8s: Client, ns: str, name: str, body: dict[str, Any]) -> None:
    k8s.create(ChronosChannelResource(metadata=ObjectMeta(name=name, namespace=ns), spec=body))


def webhook(secret_name: str, **overrides: Any) -> dict[str, Any]:
    return {"type": "webhook", "secretRef": {"name": secret_name}, **overrides}


def notify_job(k8s: Client, ns: str, name: str, rules: list[dict[str, Any]], **more: Any) -> str:
    """A ChronosJob with ``spec.notify``; returns its uid once the operator marked
    ``status.notifications.since``."""
    create(k8s, ns, name, spec(notify=rules, **more))
    wait_for(lambda: since(k8s, ns, name), what=f"the since mark of {ns}/{name}")
    return str(get_cr(k8s, ns, name)["metadata"]["uid"])


def since(k8s: Client, ns: str, name: str) -> str | None:
    notes = (get_cr(k8s, ns, name).get("status") or {}).get("notifications") or {}
    return notes.get("since")


def ledger(k8s: Client, ns: str, name: str) -> dict[str, Any]:
    notes: dict[str, Any] = (get_cr(k8s, ns, name).get("status") or {}).get("notifications") or {}
    return notes


def recorded(k8s: Client, ns: str, name: str, key: str) -> bool:
    return key in (ledger(k8s, ns, name).get("delivered") or [])


def report_failed_run(k8s: Client, ns: str, name: str, run_id: str) -> None:
    """A failed run as the runner reports it (its status write), ended just now."""
    end = datetime.now(UTC).replace(microsecond=0)
    record = {
        "runId": run_id,
        "trigger": "run-now",
        "result": "failed",
        "startTime": rfc3339(end - timedelta(seconds=5)),
        "endTime": rfc3339(end),
        "durationSeconds": 5.0,
        "reason": "PipelineFailed",
        "message": "the pipeline ended in error",
        "reportedBy": "runner",
    }
    history = (get_cr(k8s, ns, name).get("status") or {}).get("history") or []
    set_status(k8s, ns, name, {"lastRun": record, "history": [record, *history]})


def condition(k8s: Client, ns: str, name: str) -> dict[str, Any] | None:
    return ready(k8s, ns, name, DELIVERED)


def events(k8s: Client, ns: str, reason: str) -> list[Event]:
    return [e for e in k8s.list(Event, namespace=ns) if e.reason == reason]


@pytest.fixture
def ns(k8s: Client, namespace: str) -> str:
    k8s.create(secret(COREHUB_SECRET, namespace))
    return namespace


def settle(seconds: float = 8) -> None:
    """Long enough for two housekeeping rounds of the test operator (3 s) and a retry:
    a duplicate delivery would have happened by then."""
    time.sleep(seconds)


# ------------------------------------------------------------------ tests


def test_a_failed_run_is_delivered_once_through_receiver_failures(
    operator: OperatorProcess, k8s: Client, ns: str, receivers: Callable[[], WebhookReceiver]
) -> None:
    receiver = receivers()
    receiver.answer(UNAVAILABLE, UNAVAILABLE)
    hook_secret(k8s, ns, "hook", receiver)
    channel(k8s, ns, "ops", webhook("hook", maxAttempts=4))
    uid = notify_job(k8s, ns, "orders", [{"channel": "ops", "events": ["failed"]}])

    report_failed_run(k8s, ns, "orders", "orders-run-1")
    event_id = f"{uid}.orders-run-1.failed"
    wait_for(lambda: receiver.accepted()[event_id], timeout=60, what="the delivery")
    wait_for(
        lambda: ledger_key(event_id, "ops") in (ledger(k8s, ns, "orders").get("delivered") or []),
        what="the ledger entry",
    )
    settle()
    # Three attempts under one id (the idempotency key), the third acknowledged, and
    # nothing after it: the ledger stops the housekeeping rounds from sending it again.
    assert seen(receiver) == Counter({event_id: 3})
    assert receiver.accepted() == Counter({event_id: 1})
    assert all(d.verified for d in receiver.deliveries)
    body = receiver.deliveries[-1].json()
    assert body["event"] == "failed"
    assert body["runId"] == "orders-run-1"
    assert body["job"] == "orders"
    assert (c := condition(k8s, ns, "orders")) is not None
    assert c["status"] == "True"

    # A second failure is a second event, delivered once too.
    report_failed_run(k8s, ns, "orders", "orders-run-2")
    second = f"{uid}.orders-run-2.failed"
    wait_for(lambda: receiver.accepted()[second], timeout=60, what="the second delivery")
    settle()
    assert receiver.accepted() == Counter({event_id: 1, second: 1})
    assert metric(operator, 'chronos_notifications_total{result="delivered",type="webhook"}') >= 2


def test_history_from_before_notify_was_configured_is_not_sent(
    operator: OperatorProcess, k8s: Client, ns: str, receivers: Callable[[], WebhookReceiver]
) -> None:
    receiver = receivers()
    hook_secret(k8s, ns, "hook", receiver)
    channel(k8s, ns, "ops", webhook("hook"))
    create(k8s, ns, "old", spec())
    wait_for(lambda: get_cr(k8s, ns, "old").get("status"), what="the first status")
    report_failed_run(k8s, ns, "old", "old-run-1")
    time.sleep(1.5)  # the since mark is written in whole seconds after the run's end
    patch_spec(k8s, ns, "old", {"notify": [{"channel": "ops", "events": ["failed"]}]})
    wait_for(lambda: since(k8s, ns, "old"), what="the since mark")
    settle()
    assert seen(receiver) == Counter()
    # notify removed: the mark goes, so configuring it again starts from then.
    patch_spec(k8s, ns, "old", {"notify": None})
    wait_for(lambda: not since(k8s, ns, "old"), what="the since mark cleared")


def test_a_receiver_down_past_the_budget_sets_the_condition_and_an_event(
    operator: OperatorProcess, k8s: Client, ns: str, receivers: Callable[[], WebhookReceiver]
) -> None:
    receiver = receivers()
    receiver.answer(UNAVAILABLE, UNAVAILABLE)  # the budget: two attempts
    token = "tok-" + secrets.token_hex(8)
    hook_secret(k8s, ns, "hook", receiver, **{TOKEN_KEY: token})
    channel(k8s, ns, "ops", webhook("hook", maxAttempts=2))
    uid = notify_job(k8s, ns, "payroll", [{"channel": "ops", "events": ["failed"]}])
    before = metric(operator, 'chronos_notifications_undelivered_total{type="webhook"}')

    report_failed_run(k8s, ns, "payroll", "payroll-run-1")
    event_id = f"{uid}.payroll-run-1.failed"
    cond = wait_for(
        lambda: (c := condition(k8s, ns, "payroll")) and c["status"] == "False" and c,
        timeout=60,
        what="NotificationsDelivered=False",
    )
    assert cond["reason"] == "HTTP503"
    assert "ops" in cond["message"]
    (warning,) = wait_for(lambda: events(k8s, ns, "NotificationUndelivered"), what="the Event")
    assert warning.type == "Warning"
    undelivered = ledger(k8s, ns, "payroll")["undelivered"]
    assert [(u["id"], u["channel"], u["reason"]) for u in undelivered] == [
        (event_id, "ops", "HTTP503")
    ]
    # Nothing secret in what people read (status, Event, the operator's log): neither
    # the URL nor the token.
    said = json.dumps([cond, undelivered, warning.message]) + operator.log_path.read_text()
    assert token not in said
    assert receiver.url not in said
    assert seen(receiver) == Counter({event_id: 2})  # the budget, then given up
    assert metric(operator, 'chronos_notifications_undelivered_total{type="webhook"}') == before + 1
    settle()
    assert seen(receiver) == Counter({event_id: 2})  # not planned again

    # The receiver is back: the next event is delivered and the condition clears.
    report_failed_run(k8s, ns, "payroll", "payroll-run-2")
    wait_for(
        lambda: (c := condition(k8s, ns, "payroll")) and c["status"] == "True",
        timeout=60,
        what="NotificationsDelivered=True again",
    )
    assert receiver.accepted() == Counter({f"{uid}.payroll-run-2.failed": 1})


def test_a_secret_change_is_used_without_a_restart(
    operator: OperatorProcess, k8s: Client, ns: str, receivers: Callable[[], WebhookReceiver]
) -> None:
    first, second = receivers(), receivers()
    hook_secret(k8s, ns, "hook", first)
    channel(k8s, ns, "ops", webhook("hook"))
    uid = notify_job(k8s, ns, "sync", [{"channel": "ops", "events": ["failed"]}])
    report_failed_run(k8s, ns, "sync", "sync-run-1")
    wait_for(lambda: first.accepted(), timeout=60, what="the first delivery")

    # Rotated: another URL and another signing key.
    k8s.patch(
        Secret,
        "hook",
        {"stringData": {ADDRESS_KEY: second.url, SIGNING_KEY: second.signing_key}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    report_failed_run(k8s, ns, "sync", "sync-run-2")
    second_id = f"{uid}.sync-run-2.failed"
    wait_for(lambda: second.accepted()[second_id], timeout=60, what="the rotated delivery")
    assert all(d.verified for d in second.deliveries)  # signed with the new key
    assert seen(first) == Counter({f"{uid}.sync-run-1.failed": 1})


def test_a_leader_killed_mid_delivery_fails_over_delivers_again_then_never_again(
    start_operator: Callable[..., OperatorProcess],
    k8s: Client,
    solo_namespace: str,
    receivers: Callable[[], WebhookReceiver],
) -> None:
    """Two replicas; the leader dies while the receiver holds its request (received,
    not acknowledged, so not in the ledger): the standby takes the lease and delivers
    the event again under the same id; once that is recorded, no operator sends it."""
    ns = solo_namespace
    receiver = receivers()
    receiver.hold()  # the first request waits: the leader dies meanwhile
    hook_secret(k8s, ns, "hook", receiver)
    channel(k8s, ns, "ops", webhook("hook"))
    replicas = [start_operator(), start_operator()]
    leader = wait_for(
        lambda: next((p for p in replicas if metric(p, "chronos_operator_leader") == 1), None),
        what="a leader",
    )
    (standby,) = [p for p in replicas if p is not leader]
    uid = notify_job(k8s, ns, "etl", [{"channel": "ops", "events": ["failed"]}])
    report_failed_run(k8s, ns, "etl", "etl-run-1")
    event_id = f"{uid}.etl-run-1.failed"
    assert receiver.arrived.wait(60), "the delivery never reached the receiver"
    leader.stop(signal.SIGKILL)
    receiver.release()  # answered to a dead operator: never recorded
    wait_for(lambda: seen(receiver)[event_id], what="the first request's record")
    assert not recorded(k8s, ns, "etl", ledger_key(event_id, "ops"))

    wait_for(
        lambda: recorded(k8s, ns, "etl", ledger_key(event_id, "ops")),
        timeout=60,
        what="the delivery after the fail-over, recorded",
    )
    assert metric(standby, "chronos_operator_leader") == 1
    assert seen(receiver) == Counter({event_id: 2})  # once more, same id: at least once
    standby.stop()
    start_operator()
    settle()
    assert seen(receiver) == Counter({event_id: 2})  # acknowledged and recorded: never again


def test_an_operator_stopped_over_a_slot_and_a_deleted_cronjob_report_absent(
    start_operator: Callable[..., OperatorProcess],
    k8s: Client,
    solo_namespace: str,
    receivers: Callable[[], WebhookReceiver],
) -> None:
    """Every minute, 60 s of grace. The operator is stopped over a slot, and meanwhile
    one job's CronJob is deleted out from under it (so nothing could run it); when the
    operator comes back, the slot plus the grace has passed without a success for both:
    each is reported absent, once, for a slot after notify was configured."""
    ns = solo_namespace
    receiver = receivers()
    hook_secret(k8s, ns, "hook", receiver)
    channel(k8s, ns, "ops", webhook("hook"))
    operator = start_operator()
    every_minute: dict[str, Any] = {
        "schedule": {"cron": "* * * * *"},
        "timeZone": "UTC",
        "alerting": {"absentGraceSeconds": 60},
    }
    rule = [{"channel": "ops", "events": ["absent"]}]
    uids = {name: notify_job(k8s, ns, name, rule, **every_minute) for name in ("beat", "orphan")}
    cronjob_of_orphan = wait_for(lambda: (get_cr(k8s, ns, "orphan")["status"]).get("cronJobName"))
    operator.stop()
    k8s.delete(CronJob, cronjob_of_orphan, namespace=ns)
    mark = max(datetime.fromisoformat(str(since(k8s, ns, name))) for name in uids)
    # The first whole minute after the marks, plus the grace, plus a housekeeping round.
    slot = mark.replace(second=0) + timedelta(minutes=1)
    time.sleep(max(0.0, (slot + timedelta(seconds=65) - datetime.now(UTC)).total_seconds()))
    start_operator()

    def absent() -> dict[str, dict[str, Any]]:
        bodies = [d.json() for d in receiver.deliveries if d.verified]
        return {b["job"]: b for b in bodies if b["event"] == "absent"}

    found: dict[str, dict[str, Any]] = wait_for(
        lambda: absent() if len(absent()) == 2 else None, timeout=90, what="two absents"
    )
    for name, uid in uids.items():
        missed = datetime.fromisoformat(found[name]["scheduledTime"])
        assert missed >= slot  # a slot the stopped operator slept over, not one before
        assert found[name]["id"] == f"{uid}.absent-{rfc3339(missed)}.absent"
    wait_for(lambda: cronjob(k8s, ns, cronjob_of_orphan), what="the CronJob restored")
    settle()
    assert sorted(d.json()["job"] for d in receiver.deliveries) == ["beat", "orphan"]


def test_email_through_starttls_and_auth_reaches_the_smtp_server(
    start_operator: Callable[..., OperatorProcess],
    k8s: Client,
    solo_namespace: str,
    tmp_path: Path,
) -> None:
    """The operator trusts the test's CA (SSL_CERT_FILE, as a cluster would mount its
    private CA); verification stays on, and the password crosses only TLS."""
    ns = solo_namespace
    with SmtpServer(tmp_path, users={"chronos": "s3cret-pass"}) as smtp:
        start_operator(SSL_CERT_FILE=str(smtp.ca_file))
        k8s.create(secret("mail", ns, {USERNAME_KEY: "chronos", PASSWORD_KEY: "s3cret-pass"}))
        channel(
            k8s,
            ns,
            "mail",
            {
                "type": "email",
                "secretRef": {"name": "mail"},
                "email": {
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "from": "chronos@example.com",
                    "to": ["ops@example.com"],
                },
            },
        )
        uid = notify_job(k8s, ns, "ledger", [{"channel": "mail", "events": ["failed"]}])
        report_failed_run(k8s, ns, "ledger", "ledger-run-1")
        (envelope,) = wait_for(lambda: smtp.inbox.envelopes, timeout=60, what="the mail")
        mail = message_from_bytes(envelope.original_content or b"")
        assert envelope.rcpt_tos == ["ops@example.com"]
        assert smtp.logins == ["chronos"]
        assert "ledger" in str(mail["Subject"])
        event_id = f"{uid}.ledger-run-1.failed"
        same_id = Notification(
            id=event_id,
            event=NotifyOn.FAILED,
            namespace=ns,
            job="ledger",
            job_uid=uid,
            occurred_at=datetime.now(UTC),
        )
        assert mail["Message-ID"] == message_id(same_id)  # a re-sent mail dedupes
        wait_for(
            lambda: (
                ledger_key(event_id, "mail") in (ledger(k8s, ns, "ledger").get("delivered") or [])
            ),
            what="the ledger entry",
        )
        settle()
        assert len(smtp.inbox.envelopes) == 1
        ready_channel = k8s.get(ChronosChannelResource, "mail", namespace=ns).to_dict()  # type: ignore[no-untyped-call]
        (cond,) = ready_channel["status"]["conditions"]
        assert (cond["type"], cond["status"]) == ("Ready", "True")


# ------------------------------------------------------------------ helpers


def metric(process: OperatorProcess, sample: str) -> float:
    """The value of one sample (name and labels as Prometheus prints them); 0 if none."""
    for line in process.metrics().splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_channel_says_whether_its_secret_will_do_before_any_job_uses_it(
    operator: OperatorProcess, k8s: Client, ns: str, receivers: Callable[[], WebhookReceiver]
) -> None:
    """Ready from the ChronosChannel watch (no job names the channel) and, as Secrets are
    not watched, from the housekeeping round after the Secret appears."""
    channel(k8s, ns, "ops", webhook("hook"))

    def channel_ready() -> dict[str, Any] | None:
        obj = k8s.get(ChronosChannelResource, "ops", namespace=ns).to_dict()  # type: ignore[no-untyped-call]
        conditions = (obj.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready"), None)

    missing = wait_for(channel_ready, what="Ready on the new channel")
    assert (missing["status"], missing["reason"]) == ("False", "SecretMissing")
    assert "hook" in missing["message"]
    hook_secret(k8s, ns, "hook", receivers())
    wait_for(
        lambda: (c := channel_ready()) is not None and c["status"] == "True",
        timeout=20,
        what="Ready=True once the Secret exists",
    )


def test_deliveries_in_flight_are_bounded_by_the_setting(
    start_operator: Callable[..., OperatorProcess],
    k8s: Client,
    solo_namespace: str,
    receivers: Callable[[], WebhookReceiver],
) -> None:
    """CHRONOS_NOTIFY_CONCURRENCY=1: while one receiver holds its request, the other
    channel's delivery waits for the slot; released, both arrive once."""
    ns = solo_namespace
    first, second = receivers(), receivers()
    for index, receiver in enumerate((first, second)):
        receiver.hold()
        hook_secret(k8s, ns, f"hook-{index}", receiver)
        channel(k8s, ns, f"ops-{index}", webhook(f"hook-{index}"))
    start_operator(CHRONOS_NOTIFY_CONCURRENCY="1")
    rules = [{"channel": f"ops-{i}", "events": ["failed"]} for i in range(2)]
    uid = notify_job(k8s, ns, "pair", rules)
    report_failed_run(k8s, ns, "pair", "pair-run-1")
    wait_for(lambda: first.arrived.is_set() or second.arrived.is_set(), what="a first request")
    time.sleep(3)  # well within the channel's 10 s timeout: the held request is in flight
    assert [first.arrived.is_set(), second.arrived.is_set()].count(True) == 1
    first.release()
    second.release()
    event_id = f"{uid}.pair-run-1.failed"
    wait_for(
        lambda: first.accepted()[event_id] and second.accepted()[event_id],
        timeout=30,
        what="both deliveries",
    )
    assert seen(first) == seen(second) == Counter({event_id: 1})


def test_a_channel_outside_the_allowed_hosts_is_never_sent_to(
    start_operator: Callable[..., OperatorProcess],
    k8s: Client,
    solo_namespace: str,
    receivers: Callable[[], WebhookReceiver],
) -> None:
    """CHRONOS_NOTIFY_ALLOWED_HOSTS: the operator posts from inside the cluster, so a
    channel's Secret must not be able to aim it at any address. Only 127.0.0.1 is allowed:
    the channel whose Secret names `localhost` is never sent to."""
    ns = solo_namespace
    inside, allowed = receivers(), receivers()
    hook_secret(k8s, ns, "allowed", allowed)
    aimed = inside.url.replace("127.0.0.1", "localhost")
    k8s.create(secret("inside", ns, {ADDRESS_KEY: aimed, SIGNING_KEY: inside.signing_key or ""}))
    channel(k8s, ns, "inside", webhook("inside"))
    channel(k8s, ns, "allowed", webhook("allowed"))
    start_operator(CHRONOS_NOTIFY_ALLOWED_HOSTS="127.0.0.1")
    rules = [{"channel": name, "events": ["failed"]} for name in ("inside", "allowed")]
    uid = notify_job(k8s, ns, "guarded", rules)
    report_failed_run(k8s, ns, "guarded", "guarded-run-1")
    event_id = f"{uid}.guarded-run-1.failed"
    wait_for(lambda: allowed.accepted()[event_id], timeout=30, what="the allowed delivery")
    undelivered = wait_for(
        lambda: ledger(k8s, ns, "guarded").get("undelivered"), what="the refused channel"
    )
    assert [(u["channel"], u["reason"]) for u in undelivered] == [("inside", "HostNotAllowed")]
    assert "localhost" not in json.dumps(undelivered)  # the address is a Secret value

    def refused() -> bool:
        cond = condition(k8s, ns, "guarded") or {}
        return (cond.get("status"), cond.get("reason")) == ("False", "HostNotAllowed")

    wait_for(refused, what="NotificationsDelivered=False, HostNotAllowed")
    settle()
    assert refused()  # the other channel's delivery does not clear it
    assert seen(inside) == Counter()  # not once, not retried
