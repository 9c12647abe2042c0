"""Failure modes of one rlm run, named from its trajectory (the bench counts them per label, so
that each loop change is judged by how much rarer it makes the mode it targets).

The modes are about what happened, read the same way before and after a change (a trajectory
written by an older controller is read too):

no_answer            the run ended with no answer
wrong_status_ok      (set by the runner: status ok, answer wrong)
budget_exhausted     the turn or time budget ended the run
no_code_reply        a reply with neither code nor a final marker
repeated_cell        a cell ran the same code with the same result as an earlier cell
cascade_after_error  a block ran after an earlier block of the same reply had failed
sub_prompt_no_data   a sub-call prompt too short to carry any of the context (sent, or refused as
                     written whole in the code)
sub_prompt_no_question  a sub-call refused (or, before, sent) as a bare piece of the context
sub_refusal          a sub-model reply that declined or asked for data
refusal_answer       the final answer is such a reply
unready_answer       the final answer is the protocol's empty answer dict
rebinds_protected    a cell assigned to `context` or a helper
marker_case          a final marker in another case (`Final_VAR(`), ignored before
prose_not_finished   a short plain answer with no marker, and the run did not end on it
invented_output      text after the last code block showing output not yet seen
unsupported_final    a final answer (accepted or not) that nothing the model saw supports
namesake_answer      a final answer (accepted or not) read beside a longer name than the question's
                     (`sales-lakeview-2` for `sales-lakeview`) and never beside the name itself
context_answer       a final answer (accepted or not) that is the context itself (`FINAL_VAR(context)`)
subject_answer       a final answer (accepted or not) that is only a name the question gives
misformed_answer     a final answer (accepted or not) not of the form the question asks for (a line
                     number for a city, a sentence for a year)
unchecked_count      a count given (accepted or not) when no output had shown any of what it counted
apart_answer         a final answer (accepted or not) whose name or code was seen only in text that
                     names no subject of the question (a town from the first lines printed)
marker_name_error    a block that is only a final marker, run into a NameError (`FINAL_VAR(sales-lakeview)`)
empty_search         a cell whose literal tests (a regex, `'x' in line`) ended in a printed 0, [], {} or an
                     error such as max() of an empty list
borrowed_value       a final answer (accepted or not) resting on a value the code searched for, seen only
                     away from the question's subject the code left out (the first user printed)
off_topic_answer     a final answer (accepted or not) seen beside the subject only in text that says none
                     of the question's words (where she was born, for where she moved her laboratory)
bare_answer          a final answer (accepted or not) to a question that names no subject, seen only in
                     text that says none of the asking sentence's words (an attendee's name for who was
                     given an action item)
term_left_out        a cell of the model's whose loop tests its lines and printed something, and whose
                     strings leave out a term of the asking sentence that an output of the run shows (all
                     5xx responses counted for the 5xx of /api/checkout; the first five checkout outages
                     printed for the one on 1 December 2024)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from rlm import read_trajectory
from rlm.answer_checks import number_is_read
from rlm.answer_form import asked_form, form_mismatch
from rlm.events import Kind, Status
from rlm.loop_guards import Repeats, invents_output, looks_like_refusal, short_prompts, supported, unchecked_count
from rlm.namesakes import echoed_subject, namesake_of, read_apart, read_off_topic
from rlm.pattern_probe import empty_outcome, line_tests
from rlm.protocol import failed_marker, parse_reply
from rlm.question_terms import left_out
from rlm.unanchored import unanchored
from sandbox.kernel.protected import rebound_names

_PROTECTED = ("context", "docs", "llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched",
              "FINAL", "FINAL_VAR", "SHOW_VARS")
_ODD_CASE = re.compile(r"^[ \t]*[*_`]{0,3}(final_?var|final)\(", re.MULTILINE | re.IGNORECASE)
_UNREADY = "{'content': None, 'ready': False}"
_CONTEXT_MARKER = re.compile(r"\A\s*(?:print\()?FINAL(?:_VAR)?\(\s*context\s*\)", re.IGNORECASE)
# the loop's refusal reasons (rlm/answer_checks.py, rlm/_run.py) and the mode each names
_REFUSED = (("nothing the model saw", "unsupported_final"), ("longer name", "namesake_answer"),
            ("the context itself", "context_answer"), ("a name the question gives", "subject_answer"),
            ("not of the form", "misformed_answer"), ("count of records", "unchecked_count"),
            ("was seen only away from the question's subject", "apart_answer"),
            ("rests on a value", "borrowed_value"), ("in text about something else", "off_topic_answer"),
            ("says none of the question's words", "bare_answer"))


def classify(trajectory: str | Path) -> list[str]:
    """The failure modes seen in a root run's trajectory (each named once, in a stable order)."""
    events = list(read_trajectory(Path(trajectory)))
    found: set[str] = set()
    finals = [e for e in events if e.get("event") == Kind.FINAL]
    final: dict[str, Any] = finals[-1] if finals else {}
    answer = final.get("answer")
    status = final.get("status")
    if answer is None:
        found.add("no_answer")
    if status in (Status.MAX_ITERATIONS, Status.MAX_WALL_TIME, Status.MAX_TOKENS, Status.MAX_COST):
        found.add("budget_exhausted")
    repeats = Repeats()
    seen: list[str] = []
    missing: list[str] = []  # terms of the question a filtering cell left out
    # a turn whose cell the loop ran again with a term: its second cell is the loop's, not the model's
    mended_turns = {e.get("turn") for e in events if e.get("event") == Kind.LOOP_CHECK
                    and e.get("check") == "term_added"}
    sub_replies: list[str] = []
    query = next((e.get("query") for e in events if e.get("event") == Kind.RUN_START), None)
    for e in events:
        kind = e.get("event")  # a run's file holds its own events (a child run has its own file)
        if kind == Kind.MODEL_CALL and isinstance(e.get("reply"), str) and e.get("turn") != "notes":
            _reply_modes(e["reply"], found, ended_ok=status == Status.OK)
        elif kind == Kind.CELL:
            code, out, err = e.get("code") or "", e.get("stdout") or "", e.get("error")
            if repeats.count(code, out, err):
                found.add("repeated_cell")
            try:
                if rebound_names(ast.parse(code), _PROTECTED):
                    found.add("rebinds_protected")
            except (SyntaxError, ValueError):
                pass
            if err and "is only text copied from `context`" in err:
                found.add("sub_prompt_no_question")
            if err and "ProtectedName" in err:
                found.add("rebinds_protected")
            if failed_marker(code, err):
                found.add("marker_name_error")
            if _CONTEXT_MARKER.match(code):
                found.add("context_answer")
            if empty_outcome(out, err) and line_tests(code):
                found.add("empty_search")
            elif out.strip() and not err and isinstance(query, str) and e.get("turn") not in mended_turns:
                missing.extend(left_out(code, query))
            seen.extend([out, err or ""])
        elif kind == Kind.SUB_CALL:
            prompt = e.get("prompt")
            if isinstance(prompt, str) and short_prompts([prompt]):
                found.add("sub_prompt_no_data")
            reply = e.get("reply")
            if isinstance(reply, str):
                sub_replies.append(reply)
                if looks_like_refusal(reply):
                    found.add("sub_refusal")
        elif kind == Kind.LOOP_CHECK and e.get("check") in ("short_sub_prompt", "written_sub_prompt"):
            found.add("sub_prompt_no_data")
        elif kind == Kind.LOOP_CHECK and e.get("check") == "term_added":
            found.add("term_left_out")
        elif kind == Kind.FINAL_REFUSED and "nothing the model saw" in str(e.get("reason")):
            found.add("unsupported_final")
        elif kind == Kind.FINAL_REFUSED:
            reason = str(e.get("reason"))
            found.update(mode for words, mode in _REFUSED if words in reason)
    _block_cascade(events, found)
    shown = "\n".join(seen)
    if any(term in shown for term in missing):
        found.add("term_left_out")
    if isinstance(answer, str):
        if answer.strip() == _UNREADY:
            found.add("unready_answer")
        if looks_like_refusal(answer) or any(answer.strip() == r.strip() and looks_like_refusal(r)
                                             for r in sub_replies):
            found.add("refusal_answer")
        if not supported(answer, "\n".join(seen)):
            found.add("unsupported_final")
        if isinstance(query, str) and namesake_of(answer, query, "\n".join(seen)):
            found.add("namesake_answer")
        if isinstance(query, str) and echoed_subject(answer, query):
            found.add("subject_answer")
        if isinstance(query, str) and form_mismatch(answer, query):
            found.add("misformed_answer")
        if isinstance(query, str) and asked_form(query)[0] != "number" \
                and read_apart(answer, query, "\n".join(seen), names=asked_form(query)[0] == "name"):
            found.add("apart_answer")
        kind = asked_form(query)[0] if isinstance(query, str) else None
        if isinstance(query, str) and (kind != "number" or number_is_read(query)) and read_off_topic(
                answer, query, "\n".join(seen), names=kind == "name", numbers=number_is_read(query)):
            found.add("off_topic_answer")
        if isinstance(query, str) and kind != "number" and unanchored(
                answer, query, "\n".join(seen), names=kind == "name", numbers=False):
            found.add("bare_answer")
        if isinstance(query, str) and unchecked_count(answer, query, [o for o in seen if o]) and not sub_replies \
                and not _shown_whole(events) and answer.strip() != "0":
            found.add("unchecked_count")
    return sorted(found)


def _shown_whole(events: list[dict[str, Any]]) -> bool:
    """The first message showed the whole context (as long as its preview, or shorter)."""
    start = next((e for e in events if e.get("event") == Kind.RUN_START), {})
    loaded = next((e for e in events if e.get("event") == Kind.CONTEXT_LOADED), {})
    preview = (start.get("config") or {}).get("context_preview_chars", 1000)
    size = loaded.get("size")
    return isinstance(size, int) and isinstance(preview, int) and preview > 0 and size < preview


def _reply_modes(text: str, found: set[str], *, ended_ok: bool) -> None:
    reply = parse_reply(text)
    if not reply.code and not reply.has_final:
        found.add("no_code_reply")
        stated = reply.visible.strip()
        if stated and len(stated) <= 300 and not ended_ok:
            found.add("prose_not_finished")
    if any(m.group(1) not in ("FINAL", "FINAL_VAR") for m in _ODD_CASE.finditer(reply.visible)):
        found.add("marker_case")
    if reply.code and reply.code_end and invents_output(reply.visible[reply.code_end:]):
        found.add("invented_output")


def _block_cascade(events: list[dict[str, Any]], found: set[str]) -> None:
    failed_turns: set[Any] = set()
    for e in events:
        if e.get("event") != Kind.CELL:
            continue
        turn = e.get("turn")
        if turn in failed_turns:
            found.add("cascade_after_error")
        if e.get("error"):
            failed_turns.add(turn)
