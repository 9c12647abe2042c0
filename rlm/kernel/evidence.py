"""Citing in the kernel: `cite`, which marks a passage of a loaded context as evidence for the
answer (runs inside the sandbox; standard library only).

`cite` finds where its argument is in a text context (a regex match over it, a slice given as the
context or a document and offsets, or a quote found by search, within a range when given) and
sends the place, as byte offsets in the context's text, with the quote to the host. The host
reads those bytes itself and keeps the citation only if the quote is there, byte for byte; it
answers with where that is (document, byte range, lines, page). Nothing here is trusted: a
place this module gets wrong is refused by the host like an invented one.
"""

from __future__ import annotations

from typing import Any

MAX_QUOTE_CHARS = 2_000  # a citation is a passage, not a page
MAX_PER_CALL = 100


class Citation(str):
    """A verified citation: the quote itself (a str, so it can go into an answer), with where it
    is: `doc` (document name), `start` / `end` (offsets in the context: characters of a str,
    bytes of a Corpus), `bytes` (its byte range in the document's text), `lines`, `page`, `id`."""

    doc: str
    start: int
    end: int
    lines: tuple[int, int] | None
    page: str | None
    id: int

    def __repr__(self) -> str:
        where = self.doc + (f" {self.page}" if self.page else "")
        if self.lines:
            a, b = self.lines
            where += f", line {a}" if a == b else f", lines {a}-{b}"
        quote = str.__str__(self)
        short = quote if len(quote) <= 80 else quote[:77] + "..."
        return f"[E{self.id}] {where}: {short!r}"


def install(kernel: Any, data: Any = None) -> dict[str, Any]:
    """`cite`, bound to `kernel` (the runtime's tool host)."""

    def texts() -> list[tuple[str, Any]]:
        out = []
        for value in kernel.contexts():
            name = kernel.context_name(value)
            if name is not None:
                out.append((name, value))
        return out

    def context_of(value: Any) -> tuple[str, Any] | None:
        name = kernel.context_name(value)
        return None if name is None else (name, value)

    def found(quote: str, within: Any) -> tuple[str, Any, int] | None:
        """The first place `quote` is in a text context (inside `within` = (start, end) if given)."""
        for name, value in texts():
            lo, hi = 0, len(value)
            if isinstance(within, str):  # the chunk itself: where it is in the context
                lo = value.find(within)
                if lo < 0:
                    continue
                hi = lo + _length(value, within)
            elif within is not None:
                if not (isinstance(within, (tuple, list)) and len(within) == 2
                        and all(isinstance(x, int) for x in within)):
                    raise TypeError("within must be (start, end), offsets of the context, or the chunk (a str "
                                    "slice of it) the quote is in")
                lo, hi = within
            at = value.find(quote, lo, hi)
            if at >= 0:
                return name, value, at
        return None

    def place(item: Any, start: Any, end: Any, within: Any) -> tuple[str, Any, int, int, str]:
        """(context name, its value, start, end, how) of one thing to cite; ValueError when it is not in a context."""
        if hasattr(item, "span") and hasattr(item, "group") and hasattr(item, "string"):  # a match
            group = 0 if start is None else start
            a, b = item.span(group)
            where = context_of(item.string)
            if where is not None and a >= 0:
                return where[0], where[1], a, b, "match"
            text = item.group(group)  # a match over a piece of the context: its text, found
            if not isinstance(text, str) or not text:
                raise ValueError("the match's group is empty")
            item, start, end = text, None, None
        if type(item).__name__ == "Doc" and hasattr(item, "offset") and hasattr(item, "_source"):
            where = context_of(item._source)
            if where is None:
                raise ValueError("that document's context is no longer loaded")
            a = item.offset + (0 if start is None else int(start))
            b = item.offset + (item.length if end is None else int(end))
            if not item.offset <= a < b <= item.offset + item.length:
                raise ValueError(f"offsets {start}-{end} are outside {item.path} (length {item.length:,})")
            return where[0], where[1], a, b, "document"
        if _is_place(item):  # a page, slide or section of a document: offsets in it
            a = item.offset + (0 if start is None else int(start))
            b = item.offset + (item.length if end is None else int(end))
            if not item.offset <= a < b <= item.offset + item.length:
                raise ValueError(f"offsets {start}-{end} are outside {item.label} (length {item.length:,})")
            hosts = [(name, value) for name, value in texts() if b <= len(value)]
            if not hosts:
                raise ValueError(f"{item.label} is not in a loaded context")
            return hosts[0][0], hosts[0][1], a, b, "document"
        where = context_of(item)
        if where is not None:  # the context itself, with offsets
            if start is None or end is None:
                raise ValueError("cite(context, start, end): give the offsets of the passage, not the whole context")
            a, b = int(start), int(end)
            if not 0 <= a < b <= len(item):
                raise ValueError(f"offsets {a}-{b} are outside the context (length {len(item):,})")
            return where[0], where[1], a, b, "offsets"
        if not isinstance(item, str):
            raise TypeError(f"cite takes a match, a quote (str), a document or the context with offsets, "
                            f"not {type(item).__name__}")
        quote = str.__str__(item)
        if not quote.strip():
            raise ValueError("the quote is empty")
        if start is not None:  # a quote said to be at `start`: it must be there
            at = int(start)
            hits = [(n, v) for n, v in texts() if v[at:at + _length(v, quote)] == quote]
            if not hits:
                raise ValueError(f"the quote is not at offset {start} of the context; cite(quote) alone finds it")
            return hits[0][0], hits[0][1], at, at + _length(hits[0][1], quote), "offsets"
        hit = found(quote, within)
        if hit is None:  # sub-model answers come wrapped in spaces or quote marks
            trimmed = quote.strip().strip("\"'\u201c\u201d`").strip()
            hit = found(trimmed, within) if trimmed and trimmed != quote else None
            quote = trimmed
        if hit is None:
            scope = "in that range of the context" if within is not None else "in the context"
            raise ValueError(f"not found verbatim {scope}: cite text copied from the context, not a paraphrase")
        name, value, at = hit
        return name, value, at, at + _length(value, quote), "search"

    def cite(what: Any, start: Any = None, end: Any = None, *, note: str | None = None,
             within: Any = None) -> Any:
        """Mark a passage of the context as evidence for the answer; returns a Citation (the
        quote, a str, with .doc .lines .page .start .end), or None when it was refused (printed).
        `what`: a regex match over the context (`cite(m)`, or `cite(m, 1)` for its group 1), a
        page or part of a document (`docs[i].places[j]`) with offsets in it, a
        quote copied from it (found by search; `within=(start, end)` or `within=chunk` to search
        one chunk, e.g. for a sub-model's quote; `start=` to say where it is), a document of `docs` with
        offsets in it, the context with offsets, or a list of these (a list of results)."""
        several = isinstance(what, (list, tuple)) and not _is_place(what)
        items = list(what) if several else [what]
        if len(items) > MAX_PER_CALL:
            raise ValueError(f"cite takes at most {MAX_PER_CALL} passages at once")
        if note is not None and not isinstance(note, str):
            note = str(note)
        claims: list[dict[str, Any]] = []
        slots: list[tuple[int, int, int]] = []
        results: list[Citation | None] = [None] * len(items)
        for i, item in enumerate(items):
            if isinstance(item, Citation):
                results[i] = item
                continue
            try:
                name, value, a, b, how = place(item, start, end, within)
                quote = value[a:b]
                if len(quote) > MAX_QUOTE_CHARS:
                    raise ValueError(f"the passage has {len(quote):,} characters; cite at most {MAX_QUOTE_CHARS:,} "
                                     "(the sentence or line that shows it, not the page)")
                first, last = kernel.byte_span(name, a, b)
            except (ValueError, TypeError, IndexError) as exc:
                print(f"[cite] refused: {exc}")
                continue
            claims.append({"context": name, "start": first, "end": last, "quote": quote, "note": note, "how": how})
            slots.append((i, a, b))
        if claims:
            try:
                replies = kernel.call("cite", {"claims": claims})
            except kernel.HostError as exc:
                print(f"[cite] refused: {exc}")
                replies = []
            if not isinstance(replies, list):
                replies = []
            for (i, a, b), claim, reply in zip(slots, claims, replies, strict=False):
                if not isinstance(reply, dict) or not reply.get("id"):
                    why = reply.get("why") if isinstance(reply, dict) else "the host gave no answer"
                    print(f"[cite] refused: {why}")
                    continue
                c = Citation(claim["quote"])
                c.doc, c.start, c.end, c.id = str(reply.get("doc")), a, b, int(reply["id"])
                lines = reply.get("lines")
                c.lines = (int(lines[0]), int(lines[1])) if isinstance(lines, list) and len(lines) == 2 else None
                c.page = reply.get("page")
                results[i] = c
                print(f"[cite] kept {c!r}")
        return results if several else results[0]

    return {"cite": cite}


def _is_place(item: Any) -> bool:
    """A page, slide, sheet or section of a document (`docs[i].places[j]`, a named tuple)."""
    return type(item).__name__ == "Place" and all(hasattr(item, a) for a in ("label", "offset", "length"))


def _length(value: Any, quote: str) -> int:
    """The length of `quote` in the units of `value`'s offsets (bytes for a Corpus)."""
    return len(quote) if isinstance(value, str) else len(quote.encode("utf-8"))
