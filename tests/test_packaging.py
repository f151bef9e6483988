"""One import namespace, and ``import operator`` is always the standard library's."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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


def test_wheel_holds_one_namespace_and_no_top_level_operator(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"chronos"}
    assert "chronos/__init__.py" not in names  # a namespace package, like the source tree
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
