"""The one printer for people: text that came from a model or a corpus reaches a terminal
only with its control characters made visible.

`visible(text)` turns every character a terminal would act on, or that hides text, into a
visible escape: C0 controls except newline and tab (`\\r` too: it overwrites a line), ESC (so
no CSI or OSC sequence: clipboard writes, window titles, screen clears, hidden text), DEL, C1
controls (8-bit CSI/OSC), line and paragraph separators, and invisible format characters
(bidi overrides and isolates, zero-width characters, tag characters); variation selectors
stay (emoji use them).
`SafeConsole` is a rich console that passes every piece of text it draws through `visible`
(its own styling and cursor moves are not text and stay), and `say()` prints a plain line the
same way: print sites that use them cannot forget it.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable
from typing import IO

from rich.console import Console
from rich.segment import Segment

# characters that are neither printable marks nor plain whitespace a person can see
_INVISIBLE_EXTRA = "\u034f\u115f\u1160\u3164\uffa0\u2028\u2029"


def _needs_escape(ch: str) -> bool:
    if ch in "\n\t":
        return False
    code = ord(ch)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return True
    if ch in _INVISIBLE_EXTRA:
        return True
    # Cf: bidi marks/overrides/isolates, zero-width characters, soft hyphen, BOM, tags;
    # Cs: lone surrogates; Co/Cn: private use and unassigned code points
    return unicodedata.category(ch) in ("Cf", "Cs", "Co", "Cn")


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"<U+{code:04X}>"


# every character worth a look: the rest pass without a per-character call
_SUSPECT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f"
                      r"\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164"
                      r"\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd\U0001bca0-\U0001bca3"
                      r"\U0001d173-\U0001d17a\U000e0000-\U000e0fff\ud800-\udfff"
                      r"\ue000-\uf8ff\U000f0000-\U0010ffff]")


@functools.lru_cache(maxsize=4096)
def _shown_char(ch: str) -> str:
    return _escape(ch) if _needs_escape(ch) else ch


def _shown(m: re.Match[str]) -> str:
    return _shown_char(m.group())


def visible(text: str) -> str:
    """`text` with every control, invisible or format character shown as an escape
    (`\\x1b`, `<U+202E>`); newlines and tabs stay. Idempotent on its own output."""
    text = str(text)
    if text.isascii() and text.isprintable():
        return text
    out = _SUSPECT.sub(_shown, text)
    if out.replace("\n", "").replace("\t", "").isprintable():
        return out
    # rarer kinds the pattern does not list (unassigned code points): one look at each character
    return "".join(_shown_char(c) for c in out)


class SafeConsole(Console):
    """A rich console whose every drawn piece of text goes through `visible`: a table, a panel,
    highlighted code or a plain string from a model cannot emit an escape sequence."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        # hyperlinks go too: a `[link=...]` in text read as markup would become an OSC 8 sequence
        return super()._render_buffer(
            Segment(visible(seg.text), seg.style, seg.control) if seg.control is None else seg
            for seg in Segment.strip_links(buffer))


def say(text: object = "", *, file: IO[str] | None = None) -> None:
    """`print` for text a person reads: control characters made visible first."""
    print(visible(str(text)), file=file if file is not None else sys.stdout)


def _json_escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def ascii_json(text: str) -> str:
    """A JSON text with every non-ASCII character and DEL written as a \\u escape (what
    `json.dumps(ensure_ascii=True)` writes): the same JSON value, and no byte a terminal acts on
    (json already escapes C0 controls; C1 controls and bidi overrides are non-ASCII)."""
    return re.sub(r"[^\x00-\x7e]", _json_escape, text)
