"""A context above `max_str_bytes` (a memory-mapped Corpus) answers the idioms models write on
a `str` with the same results.

The first tests compare a Corpus with the `str` of the same text directly (small windows, so
that every match, line and piece crosses window edges); the rest run model code in real
kernels, in both policies, and `rlm query` end to end."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env, corpus_of
from scripted_server import ScriptedServer

import sandbox.kernel.corpus as corpus_module
import sandbox.kernel.corpus_sizes as corpus_sizes
from sandbox import Sandbox, SandboxConfig
from sandbox.kernel import re_facade
from sandbox.kernel.corpus import Corpus

WORDS = ["alpha", "βeta", "gamma", "δέλτα", "日本語", "ok", "x=12", "needle 4711", "\n", "\r\n", "  ", "\t",
         "é", "<doc>", "</doc>", "\r", "\x85", "\u2028"]


@pytest.fixture
def small_windows(monkeypatch):
    monkeypatch.setattr(corpus_sizes, "WINDOW", 997)
    monkeypatch.setattr(corpus_sizes, "MARGIN", 61)


def mostly_non_ascii(seed: int, n: int = 3000) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(WORDS) + rng.choice([" ", "", "\n"]) for _ in range(n))


PATTERNS = [r"\w+", r"needle (\d+)", r"(?m)^gamma", r"δέλτα\s*(\S)", r"(?i)ΒETA", r"x=(\d+)", r"\d*", r"$",
            r"(?s)alpha.{0,50}?ok", r"[α-ω]+", r"(?<=ok)\s", r".", r"\s+$", r"(?s)<doc>(.*?)</doc>",
            r"(?m)(\w+)$", r"(?P<word>日本)(語)?"]


@pytest.mark.parametrize("seed", [1, 2])
def test_regex_results_are_those_of_the_same_str(tmp_path, small_windows, seed):
    text = mostly_non_ascii(seed)
    c = corpus_of(tmp_path, text)

    def to_bytes(i: int) -> int:
        return len(text[:i].encode())

    for p in PATTERNS:
        expected = [(to_bytes(m.start()), to_bytes(m.end()), m.group(), m.groups()) for m in re.finditer(p, text)]
        got = [(m.start(), m.end(), m.group(), m.groups()) for m in re_facade.finditer(p, c)]
        assert got == expected, p
        assert re_facade.findall(p, c) == re.findall(p, text), p
        assert re_facade.compile(p).findall(c) == re.findall(p, text), p
        first = re_facade.search(p, c)
        assert (first is None) == (re.search(p, text) is None), p
        if first is not None:
            assert c[first.start():first.end()] == first.group() == re.search(p, text).group(), p
        m, n = re_facade.match(p, c), re.match(p, text)
        assert (m and m.group()) == (n and n.group()), p


def test_a_match_longer_than_a_window_is_found_whole(tmp_path, small_windows):
    long_doc = "<doc>" + "y" * 20_000 + "\nz</doc>"
    text = mostly_non_ascii(3) + long_doc + mostly_non_ascii(4)
    c = corpus_of(tmp_path, text)
    assert re_facade.findall(r"(?s)<doc>(.*?)</doc>", c) == re.findall(r"(?s)<doc>(.*?)</doc>", text)
    assert re_facade.search(r"<doc>y+\nz", c).group() == long_doc[:-6]
    assert re_facade.findall(r"y+", c) == ["y" * 20_000]


def test_text_methods_and_lazy_sequences_match_str(tmp_path, small_windows):
    text = mostly_non_ascii(5)
    c = corpus_of(tmp_path, text)
    for sub in ["needle", "日本", "\r\n", "zzz", "é", ""]:
        assert (sub in c) == (sub in text)
        assert c.count(sub) == (text.count(sub) if sub else len(text.encode()) + 1)
        assert c.find(sub) == (len(text[:text.find(sub)].encode()) if sub in text else -1)
    assert c.startswith(text[:10]) and c.endswith(text[-7:]) and c.startswith(("zz", text[:3]))
    assert not c.startswith("zz") and c.rfind("needle") == len(text[:text.rfind("needle")].encode())
    with pytest.raises(ValueError, match="substring not found"):
        c.index("not there")
    assert list(c.splitlines()) == text.splitlines()
    assert list(c.splitlines(True)) == text.splitlines(True)
    lines = c.splitlines()
    assert lines[:5] == text.splitlines()[:5] and lines[-3:] == text.splitlines()[-3:]
    assert lines[7] == text.splitlines()[7] and lines[-1] == text.splitlines()[-1]
    assert len(lines) == len(text.splitlines())
    assert [i for i, _ in enumerate(c.split("\n"))][-1] == len(text.split("\n")) - 1
    for args in [(), (None, 7), ("\n",), ("ok", 3), ("日本語",)]:
        assert list(c.split(*args)) == text.split(*args), args


def test_several_buffers_read_as_one_corpus(small_windows):
    """Segments: the files of a large directory mapped where they are, read as one text."""
    rng = random.Random(7)
    words = ["alpha", "βeta", "日本語", "needle 42", "\n", "ok", "é", "ab", "ba"]
    for _ in range(30):
        pieces = ["".join(rng.choice(words) for _ in range(rng.randint(0, 60))) for _ in range(rng.randint(1, 8))]
        text = "".join(pieces)
        data = text.encode()
        buffers = []
        for piece in pieces:  # each piece inside a larger buffer, as a part of a file would be
            pad = b"XX" * rng.randint(0, 3)
            buffers.append((pad + piece.encode() + pad, len(pad), len(piece.encode())))
        seg = corpus_module.Segments(buffers)
        assert seg[:] == data and len(seg) == len(data) and [seg[i] for i in range(len(data))] == list(data)
        for needle in [b"ab", b"needle 42", "日本".encode(), b"\nok", b"zz", b"a"]:
            for lo, hi in [(0, len(data)), (3, len(data) - 2), (17, 40)]:
                assert seg.find(needle, lo, hi) == data.find(needle, lo, hi), (needle, lo, hi)
                assert seg.rfind(needle, lo, hi) == data.rfind(needle, lo, hi), (needle, lo, hi)
        c = Corpus(seg)
        for p in [r"\w+", r"needle (\d+)", r"(?s)a.*?b", r"$"]:
            assert re_facade.findall(p, c) == re.findall(p, text), p
        assert list(c.splitlines()) == text.splitlines() and c.count("ab") == text.count("ab")


def test_segments_answer_like_bytes_whichever_part_was_looked_up_last():
    """Segments remember the part of their last look-up (a scan's finds fall in one file after
    another): every call, whatever came before it, with the bounds a Corpus hands them
    (reversed, past the end; find's never negative), still answers as the joined bytes do."""
    rng = random.Random(11)
    for _ in range(40):
        pieces = [bytes(rng.choice(b"ab\nc") for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(1, 6))]
        data = b"".join(pieces)
        seg = corpus_module.Segments([(b"#" * 5 + p + b"#" * 5, 5, len(p)) for p in pieces])
        n = len(data)
        for _ in range(300):
            at = rng.randint(0, max(0, n - 1))
            if n:
                assert seg[at] == data[at]  # sets the remembered part
            lo, hi = rng.randint(0, n + 3), rng.randint(0, n + 3)
            needle = bytes(rng.choice(b"ab\nc") for _ in range(rng.randint(0, 3)))
            assert seg.find(needle, lo, hi) == data.find(needle, lo, hi), (pieces, needle, lo, hi)
            assert seg.rfind(needle, lo, hi) == data.rfind(needle, lo, hi), (pieces, needle, lo, hi)
            assert seg.find(needle, lo) == data.find(needle, lo)
            assert seg[lo:hi] == data[lo:hi] and seg[lo - n:hi - n] == data[lo - n:hi - n], (pieces, lo, hi)
            if lo < n:
                assert seg[lo] == data[lo] and seg[lo - n] == data[lo - n]


def test_a_stripped_corpus_of_a_stripped_corpus_scans_like_its_text(tmp_path):
    """`c.strip()` of a corpus that is itself several buffers (a stripped corpus, a mapped
    directory) is read over the same buffers, not over another Segments: RE2, which a dense
    scan hands a buffer in place, raised TypeError on one (found by a red team)."""
    data = " x" + "ok ok\n" * 10000
    c = corpus_of(tmp_path, data)
    twice = c.strip().strip("x")
    text = data.strip().strip("x")
    for pattern in [r"\bok\b", r"(?i)ok", r"\w+"]:
        assert re_facade.findall(pattern, twice) == re.findall(pattern, text), pattern
        assert [m.span() for m in re_facade.finditer(pattern, twice)][-3:] == \
            [m.span() for m in re.finditer(pattern, text)][-3:], pattern
    assert twice[:7] == text[:7] and len(twice) == len(text.encode())
    seg = corpus_module.Segments([(b"abcdef", 1, 4), (b"XYZ", 0, 3)])
    inner = corpus_module.Segments([(seg, 2, 4), (b"!", 0, 1)])
    assert inner[:] == b"deXY!" and all(not isinstance(buf, corpus_module.Segments) for buf, _, _ in inner._parts)


def test_slices_never_split_a_character(tmp_path):
    text = "日本語のテキスト" * 100
    c = corpus_of(tmp_path, text)
    assert len(c) == len(text.encode())
    assert c[:3] == "日" and c[:4] == "日" and c[:6] == "日本" and c[1:7] == "日本"
    assert c[-3:] == "ト" and c[0] == "日" and c[1] == "日" and c[:] == text
    with pytest.raises(IndexError):
        c[len(c)]


def test_whole_text_operations_fail_at_once_naming_the_chunked_way(tmp_path):
    c = corpus_of(tmp_path, "some text\n" * 10)
    for call in (lambda: c.lower(), lambda: c.encode(), lambda: list(c), lambda: c + "x",
                 lambda: re_facade.sub("a", "b", c), lambda: re_facade.split("a", c)):
        with pytest.raises((TypeError, AttributeError), match=r"context\.chunks"):
            call()


# ---------------------------------------------------------------- in a real kernel
MODEL_CODE = r'''
import re, collections, textwrap, json
print('start', len(context) > 1000, f"{len(context):,}"[:1])
m = re.search(r'special magic number is (\d+)', context)
print('magic', m.group(1), context[m.start():m.end()] == m.group())
p = re.compile(r'key=(\w+)')
print('first', p.search(context).group(1), 'needle' in context, context.count('key='))
print('preview', repr(context[:12]))
counts = collections.Counter(w for line in context.splitlines()[:50] for w in re.findall(r'[a-zα-ω]+', line))
print('top', sorted(counts.items(), key=lambda kv: -kv[1])[:1])
n = 0
for i, line in enumerate(context.split("\n")):
    n = i
print('lines', n + 1, len(context.splitlines()))
print('all', len(re.findall(r'key=\w+', context)), len(list(p.finditer(context))))
try:
    context.lower()
except AttributeError as e:
    print('refused', 'chunks' in str(e))
'''


@pytest.mark.parametrize("policy", ["restricted", "trusted"])
def test_model_idioms_run_on_a_corpus_in_a_kernel(tmp_path, policy):
    body = "".join(f"line {i} key=value{i} αβγ\n" for i in range(4000))
    text = body[:50_000] + "The special magic number is 31337.\n" + body[50_000:]
    path = tmp_path / "big.txt"
    path.write_text(text, encoding="utf-8")
    with Sandbox(SandboxConfig(policy=policy, max_str_bytes=10_000)) as sb:
        assert sb.load_context(path).type == "Corpus"
        r = sb.execute(MODEL_CODE)
        assert r.error is None, r.error
        out = dict(line.split(" ", 1) for line in r.stdout.splitlines())
        assert out["magic"] == "31337 True"
        assert out["first"] == "value0 False 4000"
        assert out["preview"] == repr(text[:12])
        assert out["lines"] == f"{len(text.split(chr(10)))} {len(text.splitlines())}"
        assert out["all"] == "4000 4000"
        assert out["refused"] == "True"


def test_whole_corpus_scans_on_every_core_give_the_sequential_result(tmp_path, small_windows, monkeypatch):
    monkeypatch.setattr(corpus_sizes, "PARALLEL_MIN", 300)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(5)))  # five parts, forked
    before = set(_children())  # other tests' kernels may still be around in a full run
    rng = random.Random(11)
    words = ["a", "aa", "b", "<doc>", "</doc>", "日本", "x1", "22", "\n", " ", "é"]
    for _ in range(12):
        text = "".join(rng.choice(words) for _ in range(rng.randint(500, 3000)))
        c = corpus_of(tmp_path, text)
        for p in [r"a+", r"aa", r"(?s)<doc>.*?</doc>", r"\d+", r"a*", r"(a)(b)?", r"$", r"(?m)^\w"]:
            assert re_facade.findall(p, c) == re.findall(p, text), p
        for needle in ["aa", "a", "<doc>", "日本", "aaa"]:
            assert c.count(needle) == text.count(needle), needle
    assert set(_children()) - before == set(), "a forked part was left behind"


def _children() -> list[str]:
    """This process's child processes (zombies included)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                found.append(entry)
    return found


def test_a_scan_in_the_kernel_forks_and_reaps_its_helpers(tmp_path):
    text = "".join(f"row {i} fox jumps {i % 7}\n" for i in range(40_000))
    (tmp_path / "big.txt").write_text(text)
    code = (
        "import os, re\nimport sandbox.kernel.corpus as corpus\nimport sandbox.kernel.corpus_sizes as sizes\n"
        "sizes.PARALLEL_MIN = 100_000\n"
        "before = sorted(p for p in os.listdir('/proc') if p.isdigit())\n"
        "n = len(re.findall(r'fox jumps (\\d)', context))\nk = context.count('fox jumps')\n"
        "after = sorted(p for p in os.listdir('/proc') if p.isdigit())\n"
        "print(n, k, corpus.Corpus._cores_for(context, 0, len(context)), before == after)"
    )
    with Sandbox(SandboxConfig(policy="trusted", max_str_bytes=10_000)) as sb:
        sb.load_context(tmp_path / "big.txt")
        r = sb.execute(code)
    cores = min(len(os.sched_getaffinity(0)), len(text) // 100_000)
    assert r.stdout.split() == ["40000", "40000", str(cores), "True"], r


def test_a_large_directory_of_small_files_is_a_corpus_with_its_docs(tmp_path):
    """Above max_str_bytes with no file large enough to map in place (all packed): this failed
    with `TypeError: string indices must be integers` (the kernel read the pack's index as the
    str form's list)."""
    root = tmp_path / "tree"
    root.mkdir()
    for i in range(30):
        (root / f"f{i:02d}.txt").write_text(f"file {i} says ünïcode hello {i * 7}\n" * 20)
    with Sandbox(SandboxConfig(policy="trusted", max_str_bytes=4_000)) as sb:
        assert sb.load_context(root).type == "Corpus"
        r = sb.execute("import re\nprint(len(docs), docs[3].path, docs[3].text.splitlines()[0])\n"
                       "print(len(re.findall(r'hello (\\d+)', context)), context.count('ünïcode'))")
    assert r.error is None, r.error
    assert r.stdout.splitlines() == ["30 f03.txt file 3 says ünïcode hello 21", "600 600"]


def test_a_large_directory_is_read_where_its_files_are(tmp_path):
    """Above max_str_bytes a directory's large files are mapped in place (never copied); the
    Corpus and its docs read as the concatenation would, across a kernel restart too."""
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    big = "".join(f"big line {i} ünïcode\n" for i in range(70_000))  # > 1 MiB: mapped in place
    (root / "a_big.txt").write_text(big)
    (root / "b_small.txt").write_text("small file\nThe special magic number is 4242.\n")
    (root / "sub" / "c_big.txt").write_text(big.replace("big", "other"))
    (root / "sub" / "d_empty.txt").write_text("")
    config = SandboxConfig(policy="trusted", max_str_bytes=100_000, cell_timeout_s=5, interrupt_grace_s=1)
    with Sandbox(config) as sb:
        info = sb.load_context(root)
        assert info.type == "Corpus"
        stored = sum(f.stat().st_size for f in (sb._host_dir / "contexts").iterdir())
        assert stored < 10_000, f"{stored} bytes copied for a directory of {2 * len(big.encode()):,}"
        code = ("import re\nprint(len(docs), [d.path for d in docs])\n"
                "print(re.search(r'magic number is (\\d+)', context).group(1), len(re.findall(r'other line', context)))\n"
                "print(docs[0].text.startswith('big line 0 '), repr(docs[1].text), repr(docs[2].text[:11]))\n"
                "print(context.count('ünïcode'), 'other line 69999 ünïcode' in context, len(context))")
        expected = None
        for attempt in range(2):  # the second time after a restart, which maps the files again
            r = sb.execute(code)
            assert r.error is None, r.error
            lines = r.stdout.splitlines()
            assert lines[0] == "3 ['a_big.txt', 'b_small.txt', 'sub/c_big.txt']"  # the empty file left out
            assert lines[1] == "4242 70000"
            assert lines[2] == "True 'small file\\nThe special magic number is 4242.\\n' 'other line '"
            assert lines[3].split()[:2] == ["140000", "True"]
            expected = expected or lines
            assert lines == expected
            if attempt == 0:
                stuck = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
                assert sb.execute(stuck, timeout=1).restarted


def test_rlm_query_over_a_file_above_the_threshold(tmp_path):
    filler = "".join(f"record {i}: nothing to see here\n" for i in range(3000))
    (tmp_path / "big.txt").write_text(filler + "The special magic number is 271828.\n" + filler)
    (tmp_path / "home").mkdir()  # the user's own rlm.toml: a project's may not set [sandbox] untrusted
    (tmp_path / "home" / "rlm.toml").write_text("[sandbox]\nmax_str_bytes = 20000\n")

    def root(call):  # what models write first, then the answer
        if call.turn == 0:
            return ("```python\nimport re\nm = re.search(r'special magic number is (\\d+)', context)\n"
                    "print(m.group(1))\nnumber = m.group(1)\n```")
        return "FINAL_VAR(number)"

    with ScriptedServer({"root": root}) as server:
        env = cli_env(tmp_path / "home", key="test-key")
        r = subprocess.run([sys.executable, "-m", "cli", "query", "big.txt", "-q", "What is the special magic number?",
                            "-m", "root", "--base-url", server.url, "--no-notes"],
                           cwd=tmp_path, capture_output=True, timeout=180, env=env, check=False)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().strip() == "271828"


class _Feed:
    """A byte stream of `total` bytes made on the fly (standard input larger than we keep)."""

    def __init__(self, total: int, tail: bytes = b"") -> None:
        self.left, self.tail = total, tail
        self.line = b"a line of standard input, nothing more\n"

    def read(self, n: int) -> bytes:
        if self.left <= 0:
            data, self.tail = self.tail, b""
            return data
        k = min(n, self.left)
        self.left -= k
        return (self.line * (k // len(self.line) + 1))[:k]


def test_large_standard_input_is_streamed_to_a_file_not_held(tmp_path):
    import tracemalloc

    from rlm import inputs

    small = inputs.read_stdin(_Feed(1000), tmp_path)
    assert small.spooled and small.label == "standard input"
    assert small.value.read_text() == ("a line of standard input, nothing more\n" * 26)[:1000]
    tracemalloc.start()
    try:
        context = inputs.read_stdin(_Feed(300 << 20, tail="ünïcode end\n".encode()), tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    path = context.value
    assert isinstance(path, Path) and path.parent == tmp_path
    assert path.stat().st_size == (300 << 20) + len("ünïcode end\n".encode())
    assert peak < 64 << 20, f"{peak:,} bytes held for 300 MiB of input"
    with open(path, "rb") as f:
        f.seek(-len("ünïcode end\n".encode()), os.SEEK_END)
        assert f.read().decode() == "ünïcode end\n"
