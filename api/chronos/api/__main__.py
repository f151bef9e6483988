"""``python -m chronos.api``: serve the REST facade with uvicorn."""

from __future__ import annotations

import sys

import uvicorn

from chronos import logs
from chronos.api.app import create_app
from chronos.api.settings import ApiSettings
from chronos.settings import SettingsError


def main() -> int:
    logs.configure()
    try:
        settings = ApiSettings.from_env()
    except SettingsError as exc:
        print(f"chronos-api: {exc}", file=sys.stderr)
        return 2
    host = f"[{settings.api_host}]" if ":" in settings.api_host else settings.api_host
    url = f"http://{host}:{settings.api_port}"
    print(f"Chronos API on {url} (Swagger UI: {url}/docs)", flush=True)
    # log_config=None: uvicorn's records go through the same JSON handler as ours.
    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
