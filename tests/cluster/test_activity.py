"""The activity ledger (issue 22) against the real control plane: who did what is the name
the API server saw, kept in the namespace's ConfigMap chronos-activity by the operator.

- a change made with kubectl as user A (with the attribution annotation, as the kubectl
  plugin makes it) and run-nows made through the REST facade and the dashboard as user B
  appear with their names, "admission-checked"; a kubectl change without the annotation appears
  "unattributed" with kubectl's field manager;
- an annotation naming someone else is refused by admission, with a message naming the
  field; so is a new stamp under another user's name, and anyone but the operator
  writing the ledger;
- a leader change is recorded in the ledger of the Lease's namespace, old → new holder.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from builders import create_chronosjob, grant, spec
from fixtures_api import ApiServer, example_job, quiet_schedule, sa_token, token_kubeconfig
from fixtures_ui import UiUser, signed_in
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.types import PatchType
from support import policy_refusal, wait_for

from chronos import contract as c
from chronos import kube
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource
from chronos.models import activity as a
from chronos.models.activity import Entry, Kind, Source

pytestmark = pytest.mark.cluster

BY = c.CHANGED_BY_ANNOTATION
AT = c.CHANGED_AT_ANNOTATION


@dataclass
class User:
    name: str  # as the API server knows it
    token: str
    kubeconfig: Path
    client: Client


def _user(k8s: Client, cluster: Cluster, namespace: str, account: str, tmp: Path) -> User:
    grant(k8s, namespace, account, role=f"{account}-jobs")
    token = sa_token(k8s, namespace, account)
    kubeconfig = token_kubeconfig(cluster, token, tmp / account)
    return User(
        f"system:serviceaccount:{namespace}:{account}",
        token,
        kubeconfig,
        kube.client(kubeconfig),
    )


def _kubectl(cluster: Cluster, user: User, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl itself, as ``user`` (its own field managers: kubectl-patch …)."""
    cmd = [str(cluster.bin_dir / "kubectl"), "--kubeconfig", str(user.kubeconfig), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def ledger(k8s: Client, namespace: str) -> list[Entry]:
    try:
        cm = k8s.get(ConfigMap, a.LEDGER_CONFIGMAP, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return []
        raise
    return a.parse_ledger((cm.data or {}).get(a.LEDGER_KEY))


def wait_entry(
    k8s: Client, namespace: str, found: Callable[[Entry], bool], what: str, timeout: float = 30
) -> Entry:
    def look() -> Entry | None:
        return next((e for e in ledger(k8s, namespace) if found(e)), None)

    entry: Entry = wait_for(look, timeout, what)
    return entry


def _annotation(k8s: Client, namespace: str, name: str) -> str | None:
    obj = k8s.get(ChronosJobResource, name, namespace=namespace)
    return (obj.metadata.annotations or {}).get(BY) if obj.metadata else None


def _runs(k8s: Client, namespace: str, job: str) -> list[str]:
    """The job's batch Jobs (its runs): name and whether it ended."""

    def ended(o: Job) -> bool:
        conditions = (o.status.conditions if o.status else None) or []
        return any(k.type in ("Complete", "Failed") and k.status == "True" for k in conditions)

    return [
        f"{o.metadata.name}: {'ended' if ended(o) else 'running'}"
        for o in k8s.list(Job, namespace=namespace)
        if o.metadata and (o.metadata.annotations or {}).get(c.CHRONOSJOB_ANNOTATION) == job
    ]


def test_kubectl_as_one_user_and_rest_as_another_are_recorded_with_their_names(
    operator: OperatorProcess,
    api_server: ApiServer,
    k8s: Client,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    alice = _user(k8s, cluster, namespace, "alice", tmp_path)
    bob = _user(k8s, cluster, namespace, "bob", tmp_path)
    body = example_job(
        name="ledger", schedule=quiet_schedule(datetime.now(UTC)), concurrency_policy="Allow"
    )
    with api_server.client(bob.token, namespace) as rest:
        created = rest.post("/api/jobs", json=body)
        assert created.status_code == 201, created.text
        job = created.json()["id"]
        wait_entry(k8s, namespace, lambda e: e.kind is Kind.CREATED, "the create")

        # kubectl as alice, naming herself, as the kubectl plugin (issue 23) does.
        stamp = {BY: alice.name, AT: datetime.now(UTC).isoformat()}
        patch = {"metadata": {"annotations": stamp}, "spec": {"timeZone": "Asia/Tokyo"}}
        out = _kubectl(
            cluster,
            alice,
            "-n",
            namespace,
            "patch",
            "chronosjob",
            job,
            "--type",
            "merge",
            "-p",
            json.dumps(patch),
        )
        assert out.returncode == 0, out.stderr
        wait_entry(k8s, namespace, lambda e: e.kind is Kind.CHANGED, "alice's change")

        # kubectl as alice without a new stamp (hers is still on the job): unattributed,
        # with kubectl's field manager.
        plain = {"spec": {"timeZone": "Europe/Rome"}}
        out = _kubectl(
            cluster,
            alice,
            "-n",
            namespace,
            "patch",
            "chronosjob",
            job,
            "--type",
            "merge",
            "-p",
            json.dumps(plain),
        )
        assert out.returncode == 0, out.stderr
        wait_entry(
            k8s, namespace, lambda e: e.source is Source.UNATTRIBUTED, "the unattributed change"
        )

        # bob: run now through the REST facade, then with the dashboard's button.
        run = rest.post(f"/api/jobs/{job}/run", headers={"Idempotency-Key": "ledger-1"})
        assert run.status_code == 200, run.text
        wait_entry(k8s, namespace, lambda e: e.kind is Kind.RUN_NOW, "bob's run-now")
        with signed_in(api_server, bob.token) as ui:
            dashboard = UiUser(ui, bob.token)
            data = {"key": "ledger-ui", "csrf": dashboard.csrf()}
            pressed = dashboard.post(f"/ui/jobs/{namespace}/{job}/run", data)
            assert pressed.status_code == 303, pressed.text
        wait_entry(k8s, namespace, lambda e: e.detail == "ledger-ui", "bob's dashboard run-now")

        wait_for(lambda: len(_runs(k8s, namespace, job)) == 2, 30, "the two run-now Jobs")
        runs = _runs(k8s, namespace, job)
        assert all(r.endswith(": running") for r in runs), runs  # deleted unfinished below

        # bob disables it, then deletes it through the REST facade.
        off = rest.patch(f"/api/jobs/{job}/status", json={"enabled": False})
        assert off.status_code == 200, off.text
        assert rest.delete(f"/api/jobs/{job}").status_code == 204
        # Its two run-now Jobs go with it (the garbage collector), unfinished: no
        # abort, whichever deletion the operator's informers tell first. Read once they
        # are gone, so that an abort recorded for them would be in the ledger.
        wait_entry(k8s, namespace, lambda e: e.kind is Kind.DELETED, "bob's delete")
        wait_for(lambda: not _runs(k8s, namespace, job), 60, "the runs to go with the job")

    entries = [e for e in ledger(k8s, namespace) if e.job == job]
    seen = [(e.kind, e.who, e.source, e.fields) for e in entries]
    assert seen == [
        (Kind.CREATED, bob.name, Source.ADMISSION, ()),
        (Kind.CHANGED, alice.name, Source.ADMISSION, ("spec.timeZone",)),
        (Kind.CHANGED, None, Source.UNATTRIBUTED, ("spec.timeZone",)),
        (Kind.RUN_NOW, bob.name, Source.ADMISSION, ()),
        (Kind.RUN_NOW, bob.name, Source.ADMISSION, ()),
        (Kind.DISABLED, bob.name, Source.ADMISSION, ()),
        (Kind.DELETED, bob.name, Source.ADMISSION, ()),
    ], seen
    assert entries[2].manager == "kubectl-patch"
    assert entries[3].detail == "ledger-1"


def test_an_annotation_naming_someone_else_is_refused(
    k8s: Client, cluster: Cluster, solo_namespace: str, tmp_path: Path
) -> None:
    """In a namespace no operator watches, so nothing clears the annotation meanwhile."""
    ns = solo_namespace
    alice = _user(k8s, cluster, ns, "alice", tmp_path)
    bob = _user(k8s, cluster, ns, "bob", tmp_path)

    def forge() -> Any:
        obj = ChronosJobResource(
            metadata=ObjectMeta(name="forged", namespace=ns, annotations={BY: bob.name}),
            spec=spec(),
        )
        return alice.client.create(obj)

    message = wait_for(lambda: policy_refusal(forge), 30, "the policy to be enforced")
    assert (
        f"metadata.annotations[{BY}]: names '{bob.name}', but this change is made by '{alice.name}'"
    ) in message
    # Her own name is accepted.
    create_chronosjob(k8s, ns, "shared", spec())
    own = {"metadata": {"annotations": {BY: alice.name, AT: "t1"}}, "spec": {"timeZone": "UTC"}}
    alice.client.patch(ChronosJobResource, "shared", own, namespace=ns, patch_type=PatchType.MERGE)
    # Under her stamp bob may change the job, leaving it as it was (the ledger then
    # credits nobody), but not give it a new time under her name …
    change = {"spec": {"timeZone": "Asia/Tokyo"}}
    bob.client.patch(ChronosJobResource, "shared", change, namespace=ns, patch_type=PatchType.MERGE)
    restamp = {"metadata": {"annotations": {AT: "t2"}}}
    refused = policy_refusal(
        lambda: bob.client.patch(
            ChronosJobResource, "shared", restamp, namespace=ns, patch_type=PatchType.MERGE
        )
    )
    assert refused is not None
    assert f"names '{alice.name}', but this change is made by '{bob.name}'" in refused
    # … while his own name, or none, is his to write.
    mine = {"metadata": {"annotations": {BY: bob.name, AT: "t3"}}}
    bob.client.patch(ChronosJobResource, "shared", mine, namespace=ns, patch_type=PatchType.MERGE)
    assert _annotation(k8s, ns, "shared") == bob.name
    gone = {"metadata": {"annotations": {BY: None, AT: None}}}
    alice.client.patch(ChronosJobResource, "shared", gone, namespace=ns, patch_type=PatchType.MERGE)
    assert _annotation(k8s, ns, "shared") is None


def test_only_the_operator_writes_the_ledger(
    k8s: Client, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    alice = _user(k8s, cluster, namespace, "alice", tmp_path)
    rule = PolicyRule(apiGroups=[""], resources=["configmaps"], verbs=["create", "update"])
    k8s.create(Role(metadata=ObjectMeta(name="cm", namespace=namespace), rules=[rule]))
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name="cm", namespace=namespace),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name="cm"),
            subjects=[Subject(kind="ServiceAccount", name="alice", namespace=namespace)],
        )
    )
    fake = ConfigMap(
        metadata=ObjectMeta(name=a.LEDGER_CONFIGMAP, namespace=namespace),
        data={a.LEDGER_KEY: "{}\n"},
    )
    message = wait_for(
        lambda: policy_refusal(lambda: alice.client.create(fake, dry_run=True)), 30, "refusal"
    )
    assert "only the operator (system:serviceaccount:chronos:chronos-operator)" in message
    # Any other ConfigMap is hers to write.
    other = ConfigMap(metadata=ObjectMeta(name="notes", namespace=namespace), data={"x": "y"})
    alice.client.create(other)


def test_a_leader_change_is_recorded(
    start_operator: Callable[..., OperatorProcess], k8s: Client, solo_namespace: str
) -> None:
    settings = {"CHRONOS_LEASE_NAMESPACE": solo_namespace}
    first = start_operator(**settings)
    host = socket.gethostname()
    first_id = f"{host}-{first.pid}"
    wait_entry(
        k8s,
        solo_namespace,
        lambda e: e.kind is Kind.LEADER and e.who == first_id,
        "the first leader's entry",
    )
    second = start_operator(**settings)  # a standby while the first leads
    first.stop(signal.SIGKILL)  # no release: the standby waits out the lease
    second_id = f"{host}-{second.pid}"
    entry = wait_entry(
        k8s,
        solo_namespace,
        lambda e: e.kind is Kind.LEADER and e.who == second_id,
        "the second leader's entry",
        timeout=60,
    )
    assert entry.detail == f"{first_id} → {second_id}"
    assert entry.source is Source.OPERATOR
    # Both kept, oldest first, in the Lease's namespace.
    leaders = [e.who for e in ledger(k8s, solo_namespace) if e.kind is Kind.LEADER]
    assert leaders == [first_id, second_id]
