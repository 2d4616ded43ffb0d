"""Making newsroom text safe for feeds and partners.

Two kinds of text, one rule each:

- `body_html` is the only field that carries markup, and only markup nh3
  keeps: no `<script>`, event handlers, or `javascript:` in any URL
  attribute (href, src, cite). Readers that decode an HTML field once more
  than they should (a known failure of feed readers) must not find live
  markup either: escaped tags in its text get a space after the `<`
  (`&lt; script&gt;`), attribute values carry no `"` that could close the
  attribute once decoded (URLs are percent-encoded, other attributes are
  plain text with `'` for `"`).
- Everything else (headline, summary, captions, authors, categories,
  subject names, section, dateline, source, a withdrawal's reason) is *plain text*: tags
  are removed and entities decoded until nothing changes, so escaped
  markup (`&lt;img onerror=...&gt;`, even double-escaped) cannot come back
  to life when a reader decodes it; a `<` that could still open a tag gets
  a space after it. Outputs that are HTML by convention (RSS
  `<description>`, JSON Feed `content_html`) escape plain text with
  `as_html` instead of trusting it.

Characters XML 1.0 forbids are removed from every field (feedgen raises on
them at render time). `clean_article` runs once, when an event is applied,
so every output (feeds, pushes, the API) sees the same safe text.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nh3

from syndication import subjects

# Characters XML 1.0 cannot carry, plus lone surrogates (unencodable in UTF-8).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TAG = re.compile(r"<[A-Za-z/!?][^>]*>")
_SPACE = re.compile(r"\s+")
# What an HTML parser takes as the start of a tag, comment or declaration.
_TAG_OPEN = re.compile(r"<(?=[A-Za-z!/?])")
_PLAIN_FIELDS = ("headline", "summary", "section", "dateline", "source")
_PLAIN_LISTS = ("authors", "categories")

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
    "del": {"cite"},
    "ins": {"cite"},
    "*": {"lang", "dir"},
}


def xml_safe(text: str) -> str:
    """Remove characters that XML 1.0 forbids (never a render failure)."""
    return _XML_ILLEGAL.sub("", text)


_URL_SCHEMES = {"http", "https", "mailto"}
_URL_ATTRS = {"href", "src", "cite"}
_URL_EDGES = "".join(map(chr, range(0x21)))  # what browsers strip around a URL
# Characters that could end an attribute or open a tag once a reader decodes the HTML again.
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f\"'<>`]")
# `<` as serialized text (`&lt;`), or escaped again (`&amp;lt;`, `&amp;#60;`...), about to open a tag.
_ESCAPED_TAG_OPEN = re.compile(r"&(?:amp;)*(?:lt;?|#0*60;?|#x0*3c;?)(?=[A-Za-z!/?])", re.I)
_SERIALIZED_TAG = re.compile(r"(<[^>]*>)")  # nh3 escapes `<` and `>` in text and attribute values


def _safe_attribute(element: str, attribute: str, value: str) -> str | None:
    """Called by nh3 for every attribute it keeps, *after* its own URL-scheme check."""
    if attribute in _URL_ATTRS:
        value = value.strip(_URL_EDGES)
        # nh3 checks the scheme of href and src only; `cite` (blockquote, q, del, ins) is a URL too.
        scheme, colon, _ = value.partition(":")
        if attribute == "cite" and colon and "/" not in scheme and scheme.lower() not in _URL_SCHEMES:
            return None
        # Percent-encoding keeps the URL's meaning and leaves nothing to break out of the attribute.
        return _URL_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", value)
    # title, alt, lang, ...: plain text, and no `"` that a second decoding would turn into a quote.
    return plain_text(value).replace('"', "'")


def _defuse_text(serialized: str) -> str:
    parts = _SERIALIZED_TAG.split(serialized)
    parts[::2] = [_ESCAPED_TAG_OPEN.sub(lambda m: m.group() + " ", text) for text in parts[::2]]
    return "".join(parts)


def sanitize_html(fragment: str) -> str:
    """Keep article markup, drop scripts, handlers and unsafe URL schemes, now or after a second decoding."""
    cleaned = nh3.clean(
        xml_safe(fragment),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRS,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
        attribute_filter=_safe_attribute,
    )
    # nh3 keeps some control characters; strip again after it.
    return xml_safe(_defuse_text(cleaned))


def plain_text(fragment: str, limit: int | None = None) -> str:
    """Any text (HTML or not) to one line of plain text that no reader can take for markup."""
    text = xml_safe(fragment)
    while True:  # tags out, entities decoded, until stable: escaped markup cannot survive
        again = html.unescape(_TAG.sub(" ", text))
        if again == text:
            break
        text = again
    text = _SPACE.sub(" ", _TAG_OPEN.sub("< ", text)).strip()
    if limit and len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return xml_safe(text)


def as_html(text: str) -> str:
    """Plain text for an output that readers render as HTML (RSS description, content_html)."""
    return html.escape(text, quote=False)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return xml_safe(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _clean_subjects(items: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """Each Media Topic once, its name plain text, else the IPTC's name when the vocabulary has it."""
    out, seen = [], set()
    for item in items or []:
        qcode = item.get("qcode")
        if not qcode or qcode in seen:
            continue
        seen.add(qcode)
        name = plain_text(item.get("name") or "") or subjects.name_of(qcode)
        out.append({"qcode": qcode, **({"name": name} if name else {})})
    return out


def clean_article(article: dict[str, Any]) -> dict[str, Any]:
    """Copy of `article`: sanitized body, plain-text everything else, no XML-illegal characters."""
    out = _clean(article)
    if out.get("body_html"):
        out["body_html"] = sanitize_html(out["body_html"])
    for name in _PLAIN_FIELDS:
        if out.get(name):
            out[name] = plain_text(out[name])
    for name in _PLAIN_LISTS:
        out[name] = [t for t in (plain_text(v) for v in out.get(name) or []) if t]
    out["subjects"] = _clean_subjects(out.get("subjects"))
    for image in out.get("images") or []:
        if image.get("caption"):
            image["caption"] = plain_text(image["caption"])
    if isinstance(out.get("correction"), dict):  # still a correction when its note was nothing but markup
        note = plain_text(out["correction"].get("note") or "")
        out["correction"] = {"note": note} if note else {}
    if not out.get("headline"):  # a headline that was nothing but markup
        out["headline"] = "(untitled)"
    return out
