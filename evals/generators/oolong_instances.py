"""The instances of oolong's lines: questions whose answer type (trec_coarse's six labels) only
their meaning gives away.

Every instance names one noun of each of the six answer types: one is what the question asks
for (its head: "Name the *year* that ..."), the other five are things the question merely
mentions ("... the letter about the composer, the river, ..."). So every label's words occur
in every line, and a word occurs in a line of its own label exactly as often as the label
itself occurs: counting words (or pairs of words) tells nothing about the label. Which noun is
asked for depends on the sentence's structure (twelve frames, the head at a different place in
them), and what type its answer has on knowing what the noun means. Nouns that could belong to
two types ("date", "port", "conductor", "score") are left out of the pools.
"""

from __future__ import annotations

import random
import re

HEADS: dict[str, tuple[str, ...]] = {
    "numeric value": (
        "year", "decade", "century", "price", "cost", "distance", "height", "weight", "age", "population",
        "temperature", "speed", "percentage", "salary", "depth", "length", "width", "altitude", "budget",
        "fee", "wage", "rent", "tax rate", "ratio", "latitude", "longitude", "mileage", "dosage", "total",
        "sum", "frequency", "duration", "lifespan", "deadline", "birthday", "anniversary", "headcount",
        "elevation", "attendance", "tonnage", "wingspan", "diameter", "circumference", "voltage",
        "interest rate", "exchange rate", "death toll", "phone number", "zip code", "melting point",
        "boiling point", "acreage", "life expectancy", "birth rate", "top speed", "ticket price", "fare",
    ),
    "entity": (
        "instrument", "dish", "typeface", "ship", "disease", "language", "sport", "flower", "tree", "bird",
        "opera", "film", "car", "board game", "symphony", "painting", "mineral", "medicine", "fabric", "dance",
        "cheese", "wine", "spice", "tool", "weapon", "chemical element", "vehicle", "award", "beetle", "fern",
        "orchid", "locomotive", "sculpture", "poem", "song", "ballet", "carriage", "perfume", "gemstone",
        "fish", "mushroom", "insect", "herb", "fruit", "vegetable", "bread", "soup", "dessert", "pastry",
        "yacht", "aircraft", "rifle", "trophy", "religion", "holiday", "festival", "cocktail", "dye",
        "pigment", "alloy", "fossil", "toy", "hat", "breed of dog", "currency", "colour",
    ),
    "location": (
        "river", "harbour", "province", "island", "city", "village", "valley", "lake", "desert", "country",
        "bay", "peninsula", "canal", "county", "district", "strait", "glacier", "volcano", "forest", "region",
        "town", "coast", "oasis", "fjord", "canyon", "plateau", "suburb", "street", "continent", "mountain",
        "hill", "territory", "colony", "archipelago", "lagoon", "marsh", "prairie", "cove", "seaport",
        "borough", "parish", "neighbourhood", "avenue", "summit", "waterfall", "reef", "delta", "estuary",
        "gulf", "sea", "ocean", "creek", "cave", "cliff", "meadow", "ridge", "hamlet", "metropolis",
        "mountain pass", "border town", "capital city", "birthplace", "hometown", "headquarters",
        "destination", "homeland",
    ),
    "description and abstract concept": (
        "reason", "explanation", "meaning", "definition", "purpose", "cause", "method", "significance",
        "rationale", "motive", "mechanism", "interpretation", "moral", "lesson", "justification",
        "procedure", "excuse", "argument", "difference", "consequence", "effect", "principle", "process",
        "advantage", "drawback", "objection", "summary", "description", "premise", "strategy", "goal",
        "intention", "criticism", "complaint", "recommendation", "theme",
    ),
    "abbreviation": (
        "acronym", "abbreviation", "initialism", "short form", "full form", "long form", "contraction",
        "initials", "shortened name", "chemical symbol", "unit symbol", "ticker symbol",
        "postal abbreviation", "Latin abbreviation", "abbreviated title", "three-letter abbreviation",
    ),
    "human being": (
        "composer", "botanist", "general", "architect", "poet", "painter", "inventor", "surgeon", "novelist",
        "queen", "admiral", "explorer", "chemist", "mayor", "sculptor", "philosopher", "astronomer",
        "cartographer", "senator", "actress", "goalkeeper", "banker", "judge", "bishop", "merchant",
        "physician", "journalist", "engineer", "monk", "emperor", "lawyer", "nurse", "teacher",
        "mathematician", "playwright", "violinist", "chef", "pilot", "diplomat", "blacksmith", "carpenter",
        "historian", "librarian", "pharmacist", "geologist", "navigator", "shepherd", "tailor", "weaver",
        "governor", "ambassador", "biographer", "midwife", "locksmith", "stonemason", "translator",
        "economist", "zoologist", "choreographer", "photographer", "cellist", "sheriff", "abbot",
        "chancellor", "archivist", "apprentice", "captain", "detective", "founder", "heir",
    ),
}

DOCUMENTS = ("letter", "diary", "report", "lecture", "article", "chapter", "interview", "memoir", "logbook",
             "notebook", "broadcast", "footnote", "pamphlet", "ledger", "chronicle", "sermon", "telegram",
             "postcard", "travel guide", "museum label", "court record", "obituary", "newsletter")

# {H}: the noun asked for; {D1}..{D5}: the five mentioned; {K}: a document (no type's word).
# The asked noun is the first, second, ... sixth typed noun of the sentence in two frames each,
# so "the type of the n-th noun" is right one time in six, for every n; every typed noun follows
# "the", so the word before a noun does not tell the asked one either.
FRAMES = (
    "Name the {H} that the {D1} mentions in the {K} about the {D2}, the {D3}, the {D4} and the {D5}.",
    "What was the {H} recorded by the {D1} in the {K} about the {D2}, the {D3}, the {D4} and the {D5}?",
    "In the {K} about the {D1}, what is the {H} that the {D2} shares with the {D3}, the {D4} and the {D5}?",
    "After the {K} about the {D1}, what was the {H} that the {D2} named for the {D3}, the {D4} and the {D5}?",
    "The {K} on the {D1} and the {D2} gives the {H} for the {D3}, the {D4} and the {D5}: what is it?",
    "Once the {D1} had read the {K} on the {D2}, what was the {H} it found for the {D3}, the {D4} and the {D5}?",
    "In the {K} where the {D1} meets the {D2} near the {D3}, what is the {H} linked to the {D4} and the {D5}?",
    "Beside the {D1}, the {D2} and the {D3}, what is the {H} in the {K} about the {D4} and the {D5}?",
    "The {K} lists the {D1}, the {D2}, the {D3} and the {D4}; what is the {H} it gives for the {D5}?",
    "After reading the {K} that the {D1} sent to the {D2} about the {D3} and the {D4}, what is the {H} for the "
    "{D5}?",
    "The {K} about the {D1}, the {D2}, the {D3}, the {D4} and the {D5} also names the {H}: what is it?",
    "For the {D1}, the {D2}, the {D3}, the {D4} and the {D5}, the {K} records only the {H}; which one is it?",
)

LABEL_OF_HEAD = {noun: label for label, nouns in HEADS.items() for noun in nouns}


def instance(rng: random.Random, label: str) -> str:
    """A question asking for a noun of type `label` and mentioning one noun of each other type."""
    others = [lab for lab in HEADS if lab != label]
    rng.shuffle(others)
    fill = {f"D{i}": rng.choice(HEADS[lab]) for i, lab in enumerate(others, 1)}
    return rng.choice(FRAMES).format(H=rng.choice(HEADS[label]), K=rng.choice(DOCUMENTS), **fill)


def _frame_pattern(frame: str) -> re.Pattern[str]:
    pattern = re.escape(frame)
    pattern = pattern.replace(re.escape("{H}"), "(?P<head>.+?)", 1).replace(re.escape("{H}"), "(?P=head)")
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", ".+?", pattern) + "$")


_PATTERNS = tuple(_frame_pattern(f) for f in FRAMES)


def head_of(text: str) -> str | None:
    """The noun an instance asks for (what a reader finds by its structure), or None for a
    text no frame makes."""
    for rx in _PATTERNS:
        m = rx.match(text.strip())
        if m and m.group("head") in LABEL_OF_HEAD:
            return m.group("head")
    return None
