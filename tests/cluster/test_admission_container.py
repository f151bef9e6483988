"""The admission policy chronos-container-tasks (deploy/base/admission-container.yaml,
issue 20 feature 7): a ChronosJob with a container task may be created or changed only by
a user who may create pods in the namespace, get every Secret and ConfigMap the task's
environment references, and create tokens for the ServiceAccount it names. Exercised on
the real control plane, as ServiceAccounts with their own tokens, with the policies the
session installed from deploy/base (tests/conftest.py: ``install_crd``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from builders import grant, spec
from fixtures_api import ApiServer, sa_token, token_kubeconfig
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.types import PatchType
from support import policy_refusal, wait_for

from chronos import kube
from chronos.devcluster.cluster import Cluster
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster

#: Objects only the owner may use (get, or create tokens for); HIDDEN no one but the admin.
OWNED = "owned"
HIDDEN = "hidden"


@dataclass
class Users:
    namespace: str
    caller: Client  # chronosjobs only: no pod rights
    owner: Client  # chronosjobs, create pods, get OWNED Secret/ConfigMap, token of OWNED
    caller_name: str
    owner_name: str
    tokens: dict[str, str]


def _role(k8s: Client, namespace: str, account: str, name: str, rules: list[PolicyRule]) -> None:
    k8s.create(Role(metadata=ObjectMeta(name=name, namespace=namespace), rules=rules))
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name=name, namespace=namespace),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name=name),
            subjects=[Subject(kind="ServiceAccount", name=account, namespace=namespace)],
        )
    )


def container(**fields: Any) -> dict[str, Any]:
    return spec(
        task={
            "type": "container",
            "container": {"image": "busybox:1.36", "command": ["true"], **fields},
        }
    )


def _job(name: str, namespace: str, body: dict[str, Any]) -> Any:
    return ChronosJobResource(metadata=ObjectMeta(name=name, namespace=namespace), spec=body)


@pytest.fixture
def users(k8s: Client, cluster: Cluster, namespace: str, tmp_path: Path) -> Users:
    for account in ("caller", "owner"):
        grant(k8s, namespace, account, role=f"{account}-jobs")
    _role(
        k8s,
        namespace,
        "owner",
        "owner-pods",
        [
            PolicyRule(apiGroups=[""], resources=["pods"], verbs=["create"]),
            PolicyRule(
                apiGroups=[""],
                resources=["secrets", "configmaps"],
                resourceNames=[OWNED],
                verbs=["get"],
            ),
            PolicyRule(
                apiGroups=[""],
                resources=["serviceaccounts/token"],
                resourceNames=[OWNED],
                verbs=["create"],
            ),
        ],
    )
    tokens = {account: sa_token(k8s, namespace, account) for account in ("caller", "owner")}
    clients = {
        account: kube.client(token_kubeconfig(cluster, token, tmp_path / account))
        for account, token in tokens.items()
    }
    users = Users(
        namespace=namespace,
        caller=clients["caller"],
        owner=clients["owner"],
        caller_name=f"system:serviceaccount:{namespace}:caller",
        owner_name=f"system:serviceaccount:{namespace}:owner",
        tokens=tokens,
    )
    wait_for(
        lambda: policy_refusal(
            lambda: users.caller.create(_job("probe", namespace, container()), dry_run=True)
        ),
        30,
        "the admission policy to be enforced",
    )
    return users


def test_a_user_without_create_pods_is_refused_naming_the_right(users: Users, k8s: Client) -> None:
    ns = users.namespace
    message = policy_refusal(lambda: users.caller.create(_job("script", ns, container())))
    assert message is not None, "a container task was created by a user who may not create pods"
    assert (
        f"spec.task.container: you ({users.caller_name}) may not create pods in namespace "
        f"'{ns}'; a container task runs a pod, so its author needs the right to create pods "
        "(create pods)"
    ) in message
    with pytest.raises(ApiError) as info:
        k8s.get(ChronosJobResource, "script", namespace=ns)
    assert info.value.status.code == 404
    # The same user may still create CoreHub tasks: the policy matches container tasks only.
    assert policy_refusal(lambda: users.caller.create(_job("corehub", ns, spec()))) is None


def test_a_user_with_the_rights_may_create_and_change_a_container_task(
    users: Users, k8s: Client
) -> None:
    ns = users.namespace
    body = container(
        env=[
            {"name": "TOKEN", "secretKeyRef": {"name": OWNED, "key": "token"}},
            {"name": "MODE", "configMapKeyRef": {"name": OWNED, "key": "mode"}},
        ],
        serviceAccountName=OWNED,
    )
    assert policy_refusal(lambda: users.owner.create(_job("export", ns, body))) is None
    stored = k8s.get(ChronosJobResource, "export", namespace=ns)
    assert stored["spec"]["task"]["container"]["serviceAccountName"] == OWNED
    patch = {"spec": {"description": "nightly export"}}
    assert (
        policy_refusal(
            lambda: users.owner.patch(
                ChronosJobResource, "export", patch, namespace=ns, patch_type=PatchType.MERGE
            )
        )
        is None
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"env": [{"name": "T", "secretKeyRef": {"name": HIDDEN, "key": "k"}}]},
            "spec.task.container.env: you ({user}) may not get every Secret of 'hidden' in "
            "namespace '{ns}'; a container task may only use Secrets its author can read",
        ),
        (
            {"env": [{"name": "C", "configMapKeyRef": {"name": HIDDEN, "key": "k"}}]},
            "spec.task.container.env: you ({user}) may not get every ConfigMap of 'hidden' in "
            "namespace '{ns}'; a container task may only use ConfigMaps its author can read",
        ),
        (
            {"serviceAccountName": HIDDEN},
            "spec.task.container.serviceAccountName: you ({user}) may not create "
            "serviceaccounts/token for ServiceAccount 'hidden' in namespace '{ns}'",
        ),
    ],
    ids=["secret", "configmap", "serviceaccount"],
)
def test_each_reference_needs_its_own_right(
    users: Users, fields: dict[str, Any], expected: str
) -> None:
    ns = users.namespace
    message = policy_refusal(lambda: users.owner.create(_job("peek", ns, container(**fields))))
    assert message is not None, f"created with {fields}"
    assert expected.format(user=users.owner_name, ns=ns) in message


def test_changing_a_container_task_needs_the_rights_but_metadata_does_not(
    users: Users, k8s: Client
) -> None:
    ns = users.namespace
    k8s.create(_job("admins", ns, container()))  # the admin holds every right

    def patch(client: Client, body: dict[str, Any]) -> str | None:
        return policy_refusal(
            lambda: client.patch(
                ChronosJobResource, "admins", body, namespace=ns, patch_type=PatchType.MERGE
            )
        )

    message = patch(users.caller, {"spec": {"description": "mine now"}})
    assert message is not None, "a user without pod rights changed a container task"
    assert "may not create pods" in message
    # Metadata (what the operator writes: finalizers, annotations) is not a spec change.
    assert patch(users.caller, {"metadata": {"labels": {"team": "data"}}}) is None
    # Turning a CoreHub task into a container task is a change like any other.
    k8s.create(_job("plain", ns, spec()))
    turned = {
        "spec": {
            "task": {
                "type": "container",
                "pipelineId": None,
                "entityIds": None,
                "container": {"image": "busybox:1.36"},
            }
        }
    }
    message = policy_refusal(
        lambda: users.caller.patch(
            ChronosJobResource, "plain", turned, namespace=ns, patch_type=PatchType.MERGE
        )
    )
    assert message is not None
    assert "may not create pods" in message


REST_BODY: dict[str, Any] = {
    "name": "Nightly export",
    "task_type": "container",
    "cron_expression": "0 3 * * *",
    "container": {
        "image": "registry.example.com/team/export:1.2",
        "command": ["sh", "-c", "echo exporting"],
        "env": [{"name": "TOKEN", "secretKeyRef": {"name": OWNED, "key": "token"}}],
        "serviceAccountName": OWNED,
    },
}


def test_rest_create_and_update_of_a_container_task(
    users: Users, api_server: ApiServer, k8s: Client
) -> None:
    """Over REST the caller's own credentials meet the same policy: a 403 naming the
    missing right, never a 500; a body breaking the container's patterns is a 422 naming
    the field; the owner creates, reads back and changes the task."""
    ns = users.namespace
    with api_server.client(users.tokens["caller"], ns) as api:
        r = api.post("/api/jobs", json=REST_BODY)
        assert r.status_code == 403, r.text
        assert "may not create pods" in r.json()["detail"], r.text
        assert "(create pods)" in r.json()["detail"], r.text
    with api_server.client(users.tokens["owner"], ns) as api:
        bad = {**REST_BODY, "container": {**REST_BODY["container"], "image": "Evil; rm -rf /"}}
        r = api.post("/api/jobs", json=bad)
        assert r.status_code == 422, r.text
        assert "container.image" in {e["field"] for e in r.json()["errors"]}, r.text
        reserved = {
            **REST_BODY,
            "container": {"image": "busybox:1.36", "env": [{"name": "CHRONOS_TASK", "value": "x"}]},
        }
        r = api.post("/api/jobs", json=reserved)
        assert r.status_code == 422, r.text
        assert "reserved for Chronos" in r.text
        r = api.post("/api/jobs", json={**REST_BODY, "pipeline_id": "p1"})
        assert r.status_code == 409, r.text
        assert "pipeline_id" in {e["field"] for e in r.json()["errors"]}, r.text
        r = api.post("/api/jobs", json=REST_BODY)
        assert r.status_code == 201, r.text
        job = r.json()
        assert (job["task_type"], job["pipeline_id"]) == ("container", None)
        assert job["container"]["serviceAccountName"] == OWNED
        r = api.put(f"/api/jobs/{job['id']}", json={"container": {"image": "busybox:1.36"}})
        assert r.status_code == 200, r.text
        assert r.json()["container"] == {"image": "busybox:1.36"}
    stored = k8s.get(ChronosJobResource, job["id"], namespace=ns)
    assert stored["spec"]["task"] == {
        "type": "container",
        "container": {"image": "busybox:1.36"},
        "withSnapshot": False,
        "snapshotWriteMethod": "UPSERT",
    }
    with api_server.client(users.tokens["caller"], ns) as api:
        r = api.put(f"/api/jobs/{job['id']}", json={"description": "mine now"})
        assert r.status_code == 403, r.text
        assert "may not create pods" in r.json()["detail"], r.text


@pytest.mark.parametrize(
    ("task", "words"),
    [
        (
            {"type": "container", "pipelineId": "p1", "container": {"image": "busybox:1.36"}},
            "pipelineId is required for CoreHub tasks and must be absent for container tasks",
        ),
        ({"type": "container"}, "container is required for container tasks"),
        ({"type": "container", "container": {"image": "Busybox; id"}}, "spec.task.container.image"),
        (
            {
                "type": "container",
                "container": {"image": "busybox", "env": [{"name": "CHRONOS_TASK", "value": "x"}]},
            },
            "names starting with CHRONOS_ are reserved for Chronos",
        ),
        (
            {"type": "container", "container": {"image": "busybox", "env": [{"name": "A"}]}},
            "set exactly one of value, secretKeyRef and configMapKeyRef",
        ),
    ],
    ids=["pipeline", "no-container", "image", "reserved-env", "env-source"],
)
def test_the_crd_holds_the_models_rules(
    k8s: Client, namespace: str, task: dict[str, Any], words: str
) -> None:
    """The generated CRD (CEL and patterns) refuses what the model refuses, whoever asks."""
    with pytest.raises(ApiError) as info:
        k8s.create(_job("bad", namespace, spec(task=task)), dry_run=True)
    assert info.value.status.code == 422, info.value.status.message
    assert words in str(info.value.status.message)
