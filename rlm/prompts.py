"""The words the controller sends: system prompt (a package data file), first user message,
the "now" block rebuilt every turn, nudges and the last call for an answer."""

from __future__ import annotations

import functools
import re
from importlib import resources
from string import Template

from rlm.model_window import DEFAULT_WINDOW_CHARS, chunk_chars
from sandbox import ContextInfo, VariableInfo

_MODULES = ("re, json, math, collections, itertools, functools, statistics, datetime, string, "
            "textwrap, difflib, heapq, bisect, random, hashlib, base64, unicodedata, csv, "
            "operator, typing, dataclasses, fnmatch")


def _template(name: str) -> Template:
    return Template(resources.files("rlm").joinpath("prompts", name).read_text(encoding="utf-8"))


def system_prompt(context: ContextInfo, *, output_limit: int, cell_timeout_s: float,
                  can_recurse: bool, sub_window_chars: int = DEFAULT_WINDOW_CHARS, notes_block: str | None = None,
                  notes_helpers: str = "", sub_calls: bool = True, tools_block: str = "") -> str:
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
        chunk=f"{chunk_chars(sub_window_chars):,}",
        rlm_query_line=rlm_line,
        output_limit=f"{output_limit:,}",
        modules=_MODULES,
        cell_timeout=f"{cell_timeout_s:g}",
        notes_helpers=notes_helpers + tools_block,
        notes_block=f"\n{notes_block}\n" if notes_block else "",
    )
    if not sub_calls:
        text += ("\nIn this run `llm_query`, `llm_query_batched`, `rlm_query` and `rlm_query_batched` are "
                 "disabled: solve the task with code alone.\n")
    return text


PREVIEW_LINE_CHARS = 300  # a line of the preview longer than this is cut


def first_user_message(query: str, context: ContextInfo, preview: str | None = None,
                       preview_chars: int = 0, earlier: str = "") -> str:
    """The question, what `context` is, and its head when `preview` holds it (`preview_chars`:
    the length asked for, so a preview that long was cut and its last line may be partial).
    `earlier`: a session's account of its earlier questions, put after the question and closed
    by the question again (a small model otherwise answers the earlier one)."""
    text = f"Question: {query}\n\n"
    if earlier:
        text += f"{earlier}\n\nThe question to answer now is the new one: {query}\n\n"
    text += f"The context is in the variable `context` ({context.description})."
    if preview:
        text += (" It begins like this (its first lines, each cut to "
                 f"{PREVIEW_LINE_CHARS} characters):\n```text\n"
                 f"{_preview_lines(preview, len(preview) >= preview_chars)}\n```\n"
                 "Write your code for the data as it is spelled there. ")
    else:
        text += " "
    return text + "Start by looking at it with code; do not answer yet."


def _preview_lines(preview: str, cut_short: bool) -> str:
    """The preview's whole lines (a partial last one dropped, unless it is the only one), each
    cut to PREVIEW_LINE_CHARS; fences inside are broken so that the block stays one block."""
    lines = preview.splitlines()
    if cut_short and len(lines) > 1 and not preview.endswith("\n"):
        lines = lines[:-1]
    shown = [line if len(line) <= PREVIEW_LINE_CHARS else line[:PREVIEW_LINE_CHARS] + " [...]" for line in lines]
    return "\n".join(shown).replace("```", "`\u200b``")


def now_block(turn: int, max_turns: int, budget_line: str, variables: list[VariableInfo],
              limit: int = 30, *, refused: bool = False, found_nothing: bool = False) -> str:
    """The turn, the budget and the variables, ending each turn's message; `refused`: the last
    turn's final answer was not accepted (so this one is not told to finish); `found_nothing`:
    the last code's search found nothing, and a note said why."""
    rows = [f"{v.name}: {v.type}, size {v.size:,}" for v in variables[:limit]]
    total = max(len(variables), getattr(variables, "total", 0))
    if total > limit:
        rows.append(f"... and {total - limit:,} more (SHOW_VARS() lists them)")
    left = max_turns - turn + 1
    if left <= 1:
        last = " This is your last turn: give the final answer now."
    elif refused:
        # "finish now" after a refusal was read as "give it again": a small model gave its 0 again
        # three times over a note that gave it the code to check the 0
        last = " Your last answer was not accepted: first run code that does what the note above says."
    elif found_nothing:  # its 0 is no answer yet: a small model answered the 0 over the note
        last = " Your code found nothing: run the code the note above gives, or mend your test as it says."
    elif turn > 1:
        # small models, having printed the answer, went on asking `llm_query` the question itself
        last = " If an output above already answers the question, finish now: FINAL(the value it shows)."
    else:
        last = ""
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


def missing_final_var(name: str, exists: bool = False) -> str:
    if exists:
        return (f"FINAL_VAR({name}): the value of {name!r} could not be turned into text (its conversion "
                "failed or took too long). Put the answer in a plain string variable, or answer with FINAL(...).")
    return (f"FINAL_VAR({name}): there is no variable named {name!r} in the kernel. "
            "Create it first, or answer with FINAL(...).")


def last_call(reason: str) -> str:
    return (
        f"Stop: {reason}. No more code will run. Reply now with your best final answer as "
        "FINAL(...) on its own line, based on what you have found so far; say briefly what is "
        "uncertain."
    )


def repeated_cell(times: int, failed: bool) -> str:
    result = "failed with the same error" if failed else "gave the same output"
    again = "again" if times == 1 else f"for the {times + 1}th time"
    return (f"This cell is code you already ran, and it {result} {again}: running it again will not "
            "change anything. Do something different: print the type and the first items of the values it "
            "uses (e.g. `print(type(x), repr(x)[:300])`) to see why, or take another approach.")


def short_prompts(count: int, longest: int) -> str:
    which = "prompt" if count == 1 else f"{count} prompts"
    return (f"Note: the sub-call {which} in this step had fewer than 200 characters (the longest: {longest}): "
            "the sub-model sees only its prompt, never `context`, so it could only guess. Send the text to "
            "read with the question: llm_query(question + \"\\n\\n\" + chunk).")


def written_prompt(prompt: str, total: int) -> str:
    which = "the prompt" if total == 1 else f"each of the {total} prompts, e.g."
    return (f"llm_query: nothing was sent: {which} {prompt.strip()[:100]!r} is a string written in your code, "
            "with no text from `context` in it, and the sub-model never sees `context`: it could only guess. "
            "Put the text to read in the prompt, llm_query(question + \"\\n\\n\" + chunk), or find the answer "
            "with code.")


def refusals(count: int, preview: str) -> str:
    which = "a prompt" if count == 1 else f"{count} prompts"
    return (f"Note: the sub-model's reply to {which} declined or asked for data ({preview!r}): it was not "
            "given what it needs. Such a reply is not an answer.")


def unsupported_answer(preview: str, same_step: bool, subject: str | None = None,
                       sentences: list[str] | None = None, again: bool = False) -> str:
    """`sentences`: where the output the model printed names `subject` (its answer may be there);
    `again`: the same question was asked of an answer before."""
    why = ("your code set it in the same step that computed it, so you have not seen what it rests on"
           if same_step else "nothing you have seen so far shows it")
    if again:
        why = "again, no output you have seen shows its numbers or codes: an answer must come from the output"
    text = f"Your final answer ({preview!r}) was not accepted yet: {why}. "
    if subject and sentences:
        shown = _listed(sentences)
        return text + (f"The output you printed names {subject!r} here:\n{shown}\nAnswer from these words, or check "
                       "your answer against the data with code (if it is right, give it again as it is).")
    return text + ("Check it against the data with code and look at the output; then give it again (if it is "
                   "right, give it again as it is).")


def pattern_misses(misses: list[tuple[str, str]], name: str, tried: int | None, mended: str | None = None) -> str:
    """What the tests of a cell that found nothing find in the context: (the test, what it found);
    `tried`: the bytes of its start they were tried on, when not all of it; `mended`: the cell
    with a pattern that matches in place of one that did not."""
    where = f"the first {tried:,} bytes of `{name}`" if tried else f"`{name}`"
    shown = "\n".join(f"- `{test}` {found}" for test, found in misses)
    why = f"Why: its tests, tried on the lines of {where}:\n{shown}\n"
    if mended is not None and "```" not in mended:
        # the mended cell first: a small model paraphrased the explanation and wrote a pattern of its own
        return (f"Your code found nothing. This is your code, changed so that its test matches the text:\n"
                f"```repl\n{mended.rstrip()}\n```\nRun it as it is, then check its output against the "
                f"question.\n" + why)
    return f"Your code found nothing. {why}Change the test to fit the text as it stands, and run it again."


MEND_RUN = ("You ran the same code again, which finds nothing; the changed code the note gave for it was run "
            "after it, as the next cell: read its output (and check it against the question).")


TERM_FINAL = ("Your final answer was not accepted: it was given before you read the output of your code run again "
              "with the question's term (above). Read that output, then answer.")


def term_added(term: str, test: str, cell: int) -> str:
    """A cell whose line filter left out a term of the question was run again with `test` added
    to that filter, as `cell`. No count is given: a small model answered with the note's count of
    lines instead of the cell's output."""
    return (f"The question names {term!r}, and your code's filter did not test it: lines that pass your tests "
            f"without holding {term!r} were taken too. Your code was run again with `{test}` required in that "
            f"filter, as cell {cell}: its output is above. Answer from that output if the question asks only about "
            f"lines that hold {term!r}; an answer your code set in the same cell was not taken.")


def namesake_answer(preview: str, subject: str, twin: str) -> str:
    pattern = r"(?<![\w-])" + re.escape(subject) + r"(?![\w-])"
    quote = _quote_for(pattern)
    text = (f"Your final answer ({preview!r}) was not accepted yet: you read it beside {twin[:80]!r}, and the "
            f"question asks about {subject!r} (a test like `{subject!r} in line` is true for both). ")
    if quote is None:
        return text + (f"Find the lines where {subject!r} stands whole, not inside a longer name, and answer "
                       "from them (if your answer is right, give it again as it is).")
    return text + (f"Print the lines where {subject!r} stands whole, not inside a longer name:\n"
                   + _lines_code(f"re.search(r{quote}{pattern}{quote}, line)")
                   + "then answer from them (if your answer is right, give it again as it is).")


def misformed_answer(preview: str, problem: str) -> str:
    return (f"Your final answer ({preview!r}) was not accepted yet: {problem}. Read the value the question "
            "asks for in the output and answer with it alone (if your answer is right, give it again as it is).")


def unchecked_count(preview: str, code: str | None = None) -> str:
    text = (f"Your count ({preview!r}) was not accepted yet: you have not looked at any of what it counts, so a "
            "test that matches the wrong lines would go unseen. ")
    if code is None:
        text += ("Print a few of the lines your test matches (e.g. `print(len(hits)); print(hits[:5])`)")
    else:
        text += f"This is your counting code, changed to keep and print what it counted:\n```repl\n{code}```\nRun it"
    return text + (", check that each line fits every condition of the question, fix the test if one does not, "
                   "then give the count again.")


def echoed_answer(subject: str) -> str:
    return (f"Your final answer ({subject[:80]!r}) is a name the question itself gives, not what it asks "
            f"about {subject[:80]!r}. Read that value in the lines you printed for it and answer with the value: "
            "FINAL(the value you read) on its own line, outside a code block (if the name truly is the answer, "
            "give it again as it is).")


def flagged_answer(preview: str) -> str:
    return (f"Your final answer ({preview!r}) is a sub-model's reply that declined, or that was given no data "
            "to read: it is not an answer. Pass the sub-model the text it needs, or compute the answer with code.")


UNREADY_ANSWER = (
    "FINAL_VAR(answer): `answer` holds no content yet (answer['content'] is None), so there is nothing to "
    "give. Set answer['content'] = ... and answer['ready'] = True, or FINAL_VAR(name) of the variable that "
    "holds the answer."
)
@functools.lru_cache(maxsize=1)
def example_literals() -> frozenset[str]:
    """The strings the system prompt's worked example searches for ('K. Osei', '-03-'): a cell
    that searches for one of them copied the example instead of looking at this task's data."""
    import ast

    text = resources.files("rlm").joinpath("prompts", "system.md").read_text(encoding="utf-8")
    start = text.find("## Example")
    section = text[start:text.find("\n## ", start + 1)] if start >= 0 else ""
    found: set[str] = set()
    for block in re.findall(r"```repl\n(.*?)```", section, re.DOTALL):
        found.update(node.value for node in ast.walk(ast.parse(block))
                     if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip())
    return frozenset(found)


def copied_example(strings: list[str]) -> str:
    quoted = ", ".join(repr(s) for s in strings[:3])
    return (f"Your code searched for {quoted}: that comes from the worked example in the instructions, not "
            "from this task. Search for words of this question and of the lines the context printed.")


INVENTED_OUTPUT = (
    "The text you wrote after your code block was dropped: it showed output before the code had run. "
    "The real output is above. Wait for the output before describing it."
)


def models_line(names: list[str]) -> str:
    """The system prompt's line on the models the user named for sub-calls ("" for none)."""
    if not names:
        return ""
    shown = ", ".join(f"`{n}`" for n in names[:20])
    return (f"- `llm_query(prompt, model=NAME)` (and the batched form) asks another model: NAME is one of "
            f"{shown}; without `model=`, the sub-model.\n")


# what the instructions and notes write inside FINAL(...) / FINAL_VAR(...) to stand for an
# answer; besides these, each one the system prompt writes (see `placeholders`)
_NOTE_PLACEHOLDERS = ("...", "<the JSON>", "<the answer>", "answer", "the value it shows", "the value you read",
                      "those words")
_PLACEHOLDER_IN = re.compile(r"FINAL(?:_VAR)?\(([^()\n]{1,60})\)")


@functools.lru_cache(maxsize=1)
def placeholders() -> frozenset[str]:
    """The stand-ins for an answer that the loop's own words put inside a final marker
    (`FINAL(your answer)`, `FINAL(the value it shows)`), lower-cased; one or two letters and
    `name` are left out: they may be an answer."""
    found = set(_PLACEHOLDER_IN.findall(_template("system.md").template)) | set(_NOTE_PLACEHOLDERS)
    return frozenset(p.strip().lower() for p in found if len(p.strip()) > 2 and p.strip() not in ("name", "{name}"))


def is_placeholder(answer: str) -> bool:
    """An answer that is a stand-in copied from the instructions, not a value."""
    return answer.strip().strip("'\"`*").strip().lower() in placeholders()


def placeholder_answer(preview: str) -> str:
    return (f"Your final answer ({preview!r}) is the stand-in written in the instructions, not a value. Put "
            "the value itself inside the marker (the number or words your code printed), or FINAL_VAR(name) "
            "of the variable that holds it.")


_OWN_TEXT = re.compile(r"\A\[turn \d+ output folded: .*\]\Z|\A\(a reply (?:whose code repeated|written before)", re.S)


def is_own_text(text: str) -> bool:
    """Whether `text` is one of the loop's own notes in the history (a folded turn's summary, a
    dropped reply's stand-in), which a weak model may echo as its answer."""
    return bool(_OWN_TEXT.match(text.strip()))


def schema_mismatch(name: str, problem: str) -> str:
    return (f"Your answer was not taken: it does not fit the required form ({name}): {problem}. "
            "Fix it and finish again (FINAL_VAR(name) of a dict or list, or FINAL(<the JSON>)).")


def plain_answer(preview: str) -> str:
    return (f"You wrote an answer ({preview!r}) without FINAL(...), so the run did not end. If it is your "
            "answer, reply with FINAL(<the answer>) on its own line.")


def blocks_not_run(count: int) -> str:
    which = "The code block" if count == 1 else f"The {count} code blocks"
    return f"{which} after the failing one {'was' if count == 1 else 'were'} not run: fix the error first."


REPEAT_DROPPED = "(a reply whose code repeated earlier code with the same result: not shown again)"
GUESS_DROPPED = "(a reply written before any code had run: it is not kept, since nothing had been looked at yet)"

def context_as_answer(subject: str | None) -> str:
    text = "Your final answer is the context itself, not an answer to the question. "
    quote = _quote_for(subject or "")
    if not subject or quote is None:
        return text + ("Find the part that answers it with code (search for the words of the question, print "
                       "the matching lines) and give only that.")
    return text + (f"Print the text around each place {subject!r} stands, read the answer there and give "
                   "only that:\n" + _around_code(_pattern_of(subject), quote))


def empty_answer(preview: str, subject: str | None = None) -> str:
    text = (f"Your final answer ({preview!r}) is what a search that matched nothing gives. Check that the "
            "pattern fits the data: print a few lines of `context` that should match, and compare")
    quote = _quote_for(subject or "")
    if subject and quote and "\\" not in subject:
        text += (f", e.g. the lines holding {subject!r}, to see how they are spelled:\n"
                 + _lines_code(f"{quote}{subject}{quote} in line"))
    else:
        text += ". "
    return text + "If it is right, give it again."


def _lines_code(test: str) -> str:
    """A code block that prints how many lines of `context` pass `test` (an expression of
    `line`) and the first five."""
    return (f"```repl\nhits = [line for line in context.splitlines() if {test}]\n"
            "print(len(hits))\nprint(hits[:5])\n```\n")


def apart_answer(preview: str, subject: str, sentences: list[str], text_context: bool) -> str:
    """An answer seen only in text that does not name the question's `subject`."""
    text = (f"Your final answer ({preview!r}) was not accepted yet: the output shows it only in text that does not "
            f"name {subject!r}, so it may belong to something else. ")
    quote = _quote_for(subject)
    if sentences:
        shown = _listed(sentences)
        text += f"The output you printed names {subject!r} here:\n{shown}\nAnswer from these words"
    elif text_context and quote is not None:
        text += _print_around(subject, quote) + "and answer from it"
    else:
        text += f"Print the lines that name {subject!r} and answer from them"
    return text + " (if your answer is right, give it again as it is)."


def borrowed_value(preview: str, value: str, subject: str, text_context: bool) -> str:
    """The code searched for `value`, which the output shows only away from the question's `subject`."""
    text = (f"Your final answer ({preview!r}) was not accepted yet: it rests on {value!r}, which your code looks "
            f"for, but the question does not give {value!r} and the output shows it only in text that does not "
            f"name {subject!r}: it may belong to something else. First find the value the question points to, "
            f"from the text around {subject!r}")
    quote = _quote_for(subject)
    if text_context and quote is not None:
        text += ":\n" + _around_code(_pattern_of(subject), quote) + "then use it"
    return text + " (if your answer is right, give it again as it is)."


def value_replaced(value: str, subject: str, pointed: str, line: str, cell: int) -> str:
    """The cell that searched for a borrowed `value` was run again with `pointed`, read in `line`."""
    return (f"Your final answer was not accepted yet: it rests on {value!r}, which your code looks for, but the "
            f"question does not give {value!r}, and the output shows it only in text that does not name {subject!r}. "
            f"The line of the context that names {subject!r} and says the most of the question's words holds "
            f"{pointed!r}:\n- {line[:300]!r}\nYour code was run again with {pointed!r} in place of {value!r}, as "
            f"cell {cell}: its output is above. Check it against the question, and answer from it.")


def restated_answer(preview: str, subject: str | None, sentences: list[str], text_context: bool) -> str:
    """The answer is only words of the question: what it asks is still to be read."""
    text = f"Your final answer ({preview!r}) only repeats words of the question, so it answers nothing yet. "
    if subject and sentences:
        return text + (f"The output you printed names {subject!r} here:\n{_listed(sentences)}\nRead what the "
                       "question asks in these words and give only that (if your answer is right, give it again).")
    quote = _quote_for(subject or "")
    if subject and text_context and quote is not None:
        return text + _print_around(subject, quote) + "and answer from it (if your answer is right, give it again)."
    return text + ("Find what the question asks in the data with code, and give that (if your answer is right, "
                   "give it again).")


def off_topic_answer(preview: str, subject: str, words: list[str], sentences: list[str], text_context: bool,
                     speaking: list[str] | None = None) -> str:
    """The answer stands beside `subject` only in text that says none of the question's `words`;
    `speaking`: printed pieces naming the subject that do say some of them (the answer is there)."""
    asked = ", ".join(repr(w) for w in words[:6])
    if speaking:
        return (f"Your final answer ({preview!r}) was not accepted yet: the output shows it beside {subject!r} only in "
                f"text that says nothing of {asked}. The output you printed speaks of them here:\n{_listed(speaking)}\n"
                "Read the answer in these words and give only it, on its own line outside a code block: "
                "FINAL(the value you read) (if your answer is right, give it again as it is).")
    text = (f"Your final answer ({preview!r}) was not accepted yet: where the output shows it beside {subject!r}, "
            f"the text says nothing of {asked}, so it may be another fact about {subject!r}. ")
    if sentences:
        text += f"The output you printed names {subject!r} here:\n{_listed(sentences)}\n"
    quote = _quote_for(subject)
    if text_context and quote is not None:
        text += (f"Find the place that speaks of {asked}: print the text around each place {subject!r} stands:\n"
                 + _around_code(_pattern_of(subject), quote) + "and answer from it")
    else:
        text += f"Find the lines that name {subject!r} and speak of {asked}, and answer from them"
    return text + " (if your answer is right, give it again as it is)."


def context_speaks(subject: str, pieces: list[str]) -> str:
    """Where the context (not yet any output) names `subject` (or, with none, says the most of the
    question's words) and says the question's words."""
    if not subject:
        return f"The context itself says the question's words here:\n{_listed(pieces)}"
    return f"The context itself names {subject!r} and speaks of them here:\n{_listed(pieces)}"


def unanchored_answer(preview: str, words: list[str]) -> str:
    """An answer to a question that names no subject, seen only in text that says none of its words."""
    asked = ", ".join(repr(w) for w in words[:6])
    return (f"Your final answer ({preview!r}) was not accepted yet: the output shows it only in text that says "
            f"nothing of {asked}, the question's own words, so it may be about something else. Find the lines that "
            "say those words and answer from them (if your answer is right, give it again as it is).")


def fresh_reading_messages(question: str, pieces: list[str]) -> list[dict[str, str]]:
    """A call that shows only the question and the printed `pieces` where its subject and words meet."""
    return [{"role": "system", "content": "You answer a question from a few lines of a document, and from nothing "
                                          "else. Reply with the answer only, in a few words, or NONE if the lines "
                                          "do not give it."},
            {"role": "user", "content": f"Lines:\n{_listed(pieces)}\n\nQuestion: {question[:2000]}"}]


def fresh_reading(reading: str) -> str:
    return (f"Read in a new call that saw only the question and these lines, they answer: {reading!r}. If that "
            f"is right, give it: FINAL({reading})")


def context_as_answer_again(subject: str, sentences: list[str]) -> str:
    shown = _listed(sentences)
    return (f"Your final answer is the context itself again: the answer is a few words inside it, not all of it. "
            f"The output you printed names {subject!r} here:\n{shown}\nWhich words of these answer the question? "
            "Give only them, on their own line outside a code block: FINAL(those words).")


AROUND_CHARS = 200  # shown each side of a match: a sentence or two of prose, a line or two of a log


def _print_around(subject: str, quote: str) -> str:
    """Asks for the text around each place `subject` stands, with the code that prints it."""
    return f"Print the text around each place {subject!r} stands:\n" + _around_code(_pattern_of(subject), quote)


def _listed(sentences: list[str]) -> str:
    return "\n".join(f"- {s!r}" for s in sentences)


def _pattern_of(subject: str) -> str:
    """`subject` as a regular expression a model can read (spaces left as they are)."""
    return re.escape(subject).replace("\\ ", " ").replace("\\-", "-")  # `-` is itself outside a class


def _around_code(pattern: str, quote: str) -> str:
    """A code block that prints the text around the first five matches of `pattern` in `context`
    (a line of prose may be a whole paragraph: the sentence that answers is lost in it)."""
    return (f"```repl\nfor m in list(re.finditer(r{quote}{pattern}{quote}, context))[:5]:\n"
            f"    print(repr(context[max(0, m.start() - {AROUND_CHARS}):m.end() + {AROUND_CHARS}]))\n```\n")


def _quote_for(text: str) -> str | None:
    """A quote that can hold `text` as a one-line raw literal, or None."""
    if "\n" in text or "\\" in text[-1:]:
        return None
    return next((q for q in ("'", '"') if q not in text), None)
