"""The tests whose outcome could depend on the wall clock, run with the clock of the test
process shifted by libfaketime (Debian: ``apt-get install faketime libfaketime``) to the
instants where such tests break: a Saturday night, a Sunday, a year's last seconds, and
just before the clocks change in Europe and in America. ``make test-clock`` runs it.

    python tests/clockshift.py [--only NAME]... [--no-cluster | --no-unit] [CLUSTER_TESTS...]

The unit tests run whole. The cluster modules (CLUSTER_MODULES: the REST facade and its
pages, served in the test process, so shifted with it) run against one control plane
started here on the real clock: its Go binaries are static and ignore libfaketime, and
certificates made by a shifted process would not yet be valid for them. Modules whose
assertions rest on the CronJob controller's clock (test_operator, test_control_plane,
realnode/) keep the real clock: they choose their slots relative to it.

The shift is an offset (``FAKETIME=+N`` seconds), so the operator subprocess a module
starts runs on the same shifted clock.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

TESTS = Path(__file__).resolve().parent
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")

#: Cluster modules whose answers depend on "now" as the facade sees it (next runs, upcoming
#: runs, today's counts, previews), all in the test process.
CLUSTER_MODULES = (
    "cluster/test_ui_pages.py",
    "cluster/test_ui_pod_metrics.py",
    "cluster/test_ui_forms.py",
    "cluster/test_api_jobs.py",
    "cluster/test_api_validation.py",
)


def _next(now: datetime, candidates: list[datetime]) -> datetime:
    return min(c for c in candidates if c > now)


def _last_sunday(year: int, month: int) -> datetime:
    day = datetime(year, month + 1, 1, tzinfo=UTC) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


def _first_sunday(year: int, month: int) -> datetime:
    day = datetime(year, month, 1, tzinfo=UTC)
    return day + timedelta(days=(6 - day.weekday()) % 7)


def instants(now: datetime) -> dict[str, datetime]:
    """The next instants after ``now`` (UTC) worth running at, by name; all within a year
    (the control plane's certificates are valid for one)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = [midnight + timedelta(days=d) for d in range(15)]
    years = (now.year, now.year + 1)
    return {
        # Saturday 23:50 UTC: already Sunday in Europe; the overview's day ends soon.
        "saturday-night": _next(
            now, [d.replace(hour=23, minute=50) for d in days if d.weekday() == 5]
        ),
        "sunday": _next(now, [d.replace(hour=12) for d in days if d.weekday() == 6]),
        "new-year": _next(now, [datetime(y, 12, 31, 23, 59, 30, tzinfo=UTC) for y in years]),
        # Europe springs forward at 01:00 UTC on the last Sunday of March...
        "europe-spring": _next(
            now, [_last_sunday(y, 3).replace(hour=0, minute=59, second=30) for y in years]
        ),
        # ...and America/New_York falls back at 06:00 UTC on the first Sunday of November.
        "america-autumn": _next(
            now, [_first_sunday(y, 11).replace(hour=5, minute=59, second=30) for y in years]
        ),
    }


def shifted_env(at: datetime, now: datetime) -> dict[str, str]:
    """The environment that puts a process (and its children) at ``at`` when it is
    ``now``: libfaketime preloaded with the offset."""
    return {
        **os.environ,
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME": f"{round((at - now).total_seconds()):+d}",
        # Monotonic clocks move by the same offset (their rate is kept, so timeouts hold):
        # with FAKETIME_DONT_FAKE_MONOTONIC, libfaketime 0.9.10 makes time.sleep() fail
        # with EINVAL (Python sleeps with clock_nanosleep on an absolute monotonic time).
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", help="run at these instants only")
    parser.add_argument("--no-cluster", action="store_true", help="unit tests only")
    parser.add_argument("--no-unit", action="store_true", help="cluster modules only")
    parser.add_argument("cluster_tests", nargs="*", help="instead of CLUSTER_MODULES")
    args = parser.parse_args()
    if not LIBFAKETIME.is_file():
        sys.exit(f"{LIBFAKETIME} missing: apt-get install faketime libfaketime")
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    modules = args.cluster_tests or [str(TESTS / m) for m in CLUSTER_MODULES]
    results: list[tuple[str, str, int]] = []
    with tempfile.TemporaryDirectory(prefix="clockshift-") as state:
        cluster = None
        if not args.no_cluster:
            # Imported here: a unit-only run needs no control plane code.
            from chronos.devcluster.cluster import Cluster
            from chronos.devcluster.install import install_crd

            sys.path.insert(0, str(TESTS))
            from fixtures_operator import COREHUB_SETTINGS

            cluster = Cluster(Path(state))
            cluster.start()
            install_crd(cluster, operator_settings=COREHUB_SETTINGS)
        try:
            for name, at in instants(datetime.now(UTC)).items():
                if args.only and name not in args.only:
                    continue
                runs = (
                    [] if args.no_unit else [("unit", ["-m", "not cluster", "-n", "2", str(TESTS)])]
                )
                if cluster is not None:
                    runs.append(("cluster", modules))
                for group, extra in runs:
                    env = shifted_env(at, datetime.now(UTC))
                    if cluster is not None:
                        env["CHRONOS_TEST_KUBECONFIG_DIR"] = state
                    print(f"== {name} ({at:%a %Y-%m-%d %H:%M:%S} UTC): {group}", flush=True)
                    code = subprocess.run([*pytest, *extra], env=env, check=False).returncode
                    results.append((name, group, code))
        finally:
            if cluster is not None:
                cluster.stop()
    for name, group, code in results:
        print(f"{name:15} {group:8} {'passed' if code == 0 else f'FAILED ({code})'}")
    return 0 if results and all(code == 0 for _, _, code in results) else 1


if __name__ == "__main__":
    sys.exit(main())
