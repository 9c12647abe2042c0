"""The in-kernel runtime: namespace, cell execution, output caps, host calls, contexts, tools.

Runs inside the sandboxed kernel process. Model code executes here, compiled by the
policy layer (restricted mode) or as plain Python (trusted mode); its output is captured
into a capped buffer; reserved names are restored after every cell. Tools (the controller's
`llm_query`, `remember`...) are kernel-side modules installed by file path; their helpers
reach the host through `ToolHost.call`, over the Unix socket in the work directory.
"""

from __future__ import annotations

import bisect
import builtins
import codecs
import contextlib
import functools
import gc
import inspect
import itertools
import json
import linecache
import mmap
import os
import reprlib
import signal
import socket
import sys
import time
import traceback
import types
from collections.abc import Sequence
from typing import Any, NamedTuple

from sandbox.kernel import pristine, wire
from sandbox.kernel.caps import CappedText, cap_final, cap_text
from sandbox.kernel.corpus import Corpus, Segments, map_file
from sandbox.kernel.policy import PolicyError, compile_cell, guarded_import, restricted_globals
from sandbox.kernel.protected import ProtectedNameError
from sandbox.kernel.re_facade import model_import

# names the runtime itself reserves (tools add theirs when they are installed)
RESERVED_FUNCTIONS = ("SHOW_VARS", "FINAL_VAR", "FINAL")
# imported before the first cell, as `import x` would give them (models write `json.loads`
# and `re.findall` without the import, and the prompt's examples do too)
PRELOADED_MODULES = ("re", "json", "math", "collections", "csv", "itertools", "statistics", "datetime")


MAX_LISTED_VARIABLES = 1000  # described for the host each turn
MAX_SHOWN_VARIABLES = 10_000  # listed by SHOW_VARS()



DECODE_PIECE_BYTES = 64 << 20


# a changed list or dict context is loaded again from its JSON text, kept in memory up to this
# size; a larger one from its file, which the kernel keeps open (one descriptor each)
KEEP_TEXT_BYTES = 1 << 20


def _decode_utf8(buffer: Any, errors: str) -> str:
    """`buffer` (a mapping of the file) decoded as UTF-8, piece by piece, then joined. Decoding
    it whole sizes CPython's output for as many characters as there are bytes at the widest
    width met: 2 GB of CJK text took 4 GB on the way to a 1.3 GB str. Pieces take the str's own
    size, twice at most while they are joined. A UnicodeDecodeError's start is in the whole."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors)
    parts = []
    view = memoryview(buffer)
    try:
        for start in range(0, len(view), DECODE_PIECE_BYTES):
            piece = view[start:start + DECODE_PIECE_BYTES]
            final = start + DECODE_PIECE_BYTES >= len(view)
            try:
                parts.append(decoder.decode(piece, final))
            except UnicodeDecodeError as exc:
                pending = len(decoder.getstate()[0])
                raise UnicodeDecodeError("utf-8", bytes(piece[:1]), start + exc.start - pending,
                                         start + exc.end - pending, exc.reason) from None
            finally:
                piece.release()
    finally:
        view.release()
    text = "".join(parts)
    del parts
    return text

class HostError(RuntimeError):
    """The host could not serve a request (no host connected, or the host reported an error)."""


class Printer:
    """RestrictedPython's print collector, writing to the cell's (redirected) stdout."""

    def __init__(self, _getattr_: Any = None) -> None:
        pass

    def _call_print(self, *objects: Any, **kwargs: Any) -> None:
        if kwargs.get("file") is None:
            kwargs["file"] = sys.stdout
        builtins.print(*objects, **kwargs)

    def __call__(self) -> str:
        return ""


class Place(NamedTuple):
    """A page, slide, sheet or section of a document: its name ("p. 12") and where its text
    sits in `context` (it starts with the line "[p. 12]")."""

    label: str
    offset: int
    length: int


class Doc:
    """One document of a context: its path, where its text sits in `context`, its kind
    ("text", or the format its text was extracted from: "pdf", "docx", ...) and its places
    (pages, slides, sheets or sections, in order)."""

    __slots__ = ("_source", "kind", "length", "offset", "path", "places")
    path: str
    offset: int
    length: int
    kind: str
    places: tuple[Place, ...]
    _source: Any

    def __init__(self, path: str, offset: int, length: int, source: Any, kind: str = "text",
                 places: tuple[Place, ...] = ()) -> None:
        for name, value in (("path", path), ("offset", offset), ("length", length), ("_source", source),
                            ("kind", kind), ("places", tuple(Place(*p) for p in places))):
            object.__setattr__(self, name, value)

    # a document is loaded data, as `docs` is: a cell that renamed or moved one would leave later
    # cells reading its invention (the `docs` list itself is put back if changed, see pristine)
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a document of `docs` cannot be changed (not {name!r}); "
                             "keep what you need in your own variables")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a document of `docs` cannot be changed (not {name!r})")

    def __reduce__(self) -> tuple[Any, ...]:  # copy, deepcopy and pickle build it anew
        return Doc, (self.path, self.offset, self.length, self._source, self.kind, self.places)

    @property
    def text(self) -> str:
        return self._source[self.offset : self.offset + self.length]

    def page(self, n: int) -> str:
        """The text of page n (1 is the first; a slide, sheet or section for documents that
        have those instead), starting with its line "[p. n]"."""
        if not self.places:
            raise ValueError(f"{self.path} has no pages or parts (it is {self.kind}): use .text")
        if not isinstance(n, int) or not 1 <= n <= len(self.places):
            raise IndexError(f"{self.path} has {len(self.places)} pages or parts: give 1 to {len(self.places)}")
        place = self.places[n - 1]
        return self._source[place.offset : place.offset + place.length]

    def place_at(self, offset: int) -> str | None:
        """The name of the page or part ("p. 12") that holds `offset` (an offset of `context`),
        or None when the document has none there."""
        i = bisect.bisect_right([p.offset for p in self.places], offset) - 1
        if i < 0 or not self.offset <= offset < self.offset + max(self.length, 1):
            return None
        return self.places[i].label

    def keys(self) -> list[str]:
        return ["path", "offset", "length", "kind", "places", "text"]

    def __getitem__(self, key: str) -> Any:
        if key not in ("path", "offset", "length", "kind", "places", "text"):
            raise KeyError(key)
        return getattr(self, key)

    def __repr__(self) -> str:
        extra = f", kind={self.kind!r}, places={len(self.places)}" if self.kind != "text" or self.places else ""
        return f"Doc(path={self.path!r}, offset={self.offset}, length={self.length}{extra})"


def where_in(docs: Sequence[Doc], offset: int) -> str | None:
    """Which document (and page or part) holds `offset` of the context: "report.pdf p. 12"."""
    starts = [d.offset for d in docs]
    i = bisect.bisect_right(starts, offset) - 1
    if i < 0 or offset >= docs[i].offset + max(docs[i].length, 1):
        return None
    place = docs[i].place_at(offset)
    return f"{docs[i].path} {place}" if place else docs[i].path


def _unsendable(value: Any) -> Any:
    """json.dumps's `default` for requests to the host: what has no JSON form is refused, a
    Corpus with the way to send its text."""
    if isinstance(value, Corpus):
        raise TypeError("a Corpus cannot be sent to the host whole: send text, a slice context[a:b] "
                        "(a str) or a list of pieces, e.g. [text for _, text in context.chunks(1_000_000)]")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# what a model reaching for a builtin the restricted policy leaves out is told
_MISSING_BUILTINS = {
    "open": "there are no files to open in this sandbox: the data is in the variable `context` "
            "(and `docs` for a directory); read it with slices, splitlines() or re",
    "input": "there is no input in this sandbox: print what you need and read it in the next reply",
    "help": "use dir(x), or context.help_text() for a Corpus",
}


def _short_repr(value: Any, limit: int) -> str:
    if isinstance(value, (str, bytes)) and len(value) > limit:
        half = limit // 2
        return f"{value[:half]!r} ... [{len(value) - 2 * half:,} cut] ... {value[-half:]!r}"
    r = reprlib.Repr()
    r.maxstring = r.maxother = limit
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 200
    r.maxdict = 100
    r.maxlevel = 8
    r.maxlong = 10_000
    return r.repr(value)


# longest the kernel spends making one of model code's values into text for the host outside
# a cell (`str()` of an object whose __str__ never ends, or of a list of millions of items)
TEXT_SECONDS = 10.0


class TextError(ValueError):
    """A value model code left could not be made into text (its str() failed or took too long)."""


class _TimeUp(Exception):
    pass


def _time_up(signum: int, frame: Any) -> None:
    raise _TimeUp


# the most an internal operation that reads model values takes (below the host's waits, 30 s)
INTERNAL_SECONDS = 2 * TEXT_SECONDS
_MODEL_OPS = frozenset({"variables", "read_variable", "answer", "set_answer_reset", "preview"})


@contextlib.contextmanager
def _time_limit(seconds: float) -> Any:
    """Raise _TimeUp in the code it wraps after `seconds` (the host does not interrupt the
    kernel's own operations, so one that runs model code bounds it itself). Inside another
    time limit, the sooner end holds, and the outer one goes on after."""
    outer, _ = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()
    old = signal.signal(signal.SIGALRM, _time_up)
    signal.setitimer(signal.ITIMER_REAL, max(min(seconds, outer) if outer else seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


def as_text(value: Any, what: str, seconds: float = TEXT_SECONDS) -> str:
    """`value` as text for the host (str() of a non-string), cut at FINAL_MAX_CHARS. `str()`
    runs model code (a class's __str__, a str subclass's), so it runs under a timer; any
    failure, however it is spelled, becomes a TextError that names `what`."""
    if type(value) is str:
        return cap_final(value)
    try:
        with _time_limit(seconds):  # str.__str__: the exact str of a str subclass (or of what a __str__ returned)
            return cap_final(str.__str__(value if isinstance(value, str) else str(value)))
    except _TimeUp:
        raise TextError(f"{what} could not be made text: str() ran past {seconds:g} s") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # model code may raise anything; its message is its own text
        raise TextError(f"{what} could not be made text: {_exception_line(exc)}") from None


def _arg_repr() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdict = 20
    r.maxlevel = 3
    r.maxstring = r.maxother = 200
    return r


_ARG_REPR = _arg_repr()  # an exception's container argument, as its message shows it


class _Shown(str):
    """Text that stands for an exception's argument: printed as it is, by str() and repr()."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)


def _shorten(exc: BaseException, limit: int) -> None:
    """Shorten the arguments of an exception a cell raised where its message shows them (a
    long text, a container, in the builtin exceptions' str()), and drop the exceptions chained
    to it (not shown, but formatting one would make its message too)."""
    exc.__cause__ = exc.__context__ = None
    args = _ARGS.__get__(exc)  # the exception's own, not a class attribute `args` model code set
    if type(exc).__str__ not in (BaseException.__str__, KeyError.__str__):
        return
    shown = []
    for arg in args:
        if type(arg) is str and len(arg) > limit:
            arg = arg[:limit]
        elif isinstance(arg, (list, tuple, dict, set, frozenset)):  # shown as their repr anyway
            arg = _Shown(_ARG_REPR.repr(arg)[:limit])
        shown.append(arg)
    _ARGS.__set__(exc, tuple(shown))


_ARGS = BaseException.__dict__["args"]


def _is_set(flag: Any) -> bool:
    """Whether answer["ready"] is set: its truth for the builtin types, any other object set
    (its own __bool__ is model code, not run outside a cell)."""
    if type(flag) in (bool, int, float, str, bytes, list, tuple, dict, set, type(None)):
        return bool(flag)
    return True


def _exception_line(exc: BaseException) -> str:
    """`Type: message` of an exception model code raised, the message only where it is
    plain text already (a str() of it could run model code again)."""
    name = type.__dict__["__name__"].__get__(type(exc))
    args = _ARGS.__get__(exc)
    if type(exc).__str__ is BaseException.__str__ and len(args) == 1 and type(args[0]) is str:
        return f"{name}: {args[0][:500]}"
    return name


def _is_empty(value: Any) -> bool:
    try:
        return len(value) == 0
    except TypeError:
        return False


_JSON_SCALARS = (bool, int, float, type(None))
_JSON_DEPTH = 50  # nesting written out in a preview; deeper containers show as [...] / {...}


def _json_head(value: Any, chars: int) -> str:
    """`value` as JSON, cut to `chars`: written piece by piece until `chars` characters are
    there (a long string is cut before it is written out). Only JSON's own types are written
    (and tuples, as lists); anything else a cell put in a context shows as "<TypeName>": no
    method of a model's object runs here, and no container is walked further than needed."""
    pieces: list[str] = []
    used = 0
    for piece in _json_pieces(value, chars, 0):
        pieces.append(piece)
        used += len(piece)
        if used >= chars:
            break
    return "".join(pieces)[:chars]


def _json_pieces(value: Any, chars: int, depth: int) -> Any:
    kind = type(value)
    if kind is str:
        yield json.dumps(value[:chars], ensure_ascii=False)
    elif kind in _JSON_SCALARS:
        try:
            yield json.dumps(value)
        except ValueError:  # an int past Python's digit limit
            yield f'"<{kind.__name__}>"'
    elif kind is list or kind is tuple:
        if depth >= _JSON_DEPTH:
            yield "[...]"
            return
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ", "
            yield from _json_pieces(item, chars, depth + 1)
        yield "]"
    elif kind is dict:
        if depth >= _JSON_DEPTH:
            yield "{...}"
            return
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            if i:
                yield ", "
            yield _json_key(key, chars)
            yield ": "
            yield from _json_pieces(item, chars, depth + 1)
        yield "}"
    else:
        yield json.dumps(f"<{kind.__name__}>")


def _json_key(key: Any, chars: int) -> str:
    """A dict key as JSON writes one (a str; a number, bool or None as its text)."""
    if type(key) is str:
        return json.dumps(key[:chars], ensure_ascii=False)
    if type(key) in _JSON_SCALARS:
        try:
            return json.dumps(str(json.dumps(key)))
        except ValueError:
            pass
    return json.dumps(f"<{type(key).__name__}>")


def _items_head(items: Any, chars: int) -> str:
    """Lines of `items` (texts) until about `chars` characters are written."""
    lines: list[str] = []
    used = 0
    for item in items:
        if used >= chars:
            break
        lines.append(item[:chars - used])
        used += len(lines[-1]) + 1
    return "\n".join(lines)


def _describe(value: Any, seconds: float = TEXT_SECONDS) -> tuple[str, int]:
    """(type name, size) of a variable: len() where there is one, else its size in bytes. A
    class's own __len__ is model code: it gets at most `seconds`, and where it fails the size
    is in bytes (as `object` counts them where __sizeof__ is the class's own)."""
    kind = type(value)
    name = type.__dict__["__name__"].__get__(kind)  # not a metaclass's __name__
    length = _slot(kind, "__len__")
    if length == "native":
        return name, len(value)
    if length == "own":
        try:
            with _time_limit(seconds):
                return name, len(value)
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - whatever model code raised, the listing goes on
            pass
    return name, sys.getsizeof(value) if _slot(kind, "__sizeof__") == "native" else object.__sizeof__(value)


def _slot(kind: type, name: str) -> str:
    """Whether `kind`'s method `name` is "native" (a builtin type's: calling it runs no model
    code), its "own" (Python code), or "none"."""
    found = inspect.getattr_static(kind, name, None)
    if found is None:
        return "none"
    return "native" if isinstance(found, (types.WrapperDescriptorType, types.MethodDescriptorType)) else "own"


@contextlib.contextmanager
def _interruptible() -> Any:
    """Let SIGINT raise KeyboardInterrupt only while model code runs. Everywhere else in the
    kernel it stays ignored (the kernel overrides ipykernel's handler hooks): an interrupt that
    lands while a request is being read or its reply sent would otherwise lose the reply. The
    host re-sends the interrupt until the cell's reply arrives, so none is lost."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

class ToolHost:
    """What a tool's kernel-side module gets from the runtime: the `kernel` argument of its
    `install(kernel, data)`. `call` sends a request to the host handler registered for `op`
    (raising `HostError` with the host's message when it fails); `contexts()` are the loaded
    text contexts; `work_dir` is the sandbox's writable directory."""

    HostError = HostError

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.work_dir = runtime.work_dir

    def call(self, op: str, args: dict[str, Any], *, fds: list[int] | None = None) -> Any:
        return self._runtime.host_call(op, args, send_fds=fds)[0]

    def contexts(self) -> list[Any]:
        return self._runtime.text_contexts()


class Runtime:
    """State of one kernel: the model's namespace and everything around a cell run."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.work_dir: str = options["work_dir"]
        self.bridge_path: str = options["bridge_path"]
        self.restricted: bool = options["policy"] == "restricted"
        self.output_limit: int = options["output_limit"]
        self.keep_limit: int = options.get("keep_limit", 1_000_000)
        self.max_source: int = options.get("max_source_chars", 1_000_000)
        self.memory_limit: int = options.get("memory_limit", 0)
        self.cell = 0
        self.ns: dict[str, Any] = {}
        self.reserved: dict[str, Any] = {}
        self.out: dict[int, str] = {}
        self.answer: dict[str, Any] = {"content": None, "ready": False}
        self.context_names: set[str] = set()
        self.rebindable: set[str] = set()
        self.pristine = pristine.Pristine()  # loaded lists and dicts, put back if changed in place
        self.tools: dict[str, list[str]] = {}  # tool name -> the names it added
        self._hook_names: set[str] = set()
        self._build_namespace()

    # ----- namespace -------------------------------------------------------------
    def _build_namespace(self) -> None:
        if self.restricted:
            # classes made by model code live in module "__rlm__"; dataclasses looks it up
            sys.modules.setdefault("__rlm__", types.ModuleType("__rlm__"))
            hooks = restricted_globals(Printer)
            hooks["_print"] = Printer()
            self.ns.update(hooks)
        else:
            # model code's `import re` gets the re whose functions also take a Corpus
            own_builtins = dict(builtins.__dict__, __import__=model_import)
            self.ns.update({"__builtins__": own_builtins, "__name__": "__main__"})
        importer = guarded_import if self.restricted else model_import
        self.ns.update({name: importer(name) for name in PRELOADED_MODULES})
        self._hook_names = set(self.ns)
        self.reserved.update({"SHOW_VARS": self.show_vars, "FINAL_VAR": self.final_var, "FINAL": self.final,
                              "answer": self.answer, "Out": self.out})
        self.ns.update(self.reserved)

    def _restore_reserved(self) -> list[str]:
        restored = []
        current_answer = self.ns.get("answer")
        if current_answer is not self.answer:
            # a plain dict only: the kernel reads it (a subclass's own get() could raise, loop or
            # say that an answer is ready)
            if type(current_answer) is dict:
                self.answer = current_answer
                self.reserved["answer"] = current_answer
            else:
                restored.append("answer")
        for name, value in self.reserved.items():
            if self.ns.get(name, _MISSING) is not value:
                self.ns[name] = value
                if name not in restored:
                    restored.append(name)
        return restored

    def _restore_changed(self) -> tuple[list[str], dict[str, str]]:
        """The loaded lists and dicts a cell changed in place, put back as loaded, and those that
        could not be loaded again (name -> why)."""
        try:
            fresh, failed = self.pristine.changed(self.reserved)
        except Exception as exc:  # noqa: BLE001 - a context that cannot be read again stays as it is
            print(f"rlm kernel: a changed context could not be loaded again: {exc}", file=sys.__stderr__)
            return [], {}
        for name, value in fresh.items():
            self.reserved[name] = self.ns[name] = value
        return list(fresh), failed

    # ----- host calls ------------------------------------------------------------
    def host_call(self, op: str, args: dict[str, Any], max_fds: int = 0,
                  send_fds: list[int] | None = None) -> tuple[Any, list[int]]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(self.bridge_path)
            except OSError as exc:
                raise HostError(f"the host bridge is not reachable: {exc}") from None
            try:  # the host takes requests up to its limit; say so here rather than be cut off
                wire.send_frame(sock, {"op": op, "args": args, "cell": self.cell}, send_fds,
                                max_bytes=wire.MAX_REQUEST_BYTES, default=_unsendable)
            except wire.WireError as exc:
                raise HostError(f"the request is too large for the host: {exc}; send less at once") from None
            reply, fds = wire.recv_frame(sock, max_fds)
        if not reply.get("ok"):
            for fd in fds:
                os.close(fd)
            raise HostError(reply.get("error", "the host reported an error"))
        return reply.get("result"), fds

    # ----- user helpers ----------------------------------------------------------
    def user_variables(self, limit: int = MAX_LISTED_VARIABLES) -> dict[str, Any]:
        """The first `limit` user variables described, and how many there are in all (a cell
        can define millions; the host lists them every turn)."""
        result: list[dict[str, Any]] = []
        total = 0
        deadline = time.monotonic() + TEXT_SECONDS  # for all the model's __len__ methods together
        for name, value in list(self.ns.items()):
            if type(name) is not str or name.startswith("_") or name in self._hook_names \
                    or name in RESERVED_FUNCTIONS or name == "Out":
                continue
            if self._is_tool_name(name) and (callable(value) or _is_empty(value)):
                continue
            total += 1
            if len(result) < limit:
                kind, size = _describe(value, deadline - time.monotonic())
                result.append({"name": name[:200], "type": kind[:200], "size": size})
        return {"variables": result, "total": total}

    def show_vars(self) -> str:
        """Print and return the variables defined in the kernel, with their types and sizes."""
        listing = self.user_variables(MAX_SHOWN_VARIABLES)
        rows = [f"{v['name']}: {v['type']} (size {v['size']:,})" for v in listing["variables"]]
        if listing["total"] > len(rows):
            rows.append(f"... and {listing['total'] - len(rows):,} more")
        text = "\n".join(rows) if rows else "(no variables)"
        print(text)
        return text

    def final_var(self, value: Any) -> Any:
        """Mark a variable (by value, or by its name as a string) as the final answer."""
        if isinstance(value, str) and value.isidentifier() and value in self.ns:
            value = self.ns[value]
        if value is self.answer:  # the protocol's own dict: its content is the answer
            value = self.answer.get("content")
            if value is None:
                raise ValueError("FINAL_VAR(answer): `answer` holds no content yet; set "
                                 "answer['content'] = ... first, or pass the variable that holds the answer")
        self.answer["content"] = value if isinstance(value, str) else str(value)
        self.answer["ready"] = True
        return value

    def final(self, value: Any) -> Any:
        """Give `value` (converted to text) as the final answer."""
        if value is self.answer:  # FINAL(answer): the protocol's own dict, as FINAL_VAR takes it
            return self.final_var(value)
        self.answer["content"] = value if isinstance(value, str) else str(value)
        self.answer["ready"] = True
        return value

    # ----- cells -----------------------------------------------------------------
    def run_cell(self, code: str) -> dict[str, Any]:
        self.cell += 1
        started = time.perf_counter()
        sink = CappedText(self.keep_limit)
        error = None
        if len(code) > self.max_source:
            error = (
                f"SourceTooLarge: the cell has {len(code):,} characters; the limit is "
                f"{self.max_source:,}. Load data through the context, not in code."
            )
        else:
            error = self._execute(code, sink)
        if error is not None:  # an exception's message can be as long as model code makes it
            error = cap_text(error, self.output_limit)[0]
        restored = self._restore_reserved()
        changed, unrestored = self._restore_changed()
        full = sink.getvalue()
        self.out[self.cell] = full
        stdout, truncated = cap_text(full, self.output_limit)
        truncated = truncated or sink.truncated
        if restored:
            stdout += f"\n[reserved names restored: {', '.join(restored)}]\n"
        if changed:
            first = changed[0]
            copy = f"list({first})" if first not in self.context_names else f"json.loads(json.dumps({first}))"
            stdout += (f"\n[{', '.join(changed)} changed in place by this cell (sort, pop, item assignment...): "
                       f"put back as loaded. Work on a copy: data = {copy}]\n")
            restored += [n for n in changed if n not in restored]
        for name, why in unrestored.items():
            stdout += (f"\n[{name} changed in place by this cell could not be put back ({why}): it stays as "
                       "this cell left it, not as loaded]\n")
        final, problem = self._final_answer()
        if problem is not None:
            error = problem if error is None else f"{error}\n{problem}"
        return {
            "cell": self.cell,
            "stdout": stdout,
            "error": error,
            "truncated": truncated,
            "restored": restored,
            "final": final,
            "output_chars": sink.total,
            "kernel_s": time.perf_counter() - started,
        }

    def _final_answer(self) -> tuple[str | None, str | None]:
        """(The answer's text if it is ready, why it could not be taken). Reading the dict and
        making its content text runs model code (a key's __eq__, a class's __str__): it can be
        interrupted, as a cell can, and is bounded in time anyway."""
        try:
            with _interruptible():
                if not _is_set(self.answer.get("ready")):
                    return None, None
                return as_text(self.answer.get("content"), "answer['content']"), None
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            problem = "KeyboardInterrupt: the cell was interrupted while its answer was made text"
        except TextError as exc:
            problem = f"AnswerError: {exc}; the answer was not taken"
        except BaseException as exc:  # noqa: BLE001 - e.g. a key's own __eq__ raised
            problem = f"AnswerError: `answer` could not be read: {_exception_line(exc)}; the answer was not taken"
        self.answer = self.reserved["answer"] = self.ns["answer"] = {"content": None, "ready": False}
        return None, cap_text(problem, self.output_limit)[0]

    def _execute(self, code: str, sink: CappedText) -> str | None:
        filename = f"<cell {self.cell}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), _interruptible():
                protected = [n for n in self.reserved if self._protected(n)]
                body, tail = compile_cell(code, filename, self.restricted, protected)
                exec(body, self.ns)
                if tail is not None:
                    value = eval(tail, self.ns)
                    if value is not None:
                        sink.write(_short_repr(value, self.output_limit) + "\n")
        except PolicyError as exc:
            return f"PolicyError: {exc}"
        except ProtectedNameError as exc:
            return str(exc)
        except SyntaxError as exc:
            return "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        except MemoryError:
            gc.collect()
            limit = f" ({self.memory_limit / 2**30:.1f} GiB)" if self.memory_limit else ""
            return f"MemoryError: the sandbox's memory limit{limit} was reached"
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # if it struck while the handler was being reset
            return "KeyboardInterrupt: the cell was interrupted"
        except RecursionError:
            return "RecursionError: maximum recursion depth exceeded"
        except BaseException as exc:  # model code may raise anything, SystemExit included
            return self._error_text(exc, filename)
        return None

    def _error_text(self, exc: BaseException, filename: str) -> str:
        """The traceback of what a cell raised. Its message is model data (`assert ok, rows`
        makes str() of all the rows): the exception's own arguments are shortened first, and
        the formatting is interruptible and timed, as model code is."""
        _shorten(exc, self.output_limit)
        try:
            with _interruptible(), _time_limit(TEXT_SECONDS):
                return self._format_error(exc, filename)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            why = "the cell was interrupted"
        except _TimeUp:
            why = f"str() ran past {TEXT_SECONDS:g} s"
        except BaseException as err:  # noqa: BLE001 - a message that fails to format is still an error
            why = _exception_line(err)
        return f"{type.__dict__['__name__'].__get__(type(exc))} (its message could not be shown: {why})"

    @staticmethod
    def _format_error(exc: BaseException, filename: str) -> str:
        tb_exc = traceback.TracebackException.from_exception(exc)
        frames = [f for f in tb_exc.stack if f.filename.startswith("<cell")]
        lines = ["Traceback (most recent call last):\n"]
        lines += traceback.StackSummary.from_list(frames).format()
        lines += list(tb_exc.format_exception_only())
        # exc.name is whatever model code raised with: only a plain str is looked up (an
        # unhashable one or a str subclass with its own __eq__ must not break error reporting)
        if type(exc) is NameError and type(exc.name) is str and exc.name in _MISSING_BUILTINS:
            lines.append(f"({exc.name}: {_MISSING_BUILTINS[exc.name]})")
        return "".join(lines).rstrip()

    # ----- internal operations from the host --------------------------------------
    def internal(self, op: str, args: dict[str, Any]) -> Any:
        if op in _MODEL_OPS:  # they read what model code left, which can run model code
            try:
                with _time_limit(INTERNAL_SECONDS):
                    return self._internal(op, args)
            except _TimeUp:
                raise TimeoutError(f"internal operation {op!r} ran past {INTERNAL_SECONDS:g} s") from None
        return self._internal(op, args)

    def _internal(self, op: str, args: dict[str, Any]) -> Any:
        if op == "ping":
            return {"pid": os.getpid(), "uid": os.getuid()}
        if op == "variables":
            return self.user_variables()
        if op == "load_context":
            return self.load_context(args)
        if op == "install_tools":
            return self.install_tools(args)
        if op == "set_answer_reset":  # a fresh dict: the model's may hold keys whose __eq__ is its code
            self.answer = self.reserved["answer"] = self.ns["answer"] = {"content": None, "ready": False}
            return True
        if op == "read_variable":
            name = args["name"]
            if name.startswith("_") or name not in self.ns or name in self._hook_names:
                raise KeyError(name)
            value = self.ns[name]
            if value is self.answer:  # FINAL_VAR(answer) names the protocol's dict: its content
                value = self.answer.get("content")
                if value is None:
                    return None
            return as_text(value, f"variable {name!r}")
        if op == "preview":
            return self.preview(str(args.get("name")), int(args.get("chars", 0)))
        if op == "answer":  # a draft: one that cannot be made text is none
            content = self.answer.get("content")
            try:
                return None if content is None else as_text(content, "answer['content']")
            except TextError:
                return None
        raise ValueError(f"unknown internal op {op!r}")

    def _protected(self, name: str) -> bool:
        """A reserved name a cell may not assign: all but `answer` (it may become another dict)
        and the names a tool lets cells use as their own (`document`: restored after the cell)."""
        return name != "answer" and name not in self.rebindable

    def preview(self, name: str, chars: int) -> str | None:
        """The first `chars` characters of loaded context `name` as the model would print them
        (a list or dict: its first items as JSON), or None if there is no such context. Reads the
        loaded value, never a variable model code bound."""
        value = self.reserved.get(name) if name in self.context_names else None
        chars = max(0, min(chars, 20_000))
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            return repr(bytes(value[:chars]))[:chars]
        if isinstance(value, (list, tuple)):
            return _items_head((_json_head(v, chars) for v in value[:50]), chars)
        if isinstance(value, dict):
            return _items_head((f"{_json_key(k, 200)}: {_json_head(v, chars)}"
                                for k, v in itertools.islice(value.items(), 50)), chars)
        return str(value[:chars])

    def load_context(self, args: dict[str, Any]) -> dict[str, Any]:
        # free a context being replaced first, so that peak memory is one context, not two
        for old in (args["name"], args.get("docs_name", "docs"), "place_of"):
            self.pristine.forget(old)
            if old in self.reserved:
                self.reserved.pop(old)
                self.ns.pop(old, None)
        gc.collect()
        value, docs = self._fetch(args, watch=True)
        name = args["name"]
        self.ns[name] = value
        self.reserved[name] = value
        self.context_names.add(name)
        info: dict[str, Any] = {"name": name, "type": type(value).__name__}
        if docs is not None:
            docs_name = args.get("docs_name", "docs")
            self.ns[docs_name] = docs
            self.reserved[docs_name] = docs
            loaded = [d.__reduce__()[1] for d in docs]
            self.pristine.watch(docs_name, docs, lambda: [Doc(*fields) for fields in loaded])
            info["docs"] = len(docs)
            frozen = tuple(docs)

            def place_of(offset: int) -> str | None:
                """Which document, and which page or part of it, holds `offset` of the
                context: "report.pdf p. 12" (None outside every document)."""
                return where_in(frozen, offset)

            self.ns["place_of"] = self.reserved["place_of"] = place_of
        info["size"] = _describe(value)[1]
        gc.collect()
        return info

    def _fetch(self, args: dict[str, Any], watch: bool = False) -> tuple[Any, Any]:
        """The value (and documents) of the context file the host holds under `args["token"]`;
        with `watch`, a list or dict value is watched for changes in place (see `pristine`),
        and the kernel keeps its text (up to KEEP_TEXT_BYTES) or its file open to load it again."""
        reply, fds = self.host_call("context_fds", {"token": args["token"]}, max_fds=2)
        try:
            maps = self._map_files(args["token"], int(reply.get("mapped", 0)))
            value, docs = self._read_context(args, fds, maps)
            if watch and not maps and pristine.watched(value):
                size = os.fstat(fds[0]).st_size
                # its text, not its file: a descriptor kept for each of some 200 small contexts
                # reached the open-files limit, and no load or host call worked after
                if size <= KEEP_TEXT_BYTES and len(text := os.pread(fds[0], size, 0)) == size:
                    self.pristine.watch(args["name"], value,
                                        lambda: json.loads(_decode_utf8(text, args.get("errors", "strict"))))
                else:
                    kept = [os.dup(fd) for fd in fds]
                    self.pristine.watch(args["name"], value, lambda: self._read_context(args, kept)[0],
                                        functools.partial(_close_all, kept))
            return value, docs
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _map_files(self, token: str, count: int) -> list[Any]:
        """Maps of the files a large directory's context reads where they are, fetched a part
        at a time (each descriptor is closed once mapped: the map keeps the file)."""
        maps: list[Any] = []
        part = 1
        while len(maps) < count:
            _, fds = self.host_call("context_fds", {"token": token, "part": part}, max_fds=64)
            try:
                if not fds:
                    raise ValueError("the host sent fewer files than the context lists")
                maps.extend(map_file(fd) if os.fstat(fd).st_size else b"" for fd in fds)
            finally:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            part += 1
        return maps

    # ----- tools -------------------------------------------------------------------
    def install_tools(self, args: dict[str, Any]) -> dict[str, Any]:
        """Run a tool's kernel-side module (its source comes with the request) and add the names its
        `install(kernel, data)` returns (replacing those of an earlier install of the tool)."""
        tool = args["name"]
        data = self._fetch(args)[0] if args.get("token") else None
        module = types.ModuleType(f"rlm_tool_{tool}")
        module.__file__ = args["module"]
        exec(compile(args["source"], args["module"], "exec"), module.__dict__)
        names = module.install(ToolHost(self), data)
        # names the tool's module lets cells assign (restored after the cell, not refused)
        self.rebindable |= {n for n in getattr(module, "REBINDABLE_NAMES", ()) if isinstance(n, str)}
        for old in self.tools.pop(tool, []):
            self.reserved.pop(old, None)
            self.ns.pop(old, None)
        for name, value in names.items():
            if name in self.reserved and not self._is_tool_name(name):
                raise ValueError(f"tool {tool!r} may not replace the reserved name {name!r}")
            self.reserved[name] = value
            self.ns[name] = value
        self.tools[tool] = list(names)
        return {"name": tool, "names": list(names)}

    def _is_tool_name(self, name: str) -> bool:
        return any(name in names for names in self.tools.values())

    def text_contexts(self) -> list[Any]:
        """The loaded text contexts: str values, or the Corpus of a large one."""
        return [v for n in self.context_names if isinstance(v := self.ns.get(n), (str, Corpus))]

    def _read_context(self, args: dict[str, Any], fds: list[int], maps: list[Any] | None = None) -> tuple[Any, Any]:
        mode = args["mode"]
        fd = fds[0]
        size = os.fstat(fd).st_size
        index = self._read_index(fds)
        # a directory above max_str_bytes comes as a pack plus files mapped in place (maybe
        # none: every file small), its index then a dict of documents and segments
        if maps or isinstance(index, dict):
            return self._read_mapped(args, fds[0], maps or [], index)
        if mode == "corpus":
            value: Any = Corpus(fd, args.get("label", ""))
        else:
            mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if size else None
            try:
                if mode == "bytes":
                    value = mm[:] if mm is not None else b""
                else:
                    try:
                        text = _decode_utf8(mm, args.get("errors", "strict")) if mm else ""
                    except UnicodeDecodeError as exc:
                        raise ValueError(
                            f"{args.get('label') or 'the context'} is not valid UTF-8 "
                            f"(byte {exc.start}: {exc.reason})"
                        ) from None
                    value = json.loads(text) if mode == "json" else text
                    del text
                docs = self._read_docs(index, value, mm)
            finally:
                if mm is not None:
                    mm.close()
            return value, docs
        return value, self._read_docs(index, value, None)

    @staticmethod
    def _read_index(fds: list[int]) -> Any:
        """The context's document index (its second descriptor), or None."""
        if len(fds) < 2:
            return None
        with os.fdopen(os.dup(fds[1]), "r", encoding="utf-8") as f:
            return json.load(f)

    def _read_mapped(self, args: dict[str, Any], pack_fd: int, maps: list[Any], index: Any) -> tuple[Any, Any]:
        """A Corpus over a pack file and files mapped in place, as the index's segments say."""
        if not isinstance(index, dict):
            raise ValueError("the host sent files to map without their index")
        pack = map_file(pack_fd) if os.fstat(pack_fd).st_size else b""
        sources = [pack, *maps]
        parts = []
        for source, offset, length in index["segments"]:
            buffer = sources[source]
            if offset + length > len(buffer):
                raise ValueError(f"{args.get('label') or 'a file of the context'} changed since it was listed "
                                 "(it is shorter now); load the context again")
            parts.append((buffer, offset, length))
        value = Corpus(Segments(parts), args.get("label", ""))
        return value, [_doc(d, d["offset"], d["length"], value) for d in index["docs"]]

    @staticmethod
    def _read_docs(index: Any, value: Any, mm: Any) -> Any:
        if index is None:
            return None
        docs = []
        ascii_text = isinstance(value, str) and value.isascii()
        char_pos = prev_end = 0
        for entry in index:
            offset, length = entry["offset"], entry["length"]
            places = None
            if isinstance(value, str) and not ascii_text:
                # byte offsets -> character offsets, walking the file in order
                char_pos += len(mm[prev_end:offset].decode("utf-8", "replace"))
                prev_end = offset + length
                body = mm[offset:prev_end]
                places, last_b, last_c = [], 0, 0
                for at, label in entry.get("places") or []:  # each place's start, in characters
                    last_c += len(body[last_b:at].decode("utf-8", "replace"))
                    last_b = at
                    places.append([last_c, label])
                body_chars = len(body.decode("utf-8", "replace"))
                offset, length = char_pos, body_chars
                char_pos += body_chars
            docs.append(_doc(entry, offset, length, value, places))
        return docs


def _doc(entry: dict[str, Any], offset: int, length: int, value: Any, places: Any = None) -> Doc:
    """A Doc from an index entry, at `offset` (its places, relative to its start, in the same
    unit as `offset`: `places`, or the entry's own)."""
    relative = (entry.get("places") if places is None else places) or []
    spans = []
    for i, (at, label) in enumerate(relative):
        end = relative[i + 1][0] if i + 1 < len(relative) else length
        spans.append(Place(str(label), offset + at, max(end - at, 0)))
    return Doc(entry["path"], offset, length, value, str(entry.get("kind") or "text"), tuple(spans))


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


_MISSING = object()
