"""Corpus scans mean what Python's `re` means: thousands of generated patterns (literals, classes,
alternations, repeats, anchors, look-arounds, back references, flags, Unicode and case folding)
run over generated texts as a `str` and as a memory-mapped Corpus, and every match (span in
bytes, groups) must be the same. Window and block sizes are made tiny so that matches straddle
the edges of the fast engine's blocks and of the confirming windows."""

from __future__ import annotations

import itertools
import os
import pickle
import random
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.kernel import ascii_re2, corpus_sizes, fast_scan, literal_scan, pattern_superset, prefilter
from sandbox.kernel import corpus as corpus_module
from sandbox.kernel.corpus import Corpus

WORDS = ["the", "def", "café", "naïve", "Straße", "KELVIN", "ſtar", "İstanbul", "ıi", "東京", "日本語",
         "error", "Error", "ERROR", "warning", "testing", "information", "10.0.0.1", "192.168.1.254",
         "a1", "x_y", "😀", "e\u0301", "ﬁle", "Ⅻ", "µ", "σς", "ǅ", "foo", "bar", "abab", "aaa", "ing"]
SEPARATORS = [" ", " ", " ", "\n", "\r\n", "\t", ", ", ".", "\u2028", "\x85", "  ", "\n\n", "-"]

ATOMS = ["a", "b", "e", "t", "x", "é", "É", "ß", "k", "s", "i", "I", "東", "😀", r"\.", " ", r"\n",
         ".", r"\w", r"\W", r"\d", r"\D", r"\s", r"\S", "[a-e]", "[^a-e]", r"[^\W\d]", "[éa-c]", "[A-Z]",
         r"[\u3040-\u9fff]", "[^ ]", r"[\s\d]", "[K-Mk]", r"[^\n]", "def", "error", "ing", "tion",
         "café", "na.ve", r"\d{1,3}", r"\bx", ".{0,50}?", "[^x]{2,40}", r"(?:\w\W){1,5}"]
ANCHORS = ["^", "$", r"\b", r"\B", r"\A", r"\Z"]
LOOKAROUND = ["a", "e", " ", r"\d", "ing", "x", r"\s\s", r"\n", r"g\n", r"\s"]  # some read over a newline
FLAGS = ["", "(?i)", "(?m)", "(?s)", "(?a)", "(?im)", "(?is)", "(?ai)"]


def random_text(rng: random.Random, size: int, words: list[str] = WORDS) -> str:
    out: list[str] = []
    total = 0
    while total < size:
        word = rng.choice(words)
        out.append(word + rng.choice(SEPARATORS))
        total += len(out[-1])
    return "".join(out)


def random_pattern(rng: random.Random, depth: int = 0) -> str:
    parts = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.5 or depth > 1:
            item = rng.choice(ATOMS)
        elif roll < 0.62:
            item = "(" + "|".join(random_pattern(rng, depth + 1) for _ in range(rng.randint(2, 3))) + ")"
        elif roll < 0.72:
            item = "(?:" + random_pattern(rng, depth + 1) + ")"
        elif roll < 0.8:
            item = rng.choice(ANCHORS)
        elif roll < 0.86:
            item = rng.choice(["(?=", "(?!", "(?<=", "(?<!"]) + rng.choice(LOOKAROUND) + ")"
        else:
            item = rng.choice(ATOMS)
        if rng.random() < 0.35 and item not in ANCHORS and not item.startswith("(?<") and not item.startswith("(?="):
            item = "(?:" + item + ")" if len(item) > 1 and not item.startswith("(") and not item.startswith("[") \
                and not item.startswith("\\") else item
            item += rng.choice(["*", "+", "?", "{2}", "{1,3}", "+?", "*?", "{0,2}", "{2,}"])
        parts.append(item)
    pattern = "".join(parts)
    if depth == 0 and rng.random() < 0.08 and "(" in pattern:
        pattern += r"\1" if pattern.count("(") - pattern.count("(?") > 0 else ""
    return pattern


class Slow(Exception):
    pass


def _too_slow(_signum: int, _frame: object) -> None:
    raise Slow


def expected(pattern: str, flags: int, text: str, pos: int = 0) -> list[tuple[int, int, tuple]] | None:
    """Python's matches on the str, as (byte start, byte end, groups); None for a pattern that
    backtracks for more than a second (a generated pattern can be catastrophic)."""
    out = []
    char, byte = 0, 0  # matches come in increasing order: each start is converted from the last
    previous = signal.signal(signal.SIGALRM, _too_slow)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        for m in re.compile(pattern, flags).finditer(text, pos):
            a = byte + len(text[char:m.start()].encode("utf-8"))
            char, byte = m.start(), a
            b = a + len(m.group().encode("utf-8"))
            out.append((a, b, (m.group(), *m.groups())))
    except Slow:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return out


AS_SEGMENTS = False  # set by the tiny_windows fixture: corpora as parts of buffers (a mapped directory)


def corpus_of(tmp_path: Path, text: str, name: str) -> Corpus:
    path = tmp_path / name
    data = text.encode("utf-8")
    path.write_bytes(data)
    if AS_SEGMENTS and data:  # cut anywhere (inside characters too), each part inside a larger buffer
        rng = random.Random(len(data))
        cuts = sorted({0, len(data), *(rng.randrange(len(data)) for _ in range(len(data) // 97 + 1))})
        parts, blob = [], b""
        for k, (a, b) in enumerate(itertools.pairwise(cuts)):
            pad = b"\n\xffx" * rng.randint(0, 2)
            if k % 2:  # a pack's bytes
                parts.append((pad + data[a:b] + pad, len(pad), b - a))
            else:  # a mapped file's (filled in below)
                parts.append((None, len(blob) + len(pad), b - a))
                blob += pad + data[a:b] + pad
        (tmp_path / f"{name}.blob").write_bytes(blob)
        fd = os.open(tmp_path / f"{name}.blob", os.O_RDONLY)
        mapped = corpus_module.map_file(fd)
        os.close(fd)
        parts = [(mapped if buf is None else buf, off, n) for buf, off, n in parts]
        return Corpus(corpus_module.Segments(parts), str(path))
    fd = os.open(path, os.O_RDONLY)
    try:
        return Corpus(fd, str(path))
    finally:
        os.close(fd)


def got(corpus: Corpus, pattern: str, flags: int, pos: int = 0) -> list[tuple[int, int, tuple]]:
    return [(m.start(), m.end(), (m.group(), *m.groups())) for m in corpus.finditer(pattern, pos=pos, flags=flags)]


@pytest.fixture(params=["line batches", "windows only", "mapped directory", "ascii stretches",
                        "ascii stretches of a mapped directory"])
def tiny_windows(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks, windows, margins and batches of a few bytes: every edge is crossed many times.
    Once with candidate lines up to 48 bytes confirmed in batches (longer ones in windows),
    once with every candidate confirmed in its window, once over a corpus cut into parts of
    several buffers (as a mapped directory is); and twice (a file, a mapped directory) with
    every block's lines past its first candidate taken as a stretch where the pattern has an
    RE2 program (ASCII lines by RE2, the others in batches)."""
    monkeypatch.setattr(sys.modules[__name__], "AS_SEGMENTS", "mapped directory" in request.param)
    monkeypatch.setattr(fast_scan, "BATCH_LINE", 0 if request.param == "windows only" else 48)
    if "stretches" in request.param:  # every line in a stretch: none is too long
        monkeypatch.setattr(fast_scan, "BATCH_LINE", 4096)  # not above a test's MAX_MATCH
        monkeypatch.setattr(fast_scan, "DENSE_MIN", 1)
        monkeypatch.setattr(fast_scan, "DENSE_AGAIN", 1)
        monkeypatch.setattr(fast_scan, "ASCII_DENSE", 62)
        monkeypatch.setattr(fast_scan, "STRETCH_MOST", 1.0)
    monkeypatch.setattr(fast_scan, "COPIED_BLOCK", 512)
    monkeypatch.setattr(fast_scan, "FIRST_BLOCK", 64)
    monkeypatch.setattr(fast_scan, "LAST_BLOCK", 512)
    monkeypatch.setattr(fast_scan, "WINDOW", 256)
    monkeypatch.setattr(corpus_sizes, "WINDOW", 256)
    monkeypatch.setattr(corpus_sizes, "MARGIN", 64)
    monkeypatch.setattr(fast_scan, "BATCH_BYTES", 100)


# Characters on which the `regex` engine (the path of patterns without an exact window, and of
# patterns with no plan) means something else than `re`: combining marks are \w there, and
# dotted/dotless i, long s, Kelvin, titlecase and ligature letters fold differently. See
# test_the_regex_engine_path_still_differs_from_re below.
REGEX_DIVERGENT = {"e\u0301", "İstanbul", "ıi", "ſtar", "KELVIN", "ǅ", "ﬁle", "µ", "σς"}


def compare(tmp_path: Path, words: list[str], count: int, seed: int,
            keep: Callable[[re.Pattern], bool]) -> tuple[int, list[tuple]]:
    """Run `count` generated patterns that `keep` accepts over texts made of `words`, as a str and
    as a Corpus; return how many were compared and the differences."""
    rng = random.Random(seed)
    texts = [random_text(rng, 3000, words) for _ in range(4)]
    corpora = [corpus_of(tmp_path, t, f"t{seed}-{i}.txt") for i, t in enumerate(texts)]
    compared, failures, seen, tries = 0, [], set(), 0
    while compared < count and tries < count * 20:
        tries += 1
        pattern = rng.choice(FLAGS) + random_pattern(rng)
        flags = rng.choice([0, 0, 0, re.IGNORECASE, re.MULTILINE | re.DOTALL])
        if (pattern, flags) in seen:
            continue
        seen.add((pattern, flags))
        try:
            compiled = re.compile(pattern, flags)
        except (re.error, RecursionError):
            continue
        if not keep(compiled):
            continue
        k = compared % len(texts)
        pos = rng.choice([0, 0, 0, rng.randrange(len(texts[k]))])
        want = expected(pattern, flags, texts[k], pos)
        if want is None:
            continue
        try:
            have = got(corpora[k], pattern, flags, len(texts[k][:pos].encode("utf-8")))
        except Exception as exc:  # noqa: BLE001 - reported with the pattern below
            have = [("raised", repr(exc), ())]
        if have != want:
            failures.append((pattern, flags, pos, want[:3], have[:3]))
        compared += 1
    return compared, failures


def exact_plan(compiled: re.Pattern) -> bool:
    return prefilter.plan(compiled) is not None


def test_patterns_confirmed_by_re_match_as_on_a_str_in_any_text(tmp_path: Path, tiny_windows: None) -> None:
    """The fast path with Python's own `re` confirming (most patterns): every result equal, on
    text full of combining marks, case-folding oddities, CJK, emoji and line separators."""
    compared, failures = compare(tmp_path, WORDS, 2000, 20261205, exact_plan)
    assert compared == 2000
    assert not failures, f"{len(failures)} of {compared} differ, e.g.:\n" + "\n".join(map(repr, failures[:5]))


# Mostly ASCII lines, some not: the runs of ASCII lines RE2 scans lie between batches of others.
ASCII_WORDS = [w for w in WORDS if w.isascii()] * 10 + [w for w in WORDS if not w.isascii()]


def re2_program(compiled: re.Pattern) -> bool:
    return ascii_re2.program(compiled) is not None and exact_plan(compiled)


@pytest.mark.parametrize("tiny_windows", ["ascii stretches", "ascii stretches of a mapped directory"], indirect=True)
def test_patterns_re2_runs_on_ascii_lines_match_as_on_a_str(tmp_path: Path, tiny_windows: None) -> None:
    """The patterns that have an RE2 program (see sandbox/kernel/ascii_re2.py), over mostly
    ASCII text: every result equal (with "ascii stretches", RE2 finds the matches of the ASCII
    lines and `re` those of the others)."""
    compared, failures = compare(tmp_path, ASCII_WORDS, 1500, 20261206, re2_program)
    assert compared == 1500
    assert not failures, f"{len(failures)} of {compared} differ, e.g.:\n" + "\n".join(map(repr, failures[:5]))


@pytest.mark.parametrize("tiny_windows", ["line batches", "mapped directory", "ascii stretches"], indirect=True)
def test_findall_of_patterns_with_an_re2_program_match_a_str(tmp_path: Path, tiny_windows: None) -> None:
    """`findall` takes a batch of candidate lines' values at once: where the pattern has an RE2
    program, RE2 finds those of the batch's runs of ASCII lines and `re` the others'. Patterns
    with and without groups, from the start or from a place inside a line: every value list
    equal to `re.findall` on the str."""
    rng = random.Random(20261207)
    texts = [random_text(rng, 3000, ASCII_WORDS) for _ in range(3)]
    corpora = [corpus_of(tmp_path, t, f"f{i}.txt") for i, t in enumerate(texts)]
    compared, grouped, failures, tries = 0, 0, [], 0
    while compared < 600 and tries < 30000:
        tries += 1
        pattern = rng.choice(FLAGS) + random_pattern(rng)
        if rng.random() < 0.5:
            pattern = f"({pattern})" if rng.random() < 0.5 else f"(\\w)({pattern})"
        try:
            compiled = re.compile(pattern)
        except (re.error, RecursionError):
            continue
        if not re2_program(compiled):
            continue
        k = compared % len(texts)
        pos = rng.choice([0, 0, rng.randrange(len(texts[k]))])
        if expected(pattern, 0, texts[k], pos) is None:
            continue
        want = compiled.findall(texts[k], pos)
        have = corpora[k].findall(pattern, pos=len(texts[k][:pos].encode("utf-8")))
        if have != want:
            failures.append((pattern, pos, want[:3], have[:3]))
        compared += 1
        grouped += compiled.groups > 0
    assert compared == 600 and grouped > 60
    assert not failures, f"{len(failures)} of {compared} differ, e.g.:\n" + "\n".join(map(repr, failures[:5]))


PARTNER_WORDS = ["warning", "WARN\u0130NG", "warn\u0131ng", "\u017ftatus", "Status", "\u212aill", "kill", "ok",
                 "t\u0131meout", "error", "caf\u00e9", "\u0130\u0131", "\u017f", "\u212a", "na\u00efve", "sk\u0130"]


def test_case_partners_split_off_a_superset_are_still_found(tmp_path: Path, tiny_windows: None) -> None:
    """Under `(?i)` the letters i, k and s also match \u0130 / \u0131, \u212a and \u017f; the fast
    engine scans the superset's ASCII part and those characters as literals of their own (3x
    faster than one expression with the partners in it). Matches made with the partners, with
    none of them, at every edge, are Python's, found and iterated."""
    rng = random.Random(17)
    text = random_text(rng, 4000, PARTNER_WORDS)
    corpus = corpus_of(tmp_path, text, "partners.txt")
    patterns = [r"(?i)warning", r"(?i)(?:error|warning|timeout|failed)", r"(?i)status\w*", r"(?i)\bkill\b",
                r"(?i)(s)(k)?", r"(?i)[a-z]*i[a-z]*", r"(?i)na.ve|[is]{2}", r"(?i)\w+ing\b", r"(?i)(?:ok|ill)+"]
    for pattern in patterns:
        assert pattern_superset.translate(pattern, 0).split is not None, pattern
        assert got(corpus, pattern, 0) == expected(pattern, 0, text), pattern
        assert corpus.findall(pattern) == re.findall(pattern, text), pattern


def test_an_re2_program_finds_pythons_matches_on_ascii_text() -> None:
    """The translation alone: on ASCII text (every character class, `\\b`, case folding of
    non-ASCII pattern letters such as the long s and the Kelvin sign), RE2's spans are `re`'s."""
    rng = random.Random(11)
    alphabet = [w for w in WORDS if w.isascii()] + ["K", "k", "S", "s", "I", "i", "_", "0", "9"]
    text = random_text(rng, 20000, alphabet).replace("\u2028", "\n").replace("\x85", "\n")
    data = text.encode("ascii")
    translated = 0
    for _ in range(3000):
        pattern = rng.choice(FLAGS) + random_pattern(rng) + rng.choice(["", "", "(?i:ſ|K)"])
        try:
            compiled = re.compile(pattern)
        except (re.error, RecursionError):
            continue
        program = ascii_re2.program(compiled)
        want = None if program is None else expected(pattern, 0, text)
        if program is None or want is None:
            continue
        translated += 1
        assert list(program.spans(data, 0, len(data))) == [(a, b) for a, b, _ in want], pattern
    assert translated > 1000


def test_where_re2_and_re_disagree_on_a_line_res_matches_are_given(tmp_path: Path, tiny_windows: None,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard behind the runs of ASCII lines: each match is Python's own match object made
    at the place RE2 found, and where Python finds no such match there (a program that means
    something else, made so here: one that reports every word character), the rest of that
    line is Python's matches. (A program that reported no place on a line where Python has a
    match would lose it: the translation's own test and the differential tests hold that.)"""
    wrong = ascii_re2.program(re.compile(r"\w"))
    monkeypatch.setattr(ascii_re2, "program", lambda compiled: wrong)
    rng = random.Random(5)
    text = random_text(rng, 4000, ASCII_WORDS)
    corpus = corpus_of(tmp_path, text, "t.txt")
    for pattern in [r"\b\w+ing\b", r"[a-e]{2}", r"(?m)^\w+", r"(e)(r+)"]:
        assert got(corpus, pattern, 0) == expected(pattern, 0, text), pattern


@pytest.mark.xfail(reason="known: the regex engine (patterns with no exact window or no plan) treats "
                          "combining marks as \\w, folds dotted/dotless i, long s, Kelvin differently from re, "
                          "and folds some letters under re.ASCII | re.IGNORECASE",
                   strict=True)
def test_the_regex_engine_path_still_differs_from_re(tmp_path: Path) -> None:
    compared, failures = compare(tmp_path, WORDS, 300, 3, lambda c: not exact_plan(c))
    assert compared == 300
    assert not failures, failures[:3]


def test_search_and_findall_agree_on_the_str(tmp_path: Path, tiny_windows: None) -> None:
    rng = random.Random(7)
    text = random_text(rng, 5000, [w for w in WORDS if w not in REGEX_DIVERGENT])
    corpus = corpus_of(tmp_path, text, "t.txt")
    for _ in range(400):
        pattern = random_pattern(rng)
        try:
            compiled = re.compile(pattern)
        except re.error:
            continue
        if prefilter.plan(compiled) is None or expected(pattern, 0, text) is None:
            continue  # the fast path is what is compared here; and no catastrophic pattern
        first = compiled.search(text)
        mine = corpus.search(pattern)
        assert (first is None) == (mine is None), pattern
        if first is not None and mine is not None:
            assert mine.group() == first.group(), pattern
            assert mine.start() == len(text[:first.start()].encode("utf-8")), pattern
        assert corpus.findall(pattern) == compiled.findall(text), pattern


def test_the_lines_above_ascii_are_found_whole() -> None:
    """`literal_scan.high_lines`: every line holding a byte above 0x7f, once, start to newline
    (a last line without one too), from any line start of the text."""
    rng = random.Random(3)
    for k in range(40):
        text = random_text(rng, 2000, ASCII_WORDS).encode("utf-8") + rng.choice([b"", b"\xff", b"x\xc3", b"\n"])
        pos = 0 if k % 2 else text.find(b"\n") + 1
        want, at = [], pos
        for line in text[pos:].split(b"\n"):
            if not line.isascii():
                want += [at, at + len(line)]
            at += len(line) + 1
        assert list(literal_scan.high_lines(text, pos, len(text))) == want, k


def test_a_parts_repeated_values_travel_as_one_object_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a part's child pickles (`fanout.shared`): the same values in the same order, equal
    ones one object while they repeat; distinct ones, or unhashable ones, left as they were."""
    from sandbox.kernel import fanout

    monkeypatch.setattr(fanout, "SHARED_CHUNK", 100)
    words = ["".join(w) for w in ["ab", "cd", "ef"] * 200]  # 600 values, 3 distinct, each its own object
    out = fanout.shared(words)
    assert out == words and len({id(v) for v in out}) == 3
    assert len(pickle.dumps(out)) < len(pickle.dumps(words)) // 2
    distinct = [str(i) for i in range(600)]
    assert fanout.shared(distinct) is distinct
    later = words[:300] + distinct  # repeating at first, then not: the rest kept as it is
    out = fanout.shared(later)
    assert out == later and out[-1] is later[-1]
    tuples = [("a", "b")] * 150 + [(["x"],)]
    assert fanout.shared(tuples) is tuples
    for part in [fanout.Part(out, [(0, 2)], (5, 7), repeated=True), fanout.Part(distinct, [], None)]:
        back = pickle.loads(fanout._dumps(part))  # distinct values go without pickle's memo
        assert (back.values, back.head, back.last) == (part.values, part.head, part.last)


@pytest.mark.parametrize("head", [64, 1])
def test_whole_corpus_scans_on_every_core_give_the_sequential_result(tmp_path: Path, tiny_windows: None,
                                                                     monkeypatch: pytest.MonkeyPatch, head: int) -> None:
    """findall and search cut into parts scanned in forked children: the same list (matches
    across part edges), the same first match; also where a part keeps the spans of its first
    match only, and takes the values of batches and stretches whole from there on."""
    from sandbox.kernel import fanout

    monkeypatch.setattr(corpus_sizes, "PARALLEL_MIN", 256)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    monkeypatch.setattr(fanout, "HEAD", head)
    rng = random.Random(11)
    text = random_text(rng, 10000) + random_text(rng, 10000, ASCII_WORDS)
    corpus = corpus_of(tmp_path, text, "t.txt")
    patterns = [r"\w+ing\b", r"(?i)error|warning", r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", r"[\u3040-\u9fff]+",
                r"caf. na.ve", r"(?s)e.{0,5}x", r"\s{1,4}\d", r"(?:[a-z]+ing|[a-z]+tion) (?:of|for|to)", r"(\w)\1"]
    for pattern in patterns:
        assert prefilter.plan(re.compile(pattern)) is not None, pattern
        assert corpus.findall(pattern) == re.findall(pattern, text), pattern
    data = text.encode("utf-8")
    for pattern in [*patterns, r"x{0}", r"(?s).*end", r"\Z", r"(?i)zz-absent|XYZZY", r"東京"]:
        for pos, endpos in [(0, None), (5, None), (len(data) // 3, len(data) - 7), (len(data) - 300, None)]:
            pos = len(data[:pos].decode("utf-8", "ignore").encode("utf-8"))  # a character boundary
            stop = len(data) if endpos is None else len(data[:endpos].decode("utf-8", "ignore").encode("utf-8"))
            want = re.compile(pattern).search(text, len(data[:pos].decode()), len(data[:stop].decode()))
            mine = corpus.search(pattern, pos, stop)
            assert (want is None) == (mine is None), (pattern, pos)
            if want is not None and mine is not None:
                assert mine.group() == want.group() and mine.groups() == want.groups(), (pattern, pos)
                assert mine.start() == len(text[:want.start()].encode("utf-8")), (pattern, pos)


def test_invalid_bytes_read_as_replacement_characters_on_the_fast_path(tmp_path: Path, tiny_windows: None) -> None:
    raw = b"caf\xc3\xa9 ab\xffcd \xe2\x82 na\xc3\xafve xx\xc3\n" * 40
    path = tmp_path / "bad.txt"
    path.write_bytes(raw)
    fd = os.open(path, os.O_RDONLY)
    corpus = Corpus(fd, str(path))
    os.close(fd)
    text = raw.decode("utf-8", "surrogateescape")
    for pattern in [r"ab.cd", r"\w+", r"[^a-z ]+", r"na.ve", r"x+.", r"\W\w"]:
        want = [m.group().encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                for m in re.finditer(pattern, text)]
        assert [m.group() for m in corpus.finditer(pattern)] == want, pattern
        assert corpus.findall(pattern) == want, pattern
        assert corpus.findall(f"({pattern})") == want, pattern


def test_what_gets_no_fast_path_still_scans() -> None:
    """Patterns that can match the empty string get no plan (they match everywhere)."""
    assert prefilter.plan(re.compile(r"a*")) is None
    assert prefilter.plan(re.compile(r"\b")) is None
    assert prefilter.plan(re.compile(r"(?i)caf. na.ve")) is not None


def test_a_line_longer_than_the_longest_match_is_scanned_by_windows(tmp_path: Path, tiny_windows: None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A hot line too long for one window (a file with no newlines) takes the windowed path
    for that line only, with the same matches."""
    monkeypatch.setattr(corpus_sizes, "MAX_MATCH", 4096)
    rng = random.Random(5)
    text = "start\n" + " ".join(rng.choice(["def foo", "information", "café", "x", "testing"]) for _ in range(6000)) + "\nend def bar\n"
    corpus = corpus_of(tmp_path, text, "long.txt")
    for pattern in [r"\bdef \w+", r"information", r"\w+ing\b", r"caf. "]:
        assert prefilter.plan(re.compile(pattern)) is not None
        assert corpus.findall(pattern) == re.findall(pattern, text), pattern


def test_the_fast_path_runs_inside_the_sandboxed_kernel(tmp_path: Path) -> None:
    """Vectorscan and RE2 load under the kernel's isolation (seccomp, Landlock, minimal root),
    and a scan of a Corpus there takes the fast path with `re`'s results: a sparse pattern, and
    a dense one over mostly ASCII lines (RE2 runs its stretches)."""
    from sandbox.config import SandboxConfig
    from sandbox.host import Sandbox

    rng = random.Random(9)
    plain = random_text(rng, 600_000, [w for w in WORDS if w.isascii()]).replace("\u2028", " ").replace("\x85", " ")
    text = plain + random_text(rng, 400_000)
    path = tmp_path / "big.txt"
    path.write_text(text, encoding="utf-8")
    pattern = r"(?i)\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b|\bwarning\b"
    dense = r"\b\w+ing\b"
    with Sandbox(SandboxConfig(policy="trusted", max_str_bytes=1 << 16)) as sandbox:
        sandbox.load_context(path)
        result = sandbox.execute(
            "import re\nfrom sandbox.kernel import prefilter\nfrom sandbox.kernel.windows import Stretch\n"
            f"p, d = {pattern!r}, {dense!r}\n"
            "plan = prefilter.plan(re.compile(p)._rlm_pattern)\n"
            "runs = sum(type(piece) is Stretch for piece in"
            " context._fast(re.compile(d)._rlm_pattern).pieces(0, len(context)))\n"
            "print(type(context).__name__, prefilter.pyperscan is not None, plan.lines_alone,"
            " len(re.findall(p, context)), context.count('warning'), 'zq-absent' in context,"
            " context.find('東京'), len(context.splitlines()), runs > 0,"
            " len(re.findall(d, context)), [m.span() for m in re.finditer(d, context)][-1])")
    spans = [(len(text[:m.start()].encode("utf-8")), len(text[:m.end()].encode("utf-8")))
             for m in re.finditer(dense, text)]
    want = ["Corpus", "True", "True", str(len(re.findall(pattern, text))), str(text.count("warning")),
            "False", str(len(text[:text.find("東京")].encode("utf-8"))), str(len(text.splitlines())), "True",
            str(len(re.findall(dense, text))), str(spans[-1]).replace(" ", "")]
    assert result.stdout.replace(", ", ",").split() == want, result
    with Sandbox(SandboxConfig(max_str_bytes=1 << 16)) as sandbox:  # the default policy: model code
        sandbox.load_context(path)
        result = sandbox.execute(
            f"p, d = {pattern!r}, {dense!r}\n"
            "print(type(context).__name__, True, True, len(re.findall(p, context)), context.count('warning'),"
            " 'zq-absent' in context, context.find('東京'), len(context.splitlines()), True,"
            " len(re.findall(d, context)), [m.span() for m in re.finditer(d, context)][-1])")
    assert result.stdout.replace(", ", ",").split() == want, result


def test_find_and_count_of_a_literal_agree_with_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`find`, `in` and `count` (Vectorscan in blocks of a few bytes, and count on every core)
    give what `bytes.find` / `bytes.count` give: self-overlapping needles, needles across block
    edges, multi-byte characters, ranges."""
    monkeypatch.setattr(literal_scan, "FIRST_BLOCK", 7)
    monkeypatch.setattr(literal_scan, "LAST_BLOCK", 50)
    monkeypatch.setattr(literal_scan, "COPIED_BLOCK", 50)
    rng = random.Random(13)
    raw = random_text(rng, 6000, WORDS + ["aaaa", "abab", "aab"]).encode("utf-8")
    monkeypatch.setattr(sys.modules[__name__], "AS_SEGMENTS", True)
    segments = corpus_of(tmp_path, raw.decode("utf-8"), "lit-parts.txt")
    monkeypatch.setattr(sys.modules[__name__], "AS_SEGMENTS", False)
    for corpus in [corpus_of(tmp_path, raw.decode("utf-8"), "lit.txt"), segments]:
        literals_agree(corpus, raw, rng)
    monkeypatch.setattr(corpus_sizes, "PARALLEL_MIN", 256)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    for corpus in [corpus_of(tmp_path, raw.decode("utf-8"), "lit.txt"), segments]:
        for needle in LITERALS:
            assert corpus.count(needle) == raw.count(needle.encode("utf-8")), needle


LITERALS = ["a", "aa", "aaa", "ab", "abab", "aba", "é", "café", "東京", "😀", "\n", "\r\n", "ing ", "zzz",
            "information", "e\u0301", "the"]


def literals_agree(corpus: Corpus, raw: bytes, rng: random.Random) -> None:
    for needle in LITERALS:
        b = needle.encode("utf-8")
        assert corpus.count(needle) == raw.count(b), needle
        assert corpus.find(needle) == raw.find(b), needle
        assert (needle in corpus) == (b in raw), needle
        for _ in range(20):
            lo, hi = sorted(rng.randrange(len(raw) + 1) for _ in range(2))
            assert corpus.find(needle, lo, hi) == raw.find(b, lo, hi), (needle, lo, hi)
            assert corpus.count(needle, lo, hi) == raw.count(b, lo, hi), (needle, lo, hi)


@pytest.mark.parametrize("window", [16, 61, 4096])
def test_lines_agree_with_str_splitlines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int) -> None:
    """`splitlines()` reads pieces that end with a newline; stretches with no \\n for a whole
    piece (\\r, U+2028, \\x85 breaks only, or one long line) are carried over: every line as
    `str.splitlines` gives it, with and without its break."""
    monkeypatch.setattr(corpus_sizes, "WINDOW", window)
    monkeypatch.setattr(corpus_sizes, "SPARSE_HIGH_LINES", 0 if window > 16 else 11)  # ASCII runs cut out
    monkeypatch.setattr(literal_scan, "LAST_BLOCK", window // 2 + 1)
    rng = random.Random(window)
    no_newline = [s for s in SEPARATORS if "\n" not in s] + ["\r"]
    texts = [random_text(rng, 3000), random_text(rng, 3000, WORDS + ["\r", "\r\n"]),
             random_text(rng, 3000, ASCII_WORDS + ["\r", "\r\n", "\x0c", "\x1c"]) + "\xff\n",
             "".join(rng.choice(WORDS) + rng.choice(no_newline) for _ in range(400)),
             "x" * 500 + "\n" + random_text(rng, 500) + "\r", "é" * 300 + "\r\n" * 3 + "end"]
    monkeypatch.setattr(literal_scan, "COPIED_BLOCK", window // 2 + 1)
    for k, (text, as_segments) in enumerate(itertools.product(texts, [False, True])):
        monkeypatch.setattr(sys.modules[__name__], "AS_SEGMENTS", as_segments)
        corpus = corpus_of(tmp_path, text, f"lines{k}.txt")
        assert list(corpus.splitlines()) == text.splitlines(), k
        assert list(corpus.splitlines(True)) == text.splitlines(True), k
        assert len(corpus.splitlines()) == len(text.splitlines()), k
    raw = b"a\r\n\xe2\x80\xa8b\xe2\x80\n\xc2\x85\x85\r\rc\xf0\x9f\x98\r\n\xe2\x80\xa9" * 50 + b"\r"
    (tmp_path / "bad.txt").write_bytes(raw)
    fd = os.open(tmp_path / "bad.txt", os.O_RDONLY)
    corpus = Corpus(fd, "bad.txt")
    os.close(fd)
    lines = raw.decode("utf-8", "replace").splitlines()
    assert list(corpus.splitlines()) == lines and len(corpus.splitlines()) == len(lines)
    monkeypatch.setattr(corpus_sizes, "PARALLEL_MIN", 7)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    for k, text in enumerate(texts):  # on every core: parts cut anywhere (inside \r\n and characters)
        assert len(corpus_of(tmp_path, text, f"parts{k}.txt").splitlines()) == len(text.splitlines()), k
    assert len(corpus.splitlines()) == len(lines)
    monkeypatch.setattr(prefilter, "line_breaks", lambda: None)  # without Vectorscan
    assert len(corpus.splitlines()) == len(lines)
    for k, text in enumerate(texts):
        assert len(corpus_of(tmp_path, text, f"again{k}.txt").splitlines()) == len(text.splitlines()), k


def test_a_long_line_with_many_candidates_is_decoded_once_a_block(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The windows of candidates on one long line all reach its end: they are one window, not
    one each (which decoded the rest of the line once per candidate: quadratic in the line)."""
    decoded: list[int] = []

    class CountingWindow(fast_scan.Window):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            decoded.append(len(self.text))

    monkeypatch.setattr(fast_scan, "Window", CountingWindow)
    rng = random.Random(3)
    text = " ".join(rng.choice(["def foo", "information", "x", "10.0.0.1", "testing"]) for _ in range(60_000)) + "\n"
    corpus = corpus_of(tmp_path, text, "one-line.txt")
    for pattern in [r"\bdef \w+", r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", r"\w+ing\b"]:
        decoded.clear()
        assert corpus.findall(pattern) == re.findall(pattern, text), pattern
        assert sum(decoded) <= 2 * len(text), (pattern, len(decoded), sum(decoded))
