"""The web client: files from STATIC_DIR (or the bundled client), index.html for client routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match
from starlette.types import Scope

from groupchat.errors import NotFound

BUNDLED = Path(__file__).with_name("web")
CATCH_ALL = "/{path:path}"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
SERVER_PREFIXES = frozenset({"api", "uploads", "ws", "healthz", "readyz", "docs"})
PLACEHOLDER = "<!doctype html><title>GroupChat</title><p>GroupChat server is running.</p>"


def add_client_routes(app: FastAPI, static_dir: Path | None) -> None:
    """A catch-all route, registered last so every API route wins."""
    root = (static_dir or BUNDLED).resolve()

    @app.api_route(CATCH_ALL, methods=ALL_METHODS, include_in_schema=False)
    async def client(request: Request, path: str) -> Response:
        if request.method not in ("GET", "HEAD") or path.split("/", 1)[0] in SERVER_PREFIXES:
            raise _unrouted(app, request)
        file = _safe_file(root, path)
        if file is not None:
            return FileResponse(file, headers={"Cache-Control": "no-cache"})
        if "." in path.rsplit("/", 1)[-1]:  # a missing asset, not a client route
            raise NotFound("not found")
        index = root / "index.html"
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(PLACEHOLDER)


def _unrouted(app: FastAPI, request: Request) -> Exception:
    """405 when another route serves this path with other methods, else 404 (unknown path)."""
    allowed = [m for m in ALL_METHODS if _routed(app, request.scope, m)]
    if not allowed:
        return NotFound("not found")
    return HTTPException(405, "method not allowed", {"Allow": ", ".join(allowed)})


def _routed(app: FastAPI, scope: Scope, method: str) -> bool:
    """Whether a route other than the catch-all fully matches this path with `method`."""
    probe = {"type": "http", "path": scope["path"], "root_path": scope.get("root_path", "")}
    probe["method"] = method
    return any(
        getattr(route, "path", None) != CATCH_ALL and route.matches(probe)[0] is Match.FULL
        for route in app.router.routes
    )


def _safe_file(root: Path, path: str) -> Path | None:
    """The file under root that path names, or None (no traversal, directories, dotfiles)."""
    if not path or "\x00" in path or any(part.startswith(".") for part in path.split("/")):
        return None
    candidate = (root / path).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate
