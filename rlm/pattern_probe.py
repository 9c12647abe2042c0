"""Why a cell's search found nothing: the literal tests in its code, tried on the context's text.

A model that guesses the data's format writes a regex or a substring test that fits no line
(`HTTP/1.1 (\\d{3})` where the log says `HTTP/1.1" 500`; `'store' in row and 'S-19' in row`
where 'store' stands only in the header) and sees 0, [], {} or an error on an empty list. Told
only "check the pattern", a small model answers 0 again. This module finds the tests a cell's
code spells out (regex calls whose pattern is a literal, or a name bound to one; `'x' in line`;
`line.startswith('x')`; those joined by `and`) and runs them on the start of the context's text:
for a regex that matches nothing, the longest start of it that matches and the text that follows
there; for tests joined by `and`, how many lines pass as each one is added. Model code is not
run: only its literal patterns, on the host, by the `regex` engine with a time limit (a pattern
is hostile: it may backtrack for ever).
"""

from __future__ import annotations

import ast
import functools
import time
from dataclasses import dataclass

import regex
from regex import _regex_core

from rlm.loop_guards import normal_code
from sandbox import SandboxBackend

__all__ = ["ContextProbe", "Group", "Miss", "PROBE_BYTES", "Test", "count_passing", "empty_outcome", "find_misses",
           "line_tests", "mended_code", "tests_of"]

PROBE_BYTES = 2_000_000  # the start of the context the tests are tried on
PREVIEW_CHARS = 20_000  # of a context that is no text (a list, a dict): its head as the kernel shows it
PROBE_SECONDS = 1.0  # all the probes of one cell together
MAX_PATTERN_CHARS = 300
MAX_TESTS = 8  # per cell
LINE_CHARS = 200  # of a line shown
# the items a pattern's fixed counts write out when the engine compiles it, which no time limit bounds
# (`(?:a{65535}){65535}` is four billion of them: the host's memory, not an error)
MAX_UNROLLED = 50_000
CHECK_EVERY = 1024  # lines tested between looks at the time left
_REGEX_CALLS = {"search", "match", "fullmatch", "findall", "finditer", "compile", "sub", "subn", "split"}
_FLAGS = {"I": regex.I, "IGNORECASE": regex.I, "M": regex.M, "MULTILINE": regex.M, "S": regex.S,
          "DOTALL": regex.S, "X": regex.X, "VERBOSE": regex.X, "A": regex.A, "ASCII": regex.A}
_CASE_METHODS = {"lower", "upper", "casefold", "strip", "lstrip", "rstrip"}
# errors no search's empty result leads to (a cell stopped for its time is no empty result)
_UNRELATED_ERRORS = ("SyntaxError", "IndentationError", "ProtectedName", "NameError", "KeyboardInterrupt",
                     "TimeoutError", "MemoryError", "ModuleNotFoundError", "ImportError")
_EMPTY_VALUES = {"0", "0.0", "[]", "{}", "()", "none", "set()", "''", '""', "counter()"}


@dataclass(frozen=True)
class Test:
    """One test a cell's code applies to a line or the text: `kind` is "regex", "in",
    "startswith" or "endswith"; `text` the literal; `source` how the code wrote it."""

    kind: str
    text: str
    flags: int
    anchor: str  # "match" / "fullmatch" (re.match, re.fullmatch: at the line's start, or all of it), or ""
    source: str
    case: str | None = None  # `'x' in line.lower()`: the line is lowered first
    written: str | None = None  # a regex's literal as the code spells it (r'...'), to mend it in place
    exact: str | None = None  # the test exactly as the code spells it (`source` is cut and its spaces joined)
    subject: str | None = None  # the name of what is tested (`line` in `'x' in line.lower()`), where it is one


@dataclass(frozen=True)
class Group:
    """One test, or tests joined by `and`; `written`: the `and` as the code spells it, where
    every part of it is a test (so that it may be mended by leaving some out)."""

    tests: list[Test]
    written: str | None = None


@dataclass(frozen=True)
class Miss:
    """What one of a cell's tests, or tests joined by `and`, found on the context's text."""

    source: str  # the test as the code wrote it
    note: str  # what was found, in words
    written: str | None = None  # code that may be replaced (a pattern's literal, the tests joined by and)
    mended: str | None = None  # what to put there so that lines pass


class ContextProbe:
    """The start of one run's context, read once when first needed, and the tests of cells tried on it."""

    def __init__(self, sb: SandboxBackend, name: str) -> None:
        self.sb = sb
        self.name = name
        self.cut_short = False
        self._text: str | None = None
        self._lines: list[str] | None = None
        self._mends: dict[str, str | None] = {}  # a cell (as a repeat of it reads) -> the mended cell given

    def given(self, code: str, mended: str) -> None:
        """The note on `code` gave `mended` to run."""
        self._mends.setdefault(normal_code(code), mended)

    def mend_of_repeat(self, code: str) -> str | None:
        """The mended cell the note on `code` gave, the first time `code` is run again instead of it
        (a small model ran its own cell four times over the note's); None otherwise."""
        key = normal_code(code)
        mended = self._mends.get(key)
        if mended is not None:
            self._mends[key] = None
        return mended

    def misses(self, code: str) -> list[Miss]:
        """What the tests `code` spells out find nothing of, and why (empty when it spells none)."""
        deadline = time.monotonic() + PROBE_SECONDS
        groups = line_tests(code, deadline)
        if not groups:
            return []
        return find_misses(groups, self.text(), cut_short=self.cut_short, lines=self.lines(),
                           seconds=max(0.0, deadline - time.monotonic()))

    def text(self) -> str:
        """The start of the context, read the first time it is asked for."""
        if self._text is None:
            try:
                self._text = self._read()
            except Exception:  # a probe that cannot read the context says nothing; the run goes on
                self._text = ""
        return self._text

    def lines(self) -> list[str]:
        """The lines of `text()`, the last left out where the text was cut in the middle of one."""
        if self._lines is None:
            self._lines = _whole_lines(self.text(), self.cut_short)
        return self._lines

    def _read(self) -> str:
        reader = self.sb.context_reader(self.name)
        if reader is None:
            head = self.sb.preview(self.name, PREVIEW_CHARS) or ""
            self.cut_short = len(head) >= PREVIEW_CHARS
            return head
        with reader:
            self.cut_short = reader.size > PROBE_BYTES
            return reader.read(0, min(reader.size, PROBE_BYTES)).decode("utf-8", "replace")


def mended_code(code: str, misses: list[Miss]) -> str | None:
    """`code` with the first pattern that missed replaced by the one that matches, where that
    is one plain change (the literal stands once in the code, the new one fits in r'...')."""
    for miss in misses:
        if miss.written is None or miss.mended is None or code.count(miss.written) != 1:
            continue
        if miss.mended.startswith("r'") and ("'" in miss.mended[2:-1] or "\n" in miss.mended
                                            or miss.mended.endswith("\\'")):
            continue  # a pattern that r'...' cannot hold as it is
        return code.replace(miss.written, miss.mended)
    return None


def empty_outcome(stdout: str, error: str | None) -> bool:
    """Did the cell end with what a search that found nothing gives: an error (max() of an empty
    list, `.group` of None, an index past the end) or a printed 0, [], {}, None?"""
    if error is not None:
        lines = [line for line in error.strip().splitlines() if line.strip()]
        return bool(lines) and not lines[-1].lstrip().startswith(_UNRELATED_ERRORS)
    for line in stdout.splitlines()[-20:]:
        value = line.strip()
        for sep in (":", "="):
            if sep in value:
                value = value.rsplit(sep, 1)[1].strip()
        value = value.lower().rstrip(".")
        if value in _EMPTY_VALUES or value.startswith("defaultdict(") and value.endswith("{})"):
            return True
    return False


def line_tests(code: str, deadline: float | None = None) -> list[Group]:
    """The tests `code` spells out, each a list: one test, or several joined by `and` on the
    same line variable (in the order written). At most MAX_TESTS tests in all; those found by
    `deadline` (of time.monotonic()) where one is given (each regex found is compiled on the host)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    names = _literal_names(tree)
    source = _Source(code)
    found: list[Group] = []
    seen: set[tuple[Test, ...]] = set()
    inside_and: set[int] = set()
    for node in ast.walk(tree):
        if _past(deadline):
            break
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            tests = [_test(value, names, source) for value in node.values]
            joined = [t for t in tests if t is not None]
            for value in node.values:
                inside_and.update(id(n) for n in ast.walk(value))
            if len(joined) >= 2 and tuple(joined) not in seen:
                seen.add(tuple(joined))
                found.append(Group(joined, source.exact(node) if len(joined) == len(tests) else None))
    for node in ast.walk(tree):
        if _past(deadline):
            break
        if id(node) in inside_and:
            continue
        test = _test(node, names, source)
        if test is not None and (test,) not in seen:
            seen.add((test,))
            found.append(Group([test]))
    out: list[Group] = []
    count = 0
    for group in found:
        if count + len(group.tests) > MAX_TESTS:
            break
        out.append(group)
        count += len(group.tests)
    return out


def tests_of(code: str, deadline: float | None = None) -> tuple[ast.Module, dict[int, Test]] | None:
    """`code` parsed, and the tests it spells out, by the id of their node; None where it does not
    parse, or its tests are not all found by `deadline` (of time.monotonic()) where one is given."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    names = _literal_names(tree)
    source = _Source(code)
    found = {}
    for node in ast.walk(tree):
        if _past(deadline):  # compiling a cell's patterns is not bounded by the engine's time limit
            return None
        test = _test(node, names, source)
        if test is not None:
            found[id(node)] = test
    return tree, found


def count_passing(tests: list[Test], lines: list[str], deadline: float) -> int | None:
    """How many of `lines` pass every one of `tests`; None when that goes past `deadline` (of
    time.monotonic())."""
    try:
        return _count(tests, lines, deadline)[0]
    except (TimeoutError, regex.error, RecursionError, MemoryError, OverflowError):
        return None


def find_misses(groups: list[Group], text: str, *, cut_short: bool,
                seconds: float = PROBE_SECONDS, lines: list[str] | None = None) -> list[Miss]:
    """Run each group of tests on `text` (the start of the context; `cut_short`: there is more
    of it; `lines`: its lines, where they are at hand) and say which find nothing, and why,
    within `seconds` in all."""
    deadline = time.monotonic() + seconds
    lines = _whole_lines(text, cut_short) if lines is None else lines
    misses: list[Miss] = []
    for group in groups:
        try:
            miss = _probe(group, text, lines, deadline)
        except (TimeoutError, regex.error, RecursionError, MemoryError, OverflowError):
            continue
        if miss is not None:
            misses.append(miss)
        if time.monotonic() >= deadline:
            break
    return misses


def _whole_lines(text: str, cut_short: bool) -> list[str]:
    lines = text.splitlines()
    if cut_short and len(lines) > 1:
        lines.pop()  # cut in the middle
    return lines


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _literal_names(tree: ast.AST) -> dict[str, ast.Constant]:
    """Names bound once to a str literal (`pattern = r'...'`): a regex call may name its pattern."""
    bound: dict[str, ast.Constant | None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            value = node.value
            literal = value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
            bound[name] = literal if name not in bound else None
    return {k: v for k, v in bound.items() if v is not None}


def _flags(call: ast.Call) -> int:
    flags = 0
    for arg in [*call.args[1:], *(k.value for k in call.keywords)]:
        for node in ast.walk(arg):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in ("re", "regex") and node.attr in _FLAGS:
                flags |= _FLAGS[node.attr]
    return flags


def _subject(node: ast.expr) -> tuple[str | None, str | None]:
    """The name `node` is a line of (a name, or a name's `.lower()` and the like), or None; and the case method."""
    if isinstance(node, ast.Name):
        return node.id, None
    if isinstance(node, ast.Call) and not node.args and isinstance(node.func, ast.Attribute) \
            and node.func.attr in _CASE_METHODS and isinstance(node.func.value, ast.Name):
        return node.func.value.id, node.func.attr
    return None, None


def _test(node: ast.AST, names: dict[str, ast.Constant], code: _Source) -> Test | None:
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In) \
            and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str) and node.left.value:
        line, case = _subject(node.comparators[0])
        if line is not None:
            return Test("in", node.left.value[:MAX_PATTERN_CHARS], 0, "", code.of(node), case, exact=code.exact(node),
                        subject=line)
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute) or not node.args:
        return None
    first = node.args[0]
    constant = first if isinstance(first, ast.Constant) and isinstance(first.value, str) else (
        names.get(first.id) if isinstance(first, ast.Name) else None)
    if constant is None:
        return None
    literal = constant.value
    if not isinstance(literal, str) or not literal or len(literal) > MAX_PATTERN_CHARS:
        return None
    func = node.func
    if isinstance(func.value, ast.Name) and func.value.id in ("re", "regex") and func.attr in _REGEX_CALLS:
        flags = _flags(node)
        try:
            _compiled(literal, flags | regex.M)  # one the host cannot compile is not tried
        except (regex.error, RecursionError, OverflowError, MemoryError):
            return None
        line = _subject(node.args[1])[0] if len(node.args) > 1 else None
        return Test("regex", literal, flags, func.attr if func.attr in ("match", "fullmatch") else "", code.of(node),
                    written=code.exact(constant), exact=code.exact(node), subject=line)
    if func.attr in ("startswith", "endswith") and len(node.args) == 1:
        line, case = _subject(func.value)
        if line is not None:
            return Test(func.attr, literal, 0, "", code.of(node), case, exact=code.exact(node), subject=line)
    return None


_NEWLINE = regex.compile(r"(?<=\r\n|\r(?!\n)|\n)")


class _Source:
    """The code as the model wrote it, to quote a test in its own spelling (`r'\\d'`, not `'\\\\d'`)."""

    def __init__(self, code: str) -> None:
        self.code = code
        # split once, as the parser counts lines (ast.get_source_segment splits the code again on each
        # call: a call for each node of a long cell is quadratic); columns count UTF-8 bytes
        self.lines = [line.encode() for line in _NEWLINE.split(code)]

    def exact(self, node: ast.AST) -> str | None:
        """`node`'s text exactly as written, or None (ast.get_source_segment, without padding)."""
        try:
            first, last = node.lineno - 1, node.end_lineno - 1  # type: ignore[attr-defined]
            start, end = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
        except AttributeError:
            return None
        if first is None or last is None or start is None or end is None or not 0 <= first <= last < len(self.lines):
            return None
        if first == last:
            return self.lines[first][start:end].decode(errors="replace")
        return b"".join([self.lines[first][start:], *self.lines[first + 1:last],
                         self.lines[last][:end]]).decode(errors="replace")

    def of(self, node: ast.AST) -> str:
        try:
            text = self.exact(node) or ast.unparse(node)
        except (ValueError, RecursionError, AttributeError, IndexError):
            return "the test"
        text = " ".join(text.split())
        return text if len(text) <= 160 else text[:157] + "..."


def _passes(test: Test, line: str, deadline: float) -> bool:
    if test.case is not None:
        line = getattr(line, test.case)()
    if test.kind == "in":
        return test.text in line
    if test.kind == "startswith":
        return line.startswith(test.text)
    if test.kind == "endswith":
        return line.endswith(test.text)
    pattern = _compiled(test.text, test.flags)
    finder = {"match": pattern.match, "fullmatch": pattern.fullmatch}.get(test.anchor, pattern.search)
    return finder(line, timeout=_left(deadline)) is not None


def _count(tests: list[Test], lines: list[str], deadline: float) -> tuple[int, str | None]:
    """How many lines pass every test, and the first of them."""
    count, first = 0, None
    for n, line in enumerate(lines):
        if n % CHECK_EVERY == 0:
            _left(deadline)
        if all(_passes(t, line, deadline) for t in tests):
            count += 1
            first = first if first is not None else line
    return count, first


def _probe(group: Group, text: str, lines: list[str], deadline: float) -> Miss | None:
    tests = group.tests
    if len(tests) == 1 and tests[0].kind == "regex" and not tests[0].anchor:
        return _regex_miss(tests[0], text, deadline)
    counts = []
    for n in range(1, len(tests) + 1):
        count, first = _count(tests[:n], lines, deadline)
        counts.append((count, first))
        if count == 0:
            break
    if counts[-1][0]:
        return None
    if len(tests) == 1:
        test = tests[0]
        if test.kind == "regex":  # re.match: does it match at all, but not where a line starts?
            inside = _compiled(test.text, test.flags | regex.M).search(text, timeout=_left(deadline))
            if inside is not None:
                return Miss(test.source, f"matches no line as re.{test.anchor} reads it (from the line's start"
                                         f"{' to its end' if test.anchor == 'fullmatch' else ''}), but it does "
                                         "match inside one: "
                                         f"{_line_at(text, inside.start())!r}")
            return _regex_miss(test, text, deadline) or Miss(test.source, "matches no line")
        if test.kind == "in" and test.case is None and test.text in text:
            return None  # it spans lines: a test of the whole text
        return Miss(test.source, "no line passes it" + _nearest(test, lines, deadline))
    steps: list[str] = []
    for test, (count, first) in zip(tests, counts, strict=False):
        shown = f" (the first: {_cut(first)!r})" if count and count <= 3 and first is not None else ""
        steps.append(f"{'with ' if steps else ''}{test.source}: {count:,} line{'s' * (count != 1)}{shown}")
    alone = {t: _count([t], lines, deadline)[0] for t in tests}
    note = "no line passes them all. Adding one test at a time: " + "; ".join(steps) + "."
    if len(counts) > 1:
        note += " Alone, lines passing " + "; ".join(f"{t.source}: {alone[t]:,}" for t in tests[len(counts) - 1:]) + "."
    # tests that alone pass no line or one (a header's words: 'store' in row) left out, the rest may pass lines
    kept = [t for t in tests if alone[t] > 1]
    mended = None
    if group.written is not None and kept and len(kept) < len(tests):
        passing, first = _count(kept, lines, deadline)
        if passing:
            note += (f" Without the tests that pass at most one line alone, {passing:,} line{'s' * (passing != 1)} "
                     f"pass {' and '.join(t.source for t in kept)} (the first: {_cut(first or '')!r}).")
            if all(t.exact is not None for t in kept):  # the tests as written, not as shown
                mended = " and ".join(t.exact for t in kept if t.exact is not None)
    return Miss(" and ".join(t.source for t in tests), note, group.written, mended)


def _nearest(test: Test, lines: list[str], deadline: float) -> str:
    """A substring test that passes no line: does it pass with the case ignored?"""
    if test.kind == "in" and test.case is None:
        low = test.text.lower()
        for n, line in enumerate(lines):
            if n % CHECK_EVERY == 0:
                _left(deadline)
            if low in line.lower():
                return f" as written, but it does with the case ignored: {_cut(line)!r}"
    return ""


def _regex_miss(test: Test, text: str, deadline: float) -> Miss | None:
    """None when the pattern matches the text; else the longest start of it that does."""
    flags = test.flags | regex.M  # `^` and `$` as on each line: the code may search line by line
    if _compiled(test.text, flags).search(text, timeout=_left(deadline)) is not None:
        return None
    cuts = []
    for cut in range(len(test.text) - 1, 0, -1):
        _left(deadline)  # compiling is not timed by the engine: each try is checked against the time left
        if _compiles(test.text[:cut], flags) is not None:
            cuts.append(cut)
    low, high, best = 0, len(cuts) - 1, None  # cuts run longest first: find the first that matches
    while low <= high:
        mid = (low + high) // 2
        pattern = _compiles(test.text[:cuts[mid]], flags)
        found = pattern.search(text, timeout=_left(deadline)) if pattern is not None else None
        if found is not None and found.end() > found.start():
            best, high = (cuts[mid], found), mid - 1
        else:
            low = mid + 1
    if best is None:
        return Miss(test.source, "matches nothing, and no start of it does either")
    cut, found = best
    after = text[found.end():found.end() + 40].split("\n", 1)[0]
    note = (f"matches nothing. Its start r'{test.text[:cut]}' matches, and there the text goes on "
            f"{after!r}, not what the rest of the pattern, r'{test.text[cut:]}', asks for. A line where it "
            f"stands: {_line_at(text, found.start())!r}.")
    bridged = _bridged(test.text[:cut], test.text[cut:], flags, text, deadline)
    if bridged is not None:
        note += f" With the characters between allowed, r'{bridged[0]}' matches, e.g. {bridged[1]!r}."
    return Miss(test.source, note, test.written, f"r'{bridged[0]}'" if bridged is not None else None)


# what may stand between a pattern's start that matched and its rest: a few characters of punctuation
# or spaces (a closing quote before the status), or anything on the line
_BRIDGES = (r"\W*", r".*?")


def _bridged(start: str, rest: str, flags: int, text: str, deadline: float) -> tuple[str, str] | None:
    """The pattern `start` + a bridge + `rest` (its leading spaces left to the bridge), and its
    first match, when it matches `text`; else None."""
    for bridge in _BRIDGES:
        candidate = start + bridge + rest.lstrip(" ")
        try:
            found = _compiled(candidate, flags).search(text, timeout=_left(deadline))
        except (regex.error, RecursionError, OverflowError):
            continue
        except TimeoutError:  # the note stands without the suggestion
            return None
        if found is not None and found.end() > found.start():
            return candidate, _cut(found.group())[:LINE_CHARS]
    return None


def _compiles(pattern: str, flags: int) -> regex.Pattern[str] | None:
    """`pattern` compiled, with up to three `)` added to close the groups it opens."""
    for closing in ("", ")", "))", ")))"):
        try:
            return _compiled(pattern + closing, flags)
        except (regex.error, RecursionError, OverflowError):
            continue
    return None


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str, flags: int) -> regex.Pattern[str]:
    """`pattern` compiled, kept out of the engine's own cache (500 patterns, each held for good);
    regex.error for one whose fixed counts would write out more than MAX_UNROLLED items."""
    if _unrolled(pattern, flags) > MAX_UNROLLED:
        raise regex.error("a pattern too large to compile")
    try:
        return regex.compile(pattern, flags, cache_pattern=False)
    except ValueError as e:  # flags that clash, `(?au)`: the engine's ValueError, not its error
        raise regex.error(str(e)) from None


def _unrolled(pattern: str, flags: int) -> int:
    """How many items compiling `pattern` may write out (each fixed count, `{n}` or `{n,m}`'s n,
    times what it repeats), from the engine's own parse of it, which writes nothing out."""
    global_flags = flags
    for _ in range(4):  # as regex.compile does: a global flag set inside the pattern parses it again
        source = _regex_core.Source(pattern)
        info = _regex_core.Info(global_flags, source.char_type, {})
        source.ignore_space = bool(info.flags & regex.VERBOSE)
        try:
            parsed = _regex_core._parse_pattern(source, info)
        except _regex_core._UnscopedFlagSet:
            global_flags = info.global_flags
            continue
        except regex.error:
            raise
        except Exception as e:  # the engine's parser changed: try no pattern rather than one unchecked
            raise regex.error(f"a pattern that cannot be checked: {e}") from None
        return _items(parsed)
    raise regex.error("a pattern that cannot be checked")


def _items(node: object) -> int:
    parts = [part for value in vars(node).values()
             for part in (value if isinstance(value, (list, tuple)) else [value])
             if isinstance(part, _regex_core.RegexBase)]
    inner = sum(_items(part) for part in parts)
    if isinstance(node, _regex_core.GreedyRepeat):  # lazy and possessive ones too
        return 1 + max(node.min_count, 1) * inner
    return 1 + inner


def _line_at(text: str, at: int) -> str:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return _cut(text[start:end if end >= 0 else len(text)])


def _cut(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + "..."
