"""A cell's code run for the runtime (runs inside the kernel): compiled by the policy or as
plain Python, its output captured and its last expression echoed, what it raised made text
(shortened, bounded in time, interruptible, as model code is), and the answer it left taken.
"""

from __future__ import annotations

import contextlib
import gc
import linecache
import reprlib
import signal
import traceback
from typing import TYPE_CHECKING, Any

from sandbox.kernel.caps import CappedText, cap_text
from sandbox.kernel.policy import PolicyError, compile_cell
from sandbox.kernel.protected import ProtectedNameError
from sandbox.kernel.signal_guards import _TimeUp, interruptible, time_limit
from sandbox.kernel.value_text import TEXT_SECONDS, TextError, as_text, exception_line, shorten

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


def _is_set(flag: Any) -> bool:
    """Whether answer["ready"] is set: its truth for the builtin types, any other object set
    (its own __bool__ is model code, not run outside a cell)."""
    if type(flag) in (bool, int, float, str, bytes, list, tuple, dict, set, type(None)):
        return bool(flag)
    return True


class CellExecution:
    """A cell's code run in the namespace, what it raised made text, and the answer it left
    taken (a part of `Runtime`)."""

    ns: dict[str, Any]
    reserved: dict[str, Any]
    answer: dict[str, Any]
    cell: int
    restricted: bool
    output_limit: int
    memory_limit: int

    if TYPE_CHECKING:
        def _protected(self, name: str) -> bool: ...

    def _final_answer(self) -> tuple[str | None, str | None]:
        """(The answer's text if it is ready, why it could not be taken). Reading the dict and
        making its content text runs model code (a key's __eq__, a class's __str__): it can be
        interrupted, as a cell can, and is bounded in time anyway."""
        try:
            with interruptible():
                if not _is_set(self.answer.get("ready")):
                    return None, None
                return as_text(self.answer.get("content"), "answer['content']"), None
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            problem = "KeyboardInterrupt: the cell was interrupted while its answer was made text"
        except TextError as exc:
            problem = f"AnswerError: {exc}; the answer was not taken"
        except BaseException as exc:  # noqa: BLE001 - e.g. a key's own __eq__ raised
            problem = f"AnswerError: `answer` could not be read: {exception_line(exc)}; the answer was not taken"
        self.answer = self.reserved["answer"] = self.ns["answer"] = {"content": None, "ready": False}
        return None, cap_text(problem, self.output_limit)[0]

    def _execute(self, code: str, sink: CappedText) -> str | None:
        filename = f"<cell {self.cell}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), interruptible():
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
        shorten(exc, self.output_limit)
        try:
            with interruptible(), time_limit(TEXT_SECONDS):
                return self._format_error(exc, filename)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            why = "the cell was interrupted"
        except _TimeUp:
            why = f"str() ran past {TEXT_SECONDS:g} s"
        except BaseException as err:  # noqa: BLE001 - a message that fails to format is still an error
            why = exception_line(err)
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
