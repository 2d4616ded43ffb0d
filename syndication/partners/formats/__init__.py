"""Push formats, keyed by the partners-file `format` value."""

from .atom import AtomFormat
from .base import Format, Push
from .json import JsonFormat
from .ninjs import NinjsFormat
from .ninjs3 import Ninjs3Format
from .rss import RssFormat

FORMATS: dict[str, Format] = {
    f.name: f for f in (JsonFormat(), NinjsFormat(), Ninjs3Format(), AtomFormat(), RssFormat())
}

__all__ = ["FORMATS", "Format", "Push"]
