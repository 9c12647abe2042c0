"""multidoc: BrowseComp-Plus-shaped multi-hop questions over many generated documents.

People, companies and cities, one document each (plus filler documents about other things).
The answer needs a chain of 2 or 3 documents ("the founder of the company headquartered in
the city where X was born graduated in which year?"), with near-miss distractors: people with
similar names born elsewhere, and companies whose *former* headquarters (marked as outdated)
was the city in question. What is asked of the last person varies (graduation year or
school, profession, birth city or year: answers of four kinds), and so does the wording
("headquartered in" / "based in" / "whose head office is in"; the documents only ever say
"headquartered"). The context is a directory of text files. The gold evidence: the chain's
documents (for hops2 the company and its founder), each its title and facts.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from evals.generators.common import fit_tokens, rng_for
from evals.tasks import EvalError, Task, format_length, gold_span
from evals.textsource import essay_text
from evals.tokens import Tokenizer, tokenizer

FIRST = [
    "Amara", "Bruno", "Celia", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Keiko", "Lars", "Mira", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Soren", "Talia", "Umar",
    "Vera", "Wendel", "Xenia", "Yusuf", "Zora"
]
LAST = [
    "Abernathy", "Bellweather", "Castellano", "Draxler", "Eisenberg", "Fairbanks", "Galloway",
    "Hollister", "Ivanova", "Jankowski", "Kettering", "Lindqvist", "Marchetti", "Nakamura",
    "Okonkwo", "Pemberton", "Quiroga", "Rasmussen", "Sandoval", "Thorncastle", "Umbridge",
    "Valdivia", "Whitlock", "Yamamoto", "Zielinski"
]
CITY_A = [
    "North", "South", "East", "West", "New", "Old", "Port", "Fort", "Lake", "Glen", "Mount", "Saint"
]
CITY_B = [
    "haven", "ford", "bridge", "field", "ridge", "wood", "stone", "brook", "dale", "gate", "crest",
    "moor", "shire", "vale", "water", "burgh", "mouth", "ton", "ville", "wick"
]
INDUSTRY = [
    "shipping", "software", "textile", "mining", "biotech", "aerospace", "publishing", "robotics",
    "brewing", "solar"
]
UNIS = ["Halvorsen Institute", "University of Corrin", "Maribel College", "Eastgate Polytechnic",
        "Royal Academy of Tessaly", "Duvall University", "Kestrel Technical School", "Ardmore College",
        "University of Vellin", "Brightwater Institute", "Ostrava School of Design", "Calder University",
        "Pinecrest Academy", "University of Lowmarsh", "Saint Ives Conservatory", "Rendell Polytechnic",
        "Marlowe Institute of Technology", "Harrowgate College", "University of Tamsin", "Lucerne Academy"]
PROFESSIONS = [
    "architect", "violinist", "botanist", "journalist", "surgeon", "engineer", "novelist",
    "chemist", "pilot", "economist", "cartographer", "pharmacist", "sculptor", "geologist", "translator",
    "photographer", "astronomer", "veterinarian", "carpenter", "librarian"
]

# what is asked of the chain's last person: (question, how to answer, the fact's key)
ASKS = {
    "graduation_year": ("In which year did {who} graduate?", "Answer with the year only."),
    "school": ("From which institution did {who} graduate?", "Answer with the institution's name only."),
    "profession": ("What is the profession of {who}?", "Answer with the profession only (one word)."),
    "birth_city": ("What is the birth city of {who}?", "Answer with the city's name only."),
    "birth_year": ("What is the birth year of {who}?", "Answer with the year only."),
}
WHO = {
    "hops2": ("the founder of the company headquartered in {city}",
              "the person who founded the company based in {city}",
              "the founder of the company whose head office is in {city}"),
    "hops3": ("the founder of the company headquartered in the city where {person} was born",
              "the person who founded the company based in {person}'s birthplace",
              "the founder of the company whose head office is in the city {person} was born in"),
}
SUFFIX = ["Industries", "Holdings", "Labs", "Works", "Systems", "Group", "Partners", "Dynamics"]


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _name(rng: random.Random, taken: set[str]) -> str:
    while True:
        n = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if n not in taken:
            taken.add(n)
            return n


def _city(rng: random.Random, taken: set[str]) -> str:
    while True:
        c = f"{rng.choice(CITY_A)} {rng.choice(CITY_B).capitalize()}" if rng.random() < 0.5 else (
            rng.choice(CITY_A) + rng.choice(CITY_B))
        if c not in taken:
            taken.add(c)
            return c


def _company(rng: random.Random, taken: set[str]) -> str:
    while True:
        c = f"{rng.choice(LAST)} {rng.choice(SUFFIX)}"
        if c not in taken:
            taken.add(c)
            return c


def _similar(name: str, taken: set[str]) -> str:
    first, last = name.split(" ", 1)
    for variant in (f"{first} {last}e", f"{first}a {last}", f"{first} {last[:-1]}", f"{first[:-1]} {last}"):
        if variant not in taken:
            taken.add(variant)
            return variant
    return name + " Jr."


MAX_DOCS = 1000


def _pad(docs: list[tuple[str, str]], extra: int, rng: random.Random) -> list[tuple[str, str]]:
    """Lengthen every document with background prose (standard-library docstrings) so that
    together they add `extra` characters; the facts stay in each document's first lines."""
    prose = essay_text()
    per_doc, rest = divmod(extra, len(docs))
    out = []
    for i, (title, text) in enumerate(docs):
        want = per_doc + (1 if i < rest else 0)
        if want <= 20:
            out.append((title, text + " " * want))
            continue
        start = rng.randrange(len(prose))
        chunk = (prose[start:] + "\n" + prose)[: want - 14]
        out.append((title, f"{text}\n\nBackground:\n{chunk}"))
    return out


def generate(variant: str, length: int, index: int, seed: int, out_dir: Path,
             tok: Tokenizer | None = None) -> Task:
    tok = tok or tokenizer()
    if variant not in ("hops2", "hops3"):
        raise EvalError("multidoc variants: hops2, hops3")

    def build(budget: int) -> tuple[tuple[list[str], dict[str, Any]], int]:
        rng = rng_for(f"multidoc/{variant}", seed, index, length)
        ask = rng.randrange(len(ASKS))
        who = rng.choice(WHO[variant])
        bodies, chain = _documents(rng, budget)
        return (bodies, {**chain, "ask": ask, "who": who}), tok.count_all(bodies)

    (bodies, chain), tokens = fit_tokens(build, length, tok)
    task_id = f"multidoc-{variant}-{format_length(length)}-s{seed}-{index:04d}"
    rel = Path("contexts") / task_id
    folder = out_dir / rel
    folder.mkdir(parents=True, exist_ok=True)
    for n, body in enumerate(bodies):
        (folder / _doc_name(n)).write_text(body, encoding="utf-8")
    # hops2 names the city: the person born there is no part of the answer
    hops = chain["evidence"][1:] if variant == "hops2" else chain["evidence"]
    evidence = [gold_span(_doc_name(n), bodies[n], 0, passage) for n, passage in hops]
    ask, (question, how) = list(ASKS.items())[chain["ask"]]
    who = chain["who"].format(city=chain["city"], person=chain["person"])
    q = question.format(who=who) + " " + how
    return Task(id=task_id, suite="multidoc", variant=variant, length=length, chars=sum(map(len, bodies)),
                tokens=tokens, tokenizer=tok.name, question=q, gold=chain["facts"][ask], context_path=str(rel),
                gold_evidence=evidence,
                meta={"documents": len(bodies), "asks": ask,
                      "chain": [chain["person"], chain["city"], chain["company"], chain["founder"]],
                      "distractors": chain["distractors"]})


def _doc_name(n: int) -> str:
    return f"doc_{n:06d}.txt"


def _documents(rng: random.Random, budget: int) -> tuple[list[str], dict[str, Any]]:
    """The documents' texts (shuffled) about `budget` characters in all, and the chain asked about."""
    names: set[str] = set()
    cities: set[str] = set()
    companies: set[str] = set()
    docs: list[tuple[str, str]] = []  # (title, text)

    def person_doc(name: str, city: str, year: int, extra: str = "") -> tuple[str, str]:
        prof = rng.choice(PROFESSIONS)
        return (f"person: {name}", f"{name} is {_a(prof)}. {name} was born in {city} in {year}. {extra}".strip())

    def graduation(born: int) -> str:
        return f"They graduated from {rng.choice(UNIS)} in {born + rng.randint(21, 30)}."

    def founder_doc(name: str, firm: str, facts: dict[str, str]) -> tuple[str, str]:
        return (f"person: {name}", f"{name} founded {firm}. {name} is {_a(facts['profession'])}. {name} was born in "
                f"{facts['birth_city']} in {facts['birth_year']}. {name} graduated from {facts['school']} in "
                f"{facts['graduation_year']}.")

    def facts_of(city: str | None = None) -> dict[str, str]:
        born = rng.randint(1930, 1980)
        return {"profession": rng.choice(PROFESSIONS), "birth_city": city or _city(rng, cities),
                "birth_year": str(born), "school": rng.choice(UNIS), "graduation_year": str(born + rng.randint(21, 30))}

    # the chain
    target_city = _city(rng, cities)
    person = _name(rng, names)
    founder = _name(rng, names)
    company = _company(rng, companies)
    facts = facts_of()
    docs.append(person_doc(person, target_city, rng.randint(1950, 2000)))
    docs.append((f"company: {company}", f"{company} is {_a(rng.choice(INDUSTRY))} company headquartered in "
                 f"{target_city}. It was founded in {int(facts['birth_year']) + rng.randint(25, 40)} by {founder}."))
    docs.append(founder_doc(founder, company, facts))
    chain_docs = list(docs)  # as they are before any background prose is added
    # near misses
    twin = _similar(person, names)
    other_city = _city(rng, cities)
    docs.append(person_doc(twin, other_city, rng.randint(1950, 2000)))
    moved = _company(rng, companies)
    moved_founder = _name(rng, names)
    docs.append((f"company: {moved}", f"{moved} is {_a(rng.choice(INDUSTRY))} company headquartered in "
                 f"{other_city}. It was formerly headquartered in {target_city} (outdated: it moved in "
                 f"{rng.randint(2008, 2020)}). It was founded by {moved_founder}."))
    docs.append(founder_doc(moved_founder, moved, facts_of()))
    twin_founder = _similar(founder, names)
    twin_facts = facts_of()
    docs.append((f"person: {twin_founder}", f"{twin_founder} is {_a(twin_facts['profession'])}. {twin_founder} was "
                 f"born in {twin_facts['birth_city']} in {twin_facts['birth_year']}. They graduated from "
                 f"{twin_facts['school']} in {twin_facts['graduation_year']}."))
    # fill with unrelated people, companies and cities until the budget is used; names and
    # cities repeat once the pools run out, but never those of the chain
    reserved = {person, founder, twin, moved_founder}
    pool = sorted(cities - {target_city})

    def any_name() -> str:
        while True:
            n = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            if n not in reserved:
                return n

    def any_city() -> str:
        if len(cities) < 400:
            c = _city(rng, cities)
            pool.append(c)
            return c
        return rng.choice(pool)

    # about 1,000 documents (BrowseComp-Plus's shape); past that, documents grow longer with
    # real prose instead of growing in number
    size = sum(len(t) + len(x) + 3 for t, x in docs)
    while size < budget and len(docs) < MAX_DOCS:
        r = rng.random()
        if r < 0.4:
            born = rng.randint(1930, 1985)
            d = person_doc(any_name(), any_city(), born, graduation(born) if rng.random() < 0.5 else "")
        elif r < 0.7:
            c = _company(rng, companies) if len(companies) < 190 else f"{rng.choice(LAST)} {rng.choice(SUFFIX)}"
            if c in (company, moved):
                continue
            who = any_name()
            d = (f"company: {c}", f"{c} is {_a(rng.choice(INDUSTRY))} company headquartered in {any_city()}. "
                 f"It was founded in {rng.randint(1950, 2020)} by {who}.")
            if rng.random() < 0.7:  # founders have documents of their own, not only the chain's two
                docs.append(founder_doc(who, c, facts_of(any_city())))
                size += len(docs[-1][0]) + len(docs[-1][1]) + 3
        else:
            city = any_city()
            d = (f"city: {city}", f"{city} is a city of {rng.randint(5, 900) * 1000:,} people on the "
                 f"{rng.choice(['river', 'coast', 'plateau', 'lake'])}. Its main industry is "
                 f"{rng.choice(INDUSTRY)}; its oldest building dates from {rng.randint(1200, 1900)}.")
        docs.append(d)
        size += len(d[0]) + len(d[1]) + 3
    if size < budget:
        docs = _pad(docs, budget - size, rng)
    order = list(range(len(docs)))
    rng.shuffle(order)
    bodies = [f"{docs[i][0]}\n\n{docs[i][1]}\n" for i in order]
    # the passages the answer rests on: the chain's person, company and founder documents (0, 1
    # and 2 before the shuffle), each its title and facts (not the background prose after them)
    evidence = [(order.index(i), f"{chain_docs[i][0]}\n\n{chain_docs[i][1]}") for i in range(3)]
    return bodies, {"person": person, "city": target_city, "company": company, "founder": founder,
                    "facts": facts, "distractors": [twin, moved], "evidence": evidence}
