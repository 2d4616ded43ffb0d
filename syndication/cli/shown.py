"""Text from the network made safe to print on a terminal, one field per token.

`shown(text)` returns a plain token (printable, no space, no quote, no backslash) unchanged, so
ordinary ids read as they are; anything else comes back double-quoted with every character a
terminal could act on escaped the way Python's repr does: C0 controls (newline, carriage return,
ESC of an ANSI sequence, ...), DEL, C1 controls (U+0080..U+009F, 8-bit CSI among them), the
Unicode line and paragraph separators, bidi overrides and isolates (U+202A..U+202E,
U+2066..U+2069) and every other format, private-use, surrogate or unassigned code point, plus
non-ASCII spaces. A quoted token cannot end the line, start another, or pass itself off as the
fields around it (spaces are inside the quotes).
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[!#-\[\]-~]+", re.ASCII)  # printable ASCII without space, '"' and '\'
_NAMED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
MAX_SHOWN = 200  # characters of one field; more is cut and marked


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    if ch == " " or (ch.isprintable() and not ch.isspace()):
        return ch  # isprintable() is False for Cc, Cf (bidi), Zl, Zp, Co, Cs, Cn and non-ASCII Zs
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(text: str) -> str:
    """`text` as one safe token for a line of terminal output (see the module docstring)."""
    cut = len(text) > MAX_SHOWN
    text = text[:MAX_SHOWN]
    if text and not cut and _PLAIN.fullmatch(text):
        return text
    return '"' + "".join(_escape(ch) for ch in text) + '"' + ("..." if cut else "")


def shown_block(text: str) -> str:
    """`text` as lines safe for a terminal, whole (no cut): what a terminal could act on (controls, bidi,
    ...) escaped as `shown` does; newlines, tabs, quotes and backslashes kept, so a request body reads
    as it was sent, line by line."""
    return "\n".join("".join(ch if ch == "\t" or ch.isprintable() else _escape(ch) for ch in line)
                     for line in text.split("\n"))
