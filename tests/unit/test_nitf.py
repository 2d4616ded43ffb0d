"""The body as NITF 3.6 (syndication/partners/formats/nitf.py): every tag the sanitiser keeps lands
on a NITF element allowed where it stands, and no text is lost but struck text.

The NewsML-G2 schema takes inlineXML content laxly (any namespace), so it cannot judge the NITF;
this test holds the mapping to NITF's content model for what `body.content` and its blocks take.
"""

from __future__ import annotations

import pytest
from lxml import etree

from syndication.partners.formats.nitf import NITF_NS, body_content
from syndication.text import sanitize_html

BLOCK_LEVEL = {"p", "hl2", "block", "bq", "ul", "ol", "dl", "table", "pre", "hr", "media"}
INLINE = {"a", "em", "q", "br"}
# Where each NITF element may appear (NITF 3.6 content model, for the elements we emit).
ALLOWED_IN = {
    "body.content": BLOCK_LEVEL, "block": BLOCK_LEVEL, "bq": {"block"},
    "p": INLINE, "hl2": INLINE, "li": INLINE, "dt": INLINE, "dd": INLINE, "td": INLINE, "th": INLINE,
    "caption": INLINE, "a": INLINE - {"a"}, "em": INLINE, "q": INLINE, "media-caption": INLINE,
    "ul": {"li"}, "ol": {"li"}, "dl": {"dt", "dd"},
    "table": {"caption", "thead", "tbody", "tfoot", "tr"}, "thead": {"tr"}, "tbody": {"tr"}, "tfoot": {"tr"},
    "tr": {"td", "th"}, "media": {"media-reference", "media-caption"},
    "pre": set(), "hr": set(), "br": set(), "media-reference": set(),
}
EVERYTHING = (
    '<h1>Title</h1><h3>Sub</h3><p>A <b>b</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <small>sm</small> '
    '<abbr title="x">ab</abbr> <cite>c</cite> <code>co</code> <span lang="kk">sp</span> <ins>in</ins> '
    'H<sub>2</sub>O x<sup>2</sup> <q>quote</q> <a href="https://x.example/" title="t">link</a><br>'
    'next <del>gone</del><s>struck</s>.</p>loose text <b>bold</b>'
    '<div>in div<p>para in div</p></div>'
    '<blockquote cite="https://x.example/">said<p>more</p></blockquote>'
    '<ul><li>one<p>nested para</p><ul><li>deep</li></ul></li><li>two</li></ul><ol><li>first</li></ol>'
    '<dl><dt>term</dt><dd>definition</dd></dl>'
    '<table><caption>Cap</caption><thead><tr><th scope="col">H</th></tr></thead>'
    '<tbody><tr><td colspan="2" rowspan="x">cell</td></tr></tbody><tfoot><tr><td>f</td></tr></tfoot></table>'
    '<pre>code <b>line</b></pre><hr>'
    '<figure><img src="https://x.example/a.jpg" alt="Alt" width="640" height="nope">'
    '<figcaption>Caption <i>here</i></figcaption></figure>'
    '<figure><img src="https://x.example/b.png"><p>not a caption</p></figure>'
    '<p>text <img src="https://x.example/c.gif"> around</p>'
)


def nitf(fragment: str) -> etree._Element:
    parent = etree.Element(f"{{{NITF_NS}}}body", nsmap={None: NITF_NS})
    return body_content(sanitize_html(fragment), parent)


def local(el: etree._Element) -> str:
    return etree.QName(el).localname


def test_every_element_stands_where_nitf_allows_it():
    content = nitf(EVERYTHING)
    for el in content.iter(etree.Element):
        assert el.tag.startswith(f"{{{NITF_NS}}}"), el.tag
        for child in el:
            assert local(child) in ALLOWED_IN[local(el)], f"<{local(child)}> inside <{local(el)}>"
        if local(el) in ("body.content", "block", "bq", "ul", "ol", "dl", "table", "tr", "media"):
            assert not (el.text or "").strip() and all(not (ch.tail or "").strip() for ch in el), local(el)


def test_the_mapping():
    content = nitf(EVERYTHING)
    x = lambda path: content.xpath(path, namespaces={"n": NITF_NS})  # noqa: E731
    assert x("n:hl2/text()") == ["Title", "Sub"]
    assert x("n:p[1]/n:em/@class") == ["b", "strong", "i", "u", "small", "abbr", "cite", "code", "span", "ins",
                                       "sub", "sup"]
    assert x("n:p[1]/n:em[not(@class)]/text()") == ["e"]
    assert x("n:p[1]/n:a/@href") == ["https://x.example/"] and x("n:p[1]/n:q/text()") == ["quote"]
    assert "gone" not in x("string(n:p[1])") and "struck" not in x("string(n:p[1])")
    assert x("string(n:p[2])") == "loose text bold"
    assert x("n:block[1]/n:p/text()") == ["in div", "para in div"]
    assert x("n:bq/n:block/n:p/text()") == ["said", "more"]
    assert [" ".join(li.xpath("string()").split()) for li in x("n:ul/n:li")] == ["one nested para deep", "two"]
    assert x("n:dl/n:dt/text()") == ["term"] and x("n:dl/n:dd/text()") == ["definition"]
    assert x("n:table/n:caption/text()") == ["Cap"] and x("n:table/n:tbody/n:tr/n:td/@colspan") == ["2"]
    assert not x("n:table//@rowspan")  # not a number: left out
    assert x("n:pre/text()") == ["code line"] and x("n:hr")
    captioned = x("n:media[n:media-caption]")
    assert len(captioned) == 1
    ref = captioned[0].find(f"{{{NITF_NS}}}media-reference")
    assert (ref.get("source"), ref.get("mime-type"), ref.get("alternate-text"), ref.get("width"), ref.get("height")) \
        == ("https://x.example/a.jpg", "image/jpeg", "Alt", "640", None)
    assert " ".join(captioned[0].xpath("string(n:media-caption)", namespaces={"n": NITF_NS}).split()) == "Caption here"
    assert x("n:block[2]/n:media/n:media-reference/@source") == ["https://x.example/b.png"]
    assert x("n:block[2]/n:p/text()") == ["not a caption"]
    assert x("n:p[last()]/text()") == ["text  around"]  # the picture goes after its paragraph
    assert x("n:media[last()]/n:media-reference/@mime-type") == ["image/gif"]


@pytest.mark.parametrize("body", ["", "   ", "bare text", "<p></p>", "<!-- c --><p>x</p>", "<ul>text only</ul>"])
def test_edge_bodies(body):
    content = nitf(body)
    for el in content:
        assert local(el) in BLOCK_LEVEL
