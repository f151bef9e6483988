"""How long ``chronos migrate --output-dir`` takes for N old-Chronos jobs (on demand).

    .venv/bin/python bench/migrate.py --jobs 1000 --runs 3

Serves N jobs (four distinct crons, as old installations share a few) from the test
suite's fake old Chronos over real HTTP and times the command as a user runs it (a fresh
process: imports, paging, conversion, croniter comparison, files).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakechronos import FakeChronos, serving  # noqa: E402 (tests/ put on the path above)

CRONS = ("30 8 * * 1-5", "0 */2 * * *", "15 3 * * 0", "0 22 * * *")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    fake = FakeChronos()
    for i in range(args.jobs):
        fake.add(
            {
                "name": f"job {i}",
                "task_type": "pipeline_start",
                "pipeline_id": "p1",
                "cron_expression": CRONS[i % len(CRONS)],
            }
        )
    command = [
        str(Path(sys.executable).parent / "chronos"),
        "migrate",
        "--time-zone",
        "Europe/Rome",
    ]
    times = []
    with serving(fake):
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                subprocess.run(
                    [*command, "--from", fake.url, "--output-dir", out],
                    check=True,
                    capture_output=True,
                )
                times.append(time.perf_counter() - start)
    print(f"{args.jobs} jobs: median {statistics.median(times):.2f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
