"""kind's node on this machine (chronos.devcluster.kindcluster, kindnode/): the pure parts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from chronos.devcluster import images, kindcluster
from chronos.devcluster.images import ImageError

WRAPPER = images.RUNTIME_WRAPPER
# CapBnd of this workplace's machines (all but CAP_SYS_RESOURCE, bit 24) and of a full set.
WITHOUT = "Name:\tx\nCapBnd:\t000001fffeffffff\n"
FULL = "Name:\tx\nCapBnd:\t000001ffffffffff\n"
CAPS = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"]


def test_a_bounding_set_without_sys_resource_is_detected() -> None:
    assert images.lacks_sys_resource(WITHOUT)
    assert not images.lacks_sys_resource(FULL)


def test_the_wrapper_runtime_is_added_only_where_the_capability_is_missing() -> None:
    args = images.runtime_args(WITHOUT)
    assert f"--default-runtime={images.RUNTIME}" in args
    assert f"--add-runtime={images.RUNTIME}={WRAPPER}" in args
    assert images.runtime_args(FULL) == ()


def test_a_status_without_capbnd_is_an_error() -> None:
    with pytest.raises(ImageError, match="CapBnd"):
        images.lacks_sys_resource("Name:\tx\n")


def test_the_recipe_changes_with_a_file_or_an_input_and_not_with_order() -> None:
    files = {"build-node.sh": b"a", "cluster.yaml": b"b"}
    inputs = {"kube": "/c/k8s-v1-abc/bin", "pause": "pause-1.tar"}
    base = kindcluster.recipe(files, inputs)
    assert kindcluster.recipe(dict(reversed(files.items())), inputs) == base
    assert kindcluster.recipe({**files, "cluster.yaml": b"c"}, inputs) != base
    assert kindcluster.recipe(files, {**inputs, "kube": "/c/k8s-v1-def/bin"}) != base


def _fake_runc(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in for runc that records its arguments (the wrapper execs it)."""
    record = tmp_path / "argv.json"
    fake = tmp_path / "runc"
    fake.write_text(
        "#!/usr/bin/python3\nimport json, sys\n"
        f"json.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n"
    )
    fake.chmod(0o755)
    return fake, record


def _run(fake: Path, *args: str, cwd: Path) -> None:
    env = {**os.environ, "CHRONOS_REAL_RUNC": str(fake)}
    subprocess.run([str(WRAPPER), *args], env=env, cwd=cwd, check=True)


def test_the_wrapper_drops_sys_resource_from_a_bundle_and_passes_every_argument(
    tmp_path: Path,
) -> None:
    fake, record = _fake_runc(tmp_path)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    sets = {k: list(CAPS) for k in ("bounding", "effective", "permitted")}
    (bundle / "config.json").write_text(json.dumps({"process": {"capabilities": sets}}))
    argv = ["--root", "/run/x", "--log-format", "json", "create", "--bundle", str(bundle), "id1"]
    _run(fake, *argv, cwd=tmp_path)
    caps = json.loads((bundle / "config.json").read_text())["process"]["capabilities"]
    assert caps == {k: ["CAP_CHOWN", "CAP_NET_ADMIN"] for k in sets}
    assert json.loads(record.read_text()) == argv


def test_the_wrapper_uses_the_working_directory_as_the_default_bundle(tmp_path: Path) -> None:
    fake, _ = _fake_runc(tmp_path)
    config = {"process": {"capabilities": {"bounding": list(CAPS)}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    _run(fake, "run", "id2", cwd=tmp_path)
    caps = json.loads((tmp_path / "config.json").read_text())["process"]["capabilities"]
    assert caps["bounding"] == ["CAP_CHOWN", "CAP_NET_ADMIN"]


def test_the_wrapper_drops_sys_resource_from_an_exec_process_file(tmp_path: Path) -> None:
    fake, record = _fake_runc(tmp_path)
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "capabilities": {"effective": list(CAPS)}}))
    _run(fake, "exec", "--process", str(process), "id3", cwd=tmp_path)
    assert json.loads(process.read_text())["capabilities"]["effective"] == [
        "CAP_CHOWN",
        "CAP_NET_ADMIN",
    ]
    assert json.loads(record.read_text())[0] == "exec"


def test_the_wrapper_leaves_other_commands_alone(tmp_path: Path) -> None:
    fake, record = _fake_runc(tmp_path)
    config = {"process": {"capabilities": {"bounding": list(CAPS)}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    _run(fake, "state", "id4", cwd=tmp_path)
    assert json.loads((tmp_path / "config.json").read_text()) == config
    assert json.loads(record.read_text()) == ["state", "id4"]


def test_kind_writes_the_users_kubeconfig_as_for_any_kind_user(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    joined = {"KUBECONFIG": f"{first}{os.pathsep}{second}"}
    assert kindcluster.user_kubeconfig(joined) == first
    assert kindcluster.user_kubeconfig({"KUBECONFIG": f"{os.pathsep}{second}"}) == second
    assert kindcluster.user_kubeconfig({}) == Path.home() / ".kube" / "config"
