"""The pod of a ``container`` task, and how its run is recorded (issue 20, feature 7).

Pure functions: the pod template for the job's CronJob (``cronjob.build_cronjob`` calls
:func:`pod_spec` for container tasks), and the outcome of a finished container pod.

The runner is not involved in a container task: nothing else runs in its pod, so the
user's image never shares a pod, a ServiceAccount or an environment with Chronos' own
code. The operator records the run instead (``runs.unreported_run``), from what the
kubelet says of the finished pod, which the operator may already read (``get pods``):

- the result: the container's exit code (0 succeeded, anything else failed, reason
  ``ExitCode``), or the Job's own condition when the pod never ran to an end
  (``DeadlineExceeded`` when ``timeoutSeconds`` — the Job's ``activeDeadlineSeconds`` —
  ran out, ``OOMKilled``, a failed launch);
- the log tail: the container's termination message. The container runs with
  ``terminationMessagePolicy: FallbackToLogsOnError``, so a failed container's message
  is the last lines of its log (at most 2 KiB, the kubelet's bound); a container that
  succeeds may write a summary to ``/dev/termination-log``. The operator so needs no
  ``pods/log`` right. The live log is the pod's log, read with the viewer's own
  credentials like a runner pod's.

What the kubelet reports is the user's own text: it is kept as one bounded block
without control characters (no terminal escapes in pages or ``kubectl`` output). The
operator cannot know which Secret values the container may have printed, so a job's
readers see what its container chose to print: the docs say so (docs/operator.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from chronos import contract as c
from chronos.models.container import ContainerTask
from chronos.models.jobstatus import MAX_LOG_TAIL, RunResult

#: The user id a container task runs as when it names none: the conventional nonroot
#: user of distroless images, as the runner's.
DEFAULT_UID = 65532
#: The ServiceAccount a container task that names none runs as. Named explicitly, so the
#: operator-writes admission policy can compare the pod with its job's declaration; no
#: token is mounted for it (automountServiceAccountToken: false).
DEFAULT_SERVICE_ACCOUNT = "default"
EXIT_CODE = "ExitCode"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _env(task: ContainerTask) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    for var in task.env or []:
        if var.secret_key_ref is not None:
            ref = var.secret_key_ref
            env.append(
                {
                    "name": var.name,
                    "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
                }
            )
        elif var.config_map_key_ref is not None:
            ref = var.config_map_key_ref
            env.append(
                {
                    "name": var.name,
                    "valueFrom": {"configMapKeyRef": {"name": ref.name, "key": ref.key}},
                }
            )
        else:
            env.append({"name": var.name, "value": var.value})
    return env


def _resources(task: ContainerTask) -> dict[str, Any]:
    resources = task.resources
    if resources is None:
        return {}
    out: dict[str, Any] = {}
    for kind, amounts in (("requests", resources.requests), ("limits", resources.limits)):
        if amounts is not None:
            given = amounts.model_dump(exclude_none=True)
            if given:
                out[kind] = given
    return out


def pod_spec(task: ContainerTask, *, pull_policy: str) -> dict[str, Any]:
    """The pod spec of a container task's Job: the declared container and nothing else,
    meeting Pod Security ``restricted`` (non-root, seccomp RuntimeDefault, no privilege
    escalation, every capability dropped).

    The root file system stays writable (``restricted`` does not ask otherwise, and the
    scripts this task exists for write temporary files); everything else the user cannot
    set. ``pull_policy`` is the operator's (the runner image's) policy.
    """
    uid = task.run_as_user or DEFAULT_UID
    container: dict[str, Any] = {
        "name": c.TASK_CONTAINER,
        "image": task.image,
        "imagePullPolicy": pull_policy,
        **({"command": list(task.command)} if task.command else {}),
        **({"args": list(task.args)} if task.args else {}),
        **({"env": _env(task)} if task.env else {}),
        **({"resources": res} if (res := _resources(task)) else {}),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return {
        "restartPolicy": "Never",
        # As for the runner: no {SERVICE}_PORT variables the user did not declare.
        "enableServiceLinks": False,
        "serviceAccountName": task.service_account_name or DEFAULT_SERVICE_ACCOUNT,
        "automountServiceAccountToken": task.service_account_name is not None,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
    }


def is_container_pod(pod: dict[str, Any]) -> bool:
    """A container task's pod (its one container is named ``TASK_CONTAINER``)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    return any(ct.get("name") == c.TASK_CONTAINER for ct in containers)


def _terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == c.TASK_CONTAINER:
            return (status.get("state") or {}).get("terminated")
    return None


def log_tail(text: str) -> str | None:
    """The user's termination message as a log tail: no control characters but newline
    and tab, the last ``MAX_LOG_TAIL`` characters."""
    clean = _CONTROL.sub("", text)[-MAX_LOG_TAIL:]
    return clean or None


def outcome(pods: Iterable[dict[str, Any]]) -> tuple[RunResult, str, str, str | None] | None:
    """``(result, reason, message, log tail)`` from the newest pod whose task container
    terminated (a retried run has several pods), or None when none did."""
    ended = [(p, t) for p in pods if (t := _terminated(p)) is not None]
    if not ended:
        return None
    _, state = max(ended, key=lambda pt: str(pt[1].get("finishedAt") or ""))
    code = state.get("exitCode")
    if not isinstance(code, int):
        return None
    tail = log_tail(str(state.get("message") or ""))
    if code == 0:
        return RunResult.SUCCEEDED, EXIT_CODE, "the container exited with code 0", tail
    killed = state.get("reason")
    why = f" ({killed})" if isinstance(killed, str) and killed.isalnum() else ""
    return RunResult.FAILED, EXIT_CODE, f"the container exited with code {code}{why}", tail
