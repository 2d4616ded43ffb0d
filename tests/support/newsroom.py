"""A service of their own for the news sitemap and IPTC subject tests (the `newsroom` fixture,
tests/integration/conftest.py).

Real processes on the session's throwaway redis-server with a key prefix of their own: the API
and the events, feeds and deliveries workers, plus one partner server (Receiver). Its own, so
the sitemap lists only what these tests post (the session's service has other tests' articles).

Feeds:
    news-en   English articles, news sitemap "Example News" (en)
    news-kk   Kazakh articles, news sitemap "Example Jañalyqtar" (kk)
    bulk      category Bulk, news sitemap "Example Bulk" (the 1,000 limit)
    politics  IPTC Media Topic politics (medtop:11000000) and everything below it
Partner:
    politics-desk   ninjs, filtered on medtop:11000000
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from syndication.articles import ArticleStore
from syndication.configuration import load_settings
from syndication.infra.context import Context
from tests.support.processes import api, free_port, private_env, running, wait_for, worker
from tests.support.receiver import Receiver

KEY = "newsroom-publisher-key"
POLITICS = "medtop:11000000"
FEEDS = [
    {"name": "news-en", "language": "en", "filters": {"languages": ["en"]},
     "news_sitemap": {"publication": "Example News"}},
    {"name": "news-kk", "language": "kk", "filters": {"languages": ["kk"]},
     "news_sitemap": {"publication": "Example Jañalyqtar", "language": "kk"}},
    {"name": "bulk", "language": "en", "filters": {"categories": ["Bulk"]},
     "news_sitemap": {"publication": "Example Bulk"}},
    {"name": "politics", "filters": {"subjects": [POLITICS]}},
]


@dataclass
class Newsroom:
    url: str
    ctx: Context
    partner: Receiver

    @property
    def articles(self) -> ArticleStore:
        return ArticleStore.of(self.ctx)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

    def post(self, *events: dict) -> None:
        with requests.Session() as http:
            for ev in events:
                resp = http.post(f"{self.url}/v1/events", json=ev, headers=self.headers, timeout=10)
                assert resp.status_code == 202, resp.text

    def applied(self, article_id: str, version: int, timeout: float = 20.0) -> None:
        """Wait until that version is the stored one (applied by the events worker)."""
        wait_for(lambda: (s := self.articles.get(article_id)) is not None and s.version >= version,
                 timeout=timeout, what=f"{article_id} v{version} applied")


def start(redis_url: str, tmp: Path):
    """Start the newsroom's processes; yields the Newsroom, stops everything after."""
    partner = Receiver.start()
    partners_file, feeds_file = Path(tmp / "partners.yaml"), Path(tmp / "feeds.yaml")
    partners_file.write_text(yaml.safe_dump({"partners": [
        {"id": "politics-desk", "url": partner.url, "format": "ninjs", "allow_private_network": True,
         "filters": {"subjects": [POLITICS]}}]}))
    feeds_file.write_text(yaml.safe_dump({"feeds": FEEDS}, allow_unicode=True))
    port = free_port()
    env = private_env(redis_url, port, partners_file, "news", feeds_file=feeds_file,
                      SYNDICATION_API_KEYS=KEY, SYNDICATION_RENDER_WINDOW="0")
    procs = [api(env, tmp, port), worker("events", env, tmp), worker("feeds", env, tmp),
             worker("deliveries", env, tmp)]
    with running(procs, receivers=[partner]):
        yield Newsroom(f"http://127.0.0.1:{port}", Context.build(load_settings(env)), partner)
