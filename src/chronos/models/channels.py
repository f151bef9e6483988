"""The ChronosChannel custom resource (issue 21): where notifications go.

The Flux Provider/Alert split: a channel holds the destination, and a ``secretRef`` for
what must stay secret (the URL, a bearer token, the signing key, SMTP credentials);
jobs name channels in ``spec.notify`` (``chronos.models.notify``). Keys of the Secret:

- ``address``: the URL (webhook, cloudevents, slack, cronicle). Required for those types.
- ``token``: optional bearer token, sent as ``Authorization: Bearer``.
- ``signingKey``: webhook only, required: the Standard Webhooks secret (``whsec_`` +
  base64); the body is signed with HMAC-SHA256.
- ``username`` / ``password``: email only, optional SMTP AUTH (after STARTTLS).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from chronos.models.base import Lax, SecretName, UniqueList, _Model, _pattern, _pattern_check

GROUP = "chronos.gluesync.io"
VERSION = "v1alpha1"
KIND = "ChronosChannel"
PLURAL = "chronoschannels"
SINGULAR = "chronoschannel"

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

    host: str = Field(
        max_length=253,
        json_schema_extra={"pattern": HOST},
        description="SMTP server host name or address.",
    )
    port: int = Field(default=587, ge=1, le=65535)
    start_tls: bool = Field(
        default=True, description="Upgrade with STARTTLS before authenticating (587)."
    )
    from_: Email = Field(alias="from", description="The sender address.")
    to: Annotated[list[Email], UniqueList] = Field(
        min_length=1, max_length=MAX_RECIPIENTS, description="Recipients."
    )


class ChronosChannelSpec(_Model):
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
