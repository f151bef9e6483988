"""Issue 17, findings 2, 8 and 10, as pure logic: where the operator's default CoreHub
credentials may go, which CoreHub URLs and hosts a job may name, and how many run-now
requests the operator serves. The same rules on the real control plane:
tests/cluster/test_admission_limits.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import builders
import pytest
from pydantic import ValidationError

from chronos import contract as c
from chronos import runnow as rn
from chronos.models.chronosjob import CoreHub
from chronos.models.resolve import resolve_schedule
from chronos.models.wire import ChronosJobDict, SpecDict
from chronos.operator.cronjob import build_cronjob
from chronos.operator.desired import RejectedError, desired_state
from chronos.operator.settings import OperatorSettings, host_allowed, url_host
from chronos.settings import SettingsError

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
CREDS = {"name": "mine"}


def _cr(hub: dict[str, Any]) -> ChronosJobDict:
    return {
        "metadata": {"name": "x", "namespace": "ns", "uid": "u"},
        "spec": cast(SpecDict, builders.spec(coreHub=hub)),
    }


def _rejection(hub: dict[str, Any], **cfg: Any) -> RejectedError | None:
    try:
        desired_state(_cr(hub), builders.operator_settings(**cfg))
    except RejectedError as exc:
        return exc
    return None


# ------------------------------------------------------------ F2: default credentials


@pytest.mark.parametrize(
    "hub",
    [
        {"url": "https://attacker.example"},
        {"tls": {"insecureSkipVerify": True}},
        {"tls": {"caSecretRef": {"name": "ca", "key": "ca.crt"}}},
    ],
)
def test_a_job_that_redirects_must_name_its_credentials(hub: dict[str, Any]) -> None:
    """Whether the operator has a default Secret or not (it may be set later): refused by
    the model (CRD rule and REST alike) and by the operator, with its own reason."""
    with pytest.raises(ValidationError, match="credentialsSecretRef is required"):
        CoreHub.model_validate(hub)
    for default in ("hub", None):
        rejection = _rejection(hub, corehub_credentials_secret=default)
        assert rejection is not None
        assert rejection.reason == "DefaultCredentialsRefused"
        assert rejection.message.startswith("spec.coreHub.credentialsSecretRef: ")
    assert _rejection({**hub, "credentialsSecretRef": CREDS}) is None


def test_the_operator_refuses_a_stored_job_that_broke_the_rule() -> None:
    """An object stored before the rule existed never reaches the CronJob builder's
    default credentials (checked there too, not only by the model)."""
    hub = CoreHub.model_construct(url="https://attacker.example", credentials_secret_ref=None)
    s = builders.spec_model().model_copy(update={"core_hub": hub})
    cfg = builders.operator_settings()
    with pytest.raises(ValueError, match="default credentials") as info:
        build_cronjob(
            name="x",
            namespace="ns",
            uid="u",
            spec=s,
            schedule=resolve_schedule(s, "UTC"),
            settings=cfg,
        )
    assert getattr(info.value, "reason", None) == "DefaultCredentialsRefused"


def test_the_default_secret_named_explicitly_still_goes_only_to_the_default_url() -> None:
    # builders.operator_settings: default URL https://hub:1717, default Secret "hub".
    named = {"credentialsSecretRef": {"name": "hub"}}
    assert _rejection({**named, "url": "https://hub:1717"}) is None
    for hub in (
        {**named, "url": "https://elsewhere:1717"},
        {**named, "url": "https://hub:1717", "tls": {"insecureSkipVerify": True}},
    ):
        rejection = _rejection(hub)
        assert rejection is not None
        assert rejection.reason == "DefaultCredentialsRefused"
        assert "'hub'" in rejection.message


# ------------------------------------------------------------ F10: URL and hosts


@pytest.mark.parametrize(
    "url",
    [
        "https://hub.example/api?x=1",
        "https://hub.example/#frag",
        "https://user:pw@hub.example",
        "https://user@hub.example:1717/base",
    ],
)
def test_urls_with_query_fragment_or_user_info_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="without a query"):
        CoreHub.model_validate({"url": url, "credentialsSecretRef": CREDS})


def test_plain_urls_are_accepted() -> None:
    for url in ("https://hub.example", "http://10.0.0.7:1717/base/path", "https://[::1]:8443"):
        assert CoreHub.model_validate({"url": url, "credentialsSecretRef": CREDS}).url == url


def test_host_allow_list() -> None:
    allowed = ("corehub.example.com", "*.corp.example", "10.0.0.7")
    assert host_allowed("corehub.example.com", allowed)
    assert host_allowed("a.b.corp.example", allowed)
    assert not host_allowed("corp.example", allowed)  # *. means below the domain only
    assert not host_allowed("evilcorp.example", allowed)
    assert host_allowed("10.0.0.7", allowed)
    assert not host_allowed("169.254.169.254", allowed)
    assert host_allowed("169.254.169.254", ())  # empty: every host
    assert url_host("https://CoreHub.Example.com:1717/x") == "corehub.example.com"
    assert url_host("https://[::1]:8443") == "::1"


def test_the_allow_list_setting_refuses_typos() -> None:
    parsed = OperatorSettings.from_env(
        {"CHRONOS_COREHUB_ALLOWED_HOSTS": " corehub.example.com, *.corp.example ,10.0.0.7"}
    )
    assert parsed.allowed_hosts == ("corehub.example.com", "*.corp.example", "10.0.0.7")
    assert OperatorSettings.from_env({}).allowed_hosts == ()
    for typo in ("https://corehub.example.com", "corehub.example.com:1717", "Hub.Example", "*"):
        with pytest.raises(SettingsError, match="CHRONOS_COREHUB_ALLOWED_HOSTS"):
            OperatorSettings.from_env({"CHRONOS_COREHUB_ALLOWED_HOSTS": typo})


def test_the_operator_refuses_a_host_outside_the_allow_list() -> None:
    hub = {"url": "http://169.254.169.254/latest", "credentialsSecretRef": CREDS}
    rejection = _rejection(hub, corehub_allowed_hosts="corehub.example.com")
    assert rejection is not None
    assert rejection.reason == "CoreHubHostNotAllowed"
    assert "'169.254.169.254'" in rejection.message
    hub["url"] = "https://corehub.example.com:1717"
    assert _rejection(hub, corehub_allowed_hosts="corehub.example.com") is None
    assert _rejection(hub) is None


# ------------------------------------------------------------ F8: run-now cap


def _pending(n: int) -> dict[str, str]:
    return {
        c.RUN_NOW_PENDING_ANNOTATION: json.dumps(
            {f"t{i:03d}": rn.stamp(NOW + timedelta(microseconds=i)) for i in range(n)},
            separators=(",", ":"),
        )
    }


def test_the_operator_serves_at_most_pending_max_and_drops_the_rest() -> None:
    state = rn.parse(_pending(rn.PENDING_MAX + 5), NOW)
    queue = rn.queue(state, NOW)
    assert len(queue) == rn.PENDING_MAX
    assert queue[0][0] == "t000"  # oldest first
    dropped = rn.excess(state, NOW)
    assert dropped == [f"t{i:03d}" for i in range(rn.PENDING_MAX, rn.PENDING_MAX + 5)]
    patch = rn.served_patch(state, [], NOW, dropped)
    left = json.loads(patch[c.RUN_NOW_PENDING_ANNOTATION] or "{}")
    assert len(left) == rn.PENDING_MAX
    assert not set(dropped) & set(left)
    assert json.loads(patch[c.RUN_NOW_DONE_ANNOTATION] or "{}") == {}  # dropped, not served
    assert rn.excess(rn.parse(_pending(rn.PENDING_MAX), NOW), NOW) == []


def test_the_pending_pattern_accepts_what_chronos_writes_and_counts_by_commas() -> None:
    pattern = re.compile(rn.PENDING_PATTERN)
    for n in (0, 1, rn.PENDING_MAX):
        raw = _pending(n)[c.RUN_NOW_PENDING_ANNOTATION]
        assert pattern.fullmatch(raw), n
        assert (0 if raw == "{}" else raw.count(",") + 1) == n
        assert len(raw) <= rn.PENDING_MAX_BYTES
    longest = json.dumps(
        {f"{i:03d}".ljust(128, "k"): "2026-03-04T05:06:07.000000+00:00" for i in range(64)},
        separators=(",", ":"),
    )
    assert pattern.fullmatch(longest)
    assert len(longest) <= rn.PENDING_MAX_BYTES
    written = rn.request_patch(rn.parse({}, NOW), "key:1.a_b-c", NOW)
    assert pattern.fullmatch(written[c.RUN_NOW_PENDING_ANNOTATION])
    for bad in ('{"a" : "2026-01-01T00:00:00Z"}', '{"a,b":"2026-01-01T00:00:00Z"}', "[]"):
        assert not pattern.fullmatch(bad), bad


def test_a_hand_set_token_admission_would_refuse_is_never_adopted() -> None:
    for token, adopted in (("ok-1", "ok-1"), ('x"y', None), ("a" * 129, None), ("", None)):
        state = rn.parse({c.RUN_NOW_ANNOTATION: token}, NOW)
        assert rn.unadopted(state, NOW) == adopted, token
