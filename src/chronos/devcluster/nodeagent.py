"""A test-only node agent: it plays the kubelet's part for the pods of Chronos Jobs.

The local control plane (``chronos.devcluster.cluster``) has no scheduler and no
kubelet, so Job pods would stay Pending forever. This agent, for development and tests
only (it is not product code and never runs in a real cluster):

* registers a Node (Ready, with capacity and allocatable) and keeps it alive: it renews
  its Lease in ``kube-node-lease`` and the Ready condition's ``lastHeartbeatTime``;
* binds pending pods matching a label selector (default: pods carrying
  ``chronos.contract.JOB_LABEL``) to its node through ``pods/binding``, as the scheduler
  would (pods with scheduling gates, or whose ``nodeSelector`` does not match the node,
  are left alone);
* runs each container of a pod bound to its node as a local process: ``command`` +
  ``args`` (``$(VAR)`` expanded as the kubelet does), the image ignored, ``python`` and
  ``python3`` replaced by ``sys.executable``, other commands looked up on a PATH that
  starts with the directory of ``sys.executable`` (so ``chronos-runner`` resolves to the
  virtualenv's console script). Init containers run first, one at a time;
* resolves the environment (``value``, ``secretKeyRef``, ``configMapKeyRef``, ``fieldRef``,
  ``resourceFieldRef``, ``envFrom``) and materialises ``secret``, ``configMap``,
  ``downwardAPI``, ``projected`` and ``emptyDir`` volumes as files under the pod's
  directory (``<work dir>/pods/<namespace>/<name>/volumes/<volume>/``): the
  ``mountPath`` is not honoured (no paths are rewritten); the process's working
  directory is the pod directory, so ``volumes/<volume>/<key>`` is a relative path that
  works;
* gives the process a real ServiceAccount token (TokenRequest for the pod's
  ``serviceAccountName``, bound to the pod) in a kubeconfig named by ``KUBECONFIG``, so
  it talks to the API server with that ServiceAccount's RBAC (skipped when
  ``automountServiceAccountToken`` is false on the pod);
* sets ``CHRONOS_TERMINATION_MESSAGE_PATH`` to a per-container file and reads it at exit
  as the termination message (at most 4096 bytes), falling back to the tail of the
  output (80 lines, 2048 bytes) for ``FallbackToLogsOnError`` when the file is empty and
  the exit code is not zero;
* reports the pod status through ``pods/status``: Pending, Running, then Succeeded or
  Failed with each container's exit code, reason and message, and the pod conditions;
* honours ``activeDeadlineSeconds`` (kills the processes: Failed, reason
  ``DeadlineExceeded``) and deletion (kills the processes with the pod's grace period,
  reports the terminal phase, then confirms the deletion with grace period 0).

Restart policy: every pod is run once, as with ``restartPolicy: Never``. ``OnFailure``
(and ``Always``) pods are treated the same way: a failed container is not restarted and
the pod fails; the Job controller then creates a new pod if its backoff limit allows.

Each container's combined output is in ``<pod dir>/<container>.log``. Pods found on
the node that were running under an earlier agent (whose processes are gone) are
reported Failed with the kubelet's ``ContainerStatusUnknown`` reason. Stopping the agent
kills the processes it runs, reports their pods Failed and marks the node NotReady.

Start it in-process (a thread) with :class:`NodeAgent` or as a subprocess with
:class:`NodeAgentProcess`, or from the command line::

    python -m chronos.devcluster.nodeagent --kubeconfig .devcluster/admin.kubeconfig
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import platform
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import msgspec
from lightkube import ALL_NS, ApiError, AsyncClient, KubeConfig, operators
from lightkube.core.client import LabelSelector, LabelValue
from lightkube.models.authentication_v1 import BoundObjectReference, TokenRequestSpec
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.core_v1 import Container, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import (
    ConfigMap,
    Node,
    NodeStatus,
    Pod,
    PodBinding,
    PodStatus,
    Secret,
    ServiceAccountToken,
)
from lightkube.types import PatchType
from lightkube.utils.quantity import parse_quantity

from chronos import contract, kube
from chronos.devcluster.files import private_dir, write_private
from chronos.http import HTTPError

log = logging.getLogger("chronos.nodeagent")

DEFAULT_NODE_NAME: Final = "chronos-dev-node"
DEFAULT_SELECTOR: Final = contract.JOB_LABEL
FIELD_MANAGER: Final = "chronos-nodeagent"
READY_LINE: Final = "chronos-nodeagent ready"
NODE_LEASE_NAMESPACE: Final = "kube-node-lease"
POD_IP: Final = "127.0.0.1"
MAX_TERMINATION_MESSAGE: Final = 4096
FALLBACK_LOG_LINES: Final = 80
FALLBACK_LOG_BYTES: Final = 2048
TOKEN_SECONDS: Final = 3600
CONFIG_RETRY_SECONDS: Final = 2.0
STOP_GRACE_SECONDS: Final = 2.0
DEADLINE_MESSAGE: Final = "Pod was active on the node longer than the specified deadline"
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_FIELD_PATH = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


# ----------------------------------------------------------------------------- helpers


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_selector(text: str) -> LabelSelector:
    """A label selector string (``a=b,c,!d,e!=f,g in (h,i),j notin (k)``) for lightkube."""
    parts: list[str] = []
    depth, current = 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        current += ch
    parts.append(current)
    selector: LabelSelector = {}
    for raw in (p.strip() for p in parts):
        if not raw:
            continue
        set_match = re.fullmatch(r"(\S+)\s+(in|notin)\s*\((.*)\)", raw)
        value: LabelValue
        if set_match:
            key, op, values = set_match.groups()
            items = [v.strip() for v in values.split(",") if v.strip()]
            value = operators.in_(items) if op == "in" else operators.not_in(items)
        elif raw.startswith("!"):
            key, value = raw[1:].strip(), operators.not_exists()
        elif "!=" in raw:
            key, _, v = raw.partition("!=")
            value = operators.not_equal(v.strip())
        elif "=" in raw:
            key, _, v = raw.replace("==", "=", 1).partition("=")
            value = operators.equal(v.strip())
        else:
            key, value = raw, operators.exists()
        selector[key.strip()] = value
    return selector


def expand(text: str, env: Mapping[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion: ``$$`` escapes, unknown references stay as is."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and (end := text.find(")", i + 2)) != -1:
            name = text[i + 2 : end]
            out.append(env.get(name, text[i : end + 1]))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _tail(path: Path, lines: int = FALLBACK_LOG_LINES, limit: int = FALLBACK_LOG_BYTES) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    text = b"\n".join(data.rstrip(b"\n").split(b"\n")[-lines:])[-limit:]
    return text.decode(errors="replace")


def _memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError):
        return 8 * 1024**3


def _has_deletion(pod: Pod) -> bool:
    return bool(pod.metadata and pod.metadata.deletionTimestamp)


def _phase(pod: Pod) -> str:
    return (pod.status.phase if pod.status else None) or "Pending"


def _terminal(pod: Pod) -> bool:
    return _phase(pod) in ("Succeeded", "Failed")


def _was_started(pod: Pod) -> bool:
    """Whether an earlier agent already started containers for this pod."""
    if _phase(pod) == "Running":
        return True
    status = pod.status
    statuses = (
        [*(status.containerStatuses or []), *(status.initContainerStatuses or [])] if status else []
    )
    return any(s.state and (s.state.running or s.state.terminated) for s in statuses)


class _ConfigError(Exception):
    """The pod cannot be started yet (missing Secret, ConfigMap, ServiceAccount...)."""


# ------------------------------------------------------------------------ a container


@dataclass
class _Container:
    name: str
    image: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    termination_path: Path
    policy: str
    proc: asyncio.subprocess.Process | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None  # overrides Completed/Error
    message: str = ""

    @property
    def done(self) -> bool:
        return self.exit_code is not None

    def fail_to_start(self, message: str) -> None:
        """As a container runtime reports an exec failure."""
        self.exit_code, self.reason, self.message = 128, "StartError", message
        self.finished_at = _now()

    def finish(self, returncode: int) -> None:
        if self.done:
            return
        self.exit_code = _exit_code(returncode)
        self.finished_at = _now()
        try:
            with self.termination_path.open("rb") as f:
                message = f.read(MAX_TERMINATION_MESSAGE).decode(errors="replace")
        except OSError:
            message = ""
        if not message and self.exit_code != 0 and self.policy == "FallbackToLogsOnError":
            message = _tail(self.log)
        self.message = message

    def status(self, waiting: tuple[str, str | None]) -> dict[str, Any]:
        state: dict[str, Any]
        if self.done:
            reason = self.reason or ("Completed" if self.exit_code == 0 else "Error")
            terminated: dict[str, Any] = {
                "exitCode": self.exit_code,
                "reason": reason,
                "finishedAt": _rfc3339(self.finished_at or _now()),
                "startedAt": _rfc3339(self.started_at or self.finished_at or _now()),
            }
            if message := self.message:
                terminated["message"] = message
            if self.proc is not None:
                terminated["containerID"] = f"nodeagent://{self.proc.pid}"
            state = {"terminated": terminated}
        elif self.proc is not None and self.started_at is not None:
            state = {"running": {"startedAt": _rfc3339(self.started_at)}}
        else:
            why, text = waiting
            state = {"waiting": {"reason": why, **({"message": text} if text else {})}}
        status: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": "running" in state,
            "started": "running" in state,
            "restartCount": 0,
            "state": state,
            "lastState": {},
        }
        if self.proc is not None:
            status["containerID"] = f"nodeagent://{self.proc.pid}"
        return status

    async def kill(self, grace: float) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            _signal_group(proc.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
            try:
                await asyncio.wait_for(proc.wait(), timeout=max(grace, 0.0) or None)
            except TimeoutError:
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        # Like a container's cgroup: nothing the process started outlives it.
        _signal_group(proc.pid, signal.SIGKILL)
        assert proc.returncode is not None
        self.finish(proc.returncode)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


# ------------------------------------------------------------------ the pod's sources


class _Sources:
    """Secrets, ConfigMaps and tokens for one pod start, each read once."""

    def __init__(self, agent: NodeAgent, pod: Pod) -> None:
        self.agent = agent
        self.pod = pod
        assert pod.metadata is not None
        assert pod.metadata.namespace is not None
        self.namespace: str = pod.metadata.namespace
        self._secrets: dict[str, dict[str, bytes] | None] = {}
        self._config_maps: dict[str, dict[str, bytes] | None] = {}

    async def secret(self, name: str, optional: bool | None) -> dict[str, bytes]:
        if name not in self._secrets:
            try:
                obj = await self.agent.client.get(Secret, name, namespace=self.namespace)
                self._secrets[name] = {k: base64.b64decode(v) for k, v in (obj.data or {}).items()}
            except ApiError as exc:
                if exc.status.code != 404:
                    raise
                self._secrets[name] = None
        data = self._secrets[name]
        if data is None:
            if optional:
                return {}
            raise _ConfigError(f'secret "{name}" not found')
        return data

    async def config_map(self, name: str, optional: bool | None) -> dict[str, bytes]:
        if name not in self._config_maps:
            try:
                obj = await self.agent.client.get(ConfigMap, name, namespace=self.namespace)
                data = {k: v.encode() for k, v in (obj.data or {}).items()}
                data.update({k: base64.b64decode(v) for k, v in (obj.binaryData or {}).items()})
                self._config_maps[name] = data
            except ApiError as exc:
                if exc.status.code != 404:
                    raise
                # The control plane runs no root-ca-cert-publisher: serve its ConfigMap.
                self._config_maps[name] = (
                    {"ca.crt": self.agent.ca_bytes} if name == "kube-root-ca.crt" else None
                )
        found = self._config_maps[name]
        if found is None:
            if optional:
                return {}
            raise _ConfigError(f'configmap "{name}" not found')
        return found

    async def token(self, audience: str | None = None, seconds: int = TOKEN_SECONDS) -> str:
        assert self.pod.metadata is not None
        assert self.pod.spec is not None
        account = self.pod.spec.serviceAccountName or "default"
        request = ServiceAccountToken(
            metadata=ObjectMeta(name=account, namespace=self.namespace),
            spec=TokenRequestSpec(
                audiences=[audience] if audience else [],
                expirationSeconds=max(seconds, 600),
                boundObjectRef=BoundObjectReference(
                    apiVersion="v1",
                    kind="Pod",
                    name=self.pod.metadata.name,
                    uid=self.pod.metadata.uid,
                ),
            ),
        )
        try:
            result = await self.agent.client.create(request, account, namespace=self.namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                raise _ConfigError(f'serviceaccount "{account}" not found') from exc
            raise
        assert result.status is not None
        return str(result.status.token)

    def field(self, path: str) -> str:
        meta = self.pod.metadata
        spec = self.pod.spec
        assert meta is not None
        assert spec is not None
        if m := _FIELD_PATH.match(path):
            source = meta.labels if m.group(1) == "labels" else meta.annotations
            return str((source or {}).get(m.group(2), ""))
        values = {
            "metadata.name": meta.name,
            "metadata.namespace": meta.namespace,
            "metadata.uid": meta.uid,
            "spec.nodeName": spec.nodeName or self.agent.node_name,
            "spec.serviceAccountName": spec.serviceAccountName or "default",
            "status.podIP": POD_IP,
            "status.podIPs": POD_IP,
            "status.hostIP": POD_IP,
            "status.hostIPs": POD_IP,
        }
        if path in ("metadata.labels", "metadata.annotations"):
            source = meta.labels if path == "metadata.labels" else meta.annotations
            return "\n".join(f'{k}="{v}"' for k, v in sorted((source or {}).items()))
        if path not in values:
            raise _ConfigError(f"unsupported fieldRef {path!r}")
        return values[path] or ""

    def resource(self, container: str | None, resource: str, divisor: str | None) -> str:
        """Best effort: a container's request or limit, or the node's allocatable."""
        assert self.pod.spec is not None
        spec = next(
            (c for c in self.pod.spec.containers if c.name == container),
            self.pod.spec.containers[0],
        )
        kind, _, name = resource.partition(".")
        resources = spec.resources
        amounts = (
            (resources.limits if kind == "limits" else resources.requests) if resources else None
        )
        raw = (amounts or {}).get(name)
        if raw is None:
            raw = self.agent.allocatable().get(name) if kind == "limits" else "0"
        amount = parse_quantity(raw) or Decimal(0)
        by = parse_quantity(divisor or "1") or Decimal(1)
        return str(int((amount / by).to_integral_value(rounding=ROUND_CEILING)))


# --------------------------------------------------------------------- one pod's life


class _PodWorker:
    """Runs one pod bound to the node, from Pending to a terminal phase and deletion."""

    def __init__(self, agent: NodeAgent, pod: Pod) -> None:
        assert pod.metadata is not None
        self.agent = agent
        self.pod = pod
        self.uid: str = pod.metadata.uid or ""
        self.namespace: str = pod.metadata.namespace or ""
        self.name: str = pod.metadata.name or ""
        self.changed = asyncio.Event()
        self.gone = False
        self.start_time = _now()
        self.init: list[_Container] = []
        self.main: list[_Container] = []
        self.waiting: tuple[str, str | None] = ("ContainerCreating", None)
        self.initialized = False
        self.transitions: dict[str, tuple[str, str]] = {}
        self.task: asyncio.Task[None] | None = None

    def update(self, pod: Pod) -> None:
        self.pod = pod
        self.changed.set()

    def mark_gone(self) -> None:
        self.gone = True
        self.changed.set()

    # ------------------------------------------------------------ state and timing

    @property
    def directory(self) -> Path:
        return self.agent.pod_dir(self.namespace, self.name)

    def deadline(self) -> datetime | None:
        seconds = self.pod.spec.activeDeadlineSeconds if self.pod.spec else None
        return None if seconds is None else self.start_time + timedelta(seconds=seconds)

    def interruption(self) -> str | None:
        if self.gone:
            return "gone"
        if _has_deletion(self.pod):
            return "deleted"
        deadline = self.deadline()
        if deadline is not None and _now() >= deadline:
            return "deadline"
        return None

    async def wait(self, target: Awaitable[Any] | None, timeout: float | None = None) -> str | None:
        """Wait for ``target`` (or ``timeout``); returns the reason if interrupted first."""
        future = asyncio.ensure_future(target) if target is not None else None
        until = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                self.changed.clear()
                reason = self.interruption()
                if reason is not None:
                    return reason
                if future is not None and future.done():
                    return None
                limits = [until - time.monotonic()] if until is not None else []
                deadline = self.deadline()
                if deadline is not None:
                    limits.append((deadline - _now()).total_seconds())
                if until is not None and limits[0] <= 0:
                    return None
                changed = asyncio.ensure_future(self.changed.wait())
                waitables: set[asyncio.Future[Any]] = {changed}
                if future is not None:
                    waitables.add(future)
                await asyncio.wait(
                    waitables,
                    timeout=max(min(limits), 0.0) if limits else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                changed.cancel()
        finally:
            if future is not None and not future.done():
                future.cancel()

    # ---------------------------------------------------------------- the status

    def _conditions(self, phase: str) -> list[dict[str, Any]]:
        now = _rfc3339(_now())
        terminal = phase in ("Succeeded", "Failed")
        running = bool(self.main) and all(c.proc is not None and not c.done for c in self.main)

        def cond(kind: str, ok: bool, reason: str | None = None) -> dict[str, Any]:
            status = "True" if ok else "False"
            previous = self.transitions.get(kind)
            if previous is None or previous[0] != status:
                self.transitions[kind] = previous = (status, now)
            return {
                "type": kind,
                "status": status,
                "reason": None if ok else reason,  # null removes an earlier reason
                "message": None,
                "lastProbeTime": None,
                "lastTransitionTime": previous[1],
            }

        ready_reason = "PodCompleted" if terminal else "ContainersNotReady"
        return [
            cond("PodReadyToStartContainers", not terminal),
            cond("Initialized", self.initialized or terminal, "ContainersNotInitialized"),
            cond("Ready", running and not terminal, ready_reason),
            cond("ContainersReady", running and not terminal, ready_reason),
            cond("PodScheduled", True),
        ]

    def _body(self, phase: str, reason: str | None, message: str | None) -> dict[str, Any]:
        main_waiting = (
            self.waiting if self.initialized or not self.init else ("PodInitializing", None)
        )
        status: dict[str, Any] = {
            "phase": phase,
            "reason": reason,
            "message": message,
            "hostIP": POD_IP,
            "hostIPs": [{"ip": POD_IP}],
            "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}],
            "startTime": _rfc3339(self.start_time),
            "qosClass": (self.pod.status.qosClass if self.pod.status else None) or "BestEffort",
            "conditions": self._conditions(phase),
            "containerStatuses": [
                c.status(main_waiting) for c in self.main or self._placeholders()
            ],
        }
        if self.init:
            status["initContainerStatuses"] = [c.status(self.waiting) for c in self.init]
        return {"metadata": {"uid": self.uid}, "status": status}

    async def report(
        self, phase: str, reason: str | None = None, message: str | None = None
    ) -> None:
        body = self._body(phase, reason, message)
        for attempt in range(6):
            try:
                await self.agent.client.patch(
                    PodStatus,
                    self.name,
                    body,
                    namespace=self.namespace,
                    patch_type=PatchType.STRATEGIC,
                    field_manager=FIELD_MANAGER,
                )
                return
            except ApiError as exc:
                if exc.status.code in (404, 409):
                    log.info("pod %s/%s: status not written (%s)", self.namespace, self.name, exc)
                    return
                error: Exception = exc
            except HTTPError as exc:
                error = exc
            log.warning("pod %s/%s: status update failed: %s", self.namespace, self.name, error)
            await asyncio.sleep(0.2 * 2**attempt)

    # -------------------------------------------------------------- preparation

    async def _prepare(self) -> None:
        pod = self.pod
        assert pod.spec is not None
        sources = _Sources(self.agent, pod)
        directory = self.directory
        await self._write_volumes(sources, directory / "volumes")
        base = {
            "PATH": os.pathsep.join(
                [str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]
            ),
            "HOME": str(directory),
            "HOSTNAME": self.name,
            "TMPDIR": str(directory / "tmp"),
            "LANG": "C.UTF-8",
        }
        (directory / "tmp").mkdir(parents=True, exist_ok=True)
        if pod.spec.automountServiceAccountToken is not False:
            base["KUBECONFIG"] = str(self._write_kubeconfig(await sources.token(), directory))
        self.init = [
            await self._container(c, sources, base, directory)
            for c in pod.spec.initContainers or []
        ]
        self.main = [
            await self._container(c, sources, base, directory) for c in pod.spec.containers
        ]

    async def _container(
        self, spec: Container, sources: _Sources, base: dict[str, str], directory: Path
    ) -> _Container:
        env: dict[str, str] = {}
        for source in spec.envFrom or []:
            prefix = source.prefix or ""
            if source.configMapRef is not None:
                ref = source.configMapRef
                data = await sources.config_map(ref.name or "", ref.optional)
            elif source.secretRef is not None:
                sref = source.secretRef
                data = await sources.secret(sref.name or "", sref.optional)
            else:
                continue
            for key, value in data.items():
                if _ENV_NAME.match(prefix + key):
                    env[prefix + key] = value.decode(errors="replace")
        for var in spec.env or []:
            vf = var.valueFrom
            if vf is None:
                env[var.name] = expand(var.value or "", env)
            elif vf.secretKeyRef is not None:
                sk = vf.secretKeyRef
                data = await sources.secret(sk.name or "", sk.optional)
                if sk.key in data:
                    env[var.name] = data[sk.key].decode(errors="replace")
                elif not sk.optional:
                    raise _ConfigError(f'couldn\'t find key {sk.key} in Secret "{sk.name}"')
            elif vf.configMapKeyRef is not None:
                ck = vf.configMapKeyRef
                data = await sources.config_map(ck.name or "", ck.optional)
                if ck.key in data:
                    env[var.name] = data[ck.key].decode(errors="replace")
                elif not ck.optional:
                    raise _ConfigError(f'couldn\'t find key {ck.key} in ConfigMap "{ck.name}"')
            elif vf.fieldRef is not None:
                env[var.name] = sources.field(vf.fieldRef.fieldPath)
            elif vf.resourceFieldRef is not None:
                rf = vf.resourceFieldRef
                env[var.name] = sources.resource(
                    rf.containerName or spec.name, rf.resource, rf.divisor
                )
        log_path = directory / f"{spec.name}.log"
        termination = directory / f"{spec.name}.termination-log"
        termination.write_bytes(b"")
        full_env = {
            **base,
            contract.ENV_TERMINATION_MESSAGE_PATH: str(termination),
            **env,
        }
        argv = [expand(a, env) for a in [*(spec.command or []), *(spec.args or [])]]
        return _Container(
            name=spec.name,
            image=spec.image or "",
            argv=argv,
            env=full_env,
            log=log_path,
            termination_path=termination,
            policy=spec.terminationMessagePolicy or "File",
        )

    def _write_kubeconfig(self, token: str, directory: Path) -> Path:
        account = directory / "serviceaccount"
        private_dir(account)
        write_private(account / "token", token)
        write_private(account / "namespace", self.namespace)
        ca = account / "ca.crt"
        ca.write_bytes(self.agent.ca_bytes)
        cluster: dict[str, Any] = {"server": self.agent.server}
        if self.agent.ca_bytes:
            cluster["certificate-authority"] = str(ca)
        else:
            cluster["insecure-skip-tls-verify"] = True
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cluster", "cluster": cluster}],
            "users": [{"name": "pod", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "pod",
                    "context": {"cluster": "cluster", "user": "pod", "namespace": self.namespace},
                }
            ],
            "current-context": "pod",
        }
        return write_private(directory / "kubeconfig", json.dumps(config, indent=2))

    async def _write_volumes(self, sources: _Sources, root: Path) -> None:
        assert self.pod.spec is not None
        for volume in self.pod.spec.volumes or []:
            files: dict[str, bytes] = {}
            if volume.secret is not None:
                sv = volume.secret
                data = await sources.secret(sv.secretName or "", sv.optional)
                files = _select(data, sv.items, sv.optional, f'secret "{sv.secretName}"')
            elif volume.configMap is not None:
                cv = volume.configMap
                data = await sources.config_map(cv.name or "", cv.optional)
                files = _select(data, cv.items, cv.optional, f'configmap "{cv.name}"')
            elif volume.downwardAPI is not None:
                for item in volume.downwardAPI.items or []:
                    files[item.path] = self._downward(sources, item.fieldRef, item.resourceFieldRef)
            elif volume.projected is not None:
                for src in volume.projected.sources or []:
                    if src.secret is not None:
                        data = await sources.secret(src.secret.name or "", src.secret.optional)
                        files.update(_select(data, src.secret.items, src.secret.optional, "secret"))
                    elif src.configMap is not None:
                        cm = src.configMap
                        data = await sources.config_map(cm.name or "", cm.optional)
                        files.update(_select(data, cm.items, cm.optional, "configmap"))
                    elif src.serviceAccountToken is not None:
                        sat = src.serviceAccountToken
                        token = await sources.token(sat.audience, sat.expirationSeconds or 3600)
                        files[sat.path] = token.encode()
                    elif src.downwardAPI is not None:
                        for item in src.downwardAPI.items or []:
                            files[item.path] = self._downward(
                                sources, item.fieldRef, item.resourceFieldRef
                            )
            elif volume.emptyDir is None:
                continue  # hostPath, PVCs...: nothing to materialise
            target = root / volume.name
            private_dir(target)
            for rel, content in files.items():
                path = target / rel
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                # Secret keys and tokens among them: owner-only, like everything here.
                write_private(path, content)

    @staticmethod
    def _downward(sources: _Sources, field_ref: Any, resource_ref: Any) -> bytes:
        if field_ref is not None:
            return sources.field(field_ref.fieldPath).encode()
        if resource_ref is not None:
            return sources.resource(
                resource_ref.containerName, resource_ref.resource, resource_ref.divisor
            ).encode()
        return b""

    # ------------------------------------------------------------------ running

    async def _start(self, container: _Container) -> None:
        argv = list(container.argv)
        container.started_at = _now()
        if not argv:
            container.fail_to_start(
                "the node agent cannot run images: the container has no command"
            )
            return
        if argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        elif os.sep not in argv[0]:
            found = shutil.which(argv[0], path=container.env.get("PATH"))
            argv[0] = found or argv[0]
        try:
            with container.log.open("ab") as out:
                container.proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=container.env,
                    cwd=self.directory,
                    start_new_session=True,
                )
        except OSError as exc:
            container.fail_to_start(f"failed to start {argv[0]!r}: {exc}")
            return
        log.info(
            "pod %s/%s: container %s started (pid %s)",
            self.namespace,
            self.name,
            container.name,
            container.proc.pid,
        )

    async def _run(self, containers: list[_Container], phase: str) -> str | None:
        """Start ``containers`` together and wait for them; returns an interruption."""
        for c in containers:
            await self._start(c)
        await self.report(phase)

        async def all_exited() -> None:
            await asyncio.gather(*(self._reap(c) for c in containers))

        reason = await self.wait(all_exited())
        if reason is not None:
            await self._kill(containers, reason)
        return reason

    @staticmethod
    async def _reap(container: _Container) -> None:
        if container.proc is not None:
            container.finish(await container.proc.wait())

    async def _kill(self, containers: list[_Container], reason: str) -> None:
        spec = self.pod.spec
        meta = self.pod.metadata
        if reason == "gone":
            grace = 0.0
        elif (
            reason == "deleted" and meta is not None and meta.deletionGracePeriodSeconds is not None
        ):
            grace = float(meta.deletionGracePeriodSeconds)
        elif reason == "stopped":
            grace = STOP_GRACE_SECONDS
        else:
            period = spec.terminationGracePeriodSeconds if spec else None
            grace = float(30 if period is None else period)
        log.info("pod %s/%s: killing containers (%s)", self.namespace, self.name, reason)
        await asyncio.gather(*(c.kill(grace) for c in containers))

    # ---------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        try:
            if not _terminal(self.pod):
                if _was_started(self.pod):
                    await self._report_lost()
                else:
                    await self._execute()
            await self._confirm_deletion()
        except asyncio.CancelledError:
            await self._stopped()
            raise
        except Exception:
            log.exception("pod %s/%s: node agent error", self.namespace, self.name)
            await self._kill([*self.init, *self.main], "gone")
            raise

    async def _execute(self) -> None:
        if self.pod.status is not None and self.pod.status.startTime is not None:
            self.start_time = self.pod.status.startTime
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        private_dir(self.directory)
        await self.report("Pending")
        while True:
            reason = self.interruption()
            if reason is not None:
                await self._finish(reason)
                return
            try:
                await self._prepare()
                break
            except _ConfigError as exc:
                self.waiting = ("CreateContainerConfigError", str(exc))
                await self.report("Pending")
                await self.wait(None, CONFIG_RETRY_SECONDS)
            except (ApiError, HTTPError) as exc:
                log.warning("pod %s/%s: preparing: %s", self.namespace, self.name, exc)
                await self.wait(None, CONFIG_RETRY_SECONDS)
            except Exception as exc:  # shown on the pod and retried, like the kubelet
                log.exception("pod %s/%s: preparing", self.namespace, self.name)
                self.waiting = ("CreateContainerError", f"node agent: {exc!r}")
                await self.report("Pending")
                await self.wait(None, CONFIG_RETRY_SECONDS)
        self.waiting = ("ContainerCreating", None)
        for container in self.init:
            reason = await self._run([container], "Pending")
            if reason is not None:
                await self._finish(reason)
                return
            if container.exit_code != 0:
                await self._finish(None)
                return
        self.initialized = True
        reason = await self._run(self.main, "Running")
        await self._finish(reason)

    async def _finish(self, reason: str | None) -> None:
        if reason == "gone":
            return
        ok = bool(self.main) and all(c.exit_code == 0 for c in self.main)
        phase = "Succeeded" if ok and reason is None else "Failed"
        if reason == "deadline":
            await self.report("Failed", "DeadlineExceeded", DEADLINE_MESSAGE)
        elif reason == "stopped":
            await self.report("Failed", "NodeAgentStopped", "the node agent stopped")
        else:
            await self.report(phase)
        log.info("pod %s/%s: %s (%s)", self.namespace, self.name, phase, reason or "exited")

    async def _report_lost(self) -> None:
        """The pod ran under an earlier agent whose processes are gone."""
        assert self.pod.spec is not None
        if self.pod.status is not None and self.pod.status.startTime is not None:
            self.start_time = self.pod.status.startTime
        self.initialized = True
        for c in self._placeholders():
            c.exit_code, c.finished_at, c.reason = 137, _now(), "ContainerStatusUnknown"
            c.message = "The container could not be located when the pod was terminated"
            self.main.append(c)
        await self.report("Failed", "ContainerStatusUnknown", "the node agent restarted")

    def _placeholders(self) -> list[_Container]:
        assert self.pod.spec is not None
        return [
            _Container(c.name, c.image or "", [], {}, Path(), Path(), "File")
            for c in self.pod.spec.containers
        ]

    async def _confirm_deletion(self) -> None:
        """Like the kubelet: once a terminated pod is being deleted, delete it for good."""
        while True:
            self.changed.clear()
            if self.gone:
                return
            if _has_deletion(self.pod):
                try:
                    await self.agent.client.delete(
                        Pod, self.name, namespace=self.namespace, grace_period=0
                    )
                except ApiError as exc:
                    if exc.status.code != 404:
                        raise
                return
            await self.changed.wait()

    async def _stopped(self) -> None:
        running = [c for c in [*self.init, *self.main] if c.proc is not None and not c.done]
        if not running:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._kill(running, "stopped"), STOP_GRACE_SECONDS + 5)
            await asyncio.wait_for(self._finish("stopped"), 5)


def _select(
    data: Mapping[str, bytes], items: Iterable[Any] | None, optional: bool | None, what: str
) -> dict[str, bytes]:
    if not items:
        return dict(data)
    files: dict[str, bytes] = {}
    for item in items:
        if item.key in data:
            files[item.path] = data[item.key]
        elif not optional:
            raise _ConfigError(f"couldn't find key {item.key} in {what}")
    return files


# ------------------------------------------------------------------------ the agent


class NodeAgent:
    """The node agent. ``start()``/``stop()`` run it in a thread; ``serve()`` is the loop.

    Example::

        with NodeAgent(Path(".devcluster/admin.kubeconfig")) as agent:
            ...  # Job pods carrying the Chronos label now run as local processes
    """

    def __init__(
        self,
        kubeconfig: Path,
        node_name: str = DEFAULT_NODE_NAME,
        selector: str | None = DEFAULT_SELECTOR,
        work_dir: Path | None = None,
        heartbeat_seconds: float = 10.0,
        delete_node_on_stop: bool = False,
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.node_name = node_name
        self.selector = selector or None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="chronos-nodeagent-")).resolve()
        # Pods get ServiceAccount tokens and Secret volumes below it: owner-only.
        private_dir(self.work_dir)
        self.heartbeat_seconds = heartbeat_seconds
        self.delete_node_on_stop = delete_node_on_stop
        config = KubeConfig.from_file(self.kubeconfig).get()
        if config is None:
            raise ValueError(f"{self.kubeconfig}: no current context")
        self.server: str = config.cluster.server
        self.ca_bytes = b""
        if config.cluster.certificate_auth:
            self.ca_bytes = Path(config.abs_file(config.cluster.certificate_auth)).read_bytes()
        elif config.cluster.certificate_auth_data:
            self.ca_bytes = base64.b64decode(config.cluster.certificate_auth_data)
        self._client: AsyncClient | None = None
        self._workers: dict[str, _PodWorker] = {}
        self._binding: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._ready_since: tuple[bool, str] | None = None

    # ------------------------------------------------------------------ public API

    @property
    def client(self) -> AsyncClient:
        assert self._client is not None, "the agent is not running"
        return self._client

    def pod_dir(self, namespace: str, name: str) -> Path:
        """Where a pod's files live: logs, termination messages, volumes, kubeconfig."""
        return self.work_dir / "pods" / namespace / name

    def allocatable(self) -> dict[str, str]:
        return {
            "cpu": str(os.cpu_count() or 1),
            "memory": f"{_memory_bytes() // 1024}Ki",
            "pods": "110",
            "ephemeral-storage": "100Gi",
        }

    def labels(self) -> dict[str, str]:
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        return {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch,
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": arch,
            "chronos.gluesync.io/node-agent": "true",
        }

    def start(self, timeout: float = 60.0) -> NodeAgent:
        """Run the agent in a daemon thread; returns once the node is registered and listed."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(
            target=self._thread_main, name=f"nodeagent-{self.node_name}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"node agent not ready within {timeout}s")
        if self._error is not None:
            self.stop()
            raise RuntimeError(f"node agent failed to start: {self._error}") from self._error
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread: kill the processes, report their pods, mark the node NotReady."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError("node agent thread did not stop")
            self._thread = None

    def request_stop(self) -> None:
        """Ask ``serve()`` to return (thread-safe)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)

    def __enter__(self) -> NodeAgent:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self.serve(on_ready=self._ready.set))
        except BaseException as exc:  # reported by start()
            self._error = exc
            log.exception("node agent stopped with an error")
        finally:
            self._ready.set()

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Run until ``request_stop()``; calls ``on_ready`` once the first pod list is done."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._client = kube.async_client(self.kubeconfig, field_manager=FIELD_MANAGER)
        listed = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._register_node()
            tasks = [
                asyncio.create_task(self._heartbeat_loop()),
                asyncio.create_task(self._watch_loop(listed)),
            ]
            stop_wait = asyncio.ensure_future(self._stop.wait())
            listed_wait = asyncio.ensure_future(listed.wait())
            await asyncio.wait(
                {stop_wait, listed_wait, *tasks}, return_when=asyncio.FIRST_COMPLETED
            )
            listed_wait.cancel()
            for t in tasks:
                if t.done():
                    t.result()  # a crashed loop: raise its error
            if listed.is_set():
                log.info("node agent ready: node %s, work dir %s", self.node_name, self.work_dir)
                if on_ready is not None:
                    on_ready()
            await asyncio.wait({stop_wait, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            for t in tasks:
                if t.done():
                    t.result()
        finally:
            await self._shutdown(tasks)

    # ------------------------------------------------------------------ the node

    def _node_status(self, ready: bool, reason: str, message: str) -> dict[str, Any]:
        now = _rfc3339(_now())
        if self._ready_since is None or self._ready_since[0] != ready:
            self._ready_since = (ready, now)
        since = self._ready_since[1]

        def condition(kind: str, status: str, why: str, text: str) -> dict[str, Any]:
            return {
                "type": kind,
                "status": status,
                "reason": why,
                "message": text,
                "lastHeartbeatTime": now,
                "lastTransitionTime": since,
            }

        uname = platform.uname()
        return {
            "capacity": self.allocatable(),
            "allocatable": self.allocatable(),
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
                condition("Ready", "True" if ready else "False", reason, message),
            ],
            "addresses": [
                {"type": "InternalIP", "address": POD_IP},
                {"type": "Hostname", "address": self.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, self.node_name).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.node_name)),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": uname.release,
                "osImage": f"chronos node agent on {uname.system}",
                "containerRuntimeVersion": "nodeagent://0.1.0",
                "kubeletVersion": "v1.33.13-chronos-nodeagent",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": self.labels()["kubernetes.io/arch"],
            },
        }

    async def _patch_node_status(self, ready: bool, reason: str, message: str) -> None:
        await self.client.patch(
            NodeStatus,
            self.node_name,
            {"status": self._node_status(ready, reason, message)},
            patch_type=PatchType.STRATEGIC,
        )

    async def _register_node(self) -> None:
        node = Node(metadata=ObjectMeta(name=self.node_name, labels=self.labels()))
        try:
            await self.client.create(node)
        except ApiError as exc:
            if exc.status.code != 409:
                raise
            await self.client.patch(
                Node,
                self.node_name,
                {"metadata": {"labels": self.labels()}, "spec": {"unschedulable": False}},
                patch_type=PatchType.MERGE,
            )
        await self._patch_node_status(True, "KubeletReady", "chronos node agent is posting ready")
        await self._renew_lease()

    async def _renew_lease(self) -> None:
        now = _now()
        spec = {
            "holderIdentity": self.node_name,
            "leaseDurationSeconds": 40,
            "renewTime": _micro(now),
        }
        try:
            await self.client.patch(
                Lease,
                self.node_name,
                {"spec": spec},
                namespace=NODE_LEASE_NAMESPACE,
                patch_type=PatchType.MERGE,
            )
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            node = await self.client.get(Node, self.node_name)
            assert node.metadata is not None
            lease = Lease(
                metadata=ObjectMeta(
                    name=self.node_name,
                    namespace=NODE_LEASE_NAMESPACE,
                    ownerReferences=[
                        OwnerReference(
                            apiVersion="v1",
                            kind="Node",
                            name=self.node_name,
                            uid=node.metadata.uid or "",
                        )
                    ],
                ),
                spec=LeaseSpec(
                    holderIdentity=self.node_name, leaseDurationSeconds=40, renewTime=now
                ),
            )
            await self.client.create(lease)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                try:
                    await self._patch_node_status(
                        True, "KubeletReady", "chronos node agent is posting ready"
                    )
                except ApiError as exc:
                    if exc.status.code != 404:
                        raise
                    await self._register_node()  # someone deleted the node
                await self._renew_lease()
            except (ApiError, HTTPError) as exc:
                log.warning("heartbeat failed: %s", exc)

    # ------------------------------------------------------------------ the pods

    async def _watch_loop(self, listed: asyncio.Event) -> None:
        labels = parse_selector(self.selector) if self.selector else None
        backoff = 0.5
        while True:
            try:
                listing = self.client.list(Pod, namespace=ALL_NS, labels=labels)
                seen: set[str] = set()
                async for pod in listing:
                    seen.add(pod.metadata.uid or "" if pod.metadata else "")
                    self._on_pod("ADDED", pod)
                for uid, worker in list(self._workers.items()):
                    if uid not in seen:
                        self._spawn(self._check_gone(worker))
                listed.set()
                backoff = 0.5
                async for kind, pod in self.client.watch(
                    Pod,
                    namespace=ALL_NS,
                    labels=labels,
                    resource_version=listing.resourceVersion,
                    server_timeout=240,
                ):
                    self._on_pod(kind, pod)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 (re-list after any watch failure)
                log.warning("pod watch failed, re-listing in %.1fs: %s", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _on_pod(self, kind: str, pod: Pod) -> None:
        meta, spec = pod.metadata, pod.spec
        if meta is None or spec is None or not meta.uid:
            return
        worker = self._workers.get(meta.uid)
        if kind == "DELETED":
            if worker is not None:
                worker.update(pod)
                # A label-selector watch also says DELETED when a pod stops matching.
                self._spawn(self._check_gone(worker))
            return
        if worker is not None:
            worker.update(pod)
        elif spec.nodeName == self.node_name:
            worker = _PodWorker(self, pod)
            self._workers[meta.uid] = worker
            worker.task = asyncio.create_task(self._run_worker(worker))
        elif not spec.nodeName and self._schedulable(pod) and meta.uid not in self._binding:
            self._binding.add(meta.uid)
            self._spawn(self._bind(pod))

    def _schedulable(self, pod: Pod) -> bool:
        spec = pod.spec
        assert spec is not None
        if _has_deletion(pod) or _phase(pod) != "Pending" or spec.schedulingGates:
            return False
        labels = self.labels()
        return all(labels.get(k) == v for k, v in (spec.nodeSelector or {}).items())

    async def _bind(self, pod: Pod) -> None:
        assert pod.metadata is not None
        name, namespace, uid = pod.metadata.name or "", pod.metadata.namespace, pod.metadata.uid
        binding = PodBinding(
            metadata=ObjectMeta(name=name, namespace=namespace, uid=uid),
            target=ObjectReference(apiVersion="v1", kind="Node", name=self.node_name),
        )
        try:
            with contextlib.suppress(msgspec.ValidationError):
                # lightkube 1.0 decodes the answer (a Status) as a Binding and fails; the
                # request itself succeeded (errors raise ApiError before decoding).
                await self.client.create(binding, name, namespace=namespace)
            log.info("pod %s/%s bound to %s", namespace, name, self.node_name)
        except ApiError as exc:
            log.info("pod %s/%s not bound: %s", namespace, name, exc)
        finally:
            self._binding.discard(uid or "")

    async def _check_gone(self, worker: _PodWorker) -> None:
        try:
            pod = await self.client.get(Pod, worker.name, namespace=worker.namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                worker.mark_gone()
            return
        if pod.metadata is None or pod.metadata.uid != worker.uid:
            worker.mark_gone()
        else:
            worker.update(pod)

    async def _run_worker(self, worker: _PodWorker) -> None:
        try:
            await worker.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 (the agent carries on with the other pods)
            log.debug("pod %s/%s: worker ended with an error", worker.namespace, worker.name)
        finally:
            self._workers.pop(worker.uid, None)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ stopping

    async def _shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        for t in tasks + list(self._background):
            t.cancel()
        workers = [w.task for w in self._workers.values() if w.task is not None]
        for w in workers:
            w.cancel()
        await asyncio.gather(*tasks, *self._background, *workers, return_exceptions=True)
        if self._client is not None:
            with contextlib.suppress(Exception):
                if self.delete_node_on_stop:
                    await self._delete_node()
                else:
                    await asyncio.wait_for(
                        self._patch_node_status(False, "KubeletNotReady", "node agent stopped"), 5
                    )
            with contextlib.suppress(Exception):
                await self._client.close()
        self._client = None

    async def _delete_node(self) -> None:
        with contextlib.suppress(ApiError):
            await self.client.delete(Lease, self.node_name, namespace=NODE_LEASE_NAMESPACE)
        with contextlib.suppress(ApiError):
            await self.client.delete(Node, self.node_name)


# ------------------------------------------------------------------ as a subprocess


@dataclass
class NodeAgentProcess:
    """The agent as a subprocess (``python -m chronos.devcluster.nodeagent``)."""

    kubeconfig: Path
    node_name: str = DEFAULT_NODE_NAME
    selector: str | None = DEFAULT_SELECTOR
    work_dir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="chronos-nodeagent-"))
    )
    heartbeat_seconds: float = 10.0
    delete_node_on_stop: bool = False
    proc: subprocess.Popen[str] | None = None

    @property
    def log_file(self) -> Path:
        return self.work_dir / "nodeagent.log"

    def pod_dir(self, namespace: str, name: str) -> Path:
        return self.work_dir.resolve() / "pods" / namespace / name

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "chronos.devcluster.nodeagent",
            "--kubeconfig",
            str(self.kubeconfig),
            "--node-name",
            self.node_name,
            "--selector",
            self.selector or "",
            "--work-dir",
            str(self.work_dir),
            "--heartbeat-seconds",
            str(self.heartbeat_seconds),
        ]
        return cmd + (["--delete-node-on-stop"] if self.delete_node_on_stop else [])

    def start(self, timeout: float = 60.0) -> NodeAgentProcess:
        """Start it and wait for its ready line; its log goes to ``log_file``."""
        private_dir(self.work_dir)
        with self.log_file.open("ab") as log_out:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=subprocess.PIPE,
                stderr=log_out,
                stdin=subprocess.DEVNULL,
                text=True,
            )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node agent exited: {self.log_file.read_text()[-3000:]}")
            readable, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if readable and READY_LINE in self.proc.stdout.readline():
                return self
        self.stop()
        raise TimeoutError(f"node agent not ready within {timeout}s")

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def __enter__(self) -> NodeAgentProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# ------------------------------------------------------------------ command line


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m chronos.devcluster.nodeagent",
        description="Test-only node agent: runs Chronos Job pods as local processes.",
    )
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--node-name", default=DEFAULT_NODE_NAME)
    parser.add_argument(
        "--selector",
        default=DEFAULT_SELECTOR,
        help="label selector of the pods to bind and run ('' for every pod)",
    )
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--heartbeat-seconds", type=float, default=10.0)
    parser.add_argument("--delete-node-on-stop", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request
    agent = NodeAgent(
        args.kubeconfig,
        node_name=args.node_name,
        selector=args.selector,
        work_dir=args.work_dir,
        heartbeat_seconds=args.heartbeat_seconds,
        delete_node_on_stop=args.delete_node_on_stop,
    )

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, agent.request_stop)

        def ready() -> None:
            print(f"{READY_LINE}: node {agent.node_name}, work dir {agent.work_dir}", flush=True)

        await agent.serve(on_ready=ready)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
