"""Token counts for eval lengths, the `direct` window and reports.

The default is OpenAI's `o200k_base` (GPT-4o, GPT-4.1, o-series, GPT-5), run by `tiktoken`
from the ranks file shipped in `evals/data/` (tiktoken downloads it at first use, which an
offline machine cannot; the file is checked against tiktoken's own SHA-256 before use). Any
other name tiktoken knows (`cl100k_base`, ...) is loaded by tiktoken itself, and `chars4`
keeps the old estimate of characters / 4.

    tok = tokenizer("o200k_base")
    tok.count("hello world")      # 2
    tok.head(text, 1000)          # the longest prefix of text within 1,000 tokens
"""

from __future__ import annotations

import functools
import hashlib
import lzma
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any, TypeVar

from evals.tasks import EvalError
from rlm import CHARS_PER_TOKEN

DEFAULT_TOKENIZER = "o200k_base"
# tiktoken's published hash of the o200k_base ranks (tiktoken_ext/openai_public.py)
_O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
_PIECE_CHARS = 1 << 20  # long texts are counted in pieces cut at line ends, on two threads

T = TypeVar("T")
_PATCH = threading.Lock()


class Tokenizer:
    """Counts and cuts text in one encoding's tokens (or in characters / 4 for `chars4`)."""

    def __init__(self, name: str, encoding: Any | None) -> None:
        self.name = name
        self._enc = encoding

    def count(self, text: str) -> int:
        if self._enc is None:
            return -(-len(text) // CHARS_PER_TOKEN)
        pieces = _pieces(text)
        if len(pieces) == 1:
            return len(self._enc.encode_ordinary(text))
        return sum(map(len, self._enc.encode_ordinary_batch(pieces, num_threads=2)))

    def count_all(self, texts: list[str]) -> int:
        """The tokens of several texts counted apart (the files of a directory context)."""
        if self._enc is None:
            return sum(map(self.count, texts))
        return sum(map(len, self._enc.encode_ordinary_batch(texts, num_threads=2)))

    def head(self, text: str, tokens: int) -> str:
        """The longest prefix of `text` that holds at most `tokens` tokens (cut at a token edge)."""
        if tokens <= 0:
            return ""
        if self._enc is None:
            return text[: tokens * CHARS_PER_TOKEN]
        # encode only what can matter: a window of text a few times the tokens, grown if short
        window = tokens * 6
        while True:
            ids = self._enc.encode_ordinary(text[:window])
            if len(ids) > tokens or window >= len(text):
                break
            window *= 2
        if len(ids) <= tokens:
            return text
        return self._enc.decode_bytes(ids[:tokens]).decode("utf-8", errors="ignore")

    def chunks(self, text: str, tokens: int) -> list[str]:
        """`text` in pieces of at most `tokens` tokens each, cut at a line end where one falls
        in a piece's second half."""
        out, start = [], 0
        while start < len(text):
            piece = self.head(text[start:], max(1, tokens))
            if start + len(piece) < len(text):
                cut = piece.rfind("\n", len(piece) // 2)
                piece = piece[: cut + 1] if cut >= 0 else piece
            if not piece:  # a character wider than the budget: take it whole
                piece = text[start]
            out.append(piece)
            start += len(piece)
        return out

    def __repr__(self) -> str:
        return f"Tokenizer({self.name!r})"


def _pieces(text: str) -> list[str]:
    if len(text) <= _PIECE_CHARS:
        return [text]
    out, start = [], 0
    while start < len(text):
        end = text.find("\n", start + _PIECE_CHARS)
        end = len(text) if end < 0 else end + 1
        out.append(text[start:end])
        start = end
    return out


def tokenizer(name: str = DEFAULT_TOKENIZER) -> Tokenizer:
    """The tokenizer called `name`: o200k_base (shipped), chars4, or any encoding tiktoken knows."""
    return _load(name)


@functools.lru_cache(maxsize=8)
def _load(name: str) -> Tokenizer:
    if name == "chars4":
        return Tokenizer(name, None)
    try:
        import tiktoken
    except ImportError as exc:  # pragma: no cover - a dependency of this package
        raise EvalError(f"tokenizer {name!r} needs the tiktoken package ({exc})") from None
    if name == "o200k_base":
        return Tokenizer(name, tiktoken.Encoding(**_o200k_spec()))
    try:
        return Tokenizer(name, tiktoken.get_encoding(name))
    except ValueError:
        known = ", ".join(["o200k_base", "chars4", *sorted(set(tiktoken.list_encoding_names()) - {"o200k_base"})])
        raise EvalError(f"unknown tokenizer {name!r}; known: {known}") from None
    except Exception as exc:  # tiktoken fetches the other encodings' ranks over the network
        raise EvalError(f"tokenizer {name!r} could not be loaded ({type(exc).__name__}: {exc}); "
                        f"o200k_base and chars4 work offline") from None


def _o200k_spec() -> dict[str, Any]:
    from tiktoken_ext import openai_public

    data = lzma.decompress(resources.files("evals").joinpath("data/o200k_base.tiktoken.xz").read_bytes())
    if hashlib.sha256(data).hexdigest() != _O200K_SHA256:
        raise EvalError("evals/data/o200k_base.tiktoken.xz is damaged (its SHA-256 is not tiktoken's); reinstall")
    ranks = {_b64(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}
    # tiktoken's own constructor, minus its download: the pattern and special tokens stay theirs
    spec: dict[str, Any] = _without_download(openai_public.o200k_base, ranks)
    return spec


def _b64(token: bytes) -> bytes:
    import base64

    return base64.b64decode(token)


def _without_download(build: Callable[[], T], ranks: dict[bytes, int]) -> T:
    from tiktoken_ext import openai_public

    with _PATCH:
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = lambda *a, **k: ranks
        try:
            return build()
        finally:
            openai_public.load_tiktoken_bpe = original
