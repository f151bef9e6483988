"""Swagger UI works offline: its page references only assets the facade serves itself."""

from __future__ import annotations

import re

import pytest
from fixtures_api import ApiServer

from chronos import http

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize("page", ["/docs", "/api/docs"])
def test_swagger_ui_loads_only_local_assets_and_they_are_served(
    api_server: ApiServer, page: str
) -> None:
    with http.Client(base_url=api_server.url, timeout=10) as client:
        html = client.get(page)
        assert html.status_code == 200
        refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text)
        refs += re.findall(r"""url:\s*'([^']+)'""", html.text)  # the OpenAPI document
        assert len(refs) == 4, html.text  # CSS, favicon, JavaScript, openapi.json
        for ref in refs:
            # A CDN (https://…, //cdn…) would leave the page blank without Internet.
            assert ref.startswith("/"), ref
            assert not ref.startswith("//"), ref
        assert not re.search(r"https?://|//cdn", html.text.split("<script>")[0]), html.text
        served = {ref: client.get(ref) for ref in refs}
        for ref, response in served.items():
            assert response.status_code == 200, ref
            assert len(response.content) > 500, ref
        by_suffix = {ref.rsplit(".", 1)[-1]: r for ref, r in served.items()}
        assert by_suffix["js"].headers["content-type"].startswith("text/javascript")
        assert b"SwaggerUIBundle" in by_suffix["js"].content
        assert by_suffix["css"].headers["content-type"].startswith("text/css")
        assert by_suffix["png"].content.startswith(b"\x89PNG")
        assert by_suffix["json"].json()["info"]["title"] == "Chronos API"


def test_only_the_listed_docs_assets_are_served(api_server: ApiServer) -> None:
    with http.Client(base_url=api_server.url, timeout=10) as client:
        for name in ("index.html", "swagger-initializer.js", "..%2F__init__.py", "x"):
            assert client.get(f"/docs/assets/{name}").status_code == 404, name
