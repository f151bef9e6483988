"""The plugin's API-server I/O, as the person running it (their kubeconfig and context).

Every call names the verb, the resource and the namespace it needs, so an RBAC denial is
told as exactly that (``views.forbidden``) rather than the API server's raw answer or a
stack trace; a missing ChronosJob comes with the close names the person may list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from lightkube import ALL_NS, ApiError, Client
from lightkube.operators import not_equal, not_exists
from lightkube.resources.authentication_v1 import SelfSubjectReview
from lightkube.resources.batch_v1 import Job as BatchJob
from lightkube.resources.core_v1 import ConfigMap, Pod
from lightkube.types import PatchType

from chronos import contract, kube
from chronos.kubectl import views
from chronos.kubectl.errors import CliError
from chronos.models.activity import attribution

T = TypeVar("T")

JOBS = "chronosjobs"
CALENDARS = "chronoscalendars"
#: The field manager of the plugin's writes (managedFields show who changed what).
FIELD_MANAGER = "kubectl-chronos"
#: The label the Job controller puts on a Job's pods (the run id is the Job's name).
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def _dict(obj: Any) -> dict[str, Any]:
    found: dict[str, Any] = obj.to_dict()
    return found


@dataclass
class Session:
    """A client with the person's credentials and the namespace their context names."""

    client: Client
    namespace: str
    #: Who the kubeconfig says the person is (the context's user), for messages.
    user: str | None = None

    def call(self, verb: str, resource: str, namespace: str | None, action: Callable[[], T]) -> T:
        """``action``'s answer; a 401/403 becomes a CliError naming ``verb`` on
        ``resource`` ``namespace`` (None: all namespaces)."""
        try:
            return action()
        except ApiError as exc:
            if kube.answered(exc, kube.FORBIDDEN):
                raise CliError(views.forbidden(verb, resource, namespace)) from None
            if kube.answered(exc, kube.UNAUTHORIZED):
                raise CliError(
                    "the API server did not accept your credentials (401): log in again "
                    "or check the kubeconfig's user"
                ) from None
            raise

    # ----------------------------------------------------------------- ChronosJobs

    def list_jobs(self, namespace: str | None, labels: str | None = None) -> list[dict[str, Any]]:
        found = self.call(
            "list",
            JOBS,
            namespace,
            lambda: list(
                self.client.list(
                    kube.ChronosJobResource,
                    namespace=ALL_NS if namespace is None else namespace,
                    labels=_selector(labels),
                )
            ),
        )
        objs = [_dict(o) for o in found]
        return sorted(objs, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))

    def get_job(self, namespace: str, name: str) -> dict[str, Any]:
        """The ChronosJob; a missing one is a CliError naming the close names (when the
        person may list the namespace's jobs)."""
        try:
            return self.call(
                "get",
                JOBS,
                namespace,
                lambda: _dict(self.client.get(kube.ChronosJobResource, name, namespace=namespace)),
            )
        except ApiError as exc:
            if not kube.answered(exc, kube.NOT_FOUND):
                raise
        try:
            names = [o["metadata"]["name"] for o in self.list_jobs(namespace)]
        except CliError:
            names = []  # may get but not list: no suggestions, still a clear error
        raise CliError(views.not_found(name, namespace, views.close_names(name, names)))

    @cached_property
    def username(self) -> str | None:
        """The person's user name as the API server knows their credentials (a
        SelfSubjectReview, asked once); None where it cannot say."""
        try:
            review = self.client.create(SelfSubjectReview())
        except ApiError:
            return None
        info = review.status.userInfo if review.status else None
        return info.username if info is not None and info.username else None

    def patch_job(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any] | None:
        """A merge patch of the ChronosJob, credited to the person in the activity ledger
        (the attribution annotations, which admission accepts only with their own name);
        None when a resourceVersion in ``patch`` is stale (read again, compute again)."""
        if self.username is not None:
            meta = patch.get("metadata") or {}
            annotations = {
                **(meta.get("annotations") or {}),
                **attribution(self.username, datetime.now(UTC)),
            }
            patch = {**patch, "metadata": {**meta, "annotations": annotations}}
        try:
            return self.call(
                "patch",
                JOBS,
                namespace,
                lambda: _dict(
                    self.client.patch(
                        kube.ChronosJobResource,
                        name,
                        patch,
                        namespace=namespace,
                        patch_type=PatchType.MERGE,
                    )
                ),
            )
        except ApiError as exc:
            if kube.answered(exc, kube.CONFLICT):
                return None
            raise

    def get_calendar(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.call(
                "get",
                CALENDARS,
                namespace,
                lambda: _dict(
                    self.client.get(kube.ChronosCalendarResource, name, namespace=namespace)
                ),
            )
        except ApiError as exc:
            if kube.answered(exc, kube.NOT_FOUND):
                return None
            raise

    def config_map_value(self, namespace: str, name: str, key: str) -> str | None:
        try:
            found = self.call(
                "get",
                "configmaps",
                namespace,
                lambda: self.client.get(ConfigMap, name, namespace=namespace),
            )
        except ApiError as exc:
            if kube.answered(exc, kube.NOT_FOUND):
                return None
            raise
        return (found.data or {}).get(key)

    # ----------------------------------------------------------------- runs

    def run_jobs(self, namespace: str, chronosjob: str) -> list[dict[str, Any]]:
        """The batch Jobs (runs) of ``chronosjob``, by the annotation with its full name."""
        found = self.call(
            "list",
            "jobs.batch",
            namespace,
            lambda: list(
                self.client.list(BatchJob, namespace=namespace, labels={contract.JOB_LABEL: None})
            ),
        )
        jobs = [_dict(j) for j in found]
        return [
            j
            for j in jobs
            if (j["metadata"].get("annotations") or {}).get(contract.CHRONOSJOB_ANNOTATION)
            == chronosjob
        ]

    def pods_of(self, namespace: str, run: str) -> list[dict[str, Any]]:
        """The pods of run ``run`` (its Job's name), oldest first."""
        found = self.call(
            "list",
            "pods",
            namespace,
            lambda: list(self.client.list(Pod, namespace=namespace, labels={JOB_NAME_LABEL: run})),
        )
        pods = [_dict(p) for p in found]
        return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    def log(self, namespace: str, pod: str, container: str | None, follow: bool) -> Iterator[str]:
        lines = self.call(
            "get",
            "pods/log",
            namespace,
            lambda: self.client.log(pod, namespace=namespace, container=container, follow=follow),
        )
        # lightkube reads lazily: the first line is where an error answer shows.
        iterator = iter(lines)
        yield from self.call("get", "pods/log", namespace, lambda: _prefetch(iterator))


def _prefetch(lines: Iterator[str]) -> Iterator[str]:
    first = next(lines, None)

    def rest() -> Iterator[str]:
        if first is not None:
            yield first
        yield from lines

    return rest()


def _selector(labels: str | None) -> dict[str, Any] | None:
    """A ``-l`` selector (``a=b,c!=d,e,!f``) as lightkube's labels argument (set-based
    ``in (...)`` is not supported: a CliError says so)."""
    if not labels:
        return None
    result: dict[str, Any] = {}
    if "(" in labels:
        raise CliError("-l: use key=value, key!=value, key or !key (comma-separated)")
    for part in labels.split(","):
        part = part.strip()
        if "!=" in part:
            key, value = part.split("!=", 1)
            result[key.strip()] = not_equal(value.strip())
        elif "==" in part or "=" in part:
            key, value = part.replace("==", "=").split("=", 1)
            result[key.strip()] = value.strip()
        elif part.startswith("!"):
            result[part[1:].strip()] = not_exists()
        elif part:
            result[part] = None
    return result


def connect(kubeconfig: Path | None, context: str | None, namespace: str | None) -> Session:
    """A session from the person's kubeconfig (``kube.user_config``: kubectl's order)."""
    config = kube.user_config(kubeconfig, context)
    client = kube.user_client(config, FIELD_MANAGER)
    user = config.context.user if config.context else None
    return Session(client, namespace or config.namespace or "default", user)
