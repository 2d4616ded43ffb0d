"""What a /v1 request carries beyond its declared parameters is an error, not silently ignored.

Query parameters the operation does not know: a client that sends `?stat=dead` for
`?state=dead` must hear about it (422 naming the parameter), not get every delivery back as if
it had asked for all of them; and the OpenAPI document, from which partners generate clients,
lists each operation's parameters as the complete set.

Control characters in a `{name:path}` parameter: Starlette matches a route with
`re.match("^...$")`, where `$` also matches before a final newline and `.*` stops at one, so
`GET /v1/articles/a%0A` would read article `a`. No id holds a control character; such a path
is refused (422 naming the parameter) before the cut-off id reaches a key. (A plain `{name}`
takes the newline into its value, where the parameter's own type judges it.)
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.convertors import PathConvertor


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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def plain_path(request: Request) -> bool:
    """False if the (decoded) path holds a control character: a `{name:path}` would lose a newline."""
    return _CONTROL.search(request.scope.get("path", "")) is None


def _path_params(route) -> list[str]:
    return [name for name, c in getattr(route, "param_convertors", {}).items() if isinstance(c, PathConvertor)]


def known_only(request: Request) -> None:
    """A router dependency: 422 for any query parameter the operation does not declare, and for a
    control character in a path whose route has a `{name:path}` parameter."""
    route = request.scope.get("route")
    names = _path_params(route) if route is not None else []
    if names and not plain_path(request):
        raise RequestValidationError([{"loc": ("path", name), "msg": "must not contain control characters",
                                       "type": "value_error"} for name in names])
    if route is None or not request.query_params:
        return
    unknown = sorted(set(request.query_params) - _known(route))
    if unknown:
        raise RequestValidationError([{"loc": ("query", name), "msg": "unknown query parameter",
                                       "type": "extra_forbidden"} for name in unknown])
