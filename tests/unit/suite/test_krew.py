"""The krew package of ``kubectl chronos``: the archive holds the launcher and the
project's wheel, the manifest names them with the archive's real sha256, and the wheel
installs the plugin's entry points."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import stat
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import yaml
from support import ROOT

BUILD = ROOT / "packaging" / "krew" / "build.py"


def _build_module() -> Any:
    spec = importlib.util.spec_from_file_location("krew_build", BUILD)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_archive_and_manifest(tmp_path: Path) -> None:
    archive, manifest = _build_module().build("https://example.org/releases", tmp_path)
    with (ROOT / "pyproject.toml").open("rb") as f:
        version = tomllib.load(f)["project"]["version"]

    plugin = yaml.safe_load(manifest.read_text())
    assert (plugin["apiVersion"], plugin["kind"]) == ("krew.googlecode.com/v1alpha2", "Plugin")
    assert plugin["metadata"]["name"] == "chronos"  # `kubectl krew install chronos`
    assert plugin["spec"]["version"] == f"v{version}"
    (platform,) = plugin["spec"]["platforms"]
    assert platform["uri"] == f"https://example.org/releases/{archive.name}"
    assert platform["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert platform["bin"] == "kubectl-chronos"
    for placeholder in ("@VERSION@", "@URI@", "@SHA256@"):
        assert placeholder not in manifest.read_text()

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        launcher = tar.getmember("kubectl-chronos")
        assert launcher.mode & stat.S_IXUSR
        (wheel_name,) = [n for n in names if n.endswith(".whl")]
        tar.extractall(tmp_path / "x", filter="data")
    assert sorted(names) == sorted(["kubectl-chronos", wheel_name])
    # every `from` of the manifest matches a file of the archive
    for entry in platform["files"]:
        pattern = entry["from"]
        assert any(Path(n).match(pattern) for n in names), pattern
    entry_points = next(
        n for n in zipfile.ZipFile(tmp_path / "x" / wheel_name).namelist()
        if n.endswith("entry_points.txt")
    )  # fmt: skip
    text = zipfile.ZipFile(tmp_path / "x" / wheel_name).read(entry_points).decode()
    assert "kubectl-chronos = chronos.kubectl.__main__:main" in text
    assert "kubectl_complete-chronos = chronos.kubectl.__main__:complete_main" in text
    assert os.access(tmp_path / "x" / "kubectl-chronos", os.X_OK)
