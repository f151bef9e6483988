"""The Cluster page and the Your-access page (issue 22) in a real browser, against the
real control plane: two real operator processes leading and standing by, their
published figures, a leader failover (the leader killed) shown on the page without a
reload, users reading with exactly deploy/base's read-only Roles, what a user may not
read said calmly, axe, and an HTML-injection canary staying text.
"""

from __future__ import annotations

import html
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from builders import create_chronosjob, grant, may_read_pod_logs, pipeline_spec
from fixtures_api import ApiServer, sa_token, serve_api
from fixtures_browser import Watched, axe_violations
from fixtures_ui import VIEWER_VERBS, XSS, signed_in
from lightkube import Client, codecs
from lightkube.models.batch_v1 import JobSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import RoleRef, Subject
from lightkube.resources.batch_v1 import Job
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import ConfigMap, Namespace, Pod
from lightkube.resources.rbac_authorization_v1 import RoleBinding
from playwright.sync_api import Browser, expect
from support import ROOT, wait_for

from chronos import contract as c
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess
from chronos.models.figures import figures_config_map, parse_figures
from chronos.times import rfc3339

pytestmark = pytest.mark.cluster

LEASE = "chronos-operator"  # deploy/base's Roles name this Lease and its figures
#: deploy/base's Roles for the Cluster page's users, applied as shipped.
VIEWER_ROLES = ("chronos-cluster-viewer", "chronos-cluster-viewer-lease")


@pytest.fixture
def home(k8s: Client) -> Iterator[str]:
    """Where "Chronos runs": the Lease, the figures, the facade's pods."""
    name = f"chronos-home-{uuid.uuid4().hex[:6]}"
    k8s.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    k8s.delete(Namespace, name)


@pytest.fixture
def console(
    cluster: Cluster, k8s: Client, tmp_path_factory: pytest.TempPathFactory, home: str
) -> Iterator[ApiServer]:
    yield from serve_api(
        cluster,
        k8s,
        tmp_path_factory,
        api_cluster_namespace=home,
        api_operator_lease=LEASE,
        api_pod_selector="app.kubernetes.io/part-of=chronos,app.kubernetes.io/component=api",
    )


def shipped_roles(home: str) -> list[Any]:
    """deploy/base's Cluster-page Roles, moved to ``home``."""
    docs = yaml.safe_load_all((ROOT / "deploy" / "base" / "rbac-api.yaml").read_text())
    roles = [d for d in docs if d and d["kind"] == "Role" and d["metadata"]["name"] in VIEWER_ROLES]
    assert len(roles) == 2
    for role in roles:
        role["metadata"]["namespace"] = home
        verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
        assert verbs <= {"get", "list", "watch"}, "the page's Roles grant reads only"
    return [codecs.from_dict(role) for role in roles]


def bind_cluster_viewer(k8s: Client, home: str, account: str, account_namespace: str) -> None:
    for role in VIEWER_ROLES:
        k8s.create(
            RoleBinding(
                metadata=ObjectMeta(name=f"{role}-{account}", namespace=home),
                roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name=role),
                subjects=[
                    Subject(kind="ServiceAccount", name=account, namespace=account_namespace)
                ],
            )
        )


def holder(k8s: Client, home: str) -> str | None:
    lease = k8s.get(Lease, LEASE, namespace=home)
    return lease.spec.holderIdentity if lease.spec else None


def identity(process: OperatorProcess) -> str:
    return f"{socket.gethostname()}-{process.pid}"


def published(k8s: Client, home: str) -> dict[str, bool]:
    """identity -> leader, as the figures ConfigMap holds them."""
    try:
        data = k8s.get(ConfigMap, figures_config_map(LEASE), namespace=home).data
    except Exception:  # noqa: BLE001 - not written yet
        return {}
    entries, _ = parse_figures(data)
    return {e.identity: e.leader for e in entries}


def scheduled_job(namespace: str, owner: str, slot: datetime) -> Job:
    """A Job as the CronJob controller marks one for a slot, owned by a ChronosJob named
    ``owner`` (its annotation: any text), suspended so no pod is started."""
    return Job(
        metadata=ObjectMeta(
            name=f"lagged-{uuid.uuid4().hex[:6]}",
            namespace=namespace,
            labels={c.JOB_LABEL: "lagged"},
            annotations={
                c.CHRONOSJOB_ANNOTATION: owner,
                c.SCHEDULED_TIMESTAMP_ANNOTATION: rfc3339(slot),
            },
        ),
        spec=JobSpec(
            suspend=True,
            template=PodTemplateSpec(
                spec=PodSpec(
                    restartPolicy="Never", containers=[Container(name="task", image="busybox")]
                )
            ),
        ),
    )


def labelled_pod(name: str, namespace: str, labels: dict[str, str], node: str | None) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels),
        spec=PodSpec(
            nodeName=node, containers=[Container(name="main", image="chronos-operator:0.1.0")]
        ),
    )


def test_the_cluster_page_follows_a_real_leader_failover_without_a_reload(
    console: ApiServer,
    browser: Browser,
    start_operator: Callable[..., OperatorProcess],
    k8s: Client,
    home: str,
    solo_namespace: str,
) -> None:
    ns = solo_namespace
    for role in shipped_roles(home):
        k8s.create(role)
    grant(k8s, ns, "viewer", VIEWER_VERBS, role="chronos-viewer")
    token = sa_token(k8s, ns, "viewer")
    bind_cluster_viewer(k8s, home, "viewer", ns)
    may_read_pod_logs(k8s, ns, "viewer")  # lists the runs' pods: the nodes
    where = {"CHRONOS_LEASE_NAMESPACE": home, "CHRONOS_LEASE_NAME": LEASE}
    first = start_operator(**where)
    wait_for(lambda: holder(k8s, home) == identity(first), 30, "the first operator to lead")
    second = start_operator(**where)
    wait_for(
        lambda: published(k8s, home) == {identity(first): True, identity(second): False},
        30,
        "both replicas' figures",
    )
    # A facade pod, a run's pod on a node, and a scheduled Job 3 s late whose owner's
    # name is markup (the annotation takes any text; the figures carry it to the page).
    k8s.create(
        labelled_pod(
            "chronos-api-7d9f",
            home,
            {"app.kubernetes.io/part-of": "chronos", "app.kubernetes.io/component": "api"},
            None,
        )
    )
    k8s.create(labelled_pod("nightly-1-abcde", ns, {c.JOB_LABEL: "nightly"}, "node-of-runs"))
    k8s.create(scheduled_job(ns, XSS, datetime.now(UTC) - timedelta(seconds=3)))
    # A job, so that the namespace is one the viewer sees (the facade's cache has it).
    create_chronosjob(k8s, ns, "nightly", pipeline_spec())

    ctx = browser.new_context(bypass_csp=True)  # only so that axe itself can be injected
    try:
        tab = Watched(ctx, console.url)
        tab.sign_in(token)
        page = tab.page
        page.get_by_role("link", name="Cluster", exact=True).click()
        expect(page.get_by_role("heading", name="Cluster", exact=True)).to_be_visible()
        page.evaluate("window.notReloaded = 42")
        leader = page.locator("#leader-holder")
        expect(leader).to_have_text(identity(first))
        rows = page.locator("#operators tr.replica")
        expect(rows.nth(0)).to_contain_text("leader (master)")
        expect(rows.nth(1)).to_contain_text(identity(second))
        expect(rows.nth(1)).to_contain_text("standby (backup)")
        expect(page.locator("#facades")).to_contain_text("chronos-api-7d9f")
        expect(page.locator("#nodes")).to_contain_text("node-of-runs")
        # The leader's figures: its queue, and the lag of the scheduled Job, as text.
        expect(page.locator("#work")).to_contain_text("Work queue depth")
        lags = page.locator("#lags")
        expect(lags).to_contain_text(XSS, timeout=30_000)
        expect(lags).to_contain_text("operator")
        assert page.locator("#lags img").count() == 0
        assert axe_violations(page) == []

        killed = time.monotonic()
        first.stop(signal.SIGKILL)  # no chance to release the lease
        expect(leader).to_have_text(identity(second), timeout=45_000)
        shown = time.monotonic() - killed
        expect(rows.nth(0)).to_contain_text(identity(second))
        expect(rows.nth(0)).to_contain_text("leader (master)")
        assert page.evaluate("window.notReloaded") == 42, "the page was reloaded"
        print(f"failover: leader killed -> new leader on the page in {shown:.1f} s")

        # A clean stop releases the lease and removes the replica's figures: a third
        # replica leads at once and the stopped one leaves the table.
        third = start_operator(**where)
        expect(page.locator("#operators")).to_contain_text(identity(third), timeout=30_000)
        second.stop()
        expect(leader).to_have_text(identity(third), timeout=30_000)
        expect(page.locator("#operators")).not_to_contain_text(identity(second), timeout=30_000)
        assert page.evaluate("window.notReloaded") == 42, "the page was reloaded"
        assert tab.problems == []
    finally:
        ctx.close()


def test_a_user_without_the_roles_is_told_calmly_and_no_markup_runs(
    console: ApiServer, k8s: Client, home: str, solo_namespace: str
) -> None:
    ns = solo_namespace
    grant(k8s, ns, "outsider", VIEWER_VERBS, role="chronos-viewer")
    token = sa_token(k8s, ns, "outsider")
    with signed_in(console, token) as client:
        page = client.get("/ui/cluster")
        assert page.status_code == 200, page.text
        text = html.unescape(page.text)
        assert f'You may not read the operator\'s pods in namespace "{home}"' in text
        assert f'You may not read the leader lease "{home}/{LEASE}"' in text
        assert "You may not read the operator's figures" in text
        fragment = client.get("/ui/fragments/cluster")
        assert fragment.status_code == 200
        assert "You may not read" in fragment.text
        assert "<html" not in fragment.text  # a fragment, for the poll to swap in


def test_your_access_lists_each_namespace_and_why_a_button_is_missing(
    console: ApiServer, browser: Browser, k8s: Client, solo_namespace: str
) -> None:
    ns = solo_namespace
    grant(k8s, ns, "reader", VIEWER_VERBS, role="chronos-viewer")
    token = sa_token(k8s, ns, "reader")
    create_chronosjob(k8s, ns, "seen", pipeline_spec())  # a namespace the reader sees
    editor_ns = f"{ns}-e"
    k8s.create(Namespace(metadata=ObjectMeta(name=editor_ns)))
    try:
        # The same account may do everything to chronosjobs in a second namespace.
        grant(k8s, editor_ns, "reader", account_namespace=ns)
        ctx = browser.new_context(bypass_csp=True)
        try:
            tab = Watched(ctx, console.url)
            tab.sign_in(token)
            page = tab.page
            page.get_by_role("link", name="Your access").click()
            expect(page.get_by_role("heading", name="Your access")).to_be_visible()
            page.get_by_label("Another namespace").fill(editor_ns)
            page.get_by_role("button", name="Show").click()
            table = page.locator("#access")
            expect(table.locator("thead th", has_text=editor_ns)).to_be_visible()
            # The asked namespace first, then the default one, then those with jobs.
            headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
            assert headers == ["Action", editor_ns, "default", ns]
            run_row = table.locator("tr", has_text="Run now")
            cells = run_row.locator("td")
            by_namespace = dict(zip(headers[1:], cells.all_inner_texts(), strict=True))
            assert "not allowed" in by_namespace[ns]
            assert "needs patch chronosjobs.chronos.gluesync.io" in by_namespace[ns]
            assert "✓ allowed" in by_namespace[editor_ns]
            view_row = dict(
                zip(
                    headers[1:],
                    table.locator("tr", has_text="See jobs and their runs")
                    .locator("td")
                    .all_inner_texts(),
                    strict=True,
                )
            )
            assert "✓ allowed" in view_row[ns]
            assert "✓ allowed" in view_row[editor_ns]
            assert "needs list chronosjobs.chronos.gluesync.io" in view_row["default"]
            assert axe_violations(page) == []
            assert tab.problems == []
        finally:
            ctx.close()
        # A namespace that cannot exist is refused by its name, shown as text.
        with signed_in(console, token) as client:
            answer = client.get("/ui/access", params={"namespace": XSS})
            assert answer.status_code == 404
            assert XSS not in answer.text
            assert "&lt;img src=x onerror=alert(1)&gt;" in answer.text
    finally:
        k8s.delete(Namespace, editor_ns)


def test_the_page_reads_nothing_before_sign_in(console: ApiServer) -> None:
    with console.client(None) as anonymous:
        for path in ("/ui/cluster", "/ui/fragments/cluster", "/ui/access"):
            answer = anonymous.get(path, follow_redirects=False)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == "/ui/login"


def test_a_clean_stop_removes_the_replicas_figures(
    start_operator: Callable[..., OperatorProcess], k8s: Client, home: str
) -> None:
    where = {"CHRONOS_LEASE_NAMESPACE": home, "CHRONOS_LEASE_NAME": LEASE}
    leader = start_operator(**where)
    standby = start_operator(**where)
    wait_for(lambda: len(published(k8s, home)) == 2, 30, "both replicas' figures")
    for process in (standby, leader):
        process.stop()
        assert process.proc is not None
        assert process.proc.returncode == 0, process.log_path.read_text()[-3000:]
        gone = identity(process)
        wait_for(lambda g=gone: g not in published(k8s, home), 10, f"{gone}'s entry removed")  # type: ignore[misc]
