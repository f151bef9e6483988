"""Small helpers shared by the tests."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from lightkube import ApiError, AsyncClient, Client, KubeConfig, codecs
from lightkube.config.models import Cluster as KubeCluster
from lightkube.config.models import User
from lightkube.resources.batch_v1 import CronJob
from lightkube.types import PatchType
from pydantic import ValidationError

from chronos.kube import ChronosJobResource
from chronos.models import SpecRuleError

T = TypeVar("T")

#: The tests' folder and the repository's root, wherever a test module sits below them.
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def wait_for(check: Callable[[], T | None], timeout: float = 30, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")


def local_async_client(url: str) -> AsyncClient:
    """A lightkube client of ``url`` without credentials (a test's own HTTP server)."""
    config = KubeConfig.from_one(cluster=KubeCluster(server=url), user=User())
    return AsyncClient(config=config)


# ------------------------------------------- ChronosJobs on the control plane


def get_cr(k8s: Client, ns: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = k8s.get(ChronosJobResource, name, namespace=ns).to_dict()  # type: ignore[no-untyped-call]
    return obj


def patch_spec(k8s: Client, ns: str, name: str, change: dict[str, Any]) -> None:
    k8s.patch(ChronosJobResource, name, {"spec": change}, namespace=ns, patch_type=PatchType.MERGE)


def cronjob(k8s: Client, ns: str, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = k8s.get(CronJob, name, namespace=ns).to_dict()
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
    return obj


def ready(k8s: Client, ns: str, name: str, kind: str = "Ready") -> dict[str, Any] | None:
    status = get_cr(k8s, ns, name).get("status") or {}
    for cond in status.get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return None


def set_status(k8s: Client, namespace: str, job_id: str, status: dict[str, Any]) -> None:
    k8s.patch(
        ChronosJobResource.Status,
        job_id,
        {"status": status},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


def wait_to_clear_midnight(now: datetime, after: float, before: float) -> float:
    """Seconds to wait from ``now`` (aware, in the zone whose days count) until it is at
    least ``after`` seconds into its day and ``before`` seconds from its end; 0 if it is."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1)).replace(hour=0)
    since, left = now.timestamp() - start.timestamp(), end.timestamp() - now.timestamp()
    if left < before:
        return left + max(after, 0.5)
    return max(0.0, after - since)


def clear_of_midnight(zone: str, after: float = 90, before: float = 60) -> datetime:
    """Now in ``zone``, at least ``after`` seconds into the day there and ``before`` from
    its end (waiting past midnight when closer): a test that makes runs of the last
    ``after`` seconds, or of the next ``before``, and reads them back among "today's" holds
    at any hour, whatever zone the code under test counts days in."""
    while wait := wait_to_clear_midnight(datetime.now(ZoneInfo(zone)), after, before):
        time.sleep(wait)
    return datetime.now(ZoneInfo(zone))


def error_fields(exc: ValidationError) -> list[str]:
    """The field path each error names: its location, plus the field a cross-field rule
    (SpecRuleError, raised by the model it is on) names below that location."""
    paths = []
    for error in exc.errors():
        parts = [str(p) for p in error["loc"]]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, SpecRuleError):
            parts.append(cause.field)
        paths.append(".".join(parts))
    return paths


def schema_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("properties", {}).values():
        found.extend(schema_nodes(child))
    if "items" in node:
        found.extend(schema_nodes(node["items"]))
    return found


# ------------------------------------------------------------- admission refusals


def policy_refusal(action: Callable[[], Any]) -> str | None:
    """The API server's message when ``action`` is refused by a ValidatingAdmissionPolicy,
    else None; any other error is raised."""
    try:
        action()
    except ApiError as exc:
        if exc.status.code == 403 and "ValidatingAdmissionPolicy" in str(exc.status.message):
            return str(exc.status.message)
        raise
    return None


def dry_run_refusal(client: Client, obj: dict[str, Any]) -> str | None:
    """The message when the dry-run create of ``obj`` is refused (403), else None."""
    try:
        client.create(codecs.from_dict(obj), dry_run=True)
    except ApiError as exc:
        if exc.status.code != 403:
            raise
        return str(exc.status.message)
    return None


def annotate_refusal(
    k8s: Client, ns: str, name: str, annotations: dict[str, str | None]
) -> str | None:
    """The admission (403) or schema (422) message if annotating the ChronosJob is
    refused, else None."""
    try:
        k8s.patch(
            ChronosJobResource,
            name,
            {"metadata": {"annotations": annotations}},
            namespace=ns,
            patch_type=PatchType.MERGE,
        )
    except ApiError as exc:
        if exc.status.code not in (403, 422):
            raise
        return str(exc.status.message)
    return None


def pod_spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a CronJob or Job manifest."""
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


def load_bench(name: str) -> ModuleType:
    """``bench/<name>.py`` as a module (bench/ is no package), for unit tests of its pure
    parts."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module
