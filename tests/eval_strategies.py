"""Scripted strategies that solve small sniah, multidoc and oolong-count tasks, for the eval
pipeline tests: an RLM root that writes real code for the sandbox (and cites the needles and the
chain's documents it found), a careless root that cites a passage that is no needle besides, a
sub-model that labels instances, and a "long-context model" for the baselines that reads its prompt."""

from __future__ import annotations

import re

from scripted_server import Call

from evals.generators.multidoc import ASKS, WHO
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


def _hops(question: str) -> tuple[str, str, str] | None:
    """A multidoc question's (what is asked, "city" or "person", its name), or None."""
    for ask, (template, how) in ASKS.items():
        m = re.search(re.escape(template).replace(r"\{who\}", "(.+)") + " " + re.escape(how), question)
        if not m:
            continue
        for variant in ("hops3", "hops2"):  # hops2's wordings would swallow hops3's
            for wording in WHO[variant]:
                rx = re.escape(wording).replace(r"\{city\}", "(?P<city>.+)").replace(r"\{person\}", "(?P<person>.+)")
                w = re.fullmatch(rx, m.group(1))
                if w:
                    kind = "person" if variant == "hops3" else "city"
                    return ask, kind, w.group(kind)
    return None


def _multidoc_code(ask: str, kind: str, name: str) -> str:
    """Follow the chain with regular expressions over the documents, citing each hop's match."""
    code = "import re\n"
    if kind == "person":
        code += (f"mp = re.search(r'\\b' + re.escape({name!r}) + r' was born in ([^.]*?) in \\d{{4}}\\.', context)\n"
                 "cite(mp)\ncity = mp.group(1)\n")
    else:
        code += f"city = {name!r}\n"
    return code + ("mc = re.search(r'headquartered in ' + re.escape(city) + r'\\. It was founded in \\d{4} by ([^.]+)\\.', "
                   "context)\ncite(mc)\n"
                   "mf = re.search(r'\\b' + re.escape(mc.group(1)) + r' founded [^\\n]*', context)\ncite(mf)\n"
                   f"out = re.search({FACTS[ask]!r}, mf.group(0)).group(1)\nprint(out)\n")


def root(call: Call, *, careless: bool = False) -> str:
    """The RLM root: code over `context`, sub-calls to label instances, then FINAL_VAR; it cites
    the needles and the chain's documents it used (`careless`: and a sentence that is no needle)."""
    if not call.is_root:  # the same model used by a baseline
        return reader(call)
    question = call.messages[1]["content"].split("\n\nThe context is in", 1)[0]
    if call.turn == 0:
        hops = _hops(question)
        if hops:
            return "```repl\n" + _multidoc_code(*hops) + "```"
        label = _count_label(question)
        if label:
            return ("```repl\nlines = [ln for ln in context.splitlines() if ln.strip()]\n"
                    "insts = [ln.split(' || Instance: ', 1)[1] for ln in lines]\n"
                    "labels = llm_query_batched(['Give the label of: ' + i for i in insts])\n"
                    f"out = 'Answer: ' + str(sum(1 for lab in labels if lab == {label!r}))\nprint(out)\n```")
        keys = _keys(question)
        wrong = ("bad = next(m for m in re.finditer(r'[A-Z][^.\\n]{10,80}\\.', context) if 'special magic' not in "
                 "m.group(0))\ncite(bad)\n") if careless else ""
        return ("```repl\nimport re\nvals = []\n"
                f"for k in {keys!r}:\n"
                "    for m in re.finditer(r'One of the special magic \\w+ for ' + re.escape(k) + r' is: (\\S+)\\.', "
                "context):\n"
                "        vals.append(m.group(1))\n        cite(m)\n" + wrong +
                "out = ', '.join(vals)\nprint(out)\n```")
    return "FINAL_VAR(out)"


def careless_root(call: Call) -> str:
    """The root that cites a sentence of the haystack besides the needles (precision below 1)."""
    return root(call, careless=True)


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
