"""The kernel's decoding of a text context from its file mapping (`_decode_utf8`): all-ASCII
text in one pass, other text in pieces whose anchors map character offsets to byte offsets;
both equal to `bytes.decode`, with errors at their place in the whole."""

from __future__ import annotations

import mmap

import pytest

from sandbox.kernel import context_loading
from sandbox.kernel.context_loading import _decode_utf8


def _mapped(tmp_path, data: bytes) -> mmap.mmap:
    path = tmp_path / "t.txt"
    path.write_bytes(data)
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)


def test_ascii_text_is_one_piece_with_one_anchor(tmp_path, monkeypatch):
    monkeypatch.setattr(context_loading, "DECODE_PIECE_BYTES", 7)
    data = b"plain ascii line\n" * 50
    anchors: list[tuple[int, int]] = []
    assert _decode_utf8(_mapped(tmp_path, data), "strict", anchors) == data.decode()
    assert anchors == [(0, 0)]


@pytest.mark.parametrize("tail", ["é", "日本語", "😀 end"])
def test_text_with_a_late_non_ascii_character_decodes_in_pieces(tmp_path, monkeypatch, tail):
    monkeypatch.setattr(context_loading, "DECODE_PIECE_BYTES", 7)
    data = ("ascii " * 40 + tail).encode()
    anchors: list[tuple[int, int]] = []
    text = _decode_utf8(_mapped(tmp_path, data), "strict", anchors)
    assert text == data.decode()
    assert len(anchors) > 1
    for chars, at in anchors:  # each anchor: the character offset of a byte offset
        assert len(data[:at].decode()) == chars


def test_an_invalid_byte_late_in_the_text_is_reported_where_it_is(tmp_path, monkeypatch):
    monkeypatch.setattr(context_loading, "DECODE_PIECE_BYTES", 7)
    data = b"ascii " * 40 + b"\xff" + b"tail"
    with pytest.raises(UnicodeDecodeError) as caught:
        _decode_utf8(_mapped(tmp_path, data), "strict")
    assert caught.value.start == 240
    assert _decode_utf8(_mapped(tmp_path, data), "replace") == data.decode("utf-8", "replace")
