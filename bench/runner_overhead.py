"""Runner overhead: ``python -m chronos.runner`` against a bare HTTP GET, same fake CoreHub.

A fake CoreHub (``chronos.fakehub``, every delay 0) serves on loopback inside this
process, and records when each request arrived on this process's monotonic clock. Each
repetition spawns, round-robin:

* the runner doing a task whose wait is satisfied at once (``entity_stop`` of an entity
  already on Hold), ``CHRONOS_COREHUB_COMMAND_INTERVAL_SECONDS=0``, no status write
  (``CHRONOS_JOB_NAME`` unset);
* ``python -c "import httpx2; httpx2.get(URL)"`` (the project's HTTP library), and the
  same with ``httpx`` when it is installed;
* the floor of any runner that validates its settings with pydantic before its first
  request: the bare script after ``from pydantic import BaseModel, Field``.

Measured per child, from the spawn time taken just before ``Popen``: the first request
the fake received, and the exit; and the child's CPU time (user + system, from the
kernel's accounting of waited-for children), which other processes' load changes far
less than the wall-clock times. Reported: medians and the ratios runner / bare.

    .venv/bin/python bench/runner_overhead.py [--runs 15]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from chronos.fakehub import DEFAULT_SEED, FakeCoreHub, FakeHubControl, FakeHubState

#: What a runner that validates with pydantic imports at least, and the subject that adds it.
PYDANTIC = "from pydantic import BaseModel, Field"
FLOOR = "floor: pydantic + httpx2.get"
TASK = {"type": "entity_stop", "pipelineId": "p1", "entityIds": ["e1"]}


@dataclass
class Samples:
    first_request_s: list[float] = field(default_factory=list)
    exit_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Subject:
    label: str
    argv: list[str]
    env: dict[str, str]


def runner_env(url: str, termination: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    env.update(
        {
            "CHRONOS_COREHUB_URL": url,
            "CHRONOS_COREHUB_USERNAME": "admin",
            "CHRONOS_COREHUB_PASSWORD": "admin",
            "CHRONOS_TASK": json.dumps(TASK),
            "CHRONOS_COREHUB_COMMAND_INTERVAL_SECONDS": "0",
            "CHRONOS_TERMINATION_MESSAGE_PATH": str(termination),
        }
    )
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(subject: Subject, control: FakeHubControl) -> tuple[float, float, float]:
    """(seconds to the first CoreHub request, seconds to exit, CPU seconds) of one child."""
    control.reset()
    cpu_before = _children_cpu()
    spawned = time.monotonic()
    proc = subprocess.Popen(
        subject.argv, env=subject.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, stderr = proc.communicate(timeout=60)
    exited = time.monotonic()
    cpu = _children_cpu() - cpu_before
    if proc.returncode != 0:
        raise RuntimeError(f"{subject.label} exited {proc.returncode}: {stderr.decode()[-2000:]}")
    requests = control.requests()
    if not requests:
        raise RuntimeError(f"{subject.label} sent no request")
    first = min(float(r["receivedMonotonic"]) for r in requests)
    return first - spawned, exited - spawned, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    seed = {**DEFAULT_SEED, "delays": {"activate": 0, "stop": 0, "snapshot": 0}}
    with (
        FakeCoreHub(FakeHubState(seed)) as hub,
        FakeHubControl(hub.url) as control,
        tempfile.TemporaryDirectory() as tmp,
    ):
        url = hub.url + "/pipelines"
        subjects = [
            Subject(
                "runner (entity_stop, no wait)",
                [sys.executable, "-m", "chronos.runner"],
                runner_env(hub.url, Path(tmp) / "termination.json"),
            ),
            Subject(
                "bare httpx2.get",
                [sys.executable, "-c", f"import httpx2; httpx2.get({url!r})"],
                dict(os.environ),
            ),
        ]
        subjects.append(
            Subject(
                FLOOR,
                [sys.executable, "-c", f"{PYDANTIC}; import httpx2; httpx2.get({url!r})"],
                dict(os.environ),
            )
        )
        if importlib.util.find_spec("httpx") is not None:
            subjects.append(
                Subject(
                    "bare httpx.get",
                    [sys.executable, "-c", f"import httpx; httpx.get({url!r})"],
                    dict(os.environ),
                )
            )
        for subject in subjects:  # warm the page cache and .pyc files
            measure(subject, control)
        samples = {s.label: Samples() for s in subjects}
        for _ in range(args.runs):
            for subject in subjects:
                first, done, cpu = measure(subject, control)
                samples[subject.label].first_request_s.append(first)
                samples[subject.label].exit_s.append(done)
                samples[subject.label].cpu_s.append(cpu)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} runs each")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    print(f"{'subject':32} {'first request':>14} {'exit':>10} {'CPU':>10}")
    medians: dict[str, tuple[float, float, float]] = {}
    for label, s in samples.items():
        medians[label] = (
            statistics.median(s.first_request_s),
            statistics.median(s.exit_s),
            statistics.median(s.cpu_s),
        )
        first, done, cpu = medians[label]
        print(f"{label:32} {first * 1000:11.0f} ms {done * 1000:7.0f} ms {cpu * 1000:7.0f} ms")
    pairs = [(subjects[0].label, s.label) for s in subjects[1:]]
    pairs.append((FLOOR, subjects[1].label))  # how far pydantic alone puts the floor
    for top, bottom in pairs:
        a, b = medians[top], medians[bottom]
        print(
            f"{top} / {bottom}: first request {a[0] / b[0]:.2f}x, "
            f"exit {a[1] / b[1]:.2f}x, CPU {a[2] / b[2]:.2f}x"
        )


if __name__ == "__main__":
    main()
