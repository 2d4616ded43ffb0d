"""reference/http-api.md: every route, from the OpenAPI document the app serves.

The app is built in-process the way tests/integration/test_contract.py builds it (nothing
connects: Redis clients are lazy), and `app.openapi()` is the same document `/openapi.json` serves.
"""

from __future__ import annotations

from refgen.markdown import banner, cell, code, table

METHODS = ("get", "head", "post", "put", "patch", "delete")


def build_app():
    from syndication.api.app import create_app
    from syndication.configuration import load_settings

    settings = load_settings({"SYNDICATION_REDIS_URL": "redis://127.0.0.1:1/0"})
    return create_app(settings, enqueue=lambda _: None)


def served(app) -> list[tuple[str, list[str], bool, str]]:
    """(path, methods, in the OpenAPI document?, what it is) for every route and mount the app serves,
    the included routers' flattened the way FastAPI's own OpenAPI generation walks them."""
    from fastapi import routing

    walk = getattr(routing, "iter_route_contexts", None)  # FastAPI >= 0.165 nests included routers
    found = []
    for route in (walk(app.routes) if walk else app.routes):
        endpoint = getattr(route, "endpoint", None)
        if endpoint is None:  # a Mount: static files
            what = f"files ({route.name})"
        else:
            doc = " ".join((endpoint.__doc__ or "").strip().split("\n\n")[0].split())
            what = f"{doc or route.name.replace('_', ' ')} ({code(endpoint.__module__)})"
        found.append((route.path, sorted(getattr(route, "methods", None) or ["GET"]),
                      bool(getattr(route, "include_in_schema", False)), what))
    return found


def routes(doc: dict) -> list[tuple[str, str, dict]]:
    """(METHOD, path, operation) for every operation in the document, in its order."""
    return [(m.upper(), path, op) for path, item in doc.get("paths", {}).items()
            for m, op in item.items() if m in METHODS]


def _type(schema: dict) -> str:
    """A schema in a few words: its $ref's name, its type, or its alternatives."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_slug(name)})"
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " or ".join(_type(s) for s in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(code(v) for v in schema["enum"])
    return kind + (f" ({schema['format']})" if "format" in schema else "")


def _operation(method: str, path: str, op: dict) -> str:
    out = [f"### {method} {path}", ""]
    if op.get("summary"):
        out += [f"**{op['summary']}**", ""]
    if op.get("description"):
        out += [" ".join(op["description"].split()), ""]
    params = op.get("parameters", [])
    if params:
        out += [table(["Parameter", "In", "Required", "Type", "Description"],
                      [[code(p["name"]), p.get("in"), "yes" if p.get("required") else "",
                        _type(p.get("schema", {})), p.get("description", "")] for p in params])]
    body = op.get("requestBody")
    if body:
        kinds = ", ".join(f"{code(ctype)}: {_type(spec.get('schema', {}))}"
                          for ctype, spec in body.get("content", {}).items())
        out += [f"Request body{' (required)' if body.get('required') else ''}: {kinds}", ""]
    responses = op.get("responses", {})
    if responses:
        out += [table(["Status", "Meaning", "Body"],
                      [[code(status), r.get("description", ""),
                        ", ".join(_type(s.get("schema", {})) for s in r.get("content", {}).values())]
                       for status, r in responses.items()])]
    return "\n".join(out)


def _schema(name: str, schema: dict) -> str:
    out = [f"### {name}", ""]
    if schema.get("description"):
        out += [" ".join(schema["description"].split()), ""]
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    if props:
        out += [table(["Field", "Type", "Required", "Description"],
                      [[code(k), _type(v), "yes" if k in required else "", v.get("description", "")]
                       for k, v in props.items()])]
    elif "enum" in schema or "type" in schema:
        out += [f"Type: {_type(schema)}", ""]
    return "\n".join(out)


def _slug(heading: str) -> str:
    """MyST's anchor (GitHub's rule) of a heading."""
    return "".join(c for c in heading.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def page() -> str:
    app = build_app()
    doc = app.openapi()
    found = routes(doc)
    outside = [[", ".join(methods), code(path), what] for path, methods, listed, what in served(app) if not listed]
    tags: dict[str, list] = {}
    for method, path, op in found:
        tags.setdefault((op.get("tags") or ["other"])[0], []).append((method, path, op))
    index = table(["Method", "Path", "What it does"],
                  [[method, f"[{code(path)}](#{_slug(f'{method} {path}')})", op.get("summary", "")]
                   for method, path, op in found])
    schemas = doc.get("components", {}).get("schemas", {})
    return "\n".join([
        "# HTTP API", "", banner("http_api", "the routes in `syndication/api/`"),
        f"{cell(doc['info'].get('description', ''))} The running service serves this same document at "
        "`/openapi.json`, with an interactive explorer at `/docs`.", "",
        f"{len(found)} operations, OpenAPI {doc.get('openapi')}, API version {doc['info'].get('version')}.", "",
        "## Routes", "", index,
        *(f"## {tag.capitalize()}\n\n" + "\n".join(_operation(*r) for r in ops) for tag, ops in tags.items()),
        "## Schemas", "", *(_schema(n, s) for n, s in schemas.items()),
        "## Routes outside the OpenAPI document", "",
        "The ops page and its actions (a signed-in session with a CSRF token, not an API for scripts), "
        "the API explorer and static files. Scripts use the routes above.", "",
        table(["Methods", "Path", "What it is"], outside),
    ])
