"""Realistic articles, and the events that carry them to POST /v1/events.

Owns: `article_body` (newsroom HTML of about `target` bytes: paragraphs with links and entities,
a quote, a list, a figure, and a script and an onerror attribute the cleaner must strip),
`make_article` (a full article in one category plus SHARED_CATEGORY, with one image) and
`event_body` (an article.published event around an article, as the bytes to POST).
Everything is a pure function of its arguments, so two runs post the same bytes.
"""

from __future__ import annotations

import json
from datetime import datetime

SHARED_CATEGORY = "Kazakhstan"  # every article's second category (no feed filters on it)

_PARAGRAPHS = [
    "The {topic} ministry said on {day} that the programme, first announced in {year}, would be "
    "extended to <a href=\"https://news.example/regions/{n}\">{n} more regions</a> by the end of "
    "the year, with funding of <strong>{n}.{m} billion tenge</strong> &amp; further support.",
    "Officials told reporters in Astana that &ldquo;the figures for the first quarter are encouraging&rdquo;, "
    "but analysts at two banks warned that <em>inflation</em> could erode the gains seen since {year}.",
    "According to the statistics bureau, output rose {m}.{n}% year on year, the fastest pace since "
    "{year}; exports of grain and metals accounted for most of the increase.",
    "<blockquote cite=\"https://news.example/quotes/{n}\">We expect the new rules to take effect "
    "on 1 January, and we will publish the details next month.</blockquote>",
    "The decision follows a review of {n} applications submitted by companies in the {topic} sector, "
    "of which {m} were approved, the agency said in a statement on its website.",
    "<ul><li>Phase one: {n} sites</li><li>Phase two: {m} sites</li><li>Budget: {n}{m} million</li></ul>",
]


def article_body(i: int, target: int = 3000) -> str:
    topic = ("economy", "transport", "energy", "health")[i % 4]
    parts, k = [], 0
    while sum(map(len, parts)) < target:
        text = _PARAGRAPHS[k % len(_PARAGRAPHS)].format(topic=topic, day="Monday", year=2020 + (i + k) % 6,
                                                        n=(i * 7 + k) % 97 + 3, m=(i + k * 3) % 9 + 1)
        parts.append(text if text.startswith(("<blockquote", "<ul")) else f"<p>{text}</p>")
        k += 1
    # A figure and something the cleaner must strip, as newsroom HTML has.
    parts.insert(2, f"<figure><img src=\"https://news.example/media/{i}.jpg\" alt=\"photo {i}\" "
                    f"onerror=\"alert(1)\" width=\"800\" height=\"450\"><figcaption>Photo {i}</figcaption></figure>")
    parts.append("<script>track()</script>")
    return "".join(parts)


def make_article(i: int, category: str, published_at: datetime, version: int = 1) -> dict:
    aid = f"bench-{category.lower()}-{i:05d}"
    return {
        "id": aid,
        "version": version,
        "url": f"https://news.example/en/{category.lower()}/{aid}",
        "language": "en",
        "headline": f"{category}: regional programme extended to new areas ({i})",
        "summary": f"The programme will reach more regions by the end of the year, officials said ({i}).",
        "body_html": article_body(i),
        "authors": [("Aigerim Nurlanovna", "Daniyar Seitkali", "Marat Ospanov")[i % 3]],
        "categories": [category, SHARED_CATEGORY],
        "section": category,
        "dateline": "ASTANA",
        "source": "Newsroom Example",
        "published_at": published_at.isoformat(),
        "updated_at": published_at.isoformat(),
        "images": [{"url": f"https://news.example/media/2026/{i}.jpg", "caption": f"Photo {i}",
                    "mime_type": "image/jpeg", "width": 1600, "height": 900}],
    }


def event_body(art: dict, event_id: str) -> bytes:
    """The body of POST /v1/events publishing `art`."""
    ev = {"event_id": event_id, "type": "article.published", "occurred_at": art["published_at"], "article": art}
    return json.dumps(ev, ensure_ascii=False).encode()
