"""Swagger UI at ``/docs`` and ``/api/docs``, with its assets served by the facade itself.

FastAPI's default page loads Swagger UI from a CDN, which leaves it blank offline and in
clusters without egress. The JavaScript and CSS come from the ``swagger-ui-bundle-v2``
wheel (Swagger UI's own release files, Apache-2.0) and are served from ``/docs/assets``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

ASSETS_PATH = "/docs/assets"
_ASSET_DIR = Path(str(swagger_ui_path))
# Only what the page loads: the wheel also holds Swagger UI's demo page (the Petstore).
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

docs_router = APIRouter(include_in_schema=False)


def _page(request: Request) -> HTMLResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    assets = f"{root}{ASSETS_PATH}"
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon-32x32.png",
    )


@docs_router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    return _page(request)


@docs_router.get("/api/docs")
async def api_docs(request: Request) -> HTMLResponse:
    """Where the original Chronos served it."""
    return _page(request)


@docs_router.get("/docs/assets/{name}")
async def asset(name: str) -> FileResponse:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no docs asset {name!r}")
    return FileResponse(_ASSET_DIR / name, media_type=media_type)
