"""``kubectl chronos`` against the real control plane, as the person running it: get and
describe of a job the operator applied, run --wait with the operator serving the request
and the runner (a real process, the fake CoreHub) reporting it, suspend/resume in bulk,
logs and history, and the errors (an unknown job's close names, an RBAC denial naming
the verb and namespace) as one line, never a trace."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from builders import create_chronosjob, grant, secret, service_account, spec
from fakekubelet import ScriptedKubelet, scripted_node
from fixtures_api import quiet_cron, sa_token, token_kubeconfig
from fixtures_corehub import RunRunner, runner_env
from fixtures_operator import COREHUB_SECRET
from lightkube import Client
from lightkube.models.core_v1 import Container, ObjectReference, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType
from support import get_cr, set_status, wait_for
from support_runnow import active_job

from chronos import contract
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.operator_process import OperatorProcess
from chronos.fakehub import FakeHubControl
from chronos.kube import ChronosCalendarResource, ChronosJobResource
from chronos.kubectl.__main__ import main
from chronos.times import parse_time

pytestmark = pytest.mark.cluster

Plugin = Callable[..., tuple[int, str, str]]
#: The operator's default runner ServiceAccount (operator settings).
RUNNER_ACCOUNT = "chronos-runner"
#: The viewer's zone in these tests ($TZ).
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def plugin(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Plugin:
    """Run the plugin in this process as the admin (or ``kubeconfig``'s user); the
    viewer's zone is New York."""
    monkeypatch.setenv("TZ", NEW_YORK.key)

    def run(*argv: str, kubeconfig: Path | None = None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        config = str(kubeconfig or cluster.kubeconfig)
        code = main([*argv, "--kubeconfig", config], out, err)
        return code, out.getvalue(), err.getvalue()

    return run


def applied(k8s: Client, ns: str, name: str) -> dict[str, Any]:
    """The job once the operator has reported its next runs."""
    return wait_for(
        lambda: (lambda o: o if (o.get("status") or {}).get("nextRunTimes") else None)(
            get_cr(k8s, ns, name)
        ),
        60,
        "the operator to report the next runs",
    )


def test_get_and_describe_as_the_user_sees_them(
    operator: OperatorProcess, k8s: Client, cluster: Cluster, namespace: str, plugin: Plugin
) -> None:
    k8s.create(secret(COREHUB_SECRET, namespace))
    # Monthly: the next ten runs span ten months, so a clock change of Rome lies between
    # two of them whatever today is.
    create_chronosjob(
        k8s, namespace, "orders", spec(schedule={"cron": "30 2 1 * *"}, timeZone="Europe/Rome")
    )
    obj = applied(k8s, namespace, "orders")
    first = parse_time(obj["status"]["nextRunTimes"][0])
    assert first is not None

    # The installed executable, as kubectl runs it, with the user's $KUBECONFIG.
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "TZ": "America/New_York"}
    exe = Path(sys.executable).with_name("kubectl-chronos")
    done = subprocess.run(
        [str(exe), "get", "-n", namespace], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.startswith("NAME")
    assert "NEXT RUN (LOCAL)" in header
    local = first.astimezone(NEW_YORK)
    assert row.startswith("orders")
    assert "30 2 1 * *" in row
    assert "Europe/Rome" in row
    assert local.strftime("%Y-%m-%d %H:%M %Z") in row

    code, out, _ = plugin("get", "orders", "-n", namespace, "-o", "json")
    assert code == 0
    assert json.loads(out)["metadata"]["name"] == "orders"
    code, out, _ = plugin("get", "-A", "-o", "wide")
    assert code == 0
    assert "NAMESPACE" in out
    assert "CALENDAR" in out
    assert namespace in out

    code, out, err = plugin("describe", "orders", "-n", namespace)
    assert code == 0, err
    assert "At 02:30 on day 1 of the month" in out
    assert "Next 10 runs:" in out
    assert "  10. " in out
    assert "  11. " not in out
    assert "── DST: clocks go" in out  # the change between two monthly runs is marked
    assert f"you: {local.strftime('%Y-%m-%d %H:%M %Z')}" in out
    assert "Ready" in out
    assert "(no runs yet)" in out


def test_unknown_job_names_the_close_ones(k8s: Client, namespace: str, plugin: Plugin) -> None:
    for name in ("orders", "orders-eu", "billing"):
        create_chronosjob(k8s, namespace, name, spec(enabled=False))
    code, out, err = plugin("describe", "ordrs", "-n", namespace)
    assert code == 1
    assert out == ""
    assert err == (
        f'error: chronosjob "ordrs" not found in namespace "{namespace}"; '
        'did you mean "orders" or "orders-eu"?\n'
    )


def test_rbac_denial_names_the_verb_and_namespace(
    k8s: Client, cluster: Cluster, namespace: str, plugin: Plugin, tmp_path: Path
) -> None:
    create_chronosjob(k8s, namespace, "orders", spec(enabled=False))
    grant(k8s, namespace, "viewer", ("get", "list"), role="chronos-viewer")
    config = token_kubeconfig(cluster, sa_token(k8s, namespace, "viewer"), tmp_path / "kc")

    code, out, err = plugin("get", "-n", namespace, kubeconfig=config)
    assert code == 0
    assert "orders" in out

    for argv, verb in ((["resume", "orders"], "patch"), (["run", "orders"], "patch")):
        code, out, err = plugin(*argv, "-n", namespace, kubeconfig=config)
        assert code == 1
        assert f'error: forbidden: you may not {verb} chronosjobs in namespace "{namespace}"' in err
        assert "Traceback" not in err
        assert len(err.splitlines()) == 1
    code, _, err = plugin("get", "-A", kubeconfig=config)
    assert code == 1
    assert err.startswith("error: forbidden: you may not list chronosjobs in all namespaces")
    assert get_cr(k8s, namespace, "orders")["spec"]["enabled"] is False  # nothing written


def test_suspend_and_resume_in_bulk_by_selector_and_by_name(
    k8s: Client, namespace: str, plugin: Plugin
) -> None:
    for name, team in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        k8s.create(
            ChronosJobResource(
                metadata=ObjectMeta(name=name, namespace=namespace, labels={"team": team}),
                spec=spec(),
            )
        )

    def enabled() -> dict[str, bool]:
        return {n: get_cr(k8s, namespace, n)["spec"]["enabled"] for n in ("a1", "a2", "b1")}

    code, out, err = plugin("suspend", "-l", "team=a", "-n", namespace)
    assert code == 0, err
    assert out.splitlines() == [
        "chronosjob.chronos.gluesync.io/a1 suspended",
        "chronosjob.chronos.gluesync.io/a2 suspended",
    ]
    assert enabled() == {"a1": False, "a2": False, "b1": True}
    code, out, _ = plugin("suspend", "a1", "b1", "-n", namespace)
    assert "a1 unchanged (already suspended)" in out
    assert "b1 suspended" in out
    assert enabled() == {"a1": False, "a2": False, "b1": False}

    # resume clears a suspendUntil too: resume means now
    k8s.patch(
        ChronosJobResource,
        "a2",
        {"spec": {"suspendUntil": "2099-01-01T00:00:00Z", "suspendReason": "freeze"}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    code, out, _ = plugin("resume", "-l", "team", "-n", namespace)
    assert code == 0
    assert enabled() == {"a1": True, "a2": True, "b1": True}
    assert "suspendUntil" not in get_cr(k8s, namespace, "a2")["spec"]

    # one unknown name fails alone: the others are still done, the exit code says so
    code, out, err = plugin("suspend", "a1", "nope", "b1", "-n", namespace)
    assert code == 1
    assert 'error: chronosjob "nope" not found' in err
    assert enabled() == {"a1": False, "a2": True, "b1": False}
    code, _, err = plugin("suspend", "-n", namespace)
    assert code == 1
    assert "name the jobs, or select them with -l" in err


TAIL = '{"step": "start", "entity": "e1"}\n{"step": "end", "result": "failed"}\n'


def test_history_and_logs_from_the_tail_kept_with_the_run(
    k8s: Client, namespace: str, plugin: Plugin
) -> None:
    create_chronosjob(k8s, namespace, "orders", spec(enabled=False))
    older = {
        "runId": "orders-1",
        "trigger": "schedule",
        "result": "succeeded",
        "reason": "Succeeded",
        "startTime": "2026-11-28T07:30:00Z",
        "endTime": "2026-11-28T07:30:02Z",
    }
    newer = {
        "runId": "orders-2",
        "trigger": "run-now",
        "result": "failed",
        "reason": "TaskRejected",
        "message": "CoreHub refused the task",
        "startTime": "2026-11-29T07:30:00Z",
        "endTime": "2026-11-29T07:31:15Z",
        "logTail": TAIL,
    }
    set_status(k8s, namespace, "orders", {"lastRun": newer, "history": [newer, older]})

    code, out, _ = plugin("history", "orders", "-n", namespace)
    assert code == 0
    rows = out.splitlines()
    assert rows[1].split()[:4] == ["orders-2", "run-now", "failed", "TaskRejected"]
    assert "2026-11-29 02:30 EST" in rows[1]
    assert "75.0s" in rows[1]
    assert rows[2].split()[:3] == ["orders-1", "schedule", "succeeded"]
    code, out, _ = plugin("history", "orders", "-n", namespace, "-o", "json")
    assert [r["runId"] for r in json.loads(out)] == ["orders-2", "orders-1"]

    code, out, err = plugin("logs", "orders", "-n", namespace)  # the newest run
    assert code == 0
    assert out == TAIL
    assert "its pod is gone; the log tail kept with the run" in err
    code, out, err = plugin("logs", "orders", "orders-1", "-n", namespace)
    assert code == 1
    assert "no log tail was kept" in err
    code, out, err = plugin("logs", "orders", "orders-3", "-n", namespace)
    assert code == 1
    assert 'run "orders-3" of chronosjob "orders" not found' in err


def run_now_jobs(k8s: Client, ns: str) -> dict[str, str]:
    """The run-now Jobs of ``ns``: name -> the token that asked for it."""
    found = {}
    for job in k8s.list(Job, namespace=ns):
        meta = job.metadata
        token = (meta.annotations or {}).get(contract.RUN_NOW_TOKEN_ANNOTATION) if meta else None
        if meta and token:
            found[str(meta.name)] = token
    return found


def _pod_status(phase: str, state: dict[str, Any]) -> dict[str, Any]:
    """A run pod's status with its runner container in ``state``."""
    runner = {
        "name": "runner",
        "ready": phase == "Running",
        "restartCount": 0,
        "image": "chronos-runner",
        "imageID": "",
        "state": state,
    }
    return {"phase": phase, "containerStatuses": [runner]}


def _play_kubelet(
    k8s: Client,
    ns: str,
    fakehub: FakeHubControl,
    run_runner: RunRunner,
    cluster: Cluster,
    task: dict[str, Any],
    result: dict[str, Any],
    node: tuple[str, ScriptedKubelet] | None = None,
) -> None:
    """What the node would do for the run-now's Job: run the runner (a real process
    against the fake CoreHub, reporting to the ChronosJob) and end the Job's pod with
    the runner's exit code; with ``node`` (its name and kubelet), the pod is bound to it
    and running first (its log, LOG_LINES, then comes from that node's kubelet)."""
    run = wait_for(
        lambda: next(iter(run_now_jobs(k8s, ns)), None), 60, "the operator to create the Job"
    )
    pod = wait_for(
        lambda: next(
            iter(k8s.list(Pod, namespace=ns, labels={"batch.kubernetes.io/job-name": run})), None
        ),
        60,
        "the Job controller to create the pod",
    )
    pod_name = str(pod.metadata.name if pod.metadata else "")
    if node is not None:
        node_name, kubelet = node
        _serve(kubelet, pod_name)
        binding = Pod.Binding(
            metadata=ObjectMeta(name=pod_name), target=ObjectReference(kind="Node", name=node_name)
        )
        # The API server answers a binding with a Status, which lightkube reads as a
        # Binding and refuses (no target): the pod is bound all the same (checked).
        with contextlib.suppress(ValueError):
            k8s.create(binding, name=pod_name, namespace=ns)
        bound = k8s.get(Pod, pod_name, namespace=ns)
        assert bound.spec is not None
        assert bound.spec.nodeName == node_name
        k8s.patch(
            Pod.Status,
            pod_name,
            {"status": _pod_status("Running", {"running": {"startedAt": "2026-01-01T00:00:00Z"}})},
            namespace=ns,
            patch_type=PatchType.MERGE,
        )
    env = runner_env(
        fakehub.url,
        task,
        **{
            contract.ENV_JOB_NAME: "orders",
            contract.ENV_JOB_NAMESPACE: ns,
            contract.ENV_RUN_ID: run,
            contract.ENV_TRIGGER: "run-now",
            contract.ENV_HISTORY_LIMIT: "5",
        },
    )
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    done = run_runner(env)
    result["code"] = done.returncode
    result["run"] = run
    terminated = {
        "exitCode": done.returncode,
        "reason": "Error" if done.returncode else "Completed",
    }
    phase = "Failed" if done.returncode else "Succeeded"
    k8s.patch(
        Pod.Status,
        pod_name,
        {"status": _pod_status(phase, {"terminated": terminated})},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )


def test_run_wait_exits_with_the_runners_code(
    operator: OperatorProcess,
    k8s: Client,
    cluster: Cluster,
    namespace: str,
    plugin: Plugin,
    fakehub: FakeHubControl,
    run_runner: RunRunner,
) -> None:
    k8s.create(secret(COREHUB_SECRET, namespace))
    k8s.create(service_account(RUNNER_ACCOUNT, namespace))  # the Job's pod runs as it
    # An entity CoreHub does not know: the runner fails with its own exit code.
    task = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["no-such-entity"]}
    create_chronosjob(
        k8s,
        namespace,
        "orders",
        spec(task=task, schedule={"cron": quiet_cron(datetime.now(UTC))}, timeZone="UTC"),
    )
    applied(k8s, namespace, "orders")
    result: dict[str, Any] = {}
    kubelet = threading.Thread(
        target=_play_kubelet,
        args=(k8s, namespace, fakehub, run_runner, cluster, task, result),
        daemon=True,
    )
    kubelet.start()
    code, out, err = plugin(
        "run", "orders", "-n", namespace, "--key", "cli-1", "--wait", "--timeout", "120"
    )
    kubelet.join(10)
    # A failing runner, with a code of its own (the fallback without a pod says 0 or 1).
    assert result["code"] not in (0, 1), result
    assert code == result["code"], err
    assert out == "chronosjob.chronos.gluesync.io/orders run requested; idempotency key cli-1\n"
    assert f"run {result['run']} started" in err
    assert f"run {result['run']} failed" in err
    assert f"exit code {code}" in err

    # The same key again: no second run, and --wait finds the first one's outcome.
    code, out, err = plugin("run", "orders", "-n", namespace, "--key", "cli-1", "--wait")
    assert code == result["code"]
    assert "run was already requested; idempotency key cli-1" in out
    assert list(run_now_jobs(k8s, namespace).values()) == ["cli-1"]


# ------------------------------------------------------------ a pod's log, followed


#: What the scripted kubelet serves for the run's pod (fakekubelet.ScriptedKubelet).
LOG_LINES = b'{"step": "start", "entity": "e1"}\n{"step": "end", "result": "succeeded"}\n'


def _serve(kubelet: ScriptedKubelet, pod: str) -> None:
    """The pod's whole log, its container ended: a follow gets it, then the end."""
    lines = LOG_LINES.decode().splitlines()
    kubelet.write(pod, *(("2026-01-01T00:00:00Z", line) for line in lines))
    kubelet.end(pod)


@pytest.fixture
def log_kubelet(k8s: Client, tmp_path: Path) -> Iterator[tuple[str, ScriptedKubelet]]:
    with scripted_node(k8s, tmp_path) as node:
        yield node


def test_logs_follow_reads_the_running_pod(
    k8s: Client,
    unwatched_namespace: str,
    plugin: Plugin,
    log_kubelet: tuple[str, ScriptedKubelet],
) -> None:
    # A namespace no operator watches: one would clear the activeRuns written by hand
    # (it sees no Job of that run).
    namespace = unwatched_namespace
    node, kubelet = log_kubelet
    create_chronosjob(k8s, namespace, "orders", spec(enabled=False))
    run = "orders-now-1"
    set_status(k8s, namespace, "orders", {"activeRuns": [run]})
    pod = f"{run}-pod"
    k8s.create(
        Pod(
            metadata=ObjectMeta(
                name=pod, namespace=namespace, labels={"batch.kubernetes.io/job-name": run}
            ),
            spec=PodSpec(nodeName=node, containers=[Container(name="runner", image="runner")]),
        )
    )
    running = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "runner",
                "ready": True,
                "restartCount": 0,
                "image": "runner",
                "imageID": "",
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            }
        ],
    }
    k8s.patch(Pod.Status, pod, {"status": running}, namespace=namespace, patch_type=PatchType.MERGE)
    _serve(kubelet, pod)

    code, out, err = plugin("logs", "orders", "-f", "-n", namespace)  # the active run
    assert code == 0, err
    assert out == LOG_LINES.decode()
    (path,) = kubelet.paths
    assert path.startswith(f"/containerLogs/{namespace}/{pod}/runner")
    assert "follow=true" in path


def test_describe_skips_the_calendars_days_or_says_it_may_not_read_it(
    k8s: Client, cluster: Cluster, namespace: str, plugin: Plugin, tmp_path: Path
) -> None:
    k8s.create(
        ChronosCalendarResource(
            metadata=ObjectMeta(name="weekdays", namespace=namespace),
            spec={"excludedWeekdays": ["saturday", "sunday"], "timeZone": "Europe/Rome"},
        )
    )
    create_chronosjob(
        k8s,
        namespace,
        "orders",
        spec(
            enabled=False,
            schedule={"cron": "0 9 * * *"},
            calendarRef={"name": "weekdays"},
            timeZone="Europe/Rome",
        ),
    )
    code, out, err = plugin("describe", "orders", "-n", namespace)
    assert code == 0, err
    runs = [line for line in out.splitlines() if line[:5].strip().rstrip(".").isdigit()]
    assert len(runs) == 10
    skipped = [line for line in runs if "SKIPPED" in line]
    # any ten days in a row hold two or three weekend days, each skipped by the calendar
    assert 2 <= len(skipped) <= 4
    assert all(line.split()[1] in ("Sat", "Sun") for line in skipped)
    assert all("excluded by calendar weekdays" in line for line in skipped)
    assert "none of these runs happen until resumed" in out  # enabled: false

    # Someone who may read the job but not its calendar: the runs without it, and why.
    grant(k8s, namespace, "viewer", ("get", "list"), role="chronos-viewer")
    config = token_kubeconfig(cluster, sa_token(k8s, namespace, "viewer"), tmp_path / "kc")
    code, out, err = plugin("describe", "orders", "-n", namespace, kubeconfig=config)
    assert code == 0, err
    assert (
        'note: calendar weekdays: forbidden: you may not get chronoscalendars in namespace "'
        f'{namespace}"'
    ) in out
    assert "SKIPPED" not in out


def test_run_follow_prints_the_runs_log_then_exits_with_its_code(
    operator: OperatorProcess,
    k8s: Client,
    cluster: Cluster,
    namespace: str,
    plugin: Plugin,
    fakehub: FakeHubControl,
    run_runner: RunRunner,
    log_kubelet: tuple[str, ScriptedKubelet],
) -> None:
    _, kubelet = log_kubelet
    k8s.create(secret(COREHUB_SECRET, namespace))
    k8s.create(service_account(RUNNER_ACCOUNT, namespace))
    task = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1"]}
    create_chronosjob(
        k8s,
        namespace,
        "orders",
        spec(task=task, schedule={"cron": quiet_cron(datetime.now(UTC))}, timeZone="UTC"),
    )
    applied(k8s, namespace, "orders")
    result: dict[str, Any] = {}
    args = (k8s, namespace, fakehub, run_runner, cluster, task, result, log_kubelet)
    kubelet_thread = threading.Thread(target=_play_kubelet, args=args, daemon=True)
    kubelet_thread.start()
    code, out, err = plugin(
        "run", "orders", "-n", namespace, "--key", "f-1", "--follow", "--timeout", "90"
    )
    kubelet_thread.join(10)
    assert (code, result["code"]) == (0, 0), err
    requested, *log = out.splitlines(keepends=True)
    assert requested == "chronosjob.chronos.gluesync.io/orders run requested; idempotency key f-1\n"
    assert "".join(log) == LOG_LINES.decode()  # the pod's log, as the kubelet gave it
    (path,) = kubelet.paths
    assert "follow=true" in path
    assert f"run {result['run']} succeeded (Succeeded)" in err


def test_run_wait_tells_a_refusal_under_forbid(
    operator: OperatorProcess, k8s: Client, namespace: str, plugin: Plugin
) -> None:
    k8s.create(secret(COREHUB_SECRET, namespace))
    create_chronosjob(
        k8s,
        namespace,
        "orders",
        spec(schedule={"cron": quiet_cron(datetime.now(UTC))}, timeZone="UTC"),
    )  # concurrencyPolicy Forbid by default
    cronjob = applied(k8s, namespace, "orders")["status"]["cronJobName"]
    active_job(k8s, namespace, cronjob, f"{cronjob}-running")
    wait_for(
        lambda: (get_cr(k8s, namespace, "orders").get("status") or {}).get("activeRuns"),
        what="status.activeRuns",
    )
    code, out, err = plugin(
        "run", "orders", "-n", namespace, "--key", "r-1", "--wait", "--timeout", "60"
    )
    assert code == 1, err
    assert "run requested; idempotency key r-1" in out
    assert (
        f"note: run {cronjob}-running is active and the job's concurrencyPolicy is Forbid"
    ) in err
    assert "run-now refused: ConcurrencyForbid: run-now refused: run" in err
    assert "(concurrencyPolicy Forbid)" in err
    assert run_now_jobs(k8s, namespace) == {}


def test_a_write_is_credited_to_the_person_in_the_activity_ledger(
    k8s: Client, cluster: Cluster, namespace: str, plugin: Plugin, tmp_path: Path
) -> None:
    """The plugin stamps its writes with the name the API server gives the person's own
    credentials, which the attribution policy accepts (it refuses any other name)."""
    create_chronosjob(k8s, namespace, "orders", spec())
    grant(k8s, namespace, "editor", ("get", "list", "patch"), role="chronos-editor")
    config = token_kubeconfig(cluster, sa_token(k8s, namespace, "editor"), tmp_path / "kc")

    code, _, err = plugin("suspend", "orders", "-n", namespace, kubeconfig=config)
    assert code == 0, err
    annotations = get_cr(k8s, namespace, "orders")["metadata"]["annotations"]
    assert annotations[contract.CHANGED_BY_ANNOTATION] == (
        f"system:serviceaccount:{namespace}:editor"
    )
    first = annotations[contract.CHANGED_AT_ANNOTATION]
    code, _, err = plugin("resume", "orders", "-n", namespace, kubeconfig=config)
    assert code == 0, err
    # each write a new stamp: the ledger credits each (models.activity.fresh)
    later = get_cr(k8s, namespace, "orders")["metadata"]["annotations"]
    assert later[contract.CHANGED_AT_ANNOTATION] > first
