"""``chronos migrate --apply`` against the real control plane and a fake old Chronos."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from builders import create_chronosjob, spec
from fakechronos import FakeChronos, serving
from lightkube import Client
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType
from support import cronjob, get_cr, ready, wait_for

from chronos.api.migrate import cli
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess
from chronos.kube import ChronosJobResource

pytestmark = pytest.mark.cluster

PASSWORD = "pa55-w0rd-never-echoed"


def run(argv: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    now = datetime.now(UTC) + timedelta(minutes=1)
    code = cli.migrate(cli.parser().parse_args(argv), out, io.StringIO(stdin), now=now)
    return code, out.getvalue()


@pytest.fixture
def old_chronos() -> Any:
    fake = FakeChronos(token="old-token")
    fake.add(
        {
            "name": "Monday-Wednesday-Friday Job",
            "task_type": "entity_start",
            "schedule": {
                "days_of_week": ["monday", "wednesday", "friday"],
                "hour": 8,
                "minute": 30,
            },
            "pipeline_id": "pipeline-123",
            "entity_id": "entity-456",
        }
    )
    fake.add(
        {
            "name": "Nightly stop",
            "task_type": "PIPELINE_STOP",
            "pipeline_id": "pipeline-123",
            "cron_expression": "0 22 * * *",
            "enabled": False,
        }
    )
    fake.add(
        {
            "name": "Sundays",
            "task_type": "pipeline_start",
            "pipeline_id": "p",
            "cron_expression": "0 6 * * 7",
        }
    )
    with serving(fake):
        yield fake


def argv(
    fake: FakeChronos, cluster: Cluster, namespace: str, tmp_path: Path, *extra: str
) -> list[str]:
    token = tmp_path / "token"
    token.write_text("old-token\n")
    return [
        "migrate", "--from", fake.url, "--token-file", str(token), "--time-zone", "Europe/Rome",
        "--apply", "--kubeconfig", str(cluster.kubeconfig), "-n", namespace, *extra,
    ]  # fmt: skip


def versions(k8s: Client, namespace: str) -> dict[str, tuple[Any, Any]]:
    jobs = [j.to_dict() for j in k8s.list(ChronosJobResource, namespace=namespace)]  # type: ignore[no-untyped-call]
    return {
        j["metadata"]["name"]: (j["metadata"]["generation"], j["metadata"]["resourceVersion"])
        for j in jobs
    }


def test_apply_creates_the_jobs_and_the_secret_and_a_rerun_changes_nothing(
    cluster: Cluster,
    k8s: Client,
    namespace: str,
    old_chronos: FakeChronos,
    tmp_path: Path,
    operator: OperatorProcess,
) -> None:
    secret_flags = ("--corehub-url", "https://corehub.example:1717", "--corehub-username",
                    "automation", "--corehub-password-file", "-")  # fmt: skip
    flags = argv(old_chronos, cluster, namespace, tmp_path, *secret_flags)
    code, report = run(flags, stdin=PASSWORD + "\n")
    assert code == 1, report  # "Sundays" (7 for Sunday) is not converted
    assert PASSWORD not in report
    assert f"Secret {namespace}/chronos-corehub: applied" in report
    assert "-> monday-wednesday-friday-job-1 [created]" in report
    assert "-> nightly-stop-2 [created]" in report
    assert "closest valid form: cron '0 6 * * 0' (same runs)" in report

    secret = k8s.get(Secret, "chronos-corehub", namespace=namespace)
    assert base64.b64decode((secret.data or {})["password"]).decode() == PASSWORD
    job = get_cr(k8s, namespace, "monday-wednesday-friday-job-1")
    assert job["spec"]["schedule"] == {
        "daysOfWeek": ["monday", "wednesday", "friday"],
        "hour": 8,
        "minute": 30,
    }
    assert job["spec"]["timeZone"] == "Europe/Rome"
    assert job["spec"]["coreHub"] == {
        "url": "https://corehub.example:1717",
        "credentialsSecretRef": {
            "name": "chronos-corehub",
            "passwordKey": "password",
            "usernameKey": "username",
        },
    }
    # The operator may already have written the status subresource (its own manager);
    # everything else, the spec above all, is the migration's.
    managers = {
        m["manager"] for m in job["metadata"]["managedFields"] if m.get("subresource") != "status"
    }
    assert managers == {cli.FIELD_MANAGER}
    assert get_cr(k8s, namespace, "nightly-stop-2")["spec"]["enabled"] is False
    # The operator acts on what was migrated: the jobs get their CronJobs.
    for name, reason in (
        ("monday-wednesday-friday-job-1", "Reconciled"),
        ("nightly-stop-2", "Suspended"),
    ):
        cond = wait_for(partial(ready, k8s, namespace, name), what=f"{name}'s Ready")
        assert (cond["status"], cond["reason"]) == ("True", reason), cond
    assert cronjob(k8s, namespace, "monday-wednesday-friday-job-1") is not None

    before = versions(k8s, namespace)
    code, report = run(flags, stdin=PASSWORD + "\n")
    assert code == 1, report  # the Sunday job only
    assert "-> monday-wednesday-friday-job-1 [unchanged]" in report
    assert "-> nightly-stop-2 [unchanged]" in report
    assert versions(k8s, namespace) == before


def test_a_dry_run_changes_nothing_and_a_changed_job_is_updated(
    cluster: Cluster, k8s: Client, namespace: str, old_chronos: FakeChronos, tmp_path: Path
) -> None:
    flags = argv(old_chronos, cluster, namespace, tmp_path)
    code, report = run([*flags, "--dry-run"])
    assert code == 1, report  # the Sunday job only
    assert "-> nightly-stop-2 [created (dry run)]" in report
    assert list(k8s.list(ChronosJobResource, namespace=namespace)) == []
    run(flags)
    old_chronos.jobs[1]["cron_expression"] = "30 22 * * *"
    code, report = run([*flags, "--dry-run"])
    assert code == 1, report  # the Sunday job only
    assert "-> nightly-stop-2 [updated (dry run)]" in report
    assert get_cr(k8s, namespace, "nightly-stop-2")["spec"]["schedule"] == {"cron": "0 22 * * *"}
    code, report = run(flags)
    assert code == 1, report  # the Sunday job only
    assert "-> nightly-stop-2 [updated]" in report
    assert get_cr(k8s, namespace, "nightly-stop-2")["spec"]["schedule"] == {"cron": "30 22 * * *"}


def test_a_job_of_the_same_name_not_migrated_is_left_alone(
    cluster: Cluster, k8s: Client, namespace: str, old_chronos: FakeChronos, tmp_path: Path
) -> None:
    create_chronosjob(k8s, namespace, "nightly-stop-2", spec())
    code, report = run(argv(old_chronos, cluster, namespace, tmp_path))
    assert code == 1
    assert "-> nightly-stop-2 [refused: a ChronosJob of that name exists" in report
    assert "migrated-from-id" not in str(get_cr(k8s, namespace, "nightly-stop-2")["metadata"])


def test_a_field_another_manager_changed_is_a_conflict_until_forced(
    cluster: Cluster, k8s: Client, namespace: str, old_chronos: FakeChronos, tmp_path: Path
) -> None:
    flags = argv(old_chronos, cluster, namespace, tmp_path)
    run(flags)
    k8s.patch(
        ChronosJobResource,
        "monday-wednesday-friday-job-1",
        {
            "apiVersion": "chronos.gluesync.io/v1alpha1",
            "kind": "ChronosJob",
            "spec": {"enabled": False},
        },
        namespace=namespace,
        patch_type=PatchType.APPLY,
        field_manager="someone-else",
        force=True,
    )
    code, report = run(flags)
    assert code == 1
    assert "-> monday-wednesday-friday-job-1 [failed: 409 Conflict" in report
    code, report = run([*flags, "--force-conflicts"])
    assert code == 1, report  # the Sunday job only
    assert "-> monday-wednesday-friday-job-1 [updated]" in report
    assert get_cr(k8s, namespace, "monday-wednesday-friday-job-1")["spec"]["enabled"] is True
