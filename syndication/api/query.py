"""Query parameters a /v1 operation does not know are an error, not something silently ignored.

A client that sends `?stat=dead` for `?state=dead` must hear about it (422 naming the parameter),
not get every delivery back as if it had asked for all of them; and the OpenAPI document, from
which partners generate clients, lists each operation's parameters as the complete set.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError


_KNOWN: dict[int, frozenset[str]] = {}  # id(route) -> its query parameters (routes live as long as the app)


def _known(route) -> frozenset[str]:
    found = _KNOWN.get(id(route))
    if found is None:
        found = _KNOWN[id(route)] = frozenset(_declared(route.dependant))
    return found


def _declared(dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared(sub)
    return names


def known_only(request: Request) -> None:
    """A router dependency: 422 for any query parameter the operation does not declare."""
    route = request.scope.get("route")
    if route is None or not request.query_params:
        return
    unknown = sorted(set(request.query_params) - _known(route))
    if unknown:
        raise RequestValidationError([{"loc": ("query", name), "msg": "unknown query parameter",
                                       "type": "extra_forbidden"} for name in unknown])
