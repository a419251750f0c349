"""GET /docs: Swagger UI for /openapi.json, from the assets fastapi-offline ships (no CDN).

The page has no inline script or style, so the server's strict CSP applies to it unchanged:
the start-up code is a small script served from /docs/assets/ like the bundle itself.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from groupchat.errors import NotFound

ASSETS = Path(fastapi_offline.__file__).with_name("static")
SHIPPED = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GroupChat API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/start.js"></script>
</body>
</html>
"""
# validatorUrl null: Swagger UI would otherwise load a badge from validator.swagger.io.
START = """SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
});
"""
CACHE = {"Cache-Control": "no-cache"}


def add_docs_routes(app: FastAPI) -> None:
    """/docs and its assets (not part of the API document)."""

    @app.get("/docs", include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers=CACHE)

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name == "start.js":
            return Response(START, media_type="text/javascript", headers=CACHE)
        if name not in SHIPPED:
            raise NotFound("not found")
        return FileResponse(ASSETS / name, media_type=SHIPPED[name], headers=CACHE)
