"""`ninjs3`: one article version as an IPTC ninjs 3.1 news item.

Standard: IPTC ninjs 3.1, https://iptc.org/standards/ninjs/ (JSON Schema
http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json; a copy is in
tests/schemas/). Sent as `application/json` (ninjs defines no media type).

ninjs 3.x keeps the 2.x structure for everything we send but spells
multi-word properties in camelCase (`versioncreated` -> `versionCreated`,
`contenttype` -> `contentType`, ...). So this format is ninjs.build (same
content, same withdrawal representation: pubStatus "canceled") with the
property names mapped by `RENAMED`; values are never touched.
"""

from __future__ import annotations

from typing import Any

from syndication.partners.formats.base import Format, Push
from syndication.partners.formats.ninjs import build, dump

STANDARD = {"name": "ninjs", "version": "3.1",
            "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#"}

# ninjs 2.2 name -> 3.x name, for every multi-word property ninjs.build can emit.
RENAMED = {
    "firstcreated": "firstCreated",
    "versioncreated": "versionCreated",
    "pubstatus": "pubStatus",
    "representationtype": "representationType",
    "ednote": "edNote",
    "contenttype": "contentType",
    "altids": "altIds",
    "infosources": "infoSources",
    "sizeinbytes": "sizeInBytes",
    "embargoed": "embargoedUntil",  # 3.x renamed it, not only re-cased it
}


def to_v3(value: Any) -> Any:
    """Rename property names (dict keys) at every depth; leave values alone."""
    if isinstance(value, dict):
        return {RENAMED.get(k, k): to_v3(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_v3(v) for v in value]
    return value


class Ninjs3Format(Format):
    name = "ninjs3"
    media_type = "application/json"

    def render(self, push: Push, *, base_url: str) -> bytes:
        return dump(to_v3(build(push, base_url, STANDARD)))
