"""The test node agent against the real control plane: the Job controller sees real
completions, failures, deadlines and deletions of pods run as local processes."""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any, TypeVar

import pytest
from lightkube import ApiError, Client, codecs, operators
from lightkube.models.core_v1 import ContainerStateTerminated, PodStatus
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import ConfigMap, Node, Pod, Secret, ServiceAccount
from support import wait_for

from chronos import contract
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.nodeagent import NodeAgent, NodeAgentProcess, expand, parse_selector

pytestmark = pytest.mark.cluster

T = TypeVar("T")
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
WRITE_MESSAGE = f"open(os.environ['{contract.ENV_TERMINATION_MESSAGE_PATH}'], 'w').write"


def get_or_none(k8s: Client, res: Any, name: str, namespace: str | None = None) -> Any:
    try:
        return k8s.get(res, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


def service_account(k8s: Client, namespace: str, name: str = "default") -> None:
    """Pods are only admitted once their ServiceAccount exists."""
    wait_for(
        lambda: get_or_none(k8s, ServiceAccount, name, namespace),
        timeout=60,
        what=f"serviceaccount {name}",
    )


def create_job(
    k8s: Client,
    namespace: str,
    name: str,
    script: str,
    *,
    job: dict[str, Any] | None = None,
    pod: dict[str, Any] | None = None,
    container: dict[str, Any] | None = None,
) -> None:
    service_account(k8s, namespace, (pod or {}).get("serviceAccountName", "default"))
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": {contract.JOB_LABEL: name}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {contract.JOB_LABEL: name}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "runner",
                            "image": "chronos-runner:never-pulled",
                            "command": ["python", "-c", f"import os\n{script}"],
                            **(container or {}),
                        }
                    ],
                    **(pod or {}),
                },
            },
            **(job or {}),
        },
    }
    k8s.create(codecs.from_dict(body))


def job_outcome(k8s: Client, namespace: str, name: str, timeout: float = 60.0) -> tuple[str, str]:
    """Waits for the Job's Complete or Failed condition: (type, reason)."""

    def probe() -> tuple[str, str] | None:
        job = k8s.get(Job, name, namespace=namespace)
        for c in (job.status.conditions if job.status else None) or []:
            if c.type in ("Complete", "Failed") and c.status == "True":
                return c.type, c.reason or ""
        return None

    return wait_for(probe, timeout=timeout, what=f"job {name} to finish")


def job_pod(k8s: Client, namespace: str, job: str) -> Pod:
    pods = wait_for(
        lambda: list(k8s.list(Pod, namespace=namespace, labels={JOB_NAME_LABEL: job})),
        timeout=60,
        what=f"a pod of job {job}",
    )
    assert len(pods) == 1, [p.metadata.name for p in pods if p.metadata]
    return pods[0]


def finished_pod(k8s: Client, namespace: str, job: str) -> Pod:
    def probe() -> Pod | None:
        pod = job_pod(k8s, namespace, job)
        return pod if pod.status and pod.status.phase in ("Succeeded", "Failed") else None

    return wait_for(probe, timeout=60, what=f"the pod of job {job} to finish")


def terminated(pod: Pod) -> ContainerStateTerminated:
    assert pod.status is not None
    assert pod.status.containerStatuses
    state = pod.status.containerStatuses[0].state
    assert state is not None
    assert state.terminated is not None, state
    return state.terminated


def pod_name(pod: Pod) -> str:
    assert pod.metadata is not None
    assert pod.metadata.name is not None
    return pod.metadata.name


def pid_of(agent: NodeAgent | NodeAgentProcess, namespace: str, pod: str) -> int:
    path = agent.pod_dir(namespace, pod) / "pid"
    return int(
        wait_for(lambda: path.read_text() if path.exists() else None, timeout=60, what=f"{path}")
    )


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


WRITE_PID = "open('pid', 'w').write(str(os.getpid()))"


# ------------------------------------------------------------------------------ tests


def test_job_whose_process_exits_zero_completes(
    k8s: Client, namespace: str, node_agent: NodeAgent
) -> None:
    create_job(k8s, namespace, "ok", f"print('hello from', os.getcwd())\n{WRITE_MESSAGE}('done')")

    assert job_outcome(k8s, namespace, "ok") == ("Complete", "CompletionsReached")
    pod = finished_pod(k8s, namespace, "ok")
    assert pod.spec is not None
    assert pod.spec.nodeName == node_agent.node_name
    assert pod.status is not None
    assert pod.status.phase == "Succeeded"
    assert pod.status.podIP == "127.0.0.1"
    state = terminated(pod)
    assert (state.exitCode, state.reason, state.message) == (0, "Completed", "done")
    assert state.startedAt is not None
    assert state.finishedAt is not None
    conditions = {c.type: c.status for c in pod.status.conditions or []}
    assert conditions["PodScheduled"] == "True"
    assert conditions["Initialized"] == "True"
    assert conditions["Ready"] == "False"
    log = (node_agent.pod_dir(namespace, pod_name(pod)) / "runner.log").read_text()
    assert log.strip() == f"hello from {node_agent.pod_dir(namespace, pod_name(pod))}"


def test_job_whose_process_exits_three_fails_with_its_exit_code_and_message(
    k8s: Client, namespace: str, node_agent: NodeAgent
) -> None:
    create_job(k8s, namespace, "bad", f"{WRITE_MESSAGE}('kaboom: exit 3')\nraise SystemExit(3)")

    assert job_outcome(k8s, namespace, "bad") == ("Failed", "BackoffLimitExceeded")
    pod = finished_pod(k8s, namespace, "bad")
    assert pod.status is not None
    assert pod.status.phase == "Failed"
    state = terminated(pod)
    assert (state.exitCode, state.reason, state.message) == (3, "Error", "kaboom: exit 3")


def test_fallback_to_logs_on_error_uses_the_tail_of_the_output(
    k8s: Client, namespace: str, node_agent: NodeAgent
) -> None:
    script = "import sys\nfor i in range(100): print(f'line-{i}', file=sys.stderr)\nsys.exit(1)"
    create_job(
        k8s,
        namespace,
        "noisy",
        script,
        container={"terminationMessagePolicy": "FallbackToLogsOnError"},
    )

    assert job_outcome(k8s, namespace, "noisy")[0] == "Failed"
    state = terminated(finished_pod(k8s, namespace, "noisy"))
    assert state.exitCode == 1
    assert state.message is not None
    assert state.message.splitlines() == [f"line-{i}" for i in range(20, 100)]  # last 80


def test_termination_message_is_capped_at_4096_bytes(
    k8s: Client, namespace: str, node_agent: NodeAgent
) -> None:
    create_job(k8s, namespace, "long", f"{WRITE_MESSAGE}('x' * 10000)")

    assert job_outcome(k8s, namespace, "long")[0] == "Complete"
    assert terminated(finished_pod(k8s, namespace, "long")).message == "x" * 4096


def test_environment_from_secrets_config_maps_and_the_downward_api(
    k8s: Client, namespace: str, node_agent: NodeAgent
) -> None:
    k8s.create(
        Secret(
            metadata=ObjectMeta(name="creds", namespace=namespace),
            stringData={"username": "admin", "password": "s3cret", "1st": "not a name"},
        )
    )
    k8s.create(
        ConfigMap(
            metadata=ObjectMeta(name="settings", namespace=namespace),
            data={"mode": "fast", "level": "3"},
        )
    )
    env: list[dict[str, Any]] = [
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {
            "name": "MISSING",
            "valueFrom": {"secretKeyRef": {"name": "nope", "key": "x", "optional": True}},
        },
        *(
            {"name": n, "valueFrom": {"fieldRef": {"fieldPath": path}}}
            for n, path in [
                ("POD_NAME", "metadata.name"),
                ("POD_NAMESPACE", "metadata.namespace"),
                ("POD_UID", "metadata.uid"),
                ("JOB", f"metadata.labels['{JOB_NAME_LABEL}']"),
                ("NODE", "spec.nodeName"),
                ("ACCOUNT", "spec.serviceAccountName"),
                ("POD_IP", "status.podIP"),
            ]
        ),
        {
            "name": "MEMORY_MI",
            "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
        },
        {"name": "GREETING", "value": "hello $(POD_NAME), $$(POD_NAME) is escaped"},
    ]
    names = [str(e["name"]) for e in env]
    names += ["CFG_mode", "CFG_level", "username", "1st", "PATH", "KUBECONFIG"]
    script = (
        "import json\n"
        f"env = {{k: os.environ.get(k) for k in {names!r}}}\n"
        "env['file'] = open('volumes/creds/password').read()\n"
        "env['argv'] = __import__('sys').argv[1:]\n"
        f"{WRITE_MESSAGE}(json.dumps(env))"
    )
    create_job(
        k8s,
        namespace,
        "env",
        script,
        pod={"volumes": [{"name": "creds", "secret": {"secretName": "creds"}}]},
        container={
            "args": ["$(MODE)", "$(NOT_DEFINED)"],
            "env": env,
            "envFrom": [
                {"configMapRef": {"name": "settings"}, "prefix": "CFG_"},
                {"secretRef": {"name": "creds"}},
            ],
            "volumeMounts": [{"name": "creds", "mountPath": "/var/run/creds"}],
            "resources": {"limits": {"memory": "64Mi"}},
        },
    )

    assert job_outcome(k8s, namespace, "env")[0] == "Complete"
    pod = finished_pod(k8s, namespace, "env")
    assert pod.metadata is not None
    message = terminated(pod).message
    assert message is not None
    got = json.loads(message)
    name = pod_name(pod)
    assert got.pop("PATH").split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert Path(got.pop("KUBECONFIG")).is_file()
    assert got == {
        "PASSWORD": "s3cret",
        "MODE": "fast",
        "MISSING": None,
        "POD_NAME": name,
        "POD_NAMESPACE": namespace,
        "POD_UID": pod.metadata.uid,
        "JOB": "env",
        "NODE": node_agent.node_name,
        "ACCOUNT": "default",
        "POD_IP": "127.0.0.1",
        "MEMORY_MI": "64",
        "GREETING": f"hello {name}, $(POD_NAME) is escaped",
        "CFG_mode": "fast",
        "CFG_level": "3",
        "username": "admin",
        "1st": None,  # not a valid variable name: skipped
        "file": "s3cret",
        "argv": ["fast", "$(NOT_DEFINED)"],
    }


def test_a_missing_secret_holds_the_pod_until_it_exists(
    k8s: Client, namespace: str, node_agent: NodeAgent
) -> None:
    create_job(
        k8s,
        namespace,
        "later",
        f"{WRITE_MESSAGE}(os.environ['TOKEN'])",
        container={
            "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}]
        },
    )

    def waiting_reason() -> str | None:
        pod = job_pod(k8s, namespace, "later")
        statuses = (pod.status.containerStatuses if pod.status else None) or []
        state = statuses[0].state if statuses else None
        return state.waiting.reason if state and state.waiting else None

    assert (
        wait_for(waiting_reason, timeout=60, what="the config error")
        == "CreateContainerConfigError"
    )
    held = job_pod(k8s, namespace, "later").status
    assert held is not None
    assert held.phase == "Pending"
    k8s.create(Secret(metadata=ObjectMeta(name="t", namespace=namespace), stringData={"k": "v"}))

    assert job_outcome(k8s, namespace, "later")[0] == "Complete"
    assert terminated(finished_pod(k8s, namespace, "later")).message == "v"


def test_the_process_runs_with_its_service_accounts_token_and_rbac(
    k8s: Client, namespace: str, node_agent: NodeAgent
) -> None:
    k8s.create(ServiceAccount(metadata=ObjectMeta(name="reader", namespace=namespace)))
    k8s.create(ConfigMap(metadata=ObjectMeta(name="allowed", namespace=namespace), data={"k": "v"}))
    rbac = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "read-config", "namespace": namespace},
    }
    k8s.create(
        codecs.from_dict(
            {
                **rbac,
                "kind": "Role",
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
            }
        )
    )
    k8s.create(
        codecs.from_dict(
            {
                **rbac,
                "kind": "RoleBinding",
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "read-config",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
            }
        )
    )
    script = f"""
import json
from lightkube import ApiError, Client
from lightkube.resources.authentication_v1 import SelfSubjectReview
from lightkube.resources.core_v1 import ConfigMap, Secret
client = Client()  # from $KUBECONFIG
out = {{"configmap": client.get(ConfigMap, "allowed").data["k"]}}
try:
    client.get(Secret, "anything")
    out["secret"] = "allowed?!"
except ApiError as exc:
    out["secret"] = exc.status.code
info = client.create(SelfSubjectReview()).status.userInfo
out["user"] = info.username
out["pod"] = info.extra.get("authentication.kubernetes.io/pod-name")
{WRITE_MESSAGE}(json.dumps(out))
"""
    create_job(k8s, namespace, "rbac", script, pod={"serviceAccountName": "reader"})

    assert job_outcome(k8s, namespace, "rbac")[0] == "Complete", (
        node_agent.pod_dir(namespace, pod_name(job_pod(k8s, namespace, "rbac"))) / "runner.log"
    ).read_text()
    pod = finished_pod(k8s, namespace, "rbac")
    message = terminated(pod).message
    assert message is not None
    assert json.loads(message) == {
        "configmap": "v",
        "secret": 403,
        "user": f"system:serviceaccount:{namespace}:reader",
        "pod": [pod_name(pod)],  # the token is bound to the pod
    }


def test_pod_active_deadline_kills_the_process(
    k8s: Client, namespace: str, node_agent: NodeAgent
) -> None:
    create_job(
        k8s,
        namespace,
        "slow",
        f"import time\n{WRITE_PID}\ntime.sleep(600)",
        pod={"activeDeadlineSeconds": 3},
    )
    pod = job_pod(k8s, namespace, "slow")
    pid = pid_of(node_agent, namespace, pod_name(pod))

    assert job_outcome(k8s, namespace, "slow")[0] == "Failed"
    pod = finished_pod(k8s, namespace, "slow")
    assert pod.status is not None
    assert (pod.status.phase, pod.status.reason) == ("Failed", "DeadlineExceeded")
    assert terminated(pod).exitCode == 143  # SIGTERM
    wait_for(lambda: process_gone(pid), timeout=5, what=f"process {pid} to be gone")


def test_job_active_deadline_fails_the_job_and_the_deleted_pod_is_killed(
    k8s: Client, namespace: str, node_agent: NodeAgent
) -> None:
    create_job(
        k8s,
        namespace,
        "late",
        f"import time\n{WRITE_PID}\ntime.sleep(600)",
        job={"activeDeadlineSeconds": 3},
    )
    pod = job_pod(k8s, namespace, "late")
    pid = pid_of(node_agent, namespace, pod_name(pod))

    assert job_outcome(k8s, namespace, "late") == ("Failed", "DeadlineExceeded")
    wait_for(lambda: process_gone(pid), timeout=10, what=f"process {pid} to be gone")
    # The Job controller deleted the pod; the agent confirmed the deletion.
    wait_for(
        lambda: get_or_none(k8s, Pod, pod_name(pod), namespace) is None,
        timeout=20,
        what="the pod to be deleted",
    )


def test_deleting_a_running_pod_kills_it_and_confirms_the_deletion(
    k8s: Client, namespace: str, node_agent: NodeAgent
) -> None:
    service_account(k8s, namespace)
    pod = codecs.from_dict(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "sleeper",
                "namespace": namespace,
                "labels": {contract.JOB_LABEL: "x"},
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": "none",
                        "command": [
                            "python",
                            "-c",
                            f"import os, time\n{WRITE_PID}\ntime.sleep(600)",
                        ],
                    }
                ],
            },
        }
    )
    k8s.create(pod)
    pid = pid_of(node_agent, namespace, "sleeper")

    def running() -> bool:
        p = k8s.get(Pod, "sleeper", namespace=namespace)
        statuses = (p.status.containerStatuses if p.status else None) or []
        return bool(p.status and p.status.phase == "Running" and statuses and statuses[0].ready)

    wait_for(running, timeout=60, what="the pod to run")
    k8s.delete(Pod, "sleeper", namespace=namespace)  # default grace: 30 s

    wait_for(
        lambda: get_or_none(k8s, Pod, "sleeper", namespace) is None,
        timeout=15,
        what="the pod to be deleted",
    )
    assert process_gone(pid)


def test_agent_as_a_subprocess_registers_a_live_node_and_honours_its_selector(
    cluster: Cluster, k8s: Client, namespace: str, node_agent: NodeAgent, tmp_path: Path
) -> None:
    mark = uuid.uuid4().hex[:8]
    node = f"chronos-sub-{mark}"
    agent = NodeAgentProcess(
        cluster.kubeconfig,
        node_name=node,
        selector=f"nodeagent-test={mark}",
        work_dir=tmp_path,
        heartbeat_seconds=0.5,
    )
    try:
        with agent:
            got = k8s.get(Node, node)
            assert got.status is not None
            conditions = {c.type: c.status for c in got.status.conditions or []}
            assert conditions["Ready"] == "True"
            assert got.status.allocatable is not None
            assert set(got.status.allocatable) >= {"cpu", "memory", "pods"}
            lease = k8s.get(Lease, node, namespace="kube-node-lease")
            assert lease.spec is not None
            assert lease.spec.holderIdentity == node
            first = lease.spec.renewTime

            def renewed() -> bool:
                spec = k8s.get(Lease, node, namespace="kube-node-lease").spec
                return spec is not None and spec.renewTime != first

            wait_for(renewed, timeout=10, what="the lease to be renewed")

            service_account(k8s, namespace)
            k8s.create(
                codecs.from_dict(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": "selected",
                            "namespace": namespace,
                            "labels": {"nodeagent-test": mark},
                        },
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "main",
                                    "image": "none",
                                    "command": ["chronos-nodeagent-absent-command"],
                                },
                                {"name": "ok", "image": "none", "command": ["true"]},
                            ],
                        },
                    }
                )
            )

            def finished() -> Pod | None:
                p = k8s.get(Pod, "selected", namespace=namespace)
                return p if p.status and p.status.phase in ("Succeeded", "Failed") else None

            pod = wait_for(finished, timeout=60, what="the selected pod to finish")
            assert pod.spec is not None
            assert pod.spec.nodeName == node  # not the session agent's node
            assert pod.status is not None
            assert pod.status.phase == "Failed"
            states = {
                s.name: s.state.terminated
                for s in pod.status.containerStatuses or []
                if s.state is not None
            }
            missing, ok = states["main"], states["ok"]
            assert missing is not None
            assert ok is not None
            assert (missing.exitCode, missing.reason) == (128, "StartError")
            assert (ok.exitCode, ok.reason) == (0, "Completed")

        stopped = k8s.get(Node, node)
        assert stopped.status is not None
        ready = [c for c in stopped.status.conditions or [] if c.type == "Ready"]
        assert ready[0].status == "False"
    finally:
        try:
            k8s.delete(Lease, node, namespace="kube-node-lease")
            k8s.delete(Node, node)
        except ApiError as exc:
            if exc.status.code != 404:
                raise


def test_a_restarted_agent_reports_the_pods_it_lost_and_confirms_their_deletion(
    cluster: Cluster, k8s: Client, namespace: str, tmp_path: Path
) -> None:
    mark = uuid.uuid4().hex[:8]
    node = f"chronos-restart-{mark}"
    options: dict[str, Any] = {
        "node_name": node,
        "selector": f"nodeagent-test={mark}",
        "work_dir": tmp_path,
        "delete_node_on_stop": True,
    }
    service_account(k8s, namespace)
    first = NodeAgentProcess(cluster.kubeconfig, **options).start()
    try:
        k8s.create(
            codecs.from_dict(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": "orphan",
                        "namespace": namespace,
                        "labels": {"nodeagent-test": mark},
                    },
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "main",
                                "image": "none",
                                "command": [
                                    "python",
                                    "-c",
                                    f"import os, time\n{WRITE_PID}\ntime.sleep(600)",
                                ],
                            }
                        ],
                    },
                }
            )
        )
        pid = pid_of(first, namespace, "orphan")
        wait_for(
            lambda: (
                (k8s.get(Pod, "orphan", namespace=namespace).status or PodStatus()).phase
                == "Running"
            ),
            timeout=60,
            what="the pod to run",
        )
    finally:
        assert first.proc is not None
        first.proc.kill()  # no clean stop: the agent dies, its process is left behind
        first.proc.wait()
        first.stop()
    os.kill(pid, signal.SIGKILL)

    with NodeAgentProcess(cluster.kubeconfig, **options):

        def failed() -> Pod | None:
            p = k8s.get(Pod, "orphan", namespace=namespace)
            return p if p.status and p.status.phase == "Failed" else None

        pod = wait_for(failed, timeout=60, what="the lost pod to be reported")
        assert pod.status is not None
        assert pod.status.reason == "ContainerStatusUnknown"
        state = terminated(pod)
        assert (state.exitCode, state.reason) == (137, "ContainerStatusUnknown")

        k8s.delete(Pod, "orphan", namespace=namespace)
        wait_for(
            lambda: get_or_none(k8s, Pod, "orphan", namespace) is None,
            timeout=15,
            what="the pod to be deleted",
        )


# ------------------------------------------------------------------------- pure parts


def test_expand_follows_the_kubelets_rules() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", env) == "1-two"
    assert expand("$$(A) $(C) $(A", env) == "$(A) $(C) $(A"
    assert expand("cost: $$5", env) == "cost: $5"


def test_parse_selector_understands_every_operator() -> None:
    got = parse_selector("a=1, b==2, c!=3, d, !e, f in (x, y), g notin (z)")
    assert {k: v.encode(k) if isinstance(v, operators.Operator) else v for k, v in got.items()} == {
        "a": "a=1",
        "b": "b=2",
        "c": "c!=3",
        "d": "d",
        "e": "!e",
        "f": "f in (x,y)",
        "g": "g notin (z)",
    }
