"""The questions a final answer meets once per run before it may end the run.

Each is a shape a real model's wrong answers took: the question's own subject given back, the
context itself, the empty result of a search that matched nothing, a value nothing printed
shows, an answer of the wrong form (a line number for a city), a count whose matches were never
looked at, a value read beside a namesake, a value seen only away from the question's subject.
Each is asked once: the model may be right (a name the question gives may be the answer), and
an answer given again after its question stands; only an answer holding a number or a code that
no output showed is asked about up to INVENTED_ASKS times, and one read in words about something
else again once the output shows where the subject and the question's words meet. The refusals that hold every time (a
sub-model's reply that is no answer, a placeholder, a schema) stay with the loop
(`rlm/_run.py`); the test of each shape lives with its kind (`loop_guards`, `answer_form`,
`namesakes`), the words said with the prompts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from rlm import prompts
from rlm.answer_form import asked_form, form_mismatch
from rlm.counted_lines import MAX_CODE_CHARS, show_counted
from rlm.loop_guards import (
    WHOLE_COPY_CHARS,
    invented_values,
    is_context_copy,
    is_empty_result,
    restates_question,
    supported,
    unchecked_count,
)
from rlm.namesakes import (
    asked_words,
    borrowed_value,
    content_words,
    echoed_subject,
    namesake_of,
    question_subjects,
    read_apart,
    read_off_topic,
    sentences_naming,
    speaking_of,
)
from rlm.question_terms import asking_sentence, question_terms
from rlm.unanchored import unanchored

__all__ = ["AnswerChecks", "Objection", "number_is_read"]

# a number read from the text, not computed from it: a year, or a value the question names no way
# of computing ("What is the warranty period, in months, of the Summit 1 Fan?")
_READ_NUMBER = re.compile(r"\b(?:in )?(?:which|what) year\b|\bwhen was\b", re.IGNORECASE)
_COMPUTED = re.compile(r"\b(?:how many|total|sum|average|mean|median|highest|lowest|largest|smallest|maximum|"
                       r"minimum|most|least|count|number of|difference|combined|altogether|ratio|percent(?:age)?)\b",
                       re.IGNORECASE)
_SAME_DOUBT = {"namesake": ("namesake", "apart"), "apart": ("namesake", "apart")}
KEEP_CELLS = 20  # the latest cells kept, to find the one that printed a count
INVENTED_ASKS = 3  # the times an answer with a number or code nothing showed is questioned


def number_is_read(question: str) -> bool:
    """Is a number `question` asks for read beside its subject (a year, a warranty), not computed
    (a count, a sum, the highest)?"""
    asked = question[:4000]
    return bool(_READ_NUMBER.search(asked)) or not _COMPUTED.search(asked)


@dataclass(frozen=True)
class Objection:
    """Why an answer does not end the run yet: `reason` for the trajectory, `note` for the model."""

    reason: str
    note: str
    pieces: tuple[str, ...] = ()  # printed text where the subject and the question's words meet, to read anew
    borrowed: tuple[str, str] | None = None  # a value the code searched for, and the subject it left out
    # where to look for the text to read anew: the subject ("" for none), the question's words, and
    # whether the line after each line found belongs to it (an incident's title, then its account)
    about: tuple[str, tuple[str, ...], bool] | None = None


@dataclass
class AnswerChecks:
    """The once-asked questions of one run, and what the run knows that they need.

    context_head: the context's first characters (None before it is loaded); shown_whole: the
    first message showed all of the context; context_is_text: `context` is one string; cells:
    the latest cells run, with the head of their output."""

    query: str
    context_head: str | None = None
    shown_whole: bool = False
    context_is_text: bool = False
    asked: set[str] = field(default_factory=set)
    cells: list[tuple[str, str]] = field(default_factory=list)
    unsupported_asks: int = 0
    relation_shown: set[str] = field(default_factory=set)

    def objection(self, answer: str, seen: list[str], *, same_step: bool, sub_calls: int) -> Objection | None:
        """The first question `answer` fails that was not asked yet in this run (recorded as
        asked), or None. `seen`: the outputs the model saw; `same_step`: the answer came with
        code whose output the model has not seen; `sub_calls`: sub-calls made so far."""
        preview = answer.strip()[:120]
        subject = next(iter(question_subjects(self.query)), None)
        echoed = echoed_subject(answer, self.query) if "echo" not in self.asked else None
        if echoed is not None:  # "which of A or B" may truly be answered by a name it gives
            return self._ask("echo", "the answer is a name the question gives", prompts.echoed_answer(echoed))
        if ("copy" not in self.asked or len(answer) > WHOLE_COPY_CHARS) and is_context_copy(answer, self.context_head):
            # "repeat the text" may truly want it, but not the text of a large context
            # (a real model answered FINAL(context), 263,000 characters, when asked for a code)
            seen_text = "\n".join(seen)
            again = sentences_naming(subject, seen_text) if subject and "copy" in self.asked else []
            return self._ask("copy", "the answer is the context itself",
                             prompts.context_as_answer_again(subject, again) if subject and again else
                             prompts.context_as_answer(subject if self.context_is_text else None))
        seen_text = "\n".join(seen)
        seen_support = supported(answer, seen_text, self.query)
        if "empty" not in self.asked and is_empty_result(answer) and (
                not same_step or "unsupported" in self.asked or seen_support):  # one never seen: said that first
            # a search that matched nothing looks like an answer of 0; its pattern may not fit the data
            return self._ask("empty", "an empty result as the answer", prompts.empty_answer(preview, subject))
        # an answer holding a number or a code no output ever showed is asked about again (a real model
        # gave an invented list of numbers a second time, over a printed line that held the answer)
        invented = not seen_support and self.unsupported_asks < INVENTED_ASKS \
            and invented_values(answer, seen_text, self.query)
        if ("unsupported" not in self.asked or invented) and not seen_support:
            self.unsupported_asks += 1
            return self._ask("unsupported", "nothing the model saw supports the answer",
                             prompts.unsupported_answer(preview, same_step, subject,
                                                        sentences_naming(subject, seen_text) if subject else None,
                                                        again=self.unsupported_asks > 1))
        if "restated" not in self.asked and restates_question(answer, self.query):
            objection = self._ask("restated", "the answer only restates the question's words",
                                  prompts.restated_answer(preview, subject, sentences_naming(subject, seen_text)
                                                          if subject else [], self.context_is_text))
            # the lines that say the most of the question's words, each with the line after it, to read anew
            # (a real model answered "checkout outage on 1 December 2024" twice over the incident's account)
            read_off = asked_form(self.query)[0] != "number" or number_is_read(self.query)
            return replace(objection, about=self._where_to_read(None, following=True) if read_off else None)
        misformed = form_mismatch(answer, self.query) if "form" not in self.asked else None
        if misformed is not None:  # the question's wording may mislead
            objection = self._ask("form", "the answer is not of the form the question asks for",
                                  prompts.misformed_answer(preview, misformed))
            # the context's text that says the question's words, to read anew (a real model answered the
            # line numbers of its search, a list, for "who was given the action item")
            # (not for a count or a sum: it is computed, not read)
            read_off = asked_form(self.query)[0] != "number" or number_is_read(self.query)
            return replace(objection, about=self._where_to_read(subject) if read_off else None)
        # a count sub-models made read the records; one made by code alone may rest on a test never seen at work
        # (a count of 0 met the empty-result question: the lines a test did not match are not in its list)
        if "count" not in self.asked and not self.shown_whole and not sub_calls and not is_empty_result(answer) \
                and unchecked_count(answer, self.query, seen):
            return self._ask("count", "a count of records the model never looked at",
                             prompts.unchecked_count(preview, self._counting_code(answer)))
        # a value searched for that came from elsewhere (the first line printed), not from the question's subject
        shown = f"{self.context_head or ''}\n{seen_text}"  # the first message showed the context's head
        borrowed = borrowed_value([code for code, _ in self.cells], self.query, shown) \
            if "borrowed" not in self.asked and subject is not None else None
        if borrowed is not None:
            objection = self._ask("borrowed", "the answer rests on a value seen only away from the question's subject",
                                  prompts.borrowed_value(preview, *borrowed, self.context_is_text))
            return replace(objection, borrowed=borrowed)
        twin = namesake_of(answer, self.query, seen_text) if "namesake" not in self.asked else None
        if twin is not None:  # a plural or a suffix may be the subject itself
            return self._ask("namesake", "the answer was read beside a longer name than the question's",
                             prompts.namesake_answer(preview, *twin))
        kind = asked_form(self.query)[0]
        read = number_is_read(self.query)
        # a count or a sum is computed, not read beside a name (a year is read); a phrase (a cause)
        # may be a sentence away from it
        apart = read_apart(answer, self.query, seen_text, names=kind == "name", numbers=read) \
            if "apart" not in self.asked and (kind != "number" or read) else None
        if apart is not None:  # a value may be named by a pronoun in the sentence after the name
            return self._ask("apart", "the answer was seen only away from the question's subject",
                             prompts.apart_answer(preview, apart, sentences_naming(apart, seen_text),
                                                  self.context_is_text))
        # beside the subject, but in words about something else (where she was born, not where she moved)
        off = read_off_topic(answer, self.query, seen_text, names=kind == "name", numbers=read) \
            if (kind != "number" or read) else None
        if off is not None:
            speaking = speaking_of(off[0], off[1], seen_text)
            # asked again only when the output has since shown where the subject and the question's words
            # meet (a small model printed "In 1945, Ottilie Crane moved her laboratory to Oldbury." and gave
            # its first answer again)
            if "relation" not in self.asked or speaking and not set(speaking) <= self.relation_shown:
                self.relation_shown.update(speaking)
                objection = self._ask("relation", "the answer was read beside the subject in text about something else",
                                      prompts.off_topic_answer(preview, *off, sentences_naming(off[0], seen_text),
                                                               self.context_is_text, speaking))
                return replace(objection, pieces=tuple(speaking or ()), about=(off[0], tuple(off[1]), False))
        # a question that names no subject: the answer stands beside its words, or nowhere
        # (a name or a code: a number printed alone is what a computation prints)
        bare = unanchored(answer, self.query, seen_text, names=kind == "name", numbers=False) \
            if "bare" not in self.asked and kind != "number" else None
        if bare is not None:
            objection = self._ask("bare", "the answer was seen only in text that says none of the question's words",
                                  prompts.unanchored_answer(preview, bare))
            return replace(objection, about=("", tuple(bare), False))
        return None

    def _where_to_read(self, subject: str | None, *, following: bool = False) -> tuple[str, tuple[str, ...], bool]:
        """Where the context's text to read anew is: around `subject` where it says the words the
        question asks of it, or, with no subject, in the lines that say the most of the asking
        sentence's words and terms (`following`: each with the line after it)."""
        if subject:
            return subject, tuple(asked_words(self.query, [subject])), False
        return "", tuple(content_words(asking_sentence(self.query)) + question_terms(self.query)), following

    def code_holding(self, value: str) -> str | None:
        """The latest cell kept whose code holds `value`."""
        return next((code for code, _ in reversed(self.cells) if code and value in code), None)

    def remember(self, code: str, stdout: str) -> None:
        """Keep a cell the model ran and the start of what it printed (the last KEEP_CELLS; the
        code only where it is short enough to be rewritten)."""
        self.cells.append((code if len(code) <= MAX_CODE_CHARS else "", stdout[:200]))
        del self.cells[:-KEEP_CELLS]

    def _counting_code(self, answer: str) -> str | None:
        """Code that shows what the latest cell printing `answer` counted (rlm/counted_lines.py)."""
        value = answer.strip().rstrip(".").replace(",", "")
        for code, stdout in reversed(self.cells):
            if value in stdout.replace(",", "").split():
                return show_counted(code)
        return None

    def _ask(self, check: str, reason: str, note: str) -> Objection:
        # read beside a namesake and seen away from the subject are one doubt: asked once between them
        self.asked.update(_SAME_DOUBT.get(check, (check,)))
        return Objection(reason, note)
