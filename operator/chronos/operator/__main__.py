"""``python -m chronos.operator``: run the Chronos operator.

Configuration comes from CHRONOS_* environment variables (docs/configuration.md); a
bad or unknown one stops the process at once with exit code 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path

import kopf
from lightkube import ConfigError

from chronos import kube, logs
from chronos.operator import handlers, metrics, probe
from chronos.operator.kubeio import FIELD_MANAGER
from chronos.operator.leader import Leadership, LeaseConfig
from chronos.operator.reconcile import OperatorContext
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
    prober = asyncio.create_task(
        probe.probe_loop(
            client, readiness, clusterwide=not settings.namespace_patterns, may_sync=may_sync
        )
    )
    identity = f"{socket.gethostname()}-{os.getpid()}"
    leadership = Leadership(
        client,
        LeaseConfig(
            name=settings.lease_name,
            namespace=_lease_namespace(settings),
            identity=identity,
            duration=settings.lease_duration_seconds,
            renew=settings.lease_renew_seconds,
        ),
    )
    if settings.leader_election:
        await leadership.acquire()
        metrics.LEADER.set(1)
        may_sync.clear()
        readiness.unsynced("leader: starting the watches")
    stop = asyncio.Event()
    started = asyncio.Event()
    keeper = asyncio.create_task(leadership.keep()) if settings.leader_election else None
    ctx = OperatorContext(client=client, settings=settings)
    operator = asyncio.create_task(
        kopf.operator(
            registry=handlers.registry,
            standalone=True,
            clusterwide=not settings.namespace_patterns,
            namespaces=settings.namespace_patterns,
            memo=kopf.Memo(ctx=ctx),
            stop_flag=stop,
            ready_flag=started,
        )
    )
    housekeeping = asyncio.create_task(handlers.housekeeping_loop(ctx, stop))
    watching = asyncio.create_task(_allow_sync_once(started, may_sync))
    signals = asyncio.create_task(_stop_on_signals(started, stop))
    lost = asyncio.create_task(leadership.lost.wait())
    await asyncio.wait({operator, lost}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if lost.done() and not operator.done():
        log.error("lost the leader lease; stopping so that only one replica acts")
        stop.set()
        code = 1
    with contextlib.suppress(asyncio.CancelledError):
        await operator
    stop.set()
    # Kopf cancels the loop's other tasks when it stops; that is a normal end for them.
    with contextlib.suppress(asyncio.CancelledError):
        await housekeeping
    for task in (keeper, lost, signals, watching, prober):
        if task:
            task.cancel()
    if settings.leader_election and code == 0:
        await leadership.release()
    metrics.LEADER.set(0)
    await server.cleanup()
    return code


async def _allow_sync_once(started: asyncio.Event, may_sync: asyncio.Event) -> None:
    # Kopf raises its ready flag once its startup handlers ran and its watchers started.
    await started.wait()
    may_sync.set()


async def _stop_on_signals(started: asyncio.Event, stop: asyncio.Event) -> None:
    """Make SIGTERM and SIGINT set ``stop``, once Kopf has started.

    Kopf installs its own handlers for them, and its signal path leaves the waiter on our
    stop flag and the housekeeping loop's wait running: Kopf then waits 5 s for those
    "hung" tasks before cancelling them, so every shutdown (`make down`, a rolling update)
    took over 5 s. Setting our flag instead ends all of them at once. The handlers are
    replaced after Kopf's ready flag, which it raises after installing its own.
    """
    await started.wait()
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread can have signal handlers (Kopf ignores them too)
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
