"""Live-log latency of the run page: a line written in a pod on a kind node → the same
line received over the dashboard's SSE stream (``/ui/jobs/…/runs/{run}/log/events``).

Creates a kind cluster of its own (``kindcluster.scratch``, the node image built here;
needs root and the real-node lock), builds the runner image if needed and loads it with
``kind load``, then runs a pod of the runner image labelled as the run's pod
(``batch.kubernetes.io/job-name``) that prints ``--lines`` lines, one every
``--interval`` seconds, each carrying the time it was written. Three readers follow it
at the same time: the facade's SSE stream (served by ``bench/api_list.py --serve ours``,
auth off: one identity and access check per stream, none per line); the run page itself
in Debian's chromium (Playwright), where a MutationObserver notes when each line is
added to the page (what a reader sees: SSE, ``EventSource`` and the page's script); and,
as the baseline, the API server's own ``pods/{pod}/log?follow=true`` read directly.
Prints p50 and p99 of each and what the facade and the page add.

    flock /tmp/realnode.lock .venv/bin/python bench/live_log.py [--lines 400]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from api_list import quantile, start, stop
from lightkube.resources.core_v1 import Pod

from chronos import http, kube
from chronos.api.runlog import JOB_NAME_LABEL, raw_text
from chronos.devcluster import kindcluster
from chronos.devcluster.cluster import free_port
from chronos.devcluster.images import build_all, ensure_tools, image_tag, start_engine
from chronos.devcluster.screenshots import CHROMIUM, FLAGS
from chronos.devcluster.system import KindTarget

RUN = "bench-run"
#: The pod waits this long before writing, so both readers are following by then.
SETTLE_SECONDS = 5.0


def writer(lines: int, interval: float) -> str:
    return (
        "import time\n"
        f"time.sleep({SETTLE_SECONDS})\n"
        f"for i in range({lines}):\n"
        "    print(f'{time.time():.6f} line {i}', flush=True)\n"
        f"    time.sleep({interval})\n"
    )


def pod(ns: str, image: str, script: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{RUN}-p", "namespace": ns, "labels": {JOB_NAME_LABEL: RUN}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["127.0.0.1"]},
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532},
            "containers": [
                {
                    "name": "runner",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", script],
                }
            ],
        },
    }


def latency(text: str, received: float, out: list[float]) -> None:
    written = float(text.split(" ", 1)[0])
    out.append(received - written)


def follow_sse(url: str, out: list[float], done: threading.Event) -> None:
    with http.Client(timeout=http.Timeout(10.0, read=None)) as client:
        while not done.is_set():
            with client.stream("GET", url) as answer:
                event = ""
                for line in answer.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "line":
                        latency(raw_text(line[6:]), time.time(), out)
                    elif line.startswith("data: ") and event == "end":
                        done.set()
                        return
            time.sleep(0.5)  # "waiting": the pod has not started yet


#: Notes, for each log line added to the run page, the seconds since it was written.
OBSERVE = """
window.latencies = [];
new MutationObserver((changes) => {
  const now = (performance.timeOrigin + performance.now()) / 1000;
  for (const change of changes)
    for (const node of change.addedNodes)
      if (node.classList && node.classList.contains("line") && node.parentElement.id === "log")
        window.latencies.push(now - parseFloat(node.textContent));
}).observe(document, { childList: true, subtree: true });
"""


def follow_browser(url: str, out: list[float], done: threading.Event) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(bypass_csp=True)  # lets Playwright evaluate its checks
            page.add_init_script(OBSERVE)
            page.goto(url)
            # The page is made before the pod runs: it follows once the pod starts.
            page.wait_for_function(
                "document.getElementById('log-state')?.textContent.includes('ended')",
                timeout=180_000,
            )
            out.extend(float(x) for x in page.evaluate("window.latencies"))
        finally:
            browser.close()
    done.set()


def follow_api(cluster: KindTarget, ns: str, out: list[float], done: threading.Event) -> None:
    client = kube.client(cluster.kubeconfig)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = client.get(Pod, f"{RUN}-p", namespace=ns).status
        if status is not None and status.phase == "Running":
            break
        time.sleep(0.1)
    for line in client.log(f"{RUN}-p", namespace=ns, follow=True, newlines=False):
        latency(line, time.time(), out)
    done.set()


def summary(label: str, values: list[float]) -> tuple[float, float]:
    p50, p99 = quantile(values, 0.5) * 1000, quantile(values, 0.99) * 1000
    print(f"{label:28s} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  (n={len(values)})", flush=True)
    return p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=400)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()

    ensure_tools()
    engine = start_engine()
    procs = []
    try:
        build_all(engine, components=("runner",))
        image = image_tag("runner")
        with (
            tempfile.TemporaryDirectory(prefix="bench-live-log-") as tmp,
            kindcluster.scratch(engine, Path(tmp), image) as made,
        ):
            cluster = made.target
            try:
                ns = "bench-live-log"
                cluster.kubectl("create", "namespace", ns)
                job = {
                    "apiVersion": "chronos.gluesync.io/v1alpha1",
                    "kind": "ChronosJob",
                    "metadata": {"name": "bench", "namespace": ns},
                    "spec": {
                        "task": {"type": "pipeline_stop", "pipelineId": "p1"},
                        "schedule": {"cron": "0 3 1 1 *"},
                        "enabled": False,
                        "coreHub": {
                            "url": "http://127.0.0.1:1",
                            "credentialsSecretRef": {"name": "x"},
                        },
                    },
                }
                cluster.kubectl("apply", "-f", "-", input=json.dumps(job))
                status = json.dumps({"status": {"activeRuns": [RUN]}})
                cluster.kubectl(
                    "patch", "chronosjob", "-n", ns, "bench", "--subresource=status",
                    "--type=merge", "-p", status,
                )  # fmt: skip
                port = free_port()
                env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
                env.update(
                    CHRONOS_API_KUBECONFIG=str(cluster.kubeconfig),
                    CHRONOS_API_PORT=str(port),
                    CHRONOS_API_AUTH_DISABLED="true",
                )
                procs.append(start(["--serve", "ours", "--port", str(port)], env, port))
                script = writer(args.lines, args.interval)
                cluster.kubectl("create", "-f", "-", input=json.dumps(pod(ns, image, script)))
                run_page = f"http://127.0.0.1:{port}/ui/jobs/{ns}/bench/runs/{RUN}"
                sse: list[float] = []
                api: list[float] = []
                seen: list[float] = []
                flags = [threading.Event(), threading.Event(), threading.Event()]
                threads = [
                    threading.Thread(
                        target=follow_sse,
                        args=(run_page + "/log/events", sse, flags[0]),
                        daemon=True,
                    ),
                    threading.Thread(
                        target=follow_api, args=(cluster, ns, api, flags[1]), daemon=True
                    ),
                    threading.Thread(
                        target=follow_browser, args=(run_page, seen, flags[2]), daemon=True
                    ),
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=args.lines * args.interval + 120)
                assert all(f.is_set() for f in flags), "a reader did not finish"
                print(f"{args.lines} lines, one every {args.interval} s; load average "
                      f"{os.getloadavg()[0]:.2f}")  # fmt: skip
                base = summary("API server follow (baseline)", api)
                ours = summary("dashboard SSE", sse)
                page = summary("run page in chromium", seen)
                print(f"added by the facade: p50 {ours[0] - base[0]:+.1f} ms, "
                      f"p99 {ours[1] - base[1]:+.1f} ms; median ratio "
                      f"{statistics.median(sse) / statistics.median(api):.2f}")  # fmt: skip
                print(f"added by the facade and the page: p50 {page[0] - base[0]:+.1f} ms, "
                      f"p99 {page[1] - base[1]:+.1f} ms")  # fmt: skip
            finally:
                stop(procs)  # the facade first: it watches the cluster
    finally:
        engine.stop()  # only if started here


if __name__ == "__main__":
    main()
