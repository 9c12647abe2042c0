"""The words the controller sends: system prompt (a package data file), first user message,
the "now" block rebuilt every turn, nudges and the last call for an answer."""

from __future__ import annotations

from importlib import resources
from string import Template

from sandbox import ContextInfo, VariableInfo

_MODULES = ("re, json, math, collections, itertools, functools, statistics, datetime, string, "
            "textwrap, difflib, heapq, bisect, random, hashlib, base64, unicodedata, csv, "
            "operator, typing, dataclasses, fnmatch")


def _template(name: str) -> Template:
    return Template(resources.files("rlm").joinpath("prompts", name).read_text(encoding="utf-8"))


def system_prompt(context: ContextInfo, *, output_limit: int, cell_timeout_s: float,
                  can_recurse: bool, sub_window_chars: int = 100_000, notes_block: str | None = None,
                  notes_helpers: str = "", sub_calls: bool = True) -> str:
    docs_line = ""
    if context.docs:
        docs_line = (f"- `docs`: a list of {context.docs:,} documents; each has `.path`, `.offset`, "
                     "`.length` and `.text` (its slice of `context`).\n")
    if can_recurse:
        rlm_line = ("start a recursive sub-run: a model like you, with its own REPL in which "
                    "`context` is the value you pass (text, list or dict). Use it for sub-tasks that "
                    "themselves need code to solve; it is slower and costlier than `llm_query`.")
    else:
        rlm_line = ("at this depth it is the same as `llm_query` on the prompt followed by the "
                    "context you pass.")
    text = _template("system.md").substitute(
        context_description=context.description,
        docs_line=docs_line,
        sub_window=f"{sub_window_chars:,}",
        rlm_query_line=rlm_line,
        output_limit=f"{output_limit:,}",
        modules=_MODULES,
        cell_timeout=f"{cell_timeout_s:g}",
        notes_helpers=notes_helpers,
        notes_block=f"\n{notes_block}\n" if notes_block else "",
    )
    if not sub_calls:
        text += ("\nIn this run `llm_query`, `llm_query_batched`, `rlm_query` and `rlm_query_batched` are "
                 "disabled: solve the task with code alone.\n")
    return text


def first_user_message(query: str, context: ContextInfo) -> str:
    return (
        f"Question: {query}\n\n"
        f"The context is in the variable `context` ({context.description}). "
        "Start by looking at it with code; do not answer yet."
    )


def now_block(turn: int, max_turns: int, budget_line: str, variables: list[VariableInfo],
              limit: int = 30) -> str:
    rows = [f"{v.name}: {v.type}, size {v.size:,}" for v in variables[:limit]]
    total = max(len(variables), getattr(variables, "total", 0))
    if total > limit:
        rows.append(f"... and {total - limit:,} more (SHOW_VARS() lists them)")
    left = max_turns - turn + 1
    last = " This is your last turn: give the final answer now." if left <= 1 else ""
    return (
        f"[now] Turn {turn} of {max_turns} ({left} left, this one included).{last} "
        f"Budget left: {budget_line}.\n"
        f"Variables: {'; '.join(rows) if rows else '(none yet)'}"
    )


NUDGE = (
    "Your reply had no ```repl code block and no FINAL(...) / FINAL_VAR(...) line. "
    "Write code to make progress, or give the final answer."
)

PREMATURE_FINAL = (
    "Your final answer was not accepted: it was written before the code in the same reply ran, "
    "and that code failed. Read the output above, then continue or answer again."
)


CUT_REPLY = (
    "Your last reply was cut off at the output token limit; the code block it left unfinished was "
    "not run{final}. Reply shorter: one small code block per turn, keep long text in variables "
    "instead of writing it out, and think less before acting."
)
CUT_FINAL = ", and its FINAL(...) was not taken, since it may be incomplete: give it again"
OPEN_BLOCK = (
    "Your last reply opened a code block and never closed it, so it was not run. Close each "
    "block with ``` on its own line."
)


def missing_final_var(name: str) -> str:
    return (f"FINAL_VAR({name}): there is no variable named {name!r} in the kernel. "
            "Create it first, or answer with FINAL(...).")


def last_call(reason: str) -> str:
    return (
        f"Stop: {reason}. No more code will run. Reply now with your best final answer as "
        "FINAL(...) on its own line, based on what you have found so far; say briefly what is "
        "uncertain."
    )
