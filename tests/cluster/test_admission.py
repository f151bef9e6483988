"""The admission policy that closes the confused deputy (docs/architecture.md, "Admission
policies"): a ChronosJob may only use Secrets its author may ``get``. Exercised on the
real control plane, as ServiceAccounts with their own tokens, with the policy the
session installed from deploy/base (tests/conftest.py: ``install_crd``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from builders import grant, spec
from fixtures_api import ApiServer, sa_token, token_kubeconfig
from fixtures_operator import COREHUB_SECRET
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import Secret
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.types import PatchType
from support import ROOT, get_cr, wait_for

from chronos import contract as c
from chronos import kube
from chronos.devcluster.cluster import Cluster
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster

#: Held by no one but the admin; the role REST callers get cannot read it.
HIDDEN = "hidden"
#: Readable by the owner (a Role naming it), not by the caller.
OWNED = "owned"
HUB = "http://127.0.0.1:9"


@dataclass
class Users:
    namespace: str
    caller: Client  # create/patch chronosjobs, no Secrets (the REST callers' role)
    owner: Client  # the same, plus get on the Secrets OWNED and COREHUB_SECRET
    caller_name: str
    caller_token: str


def _can_get_secrets(k8s: Client, namespace: str, account: str, names: list[str]) -> None:
    k8s.create(
        Role(
            metadata=ObjectMeta(name="read-secrets", namespace=namespace),
            rules=[
                PolicyRule(
                    apiGroups=[""], resources=["secrets"], resourceNames=names, verbs=["get"]
                )
            ],
        )
    )
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name="read-secrets", namespace=namespace),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name="read-secrets"),
            subjects=[Subject(kind="ServiceAccount", name=account, namespace=namespace)],
        )
    )


@pytest.fixture
def users(k8s: Client, cluster: Cluster, namespace: str, tmp_path: Path) -> Users:
    for name in (HIDDEN, OWNED, COREHUB_SECRET):
        k8s.create(
            Secret(
                metadata=ObjectMeta(name=name, namespace=namespace),
                stringData={"username": f"user-{name}", "password": "pw", "ca.crt": "x"},
            )
        )
    grant(k8s, namespace, "caller")
    grant(k8s, namespace, "owner", role="owner-jobs")
    _can_get_secrets(k8s, namespace, "owner", [OWNED, COREHUB_SECRET])
    caller_token = sa_token(k8s, namespace, "caller")
    owner_token = sa_token(k8s, namespace, "owner")
    users = Users(
        namespace=namespace,
        caller=kube.client(token_kubeconfig(cluster, caller_token, tmp_path / "caller")),
        owner=kube.client(token_kubeconfig(cluster, owner_token, tmp_path / "owner")),
        caller_name=f"system:serviceaccount:{namespace}:caller",
        caller_token=caller_token,
    )
    # A new policy takes effect once the API server has loaded it: wait for the first
    # refusal (only the first; every assertion below is immediate).
    wait_for(
        lambda: _refused(users.caller, namespace, "probe", _with_credentials(HIDDEN), dry=True),
        30,
        "the admission policy to be enforced",
    )
    return users


def _with_credentials(secret: str, **hub: Any) -> dict[str, Any]:
    return spec(coreHub={"url": HUB, "credentialsSecretRef": {"name": secret}, **hub})


def _create(
    client: Client, namespace: str, name: str, body: dict[str, Any], dry: bool = False
) -> None:
    client.create(
        ChronosJobResource(metadata=ObjectMeta(name=name, namespace=namespace), spec=body),
        dry_run=dry,
    )


def _refused(
    client: Client, namespace: str, name: str, body: dict[str, Any], dry: bool = False
) -> str | None:
    """The API server's message when the create is refused by admission, else None."""
    try:
        _create(client, namespace, name, body, dry)
    except ApiError as exc:
        if exc.status.code == 403 and "ValidatingAdmissionPolicy" in str(exc.status.message):
            return str(exc.status.message)
        raise
    return None


def _patch_refused(client: Client, namespace: str, name: str, patch: dict[str, Any]) -> str | None:
    try:
        client.patch(
            ChronosJobResource, name, patch, namespace=namespace, patch_type=PatchType.MERGE
        )
    except ApiError as exc:
        if exc.status.code != 403:
            raise
        return str(exc.status.message)
    return None


def _exists(k8s: Client, namespace: str, name: str) -> bool:
    try:
        k8s.get(ChronosJobResource, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code != 404:
            raise
        return False
    return True


def test_a_secret_the_author_cannot_read_is_refused(users: Users, k8s: Client) -> None:
    ns = users.namespace
    message = _refused(users.caller, ns, "steal", _with_credentials(HIDDEN))
    assert message is not None, "created with a Secret its author cannot read"
    assert (
        f"spec.coreHub.credentialsSecretRef: you ({users.caller_name}) may not get Secret "
        f"'{HIDDEN}' in namespace '{ns}'; a ChronosJob may only use Secrets its author can read"
    ) in message
    assert not _exists(k8s, ns, "steal")
    # The key the attacker wanted echoed makes no difference: still refused.
    body = spec(coreHub={"credentialsSecretRef": {"name": HIDDEN, "usernameKey": "password"}})
    assert _refused(users.caller, ns, "steal", body) is not None
    # The CA reference is a Secret reference too (checked for the owner, whose credentials
    # Secret is readable: a job with a CA of its own must name its credentials).
    body = spec(
        coreHub={
            "credentialsSecretRef": {"name": OWNED},
            "tls": {"caSecretRef": {"name": HIDDEN, "key": "ca.crt"}},
        }
    )
    message = _refused(users.owner, ns, "steal-ca", body)
    assert message is not None
    owner = f"system:serviceaccount:{ns}:owner"
    assert f"spec.coreHub.tls.caSecretRef: you ({owner}) may not get Secret " in message
    assert f"'{HIDDEN}'" in message
    # A Secret that does not exist is refused the same way (no existence oracle).
    message = _refused(users.caller, ns, "ghost", _with_credentials("no-such-secret"))
    assert message is not None
    assert "'no-such-secret'" in message


def test_an_author_who_can_read_the_secret_may_use_it(users: Users, k8s: Client) -> None:
    ns = users.namespace
    body = _with_credentials(OWNED, tls={"caSecretRef": {"name": OWNED, "key": "ca.crt"}})
    assert _refused(users.owner, ns, "mine", body) is None
    assert _exists(k8s, ns, "mine")
    # The owner's rights are per Secret: the hidden one stays out of reach.
    assert _refused(users.owner, ns, "theirs", _with_credentials(HIDDEN)) is not None
    # A job without any coreHub override needs no Secret rights at all.
    assert _refused(users.caller, ns, "plain", spec()) is None


def test_changing_the_connection_of_a_job_using_an_unreadable_secret_is_refused(
    users: Users, k8s: Client
) -> None:
    ns = users.namespace
    _create(k8s, ns, "admins", _with_credentials(HIDDEN))  # set up by an admin
    for change in (
        {"spec": {"coreHub": {"url": "http://attacker.example:8080"}}},
        {"spec": {"coreHub": {"credentialsSecretRef": {"usernameKey": "password"}}}},
        {"spec": {"coreHub": {"tls": {"insecureSkipVerify": True}}}},
    ):
        message = _patch_refused(users.caller, ns, "admins", change)
        assert message is not None, change
        assert f"may not get Secret '{HIDDEN}' in namespace '{ns}'" in message
    hub = get_cr(k8s, ns, "admins")["spec"]["coreHub"]
    assert hub["url"] == HUB
    assert hub["credentialsSecretRef"]["name"] == HIDDEN
    # Everything else about the job stays editable by the caller: the policy looks at
    # the Secret references only when spec.coreHub changes.
    assert _patch_refused(users.caller, ns, "admins", {"spec": {"enabled": False}}) is None
    run_now = {"metadata": {"annotations": {c.RUN_NOW_ANNOTATION: "t1"}}}
    assert _patch_refused(users.caller, ns, "admins", run_now) is None
    # And replacing the reference by one the caller cannot read either is refused too.
    change = {"spec": {"coreHub": {"credentialsSecretRef": {"name": OWNED}}}}
    assert _patch_refused(users.caller, ns, "admins", change) is not None
    assert _patch_refused(users.owner, ns, "admins", change) is None


def test_redirecting_the_default_credentials_is_refused_for_everyone(
    users: Users, k8s: Client
) -> None:
    """Overriding the URL or TLS while relying on the operator's default Secret would send
    it to the author's server, now or once an administrator sets a default: the CRD
    refuses it whoever writes (tests/cluster/test_admission_limits.py has each variant)."""
    ns = users.namespace
    # Explicit TLS verification with the default URL and credentials is no redirection.
    body = spec(coreHub={"tls": {"insecureSkipVerify": False}})
    assert _refused(users.caller, ns, "verified", body) is None
    # Nor may a job with the default connection be turned into a redirect, even by the
    # owner, who may read the default Secret.
    for client in (users.caller, users.owner):
        with pytest.raises(ApiError) as info:
            _patch_refused(
                client, ns, "verified", {"spec": {"coreHub": {"url": "http://x.example"}}}
            )
        assert info.value.status.code == 422
        assert "credentialsSecretRef is required" in str(info.value.status.message)


def test_status_writes_are_not_checked(
    users: Users, k8s: Client, cluster: Cluster, tmp_path: Path
) -> None:
    """The runner and the operator (neither may read Secrets) write the status of jobs
    that use Secrets: the policy does not match the status subresource."""
    ns = users.namespace
    _create(k8s, ns, "admins", _with_credentials(HIDDEN))
    # As the runner's and the operator's roles: get and patch, status and metadata.
    k8s.create(
        Role(
            metadata=ObjectMeta(name="status-writer", namespace=ns),
            rules=[
                PolicyRule(
                    apiGroups=["chronos.gluesync.io"],
                    resources=["chronosjobs", "chronosjobs/status"],
                    verbs=["get", "patch"],
                )
            ],
        )
    )
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name="status-writer", namespace=ns),
            roleRef=RoleRef(
                apiGroup="rbac.authorization.k8s.io", kind="Role", name="status-writer"
            ),
            subjects=[Subject(kind="ServiceAccount", name="writer", namespace=ns)],
        )
    )
    token = sa_token(k8s, ns, "writer")
    writer = kube.client(token_kubeconfig(cluster, token, tmp_path / "writer"))
    writer.patch(
        ChronosJobResource.Status,
        "admins",
        {"status": {"observedGeneration": 1}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    assert get_cr(k8s, ns, "admins")["status"]["observedGeneration"] == 1
    # Metadata (the operator's finalizer and bookkeeping annotations) too.
    writer.patch(
        ChronosJobResource,
        "admins",
        {"metadata": {"annotations": {"chronos.gluesync.io/note": "x"}}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )


def test_the_policy_judges_the_impersonated_user(users: Users, cluster: Cluster) -> None:
    """The REST facade writes as the caller (impersonation, or the caller's own token):
    either way the policy's authorizer sees the caller, not the facade."""
    ns = users.namespace
    body = {
        "apiVersion": "chronos.gluesync.io/v1alpha1",
        "kind": "ChronosJob",
        "metadata": {"name": "impersonated", "namespace": ns},
        "spec": _with_credentials(HIDDEN),
    }
    out = cluster.kubectl(
        "create", f"--as={users.caller_name}", "-f", "-", check=False, input=json.dumps(body)
    )
    assert f"you ({users.caller_name}) may not get Secret '{HIDDEN}'" in out, out
    # The admin itself may.
    cluster.kubectl("create", "-f", "-", input=json.dumps(body))


def test_rest_cannot_set_secret_references(
    users: Users, api_server: ApiServer, k8s: Client
) -> None:
    """The REST API exposes no coreHub fields: a body naming them is a 422 that names the
    field, never a 500, and creates nothing; editing a job that uses a Secret the caller
    cannot read keeps its connection as it is (so the policy has nothing to refuse)."""
    ns = users.namespace
    with api_server.client(users.caller_token, ns) as api:
        body = {
            "name": "Stealer",
            "task_type": "pipeline_start",
            "pipeline_id": "p1",
            "cron_expression": "0 3 * * *",
        }
        for key in ("coreHub", "core_hub", "credentialsSecretRef"):
            r = api.post(
                "/api/jobs", json={**body, key: {"credentialsSecretRef": {"name": HIDDEN}}}
            )
            assert r.status_code == 422, r.text
            # The field list names it (not just the text, which holds the request's words).
            assert key in {e["field"] for e in r.json()["errors"]}, r.text
        assert not _exists(k8s, ns, "stealer")
        _create(k8s, ns, "admins", _with_credentials(HIDDEN))
        r = api.put("/api/jobs/admins", json={"coreHub": {"url": "http://x.example"}})
        assert r.status_code == 422, r.text
        r = api.put("/api/jobs/admins", json={"description": "edited over REST"})
        assert r.status_code == 200, r.text
    job = get_cr(k8s, ns, "admins")
    assert job["spec"]["description"] == "edited over REST"
    assert job["spec"]["coreHub"]["credentialsSecretRef"]["name"] == HIDDEN


def test_every_secret_reference_of_the_model_is_covered() -> None:
    """A new Secret reference in the model must get its check in the policy."""
    from chronos.models.chronosjob import ChronosJobSpec, CredentialsSecretRef, SecretKeyRef

    def refs(model: type[Any], path: str) -> list[str]:
        found = []
        for name, field in model.model_fields.items():
            alias = field.alias or name
            for arg in getattr(field.annotation, "__args__", (field.annotation,)):
                if arg in (CredentialsSecretRef, SecretKeyRef):
                    found.append(f"{path}.{alias}")
                elif isinstance(arg, type) and hasattr(arg, "model_fields"):
                    found += refs(arg, f"{path}.{alias}")
        return found

    policy = (ROOT / "deploy/base/admission-secrets.yaml").read_text()
    found = refs(ChronosJobSpec, "spec")
    assert sorted(found) == ["spec.coreHub.credentialsSecretRef", "spec.coreHub.tls.caSecretRef"]
    for ref in found:
        assert f"'{ref}: '" in policy, ref
