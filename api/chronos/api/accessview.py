"""The Your-access page's view: what the signed-in identity may do in each namespace,
from a SelfSubjectRulesReview made with its own token (``chronos.api.ui.access``).

Pure: the rules Kubernetes lists (``status.resourceRules``) are matched against what
each dashboard action needs (:data:`ACTIONS`, the same verbs the pages and the REST
routes ask SelfSubjectAccessReview about), so a user can see why a button is missing.
Kubernetes says a rules review may be incomplete (an authorizer that cannot list rules,
a webhook); the page says so, and the buttons still follow the access review.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chronos.models.chronosjob import GROUP, PLURAL


@dataclass(frozen=True)
class Need:
    """One right: ``verb`` on ``resource`` (``pods/log``: a subresource) of ``group``."""

    verb: str
    group: str
    resource: str

    def words(self) -> str:
        where = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {where}"


@dataclass(frozen=True)
class Action:
    key: str
    label: str
    needs: tuple[Need, ...]
    #: Where the dashboard offers it (said when the right is missing).
    where: str


def _jobs(verb: str) -> Need:
    return Need(verb, GROUP, PLURAL)


#: Every action the dashboard offers and the rights it needs, as the routes check them
#: (``pages.allowed``, the REST ``allowed(...)`` gates, ``RunService.active_run``, the
#: run page's log, the overview's pod metrics, admission's container rules).
ACTIONS: tuple[Action, ...] = (
    Action("view", "See jobs and their runs", (_jobs("list"), _jobs("get")), "every page"),
    Action("create", "Create a job", (_jobs("create"),), "“New job” on the jobs page"),
    Action("edit", "Edit a job", (_jobs("get"), _jobs("patch")), "“Edit” on the job page"),
    Action("run", "Run now", (_jobs("patch"),), "“Run now” on the job page"),
    Action(
        "suspend",
        "Enable / disable, suspend / resume",
        (_jobs("patch"),),
        "the toggles and bulk actions on the jobs page",
    ),
    Action(
        "abort",
        "Abort a running run",
        (_jobs("get"), Need("delete", "batch", "jobs")),
        "“Abort” on the overview, job and run pages",
    ),
    Action("delete", "Delete a job", (_jobs("delete"),), "“Delete” on the job page"),
    Action(
        "logs",
        "Read a run's live log",
        (Need("list", "", "pods"), Need("get", "", "pods/log")),
        "the run page (else the kept log tail)",
    ),
    Action(
        "metrics",
        "See CPU and memory of running runs",
        (Need("list", "metrics.k8s.io", "pods"),),
        "“Running now” on the overview",
    ),
    Action("events", "Read a job's Events", (Need("list", "", "events"),), "the job page's Events"),
    Action(
        "containers",
        "Create or change container jobs",
        (Need("create", "", "pods"),),
        "the job form (admission refuses a container task otherwise)",
    ),
    Action(
        "secrets",
        "Name Secrets in a job (credentials, container variables)",
        (Need("get", "", "secrets"),),
        "the job form (admission refuses a Secret you may not read)",
    ),
)


def _matches(values: Iterable[str] | None, wanted: str) -> bool:
    listed = list(values or [])
    return "*" in listed or wanted in listed


def _resource_matches(resources: Iterable[str] | None, wanted: str) -> bool:
    """``pods/log`` matches ``pods/log``, ``*/log``, ``*``; ``pods`` matches ``pods``, ``*``
    (RBAC's own rules: ``*`` alone covers subresources too)."""
    listed = list(resources or [])
    if "*" in listed or wanted in listed:
        return True
    sub = wanted.partition("/")[2]
    return bool(sub) and f"*/{sub}" in listed


def allows(rules: Iterable[dict[str, Any]], need: Need) -> bool:
    """Whether a rule of ``rules`` (``resourceRules`` of a rules review) grants ``need``
    on every object of its kind (a rule limited to ``resourceNames`` does not: the
    dashboard's actions are offered per job, not for named ones)."""
    return any(
        _matches(rule.get("verbs"), need.verb)
        and _matches(rule.get("apiGroups"), need.group)
        and _resource_matches(rule.get("resources"), need.resource)
        and not rule.get("resourceNames")
        for rule in rules
    )


@dataclass(frozen=True)
class Cell:
    allowed: bool
    #: The rights missing, in words (empty when allowed).
    missing: tuple[str, ...]


@dataclass(frozen=True)
class NamespaceAccess:
    namespace: str
    cells: tuple[Cell, ...]
    #: Kubernetes said the rules may be incomplete (its evaluation error, if any).
    incomplete: bool
    error: str


def namespace_access(namespace: str, status: dict[str, Any]) -> NamespaceAccess:
    """One namespace's row from the ``status`` of its SelfSubjectRulesReview."""
    rules = status.get("resourceRules") or []
    cells = []
    for action in ACTIONS:
        missing = tuple(n.words() for n in action.needs if not allows(rules, n))
        cells.append(Cell(not missing, missing))
    return NamespaceAccess(
        namespace,
        tuple(cells),
        bool(status.get("incomplete")),
        # Kubernetes' own words about its authorizers; bounded, shown as text.
        str(status.get("evaluationError") or "")[:300],
    )
