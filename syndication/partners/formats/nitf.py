"""The article body as NITF: sanitised `body_html` mapped onto NITF 3.6 block and inline elements.

Standard: IPTC News Industry Text Format 3.6 (namespace http://iptc.org/std/NITF/2006-10-18/),
the body format agencies carry inside NewsML-G2's `inlineXML` (content type application/nitf+xml).
The input is what `syndication.text.sanitize_html` lets through, nothing else; a tag outside
that list can only come from an older stored article and is kept as its text.

`body.content` takes block elements only, and their text takes inline elements only, so:

- blocks: p -> p; h1..h6 -> hl2 (hl1 belongs to the hedline); div, figure -> block;
  blockquote -> bq holding one block (NITF's `bq` is block+); ul, ol, dl -> ul, ol, dl (li, dt, dd
  with inline text); table -> table (caption, thead, tbody, tfoot, tr, th, td, colspan/rowspan);
  pre -> pre (plain text); hr -> hr; img -> media (media-type image, media-reference with source,
  mime-type from the file name, alternate-text, width, height), placed after the block it was in;
  a figure that is one img and its figcaption -> one media with that media-caption.
- inline: a -> a (href, title); b, strong, i, u, small, abbr, cite, code, span, ins, sub, sup ->
  em with the HTML name as its class (NITF has one emphasis element: sub/sup are only allowed
  inside `num`); em -> em; q -> q; br -> br. del and s are left out with their text: struck text
  is text the newsroom took back.
- text outside any block (a body that is bare text, or text between two blocks) goes into a p.
- a block nested where only inline text may go (a p inside an li) gives up its element and keeps
  its text, a space apart.
"""

from __future__ import annotations

import mimetypes

import lxml.html
from lxml import etree

NITF_NS = "http://iptc.org/std/NITF/2006-10-18/"

HEADINGS = {f"h{n}" for n in range(1, 7)}
EMPHASIS = {"b", "strong", "i", "u", "small", "abbr", "cite", "code", "span", "ins", "sub", "sup", "em"}
STRUCK = {"del", "s"}
BLOCKS = HEADINGS | {"p", "div", "figure", "figcaption", "blockquote", "ul", "ol", "dl", "table", "pre", "hr"}
TABLE_PARTS = {"caption", "thead", "tbody", "tfoot", "tr"}
CELLS = {"td", "th"}


def _el(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{NITF_NS}}}{tag}", {k: v for k, v in attrs.items() if v})


def _add_text(dst: etree._Element, text: str | None) -> None:
    """Append text after whatever `dst` holds so far."""
    if not text:
        return
    if len(dst):
        dst[-1].tail = (dst[-1].tail or "") + text
    else:
        dst.text = (dst.text or "") + text


def _tag(node) -> str | None:
    return node.tag.lower() if isinstance(node.tag, str) else None  # None: a comment


def _media(img, out: etree._Element) -> etree._Element | None:
    src = img.get("src")
    if not src:
        return None
    media = _el(out, "media", **{"media-type": "image"})
    _el(media, "media-reference", source=src, **{"mime-type": mimetypes.guess_type(src)[0] or "",
                                                  "alternate-text": img.get("alt") or "",
                                                  "width": _digits(img.get("width")),
                                                  "height": _digits(img.get("height"))})
    return media


def _digits(value: str | None) -> str:
    return value if value and value.isdigit() else ""


def _inline(src, dst: etree._Element, images: list) -> None:
    """`src`'s content (not its tail) as inline NITF appended to `dst`; images found go to `images`."""
    _add_text(dst, src.text)
    for child in src:
        _inline_node(child, dst, images)
        _add_text(dst, child.tail)


def _inline_node(node, dst: etree._Element, images: list) -> None:
    """One element (not its tail) as inline NITF appended to `dst`."""
    tag = _tag(node)
    if tag == "a":
        _inline(node, _el(dst, "a", href=node.get("href") or "", title=node.get("title") or ""), images)
    elif tag in EMPHASIS:
        _inline(node, _el(dst, "em", **({"class": tag} if tag != "em" else {})), images)
    elif tag == "q":
        _inline(node, _el(dst, "q"), images)
    elif tag == "br":
        _el(dst, "br")
    elif tag == "img":
        images.append(node)
    elif tag is not None and tag not in STRUCK:
        _add_text(dst, " ")  # a block where only text may go: its text, set apart
        _inline(node, dst, images)
        _add_text(dst, " ")


def _text_block(src, out: etree._Element, tag: str) -> None:
    images: list = []
    _inline(src, _el(out, tag), images)
    for img in images:
        _media(img, out)


def _list(src, out: etree._Element, tag: str) -> None:
    dst = _el(out, tag)
    images: list = []
    for child in src:
        item = _tag(child)
        if item in ("li", "dt", "dd"):
            _inline(child, _el(dst, "li" if tag != "dl" else item), images)
    if not len(dst):
        out.remove(dst)
    for img in images:
        _media(img, out)


def _table(src, out: etree._Element, dst: etree._Element | None = None) -> None:
    dst = _el(out, "table") if dst is None else dst
    images: list = []
    for child in src:
        tag = _tag(child)
        if tag in TABLE_PARTS:
            part = _el(dst, tag)
            if tag == "caption":
                _inline(child, part, images)
            else:
                _table(child, out, part)
        elif tag in CELLS:
            span = {k: child.get(k) for k in ("colspan", "rowspan") if _digits(child.get(k))}
            _inline(child, _el(dst, tag, **span), images)
    for img in images:
        _media(img, out)


def _captioned_picture(figure, out: etree._Element) -> bool:
    """A figure that is one picture and its caption becomes one media with a media-caption."""
    parts = {_tag(ch): ch for ch in figure if _tag(ch)}
    loose = [figure.text, *(ch.tail for ch in figure)]
    if len(figure) != 2 or set(parts) != {"img", "figcaption"} or any(t and t.strip() for t in loose):
        return False
    media = _media(parts["img"], out)
    if media is None:
        return False
    _inline(parts["figcaption"], _el(media, "media-caption"), [])
    return True


def _block(src, out: etree._Element) -> None:
    tag = _tag(src)
    if tag in HEADINGS:
        _text_block(src, out, "hl2")
    elif tag in ("p", "figcaption"):
        _text_block(src, out, "p")
    elif tag == "figure" and _captioned_picture(src, out):
        pass
    elif tag in ("div", "figure"):
        _blocks(src, _el(out, "block"))
    elif tag == "blockquote":
        _blocks(src, _el(_el(out, "bq"), "block"))
    elif tag in ("ul", "ol", "dl"):
        _list(src, out, tag)
    elif tag == "table":
        _table(src, out)
    elif tag == "pre":
        _el(out, "pre").text = src.text_content()
    elif tag == "hr":
        _el(out, "hr")


def _blocks(src, out: etree._Element) -> None:
    """`src`'s children as NITF blocks in `out`; loose text and inline elements gather into a p."""
    loose: etree._Element | None = None
    images: list = []

    def paragraph() -> etree._Element:
        nonlocal loose
        if loose is None:
            loose = _el(out, "p")
        return loose

    def flush() -> None:
        nonlocal loose
        loose = None
        for img in images:
            _media(img, out)
        images.clear()

    if src.text and src.text.strip():
        _add_text(paragraph(), src.text)
    for child in src:
        tag = _tag(child)
        if tag in BLOCKS:
            flush()
            _block(child, out)
        elif tag == "img":
            flush()
            _media(child, out)
        elif tag is not None and tag not in STRUCK:
            _inline_node(child, paragraph(), images)
        if child.tail and child.tail.strip():
            _add_text(paragraph(), child.tail)
    flush()


def body_content(body_html: str, parent: etree._Element) -> etree._Element:
    """Append `<body.content>` holding `body_html` as NITF blocks to `parent`; return it."""
    content = _el(parent, "body.content")
    if body_html.strip():
        _blocks(lxml.html.fragment_fromstring(body_html, create_parent="div"), content)
    return content
