"""`newsml-g2` and `newsml-g2-message`: every push is valid NewsML-G2 2.35 and says what happened.

Each push (published, updated, corrected, withdrawn, withdrawn before any release, embargoed for
an `embargo: send` partner, with images, with hostile text) is validated with lxml against the
IPTC's 2.35 XSD in tests/schemas/newsml-g2-2.35/ (power conformance, CC BY 4.0), in both
formats; a deliberately broken item must fail that validation, so the check can fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from syndication.partners.formats import PUSH_FORMATS, Push
from syndication.partners.formats.nitf import NITF_NS
from tests.unit.test_formats import BASE, CORRECTED, NEVER, REASON, URN, V1, V2, stored

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "newsml-g2-2.35"
SCHEMA = etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "NewsML-G2_2.35-spec-All-Power.xsd")))
NS = {"g": "http://iptc.org/std/nar/2006-10-01/", "n": NITF_NS}
FORMATS = ["newsml-g2", "newsml-g2-message"]
HOSTILE = '"><script>alert(1)</script>&lt;img src=x onerror=alert(2)&gt; ]]> \x0b Q&A'
HELD = stored(embargoed="2026-11-20T12:00:00Z")
HOSTILE_ARTICLE = stored(headline=HOSTILE, summary=HOSTILE, authors=[HOSTILE], categories=[HOSTILE],
                         dateline=HOSTILE, source=HOSTILE,
                         body_html=f"<p onclick=x>{HOSTILE}</p><script>alert(3)</script><div>{HOSTILE}</div>",
                         images=[{"url": "https://news.example/a.jpg?q=%22%3E&x=1", "caption": HOSTILE}])
PUSHES = {
    "published": Push("d1", "e1", "article.published", V1["id"], 1, V1, False,
                      occurred_at="2026-11-20T09:00:05+05:00"),
    "updated": Push("d2", "e2", "article.updated", V2["id"], 2, V2, False),
    "corrected": Push("d2", "e2", "article.updated", V2["id"], 2, CORRECTED, False),
    "withdrawn": Push("d3", "e3", "article.withdrawn", V2["id"], 3, V2, True, REASON,
                      occurred_at="2026-11-21T10:00:00Z"),
    "withdrawn-unpublished": Push("d4", "e4", "article.withdrawn", "never-1", 2, None, True, "dup"),
    "embargoed-send": Push("d5", "e5", "article.published", HELD["id"], 1, HELD, False),
    "no-images": Push("d6", "e6", "article.published", V1["id"], 1, stored(images=[]), False),
    "hostile": Push("d7", "e7", "article.published", HOSTILE_ARTICLE["id"], 1, HOSTILE_ARTICLE, False),
}


def render(fmt: str, case: str) -> bytes:
    return PUSH_FORMATS[fmt].render(PUSHES[case], base_url=BASE)


def valid(body: bytes) -> etree._Element:
    """The newsItem of a push, after validating the whole document against the 2.35 schema."""
    root = etree.fromstring(body)  # strict XML first
    SCHEMA.assertValid(root)
    return root if root.tag == f"{{{NS['g']}}}newsItem" else root.find("g:itemSet/g:newsItem", NS)


def item(case: str, fmt: str = "newsml-g2") -> etree._Element:
    return valid(render(fmt, case))


def x(el: etree._Element, path: str):
    return el.xpath(path, namespaces=NS)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", list(PUSHES))
def test_every_push_is_valid_newsml_g2_2_35(fmt, case):
    ni = valid(render(fmt, case))
    assert ni.get("guid") == (NEVER if case == "withdrawn-unpublished" else URN)
    assert ni.get("version") == str(PUSHES[case].version)
    assert (ni.get("standard"), ni.get("standardversion"), ni.get("conformance")) == ("NewsML-G2", "2.35", "power")
    assert render(fmt, case) == render(fmt, case)  # no clock: a retry sends the same bytes


def test_the_schema_rejects_a_broken_item():
    good = etree.fromstring(render("newsml-g2", "published"))
    assert SCHEMA.validate(good)
    breakages = {
        "no itemClass": lambda r: r.find("g:itemMeta", NS).remove(r.find("g:itemMeta/g:itemClass", NS)),
        "no guid": lambda r: r.attrib.pop("guid"),
        "version not a number": lambda r: r.set("version", "two"),
        "itemMeta after contentMeta": lambda r: r.append(r.find("g:itemMeta", NS)),
        "unknown element": lambda r: etree.SubElement(r.find("g:contentMeta", NS), f"{{{NS['g']}}}teaser"),
        "date not a date": lambda r: setattr(r.find("g:itemMeta/g:versionCreated", NS), "text", "yesterday"),
    }
    for why, breaking in breakages.items():
        broken = etree.fromstring(render("newsml-g2", "published"))
        breaking(broken)
        assert not SCHEMA.validate(broken), why


def test_the_iptc_sample_items_validate():
    samples = sorted((SCHEMA_DIR / "examples").glob("*.xml"))
    assert len(samples) == 2
    for sample in samples:
        SCHEMA.assertValid(etree.parse(str(sample)))


def test_registry_and_media_types():
    assert PUSH_FORMATS["newsml-g2"].media_type == "application/vnd.iptc.g2.newsitem+xml"
    assert PUSH_FORMATS["newsml-g2-message"].media_type == "application/vnd.iptc.g2.newsmessage+xml"


def test_published_item_metadata_and_content():
    ni = item("published")
    assert x(ni, "string(@xml:lang)") == "kk"
    assert x(ni, "g:itemMeta/g:itemClass/@qcode") == ["ninat:text"]
    assert x(ni, "string(g:itemMeta/g:provider/g:name)") == "Newsroom Example"
    assert x(ni, "g:itemMeta/g:versionCreated/text()") == ["2026-11-20T09:00:00+05:00"]
    assert x(ni, "g:itemMeta/g:firstCreated/text()") == ["2026-11-20T09:00:00+05:00"]
    assert x(ni, "g:itemMeta/g:pubStatus/@qcode") == ["stat:usable"]
    assert not x(ni, "g:itemMeta/g:signal") and not x(ni, "g:itemMeta/g:embargoed")
    cm = ni.find("g:contentMeta", NS)
    assert x(cm, "g:headline/text()") == [V1["headline"]]
    assert x(cm, "g:slugline/text()") == ["astana-lrt"]
    assert x(cm, "g:creator/g:name/text()") == V1["authors"]
    assert x(cm, "g:language/@tag") == ["kk"]
    assert x(cm, "g:dateline/text()") == ["АСТАНА"]
    assert x(cm, "g:keyword/text()") == V1["categories"]
    assert x(cm, "g:description[@role='drol:summary']/text()") == [V1["summary"]]
    assert x(cm, "string(g:infoSource/g:name)") == "Newsroom Example"
    nitf = ni.find("g:contentSet/g:inlineXML", NS)
    assert nitf.get("contenttype") == "application/nitf+xml"
    assert x(nitf, "n:nitf/n:body/n:body.head/n:hedline/n:hl1/text()") == [V1["headline"]]
    assert x(nitf, "n:nitf/n:body/n:body.content/n:p/text()") == [
        "Елорда әуежайы мен вокзал арасында пойыздар жүреді.", "Поезда ходят каждые семь минут."]


def test_images_are_links_with_their_type_and_caption():
    links = x(item("published"), "g:itemMeta/g:link[@rel='irel:seeAlso']")
    assert [(lk.get("href"), lk.get("contenttype")) for lk in links] == [
        (V1["url"], "text/html"), ("https://news.example/media/lrt.jpg", "image/jpeg"),
        ("https://news.example/media/map.png", "image/png")]
    assert x(links[1], "g:title/text()") == ["Пойыз әуежай бекетінде"] and not x(links[2], "g:title")
    assert len(x(item("no-images"), "g:itemMeta/g:link")) == 1  # the web page only


def test_update_and_correction_signal_from_the_event():
    assert x(item("updated"), "g:itemMeta/g:signal/@qcode") == ["sig:update"]
    assert x(item("updated"), "g:itemMeta/g:edNote") == []
    assert x(item("corrected"), "g:itemMeta/g:signal/@qcode") == ["sig:update", "sig:correction"]
    assert x(item("updated"), "g:itemMeta/g:versionCreated/text()") == ["2026-11-20T07:30:00+00:00"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_correction_note_is_the_ednote_and_a_correction_without_one_is_only_the_signal(fmt):
    meta = item("corrected", fmt).find("g:itemMeta", NS)
    assert x(meta, "g:edNote/text()") == ["An earlier version gave the wrong line length & opening date."]
    bare = {**CORRECTED, "correction": {}}
    root = valid(PUSH_FORMATS[fmt].render(Push("d8", "e8", "article.updated", bare["id"], 2, bare, False),
                                          base_url=BASE))
    assert x(root, "g:itemMeta/g:signal/@qcode") == ["sig:update", "sig:correction"]
    assert x(root, "g:itemMeta/g:edNote") == []
    # Anything else stored under the name (a hand-edited store, an older shape) is no correction.
    for odd in (True, "yes", None):
        other = {**CORRECTED, "correction": odd}
        root = valid(PUSH_FORMATS[fmt].render(Push("d9", "e9", "article.updated", other["id"], 2, other, False),
                                              base_url=BASE))
        assert x(root, "g:itemMeta/g:signal/@qcode") == ["sig:update"], odd


def test_subjects_are_media_topic_qcodes_with_their_broader_topics_and_bad_ones_are_skipped():
    article = {**V1, "subjects": [{"qcode": "medtop:20000003", "name": "Animation"}, {"qcode": "medtop:01000000"},
                                  {"qcode": "medtop:99999999"}, {"qcode": "no colon"}, {"name": "x"}, "medtop:1"]}
    ni = valid(PUSH_FORMATS["newsml-g2"].render(Push("d", "e", "article.published", V1["id"], 1, article, False),
                                                base_url=BASE))
    subjects = x(ni, "g:contentMeta/g:subject")
    assert [(s.get("qcode"), s.get("type"), x(s, "string(g:name)"), x(s, "g:broader/@qcode")) for s in subjects] == [
        ("medtop:20000003", "cpnat:abstract", "Animation", ["medtop:20000002", "medtop:01000000"]),
        ("medtop:01000000", "cpnat:abstract", "arts, culture, entertainment and media", []),  # named by IPTC
        ("medtop:99999999", "cpnat:abstract", "", [])]  # newer than the vocabulary: as sent


def test_embargoed_for_a_send_partner_carries_the_instant_and_stays_usable():
    ni = item("embargoed-send")
    assert x(ni, "g:itemMeta/g:embargoed/text()") == ["2026-11-20T12:00:00+00:00"]
    # usable + embargoed, as the IPTC's own sample item: `withheld` would wait for a later version.
    assert x(ni, "g:itemMeta/g:pubStatus/@qcode") == ["stat:usable"]


def test_withdrawal_is_canceled_with_the_reason_and_no_content():
    ni = item("withdrawn")
    assert x(ni, "g:itemMeta/g:pubStatus/@qcode") == ["stat:canceled"]
    assert x(ni, "g:itemMeta/g:edNote/text()") == ["Эмбарго бұзылды / Нарушено эмбарго."]
    assert x(ni, "g:itemMeta/g:versionCreated/text()") == ["2026-11-21T10:00:00+00:00"]
    assert x(ni, "g:contentMeta/g:headline/text()") == [V2["headline"]]
    assert not x(ni, "g:contentSet | g:itemMeta/g:link | g:contentMeta/g:description | g:itemMeta/g:signal")
    bare = item("withdrawn-unpublished")
    assert x(bare, "g:itemMeta/g:pubStatus/@qcode") == ["stat:canceled"]
    assert not x(bare, "g:contentMeta | g:contentSet") and x(bare, "g:itemMeta/g:edNote/text()") == ["dup"]


def test_hostile_text_stays_text():
    body = render("newsml-g2", "hostile")
    ni = valid(body)
    assert b"<script" not in body and b"onclick" not in body and b"\x0b" not in body
    assert all(el.tag.startswith(("{%s}" % NS["g"], "{%s}" % NITF_NS)) for el in ni.iter(etree.Element))
    headline = x(ni, "string(g:contentMeta/g:headline)")  # the stored plain text, escaped on the wire
    assert headline == HOSTILE_ARTICLE["headline"] and all(s in headline for s in ('">', "]]>", "Q&A"))
    assert x(ni, "string(g:contentSet//n:body.content)").count("Q&A") == 2


def test_news_message_header():
    root = etree.fromstring(render("newsml-g2-message", "published"))
    SCHEMA.assertValid(root)
    assert x(root, "g:header/g:sent/text()") == ["2026-11-20T09:00:05+05:00"]
    assert x(root, "g:header/g:sender/text()") == ["Newsroom Example"]
    assert x(root, "g:header/g:transmitId/text()") == ["d1"]
    assert len(x(root, "g:itemSet/g:newsItem")) == 1


def test_a_non_withdrawal_without_article_data_fails_loudly():
    with pytest.raises(ValueError, match="no article data"):
        PUSH_FORMATS["newsml-g2"].render(Push("d", "e", "article.updated", "lost-1", 4, None, False), base_url=BASE)


# --- what the hostile-input property found (tests/integration/test_property_hostile.py) -------

def test_a_slug_decoded_from_the_url_is_plain_text():
    article = {**V1, "url": "https://news.example/a/%00%3Cscript%3Ealert(1)%3C%2Fscript%3E%0B-slug"}
    ni = valid(PUSH_FORMATS["newsml-g2"].render(Push("d", "e", "article.published", V1["id"], 1, article, False),
                                                base_url=BASE))
    assert x(ni, "g:contentMeta/g:slugline/text()") == ["alert(1) -slug"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_offsets_beyond_14_hours_are_given_in_utc(fmt):
    # RFC 3339 allows -23:59; xs:dateTime stops at 14:00: same instant, in UTC.
    article = stored(published_at="1900-01-01T00:00:00-23:59", updated_at="2026-11-20T09:00:00+14:00",
                     embargoed="2026-11-21T00:00:00+23:00")
    push = Push("d", "e", "article.published", article["id"], 1, article, False, occurred_at="2026-11-20T12:00:00-15:00")
    ni = valid(PUSH_FORMATS[fmt].render(push, base_url=BASE))
    assert x(ni, "g:itemMeta/g:firstCreated/text()") == ["1900-01-01T23:59:00+00:00"]
    assert x(ni, "g:itemMeta/g:versionCreated/text()") == ["2026-11-20T09:00:00+14:00"]  # within range: as stored
    assert x(ni, "g:itemMeta/g:embargoed/text()") == ["2026-11-20T01:00:00+00:00"]
