"""Issue 17, findings 2, 8 and 10, on the real control plane: the CRD's CoreHub rules
(credentials named whenever url or tls is set; a plain base URL), the session's
``chronos-job-limits`` policy (run-now annotations), and the operator's own refusals
(Ready=False with the reason) for what admission cannot know. Pure logic:
tests/unit/corehub/test_corehub_guard.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import builders
import pytest
from builders import spec
from fixtures_operator import COREHUB_SECRET
from lightkube import ApiError, Client
from lightkube.types import PatchType
from support import annotate_refusal, cronjob, get_cr, ready, wait_for

from chronos import contract as c
from chronos import runnow as rn
from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource
from chronos.models import timing

pytestmark = pytest.mark.cluster

create = builders.create_chronosjob


def _create_error(k8s: Client, ns: str, name: str, body: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as info:
        create(k8s, ns, name, body)
    return info.value


# ------------------------------------------------------------ F2: default credentials


@pytest.mark.parametrize(
    "hub",
    [
        {"url": "http://attacker.example:8080"},
        {"tls": {"insecureSkipVerify": True}},
        {"tls": {"caSecretRef": {"name": COREHUB_SECRET, "key": "ca.crt"}}},
    ],
)
def test_a_job_that_redirects_must_name_its_credentials(
    k8s: Client, namespace: str, hub: dict[str, Any]
) -> None:
    """Even for the cluster admin, who may read the default Secret: whether a default is
    configured now or only later, such a job could carry it to its author's server."""
    error = _create_error(k8s, namespace, "redirect", spec(coreHub=hub))
    assert error.status.code == 422
    assert "spec.coreHub.credentialsSecretRef" in str(error.status.message)
    assert "credentialsSecretRef is required when url" in str(error.status.message)
    named = {**hub, "credentialsSecretRef": {"name": "own"}}
    create(k8s, namespace, "named", spec(coreHub=named))


def test_the_operator_sends_its_default_secret_nowhere_else(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    """Named explicitly (the CRD allows it), the default Secret with another URL is
    refused by the operator, with a reason, and no CronJob is written."""
    start_operator()
    ns = solo_namespace
    hub = {"url": "http://attacker.example:8080", "credentialsSecretRef": {"name": COREHUB_SECRET}}
    create(k8s, ns, "named-default", spec(coreHub=hub))
    cond = wait_for(
        lambda: (r := ready(k8s, ns, "named-default")) and r["status"] == "False" and r,
        what="Ready=False",
    )
    assert cond["reason"] == "DefaultCredentialsRefused"
    assert cond["message"].startswith("spec.coreHub.credentialsSecretRef: ")
    assert cronjob(k8s, ns, "named-default") is None
    # With the operator's own URL (fixtures_operator.COREHUB_SETTINGS) it runs.
    patch = {"spec": {"coreHub": {"url": "http://127.0.0.1:9"}}}
    k8s.patch(ChronosJobResource, "named-default", patch, namespace=ns, patch_type=PatchType.MERGE)
    wait_for(lambda: cronjob(k8s, ns, "named-default"), what="the CronJob")


# ------------------------------------------------------------ F10: URL and hosts


@pytest.mark.parametrize(
    "url",
    ["http://hub.example/x?y=1", "http://hub.example/#x", "http://user:pw@hub.example:1717"],
)
def test_a_url_with_query_fragment_or_user_info_is_refused(
    k8s: Client, namespace: str, url: str
) -> None:
    hub = {"url": url, "credentialsSecretRef": {"name": "own"}}
    error = _create_error(k8s, namespace, "odd-url", spec(coreHub=hub))
    assert error.status.code == 422
    assert "spec.coreHub.url" in str(error.status.message)
    assert "without a query (?), a fragment (#) or user info" in str(error.status.message)


def test_the_operator_refuses_a_host_outside_its_allow_list(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    start_operator(CHRONOS_COREHUB_ALLOWED_HOSTS="corehub.example.com,*.corp.example")
    ns = solo_namespace
    hub = {"url": "http://169.254.169.254/latest", "credentialsSecretRef": {"name": "own"}}
    create(k8s, ns, "metadata", spec(coreHub=hub))
    cond = wait_for(
        lambda: (r := ready(k8s, ns, "metadata")) and r["status"] == "False" and r,
        what="Ready=False",
    )
    assert cond["reason"] == "CoreHubHostNotAllowed"
    assert "'169.254.169.254'" in cond["message"]
    assert cronjob(k8s, ns, "metadata") is None
    hub["url"] = "https://hub.corp.example:1717"
    create(k8s, ns, "allowed", spec(coreHub=hub))
    wait_for(lambda: cronjob(k8s, ns, "allowed"), what="the CronJob of an allowed host")


# ------------------------------------------------------------ F8: run-now annotations


def _pending(n: int) -> str:
    start = datetime.now(UTC)
    entries = {f"k{i}": rn.stamp(start + timedelta(microseconds=i)) for i in range(n)}
    return json.dumps(entries, separators=(",", ":"))


def test_run_now_annotations_are_capped_by_admission(k8s: Client, solo_namespace: str) -> None:
    """kubectl (here the admin) cannot write more pending run-now requests than the REST
    facade would accept, nor tokens it would refuse. No operator watches a solo
    namespace: what is written stays as written."""
    ns = solo_namespace
    create(k8s, ns, "busy", spec(enabled=False))
    key = c.RUN_NOW_PENDING_ANNOTATION
    policy = "ValidatingAdmissionPolicy 'chronos-job-limits'"
    message = wait_for(
        lambda: annotate_refusal(k8s, ns, "busy", {key: _pending(rn.PENDING_MAX + 1)}),
        30,
        "the job-limits policy to be enforced",
    )
    assert policy in message, message
    assert f"at most {rn.PENDING_MAX} run-now requests may wait" in message
    # Not JSON as Chronos writes it (spaces would hide entries from the count).
    spaced = _pending(2).replace(",", ", ")
    assert annotate_refusal(k8s, ns, "busy", {key: spaced}) is not None
    assert annotate_refusal(k8s, ns, "busy", {key: '{"a\\"b":"2026-01-01T00:00:00Z"}'}) is not None
    # A hand-set token outside the Idempotency-Key's pattern.
    refused = annotate_refusal(k8s, ns, "busy", {c.RUN_NOW_ANNOTATION: 'x"; rm -rf /'})
    assert refused is not None
    assert "run-now token is 1-128 characters" in refused
    assert annotate_refusal(k8s, ns, "busy", {c.RUN_NOW_ANNOTATION: "a" * 129}) is not None
    # Up to the limit, and anything shorter, is accepted.
    assert annotate_refusal(k8s, ns, "busy", {key: _pending(rn.PENDING_MAX)}) is None
    assert annotate_refusal(k8s, ns, "busy", {key: _pending(3)}) is None
    assert annotate_refusal(k8s, ns, "busy", {key: None}) is None
    annotations = get_cr(k8s, ns, "busy")["metadata"].get("annotations") or {}
    assert key not in annotations


# ------------------------------------------------------------- backfill annotation


def _backfills(n: int, *, separators: tuple[str, str] = (",", ":")) -> str:
    """``n`` backfill requests as the REST facade writes them (ranges of the past)."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    items = [
        {
            "id": f"req-{i}",
            "from": (end - timedelta(hours=i + 1)).isoformat(),
            "to": end.isoformat(),
            "max": 5,
        }
        for i in range(n)
    ]
    return json.dumps(items, separators=separators)


def test_the_backfill_annotation_is_bounded_by_admission(k8s: Client, solo_namespace: str) -> None:
    """kubectl cannot queue more backfill requests than the REST facade would (429), nor
    write something that is no list of requests; spaces as json.dumps writes them (and
    the operator, dropping served requests) are fine."""
    ns = solo_namespace
    create(k8s, ns, "filler", spec(enabled=False))
    key = c.BACKFILL_ANNOTATION
    limit = timing.MAX_BACKFILL_REQUESTS
    message = wait_for(
        lambda: annotate_refusal(k8s, ns, "filler", {key: _backfills(limit + 1)}),
        30,
        "the job-limits policy to be enforced",
    )
    assert "ValidatingAdmissionPolicy 'chronos-job-limits'" in message, message
    assert f"at most {limit} backfill requests" in message, message
    for bad in (
        "not json",
        '{"id":"a","from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z"}',  # no list
        '[{"id":"A B","from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z"}]',
        '[{"id":"a","from":"yesterday","to":"2026-01-02T00:00:00Z"}]',
        '[{"id":"a","from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z","max":101}]',
        '[{"id":"a","from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z","x":"$(id)"}]',
        "[" + ",".join([_backfills(1)[1:-1]] * 2) + "x]",
        _backfills(1)[:-1] + " " * timing.MAX_BACKFILL_ANNOTATION_BYTES + "]",
    ):
        refused = annotate_refusal(k8s, ns, "filler", {key: bad})
        assert refused is not None, bad
        assert "backfill" in refused, refused
    assert annotate_refusal(k8s, ns, "filler", {key: _backfills(limit)}) is None
    # Shorter is no way around the shape.
    assert annotate_refusal(k8s, ns, "filler", {key: "[x]"}) is not None
    # Shrinking (the operator drops what it served) is allowed beyond the byte bound.
    assert (
        annotate_refusal(k8s, ns, "filler", {key: _backfills(2, separators=(", ", ": "))}) is None
    )
    assert annotate_refusal(k8s, ns, "filler", {key: _backfills(1)}) is None
    assert annotate_refusal(k8s, ns, "filler", {key: None}) is None
    assert key not in (get_cr(k8s, ns, "filler")["metadata"].get("annotations") or {})
