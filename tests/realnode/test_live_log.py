"""The run page's live log from a REAL runner pod (kubelet + containerd): the lines
arrive over SSE while the run is in progress, then the ``end`` event; a reconnect with
Last-Event-ID resumes after the last line it had; once the run is over the page shows
the pod's complete log, and the tail kept with the run matches it.

Also records how long a line takes from the runner (the container runtime's timestamp
of the line) to the SSE reader: printed, and written to $CHRONOS_LIVE_LOG_LATENCY_OUT
when set (docs/performance.md quotes it; nothing is asserted about speed here)."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from builders import allow, grant
from fixtures_api import ApiServer, sa_token
from fixtures_ui import signed_in
from lightkube import Client
from lightkube.models.rbac_v1 import PolicyRule
from support import get_cr, wait_for

from chronos import http
from chronos.api.runlog import raw_text
from chronos.devcluster.operator_process import OperatorProcess
from chronos.fakehub import FakeCoreHub, FakeHubControl
from realnode.fixtures import request_run_now

pytestmark = [pytest.mark.cluster, pytest.mark.realnode]


@dataclass
class Event:
    name: str
    data: str
    id: str | None
    received: float  # time.time() when it arrived


def read_events(answer: http.Response) -> Iterator[Event]:
    """The Server-Sent Events of a streamed answer, as they arrive (a ``line`` event's
    data: the log line as logged)."""
    name, event_id = "message", None
    data: list[str] = []
    for line in answer.iter_lines():
        if line == "":
            if data:
                text = "\n".join(data)
                # a line event holds the line as the page shows it; the log's own line
                # is in it, as logged (tests/unit/api/test_runlog_lines.py)
                text = raw_text(text) if name == "line" else text
                yield Event(name, text, event_id, time.time())
            name, data, event_id = "message", [], None
        elif line.startswith(":") or line.startswith("retry:"):
            continue
        else:
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value


def stamp_of(event: Event) -> float:
    assert event.id is not None
    text = event.id.split("#")[0].removesuffix("Z")
    whole, _, fraction = text.partition(".")
    base = datetime.fromisoformat(whole + "+00:00").timestamp()
    return base + (float(f"0.{fraction}") if fraction else 0.0)


def test_a_running_run_s_log_arrives_live_then_ends(
    operator: OperatorProcess,
    fakehub_server: FakeCoreHub,
    fakehub: FakeHubControl,
    k8s: Client,
    runner_rbac: str,
    node_api_server: ApiServer,
) -> None:
    ns = runner_rbac
    grant(k8s, ns, "reader", ("get", "list", "watch"), role="chronos-viewer")
    allow(k8s, ns, "reader", PolicyRule(apiGroups=[""], resources=["pods"], verbs=["list"]))
    allow(k8s, ns, "reader", PolicyRule(apiGroups=[""], resources=["pods/log"], verbs=["get"]))
    token = sa_token(k8s, ns, "reader")
    # Each entity takes 4 s to become active: the runner logs its steps over ~8 s.
    fakehub.configure(delays={"activate": 4.0, "stop": 0.05, "snapshot": 0.2})
    task = {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1", "e2"]}
    request_run_now(k8s, ns, "live", fakehub_server.url, task)
    runs = wait_for(
        lambda: (get_cr(k8s, ns, "live").get("status") or {}).get("activeRuns"), 60, "the run"
    )
    run = runs[0]
    url = f"/ui/jobs/{ns}/live/runs/{run}"

    with signed_in(node_api_server, token) as client:

        def live_page() -> str | None:
            text = client.get(url).text
            return text if "Source: <strong>live from pod" in text else None

        wait_for(live_page, 60, "the run's pod to start")
        events: list[Event] = []
        in_progress: list[str] = []
        deadline = time.monotonic() + 120
        # As a browser's EventSource does: a stream that closes without "end" is opened
        # again with the last id it had.
        while not (events and events[-1].name in ("end", "unavailable")):
            assert time.monotonic() < deadline, events[-3:]
            ids = [e.id for e in events if e.id]
            headers = {"Last-Event-ID": ids[-1]} if ids else {}
            if events:
                time.sleep(0.5)  # the retry time, shortened
            with client.stream("GET", f"{url}/log/events", headers=headers, timeout=120) as answer:
                assert answer.status_code == 200
                for event in read_events(answer):
                    events.append(event)
                    if event.name == "line" and '"step": "wait"' in event.data:
                        # The run is not over: the runner has not written its record yet.
                        status = get_cr(k8s, ns, "live").get("status") or {}
                        if (status.get("lastRun") or {}).get("runId") != run:
                            in_progress.append(event.data)
        lines = [e for e in events if e.name == "line"]
        assert events[-1].name == "end", events[-3:]
        assert events[-1].data == "Completed"
        steps = [json.loads(e.data)["step"] for e in lines]
        assert steps[0] == "start"
        assert "result" in steps
        assert in_progress, "no line arrived while the run was in progress"
        # the lines came as they were written, not all at the end
        assert events[-1].received - lines[0].received > 3, [e.received for e in events]
        line_ids = [e.id for e in lines]
        assert len(set(line_ids)) == len(line_ids)

        # a reconnect with Last-Event-ID resumes after the line it names, then ends
        with client.stream(
            "GET", f"{url}/log/events", headers={"Last-Event-ID": str(lines[2].id)}
        ) as answer:
            again = list(read_events(answer))
        assert [e.data for e in again if e.name == "line"] == [e.data for e in lines[3:]]
        assert again[-1].name == "end"

        last = wait_for(
            lambda: (get_cr(k8s, ns, "live").get("status") or {}).get("lastRun"), 60, "the record"
        )
        assert last["runId"] == run

        def finished_page() -> str | None:
            # once the operator no longer lists the run as active (and the cache has it)
            text = client.get(url).text
            return text if '<p class="banner ok" role="status">' in text else None

        page = wait_for(finished_page, 60, "the run page to show the run succeeded")
        assert "(complete: its container has ended)" in page
        # the tail kept with the run is the log up to the result line
        tail = last["logTail"].splitlines()
        assert [e.data for e in lines][: len(tail)] == tail

    latencies = sorted((e.received - stamp_of(e)) * 1000 for e in lines)
    figure = {
        "lines": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
    }
    print(f"live log latency (runner line -> SSE reader): {figure}")
    out = os.environ.get("CHRONOS_LIVE_LOG_LATENCY_OUT")
    if out:
        Path(out).write_text(json.dumps(figure))
