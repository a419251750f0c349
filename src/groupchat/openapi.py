"""The OpenAPI document: every operation lists the errors it can answer, in our error model.

FastAPI documents only the success status and its own 422 shape. `install` replaces the
document with one built once that adds, per operation, the statuses it can answer: derived
from what the route uses (sign-in, path parameters, a body, the sign-in rate limit) plus what
the route declares next to itself with `responses=errors(...)`. docs/api.md ("OpenAPI")
explains the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel

from groupchat.deps import get_current_admin, get_session
from groupchat.ratelimit import AUTH_PATHS

DESCRIPTIONS = {
    400: "The body could not be parsed (not UTF-8 JSON, or a broken multipart form)",
    401: "Not signed in: the bearer token is missing, malformed, expired or revoked",
    403: "Signed in, but not allowed to do this",
    404: "Not found, or not visible to the caller (the same answer: no existence leaks)",
    409: "Conflicts with the current state",
    410: "No longer available",
    413: "The request body is over the size limit",
    415: "Not a supported image type (PNG, JPEG, GIF or WebP)",
    422: "Invalid input: `errors` lists each field's problem when the request's shape is wrong",
    429: "Too many requests: wait for `Retry-After` seconds",
    503: "A backing service (database, Redis) is unavailable",
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}
# `openapi_extra={EXCLUSIVE: [...]}` on a route: query parameters that may not be given together.
EXCLUSIVE = "x-mutually-exclusive"


class Error(BaseModel):
    """Every error answer: a human-readable reason."""

    detail: str


class FieldError(BaseModel):
    """One problem with one part of the request (`loc` is its path, e.g. ["body", "name"])."""

    loc: list[str | int]
    msg: str
    type: str


class InvalidInput(Error):
    """A 422: `errors` is present when the request's shape was refused."""

    errors: list[FieldError] | None = None


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: error statuses it answers beyond the derived ones."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


def install(app: FastAPI) -> None:
    """Make `app.openapi()` (and so /openapi.json) return our document, built on first use."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with our error model and every operation's error statuses."""
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape, not ours
        schemas.pop(unused, None)
    for model in (Error, FieldError, InvalidInput):
        schemas[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
    for route in _documented(app):
        for method in route.methods:
            operation = doc["paths"][route.path_format][method.lower()]
            _add_errors(operation, _derived_statuses(route))
            _make_exclusive(operation)
    return doc


def _documented(app: FastAPI) -> Iterator[Any]:
    """The API routes in the document, as included (with their routers' prefix and extras)."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            yield route


def _derived_statuses(route: RouteContext) -> set[int]:
    """The error statuses a route can answer because of what it uses."""
    statuses: set[int] = set()
    calls = set(_calls(route.dependant))
    if get_session in calls:
        statuses.add(401)
    if get_current_admin in calls:
        statuses.add(403)
    named = [p.alias for p in route.dependant.query_params if p.alias.endswith("_id")]
    if route.dependant.path_params or named:  # what it names may not exist, or not be visible
        statuses.add(404)
    if route.body_field is not None:
        statuses |= {400, 413, 422}
        if getattr(route.body_field.field_info, "media_type", None) == "multipart/form-data":
            statuses.add(415)
    if route.dependant.query_params or route.dependant.path_params:
        statuses.add(422)
    if route.path_format in AUTH_PATHS:
        statuses.add(429)
    return statuses


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency callable a route uses, however deeply nested."""
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _add_errors(operation: dict[str, Any], derived: set[int]) -> None:
    """Give every 4xx/5xx answer of the operation our error model (declared ones kept)."""
    responses: dict[str, Any] = operation["responses"]
    for status in derived:
        responses.setdefault(str(status), {})
    for key, response in responses.items():
        if not key.isdigit() or int(key) < 400:
            continue
        status = int(key)
        if not response.get("description") or response["description"] == "Validation Error":
            response["description"] = DESCRIPTIONS.get(status, "Error")  # FastAPI's default
        model = InvalidInput if status == 422 else Error
        ref = {"$ref": f"#/components/schemas/{model.__name__}"}
        response["content"] = {"application/json": {"schema": ref}}
        if status == 429:
            response["headers"] = RETRY_AFTER
    operation["responses"] = dict(sorted(responses.items()))


def _make_exclusive(operation: dict[str, Any]) -> None:
    """Describe the query of an operation whose parameters exclude each other as one object.

    OpenAPI cannot say "not both" of separate parameters; one form-exploded object parameter
    puts the same names in the query string and can (`not: {required: [...]}`). Other names
    are allowed in it, as the server ignores query parameters it does not know.
    """
    groups: list[list[str]] = operation.pop(EXCLUSIVE, [])
    if not groups:
        return
    query = [p for p in operation["parameters"] if p["in"] == "query"]
    properties: dict[str, Any] = {}
    for param in query:
        schema = _not_null(dict(param["schema"]))
        if "description" in param:
            schema["description"] = param["description"]
        properties[param["name"]] = schema
    rules = [{"not": {"required": names}} for names in groups]
    schema = {"type": "object", "properties": properties, **rules[0]}
    if len(rules) > 1:
        schema = {"type": "object", "properties": properties, "allOf": rules}
    required = [p["name"] for p in query if p.get("required")]
    if required:
        schema["required"] = required
    described = "; ".join(f"at most one of {', '.join(names)}" for names in groups)
    operation["parameters"] = [p for p in operation["parameters"] if p["in"] != "query"]
    operation["parameters"].append(
        {
            "name": "query",
            "in": "query",
            "style": "form",
            "explode": True,
            "required": bool(required),
            "description": f"The query parameters: {described}.",
            "schema": schema,
        }
    )


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter's schema without its `null` branch (a query has no null)."""
    branches = schema.pop("anyOf", None)
    if branches is None:
        return schema
    kept = [b for b in branches if b.get("type") != "null"]
    return {**schema, **kept[0]} if len(kept) == 1 else {**schema, "anyOf": kept}
