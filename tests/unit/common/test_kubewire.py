"""chronos.kubewire: lightkube's private internals, in one place and checked."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from types import SimpleNamespace

import pytest
from lightkube import AsyncClient
from lightkube.resources.batch_v1 import CronJob
from lightkube.resources.core_v1 import PodLog
from support import ROOT, local_async_client

from chronos import http, kubewire

#: What only chronos.kubewire may spell (lightkube's private attributes).
PRIVATE = re.compile(r"_api_info|\._client\._client|_watch_timeout|\bprepare_request\b")


def client() -> AsyncClient:
    return local_async_client("http://127.0.0.1:9")


def test_the_installed_lightkube_has_every_internal_relied_on() -> None:
    kubewire.check(client())


def test_a_missing_internal_fails_loudly_naming_it() -> None:
    with pytest.raises(kubewire.LightkubeChangedError, match=r"AsyncClient\._client"):
        kubewire.check(SimpleNamespace())  # type: ignore[arg-type]
    stand_in = SimpleNamespace(_client=SimpleNamespace(_client=None))
    with pytest.raises(kubewire.LightkubeChangedError, match="prepare_request"):
        kubewire.check(stand_in)  # type: ignore[arg-type]


def test_requests_are_built_as_lightkube_builds_them() -> None:
    c = client()
    listed = kubewire.list_request(
        c,
        CronJob,
        namespace=None,
        params={"limit": 5, "labelSelector": "a=b"},
        watch=True,
        timeout=http.Timeout(3.0),
    )
    assert listed.url.path == "/apis/batch/v1/cronjobs"
    assert listed.url.params["watch"] == "true"
    assert listed.url.params["labelSelector"] == "a=b"
    assert listed.extensions["timeout"]["read"] == 3.0
    got = kubewire.get_request(
        c, PodLog, name="p", namespace="ns", params={"follow": True}, timeout=http.Timeout(2.0)
    )
    assert got.url.path == "/api/v1/namespaces/ns/pods/p/log"
    assert kubewire.resource_kind(CronJob) == "CronJob"


def test_the_lightkube_pin_holds_the_installed_version() -> None:
    """The range in pyproject.toml is the one check() was run against: widening it
    means running this module with the new version first."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in deps if d.startswith("lightkube")]
    found = re.fullmatch(r"lightkube>=([\d.]+),<([\d.]+)", pin)
    assert found is not None, f"lightkube needs a lower and an upper bound: {pin}"

    def as_tuple(text: str) -> tuple[int, ...]:
        return tuple(int(x) for x in text.split("."))

    low, high = found.groups()
    assert as_tuple(low) <= as_tuple(version("lightkube")) < as_tuple(high)


def test_only_kubewire_reaches_into_lightkube() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("src", "operator", "api", "runner")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "kubewire.py" and PRIVATE.search(path.read_text())
    ]
    assert offenders == []
