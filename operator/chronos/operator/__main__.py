"""``python -m chronos.operator``: run the Chronos operator.

Configuration comes from CHRONOS_* environment variables (docs/configuration.md); a
bad or unknown one stops the process at once with exit code 2.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from lightkube import AsyncClient, ConfigError

from chronos import kube, logs
from chronos.informer import Scope, WatchHealth
from chronos.models.figures import figures_config_map
from chronos.operator import activity, controller, figures, metrics, probe
from chronos.operator.context import OperatorContext
from chronos.operator.kubeio import FIELD_MANAGER
from chronos.operator.leader import Leadership, LeaseConfig
from chronos.operator.settings import OperatorSettings
from chronos.readiness import Readiness
from chronos.settings import SettingsError

log = logging.getLogger("chronos.operator")
SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _lease_namespace(settings: OperatorSettings) -> str:
    if settings.lease_namespace:
        return settings.lease_namespace
    return SA_NAMESPACE.read_text().strip() if SA_NAMESPACE.exists() else "default"


async def run(settings: OperatorSettings) -> int:
    readiness = Readiness(grace=settings.ready_grace_seconds)
    health = metrics.Health(readiness)
    server = await health.serve(settings.health_host, settings.health_port)
    client = kube.async_client(field_manager=FIELD_MANAGER)
    # A standby is ready while it reaches the API server (a rolling update waits for
    # it); the leader once its watches run, too.
    may_sync = asyncio.Event()
    if settings.leader_election:
        may_sync.set()
    scope = Scope(settings.namespaces)
    probed = scope.names[0] if scope.names else None
    watches = WatchHealth()
    prober = asyncio.create_task(
        probe.probe_loop(
            client, readiness, namespace=probed, may_sync=may_sync, watch_problem=watches.problem
        )
    )
    identity = f"{socket.gethostname()}-{os.getpid()}"
    lease_namespace = _lease_namespace(settings)
    leadership = Leadership(
        client,
        LeaseConfig(
            name=settings.lease_name,
            namespace=lease_namespace,
            identity=identity,
            duration=settings.lease_duration_seconds,
            renew=settings.lease_renew_seconds,
        ),
    )
    # Issue 22: every replica, standby or leader, publishes its figures for the
    # dashboard's Cluster page beside the Lease.
    own_figures = figures.Figures(identity, socket.gethostname())
    publisher = asyncio.create_task(
        figures.publish(
            client, lease_namespace, figures_config_map(settings.lease_name), own_figures
        )
    )
    stop = asyncio.Event()
    _stop_on_signals(stop)
    if settings.leader_election:
        # A standby stops cleanly too (SIGTERM while it waits for the lease, as in a
        # rolling update): its figures go from the Cluster page at once.
        acquiring = asyncio.create_task(leadership.acquire())
        waiting = asyncio.create_task(stop.wait())
        await asyncio.wait({acquiring, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if not acquiring.done():
            acquiring.cancel()
            await _close(server, client, acquiring, prober, publisher)
            return 0
        metrics.LEADER.set(1)
        may_sync.clear()
        readiness.unsynced("leader: starting the watches")
    own_figures.leading(datetime.now(UTC))
    keeper = asyncio.create_task(leadership.keep()) if settings.leader_election else None
    # Issue 22: the activity ledger of the Lease's namespace names the change (beside the
    # work and the renewals, never delaying either).
    recorded = (
        asyncio.create_task(
            activity.leader_changed(client, lease_namespace, leadership.previous, identity)
        )
        if settings.leader_election
        else None
    )
    ctx = OperatorContext(client=client, settings=settings, figures=own_figures)
    # may_sync: the prober reports ready only once the watches have listed.
    working = asyncio.create_task(controller.run(ctx, scope, may_sync, watches))
    stopping = asyncio.create_task(stop.wait())
    lost = asyncio.create_task(leadership.lost.wait())
    await asyncio.wait({working, stopping, lost}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if lost.done():
        log.error("lost the leader lease; stopping so that only one replica acts")
        code = 1
        own_figures.withdraw = False
    elif working.done() and not working.cancelled() and working.exception():
        log.error("the controller stopped", exc_info=working.exception())
        code = 1
    own_figures.leading(None)
    for task in (working, stopping, keeper, lost, prober, publisher, recorded):
        if task:
            task.cancel()
    await asyncio.gather(working, publisher, return_exceptions=True)
    if settings.leader_election and code == 0:
        await leadership.release()
    metrics.LEADER.set(0)
    await _close(server, client)
    return code


async def _close(server: asyncio.Server, client: AsyncClient, *tasks: asyncio.Task[None]) -> None:
    """Cancel ``tasks`` and wait for them (the figures publisher removes its entry),
    then close the health server and the client."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    server.close()
    await server.wait_closed()
    await client.close()


def _stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT end the process cleanly (the lease released for a standby)."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread can have signal handlers
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _request_stop, stop, sig)


def _request_stop(stop: asyncio.Event, sig: signal.Signals) -> None:
    log.info("%s received: stopping", sig.name)
    stop.set()


def main() -> None:
    logs.configure()
    try:
        settings = OperatorSettings.from_env()
    except SettingsError as exc:
        print(f"chronos-operator: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    log.info(
        "starting",
        extra={
            "namespaces": settings.namespaces or "all",
            "default_time_zone": settings.default_time_zone,
            "runner_image": settings.runner_image,
        },
    )
    try:
        sys.exit(asyncio.run(run(settings)))
    except ConfigError as exc:
        print(f"chronos-operator: cannot reach Kubernetes: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
