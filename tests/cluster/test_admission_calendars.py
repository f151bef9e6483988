"""The admission policy chronos-calendar-references (deploy/base/admission-calendars.yaml,
docs/architecture.md "Admission policies"): a ChronosJob may name only a ChronosCalendar
its author may ``get``, a ChronosCalendar only a ConfigMap its author may ``get``.
Exercised on the real control plane, as ServiceAccounts with their own tokens, with the
policy the session installed from deploy/base (tests/conftest.py: ``install_crd``),
as tests/cluster/test_admission.py does for Secrets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from builders import grant, spec
from fixtures_api import sa_token, token_kubeconfig
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import ConfigMap
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.types import PatchType
from support import policy_refusal, wait_for

from chronos import kube
from chronos.devcluster.cluster import Cluster
from chronos.kube import ChronosCalendarResource, ChronosJobResource

pytestmark = pytest.mark.cluster

#: Calendars and ConfigMaps only the admin (and the owner, for OWNED) may read.
HIDDEN = "hidden"
OWNED = "owned"


@dataclass
class Users:
    namespace: str
    caller: Client  # chronosjobs and chronoscalendars, no get on HIDDEN/OWNED
    owner: Client  # the same, plus get on the calendar and ConfigMap OWNED
    caller_name: str


def _role(k8s: Client, namespace: str, account: str, name: str, rules: list[PolicyRule]) -> None:
    k8s.create(Role(metadata=ObjectMeta(name=name, namespace=namespace), rules=rules))
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name=name, namespace=namespace),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name=name),
            subjects=[Subject(kind="ServiceAccount", name=account, namespace=namespace)],
        )
    )


def _calendar_writer(k8s: Client, namespace: str, account: str) -> None:
    """May create and change calendars (not get them: the rights per name come next)."""
    rule = PolicyRule(
        apiGroups=["chronos.gluesync.io"],
        resources=["chronoscalendars"],
        verbs=["create", "update", "patch"],
    )
    _role(k8s, namespace, account, f"{account}-calendars", [rule])


def _calendar(name: str, namespace: str, body: dict[str, Any]) -> Any:
    return ChronosCalendarResource(metadata=ObjectMeta(name=name, namespace=namespace), spec=body)


def _ics(config_map: str) -> dict[str, Any]:
    return {
        "excludedWeekdays": ["sunday"],
        "ics": {"configMapRef": {"name": config_map, "key": "h.ics"}},
    }


def _job(name: str, namespace: str, calendar: str) -> Any:
    return ChronosJobResource(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=spec(calendarRef={"name": calendar}),
    )


@pytest.fixture
def users(k8s: Client, cluster: Cluster, namespace: str, tmp_path: Path) -> Users:
    for name in (HIDDEN, OWNED):
        k8s.create(ConfigMap(metadata=ObjectMeta(name=name, namespace=namespace), data={}))
        k8s.create(_calendar(name, namespace, {"excludedWeekdays": ["saturday"]}))
    for account in ("caller", "owner"):
        grant(k8s, namespace, account, role=f"{account}-jobs")
        _calendar_writer(k8s, namespace, account)
    _role(
        k8s,
        namespace,
        "owner",
        "owner-reads",
        [
            PolicyRule(
                apiGroups=["chronos.gluesync.io"],
                resources=["chronoscalendars"],
                resourceNames=[OWNED],
                verbs=["get"],
            ),
            PolicyRule(
                apiGroups=[""], resources=["configmaps"], resourceNames=[OWNED], verbs=["get"]
            ),
        ],
    )
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
            lambda: users.caller.create(_job("probe", namespace, HIDDEN), dry_run=True)
        ),
        30,
        "the admission policy to be enforced",
    )
    return users


def test_a_calendar_the_author_cannot_read_is_refused(users: Users, k8s: Client) -> None:
    ns = users.namespace
    message = policy_refusal(lambda: users.caller.create(_job("peek", ns, HIDDEN)))
    assert message is not None, "created with a calendar its author cannot read"
    assert (
        f"spec.calendarRef: you ({users.caller_name}) may not get ChronosCalendar "
        f"'{HIDDEN}' in namespace '{ns}'; a ChronosJob may only use ChronosCalendars its "
        "author can read"
    ) in message
    # One that does not exist is refused the same way (no existence oracle).
    message = policy_refusal(lambda: users.caller.create(_job("ghost", ns, "no-such-calendar")))
    assert message is not None
    assert "'no-such-calendar'" in message
    with pytest.raises(ApiError) as info:
        k8s.get(ChronosJobResource, "peek", namespace=ns)
    assert info.value.status.code == 404


def test_an_author_who_can_read_the_calendar_may_use_it(users: Users, k8s: Client) -> None:
    ns = users.namespace
    assert policy_refusal(lambda: users.owner.create(_job("mine", ns, OWNED))) is None
    stored = k8s.get(ChronosJobResource, "mine", namespace=ns)
    assert stored["spec"]["calendarRef"] == {"name": OWNED}
    # Rights are per calendar: the hidden one stays out of reach for the owner too.
    assert policy_refusal(lambda: users.owner.create(_job("theirs", ns, HIDDEN))) is not None
    # A job without a calendar needs no calendar right.
    plain = ChronosJobResource(metadata=ObjectMeta(name="plain", namespace=ns), spec=spec())
    assert policy_refusal(lambda: users.caller.create(plain)) is None


def test_pointing_a_job_at_an_unreadable_calendar_is_refused_but_other_edits_pass(
    users: Users, k8s: Client
) -> None:
    ns = users.namespace
    k8s.create(_job("admins", ns, HIDDEN))  # set up by an admin
    patch = {"spec": {"calendarRef": {"name": HIDDEN}}}
    # An edit that leaves the reference alone is not the author's choice of calendar.
    edit = {"spec": {"displayName": "renamed"}}
    assert (
        policy_refusal(
            lambda: users.caller.patch(
                ChronosJobResource, "admins", edit, namespace=ns, patch_type=PatchType.MERGE
            )
        )
        is None
    )
    users.owner.create(_job("owners", ns, OWNED))
    message = policy_refusal(
        lambda: users.owner.patch(
            ChronosJobResource, "owners", patch, namespace=ns, patch_type=PatchType.MERGE
        )
    )
    assert message is not None
    assert f"'{HIDDEN}'" in message
    assert k8s.get(ChronosJobResource, "owners", namespace=ns)["spec"]["calendarRef"] == {
        "name": OWNED
    }


def test_a_configmap_the_author_cannot_read_is_refused(users: Users, k8s: Client) -> None:
    ns = users.namespace
    message = policy_refusal(lambda: users.caller.create(_calendar("peek", ns, _ics(HIDDEN))))
    assert message is not None, "created a calendar reading a ConfigMap its author cannot read"
    assert (
        f"spec.ics.configMapRef: you ({users.caller_name}) may not get ConfigMap "
        f"'{HIDDEN}' in namespace '{ns}'; a ChronosCalendar may only use ConfigMaps its "
        "author can read"
    ) in message
    # The owner may use the ConfigMap it can read, and not the other one.
    assert policy_refusal(lambda: users.owner.create(_calendar("mine", ns, _ics(OWNED)))) is None
    stored = k8s.get(ChronosCalendarResource, "mine", namespace=ns)
    assert stored["spec"]["ics"]["configMapRef"]["name"] == OWNED
    message = policy_refusal(
        lambda: users.owner.patch(
            ChronosCalendarResource,
            "mine",
            {"spec": {"ics": {"configMapRef": {"name": HIDDEN}}}},
            namespace=ns,
            patch_type=PatchType.MERGE,
        )
    )
    assert message is not None
    # A calendar without an .ics needs no ConfigMap right.
    body = {"excludedDates": ["2030-12-25"]}
    assert policy_refusal(lambda: users.caller.create(_calendar("plain", ns, body))) is None
