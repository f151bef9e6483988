"""The ChronosChannel model (issue 21): its rules, the CRD generated from it, and
``channel_ready`` (the Ready condition, judged from the Secret's key names). The rules'
CEL twins run on the API server in tests/cluster/test_crd.py with the same cases."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from cases import BAD_CHANNELS, GOOD_CHANNELS, HOOK_SECRET, MAIL
from pydantic import ValidationError
from support import ROOT, error_fields, schema_nodes

from chronos.models import channels as ch
from chronos.models.crd import build_channel_crd
from chronos.models.notify import NotifyRule


@pytest.mark.parametrize(("case", "body", "field"), BAD_CHANNELS, ids=[c[0] for c in BAD_CHANNELS])
def test_bad_channel_is_rejected_naming_the_field(
    case: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        ch.ChronosChannelSpec.model_validate(body)
    named = error_fields(info.value)
    assert any(path == field or path.startswith(field + ".") for path in named), (case, named)


@pytest.mark.parametrize(("case", "body"), GOOD_CHANNELS, ids=[c[0] for c in GOOD_CHANNELS])
def test_good_channel_is_accepted_and_round_trips(case: str, body: dict[str, Any]) -> None:
    spec = ch.ChronosChannelSpec.model_validate(body)
    # What was written comes back (the cases set no field to its default) ...
    assert spec.model_dump(mode="json", exclude_defaults=True) == body, case
    # ... and with the defaults filled in (the CRD's are the same: the cluster test).
    dumped = spec.model_dump(mode="json", exclude_none=True)
    assert ch.ChronosChannelSpec.model_validate(dumped) == spec


def test_channel_refuses_an_unknown_field() -> None:
    """The URL belongs in the Secret: a spec field for it does not exist. (The API server
    prunes an unknown field instead, unless the client asks for strict validation.)"""
    body = {"type": "webhook", "secretRef": HOOK_SECRET, "url": "https://x.example"}
    with pytest.raises(ValidationError) as info:
        ch.ChronosChannelSpec.model_validate(body)
    assert error_fields(info.value) == ["url"]


def test_defaults() -> None:
    spec = ch.ChronosChannelSpec.model_validate({"type": "email", "email": MAIL})
    assert (spec.max_attempts, spec.timeout_seconds, spec.suspend) == (6, 10, False)
    assert spec.email is not None
    assert (spec.email.port, spec.email.start_tls) == (587, True)


@pytest.mark.parametrize("channel_type", list(ch.ChannelType))
def test_secret_ref_rule_and_email_rule_for_every_type(channel_type: ch.ChannelType) -> None:
    """Each type both ways: which of secretRef and email it needs, allows or refuses."""
    with_secret = {"type": channel_type.value, "secretRef": HOOK_SECRET}
    with_mail = {"type": channel_type.value, "email": MAIL}
    if channel_type is ch.ChannelType.EMAIL:
        ch.ChronosChannelSpec.model_validate(with_mail)
        ch.ChronosChannelSpec.model_validate({**with_mail, **with_secret})
        with pytest.raises(ValidationError) as info:
            ch.ChronosChannelSpec.model_validate(with_secret)
        assert error_fields(info.value) == ["email"]
    else:
        ch.ChronosChannelSpec.model_validate(with_secret)
        with pytest.raises(ValidationError) as info:
            ch.ChronosChannelSpec.model_validate({"type": channel_type.value})
        assert error_fields(info.value) == ["secretRef"]
        with pytest.raises(ValidationError) as info:
            ch.ChronosChannelSpec.model_validate({**with_secret, **with_mail})
        assert error_fields(info.value) == ["email"]


def test_the_rules_cel_names_the_types_python_checks() -> None:
    """One list of types (REQUIRED_KEYS) gives the CEL rule and the Python check."""
    email_rule, secret_rule = ch.SPEC_RULES
    assert email_rule.cel == "self.type in ['email'] ? has(self.email) : !has(self.email)"
    assert secret_rule.cel == (
        "!(self.type in ['webhook', 'cloudevents', 'slack', 'cronicle']) || has(self.secretRef)"
    )
    assert set(ch.REQUIRED_KEYS) == set(ch.ChannelType)


def test_channel_crd() -> None:
    crd = build_channel_crd()
    assert crd["metadata"]["name"] == "chronoschannels.chronos.gluesync.io"
    assert crd["spec"]["names"]["kind"] == "ChronosChannel"
    assert crd["spec"]["names"]["shortNames"] == ["chchan"]
    version = crd["spec"]["versions"][0]
    columns = [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns[:3] == [
        ("Type", ".spec.type"),
        ("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        ("Age", ".metadata.creationTimestamp"),
    ]
    schema = version["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    assert [v["fieldPath"] for v in spec["x-kubernetes-validations"]] == [".email", ".secretRef"]
    assert spec["properties"]["email"]["properties"]["to"]["x-kubernetes-list-type"] == "set"
    for node in schema_nodes(schema):
        assert "type" in node, node
        for forbidden in ("$ref", "anyOf", "additionalProperties", "title"):
            assert forbidden not in node, (forbidden, node)


# ------------------------------------------------------------------ channel_ready


def _spec(body: dict[str, Any]) -> ch.ChronosChannelSpec:
    return ch.ChronosChannelSpec.model_validate(body)


WEBHOOK = _spec({"type": "webhook", "secretRef": HOOK_SECRET})
MAILER = _spec({"type": "email", "email": MAIL, "secretRef": {"name": "smtp"}})
CLEAR = _spec({"type": "email", "email": {**MAIL, "startTls": False}, "secretRef": {"name": "s"}})

READY_CASES: list[tuple[str, ch.ChronosChannelSpec, list[str] | None, ch.ChannelReadiness]] = [
    (
        "webhook with address and signing key",
        WEBHOOK,
        ["address", "signingKey", "token"],
        ch.ChannelReadiness(
            True, ch.ReadyReason("SecretReady"), "Secret 'hook' has the keys type webhook needs"
        ),
    ),
    (
        "webhook without its Secret",
        WEBHOOK,
        None,
        ch.ChannelReadiness(False, ch.ReadyReason("SecretMissing"), "Secret 'hook' not found"),
    ),
    (
        "webhook without a signing key",
        WEBHOOK,
        ["address"],
        ch.ChannelReadiness(
            False,
            ch.ReadyReason("SecretKeysMissing"),
            "Secret 'hook' has no key signingKey (type webhook needs address and signingKey)",
        ),
    ),
    (
        "webhook with an empty Secret",
        WEBHOOK,
        [],
        ch.ChannelReadiness(
            False,
            ch.ReadyReason("SecretKeysMissing"),
            "Secret 'hook' has no keys address and signingKey "
            "(type webhook needs address and signingKey)",
        ),
    ),
    (
        "slack with its address",
        _spec({"type": "slack", "secretRef": HOOK_SECRET}),
        ["address"],
        ch.ChannelReadiness(
            True, ch.ReadyReason("SecretReady"), "Secret 'hook' has the keys type slack needs"
        ),
    ),
    (
        "cloudevents with a misspelt key",
        _spec({"type": "cloudevents", "secretRef": HOOK_SECRET}),
        ["adress"],
        ch.ChannelReadiness(
            False,
            ch.ReadyReason("SecretKeysMissing"),
            "Secret 'hook' has no key address (type cloudevents needs address)",
        ),
    ),
    (
        "email without a Secret",
        _spec({"type": "email", "email": MAIL}),
        None,
        ch.ChannelReadiness(True, ch.ReadyReason("NoSecretNeeded"), "type email without a Secret"),
    ),
    (
        "email with both credentials",
        MAILER,
        ["username", "password"],
        ch.ChannelReadiness(
            True, ch.ReadyReason("SecretReady"), "Secret 'smtp' has the keys type email needs"
        ),
    ),
    (
        "email with a Secret that holds no credentials",
        MAILER,
        ["token"],
        ch.ChannelReadiness(
            True, ch.ReadyReason("SecretReady"), "Secret 'smtp' has the keys type email needs"
        ),
    ),
    (
        "email with a username only",
        MAILER,
        ["username"],
        ch.ChannelReadiness(
            False,
            ch.ReadyReason("SecretKeysMissing"),
            "Secret 'smtp' has no key password (type email needs password and username together)",
        ),
    ),
    (
        "email whose Secret is gone",
        MAILER,
        None,
        ch.ChannelReadiness(False, ch.ReadyReason("SecretMissing"), "Secret 'smtp' not found"),
    ),
    (
        "email credentials without STARTTLS",
        CLEAR,
        ["username", "password"],
        ch.ChannelReadiness(
            False,
            ch.ReadyReason("CleartextAuth"),
            "Secret 's' holds SMTP credentials but email.startTls is false: they would cross "
            "the network unencrypted",
        ),
    ),
    (
        "email without STARTTLS and without credentials",
        CLEAR,
        [],
        ch.ChannelReadiness(
            True, ch.ReadyReason("SecretReady"), "Secret 's' has the keys type email needs"
        ),
    ),
]


@pytest.mark.parametrize(
    ("case", "spec", "keys", "expected"), READY_CASES, ids=[c[0] for c in READY_CASES]
)
def test_channel_ready(
    case: str, spec: ch.ChronosChannelSpec, keys: list[str] | None, expected: ch.ChannelReadiness
) -> None:
    assert ch.channel_ready(spec, keys) == expected, case


def test_a_stored_channel_from_before_the_rule_is_not_ready() -> None:
    """An object the CRD would refuse today (built without validation) reads as not
    ready rather than crashing the operator."""
    old = ch.ChronosChannelSpec.model_construct(type=ch.ChannelType.WEBHOOK, secret_ref=None)
    ready = ch.channel_ready(old, None)
    assert (ready.ok, ready.reason) == (False, "SecretMissing")


def test_readiness_reasons_are_camel_case_words() -> None:
    for reason in ch.ReadyReason:
        assert reason.value.isalpha(), reason
        assert reason.value[0].isupper(), reason


# ------------------------------------------------------------------ the documentation

DOC = ROOT / "docs" / "notifications.md"
HEADING = "## The ChronosChannel resource"


def _section() -> str:
    """docs/notifications.md's ChronosChannel section, up to the next ``## `` heading."""
    text = DOC.read_text()
    assert HEADING in text
    rest = text[text.index(HEADING) + len(HEADING) :]
    return rest.split("\n## ", 1)[0]


def _table_column(section: str, after: str, column: int) -> set[str]:
    """The backquoted words in ``column`` of the first table below the line ``after``."""
    lines = section[section.index(after) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[column + 1])
    return {word for cell in rows for word in re.findall(r"`([^`]+)`", cell)}


def test_the_docs_examples_are_valid_channels_and_notify_rules() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", _section(), re.DOTALL)
    channels = [
        doc
        for block in blocks
        for doc in yaml.safe_load_all(block)
        if doc and doc.get("kind") == "ChronosChannel"
    ]
    assert len(channels) == 2
    for doc in channels:
        ch.ChronosChannel.model_validate(doc)
    (notify,) = [yaml.safe_load(b)["spec"]["notify"] for b in blocks if "notify:" in b]
    for rule in notify:
        NotifyRule.model_validate(rule)


def test_the_docs_tables_are_the_models() -> None:
    section = _section()
    assert _table_column(section, "### Status: Ready", 1) == {r.value for r in ch.ReadyReason}
    # (The column also quotes what goes in a value: whsec_…, Authorization: Bearer.)
    quoted = _table_column(section, "### The Secret's keys", 0)
    keys = quoted - {"whsec_", "Authorization: Bearer"}
    assert keys == {
        ch.ADDRESS_KEY,
        ch.SIGNING_KEY,
        ch.TOKEN_KEY,
        ch.USERNAME_KEY,
        ch.PASSWORD_KEY,
    }
    fields = _table_column(section, "### Fields", 0)
    spec_fields = {
        info.alias or name for name, info in ch.ChronosChannelSpec.model_fields.items()
    } - {"email", "secretRef"}
    mail_fields = {
        f"email.{info.alias or name}" for name, info in ch.EmailSettings.model_fields.items()
    }
    assert fields == spec_fields | mail_fields | {"secretRef.name"}
