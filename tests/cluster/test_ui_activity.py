"""The Activity page (issue 22, docs/ui.md "Activity"): the namespace's activity ledger
read with the signed-in user's own rights, filtered and paged; in a real browser, no
serious axe violation and an HTML-injection canary in every text of an entry stays text.

The ledger here is written by the test as a cluster administrator (the admission policy
lets system:masters write it, as the operator does), in a namespace no operator watches,
so the entries are exactly the test's own; the operator's writing it is
test_activity.py's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fixtures_api import ApiServer
from fixtures_browser import Watched, axe_violations
from fixtures_ui import XSS, UiUser, signed_in
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import ConfigMap
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from playwright.sync_api import Browser, expect

from chronos.models import activity as a
from chronos.models.activity import Entry, Kind, Source

pytestmark = pytest.mark.cluster


@pytest.fixture
def namespace(unwatched_namespace: str) -> str:
    return unwatched_namespace


def _may_read_ledger(k8s: Client, namespace: str, account: str) -> None:
    rule = PolicyRule(
        apiGroups=[""],
        resources=["configmaps"],
        resourceNames=[a.LEDGER_CONFIGMAP],
        verbs=["get"],
    )
    k8s.create(Role(metadata=ObjectMeta(name="ledger", namespace=namespace), rules=[rule]))
    k8s.create(
        RoleBinding(
            metadata=ObjectMeta(name="ledger", namespace=namespace),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name="ledger"),
            subjects=[Subject(kind="ServiceAccount", name=account, namespace=namespace)],
        )
    )


def _entries(namespace: str, now: datetime) -> list[Entry]:
    """60 run-nows by bob, one change by alice, one unattributed change and a leader
    change whose every text is the canary."""
    out = [
        Entry(
            time=now - timedelta(minutes=100 - i),
            kind=Kind.RUN_NOW,
            namespace=namespace,
            job="nightly",
            who="bob",
            source=Source.ADMISSION,
            detail=f"token-{i}",
        )
        for i in range(60)
    ]
    out.append(
        Entry(
            time=now - timedelta(minutes=3),
            kind=Kind.CHANGED,
            namespace=namespace,
            job="nightly",
            who="alice",
            source=Source.ADMISSION,
            fields=("spec.timeZone", XSS),
        )
    )
    out.append(
        Entry(
            time=now - timedelta(minutes=2),
            kind=Kind.CHANGED,
            namespace=namespace,
            job="other",
            source=Source.UNATTRIBUTED,
            manager=XSS,
        )
    )
    out.append(a.leader(namespace, XSS, XSS, now - timedelta(minutes=1)))
    return out


@pytest.fixture
def ledger(k8s: Client, namespace: str) -> list[Entry]:
    entries = _entries(namespace, datetime.now(UTC))
    text = a.append(None, entries, datetime.now(UTC))
    k8s.create(
        ConfigMap(
            metadata=ObjectMeta(name=a.LEDGER_CONFIGMAP, namespace=namespace),
            data={a.LEDGER_KEY: text},
        )
    )
    return entries


@pytest.fixture
def reader(
    api_server: ApiServer, viewer_token: str, k8s: Client, namespace: str
) -> Iterator[UiUser]:
    _may_read_ledger(k8s, namespace, "viewer")
    with signed_in(api_server, viewer_token) as client:
        yield UiUser(client, viewer_token)


def test_the_page_filters_and_pages_what_the_user_may_read(
    ledger: list[Entry], reader: UiUser, viewer: UiUser, namespace: str
) -> None:
    page = reader.client.get(f"/ui/activity?namespace={namespace}")
    assert page.status_code == 200, page.text
    assert "Page 1 of 2 (63 entries)" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert XSS not in page.text
    assert "admission-checked" in page.text
    assert "unattributed" in page.text
    older = reader.client.get(f"/ui/activity?namespace={namespace}&page=2")
    assert "Page 2 of 2 (63 entries)" in older.text
    assert "token-0" in older.text
    assert "token-0<" not in page.text
    by_alice = reader.client.get(f"/ui/activity?namespace={namespace}&user=alice")
    assert "(1 entries)" in by_alice.text
    assert "spec.timeZone" in by_alice.text
    leaders = reader.client.get(f"/ui/activity?namespace={namespace}&kind=leader")
    assert "(1 entries)" in leaders.text
    other = reader.client.get(f"/ui/activity?namespace={namespace}&job=other")
    assert "(1 entries)" in other.text
    assert "field manager" in other.text


def test_bad_filters_are_a_422_naming_the_parameter(reader: UiUser, namespace: str) -> None:
    for query, name in (
        ("kind=exploded", "kind"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("job=Not_A_Name", "job"),
        ("namespace=UPPER", "namespace"),
        ("user=" + "u" * (a.MAX_NAME + 1), "user"),
    ):
        answer = reader.client.get(f"/ui/activity?{query}")
        assert answer.status_code == 422, (query, answer.status_code)
        assert f"query parameter {name}" in answer.text


def test_a_ledger_the_user_may_not_read_is_said_calmly(
    ledger: list[Entry], viewer: UiUser, namespace: str
) -> None:
    page = viewer.client.get(f"/ui/activity?namespace={namespace}")
    assert page.status_code == 200
    assert f"You may not read the activity of namespace <strong>{namespace}</strong>" in page.text
    assert "token-1" not in page.text


def test_the_page_in_a_browser_is_accessible_and_keeps_markup_as_text(
    ledger: list[Entry],
    reader: UiUser,
    api_server: ApiServer,
    browser: Browser,
    namespace: str,
) -> None:
    ctx = browser.new_context(bypass_csp=True)  # only so that axe itself can be injected
    try:
        tab = Watched(ctx, api_server.url)
        tab.sign_in(reader.token)
        tab.goto(f"/ui/activity?namespace={namespace}")
        expect(tab.page.get_by_role("heading", name="Activity")).to_be_visible()
        # The canary is shown as text, and no element came of it.
        expect(tab.page.get_by_text(XSS).first).to_be_visible()
        assert tab.page.locator("main img").count() == 0
        violations = axe_violations(tab.page)
        assert [(v["id"], v["help"]) for v in violations] == []
        # Filtering by kind in the form, then paging.
        tab.page.get_by_label("Kind").select_option("run-now")
        tab.page.get_by_role("button", name="Filter").click()
        expect(tab.page.get_by_text("Page 1 of 2 (60 entries)")).to_be_visible()
        tab.page.get_by_role("link", name="Older").click()
        expect(tab.page.get_by_text("Page 2 of 2 (60 entries)")).to_be_visible()
        assert tab.problems == []
    finally:
        ctx.close()
