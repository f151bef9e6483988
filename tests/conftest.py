"""Shared fixtures. The control plane is real and started once per test session.

Tests marked ``cluster`` need it. If it cannot be built or started the session errors
out: nothing is skipped, in CI or elsewhere.
"""

from __future__ import annotations

import ast
import itertools
import os
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from chronos import kube
from chronos.devcluster.cluster import Cluster
from chronos.devcluster.install import install_crd

# Fixture modules of the components, one per line.
pytest_plugins: list[str] = [
    "fixtures_corehub",
    "fixtures_api",
    "fixtures_operator",
    "fixtures_ui",  # after fixtures_operator, which it imports
    "fixtures_browser",
    "fixtures_images",
    "fixtures_deploy",
    "realnode.fixtures",
]


TESTS = Path(__file__).resolve().parent

#: The folders of tests/ in the order they run (tests/README.md says what goes where).
FOLDERS = ("realnode", "cluster", "unit")
#: Modules (paths under tests/) that run first: `make up` and `make down`, whose `down` stops
#: the Docker engine when nothing else runs in it, before the session's kind cluster
#: (realnode/fixtures.py) and the image tests start it for the rest of the session.
RUNS_FIRST = ("realnode/test_devcluster_up.py",)


#: Markers of test modules that use the machine's one real node or its Docker engine.
NODE_MARKS = {"realnode", "images"}

#: Fixtures that start the control plane or build its Go tools (helm).
CLUSTER_FIXTURES = {"cluster", "helm"}


def module_marks(path: Path) -> set[str]:
    """The markers a test module puts on every test (``pytestmark = pytest.mark.X`` or a
    list of them), read from its source without importing it."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return {
                n.attr
                for n in ast.walk(node.value)
                if isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Attribute)
                and n.value.attr == "mark"
            }
    return set()


def mark_names(markexpr: str) -> set[str] | None:
    """The marker names a ``-m`` expression uses, or None when it is more than names
    joined by ``and``/``or``/``not`` and parentheses (pytest's parser is private, and such
    an expression only costs the shortcut below, never a test)."""
    try:
        tree = ast.parse(markexpr, mode="eval")
    except SyntaxError:
        return None
    names: set[str] = set()
    for node in ast.walk(tree.body):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif not isinstance(node, ast.BoolOp | ast.UnaryOp | ast.boolop | ast.Not | ast.Load):
            return None  # a call (marker keywords), a constant, another operator...
    return names


def _holds(node: ast.expr, present: set[str]) -> bool:
    """The value of a ``-m`` expression (as checked by :func:`mark_names`) for a test
    carrying the markers ``present``."""
    if isinstance(node, ast.Name):
        return node.id in present
    if isinstance(node, ast.UnaryOp):
        return not _holds(node.operand, present)
    assert isinstance(node, ast.BoolOp)
    values = (_holds(v, present) for v in node.values)
    return all(values) if isinstance(node.op, ast.And) else any(values)


def deselects_all(markexpr: str, marks: set[str]) -> bool:
    """Whether ``-m markexpr`` surely deselects every test that carries ``marks``, whatever
    other markers a test adds: false for every choice of the other names the expression
    uses. False too for an expression beyond :func:`mark_names` (the module is collected)."""
    names = mark_names(markexpr)
    if names is None:
        return False
    body = ast.parse(markexpr, mode="eval").body
    others = sorted(names - marks)
    for present in itertools.product((False, True), repeat=len(others)):
        extra = {name for name, on in zip(others, present, strict=True) if on}
        if _holds(body, marks | extra):
            return False
    return True


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``-m``, a test module whose every test would be deselected is not imported:
    `make test-unit` (``-m "not cluster"``) skips the import and collection cost of the
    control-plane modules in each xdist worker (the schemathesis module alone builds its
    cases at collection, about 3 s)."""
    markexpr = config.getoption("markexpr")
    if not markexpr or collection_path.suffix != ".py":
        return None
    if not collection_path.name.startswith("test_"):
        return None
    marks = module_marks(collection_path)
    return True if marks and deselects_all(markexpr, marks) else None


def xdist_scope(nodeid: str) -> str:
    """The work unit of ``make test``'s xdist run a test belongs to: the tests of the real
    node (one per machine) and of the Docker engine share one worker, in collection order
    (RUNS_FIRST first); every other module is a unit of its own, its fixtures set up once
    (as with ``--dist loadfile``)."""
    module = nodeid.split("::", 1)[0]
    return "node" if _module_marks(module) & NODE_MARKS else module


@cache
def _module_marks(module: str) -> frozenset[str]:
    return frozenset(module_marks(TESTS.parent / module))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    # (pytest-xdist's own `loadgroup` reads markers through a node id that pytest 9 no
    # longer stores, and groups nothing.)
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class NodeApart(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return NodeApart(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """RUNS_FIRST runs first, then the FOLDERS in order. A test that uses the control plane
    or a Go-built tool must say so with the ``cluster`` marker, so that ``make test-unit``
    (``-m "not cluster"``) never needs Go or starts a control plane: checked here, at
    collection, rather than
    discovered as a slow or failing unit run."""
    order = {name: i for i, name in enumerate(RUNS_FIRST)}

    def place(item: pytest.Item) -> tuple[int, int]:
        path = item.path
        if not path.is_relative_to(TESTS):
            return len(order), len(FOLDERS)
        relative = path.relative_to(TESTS)
        folder = relative.parts[0]
        return (
            order.get(relative.as_posix(), len(order)),
            FOLDERS.index(folder) if folder in FOLDERS else len(FOLDERS),
        )

    items.sort(key=place)  # stable otherwise
    unmarked = [
        item.nodeid
        for item in items
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("cluster") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use the control plane without the `cluster` marker: " + ", ".join(unmarked)
        )


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    existing = os.environ.get("CHRONOS_TEST_KUBECONFIG_DIR")
    if existing:
        # Reuse a running `python -m chronos.devcluster up` (faster local iterations).
        yield Cluster(Path(existing))
        return
    c = Cluster(tmp_path_factory.mktemp("devcluster"))
    try:
        c.start()
        # With the admission policies, holding the test operator's CoreHub settings.
        # (Imported here: fixtures_operator is a plugin, loaded after this module.)
        from fixtures_operator import COREHUB_SETTINGS

        install_crd(c, operator_settings=COREHUB_SETTINGS)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def k8s(cluster: Cluster) -> Client:
    return kube.client(cluster.kubeconfig)


@pytest.fixture
def namespace(k8s: Client) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    k8s.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    k8s.delete(Namespace, name)
