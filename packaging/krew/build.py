"""Build the krew archive of ``kubectl chronos`` and its manifest.

``python packaging/krew/build.py --uri-base https://example.org/releases/v0.1.0 --out dist``
writes ``dist/kubectl-chronos-v<version>.tar.gz`` (the launcher and the project's wheel)
and ``dist/chronos.yaml`` (this folder's template with the version, the archive's URL
and its sha256), ready to upload and to submit to a krew index.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def build(uri_base: str, out: Path) -> tuple[Path, Path]:
    """The archive and the manifest, written into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    v = version()
    archive = out / f"kubectl-chronos-v{v}.tar.gz"
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        subprocess.run([*command, "-q", "-w", tmp, str(ROOT)], check=True)
        (wheel,) = Path(tmp).glob("chronos_scheduler-*.whl")
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(HERE / "kubectl-chronos", arcname="kubectl-chronos")
            tar.add(wheel, arcname=wheel.name)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    manifest = out / "chronos.yaml"
    # The template's comment speaks of the placeholders: the manifest starts after it.
    text = (HERE / "chronos.yaml").read_text().split("apiVersion:", 1)[1]
    text = "apiVersion:" + text
    uri = f"{uri_base.rstrip('/')}/{archive.name}"
    manifest.write_text(
        text.replace("@VERSION@", v).replace("@URI@", uri).replace("@SHA256@", digest)
    )
    return archive, manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri-base", required=True, help="where the archive will be served")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    for path in build(args.uri_base, args.out):
        print(path)


if __name__ == "__main__":
    main()
