"""Settings of the REST facade (environment variables with the ``CHRONOS_`` prefix).

docs/api.md lists every variable with its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from chronos.settings import ScheduleSettings, TimeZoneName

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
#: ``name`` or ``namespace/name`` of a namespaced object (a DNS label, then a subdomain).
NAMESPACED_NAME = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
#: An equality label selector: ``key=value`` terms, comma-separated (what the pages'
#: pod lists need; no set-based terms).
LABEL_SELECTOR = (
    r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9][-A-Za-z0-9_.]{0,62}=[-A-Za-z0-9_.]{0,63}"
    r"(,([a-z0-9.-]{1,253}/)?[A-Za-z0-9][-A-Za-z0-9_.]{0,62}=[-A-Za-z0-9_.]{0,63})*$"
)


class ApiSettings(ScheduleSettings):
    api_host: str = Field(default="127.0.0.1", description="Address uvicorn listens on.")
    api_port: int = Field(default=8080, ge=0, le=65535, description="Port uvicorn listens on.")
    api_metrics_port: int = Field(
        default=9090,
        ge=0,
        le=65535,
        description=(
            "Port of /metrics (Prometheus), apart from the API's port so that the Service "
            "users reach does not expose it; it listens on CHRONOS_API_HOST too."
        ),
    )
    api_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        le=64 * 1024 * 1024,
        description=(
            "Largest request body accepted on any route, in bytes: a longer one is refused "
            "with 413 before it is read (by its Content-Length) or as soon as the bytes "
            "received pass the limit (chunked), so no body beyond it is ever held in memory."
        ),
    )
    api_default_namespace: str = Field(
        default="default",
        pattern=DNS_LABEL,
        description="Namespace used when a request has no ?namespace= parameter.",
    )
    api_auth_disabled: bool = Field(
        default=False,
        description=(
            "Turn authentication and access checks off (local development only): every "
            "request then acts with the facade's own Kubernetes credentials."
        ),
    )
    api_kubeconfig: Path | None = Field(
        default=None,
        description=(
            "Kubeconfig of the facade's own identity (and of the API server that callers' "
            "tokens are forwarded to); else $KUBECONFIG or in-cluster."
        ),
    )
    api_token_cache_seconds: float = Field(
        default=30.0, ge=0, description="How long a SelfSubjectReview verdict is reused."
    )
    api_access_cache_seconds: float = Field(
        default=10.0, ge=0, description="How long a SelfSubjectAccessReview verdict is reused."
    )
    api_max_page_size: int = Field(
        default=1000, ge=1, le=100000, description="Largest accepted ?limit= on lists."
    )
    api_session_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description=(
            "Key (32+ characters) that encrypts and authenticates the dashboard's session "
            "cookies; every replica needs the same one (the Helm chart keeps it in a Secret). "
            "Unset: a random key per process, so sessions end when it restarts and work "
            "with one replica only."
        ),
    )
    api_session_seconds: int = Field(
        default=8 * 3600,
        ge=60,
        le=7 * 86400,
        description="How long a dashboard sign-in lasts (the token's own expiry still applies).",
    )
    api_cookie_secure: Literal["auto", "always"] = Field(
        default="auto",
        description=(
            "When the dashboard's session cookie is marked Secure: `always`, or `auto` when "
            "the request came over HTTPS as uvicorn sees it (behind a TLS-terminating proxy "
            "only if FORWARDED_ALLOW_IPS trusts the proxy). The Helm chart sets `always` "
            "unless api.dashboard.plainHttp is true."
        ),
    )
    api_sign_out_config_map: str | None = Field(
        default=None,
        pattern=NAMESPACED_NAME,
        description=(
            "ConfigMap (`name`, in the facade's own namespace, or `namespace/name`) where "
            "dashboard sign-outs are recorded so that every replica refuses the signed-out "
            "sessions (docs/ui.md); the facade may get, watch and patch it. Unset: a "
            "sign-out ends the sessions on this process only."
        ),
    )
    api_max_streams_per_user: int = Field(
        default=10,
        ge=1,
        le=10000,
        description=(
            "Most live streams (dashboard updates and followed pod logs, Server-Sent "
            "Events) one user may hold open on a replica; one more is refused with 429 "
            "and Retry-After."
        ),
    )
    api_max_streams: int = Field(
        default=200,
        ge=1,
        le=10000,
        description=(
            "Most live streams a replica holds open in all (one more is refused with 429 "
            "and Retry-After); also the size of the streams' own connection pool to the "
            "Kubernetes API server, apart from the short calls'."
        ),
    )
    api_kube_connections: int = Field(
        default=100,
        ge=1,
        le=10000,
        description=(
            "Most connections a replica opens to the Kubernetes API server for short "
            "calls made for users (not counting streams)."
        ),
    )
    api_kube_pool_wait_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description=(
            "How long a short call waits for one of those connections; then the request "
            "is answered 503 with Retry-After."
        ),
    )
    api_cluster_namespace: str | None = Field(
        default=None,
        pattern=DNS_LABEL,
        description=(
            "Namespace of the operator's and the facade's pods, which the dashboard's "
            "Cluster page lists (with the user's own token). Unset: the facade's own "
            "namespace."
        ),
    )
    api_operator_lease: str = Field(
        default="chronos-operator",
        pattern=NAMESPACED_NAME,
        description=(
            "The operator's leader Lease (`name`, in CHRONOS_API_CLUSTER_NAMESPACE, or "
            "`namespace/name`; the operator's CHRONOS_LEASE_NAME): the Cluster page shows "
            "its holder and reads the operator's figures from the ConfigMap "
            "`<name>-figures` beside it."
        ),
    )
    api_operator_pod_selector: str = Field(
        default="app.kubernetes.io/part-of=chronos,app.kubernetes.io/component=operator",
        pattern=LABEL_SELECTOR,
        description="Label selector (`key=value,…`) of the operator's pods (Cluster page).",
    )
    api_pod_selector: str = Field(
        default="app.kubernetes.io/part-of=chronos,app.kubernetes.io/component=api",
        pattern=LABEL_SELECTOR,
        description="Label selector (`key=value,…`) of the facade's own pods (Cluster page).",
    )
    #: Same variable as the operator's (CHRONOS_DEFAULT_TIME_ZONE): one value for both.
    default_time_zone: TimeZoneName = Field(
        default="UTC",
        description="Time zone of ChronosJobs without spec.timeZone (same as the operator's).",
    )
