"""Code that shows what a count counted (rlm/counted_lines.py), written from counting cells in the
shapes a real model wrote them, and run: it must print the very items the count counted."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from rlm.counted_lines import show_counted

LOG = "".join(f'10.0.0.{i % 7} - - "GET /api/checkout/{i} HTTP/1.1" {503 if i % 9 == 0 else 200} {5000 + i}\n'
              for i in range(120))
WANTED = [line for line in LOG.splitlines() if '" 503 ' in line]


def run(code: str, names: dict) -> tuple[dict, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, names)
    return names, out.getvalue()


@pytest.mark.parametrize("cell", [
    # a loop with a line counter beside the count: only the count collects
    "i = 0\nn = 0\nfor line in context.splitlines():\n    i += 1\n    if '\" 503 ' in line:\n        n += 1\nprint(n)\n",
    # a loop with the test nested in it, the shape a 1.5B model wrote for "5xx status"
    "lines = context.splitlines()\nn = 0\nfor line in lines:\n    m = re.search(r'HTTP/1.1\" (\\d{3})', line)\n"
    "    if m:\n        code = int(m.group(1))\n        if 500 <= code <= 599:\n            n += 1\nprint(n)\n",
    "print(len([l for l in context.splitlines() if '\" 503 ' in l]))\n",
    "print(sum(1 for l in context.splitlines() if '\" 503 ' in l))\n",
    "bad = [l for l in context.splitlines() if '\" 503 ' in l]\nprint(len(bad))\n",
])
def test_the_rewritten_cell_prints_what_was_counted(cell):
    names, printed = run(cell, {"context": LOG, "re": re})
    assert printed.strip() == str(len(WANTED))
    shown = show_counted(cell)
    assert shown is not None
    _, printed = run(shown, names)
    count, first = printed.splitlines()
    assert count == str(len(WANTED)) and first == repr(WANTED[:5])


@pytest.mark.parametrize("cell", [
    "print(len(context.splitlines()))",  # counts everything: no test to see
    "print(len([l for l in context.splitlines()]))",
    "n = 0\nfor l in context.splitlines():\n    n += 2\nprint(n)",  # not a count of items
    "print(",  # not Python
    "x = 1\n" * 3000,  # too long to rewrite
    # found by a red team: a position moved in a `while` loop, a counter not set to 0, a fence in the code
    "n = 0\nfor line in context.splitlines():\n    pos = 0\n    while pos < len(line):\n        pos += 1\n",
    "for line in context.splitlines():\n    if 'x' in line:\n        n += 1\n",
    "n = 0\nfor line in context.splitlines():\n    if line == '```':\n        n += 1\n",
])
def test_cells_without_a_count_of_items_are_left_alone(cell):
    assert show_counted(cell) is None
