"""What GitOps tools make of a ChronosJob: Argo CD's health (the shipped Lua, run with
lupa) and kstatus's status (Flux's health checks), for the tests of both.

``kstatus`` is the rule set sigs.k8s.io/cli-utils documents (pkg/kstatus/README.md) and
implements for a resource without type-specific rules (status/generic.go, core.go): a
deletionTimestamp is Terminating; a status.observedGeneration other than
metadata.generation is InProgress; a condition Reconciling=True is InProgress and
Stalled=True is Failed; otherwise a Ready condition decides (True: Current, else
InProgress); with none of these the resource is Current.
"""

from __future__ import annotations

from typing import Any

from lupa.lua51 import LuaRuntime
from support import ROOT

ARGOCD_HEALTH = ROOT / "deploy" / "gitops" / "argocd-health.lua"


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


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = (obj.get("status") or {}).get("conditions") or []
    return {c["type"]: c for c in found if isinstance(c, dict) and "type" in c}


def kstatus(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return "Terminating"
    observed = (obj.get("status") or {}).get("observedGeneration")
    generation = metadata.get("generation")
    if observed is not None and generation is not None and observed != generation:
        return "InProgress"
    conditions = _conditions(obj)
    if conditions.get("Reconciling", {}).get("status") == "True":
        return "InProgress"
    if conditions.get("Stalled", {}).get("status") == "True":
        return "Failed"
    ready = conditions.get("Ready")
    if ready is not None:
        return "Current" if ready.get("status") == "True" else "InProgress"
    return "Current"
