"""Pure logic of issue 22's items 6 and 7: what the receiver prints of network text (cli/shown.py),
and what an ops notice may carry (delivery/notices.py: its fields and the failure words)."""

from __future__ import annotations


from hypothesis import given, strategies as st

from syndication.cli.shown import MAX_SHOWN, shown
from syndication.delivery import notices

# Every code point a terminal may act on, or that may disguise the line: C0, DEL, C1, separators,
# bidi embeddings, overrides, isolates and marks, zero-width characters, a BOM.
DANGEROUS = ([chr(c) for c in range(0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xa0)]
             + ["\u2028", "\u2029", "\u200e", "\u200f", "\u061c", "\u200b", "\u200d", "\ufeff"]
             + [chr(c) for c in range(0x202a, 0x202f)] + [chr(c) for c in range(0x2066, 0x206a)])


def test_plain_ids_are_shown_as_they_are():
    for text in ("example-2026-11-21-ru-exports", "msg_01J0ABC", "a:b/c@d.e", "3"):
        assert shown(text) == text


def test_every_dangerous_character_is_escaped_inside_quotes():
    for ch in DANGEROUS:
        out = shown(f"id{ch}x")
        assert out.startswith('"') and out.endswith('"') and ch not in out, (hex(ord(ch)), out)
        assert out.isascii() and out.isprintable(), (hex(ord(ch)), out)


@given(st.text())
def test_anything_is_one_printable_token_that_cannot_pass_for_another_field(text):
    out = shown(text)
    assert out.isprintable() and not any(ch in out for ch in DANGEROUS)
    if " " in text or not text:  # spaces separate fields: a field holding one is quoted
        assert out.startswith('"')
    if len(text) <= MAX_SHOWN and out.startswith('"'):
        assert eval(out) == text  # the escapes are Python's: what was sent can be read back exactly


def test_a_long_field_is_cut_and_marked():
    assert shown("a" * (MAX_SHOWN + 1)) == '"' + "a" * MAX_SHOWN + '"...'


def test_a_notice_keeps_only_its_fields_of_their_types():
    data = {"partner": "wire", "url": "https://x.example/hook?token=s3cret", "error": "<html>secret page",
            "status": 503, "failure": "server_error", "headline": "Embargoed", "article_id": "a-1",
            "version": True, "attempts": "3"}
    assert notices._safe(data) == {"partner": "wire", "status": 503, "failure": "server_error", "article_id": "a-1"}


def test_a_failure_is_one_word_whatever_the_error_says():
    cases = {(503, None): "server_error", (410, "x"): "gone", (429, None): "rate_limited", (404, None): "client_error",
             (302, None): "redirect", ("503", ""): "server_error",
             (None, "timeout: ReadTimeout"): "timeout",
             (None, "address refused: partner p: 10.0.0.1 is private"): "address_refused",
             (None, "url refused: partner p: userinfo"): "url_refused",
             (None, "cannot render ninjs: KeyError 'headline'"): "render_failed",
             (None, "SSLError: certificate verify failed"): "tls_error",
             (None, "ConnectionError: Failed to resolve 'x.invalid'"): "dns_error",
             (None, "ConnectionError: ... [Errno 111] Connection refused"): "connection_refused",
             (None, "ConnectionError: reset by peer"): "connection_error", (None, None): "no_response"}
    for (status, error), word in cases.items():
        assert notices.failure_of(status, error) == word, (status, error)
        assert word in notices.FAILURES
