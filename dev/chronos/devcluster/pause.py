"""The pause image of kind's node image: a tiny static C program (no registry here to
pull ``registry.k8s.io/pause`` from), packed as a ``docker save`` archive that
``kindnode/build-node.sh`` loads and retags as the sandbox image containerd's config names."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

from chronos.devcluster.binaries import cache_root
from chronos.devcluster.images import ImageError, Log, _apt_install

PAUSE_IMAGE = "chronos.local/pause:1"

#: The pause container: holds the pod's namespaces, reaps children, exits on TERM/INT.
PAUSE_C = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    struct sigaction term = {.sa_handler = stop}, child = {.sa_handler = reap};
    child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGTERM, &term, 0);
    sigaction(SIGINT, &term, 0);
    sigaction(SIGCHLD, &child, 0);
    for (;;) pause();
}
"""


def _layer(files: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def docker_archive(tag: str, files: dict[str, tuple[bytes, int]], entrypoint: list[str]) -> bytes:
    """A one-layer image in ``docker save``'s format, which ``ctr images import`` reads."""
    layer = _layer(files)
    diff_id = hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Entrypoint": entrypoint, "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "chronos.devcluster"}],
        },
        sort_keys=True,
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{diff_id}/layer.tar"]}]
    ).encode()
    return _layer(
        {
            config_name: (config, 0o644),
            f"{diff_id}/layer.tar": (layer, 0o644),
            "manifest.json": (manifest, 0o644),
        }
    )


def pause_archive(log: Log) -> Path:
    """The pause image as a docker-archive tar, built once with ``gcc -static`` and cached."""
    digest = hashlib.sha256(PAUSE_C.encode()).hexdigest()[:12]
    folder = cache_root() / "images"
    archive = folder / f"pause-{digest}.tar"
    if archive.exists():
        return archive
    folder.mkdir(parents=True, exist_ok=True)
    log("building the pause image (gcc -static)")
    if not (shutil.which("gcc") and Path("/usr/include/stdio.h").exists()):
        _apt_install(["gcc", "libc6-dev"], log)
    source, binary = folder / f"pause-{digest}.c", folder / f"pause-{digest}"
    source.write_text(PAUSE_C)
    result = subprocess.run(
        ["gcc", "-Os", "-static", "-s", "-o", str(binary), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ImageError(f"gcc failed to build the pause program:\n{result.stderr}")
    data = docker_archive(PAUSE_IMAGE, {"pause": (binary.read_bytes(), 0o755)}, ["/pause"])
    partial = archive.with_suffix(".part")
    partial.write_bytes(data)
    partial.rename(archive)
    source.unlink()
    binary.unlink()
    return archive
