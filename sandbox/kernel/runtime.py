"""The in-kernel runtime: namespace, cell execution, output caps, host calls, contexts, tools.

Runs inside the sandboxed kernel process. Model code executes here, compiled by the
policy layer (restricted mode) or as plain Python (trusted mode); its output is captured
into a capped buffer; reserved names are restored after every cell. Tools (the controller's
`llm_query`, `remember`...) are kernel-side modules installed by file path; their helpers
reach the host through `ToolHost.call`, over the Unix socket in the work directory.

`Runtime` here holds a kernel's state, its requests to the host and what model code calls
(SHOW_VARS, FINAL_VAR, FINAL, place_of); its parts live in `cell_execution` (a cell's code
run, its errors and answer), `context_loading` (a context's files read into its value),
`variables` (the variables listed and previewed for the host), `context_docs` (a context's
documents), `value_text` and `signal_guards` (model values made text, within bounds).
"""

from __future__ import annotations

import bisect
import builtins
import gc
import os
import socket
import sys
import time
import types
from typing import Any

from sandbox.kernel import pristine, wire
from sandbox.kernel.attach import Attached, attach
from sandbox.kernel.caps import CappedText, cap_text
from sandbox.kernel.cell_execution import CellExecution
from sandbox.kernel.context_docs import Doc, Place, where_in
from sandbox.kernel.context_loading import DECODE_PIECE_BYTES, KEEP_TEXT_BYTES, ContextLoading
from sandbox.kernel.corpus import Corpus
from sandbox.kernel.policy import guarded_import, restricted_globals
from sandbox.kernel.re_facade import model_import
from sandbox.kernel.signal_guards import _TimeUp, time_limit
from sandbox.kernel.value_text import TEXT_SECONDS, TextError, as_text
from sandbox.kernel.variables import (
    MAX_LISTED_VARIABLES,
    MAX_SHOWN_VARIABLES,
    RESERVED_FUNCTIONS,
    VariableListing,
    describe_value,
)

# the runtime's public names (some of them defined in the modules above)
__all__ = [
    "DECODE_PIECE_BYTES", "Doc", "HostError", "INTERNAL_SECONDS", "KEEP_TEXT_BYTES", "MAX_LISTED_VARIABLES",
    "MAX_SHOWN_VARIABLES", "PRELOADED_MODULES", "Place", "Printer", "RESERVED_FUNCTIONS", "Runtime", "TEXT_SECONDS",
    "TextError", "ToolHost", "as_text", "where_in",
]


# imported before the first cell, as `import x` would give them (models write `json.loads`
# and `re.findall` without the import, and the prompt's examples do too)
PRELOADED_MODULES = ("re", "json", "math", "collections", "csv", "itertools", "statistics", "datetime")


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


def _unsendable(value: Any) -> Any:
    """json.dumps's `default` for requests to the host: what has no JSON form is refused, a
    Corpus with the way to send its text."""
    if isinstance(value, Corpus):
        raise TypeError("a Corpus cannot be sent to the host whole: send text, a slice context[a:b] "
                        "(a str) or a list of pieces, e.g. [text for _, text in context.chunks(1_000_000)]")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# the most an internal operation that reads model values takes (below the host's waits, 30 s)
INTERNAL_SECONDS = 2 * TEXT_SECONDS
_MODEL_OPS = frozenset({"variables", "read_variable", "answer", "answer_items", "set_answer_reset", "preview"})
ANSWER_ITEMS = 200  # items of a list in `answer` the host reads (`answer_items`)
ANSWER_ITEM_CHARS = 10_000


class ToolHost:
    """What a tool's kernel-side module gets from the runtime: the `kernel` argument of its
    `install(kernel, data)`. `call` sends a request to the host handler registered for `op`
    (raising `HostError` with the host's message when it fails), with the files `attach` made
    for it (the host sees them as `HostRequest.attachments`); `contexts()` are the loaded text
    contexts; `work_dir` is the sandbox's writable directory."""

    HostError = HostError

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.work_dir = runtime.work_dir

    def attach(self, data: str | bytes) -> Attached:
        """A file holding `data`, to send with a `call` (close it after the call returns)."""
        return attach(self.work_dir, data)

    def call(self, op: str, args: dict[str, Any], *, attachments: list[Attached] | None = None) -> Any:
        fds = [a.fd for a in attachments] if attachments else None
        return self._runtime.host_call(op, args, send_fds=fds)[0]

    def contexts(self) -> list[Any]:
        return self._runtime.text_contexts()

    def context_name(self, value: Any) -> str | None:
        """The name of the loaded text context that `value` is (the same object), or None."""
        return self._runtime.context_name(value)

    def byte_span(self, name: str, start: int, end: int) -> tuple[int, int]:
        """Where offsets [start, end) of text context `name` (characters of a str, bytes of a
        Corpus) are in its text as UTF-8: byte offsets, what the host reads to check them."""
        return self._runtime.byte_span(name, start, end)


class Runtime(CellExecution, ContextLoading, VariableListing):
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
        self.byte_anchors: dict[str, list[tuple[int, int]]] = {}
        self._ascii: dict[str, bool] = {}  # a str context's name -> whether it is all ASCII
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

    # ----- internal operations from the host --------------------------------------
    def internal(self, op: str, args: dict[str, Any]) -> Any:
        if op in _MODEL_OPS:  # they read what model code left, which can run model code
            try:
                with time_limit(INTERNAL_SECONDS):
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
        if op == "answer_items":  # a list the model put beside the answer (answer["evidence"]): its items as text
            items = self.answer.get(str(args.get("key")))
            if not isinstance(items, (list, tuple)) or type(items) not in (list, tuple):
                return None
            out = []
            for item in items[:ANSWER_ITEMS]:
                try:
                    out.append(as_text(item, "an item of answer")[:ANSWER_ITEM_CHARS])
                except TextError:
                    continue
            return out
        raise ValueError(f"unknown internal op {op!r}")

    def _protected(self, name: str) -> bool:
        """A reserved name a cell may not assign: all but `answer` (it may become another dict)
        and the names a tool lets cells use as their own (`document`: restored after the cell)."""
        return name != "answer" and name not in self.rebindable

    def load_context(self, args: dict[str, Any]) -> dict[str, Any]:
        # free a context being replaced first, so that peak memory is one context, not two
        self._ascii.pop(args["name"], None)  # measured again for the new text
        self.byte_anchors.pop(args["name"], None)
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
        info["size"] = describe_value(value)[1]
        gc.collect()
        return info

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

    def context_name(self, value: Any) -> str | None:
        return next((n for n in self.context_names if self.reserved.get(n) is value
                     and isinstance(value, (str, Corpus))), None)

    def byte_span(self, name: str, start: int, end: int) -> tuple[int, int]:
        value = self.reserved.get(name)
        if not isinstance(value, (str, Corpus)) or not 0 <= start <= end <= len(value):
            raise ValueError(f"offsets {start}-{end} are not in text context {name!r}")
        if isinstance(value, Corpus):
            return start, end
        if name not in self._ascii:
            self._ascii[name] = value.isascii()
        if self._ascii[name]:
            return start, end
        anchors = self.byte_anchors.get(name) or [(0, 0)]
        chars, at = anchors[bisect.bisect_right(anchors, (start, float("inf"))) - 1]
        first = at + len(value[chars:start].encode("utf-8", "surrogatepass"))
        return first, first + len(value[start:end].encode("utf-8", "surrogatepass"))

    def text_contexts(self) -> list[Any]:
        """The loaded text contexts: str values, or the Corpus of a large one."""
        return [v for n in self.context_names if isinstance(v := self.ns.get(n), (str, Corpus))]


_MISSING = object()
