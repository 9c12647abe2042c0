"""Scripted strategies that solve small sniah and oolong-count tasks, for the eval pipeline
tests: an RLM root that writes real code for the sandbox, a sub-model that labels instances,
and a "long-context model" for the baselines that reads its prompt."""

from __future__ import annotations

import re

from scripted_server import Call

from evals.generators.oolong_instances import LABEL_OF_HEAD, head_of

# multidoc: a fact of a person's document, by the kind a task asks for (its value is group 1)
FACTS = {"graduation_year": r"graduated from [^.]*? in (\d{4})\.", "school": r"graduated from ([^.]*?) in \d{4}\.",
         "profession": r"is an? (\w+)\.", "birth_city": r"was born in ([^.]*?) in \d{4}\.",
         "birth_year": r"was born in [^.]*? in (\d{4})\."}


def label_of(instance: str) -> str:
    """What a model reading the instance answers: the type of the noun it asks for."""
    head = head_of(instance)
    return LABEL_OF_HEAD[head] if head else "unknown"


def _keys(question: str) -> list[str]:
    m = re.search(r"for (.+) mentioned", question)
    return re.split(r", | and ", m.group(1)) if m else []


def _values(text: str, keys: list[str]) -> list[str]:
    return [m.group(2) for m in re.finditer(r"special magic \w+ for (\S+) is: (\S+)\.", text) if m.group(1) in keys]


def _count_label(question: str) -> str | None:
    m = re.search(r"How many instances should be labelled '([^']+)'", question)
    return m.group(1) if m else None


def root(call: Call) -> str:
    """The RLM root: code over `context`, sub-calls to label instances, then FINAL_VAR."""
    if not call.is_root:  # the same model used by a baseline
        return reader(call)
    question = call.messages[1]["content"].split("\n\nThe context is in", 1)[0]
    if call.turn == 0:
        label = _count_label(question)
        if label:
            return ("```repl\nlines = [ln for ln in context.splitlines() if ln.strip()]\n"
                    "insts = [ln.split(' || Instance: ', 1)[1] for ln in lines]\n"
                    "labels = llm_query_batched(['Give the label of: ' + i for i in insts])\n"
                    f"out = 'Answer: ' + str(sum(1 for lab in labels if lab == {label!r}))\nprint(out)\n```")
        keys = _keys(question)
        return ("```repl\nimport re\nvals = []\n"
                f"for k in {keys!r}:\n"
                "    vals += re.findall(r'special magic \\w+ for ' + re.escape(k) + r' is: (\\S+)\\.', context)\n"
                "out = ', '.join(vals)\nprint(out)\n```")
    return "FINAL_VAR(out)"


def reader(call: Call) -> str:
    """Sub-calls and the baselines' single calls: label an instance, or read the prompt."""
    prompt = call.prompt
    if prompt.startswith("Give the label of: "):
        return label_of(prompt[len("Give the label of: "):])
    question = prompt.rsplit("Question: ", 1)[-1]
    if "Rewrite your notes" in prompt:  # summary: carry needles and a running count
        question = prompt.split("Question: ", 1)[1].split("\n", 1)[0]
        previous = prompt.split("Your notes so far:\n", 1)[1].split("\n\nNext part", 1)[0]
        part = prompt.split("characters):\n", 1)[1].rsplit("\n\nRewrite your notes", 1)[0]
        kept = re.findall(r"One of the special magic .*?\.", previous + " " + part)
        label = _count_label(question)
        count = int(re.search(r"count so far: (\d+)", previous).group(1)) if "count so far" in previous else 0
        if label:
            count += sum(1 for inst in re.findall(r"Instance: (.*)", part) if label_of(inst) == label)
        return " ".join(kept) + f"\ncount so far: {count}"
    label = _count_label(question)
    if label:
        if "count so far" in prompt:
            return "Answer: " + re.findall(r"count so far: (\d+)", prompt)[-1]
        n = sum(1 for inst in re.findall(r"Instance: (.*)", prompt) if label_of(inst) == label)
        return f"Answer: {n}"
    return ", ".join(_values(prompt, _keys(question))) or "I could not find it."
