"""Regressions for what the hostile-input property test (tests/integration/test_property_hostile.py) found.

One test per class of bug, each failing on the code before its fix:
- a lone surrogate in a JSON *key* made the 422 itself unencodable (the API answered 500);
- the `json` push format sent a withdrawal's reason as stored, markup and all;
- body_html came back to life for a reader that decodes it once more: escaped tags in its text,
  and `"` in attribute values that closes the attribute after the second decoding.
"""

from __future__ import annotations

import html
import json
import re

import pytest

from syndication.errors import InvalidEvent
from syndication.events import parse_event
from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.text import clean_article, sanitize_html


def _live_after_second_decoding(fragment: str) -> list[str]:
    """Tags with handlers, scripts, javascript: URLs in `fragment` decoded once more as HTML."""
    decoded = html.unescape(fragment)
    tags = re.findall(r"<[A-Za-z][^>]*", decoded)
    outside_quotes = [re.sub(r"\"[^\"]*\"|'[^']*'", '""', t) for t in tags]
    return ([m.group() for m in re.finditer(r"<script", decoded, re.I)]
            + [t for t in outside_quotes if re.search(r"[\s/]on[a-z]+\s*=", t, re.I)]
            + [t for t in tags if re.search(r"=\s*[\"']?\s*javascript:", t, re.I)])


# --- a lone surrogate in a key: 422 naming the field, never 500 ------------------------------

def test_a_lone_surrogate_in_a_key_is_a_problem_that_can_be_sent():
    body = b'{"event_id": "e1", "type": "article.published", "x\\udc00": {"\\ud800": 1}}'
    with pytest.raises(InvalidEvent) as caught:
        parse_event(body)
    problems = caught.value.problems
    assert {p["field"] for p in problems} == {"x\\udc00", "x\\udc00.\\ud800"}
    # What the API answers must be encodable: this raised UnicodeEncodeError (a 500) before.
    json.dumps({"detail": str(caught.value), "problems": problems}, ensure_ascii=False).encode("utf-8")


# --- the json push format: a withdrawal's reason is plain text, as in every other format ------

def test_json_push_withdrawal_reason_is_plain_text():
    reason = '<img src=x onerror=alert(1)>Legal &lt;script&gt;alert(2)&lt;/script&gt; hold'
    push = Push("d1", "e1", "article.withdrawn", "a1", 2, None, True, reason)
    sent = json.loads(PUSH_FORMATS["json"].render(push, base_url="https://s.example"))["article"]["reason"]
    assert "Legal" in sent and "hold" in sent
    assert "<img" not in sent and "<script" not in html.unescape(sent) and "onerror=" not in sent.replace(" ", "")


# --- body_html: nothing comes back to life on a second decoding -------------------------------

@pytest.mark.parametrize("fragment", [
    "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
    "<p>&lt;img src=x onerror=alert(1)&gt;</p>",
    "<p>&amp;lt;svg onload=alert(1)&amp;gt; and &#60;script&#62; and &ltscript&gt;</p>",
    "&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;",
    '<a href="https://ok.example/" title="&quot; onclick=alert(1) x=&quot;">t</a>',
    '<img src="https://img.example/a.png" alt="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">',
    '<a href="https://ok.example/?q=&quot; onmouseover=alert(1) &lt;script&gt;">t</a>',
])
def test_body_html_stays_dead_after_one_more_decoding(fragment):
    out = sanitize_html(fragment)
    assert not _live_after_second_decoding(out), out
    assert not re.search(r"<script", out, re.I)


def test_body_html_text_and_links_survive():
    out = sanitize_html('<p>AT&amp;T: 1 &lt; 2, x&lt;y</p>'
                        '<a href=" https://ok.example/a b?x=1&amp;y=\'2\'" title="Q&amp;A &quot;live&quot;">link</a>')
    assert "AT&amp;T: 1 &lt; 2, x&lt; y" in out  # only a `<` that could open a tag gets a space
    assert "title=\"Q&amp;A 'live'\"" in out
    assert 'href="https://ok.example/a%20b?x=1&amp;y=%272%27"' in out


def test_clean_article_uses_the_same_rules():
    article = clean_article({"headline": "h", "body_html": "<p>&lt;script&gt;x&lt;/script&gt;</p>"})
    assert article["body_html"] == "<p>&lt; script&gt;x&lt; /script&gt;</p>"
