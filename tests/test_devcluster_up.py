"""The README's first command: `make up` brings the whole system up, `make down` stops it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from chronos.devcluster.cluster import Cluster

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[1]


def devcluster(command: str, state: Path) -> str:
    env = {**os.environ, "CHRONOS_DEVCLUSTER_DIR": str(state)}
    out = subprocess.run(
        [sys.executable, "-m", "chronos.devcluster", command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return out.stdout


def test_up_runs_the_sample_and_serves_the_api_then_down_stops_all(tmp_path: Path) -> None:
    state = tmp_path / "system"
    out = devcluster("up", state)
    try:
        api = re.search(r"REST API:\s+(http://127\.0\.0\.1:\d+)", out)
        assert api, out
        token = (state / "token").read_text()
        assert token in out
        cluster = Cluster(state)
        deadline = time.monotonic() + 90
        result = ""
        while time.monotonic() < deadline and result != "succeeded":
            result = cluster.kubectl(
                "get", "chronosjob", "morning-sync", "-o", "jsonpath={.status.lastRun.result}"
            )
            time.sleep(1)
        assert result == "succeeded", "the sample job's first run did not succeed"

        request = urllib.request.Request(
            f"{api.group(1)}/api/jobs", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            listing = json.loads(response.read())
        assert [job["id"] for job in listing["items"]] == ["morning-sync"]
        assert listing["items"][0]["cron_expression"] == "30 8 * * 1,3,5"
        pids = json.loads((state / "services.json").read_text())
        assert set(pids) == {"fakehub", "nodeagent", "operator", "api"}
    finally:
        devcluster("down", state)
    for pid in pids.values():
        assert (
            not Path(f"/proc/{pid}").exists()
            or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )
    assert not (state / "state.json").exists()
