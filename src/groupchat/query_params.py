"""Each query parameter a route declares is given at most once: a repeated one is 422."""

from __future__ import annotations

from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from starlette.requests import HTTPConnection


async def single_values(connection: HTTPConnection) -> None:
    """Refuse `?days=5&days=6`: the document says one value, and FastAPI would keep the last."""
    dependant = getattr(connection.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    for name in _query_names(dependant):
        if len(connection.query_params.getlist(name)) > 1:
            error = {"loc": ("query", name), "msg": "give it once", "type": "repeated"}
            raise RequestValidationError([error])


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters of a route and of every dependency it uses."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
