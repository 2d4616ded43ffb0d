"""The API with a same-run static-bytes baseline in front: the HTTP ceiling of the very server that serves feeds.

    python -m benchmarks.harness.static_baseline --static /_bench/static-200=/feeds/x.rss \\
        --static /_bench/static-304=/feeds/x.rss api --host 127.0.0.1 --port PORT

runs `syndication api` itself (its `cmd_api`, so every uvicorn setting is the one the service
runs with: limit_concurrency, keep-alive timeout, h11 limits, no access log, ...) with one change:
the uvicorn factory is `build_api` below instead of `syndication.cli:build_api`. `build_api` wraps
the real application (`syndication.cli:build_api`, unchanged) in `StaticFirst`, which answers each
`--static` path before anything else, and passes every other request to the real application.

What a static path answers: the first request to it is passed to the real application as a
request for its source path, with that first request's headers (so `Accept-Encoding: gzip` gives
the stored gzipped feed and `If-None-Match: <etag>` its 304); the response (status, headers,
body) is recorded and every later request gets that recording, sent as fixed bytes, without
looking at anything. Same status, same header names and values, same body bytes as the feed's
answer, so the only difference between the two on the wire is the path: the static rows measure
what uvicorn and the ASGI hand-off cost on this server in this run, and the feed rows as a ratio
of them measure how far serving a feed is from that ceiling.
"""

from __future__ import annotations

import argparse
import os
import sys

ENV_SPEC = "BENCH_STATIC_PATHS"  # "static=source;static=source", set by main() for build_api (same process)
REAL_FACTORY = "syndication.cli:build_api"
FACTORY = "benchmarks.harness.static_baseline:build_api"


class StaticFirst:
    """ASGI: answer each static path with the recorded response of its source path; else the real app."""

    def __init__(self, app, paths: dict[str, str]):
        self.app = app
        self.paths = paths  # static path -> source path
        self.recorded: dict[str, tuple[dict, dict]] = {}  # static path -> (start message, body message)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and (source := self.paths.get(scope["path"])) is not None:
            rec = self.recorded.get(scope["path"])
            if rec is None:
                rec = self.recorded[scope["path"]] = await self._record(scope, receive, source)
            await send(rec[0])
            await send(rec[1])
            return
        await self.app(scope, receive, send)

    async def _record(self, scope, receive, source: str) -> tuple[dict, dict]:
        start: dict = {}
        body = bytearray()

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(status=message["status"], headers=list(message.get("headers", [])))
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        inner = dict(scope, path=source, raw_path=source.encode(), query_string=b"")
        await self.app(inner, receive, capture)
        return ({"type": "http.response.start", "status": start["status"], "headers": start["headers"]},
                {"type": "http.response.body", "body": bytes(body), "more_body": False})


def parse_paths(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, text.split(";")):
        static, _, source = part.partition("=")
        if not static.startswith("/") or not source.startswith("/"):
            raise ValueError(f"expected /static=/source, got {part!r}")
        out[static] = source
    return out


def build_api():
    """uvicorn factory: the real application (syndication.cli:build_api) behind StaticFirst."""
    from syndication.cli import build_api as real_build_api

    return StaticFirst(real_build_api(), parse_paths(os.environ.get(ENV_SPEC, "")))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--static", action="append", default=[], metavar="/STATIC=/SOURCE",
                   help="answer STATIC with the recorded answer of SOURCE (repeatable)")
    args, rest = p.parse_known_args(argv)
    try:
        paths = parse_paths(";".join(args.static))
    except ValueError as exc:
        p.error(str(exc))
    if rest[:1] != ["api"]:
        p.error("expected `api [--host H] [--port P]` after the --static options")
    os.environ[ENV_SPEC] = ";".join(f"{k}={v}" for k, v in paths.items())

    import uvicorn

    from syndication.cli import main as syndication_main

    real_run = uvicorn.run

    def run(app, *a, **kw):
        # `syndication api` calls uvicorn.run once, with its factory: swap only the factory.
        if app != REAL_FACTORY or not kw.get("factory"):
            raise SystemExit(f"static_baseline: `syndication api` ran uvicorn with {app!r} "
                             f"(factory={kw.get('factory')!r}); expected the factory {REAL_FACTORY}")
        return real_run(FACTORY, *a, **kw)

    uvicorn.run = run
    return syndication_main(rest)


if __name__ == "__main__":
    sys.exit(main())
