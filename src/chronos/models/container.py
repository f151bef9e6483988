"""The ``container`` task (issue 20, feature 7): Cronicle's "run this script", as a pod.

A ``container`` task names an image, its command and arguments, environment (values or
references to Secret / ConfigMap keys), resources and optionally a ServiceAccount. The
operator turns it into the pod of the job's CronJob (``chronos.operator.container``);
the exit code of that container is the run's result.

Security is in the shape of these fields, not only in admission:

- every string has a strict pattern, checked alike by the CRD (schema ``pattern``), the
  REST facade and the operator (the Python check), so nothing a user writes can smuggle
  another field into the pod;
- environment names are C identifiers and may not start with ``CHRONOS_``: that prefix
  is the operator's (chronos.contract ENV_*), so a container task can never pose as a
  runner's configuration;
- references name objects of the job's own namespace only (no namespace field), and
  admission (deploy/base/admission-container.yaml) checks that the requesting user may
  ``get`` each of them, ``create pods``, and act as the named ServiceAccount.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from chronos.models.base import (
    DNS_SUBDOMAIN,
    MultiLine,
    SecretKey,
    SecretName,
    _Model,
    _pattern,
    _pattern_check,
    integral,
)
from chronos.models.rules import Pattern, Rule, cel_extension, enforce

#: An OCI image reference: ``[registry[:port]/]path[:tag][@sha256:digest]``, lowercase
#: path components (the distribution spec's grammar, anchored, without the rarely used
#: uppercase registry hosts). No spaces, no quotes, no ``$``: an image is never a place
#: for anything but a name.
IMAGE = Pattern(
    r"^[a-z0-9]+([.-][a-z0-9]+)*(:[0-9]{1,5})?"
    r"(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$",
    "must be an image reference such as registry.example.com/team/export:1.2 "
    "(lowercase name, optional :tag and @sha256:digest)",
)
#: Environment variable names: C identifiers (what every shell can expand), not the
#: reserved ``CHRONOS_`` prefix of the operator's own variables (chronos.contract).
ENV_NAME = Pattern(
    r"^[A-Za-z_][A-Za-z0-9_]*$",
    "must be an environment variable name: letters, digits and '_', not starting with a digit",
)
RESERVED_ENV_PREFIX = "CHRONOS_"
#: A CPU or memory quantity: a plain decimal with an optional suffix (m, k, M, G, T, P,
#: E, Ki … Ei); no sign, no exponent, at most 9 integer digits.
QUANTITY = Pattern(
    r"^[0-9]{1,9}(\.[0-9]{1,6})?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$",
    "must be a quantity such as 250m, 0.5, 128Mi or 2Gi",
)
#: ServiceAccount names: DNS-1123 subdomains, as the API server checks them.
SA_NAME_MESSAGE = "must be a ServiceAccount name: lowercase letters, digits, '-' and '.'"
MAX_ARGS = 64
MAX_ENV = 64
MAX_IMAGE = 512

Image = Annotated[
    str,
    Field(min_length=1, max_length=MAX_IMAGE),
    _pattern(IMAGE.regex),
    _pattern_check(IMAGE.regex, IMAGE.message),
]
EnvName = Annotated[
    str,
    Field(min_length=1, max_length=128),
    _pattern(ENV_NAME.regex),
    _pattern_check(ENV_NAME.regex, ENV_NAME.message),
]
Quantity = Annotated[
    str,
    Field(min_length=1, max_length=32),
    _pattern(QUANTITY.regex),
    _pattern_check(QUANTITY.regex, QUANTITY.message),
]
ServiceAccountName = Annotated[
    str,
    Field(min_length=1, max_length=253),
    _pattern(DNS_SUBDOMAIN),
    _pattern_check(DNS_SUBDOMAIN, SA_NAME_MESSAGE),
]


class KeyRef(_Model):
    """One key of a Secret or ConfigMap in the job's namespace."""

    name: SecretName = Field(description="Object in the job's namespace.")
    key: SecretKey = Field(description="Key within it.")


ENV_RULES: tuple[Rule[ContainerEnv], ...] = (
    Rule(
        cel=(
            "(has(self.value) ? 1 : 0) + (has(self.secretKeyRef) ? 1 : 0) "
            "+ (has(self.configMapKeyRef) ? 1 : 0) == 1"
        ),
        message="set exactly one of value, secretKeyRef and configMapKeyRef",
        field_path=".value",
        check=lambda e: [e.value, e.secret_key_ref, e.config_map_key_ref].count(None) == 2,
    ),
    Rule(
        cel=f"!self.name.startsWith('{RESERVED_ENV_PREFIX}')",
        message=f"names starting with {RESERVED_ENV_PREFIX} are reserved for Chronos",
        field_path=".name",
        check=lambda e: not e.name.startswith(RESERVED_ENV_PREFIX),
    ),
)


class ContainerEnv(_Model):
    """One environment variable of the container: a value or a reference."""

    model_config = ConfigDict(json_schema_extra=cel_extension(ENV_RULES))

    name: EnvName = Field(description="Variable name (not starting with CHRONOS_).")
    value: MultiLine | None = Field(default=None, description="Literal value.")
    secret_key_ref: KeyRef | None = Field(
        default=None,
        description="A Secret key in the job's namespace; its author must be able to get it.",
    )
    config_map_key_ref: KeyRef | None = Field(
        default=None,
        description="A ConfigMap key in the job's namespace; its author must be able to get it.",
    )

    @model_validator(mode="after")
    def _cross_field(self) -> ContainerEnv:
        return enforce(self, ENV_RULES)


class ResourceAmounts(_Model):
    cpu: Quantity | None = Field(default=None, description="CPU, e.g. 250m or 1.")
    memory: Quantity | None = Field(default=None, description="Memory, e.g. 128Mi or 1Gi.")


class ContainerResources(_Model):
    requests: ResourceAmounts | None = Field(default=None, description="What the pod reserves.")
    limits: ResourceAmounts | None = Field(default=None, description="What it may use at most.")


CONTAINER_RULES: tuple[Rule[ContainerTask], ...] = (
    # Pairwise uniqueness: 64 x 64 comparisons at most, within the CEL cost budget.
    Rule(
        cel=("!has(self.env) || self.env.all(e, self.env.exists_one(o, o.name == e.name))"),
        message="each env variable needs a different name",
        field_path=".env",
        check=lambda t: len({e.name for e in t.env or []}) == len(t.env or []),
    ),
)

Arg = Annotated[MultiLine, Field(min_length=1)]


class ContainerTask(_Model):
    """The pod a ``container`` task runs: its exit code is the run's result."""

    model_config = ConfigDict(json_schema_extra=cel_extension(CONTAINER_RULES))

    image: Image = Field(description="Image to run, e.g. registry.example.com/team/export:1.2.")
    command: list[Arg] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ARGS,
        description="Entrypoint (replaces the image's); absent: the image's own.",
    )
    args: list[Arg] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ARGS,
        description="Arguments to the entrypoint; absent: the image's own.",
    )
    env: list[ContainerEnv] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ENV,
        description="Environment variables (names not starting with CHRONOS_).",
    )
    resources: ContainerResources | None = Field(
        default=None, description="CPU and memory requests and limits."
    )
    service_account_name: ServiceAccountName | None = Field(
        default=None,
        description=(
            "ServiceAccount the pod runs as (its token is mounted). Its author needs the "
            "right to create tokens for it (create serviceaccounts/token on that name). "
            "Absent: the namespace's default ServiceAccount, with no token mounted."
        ),
    )
    run_as_user: (
        Annotated[Annotated[int, Field(ge=1, le=2147483647)], BeforeValidator(integral)] | None
    ) = Field(
        default=None,
        description=(
            "Non-root user id the container runs as; absent: 65532. Pods meet Pod "
            "Security 'restricted' (non-root, no privilege escalation, no capabilities)."
        ),
    )

    @model_validator(mode="after")
    def _cross_field(self) -> ContainerTask:
        return enforce(self, CONTAINER_RULES)

    def secret_names(self) -> list[str]:
        """The Secrets the pod receives, each once, in order."""
        return list(
            dict.fromkeys(e.secret_key_ref.name for e in self.env or [] if e.secret_key_ref)
        )

    def config_map_names(self) -> list[str]:
        return list(
            dict.fromkeys(e.config_map_key_ref.name for e in self.env or [] if e.config_map_key_ref)
        )


#: The value of ``Task.type`` for a container task (``TaskType.CONTAINER``; spelled here
#: too because chronosjob.py imports this module, not the other way round).
CONTAINER_TYPE = "container"

#: Rules on ``Task`` (chronosjob.TASK_RULES includes them): a container task carries
#: ``container`` and no CoreHub pipeline; every other task the reverse.
CONTAINER_TASK_RULES: tuple[Rule[Any], ...] = (
    Rule(
        cel=f"(self.type == '{CONTAINER_TYPE}') == has(self.container)",
        message="container is required for container tasks and must be absent for other types",
        field_path=".container",
        check=lambda t: (t.type == CONTAINER_TYPE) == (t.container is not None),
    ),
    Rule(
        cel=f"(self.type == '{CONTAINER_TYPE}') != has(self.pipelineId)",
        message="pipelineId is required for CoreHub tasks and must be absent for container tasks",
        field_path=".pipelineId",
        check=lambda t: (t.type == CONTAINER_TYPE) != (t.pipeline_id is not None),
    ),
)
