"""The test objects, built in one place: ChronosJob specs and objects, Secrets,
ServiceAccounts and RBAC grants.

Each builder returns the smallest valid object and takes overrides, so a test states
only what it is about. Builders that write (``create_*``, ``grant``) take the lightkube
client of the session's control plane.
"""

from __future__ import annotations

from typing import Any

from lightkube import Client
from lightkube.models.batch_v1 import CronJobSpec, JobSpec, JobTemplateSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.batch_v1 import CronJob
from lightkube.resources.core_v1 import Secret, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from chronos.kube import ChronosJobResource
from chronos.models.chronosjob import ChronosJobSpec
from chronos.operator.settings import OperatorSettings

EDITOR_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


# ----------------------------------------------------------------------- ChronosJobs


def spec(**overrides: Any) -> dict[str, Any]:
    """A ChronosJob spec (camelCase, as in the CRD): one entity started at 08:30 on
    weekdays, Rome time. Overrides replace top-level fields; None removes one."""
    body: dict[str, Any] = {
        "task": {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1"]},
        "schedule": {"cron": "30 8 * * 1-5"},
        "timeZone": "Europe/Rome",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def pipeline_spec(**overrides: Any) -> dict[str, Any]:
    """A pipeline started at 03:00 (overrides replace top-level fields)."""
    return spec(
        **{
            "task": {"type": "pipeline_start", "pipelineId": "p1"},
            "schedule": {"cron": "0 3 * * *"},
        }
        | overrides
    )


def spec_model(**overrides: Any) -> ChronosJobSpec:
    """:func:`spec`, validated into the model."""
    return ChronosJobSpec.model_validate(spec(**overrides))


def chronosjob(
    name: str = "orders",
    namespace: str = "ns",
    *,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    generation: int = 1,
    uid: str = "uid-1",
) -> dict[str, Any]:
    """A ChronosJob as the API server returns it (a dict, as the watch caches keep it)."""
    obj: dict[str, Any] = {
        "apiVersion": "chronos.gluesync.io/v1alpha1",
        "kind": "ChronosJob",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "generation": generation,
            "resourceVersion": "1",
        },
        "spec": spec if spec is not None else globals()["spec"](),
    }
    if status is not None:
        obj["status"] = status
    return obj


def create_chronosjob(
    k8s: Client, namespace: str, name: str, body: dict[str, Any], *, dry_run: bool = False
) -> None:
    """Create a ChronosJob with spec ``body`` in the control plane (``dry_run``: only
    ask whether admission would take it)."""
    k8s.create(
        ChronosJobResource(metadata=ObjectMeta(name=name, namespace=namespace), spec=body),
        dry_run=dry_run,
    )


# ---------------------------------------------------------------------- the operator


def operator_settings(**values: Any) -> OperatorSettings:
    """Operator settings with the required CoreHub defaults (not read from the
    environment)."""
    base = {"corehub_url": "https://hub:1717", "corehub_credentials_secret": "hub"}
    return OperatorSettings.model_validate({**base, **values})


# ------------------------------------------------------------- Secrets and accounts


def secret(name: str, namespace: str, values: dict[str, str] | None = None) -> Secret:
    """An Opaque Secret with ``values`` as stringData; by default the CoreHub
    credentials the fake CoreHub and the operator's tests use."""
    data = values if values is not None else {"username": "admin", "password": "secret"}
    return Secret(metadata=ObjectMeta(name=name, namespace=namespace), stringData=data)


def service_account(name: str, namespace: str) -> ServiceAccount:
    return ServiceAccount(metadata=ObjectMeta(name=name, namespace=namespace))


def grant(
    k8s: Client,
    namespace: str,
    account: str,
    verbs: tuple[str, ...] = EDITOR_VERBS,
    *,
    role: str = "chronos-editor",
    account_namespace: str | None = None,
) -> None:
    """Let ServiceAccount ``account`` do ``verbs`` to the chronosjobs of ``namespace``."""
    k8s.create(
        Role(
            metadata=ObjectMeta(name=role, namespace=namespace),
            rules=[
                PolicyRule(
                    apiGroups=["chronos.gluesync.io"], resources=["chronosjobs"], verbs=list(verbs)
                )
            ],
        )
    )
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name=role, namespace=namespace),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name=role),
            subjects=[
                Subject(
                    kind="ServiceAccount",
                    name=account,
                    namespace=account_namespace or namespace,
                )
            ],
        )
    )


def allow(k8s: Client, namespace: str, account: str, rule: PolicyRule) -> None:
    """Grant ServiceAccount ``account`` of ``namespace`` one more ``rule`` there."""
    name = f"{account}-{'-'.join(rule.resources or [])}".replace("/", "-")
    k8s.create(Role(metadata=ObjectMeta(name=name, namespace=namespace), rules=[rule]))
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name=name, namespace=namespace),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name=name),
            subjects=[Subject(kind="ServiceAccount", name=account, namespace=namespace)],
        )
    )


def may_read_pod_logs(k8s: Client, namespace: str, account: str) -> None:
    rule = PolicyRule(apiGroups=[""], resources=["pods", "pods/log"], verbs=["get", "list"])
    allow(k8s, namespace, account, rule)


# ----------------------------------------------------------------------- CronJobs


def cron_job(name: str, namespace: str, schedule: str, zone: str) -> CronJob:
    return CronJob(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=CronJobSpec(
            schedule=schedule,
            timeZone=zone,
            jobTemplate=JobTemplateSpec(
                spec=JobSpec(
                    template=PodTemplateSpec(
                        spec=PodSpec(
                            restartPolicy="Never",
                            containers=[Container(name="noop", image="chronos-runner:dev")],
                        )
                    )
                )
            ),
        ),
    )
