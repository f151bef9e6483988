"""``python -m chronos.runner`` / ``chronos-runner``: one run of a ChronosJob's task."""

from __future__ import annotations

import sys

from chronos.runner.run import run


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
