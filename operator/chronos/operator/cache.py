"""What the operator's watches have seen: ChronosJobs and their Jobs, kept in memory."""

from __future__ import annotations

from typing import Any

Key = tuple[str, str]


class WatchCache:
    def __init__(self) -> None:
        self._chronosjobs: dict[Key, dict[str, Any]] = {}
        self._jobs: dict[Key, dict[str, dict[str, Any]]] = {}
        self._cronjobs: dict[Key, dict[str, Any]] = {}
        #: The generation of each ChronosJob this process last reconciled.
        self._reconciled: dict[Key, int | None] = {}

    def chronosjob_event(self, kind: str | None, cr: dict[str, Any]) -> None:
        key = (cr["metadata"]["namespace"], cr["metadata"]["name"])
        if kind == "DELETED":
            self._chronosjobs.pop(key, None)
            self._jobs.pop(key, None)
            self._reconciled.pop(key, None)
        else:
            self._chronosjobs[key] = cr

    def needs_reconcile(self, cr: dict[str, Any]) -> bool:
        """Not reconciled by this process at its current generation.

        So every ChronosJob is reconciled once after start (its CronJob may have changed
        or gone while no operator watched), then once per spec change, and again after a
        failed attempt.
        """
        meta = cr["metadata"]
        key = (meta["namespace"], meta["name"])
        return key not in self._reconciled or self._reconciled[key] != meta.get("generation")

    def mark_reconciled(self, cr: dict[str, Any]) -> None:
        meta = cr["metadata"]
        self._reconciled[(meta["namespace"], meta["name"])] = meta.get("generation")

    def job_event(
        self, namespace: str, chronosjob: str, kind: str | None, job: dict[str, Any]
    ) -> None:
        jobs = self._jobs.setdefault((namespace, chronosjob), {})
        if kind == "DELETED":
            jobs.pop(job["metadata"]["name"], None)
        else:
            jobs[job["metadata"]["name"]] = job

    def cronjob_event(self, kind: str | None, cronjob: dict[str, Any]) -> None:
        key = (cronjob["metadata"]["namespace"], cronjob["metadata"]["name"])
        if kind == "DELETED":
            self._cronjobs.pop(key, None)
        else:
            self._cronjobs[key] = cronjob

    def chronosjob(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._chronosjobs.get((namespace, name))

    def cronjob(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._cronjobs.get((namespace, name))

    def all_chronosjobs(self) -> list[dict[str, Any]]:
        return list(self._chronosjobs.values())

    def jobs_of(self, namespace: str, chronosjob: str) -> list[dict[str, Any]]:
        return list(self._jobs.get((namespace, chronosjob), {}).values())

    def count(self) -> int:
        return len(self._chronosjobs)
