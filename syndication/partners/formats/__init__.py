"""Push formats, keyed by the partners-file `format` value."""

from syndication.partners.formats.atom import AtomFormat
from syndication.partners.formats.base import Format, Push
from syndication.partners.formats.json import JsonFormat
from syndication.partners.formats.newsml_g2 import NewsmlG2Format, NewsmlG2MessageFormat
from syndication.partners.formats.ninjs import NinjsFormat
from syndication.partners.formats.ninjs3 import Ninjs3Format
from syndication.partners.formats.rss import RssFormat

PUSH_FORMATS: dict[str, Format] = {
    f.name: f for f in (JsonFormat(), NinjsFormat(), Ninjs3Format(), AtomFormat(), RssFormat(),
                        NewsmlG2Format(), NewsmlG2MessageFormat())
}

__all__ = ["PUSH_FORMATS", "Format", "Push"]
