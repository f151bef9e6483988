"""The admission policy chronos-channel-references (deploy/base/admission-channels.yaml,
docs/architecture.md "Admission policies", issue 21): a ChronosChannel may use only a
Secret its author may ``get`` (the operator reads it and sends its values where the
channel says), and a ChronosJob may name channels in ``spec.notify`` only if its author
may ``get`` the namespace's ChronosChannels. Exercised on the real control plane, as
ServiceAccounts with their own tokens and Roles, with the policy the session installed
from deploy/base (tests/conftest.py: ``install_crd``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from builders import allow, grant, secret, spec
from fixtures_api import sa_token, token_kubeconfig
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule
from lightkube.types import PatchType
from support import policy_refusal, wait_for

from chronos import kube
from chronos.devcluster.cluster import Cluster
from chronos.kube import ChronosChannelResource, ChronosJobResource

pytestmark = pytest.mark.cluster

#: Secrets only the admin (and the owner, for OWNED) may read.
HIDDEN = "hook-hidden"
OWNED = "hook-owned"
MAIL = {"host": "smtp.example.com", "from": "chronos@example.com", "to": ["ops@example.com"]}
NOTIFY = [{"channel": "ops", "events": ["failed", "absent"]}]


@dataclass
class Users:
    namespace: str
    #: May write jobs and channels; may get neither channels nor any Secret.
    caller: Client
    #: The same, plus get on the namespace's channels and on Secret OWNED.
    owner: Client
    caller_name: str


def _channel(name: str, namespace: str, body: dict[str, Any]) -> Any:
    return ChronosChannelResource(metadata=ObjectMeta(name=name, namespace=namespace), spec=body)


def _webhook(secret_name: str) -> dict[str, Any]:
    return {"type": "webhook", "secretRef": {"name": secret_name}}


def _job(name: str, namespace: str, **fields: Any) -> Any:
    return ChronosJobResource(
        metadata=ObjectMeta(name=name, namespace=namespace), spec=spec(**fields)
    )


def _merge(client: Client, resource: Any, name: str, namespace: str, body: Any) -> Any:
    return client.patch(resource, name, body, namespace=namespace, patch_type=PatchType.MERGE)


@pytest.fixture
def users(k8s: Client, cluster: Cluster, namespace: str, tmp_path: Path) -> Users:
    for name in (HIDDEN, OWNED):
        k8s.create(secret(name, namespace, {"address": "https://x.example", "signingKey": "k"}))
    # Both may write jobs and channels; the owner may also get the namespace's channels
    # and one Secret, by name.
    writes = ["create", "update", "patch"]
    for account, verbs in (("caller", writes), ("owner", [*writes, "get"])):
        grant(k8s, namespace, account, role=f"{account}-jobs")
        rule = PolicyRule(
            apiGroups=["chronos.gluesync.io"], resources=["chronoschannels"], verbs=verbs
        )
        allow(k8s, namespace, account, rule)
    rule = PolicyRule(apiGroups=[""], resources=["secrets"], resourceNames=[OWNED], verbs=["get"])
    allow(k8s, namespace, "owner", rule)
    clients = {
        account: kube.client(
            token_kubeconfig(cluster, sa_token(k8s, namespace, account), tmp_path / account)
        )
        for account in ("caller", "owner")
    }
    users = Users(
        namespace=namespace,
        caller=clients["caller"],
        owner=clients["owner"],
        caller_name=f"system:serviceaccount:{namespace}:caller",
    )
    # A new policy takes effect once the API server has loaded it: wait for the first
    # refusal (only the first; every assertion below is immediate).
    wait_for(
        lambda: policy_refusal(
            lambda: users.caller.create(
                _channel("probe", namespace, _webhook(HIDDEN)), dry_run=True
            )
        ),
        30,
        "the admission policy to be enforced",
    )
    return users


# ------------------------------------------------------------------ a channel's Secret


def test_a_channel_whose_secret_the_author_cannot_read_is_refused(
    users: Users, k8s: Client
) -> None:
    ns = users.namespace
    message = policy_refusal(lambda: users.caller.create(_channel("peek", ns, _webhook(HIDDEN))))
    assert message is not None, "created with a Secret its author cannot read"
    assert (
        f"spec.secretRef: you ({users.caller_name}) may not get Secret '{HIDDEN}' in namespace "
        f"'{ns}'; a ChronosChannel may only use Secrets its author can read"
    ) in message
    # One that does not exist is refused the same way (no existence oracle).
    message = policy_refusal(
        lambda: users.caller.create(_channel("ghost", ns, _webhook("no-such")))
    )
    assert message is not None
    assert "may not get Secret 'no-such'" in message
    with pytest.raises(ApiError) as info:
        k8s.get(ChronosChannelResource, "peek", namespace=ns)
    assert info.value.status.code == 404


def test_an_author_who_can_read_the_secret_may_use_it(users: Users, k8s: Client) -> None:
    ns = users.namespace
    assert policy_refusal(lambda: users.owner.create(_channel("mine", ns, _webhook(OWNED)))) is None
    assert k8s.get(ChronosChannelResource, "mine", namespace=ns)["spec"]["secretRef"] == {
        "name": OWNED
    }
    # Rights are per Secret: the hidden one stays out of reach for the owner too.
    assert policy_refusal(lambda: users.owner.create(_channel("theirs", ns, _webhook(HIDDEN))))
    # E-mail without SMTP AUTH names no Secret and needs no Secret right.
    plain = _channel("mail", ns, {"type": "email", "email": MAIL})
    assert policy_refusal(lambda: users.caller.create(plain)) is None


def test_redirecting_a_channel_is_checked_but_other_edits_pass(users: Users, k8s: Client) -> None:
    ns = users.namespace
    # Set up by an admin: a webhook and a mailer whose Secret the caller cannot read.
    k8s.create(_channel("hook", ns, _webhook(HIDDEN)))
    mailer = {"type": "email", "email": MAIL, "secretRef": {"name": HIDDEN}}
    k8s.create(_channel("mailer", ns, mailer))
    # Edits that send the Secret nowhere new are not the author's choice of Secret.
    edit = {"spec": {"suspend": True, "maxAttempts": 3}}
    for name in ("hook", "mailer"):
        assert (
            policy_refusal(partial(_merge, users.caller, ChronosChannelResource, name, ns, edit))
            is None
        )
    # Pointing the hidden SMTP credentials at the caller's own server is refused ...
    redirect = {"spec": {"email": {**MAIL, "host": "smtp.attacker.example"}}}
    message = policy_refusal(
        lambda: _merge(users.caller, ChronosChannelResource, "mailer", ns, redirect)
    )
    assert message is not None
    assert f"may not get Secret '{HIDDEN}'" in message
    stored = k8s.get(ChronosChannelResource, "mailer", namespace=ns)["spec"]
    assert stored["email"]["host"] == "smtp.example.com"
    assert stored["suspend"] is True  # the harmless edit above did land
    # ... and so is sending the webhook's Secret in another shape.
    retype = {"spec": {"type": "slack"}}
    assert policy_refusal(lambda: _merge(users.caller, ChronosChannelResource, "hook", ns, retype))
    # The owner's channel may not be switched to the hidden Secret either.
    users.owner.create(_channel("owners", ns, _webhook(OWNED)))
    swap = {"spec": {"secretRef": {"name": HIDDEN}}}
    message = policy_refusal(
        lambda: _merge(users.owner, ChronosChannelResource, "owners", ns, swap)
    )
    assert message is not None
    assert f"'{HIDDEN}'" in message
    assert k8s.get(ChronosChannelResource, "owners", namespace=ns)["spec"]["secretRef"] == {
        "name": OWNED
    }


# ------------------------------------------------------------------ a job's notify


def test_notify_needs_get_on_the_namespaces_channels(users: Users, k8s: Client) -> None:
    ns = users.namespace
    message = policy_refusal(lambda: users.caller.create(_job("told", ns, notify=NOTIFY)))
    assert message is not None, "a job notifying channels its author cannot read was created"
    assert (
        f"spec.notify: you ({users.caller_name}) may not get the ChronosChannels of namespace "
        f"'{ns}'; a ChronosJob may only notify ChronosChannels its author can read "
        "(get chronoschannels)"
    ) in message
    with pytest.raises(ApiError) as info:
        k8s.get(ChronosJobResource, "told", namespace=ns)
    assert info.value.status.code == 404
    # The owner may read the namespace's channels: accepted, stored as written.
    assert policy_refusal(lambda: users.owner.create(_job("owned", ns, notify=NOTIFY))) is None
    assert k8s.get(ChronosJobResource, "owned", namespace=ns)["spec"]["notify"] == NOTIFY
    # A job without notify needs no channel right; nor does an empty list.
    assert policy_refusal(lambda: users.caller.create(_job("quiet", ns))) is None
    assert policy_refusal(lambda: users.caller.create(_job("empty", ns, notify=[]))) is None


def test_changing_notify_is_checked_but_other_edits_pass(users: Users, k8s: Client) -> None:
    ns = users.namespace
    users.owner.create(_job("owned", ns, notify=NOTIFY))
    edit = {"spec": {"displayName": "renamed"}}
    assert (
        policy_refusal(lambda: _merge(users.caller, ChronosJobResource, "owned", ns, edit)) is None
    )
    more = {"spec": {"notify": [*NOTIFY, {"channel": "pager", "events": ["missed"]}]}}
    message = policy_refusal(lambda: _merge(users.caller, ChronosJobResource, "owned", ns, more))
    assert message is not None
    assert "spec.notify:" in message
    assert k8s.get(ChronosJobResource, "owned", namespace=ns)["spec"]["notify"] == NOTIFY
    users.caller.create(_job("quiet", ns))
    add = {"spec": {"notify": NOTIFY}}
    assert policy_refusal(lambda: _merge(users.caller, ChronosJobResource, "quiet", ns, add))
    assert policy_refusal(lambda: _merge(users.owner, ChronosJobResource, "quiet", ns, add)) is None
