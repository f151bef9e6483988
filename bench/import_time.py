"""Import time and peak memory of candidate Kubernetes API clients.

Stdlib only. Usage::

    python bench/import_time.py [--runs N]

For each candidate, N fresh interpreters run ``sys.executable -c "import X"``.
The runs are interleaved round-robin with a bare interpreter (``-c pass``), so
the baseline is measured in the same run under the same conditions. Reported:

* median / min wall time of the child process minus the median / min of the
  baseline (i.e. the cost of the import on top of interpreter start-up);
* the child's peak RSS (``ru_maxrss`` from ``os.wait4`` for that one child)
  minus the baseline's median peak RSS.

A candidate whose module cannot be found is reported as "not installed".

It also checks whether ``import kopf`` pulls the official clients
(``kubernetes`` / ``kubernetes_asyncio``) into ``sys.modules``, and measures
kopf once more with those two packages blocked (``sys.modules[name] = None``),
so the difference is what they add to kopf's start-up in the same venv.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

BLOCK_CLIENTS = (
    "import sys; sys.modules['kubernetes'] = None; sys.modules['kubernetes_asyncio'] = None"
)
PROBE_KUBERNETES_MODULES = (
    "import sys; {prelude}; import kopf; "
    "mods = sorted(m for m in sys.modules if m.startswith('kubernetes')); "
    "print(mods[:3]); print(sum(sys.modules[m] is not None for m in mods))"
)


@dataclass(frozen=True)
class Candidate:
    """One row of the table: a label and the Python code the child runs."""

    label: str
    code: str
    module: str


@dataclass
class Samples:
    """Wall times (seconds) and peak RSS (KiB) of each child of one candidate."""

    wall_s: list[float] = field(default_factory=list)
    maxrss_kib: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Status:
    """Whether the candidate imports at all; ``detail`` explains a failure."""

    ok: bool
    detail: str = ""


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("kubernetes", "import kubernetes", "kubernetes"),
    Candidate("kubernetes.client", "import kubernetes.client", "kubernetes"),
    Candidate(
        "kubernetes_asyncio.client", "import kubernetes_asyncio.client", "kubernetes_asyncio"
    ),
    Candidate("lightkube", "import lightkube", "lightkube"),
    Candidate(
        "lightkube + lightkube.resources.batch_v1",
        "import lightkube, lightkube.resources.batch_v1",
        "lightkube",
    ),
    Candidate("kr8s", "import kr8s", "kr8s"),
    Candidate("httpx", "import httpx", "httpx"),
    Candidate("httpx2", "import httpx2", "httpx2"),
    Candidate("kopf", "import kopf", "kopf"),
    Candidate(
        "kopf (kubernetes* blocked)",
        f"{BLOCK_CLIENTS}; import kopf",
        "kopf",
    ),
)
BASELINE = Candidate("baseline `-c pass`", "pass", "")


def run_child(code: str) -> tuple[float, int, int]:
    """Spawn ``sys.executable -c code``; return (wall seconds, ru_maxrss KiB, exit code)."""
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(
        sys.executable, [sys.executable, "-c", code], os.environ, file_actions=file_actions
    )
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def check(candidate: Candidate) -> Status:
    """Run the candidate once (also warms .pyc caches); classify a failure."""
    proc = subprocess.run(
        [sys.executable, "-c", candidate.code],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0:
        return Status(ok=True)
    last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"
    if "ModuleNotFoundError" in last and repr(candidate.module) in last:
        return Status(ok=False, detail="not installed")
    return Status(ok=False, detail=f"import error: {last}")


def measure(candidates: list[Candidate], runs: int) -> dict[str, Samples]:
    """Run every candidate ``runs`` times, interleaved with the baseline."""
    samples: dict[str, Samples] = {c.label: Samples() for c in [BASELINE, *candidates]}
    for _ in range(runs):
        for candidate in [BASELINE, *candidates]:
            wall, maxrss, code = run_child(candidate.code)
            if code != 0:
                raise RuntimeError(f"{candidate.label!r} exited with {code} during timing")
            samples[candidate.label].wall_s.append(wall)
            samples[candidate.label].maxrss_kib.append(maxrss)
    return samples


def probe_kopf() -> list[str]:
    """Lines describing which kubernetes* modules ``import kopf`` loads."""
    lines = []
    for title, prelude in (("as installed", "pass"), ("kubernetes* blocked", BLOCK_CLIENTS)):
        proc = subprocess.run(
            [sys.executable, "-c", PROBE_KUBERNETES_MODULES.format(prelude=prelude)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            lines.append(f"- kopf {title}: failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        first3, count = proc.stdout.strip().splitlines()
        lines.append(
            f"- kopf {title}: kubernetes* modules in sys.modules after `import kopf`: "
            f"{first3} ({count} real modules; blocked names map to None)"
        )
    return lines


def installed_clients() -> str:
    """Which official clients are importable, as seen by a child."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util as u; "
            "print([m for m in ('kubernetes', 'kubernetes_asyncio') if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="children per candidate (default 15)")
    args = parser.parse_args()
    runs: int = args.runs
    if runs < 1:
        parser.error("--runs must be >= 1")

    print(f"python: {sys.executable} ({platform.python_version()}), runs: {runs}")
    statuses = {c.label: check(c) for c in CANDIDATES}
    check(BASELINE)
    runnable = [c for c in CANDIDATES if statuses[c.label].ok]
    samples = measure(runnable, runs)

    base = samples[BASELINE.label]
    base_med = statistics.median(base.wall_s)
    base_min = min(base.wall_s)
    base_rss = statistics.median(base.maxrss_kib)

    print()
    print("| candidate | median import ms | min ms | extra RSS MiB |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| {BASELINE.label} (absolute) | {base_med * 1e3:.1f} | {base_min * 1e3:.1f} "
        f"| {base_rss / 1024:.1f} |"
    )
    for candidate in CANDIDATES:
        status = statuses[candidate.label]
        if not status.ok:
            print(f"| {candidate.label} | {status.detail} | | |")
            continue
        s = samples[candidate.label]
        med = (statistics.median(s.wall_s) - base_med) * 1e3
        low = (min(s.wall_s) - base_min) * 1e3
        rss = (statistics.median(s.maxrss_kib) - base_rss) / 1024
        print(f"| {candidate.label} | {med:.1f} | {low:.1f} | {rss:.1f} |")

    print()
    print(f"Official clients importable here: {installed_clients()}")
    if statuses["kopf"].ok:
        for line in probe_kopf():
            print(line)
        if statuses["kopf (kubernetes* blocked)"].ok:
            full = samples["kopf"]
            blocked = samples["kopf (kubernetes* blocked)"]
            d_med = (statistics.median(full.wall_s) - statistics.median(blocked.wall_s)) * 1e3
            d_min = (min(full.wall_s) - min(blocked.wall_s)) * 1e3
            d_rss = statistics.median(full.maxrss_kib) - statistics.median(blocked.maxrss_kib)
            print(
                f"- added by kubernetes* to `import kopf`: {d_med:+.1f} ms median, "
                f"{d_min:+.1f} ms min, {d_rss / 1024:+.1f} MiB peak RSS"
            )


if __name__ == "__main__":
    main()
