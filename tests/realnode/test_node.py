"""The runner image as real pods on the session's kind node (kubelet, containerd,
kube-proxy, CoreDNS).

The node is Ready; a pod of the runner image runs to Succeeded against the fake CoreHub
on this host's kind-network address; an operator run-now Job runs on the node and its
runner writes ``status.lastRun`` through in-cluster config (Service ``kubernetes`` via
kube-proxy); ``kubectl logs`` works; the runtime enforces the runner's restricted
security context and the pod resolves names through cluster DNS; pods cannot leave the
machine, even with forwarding turned on.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import create_chronosjob as create
from lightkube import ApiError, Client, codecs
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod, Service
from lightkube.resources.core_v1 import Node as NodeResource
from lightkube.types import PatchType
from support import get_cr, wait_for

from chronos import contract as c
from chronos.devcluster import kindnet
from chronos.devcluster.binaries import kubernetes_version
from chronos.fakehub import FakeCoreHub, FakeHubControl
from chronos.kube import ChronosJobResource
from realnode.fixtures import RUNNER_RESOURCES, Node, chronos_job, install_runner, received

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]
RUNNER_UID = 65532

#: Read from inside a container: who it runs as and what it may do.
PROBE = r"""
import errno, json, os
lines = open("/proc/self/status").read().splitlines()
status = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
try:
    open("/probe-write", "w")
    root_write = "allowed"
except OSError as exc:
    root_write = errno.errorcode.get(exc.errno, str(exc.errno))
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "capEff": status["CapEff"].strip(), "capPrm": status["CapPrm"].strip(),
    "capBnd": status["CapBnd"].strip(), "noNewPrivs": status["NoNewPrivs"].strip(),
    "seccomp": status["Seccomp"].strip(), "rootWrite": root_write,
    "resolv": open("/etc/resolv.conf").read(),
}))
"""


@pytest.fixture
def node_ns(real_node: Node) -> Iterator[str]:
    name = f"rn-{uuid.uuid4().hex[:8]}"
    real_node.k8s.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    real_node.k8s.delete(Namespace, name)


def runner_pod(name: str, image: str, hub_url: str, task: dict[str, Any]) -> dict[str, Any]:
    """A bare pod of the runner image, restricted like the operator's, no resolver."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["127.0.0.1"]},
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUNNER_UID,
                "runAsGroup": RUNNER_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "runner",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-m", "chronos.runner"],
                    "env": [
                        {"name": c.ENV_COREHUB_URL, "value": hub_url},
                        {"name": c.ENV_COREHUB_USERNAME, "value": "admin"},
                        {"name": c.ENV_COREHUB_PASSWORD, "value": "admin"},
                        {"name": c.ENV_TASK, "value": json.dumps(task)},
                        {"name": c.ENV_TIMEOUT_SECONDS, "value": "30"},
                    ],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def create_pod(k8s: Client, ns: str, manifest: dict[str, Any]) -> str:
    pod = codecs.from_dict({**manifest, "metadata": {**manifest["metadata"], "namespace": ns}})
    k8s.create(pod)
    name: str = manifest["metadata"]["name"]
    return name


def logs(node: Node, ns: str, pod: str) -> str:
    return node.cluster.kubectl("logs", "-n", ns, pod)


# ---------------------------------------------------------------------------- tests


def test_the_node_registers_and_becomes_ready(real_node: Node) -> None:
    node = real_node.k8s.get(NodeResource, real_node.name)
    assert node.status is not None
    assert node.status.nodeInfo is not None
    ready = [cond for cond in node.status.conditions or [] if cond.type == "Ready"]
    assert [cond.status for cond in ready] == ["True"]
    assert not [t for t in (node.spec.taints or []) if t.key.startswith("node.kubernetes.io/")]  # type: ignore[union-attr]
    assert node.status.nodeInfo.kubeletVersion == kubernetes_version()
    assert node.status.nodeInfo.containerRuntimeVersion.startswith("containerd://")
    addresses = {(a.type, a.address) for a in node.status.addresses or []}
    assert ("InternalIP", real_node.node_ip) in addresses
    assert 0 < real_node.ready_seconds < 180


def test_a_runner_pod_runs_to_success_against_the_fake_hub(
    real_node: Node, node_ns: str, node_hub_server: FakeCoreHub, node_hub: FakeHubControl
) -> None:
    task = {"type": "pipeline_stop", "pipelineId": "p1"}
    manifest = runner_pod("runner", real_node.runner_image, node_hub_server.url, task)
    name = create_pod(real_node.k8s, node_ns, manifest)
    assert real_node.wait_pod_ended(node_ns, name) == "Succeeded"
    pod = real_node.k8s.get(Pod, name, namespace=node_ns)
    assert pod.spec is not None
    assert pod.spec.nodeName == real_node.name
    assert pod.status is not None
    assert pod.status.podIP
    node = real_node.k8s.get(NodeResource, real_node.name)
    assert node.spec is not None
    assert node.spec.podCIDR
    assert ipaddress.ip_address(pod.status.podIP) in ipaddress.ip_network(node.spec.podCIDR)
    state = (pod.status.containerStatuses or [])[0].state
    assert state is not None
    assert state.terminated is not None
    assert state.terminated.exitCode == 0
    record = json.loads(state.terminated.message or "{}")
    assert record["result"] == "succeeded", record
    assert received(node_hub) == [("/pipelines/p1/commands/sync/stop", {})]
    # kubectl logs: the API server reaches the kubelet.
    lines = [json.loads(line) for line in logs(real_node, node_ns, name).splitlines() if line]
    assert "result" in [line.get("step") for line in lines], lines
    assert "admin" not in "".join(json.dumps(line.get("task", "")) for line in lines)


def test_a_run_now_job_of_the_operator_runs_on_the_node_and_reports(
    real_node: Node,
    node_ns: str,
    node_operator: object,
    node_hub_server: FakeCoreHub,
    node_hub: FakeHubControl,
) -> None:
    k8s, ns = real_node.k8s, node_ns
    install_runner(k8s, ns)
    task = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1"]}
    create(k8s, ns, "orders", chronos_job(node_hub_server.url, task))
    wait_for(lambda: (get_cr(k8s, ns, "orders").get("status") or {}).get("cronJobName"))
    k8s.patch(
        ChronosJobResource,
        "orders",
        {"metadata": {"annotations": {c.RUN_NOW_ANNOTATION: "once"}}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    last = wait_for(
        lambda: (get_cr(k8s, ns, "orders").get("status") or {}).get("lastRun"),
        timeout=120,
        what="the runner's report",
    )
    assert last["result"] == "succeeded", last
    assert last["trigger"] == "run-now"
    assert last["reportedBy"] == "runner"
    assert received(node_hub) == [("/pipelines/p1/commands/sync/start", {"entity": "e1"})]
    pods = list(k8s.list(Pod, namespace=ns, labels={"batch.kubernetes.io/job-name": last["runId"]}))
    assert [p.spec.nodeName for p in pods if p.spec] == [real_node.name]
    assert pods[0].spec is not None
    assert [ctr.image for ctr in pods[0].spec.containers] == [real_node.runner_image]
    assert pods[0].metadata is not None
    assert last["runId"] in logs(real_node, ns, str(pods[0].metadata.name))


def test_the_runtime_enforces_the_runner_pods_restricted_security_context(
    real_node: Node, node_ns: str, node_operator: object, node_hub_server: FakeCoreHub
) -> None:
    """A pod from the operator's own Job template, with the command swapped for a probe."""
    k8s, ns = real_node.k8s, node_ns
    install_runner(k8s, ns)
    create(
        k8s,
        ns,
        "probe",
        chronos_job(node_hub_server.url, {"type": "pipeline_stop", "pipelineId": "p1"}),
    )
    name = wait_for(lambda: (get_cr(k8s, ns, "probe").get("status") or {}).get("cronJobName"))
    cronjob = json.loads(real_node.cluster.kubectl("get", "cronjob", "-n", ns, name, "-o", "json"))
    template = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    template["spec"]["containers"][0]["command"] = ["python", "-c", PROBE]
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe"},
        "spec": template["spec"],
    }
    assert real_node.wait_pod_ended(ns, create_pod(k8s, ns, manifest)) == "Succeeded"
    seen = json.loads(logs(real_node, ns, "probe"))
    assert (seen["uid"], seen["gid"]) == (RUNNER_UID, RUNNER_UID)
    assert seen["rootWrite"] == "EROFS"
    assert seen["capEff"] == seen["capPrm"] == seen["capBnd"] == "0000000000000000"
    assert seen["noNewPrivs"] == "1"
    assert seen["seccomp"] == "2"  # filtering: the runtime's default profile
    # Cluster DNS, like in a user's cluster (CoreDNS answers; docs/kind.md for its upstream).
    nameservers = [
        ln.split()[1] for ln in seen["resolv"].splitlines() if ln.startswith("nameserver")
    ]
    dns = k8s.get(Service, "kube-dns", namespace="kube-system")
    assert dns.spec is not None
    assert nameservers == [dns.spec.clusterIP]


#: An address of no machine here (TEST-NET-2), routed into a veth pair on this host: if the
#: guard let a packet through, it would still never reach a wire.
SINK_ADDRESS = "198.51.100.7"
SINK = ("chronos-sink0", "chronos-sink1")

#: Connects to SINK_ADDRESS and to the fake hub on the node address from inside a pod.
CONNECT = r"""
import json, socket, sys
def reach(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return "connected"
    except OSError as exc:
        return type(exc).__name__
print(json.dumps({"sink": reach(sys.argv[1], 80), "hub": reach(sys.argv[2], int(sys.argv[3]))}))
"""


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=True)


@pytest.fixture
def sink() -> Iterator[str]:
    """A host route for SINK_ADDRESS into a veth pair (no wire), and IPv4 forwarding
    turned on (as other software on a host may): the guard alone must stop the packets.
    Both undone afterwards."""
    forwarding = Path("/proc/sys/net/ipv4/ip_forward")
    before = forwarding.read_text()
    _run("ip", "link", "add", SINK[0], "type", "veth", "peer", "name", SINK[1])
    try:
        _run("ip", "link", "set", SINK[0], "up")
        _run("ip", "route", "add", f"{SINK_ADDRESS}/32", "dev", SINK[0])
        assert f"dev {SINK[0]}" in _run("ip", "route", "get", SINK_ADDRESS).stdout
        forwarding.write_text("1")
        yield SINK_ADDRESS
    finally:
        forwarding.write_text(before)
        subprocess.run(["ip", "link", "delete", SINK[0]], check=False)


def test_pod_traffic_to_another_address_is_dropped_and_to_the_host_passes(
    real_node: Node, node_ns: str, node_hub_server: FakeCoreHub, sink: str
) -> None:
    assert kindnet.guarded()
    before = kindnet.drops()
    manifest = runner_pod("connect", real_node.runner_image, node_hub_server.url, {})
    container = manifest["spec"]["containers"][0]
    hub_port = node_hub_server.url.rsplit(":", 1)[1]
    container["command"] = ["python", "-c", CONNECT, sink, real_node.address, hub_port]
    name = create_pod(real_node.k8s, node_ns, manifest)
    assert real_node.wait_pod_ended(node_ns, name) == "Succeeded"
    seen = json.loads(logs(real_node, node_ns, name))
    assert seen == {"sink": "TimeoutError", "hub": "connected"}
    assert kindnet.drops() > before  # the SYN (and its retries) died in the guard


def cronjob_of(real_node: Node, ns: str, name: str) -> dict[str, Any]:
    cronjob = wait_for(
        lambda: (get_cr(real_node.k8s, ns, name).get("status") or {}).get("cronJobName")
    )
    raw = real_node.cluster.kubectl("get", "cronjob", "-n", ns, cronjob, "-o", "json")
    result: dict[str, Any] = json.loads(raw)
    return result


def job_from(cronjob: dict[str, Any], name: str, **container: Any) -> dict[str, Any]:
    """A Job as the CronJob controller makes it from the operator's template, with the
    runner container changed (its command or image): what the operator then accounts."""
    template = cronjob["spec"]["jobTemplate"]
    spec = json.loads(json.dumps(template["spec"]))
    spec["template"]["spec"]["containers"][0].update(container)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": cronjob["metadata"]["namespace"],
            "labels": template["metadata"]["labels"],
            "annotations": template["metadata"]["annotations"],
        },
        "spec": spec,
    }


def history_record(real_node: Node, ns: str, name: str, run_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        history = (get_cr(real_node.k8s, ns, name).get("status") or {}).get("history") or []
        return next((h for h in history if h["runId"] == run_id), None)

    record: dict[str, Any] = wait_for(find, timeout=120, what=f"the record of {run_id}")
    return record


#: Grows its memory until the kernel stops it.
HOG = "b = []\nwhile True:\n    b.append(bytearray(8 << 20))\n"


def test_a_runner_killed_for_its_memory_limit_is_recorded_as_oomkilled(
    real_node: Node, node_ns: str, node_operator: object, node_hub_server: FakeCoreHub
) -> None:
    """The memory limit comes from the operator's CHRONOS_RUNNER_POD_OVERRIDES; the real
    runtime enforces it; the operator records the run as OOMKilled, not a bare failure."""
    k8s, ns = real_node.k8s, node_ns
    install_runner(k8s, ns)
    create(
        k8s,
        ns,
        "hog",
        chronos_job(node_hub_server.url, {"type": "pipeline_stop", "pipelineId": "p1"}),
    )
    cronjob = cronjob_of(real_node, ns, "hog")
    runner = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert runner["resources"] == RUNNER_RESOURCES  # the override, not the built-in default
    job = job_from(cronjob, "hog-oom", command=["python", "-c", HOG])
    k8s.create(codecs.from_dict(job))
    record = history_record(real_node, ns, "hog", "hog-oom")
    assert (record["result"], record["reason"], record["reportedBy"]) == (
        "failed",
        "OOMKilled",
        "operator",
    ), record
    assert "memory limit" in record["message"]
    pod = next(
        iter(k8s.list(Pod, namespace=ns, labels={"batch.kubernetes.io/job-name": "hog-oom"}))
    )
    assert pod.status is not None
    terminated = (pod.status.containerStatuses or [])[0].state.terminated  # type: ignore[union-attr]
    assert terminated is not None
    assert (terminated.reason, terminated.exitCode) == ("OOMKilled", 137)


def test_a_pod_that_cannot_get_its_image_is_recorded_as_a_failed_launch(
    real_node: Node, node_ns: str, node_operator: object, node_hub_server: FakeCoreHub
) -> None:
    k8s, ns = real_node.k8s, node_ns
    install_runner(k8s, ns)
    create(
        k8s,
        ns,
        "noimage",
        chronos_job(node_hub_server.url, {"type": "pipeline_stop", "pipelineId": "p1"}),
    )
    job = job_from(
        cronjob_of(real_node, ns, "noimage"), "noimage-1", image="chronos-runner:no-such-tag"
    )
    k8s.create(codecs.from_dict(job))
    record = history_record(real_node, ns, "noimage", "noimage-1")
    assert (record["result"], record["reason"], record["reportedBy"]) == (
        "failed",
        "FailedLaunch",
        "operator",
    ), record
    assert "ErrImageNeverPull" in record["message"]
    assert "chronos-runner:no-such-tag" in record["message"]
    assert "admin" not in record["message"]  # the credentials are never quoted
    # The Job (and its pod, stuck for ever otherwise) is deleted.
    wait_for(
        lambda: (
            not list(
                k8s.list(Pod, namespace=ns, labels={"batch.kubernetes.io/job-name": "noimage-1"})
            )
        ),
        timeout=60,
        what="the stuck pod to go",
    )


def test_a_hung_run_is_ended_by_its_timeout_and_the_history_says_so(
    real_node: Node,
    node_ns: str,
    node_operator: object,
    node_hub_server: FakeCoreHub,
    node_hub: FakeHubControl,
) -> None:
    """CoreHub holds every answer: the run's timeout (the Job's activeDeadlineSeconds and
    the runner's own) ends it, and its record says it timed out."""
    k8s, ns = real_node.k8s, node_ns
    install_runner(k8s, ns)
    node_hub.add_fault("latency", seconds=120, count=100)
    body = chronos_job(node_hub_server.url, {"type": "pipeline_stop", "pipelineId": "p1"})
    body["timeoutSeconds"] = 8
    create(k8s, ns, "hung", body)
    wait_for(lambda: (get_cr(k8s, ns, "hung").get("status") or {}).get("cronJobName"))
    k8s.patch(
        ChronosJobResource,
        "hung",
        {"metadata": {"annotations": {c.RUN_NOW_ANNOTATION: "once"}}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    last = wait_for(
        lambda: (get_cr(k8s, ns, "hung").get("status") or {}).get("lastRun"),
        timeout=120,
        what="the hung run's record",
    )
    assert last["result"] == "failed", last
    assert last["reason"] in ("Timeout", "DeadlineExceeded"), last
    assert last["trigger"] == "run-now"
    history = get_cr(k8s, ns, "hung")["status"]["history"]
    assert [h["runId"] for h in history] == [last["runId"]]
    job = json.loads(real_node.cluster.kubectl("get", "job", "-n", ns, last["runId"], "-o", "json"))
    assert job["spec"]["activeDeadlineSeconds"] == 8
    node_hub.clear_faults()


def test_pod_logs_are_readable_through_the_api_while_the_pod_exists(
    real_node: Node, node_ns: str, node_hub_server: FakeCoreHub, node_hub: FakeHubControl
) -> None:
    manifest = runner_pod(
        "talker",
        real_node.runner_image,
        node_hub_server.url,
        {"type": "pipeline_stop", "pipelineId": "p1"},
    )
    name = create_pod(real_node.k8s, node_ns, manifest)
    assert real_node.wait_pod_ended(node_ns, name) == "Succeeded"
    # The API server's pods/log subresource (the kubelet behind it), not kubectl.
    lines = list(real_node.k8s.log(name, namespace=node_ns))
    assert any('"step": "result"' in line for line in lines), lines
    real_node.k8s.delete(Pod, name, namespace=node_ns, grace_period=0)
    wait_for(lambda: not list(real_node.k8s.list(Pod, namespace=node_ns)), what="the pod to go")
    with pytest.raises(ApiError) as gone:
        list(real_node.k8s.log(name, namespace=node_ns))
    assert gone.value.status.code == 404
