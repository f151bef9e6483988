"""Files that hold secrets (keys, kubeconfigs, tokens): owner-only from the first byte.

``path.write_text(...)`` then ``chmod(0o600)`` leaves the content readable by everyone
for a moment (the umask usually gives 0644); these helpers create files and folders
with their final mode instead.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """``mkdir -p`` with mode 0700 for the leaf (also tightens an existing folder)."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR)
    return path


def write_private(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` with mode 0600 (an existing file is tightened first)."""
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    return path


def open_private_log(path: Path, *, truncate: bool) -> int:
    """A descriptor for a child process's output (mode 0600); ``truncate`` starts it anew,
    else it is appended to (a restarted process keeps the log of its predecessor)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if truncate else os.O_APPEND)
    return os.open(path, flags, PRIVATE_FILE)
