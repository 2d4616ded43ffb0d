"""Each feedgen 1.0 defect we work around, pinned: the defect itself, and our output without it.

If a feedgen upgrade fixes a defect, its "upstream" test fails and the workaround can go.
"""

from feedgen.feed import FeedGenerator
from lxml import etree

from syndication.feeds.render import render_atom, render_rss
from syndication.feeds.spec import FeedSpec
from syndication.identity import article_uri
from tests.unit.test_render import art

ATOM = "{http://www.w3.org/2005/Atom}"
MEDIA = "{http://search.yahoo.com/mrss/}"
SPEC = FeedSpec(name="all", title="All")


def _fg():
    fg = FeedGenerator()
    fg.id("urn:x")
    fg.title("t")
    fg.description("d")
    fg.link(href="http://h/alt", rel="alternate")
    fg.link(href="http://h/self", rel="self")
    fe = fg.add_entry()
    fe.id("urn:e")
    fe.title("e")
    fe.link(href="http://h/e", rel="alternate", type="text/html")
    fe.updated("2026-01-01T00:00:00Z")
    return fg, fe


def test_upstream_channel_link_is_the_last_link_added():
    fg, _ = _fg()
    channel = etree.fromstring(fg.rss_str())[0]
    assert channel.find("link").text == "http://h/self"


def test_our_channel_link_is_the_alternate():
    channel = etree.fromstring(render_rss(SPEC, [art()], "http://h"))[0]
    assert channel.find("link").text == "http://h/feeds"


def test_upstream_atom_entry_links_lose_rel_and_type():
    fg, _ = _fg()
    link = etree.fromstring(fg.atom_str()).find(f"{ATOM}entry/{ATOM}link")
    assert link.get("rel") is None and link.get("type") is None


def test_our_atom_entry_links_keep_rel_type_length():
    entry = etree.fromstring(render_atom(SPEC, [art(images=[{"url": "https://x/i.jpg", "mime_type": "image/png",
                                                             "length": 42}])], "http://h")).find(f"{ATOM}entry")
    links = {link.get("rel"): link for link in entry.findall(f"{ATOM}link")}
    assert links["alternate"].get("type") == "text/html"
    assert links["enclosure"].get("type") == "image/png" and links["enclosure"].get("length") == "42"


def test_upstream_cdata_content_type_is_invalid_atom():
    fg, fe = _fg()
    fe.content("<p>x</p>", type="CDATA")
    content = etree.fromstring(fg.atom_str()).find(f"{ATOM}entry/{ATOM}content")
    assert content.get("type") == "CDATA"  # not one of text|html|xhtml|MIME type


def test_our_atom_content_is_type_html():
    content = etree.fromstring(render_atom(SPEC, [art()], "http://h")).find(f"{ATOM}entry/{ATOM}content")
    assert content.get("type") == "html" and content.text == "<p>Body 1</p>"


def test_upstream_media_extension_wraps_one_image_in_a_group():
    fg, fe = _fg()
    fg.load_extension("media")
    fe.media.content({"url": "https://x/i.jpg", "medium": "image"})
    item = etree.fromstring(fg.rss_str())[0].find("item")
    assert item.find(f"{MEDIA}group") is not None


def test_our_single_image_is_plain_media_content():
    item = etree.fromstring(render_rss(SPEC, [art()], "http://h"))[0].find("item")
    assert item.find(f"{MEDIA}group") is None
    content = item.find(f"{MEDIA}content")
    assert content.get("url") == "https://news.example/1.jpg" and content.get("medium") == "image"


def test_upstream_rss_has_no_hub_link():
    fg, _ = _fg()
    fg.link(href="http://hub", rel="hub")
    channel = etree.fromstring(fg.rss_str())[0]
    assert not [x for x in channel.findall(f"{ATOM}link") if x.get("rel") == "hub"]


def test_our_rss_and_atom_advertise_the_hub():
    channel = etree.fromstring(render_rss(SPEC, [art()], "http://h", hub="https://hub.example/"))[0]
    assert [x.get("href") for x in channel.findall(f"{ATOM}link") if x.get("rel") == "hub"] == ["https://hub.example/"]
    feed = etree.fromstring(render_atom(SPEC, [art()], "http://h", hub="https://hub.example/"))
    assert [x.get("href") for x in feed.findall(f"{ATOM}link") if x.get("rel") == "hub"] == ["https://hub.example/"]


def test_rss_guid_is_the_article_uri_and_ttl_and_language():
    channel = etree.fromstring(render_rss(SPEC, [art()], "http://h"))[0]
    assert channel.find("ttl").text == "5" and channel.find("language").text == "en"
    guid = channel.find("item/guid")
    assert guid.get("isPermaLink") == "false" and guid.text == article_uri(art()["id"], "http://h")
