"""The web client: files from STATIC_DIR (or the bundled client), index.html for client routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from groupchat.errors import NotFound

BUNDLED = Path(__file__).with_name("web")
PLACEHOLDER = "<!doctype html><title>GroupChat</title><p>GroupChat server is running.</p>"


def add_client_routes(app: FastAPI, static_dir: Path | None) -> None:
    """A catch-all GET route, registered last so every API route wins."""
    root = (static_dir or BUNDLED).resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def client(path: str) -> Response:
        if path == "api" or path.startswith(("api/", "uploads/", "ws")):
            raise NotFound("not found")
        file = _safe_file(root, path)
        if file is not None:
            return FileResponse(file, headers={"Cache-Control": "no-cache"})
        if "." in path.rsplit("/", 1)[-1]:  # a missing asset, not a client route
            raise NotFound("not found")
        index = root / "index.html"
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(PLACEHOLDER)


def _safe_file(root: Path, path: str) -> Path | None:
    """The file under root that path names, or None (no traversal, no directories)."""
    if not path or "\x00" in path:
        return None
    candidate = (root / path).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate
