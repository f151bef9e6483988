"""What GitOps tools make of a ChronosJob: Argo CD's health (the shipped Lua, run with
lupa's Lua 5.1, the version of Argo CD's gopher-lua) and kstatus's status (the library
Flux's health checks use, run itself), for the tests of both.

kstatus's documented rules (sigs.k8s.io/cli-utils, pkg/kstatus/README.md) for a resource
without type-specific rules: a deletionTimestamp is Terminating; a
status.observedGeneration other than metadata.generation is InProgress; a condition
Reconciling=True is InProgress and Stalled=True is Failed; otherwise a Ready condition
decides (True: Current, False: InProgress); with none of these the resource is Current.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from lupa.lua51 import LuaRuntime
from support import ROOT

from chronos.devcluster.binaries import GoBuild

ARGOCD_HEALTH = ROOT / "deploy" / "gitops" / "argocd-health.lua"
KSTATUS = GoBuild(
    name="kstatus",
    folder="kstatus",
    module="sigs.k8s.io/cli-utils",
    script="build-kstatus.sh",
    binaries=("kstatus",),
    note="the first build takes about a minute",
)


def _lua_value(lua: LuaRuntime, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({k: _lua_value(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_lua_value(lua, v) for v in value])
    return value


def argocd_health(obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) as Argo CD computes them with the shipped health check: the
    script runs with the object as the global ``obj`` and returns ``hs``."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals()["obj"] = _lua_value(lua, obj)
    hs: Any = lua.execute(ARGOCD_HEALTH.read_text())
    return str(hs["status"]), str(hs["message"] or "")


def kstatus(*objs: dict[str, Any]) -> list[tuple[str, str]]:
    """(status, message) of each object as kstatus itself computes them: ``status.Compute``
    of sigs.k8s.io/cli-utils (pinned in dev/chronos/devcluster/kstatus), built on first use
    into the cache beside the control plane."""
    binary = KSTATUS.ensure(KSTATUS.cache_dir()) / "kstatus"
    answer = subprocess.run(
        [str(binary)], input=json.dumps(list(objs)), capture_output=True, text=True, check=True
    )
    return [(v["status"], v["message"]) for v in json.loads(answer.stdout)]
