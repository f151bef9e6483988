"""No value from the credentials Secret ever shows: not in the ChronosJob's status, the
Events, the REST API, the runner's log or termination message, nor the operator's log.

A canary login name and password go into the Secret; the fake CoreHub refuses the login
and, as a real server might, quotes both in its answer. The whole path is real: the
operator's CronJob and run-now Job, the kubelet resolving the ``secretKeyRef``, the
runner pod on the real node, its log, its status write.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from builders import grant
from fixtures_api import ApiServer, sa_token
from fixtures_corehub import FAST_RETRY, Recorder
from lightkube import Client
from lightkube.resources.core_v1 import Pod, Secret
from support import get_cr, wait_for

from chronos.corehub import AuthenticationError, ClientOptions, CoreHubClient
from chronos.devcluster.operator_process import OperatorProcess
from chronos.devcluster.system import KindTarget
from chronos.fakehub import FakeCoreHub, FakeHubControl
from realnode.fixtures import run_now_and_report

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]


LOGIN = "/authentication/login"


def canaries() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"canary-user-{tag}", f"canary-pw-{tag}"


def test_a_refused_login_echoes_no_credential(
    operator: OperatorProcess,
    fakehub_server: FakeCoreHub,
    fakehub: FakeHubControl,
    k8s: Client,
    cluster: KindTarget,
    runner_rbac: str,
    api_server: ApiServer,
) -> None:
    ns = runner_rbac
    user, password = canaries()
    k8s.patch(
        Secret,
        "hub",
        {"stringData": {"username": user, "password": password}},
        namespace=ns,
    )
    fakehub.add_fault(
        "status",
        path=LOGIN,
        status=401,
        message=f"no user {user} with password {password}",
        count=None,
    )
    task = {"type": "pipeline_start", "pipelineId": "p1"}
    last = run_now_and_report(k8s, ns, "leaky", fakehub_server.url, task)

    # The run failed at login, and CoreHub's echo was there to be masked.
    assert last["result"] == "failed", last
    assert "login refused (401): no user *** with password ***" in last["message"], last
    requests = [r for r in fakehub.requests() if r["path"] == LOGIN]
    assert requests, "the runner never tried to log in"

    # Collected once the run is over everywhere: the pod reported terminated (the runner
    # writes the status before it exits) and the Job controller has failed the Job.
    def finished() -> list[Pod] | None:
        pods = list(k8s.list(Pod, namespace=ns))
        done = [
            p
            for p in pods
            if p.status
            and p.status.containerStatuses
            and p.status.containerStatuses[0].state
            and p.status.containerStatuses[0].state.terminated
        ]
        jobs = json.loads(cluster.kubectl("get", "jobs", "-n", ns, "-o", "json"))["items"]
        failed = [
            j
            for j in jobs
            if any(c["type"] == "Failed" for c in j.get("status", {}).get("conditions") or [])
        ]
        return pods if pods and len(done) == len(pods) and jobs and failed == jobs else None

    pods = wait_for(finished, 60, "the runner pod and its Job to finish")
    places: dict[str, str] = {}
    places["ChronosJob"] = json.dumps(get_cr(k8s, ns, "leaky"))
    assert len(get_cr(k8s, ns, "leaky")["status"]["history"]) == 1
    places["Events"] = cluster.kubectl("get", "events", "-n", ns, "-o", "json")
    places["events.k8s.io"] = cluster.kubectl("get", "events.events.k8s.io", "-n", ns, "-o", "json")
    for pod in pods:
        assert pod.metadata is not None
        assert pod.metadata.name is not None
        assert pod.status is not None
        assert pod.status.containerStatuses
        state = pod.status.containerStatuses[0].state
        assert state is not None
        terminated = state.terminated
        assert terminated is not None
        assert terminated.message, pod.status
        places[f"termination message of {pod.metadata.name}"] = terminated.message
        places[f"log of {pod.metadata.name}"] = cluster.kubectl("logs", "-n", ns, pod.metadata.name)
        assert '"step": "login"' in places[f"log of {pod.metadata.name}"]
    places["operator log"] = operator.log_path.read_text()

    grant(k8s, ns, "viewer", ("get", "list", "watch"))
    with api_server.client(sa_token(k8s, ns, "viewer"), ns) as api:
        job = api.get("/api/jobs/leaky")
        assert job.status_code == 200, job.text
        assert "login refused (401)" in job.json()["last_error_message"]
        places["REST job"] = job.text
        history = api.get("/api/jobs/leaky/history")
        assert history.status_code == 200, history.text
        places["REST history"] = history.text

    for where, text in places.items():
        assert user not in text, f"the login name is in the {where}"
        assert password not in text, f"the password is in the {where}"


def test_the_client_masks_credentials_corehub_quotes(
    fakehub: FakeHubControl, recorder: Recorder
) -> None:
    """Every place the client quotes CoreHub: a retried answer (the retry event) and the
    login refusal; and its repr."""
    user, password = canaries()
    fakehub.configure(users={user: password + "-other"})
    fakehub.add_fault("status", path=LOGIN, status=503, message=f"{user} must wait", count=1)

    def sleep(seconds: float) -> None:
        recorder.sleep(seconds)
        # Between the attempts, so that the second login gets CoreHub's own refusal...
        # with the login name in it, as some servers do.
        fakehub.add_fault("status", path=LOGIN, status=401, message=f"bad password for {user}")

    client = CoreHubClient(
        fakehub.url,
        user,
        password,
        options=ClientOptions(retry=FAST_RETRY),
        events=recorder.event,
        sleep=sleep,
    )
    with client, pytest.raises(AuthenticationError) as caught:
        client.login()
    assert str(caught.value) == "login refused (401): bad password for ***"
    retries = recorder.steps("retry")
    assert len(retries) == 1
    assert retries[0]["cause"] == "HTTP 503: *** must wait"
    seen: list[Any] = [str(caught.value), repr(caught.value), repr(client), recorder.events]
    text = json.dumps(seen, default=str)
    assert user not in text
    assert password not in text
