"""Push formats, keyed by the partners-file `format` value."""

from .base import Format, Push
from .json import JsonFormat

FORMATS: dict[str, Format] = {f.name: f for f in (JsonFormat(),)}

__all__ = ["FORMATS", "Format", "Push"]
