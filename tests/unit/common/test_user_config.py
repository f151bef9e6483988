"""chronos.kube.user_config: a person's kubeconfig read as kubectl reads it (flag, then
the first file of $KUBECONFIG, then ~/.kube/config), and the context chosen by name; the
kubectl plugin's flags reach it (an unknown context is one error line)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from lightkube.core.exceptions import ConfigError

from chronos import kube
from chronos.kubectl.__main__ import main


def _kubeconfig(path: Path, namespace: str) -> Path:
    cluster = {"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "a", "context": {"cluster": "c", "user": "u", "namespace": f"{namespace}-a"}},
            {"name": "b", "context": {"cluster": "c", "user": "u", "namespace": f"{namespace}-b"}},
        ],
        "current-context": "a",
    }
    path.write_text(json.dumps(config))
    return path


def test_flag_then_kubeconfig_env_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = _kubeconfig(tmp_path / "flag", "flag")
    first = _kubeconfig(tmp_path / "first", "first")
    second = _kubeconfig(tmp_path / "second", "second")
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    _kubeconfig(home / ".kube" / "config", "home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert kube.user_config(flag).namespace == "flag-a"
    assert kube.user_config().namespace == "first-a"
    assert kube.user_config(None, "b").namespace == "first-b"
    monkeypatch.delenv("KUBECONFIG")
    assert kube.user_config().namespace == "home-a"
    with pytest.raises(ConfigError, match="Context 'nope' not found"):
        kube.user_config(flag, "nope")


def test_the_plugin_names_an_unknown_context_in_one_line(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path / "kc", "x")
    out, err = io.StringIO(), io.StringIO()
    assert main(["get", "--kubeconfig", str(config), "--context", "nope"], out, err) == 1
    assert err.getvalue() == "error: kubeconfig: Context 'nope' not found\n"
    assert out.getvalue() == ""
