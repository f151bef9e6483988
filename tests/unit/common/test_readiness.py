"""Readiness means ready (chronos.readiness, without a cluster): not ready until synced
with the API server, failures tolerated for a grace period, and the shipped probes ask the
endpoints the components serve. /readyz following a real API server connection:
tests/cluster/test_readiness.py."""

from __future__ import annotations

import yaml
from support import ROOT

from chronos.readiness import Readiness


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_not_ready_until_synced() -> None:
    r = Readiness(grace=5, clock=Clock())
    assert r.state() == (False, "not synced with the API server yet")
    r.synced()
    assert r.state() == (True, "ok")


def test_failures_within_the_grace_keep_it_ready_then_not_then_a_success_restores() -> None:
    clock = Clock()
    r = Readiness(grace=5, clock=clock)
    r.synced()
    r.failed("API server unreachable: ConnectError")
    clock.now += 4.9
    r.failed("API server unreachable: ConnectError")  # a later failure does not restart it
    assert r.state()[0] is True
    clock.now += 0.1
    ready, why = r.state()
    assert ready is False
    assert why == "API server unreachable: ConnectError (for 5 s)"
    r.synced()
    assert r.state() == (True, "ok")


def test_unsynced_is_not_ready_even_when_the_api_server_answers() -> None:
    r = Readiness(grace=5, clock=Clock())
    r.synced()
    r.unsynced("leader: starting the watches")
    assert r.state() == (False, "leader: starting the watches")


def test_the_shipped_probes_use_these_endpoints() -> None:
    """Kubernetes asks /readyz for readiness and /healthz for liveness, in the chart and
    in the kustomize base alike."""
    for path in (
        "charts/chronos/templates/operator-deployment.yaml",
        "charts/chronos/templates/api-deployment.yaml",
    ):
        text = (ROOT / path).read_text()
        assert "readinessProbe:\n            httpGet: {path: /readyz" in text, path
        assert "livenessProbe:\n            httpGet: {path: /healthz" in text, path
    for path in ("deploy/base/operator.yaml", "deploy/base/api.yaml"):
        deployment = next(
            d for d in yaml.safe_load_all((ROOT / path).read_text()) if d["kind"] == "Deployment"
        )
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", path
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", path
