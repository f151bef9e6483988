"""One import namespace, and ``import operator`` is always the standard library's."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from support import ROOT

STDLIB_OPERATOR = str(Path(sysconfig.get_paths()["stdlib"]) / "operator.py")
PROBE = (
    "import operator, chronos.operator, chronos.runner, chronos.api, chronos.models; "
    "print(operator.__file__)"
)
# The directories where a shadowing `operator` package would be most likely to win.
WORKING_DIRS = [".", "operator", "operator/chronos", "operator/chronos/operator", "src/chronos"]


@pytest.mark.parametrize("cwd", WORKING_DIRS)
def test_import_operator_is_the_standard_library_from_any_directory(cwd: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT / cwd, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == STDLIB_OPERATOR


def test_python_dash_m_from_the_repository_root() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "chronos.models.crd"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "kind: CustomResourceDefinition" in out.stdout


def build_wheel(project: Path, out: Path) -> None:
    """The wheel of ``project`` into ``out``, as pip builds it (no dependencies fetched)."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-q", "-w", str(out), str(project)], check=True)


def test_wheel_holds_one_namespace_and_no_top_level_operator(tmp_path: Path) -> None:
    build_wheel(ROOT, tmp_path)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"chronos"}
    assert "chronos/__init__.py" not in names  # a namespace package, like the source tree
    # The development harness (dev/) is on the editable install's path only.
    assert not [n for n in names if n.split("/")[1] in HARNESS], names
    entry_points = [n for n in names if n.endswith("entry_points.txt")]
    assert all("devcluster" not in zipfile.ZipFile(wheel).read(n).decode() for n in entry_points)
    for expected in (
        "chronos/models/chronosjob.py",
        "chronos/runner/__init__.py",
        "chronos/api/__init__.py",
        "chronos/schedule/cron.py",
    ):
        assert expected in names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # -S skips site.py, so the editable install's .pth files are not read: chronos can
    # only come from the unpacked wheel, third-party packages from site-packages.
    third_party = sysconfig.get_paths()["purelib"]
    code = (
        f"import sys; sys.path.insert(0, '.'); sys.path.append({third_party!r}); "
        + PROBE.replace(
            "print(operator.__file__)", "print(operator.__file__, chronos.api.__file__)"
        )
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=site, capture_output=True, text=True, check=True
    )
    operator_file, api_file = out.stdout.split()
    assert operator_file == STDLIB_OPERATOR
    assert Path(api_file).resolve() == (site / "chronos" / "api" / "__init__.py").resolve()


# ------------------------------------------------------------ one distribution per image

#: Each image's distribution (packaging/<image>/pyproject.toml) and the components it holds.
IMAGE_COMPONENTS = {"runner": {"runner"}, "operator": {"operator", "api"}}
COMPONENTS = {"operator", "runner", "api", "kubectl"}
HARNESS = {"devcluster", "fakehub"}


def _toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def _layers() -> list[set[str]]:
    """The layers contract of the repository's pyproject.toml, top to bottom."""
    contracts = _toml(ROOT / "pyproject.toml")["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c.get("containers") == ["chronos"]]
    return [{m.strip() for m in re.split(r"[|:]", layer)} for layer in layers]


def test_the_layers_are_the_ones_the_images_are_cut_along() -> None:
    harness, components, _shared = _layers()
    assert harness == HARNESS
    assert components == COMPONENTS


@pytest.mark.parametrize("image", sorted(IMAGE_COMPONENTS))
def test_image_distribution_holds_the_shared_code_and_its_components_only(image: str) -> None:
    shared = _layers()[-1]
    config = _toml(ROOT / "packaging" / image / "pyproject.toml")
    included = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    targets = {Path(target).stem for target in included.values()}
    assert targets == shared | IMAGE_COMPONENTS[image]
    for source, target in included.items():
        # the source is that module's home in the repository
        assert (ROOT / "packaging" / image / source).resolve().exists(), source
        assert source.endswith(target), (source, target)


@pytest.mark.parametrize("image", sorted(IMAGE_COMPONENTS))
def test_image_distribution_depends_on_what_development_installs(image: str) -> None:
    """Its dependencies are the repository's, plus the extras of its components."""
    root = _toml(ROOT / "pyproject.toml")["project"]
    extras = root["optional-dependencies"]
    expected = set(root["dependencies"])
    for component in IMAGE_COMPONENTS[image]:
        expected |= set(extras.get(component, []))
    project = _toml(ROOT / "packaging" / image / "pyproject.toml")["project"]
    assert set(project["dependencies"]) == expected
    assert project["version"] == root["version"]


@pytest.mark.parametrize("image", sorted(IMAGE_COMPONENTS))
def test_image_wheel_ships_only_its_component_and_every_module_imports(
    image: str, tmp_path: Path
) -> None:
    build_wheel(ROOT / "packaging" / image, tmp_path)
    (wheel,) = tmp_path.glob(f"chronos_{image}-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if ".dist-info/" not in n}
    assert tops == {"chronos"}
    seconds = {n.split("/")[1].removesuffix(".py") for n in names if n.startswith("chronos/")}
    assert seconds == _layers()[-1] | IMAGE_COMPONENTS[image]
    assert not seconds & (HARNESS | (COMPONENTS - IMAGE_COMPONENTS[image]))
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    if "api" in IMAGE_COMPONENTS[image]:
        # the dashboard's templates and static files (vendored scripts and their hashes)
        for folder in ("templates", "static"):
            source = ROOT / "api" / "chronos" / "api" / folder
            files = {
                f"chronos/api/{folder}/{p.relative_to(source)}"
                for p in source.rglob("*")
                if p.is_file()
            }
            assert files, folder
            assert files <= set(names), sorted(files - set(names))
    scripts = [n for n in names if n.endswith("entry_points.txt")]
    entry_points = zipfile.ZipFile(wheel).read(scripts[0]).decode() if scripts else ""
    assert "devcluster" not in entry_points

    # Every module of the wheel imports from the unpacked wheel alone (-S: no editable
    # install's .pth; third-party packages from site-packages): nothing it needs was left out.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    modules = sorted(
        n.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for n in names
        if n.endswith(".py") and not n.endswith("__main__.py")
    )
    third_party = sysconfig.get_paths()["purelib"]
    code = (
        f"import importlib, os, sys; sys.path.insert(0, '.'); sys.path.append({third_party!r})\n"
        f"for m in {modules!r}:\n"
        "    path = os.path.abspath(importlib.import_module(m).__file__)\n"
        "    assert path.startswith(os.getcwd() + '/'), (m, path)\n"
    )
    subprocess.run([sys.executable, "-S", "-c", code], cwd=site, check=True)
