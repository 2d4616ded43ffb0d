"""Making newsroom text safe for feeds and partners.

Bodies arrive as HTML typed or pasted by people: they may hold `<script>`,
event handlers, `javascript:` links, or control characters that XML 1.0
forbids (feedgen raises on them at render time). `clean_article` is applied
once, when an event is applied, so every output (feeds, pushes, the API)
sees the same safe text.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nh3

# Characters XML 1.0 cannot carry, plus lone surrogates (unencodable in UTF-8).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "div", "dl",
    "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "ins", "li", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
_ALLOWED_ATTRS = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "*": {"lang", "dir"},
}


def xml_safe(text: str) -> str:
    """Remove characters that XML 1.0 forbids (never a render failure)."""
    return _XML_ILLEGAL.sub("", text)


def sanitize_html(fragment: str) -> str:
    """Keep article markup, drop scripts, handlers and unsafe URL schemes."""
    cleaned = nh3.clean(
        xml_safe(fragment),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRS,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    # nh3 keeps some control characters; strip again after it.
    return xml_safe(cleaned)


def plain_text(fragment: str, limit: int | None = None) -> str:
    """HTML to one line of plain text (for RSS <description>, summaries)."""
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", fragment))).strip()
    if limit and len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return xml_safe(text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return xml_safe(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def clean_article(article: dict[str, Any]) -> dict[str, Any]:
    """Copy of `article` with safe HTML and no XML-illegal characters in any field."""
    out = _clean(article)
    if out.get("body_html"):
        out["body_html"] = sanitize_html(out["body_html"])
    if out.get("summary"):
        out["summary"] = plain_text(out["summary"])
    return out
