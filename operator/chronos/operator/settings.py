"""Operator settings (environment variables with the ``CHRONOS_`` prefix).

docs/configuration.md lists every variable with its default.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from chronos.models.chronosjob import DEFAULT_HISTORY, MAX_HISTORY, ChronosJobSpec
from chronos.settings import ScheduleSettings, TimeZoneName

#: What a cluster may need to add to runner pods (pull secrets, placement, sizing).
RUNNER_POD_OVERRIDES = frozenset(
    {
        "imagePullSecrets",
        "nodeSelector",
        "tolerations",
        "affinity",
        "priorityClassName",
        "resources",
    }
)


#: One host name label, as in DNS (lowercase: the comparison is case-insensitive).
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
#: An entry of CHRONOS_COREHUB_ALLOWED_HOSTS: a host name, or ``*.`` and a domain (any
#: host below it, not the domain itself). IP addresses are matched as written.
ALLOWED_HOST = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")


def _allowed_entry(entry: str) -> bool:
    try:
        ipaddress.ip_address(entry)
    except ValueError:
        return ALLOWED_HOST.fullmatch(entry) is not None
    return True


def url_host(url: str) -> str:
    """The host of a CoreHub URL, lowercase, IPv6 without brackets ("" if none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``host`` is in the allow-list (an empty list allows every host). The
    admission policy ``<fullname>-job-limits`` evaluates the same in CEL."""
    if not allowed:
        return True
    return any(
        host == entry or (entry.startswith("*.") and host.endswith(entry[1:])) for entry in allowed
    )


class OperatorSettings(ScheduleSettings):
    namespaces: str = Field(
        default="",
        description=(
            "Namespaces to watch: empty watches the whole cluster; otherwise a comma-separated "
            "list of names or globs, where `!glob` excludes (e.g. `team-*,!team-sandbox`)."
        ),
    )
    default_time_zone: TimeZoneName = Field(
        default="UTC", description="Time zone of ChronosJobs that set no spec.timeZone."
    )
    runner_image: str = Field(
        default="chronos-runner:0.1.0", description="Image of the runner container."
    )
    runner_image_pull_policy: str = Field(
        default="IfNotPresent",
        pattern="^(Always|IfNotPresent|Never)$",
        description="imagePullPolicy of the runner container.",
    )
    runner_pod_overrides: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "JSON merged into every runner pod: any of imagePullSecrets, nodeSelector, "
            "tolerations, affinity, priorityClassName, and resources (of the runner container)."
        ),
    )
    runner_service_account: str = Field(
        default="chronos-runner", description="ServiceAccount the runner pods use."
    )
    corehub_url: str | None = Field(
        default=None, description="Default CoreHub URL for jobs without spec.coreHub.url."
    )
    corehub_credentials_secret: str | None = Field(
        default=None,
        description="Default Secret (keys username, password) for jobs without their own.",
    )
    corehub_allowed_hosts: str = Field(
        default="",
        description=(
            "CoreHub hosts a ChronosJob's spec.coreHub.url may name, comma-separated: host "
            "names or IP addresses as written, or `*.example.com` for any host below a "
            "domain. Empty allows every host. Admission refuses other hosts when a job is "
            "written, the operator (Ready=False, CoreHubHostNotAllowed) when it runs."
        ),
    )
    history_limit: int = Field(
        default=DEFAULT_HISTORY,
        ge=1,
        le=MAX_HISTORY,
        description="Entries kept in status.history of ChronosJobs without spec.historyLimit.",
    )

    health_port: int = Field(
        default=8080, ge=0, le=65535, description="Port of /healthz, /readyz and /metrics."
    )
    health_host: str = Field(default="0.0.0.0", description="Address the health port binds.")  # noqa: S104
    leader_election: bool = Field(
        default=True, description="Run only while holding the leader Lease (for replicas > 1)."
    )
    lease_name: str = Field(default="chronos-operator", description="Name of the leader Lease.")
    lease_namespace: str = Field(
        default="",
        description="Namespace of the Lease; empty means the operator's own namespace.",
    )
    lease_duration_seconds: float = Field(
        default=15, gt=0, description="A standby takes over after this long without renewal."
    )
    lease_renew_seconds: float = Field(
        default=5,
        gt=0,
        description=(
            "How often the leader renews; a leader not renewed for the lease duration "
            "minus this stops leading, so the duration must exceed twice this."
        ),
    )

    housekeeping_seconds: float = Field(
        default=30,
        gt=0,
        description="How often each ChronosJob's next runs and missed slots are refreshed.",
    )
    peak_sample_seconds: float = Field(
        default=10,
        ge=0,
        description=(
            "How often running runs' pods are sampled in the metrics API for their peak "
            "CPU and memory (0: never; needs metrics-server)."
        ),
    )
    missed_run_grace_seconds: float = Field(
        default=90,
        ge=0,
        description="A slot with no Job this long after its time is recorded as missed.",
    )

    notify_allowed_hosts: str = Field(
        default="",
        description=(
            "Hosts a ChronosChannel may send to, comma-separated, as for "
            "corehub_allowed_hosts: the address in its Secret (webhook, cloudevents, "
            "slack, cronicle) or its email.host. Empty allows every host. The operator "
            "sends from inside the cluster: set it so that a channel cannot make it post "
            "to internal services. A channel elsewhere is not sent to (HostNotAllowed)."
        ),
    )
    notify_concurrency: int = Field(
        default=16,
        ge=1,
        le=1000,
        description=(
            "Most notification attempts in flight at once (each waits on one receiver, "
            "up to its channel's timeoutSeconds); the others wait their turn."
        ),
    )
    notify_max_pending: int = Field(
        default=1000,
        ge=1,
        le=100000,
        description=(
            "Most notifications being delivered or waiting for their next attempt; "
            "events beyond it stay planned and are started at a later sync."
        ),
    )

    @field_validator("runner_pod_overrides")
    @classmethod
    def _overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - RUNNER_POD_OVERRIDES)
        if unknown:
            allowed = ", ".join(sorted(RUNNER_POD_OVERRIDES))
            raise ValueError(f"unsupported keys {unknown}; allowed: {allowed}")
        return value

    @model_validator(mode="after")
    def _lease_order(self) -> OperatorSettings:
        # client-go's order: lease duration > renew deadline (duration - renew) > renew.
        if self.lease_duration_seconds <= 2 * self.lease_renew_seconds:
            raise ValueError(
                "CHRONOS_LEASE_DURATION_SECONDS must exceed twice "
                "CHRONOS_LEASE_RENEW_SECONDS (a leader stops leading after duration - renew "
                "seconds without renewal, one renew period before a standby takes over)"
            )
        return self

    @field_validator("corehub_allowed_hosts", "notify_allowed_hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        entries = [e.strip() for e in value.split(",")] if value.strip() else []
        bad = [e for e in entries if not _allowed_entry(e)]
        if bad:
            raise ValueError(
                f"not a host name, *.domain or IP address: {bad}; write them lowercase, "
                "comma-separated, without scheme or port (e.g. corehub.example.com,*.corp.example)"
            )
        return ",".join(entries)

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        return tuple(self.corehub_allowed_hosts.split(",")) if self.corehub_allowed_hosts else ()

    @property
    def notify_hosts(self) -> tuple[str, ...]:
        return tuple(self.notify_allowed_hosts.split(",")) if self.notify_allowed_hosts else ()

    def history_limit_of(self, spec: ChronosJobSpec) -> int:
        """The job's own spec.historyLimit, else this operator's CHRONOS_HISTORY_LIMIT."""
        return self.history_limit if spec.history_limit is None else spec.history_limit
