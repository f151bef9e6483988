"""The ChronosChannel custom resource (issue 21): where notifications go.

The Flux Provider/Alert split: a channel holds the destination, and a ``secretRef`` for
what must stay secret (the URL, a bearer token, the signing key, SMTP credentials);
jobs name channels in ``spec.notify`` (``chronos.models.notify``). Keys of the Secret:

- ``address``: the URL (webhook, cloudevents, slack, cronicle). Required for those types.
- ``token``: optional bearer token, sent as ``Authorization: Bearer``.
- ``signingKey``: webhook only, required: the Standard Webhooks secret (``whsec_`` +
  base64); the body is signed with HMAC-SHA256.
- ``username`` / ``password``: email only, optional SMTP AUTH (after STARTTLS); both or
  neither.

``chronos.models.crd`` generates ``deploy/crd/chronoschannels.yaml`` from these models;
the operator writes ``status.conditions`` Ready from :func:`channel_ready` (pure: the
Secret's key names in, never its values).
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Annotated, Any, NamedTuple

from pydantic import ConfigDict, Field, model_validator

from chronos.models.base import Lax, SecretName, UniqueList, _Model, _pattern, _pattern_check
from chronos.models.chronosjob import GROUP as GROUP
from chronos.models.chronosjob import VERSION as VERSION
from chronos.models.chronosjob import Condition
from chronos.models.rules import Rule, cel_extension, enforce, present_only_for

KIND = "ChronosChannel"
PLURAL = "chronoschannels"
SINGULAR = "chronoschannel"
SHORT_NAMES = ("chchan",)

#: Secret keys a channel reads (one home for the names).
ADDRESS_KEY = "address"
TOKEN_KEY = "token"  # noqa: S105 - a key name, not a token
SIGNING_KEY = "signingKey"
USERNAME_KEY = "username"
PASSWORD_KEY = "password"  # noqa: S105 - a key name, not a password

MAX_RECIPIENTS = 20
# An addr-spec, simplified: no spaces, quotes, angle brackets or control characters.
EMAIL = r"^[^\s@<>\"(),;:\\\[\]\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.-]{1,253}$"
HOST = r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$"

Host = Annotated[
    str,
    Field(min_length=1, max_length=253),
    _pattern(HOST),
    _pattern_check(HOST, "must be a host name or IPv4 address: letters, digits, '-' and '.'"),
]
Email = Annotated[
    str,
    Field(min_length=3, max_length=320),
    _pattern(EMAIL),
    _pattern_check(EMAIL, "must be an e-mail address (local@domain)"),
]


class ChannelType(StrEnum):
    #: JSON, signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature).
    WEBHOOK = "webhook"
    #: CloudEvents 1.0, structured JSON mode (application/cloudevents+json).
    CLOUDEVENTS = "cloudevents"
    #: A Slack-compatible incoming webhook ({"text", "blocks"}): also Mattermost.
    SLACK = "slack"
    #: E-mail over SMTP (STARTTLS unless disabled).
    EMAIL = "email"
    #: Cronicle's web-hook payload, for teams migrating from Cronicle.
    CRONICLE = "cronicle"


class SecretRef(_Model):
    name: SecretName = Field(description="A Secret in the channel's namespace.")


class EmailSettings(_Model):
    """Where and how mail is sent (the credentials are in the Secret)."""

    host: Host = Field(description="SMTP server host name or address.")
    port: int = Field(default=587, ge=1, le=65535)
    start_tls: bool = Field(
        default=True, description="Upgrade with STARTTLS before authenticating (587)."
    )
    from_: Email = Field(alias="from", description="The sender address.")
    to: Annotated[list[Email], UniqueList] = Field(
        min_length=1,
        max_length=MAX_RECIPIENTS,
        description="Recipients.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


#: The Secret keys each type cannot do without (``channel_ready``); the rest are optional.
REQUIRED_KEYS: dict[ChannelType, tuple[str, ...]] = {
    ChannelType.WEBHOOK: (ADDRESS_KEY, SIGNING_KEY),
    ChannelType.CLOUDEVENTS: (ADDRESS_KEY,),
    ChannelType.SLACK: (ADDRESS_KEY,),
    ChannelType.CRONICLE: (ADDRESS_KEY,),
    ChannelType.EMAIL: (),
}
#: Keys that go together: SMTP AUTH needs both (or neither: no AUTH).
PAIRED_KEYS = (USERNAME_KEY, PASSWORD_KEY)

#: The types whose destination is in the Secret (``address``): all but email, whose
#: server is in ``spec.email`` and whose Secret (AUTH) is optional.
SECRET_TYPES = tuple(t.value for t in ChannelType if ADDRESS_KEY in REQUIRED_KEYS[t])

SPEC_RULES: tuple[Rule[ChronosChannelSpec], ...] = (
    present_only_for(
        "email",
        [ChannelType.EMAIL.value],
        "email (host, from, to) is required for type email and not allowed for other types",
    ),
    Rule(
        cel=f"!(self.type in [{', '.join(repr(t) for t in SECRET_TYPES)}]) || has(self.secretRef)",
        message=(
            "secretRef is required for types "
            + ", ".join(SECRET_TYPES)
            + ": the Secret holds the address"
        ),
        field_path=".secretRef",
        check=lambda s: str(s.type) not in SECRET_TYPES or s.secret_ref is not None,
    ),
)


class ChronosChannelSpec(_Model):
    """Where notifications go, the Secret holding the destination and credentials, retries."""

    model_config = ConfigDict(json_schema_extra=cel_extension(SPEC_RULES))

    type: Annotated[ChannelType, Lax] = Field(
        description="webhook, cloudevents, slack, email or cronicle."
    )
    secret_ref: SecretRef | None = Field(
        default=None,
        description="The Secret with address, token, signingKey, username, password.",
    )
    email: EmailSettings | None = Field(default=None, description="For type email only.")
    max_attempts: int = Field(
        default=6, ge=1, le=20, description="Tries per event before it is given up."
    )
    timeout_seconds: int = Field(default=10, ge=1, le=60, description="Per attempt.")
    suspend: bool = Field(default=False, description="Deliver nothing while true.")

    @model_validator(mode="after")
    def _cross_field(self) -> ChronosChannelSpec:
        return enforce(self, SPEC_RULES)


class ChannelCondition(Condition):
    type: str = Field(
        max_length=316,
        description="Ready: the Secret exists and holds the keys the channel's type needs.",
    )


class ChronosChannelStatus(_Model):
    """Observed state, written by the operator."""

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the operator last read."
    )
    conditions: list[ChannelCondition] | None = Field(
        default=None,
        description=(
            "Ready; False with reason SecretMissing, SecretKeysMissing (the message names "
            "the keys, never a value) or CleartextAuth (SMTP credentials without STARTTLS)."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )


class ChronosChannel(_Model):
    """Where ChronosJobs (spec.notify) send notifications: webhook, CloudEvents, Slack, mail."""

    api_version: str = Field(default=f"{GROUP}/{VERSION}")
    kind: str = Field(default=KIND)
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ChronosChannelSpec
    status: ChronosChannelStatus | None = None


# ------------------------------------------------------------------ readiness (pure)

#: The Ready condition's type.
READY = "Ready"


class ReadyReason(StrEnum):
    """Why Ready is what it is (the condition's reason)."""

    #: True: the Secret holds what the type needs.
    KEYS_PRESENT = "SecretReady"
    #: True: an email channel without a Secret (no SMTP AUTH).
    NOTHING_NEEDED = "NoSecretNeeded"
    #: False: the Secret named does not exist.
    MISSING = "SecretMissing"
    #: False: the Secret lacks a key the type needs (the message names it).
    KEYS_MISSING = "SecretKeysMissing"
    #: False: SMTP AUTH without STARTTLS would send the password in clear text.
    CLEARTEXT_AUTH = "CleartextAuth"


class ChannelReadiness(NamedTuple):
    """What the channel's Ready condition says (reason CamelCase, message for people)."""

    ok: bool
    reason: ReadyReason
    message: str


def _listed(keys: Collection[str]) -> str:
    ordered = sorted(keys)
    return ", ".join(ordered[:-1]) + " and " + ordered[-1] if len(ordered) > 1 else "".join(ordered)


def channel_ready(
    spec: ChronosChannelSpec, secret_keys: Collection[str] | None
) -> ChannelReadiness:
    """Whether a channel can deliver, judged from the key names of its Secret.

    ``secret_keys`` is None when the Secret named by ``spec.secretRef`` does not exist
    (or the channel names none). Only key names are looked at, never values, so the
    message can name what is missing without echoing anything secret.
    """
    channel_type = ChannelType(spec.type)
    ref = spec.secret_ref
    if ref is None:
        if REQUIRED_KEYS[channel_type]:  # refused by the CRD; an object from before the rule
            return ChannelReadiness(
                False, ReadyReason.MISSING, f"type {channel_type} needs secretRef"
            )
        return ChannelReadiness(
            True, ReadyReason.NOTHING_NEEDED, f"type {channel_type} without a Secret"
        )
    if secret_keys is None:
        return ChannelReadiness(False, ReadyReason.MISSING, f"Secret '{ref.name}' not found")
    present = set(secret_keys)
    missing = [k for k in REQUIRED_KEYS[channel_type] if k not in present]
    needs = _listed(REQUIRED_KEYS[channel_type])
    if channel_type is ChannelType.EMAIL:
        auth = [k for k in PAIRED_KEYS if k in present]
        if auth and spec.email is not None and not spec.email.start_tls:
            return ChannelReadiness(
                False,
                ReadyReason.CLEARTEXT_AUTH,
                f"Secret '{ref.name}' holds SMTP credentials but email.startTls is false: "
                "they would cross the network unencrypted",
            )
        if auth:
            missing = [k for k in PAIRED_KEYS if k not in present]
            needs = f"{_listed(PAIRED_KEYS)} together"
    if missing:
        return ChannelReadiness(
            False,
            ReadyReason.KEYS_MISSING,
            f"Secret '{ref.name}' has no key{'s' if len(missing) > 1 else ''} {_listed(missing)} "
            f"(type {channel_type} needs {needs})",
        )
    return ChannelReadiness(
        True,
        ReadyReason.KEYS_PRESENT,
        f"Secret '{ref.name}' has the keys type {channel_type} needs",
    )
