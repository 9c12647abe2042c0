"""Text caps (imported in the kernel and on the host; standard library only).

`CappedText` is a write-only sink that keeps the head and tail of what is written and counts
what it dropped; `cap_text` applies it to one string; `cap_final` bounds a final answer.
"""

from __future__ import annotations

import collections

# a final answer is text for a person or a program; past this it is cut (with a marker) so that
# FINAL_VAR(context) on a huge context cannot flood the host
FINAL_MAX_CHARS = 10_000_000


def cap_final(text: str) -> str:
    if len(text) <= FINAL_MAX_CHARS:
        return text
    return text[:FINAL_MAX_CHARS] + f"\n... [answer cut at {FINAL_MAX_CHARS:,} of {len(text):,} characters]"


class CappedText:
    """A write-only text sink that keeps the head and tail and counts what it dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 2)
        self.head_limit = self.limit // 2
        self.tail_limit = self.limit - self.head_limit
        self.head: list[str] = []
        self.head_len = 0
        self.tail: collections.deque[str] = collections.deque()
        self.tail_len = 0
        self.total = 0

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        n = len(s)
        self.total += n
        if self.head_len < self.head_limit:
            take = s[: self.head_limit - self.head_len]
            self.head.append(take)
            self.head_len += len(take)
            s = s[len(take):]
        if s:
            if len(s) >= self.tail_limit:
                self.tail.clear()
                s = s[-self.tail_limit:]
                self.tail_len = 0
            self.tail.append(s)
            self.tail_len += len(s)
            while self.tail_len > self.tail_limit:
                first = self.tail.popleft()
                excess = self.tail_len - self.tail_limit
                if len(first) > excess:
                    self.tail.appendleft(first[excess:])
                    self.tail_len -= excess
                else:
                    self.tail_len -= len(first)
        return n

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    @property
    def truncated(self) -> bool:
        return self.total > self.head_len + self.tail_len

    def getvalue(self) -> str:
        head = "".join(self.head)
        tail = "".join(self.tail)
        cut = self.total - len(head) - len(tail)
        if cut <= 0:
            return head + tail
        return f"{head}\n... [{cut:,} characters cut; {self.total:,} in all] ...\n{tail}"


def cap_text(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to about `limit` characters (head and tail kept, with a marker saying how
    much was cut), and whether it was cut."""
    sink = CappedText(limit)
    sink.write(text)
    return sink.getvalue(), sink.truncated
