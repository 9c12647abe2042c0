"""The instances of oolong's lines: questions whose answer type (trec_coarse's six labels) only
their meaning gives away.

Every instance asks for one noun (its head: "Name the *year* that ...") and mentions others
("... the letter about the composer, the river, ..."). The mentions are drawn so that every
type's nouns occur in a line as often, on average, whatever its label: a type other than the
label is mentioned 0 to 3 times, the label's own type 0 or 1 times besides the head (1.5 on
average either way). So counting words tells nothing about the label; nouns of one type may
share a line and a type may be missing, so which noun is which type cannot be solved like a
puzzle from a few labelled lines either. Which noun is asked for depends on the sentence's
structure (frames, the head at different places; words that introduce the head introduce
mentions too), and what type its answer has on knowing what the noun means. Nouns with two
readings ("date", "port", "summit", "queen", "age") are left out of the pools.
"""

from __future__ import annotations

import random
import re

HEADS: dict[str, tuple[str, ...]] = {
    "numeric value": (
        "year", "decade", "century", "price", "cost", "distance", "height", "weight", "population",
        "temperature", "speed", "percentage", "salary", "depth", "length", "width", "altitude", "budget",
        "fee", "wage", "rent", "tax rate", "ratio", "latitude", "longitude", "mileage", "dosage", "total",
        "sum", "frequency", "duration", "lifespan", "deadline", "birthday", "headcount",
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
        "pigment", "alloy", "fossil", "toy", "hat", "dog breed", "currency", "colour",
    ),
    "location": (
        "river", "harbour", "province", "island", "city", "village", "valley", "lake", "desert", "country",
        "bay", "peninsula", "canal", "county", "district", "strait", "glacier", "volcano", "forest", "region",
        "town", "coast", "oasis", "fjord", "canyon", "plateau", "suburb", "street", "continent", "mountain",
        "hill", "territory", "archipelago", "lagoon", "marsh", "prairie", "cove", "seaport",
        "borough", "neighbourhood", "avenue", "waterfall", "reef", "estuary",
        "gulf", "sea", "ocean", "creek", "cave", "cliff", "meadow", "ridge", "hamlet", "metropolis",
        "mountain pass", "border town", "capital city", "birthplace", "hometown",
        "destination", "homeland",
    ),
    "description and abstract concept": (
        "reason", "explanation", "meaning", "definition", "purpose", "method", "significance",
        "rationale", "motive", "mechanism", "interpretation", "moral", "lesson", "justification",
        "procedure", "excuse", "argument", "difference", "consequence", "effect", "principle", "process",
        "advantage", "drawback", "objection", "summary", "description", "premise", "strategy",
        "intention", "criticism", "complaint", "recommendation",
    ),
    "abbreviation": (
        "acronym", "abbreviation", "initialism", "short form", "full form", "long form",

        "postal abbreviation", "Latin abbreviation", "official abbreviation", "standard abbreviation",
        "usual acronym", "official acronym", "expanded form", "spelled-out form", "abbreviated form",
        "common abbreviation", "English acronym", "original acronym",
    ),
    "human being": (
        "composer", "botanist", "architect", "poet", "painter", "inventor", "surgeon", "novelist",
        "admiral", "explorer", "chemist", "mayor", "sculptor", "philosopher", "astronomer",
        "cartographer", "senator", "actress", "goalkeeper", "banker", "judge", "bishop", "merchant",
        "physician", "journalist", "engineer", "monk", "emperor", "lawyer", "teacher",
        "mathematician", "playwright", "violinist", "chef", "diplomat", "blacksmith", "carpenter",
        "historian", "librarian", "pharmacist", "geologist", "navigator", "shepherd", "tailor", "weaver",
        "governor", "ambassador", "biographer", "midwife", "locksmith", "stonemason", "translator",
        "economist", "zoologist", "choreographer", "photographer", "cellist", "sheriff", "abbot",
        "chancellor", "archivist", "apprentice", "captain", "detective", "founder", "heir",
    ),
}

DOCUMENTS = ("letter", "diary", "report", "lecture", "article", "chapter", "interview", "memoir", "logbook",
             "notebook", "broadcast", "footnote", "pamphlet", "ledger", "chronicle", "sermon", "telegram",
             "postcard", "court record", "obituary", "newsletter")

# {H}: the noun asked for; {A}, {B}: lists of mentioned nouns ("the X, the Y and the Z");
# {K}: a document (no type's word); {M}: one mentioned noun, introduced by words that also
# introduce heads ("names the", "gives the", "is the"). The head is the first typed noun in two
# frames, the last in one.
FRAMES = (
    "Name the {H} that the {K} about {A} gives for {B}.",
    "What was the {H} recorded in the {K} on {A}, beside {B}?",
    "In the {K} about {A}, what is the {H} linked to {B}?",
    "The {K} on {A} also covers {B}; what is the {H} it gives?",
    "According to the {K} about {A}, what is the {H} shared by {B}?",
    "In the {K} that mentions {A}, tell me the {H} that goes with {B}.",
    "Besides {A}, the {K} names the {H} for {B}: what is it?",
    "After reading the {K} about {A}, what is the {H} given for {B}?",
    "For {A}, the {K} records the {H} of {B}; what is it?",
    "The {K} that names the {M} for {A} also gives the {H} for {B}: what is it?",
    "Where the {K} is the source of the {M} and of {A}, what is the {H} given for {B}?",
    "The {K} gives the {M} beside {A}; name the {H} it gives for {B}.",
)

LABEL_OF_HEAD = {noun: label for label, nouns in HEADS.items() for noun in nouns}


def _mentions(rng: random.Random, label: str) -> list[str]:
    """The types of a line's mentioned nouns: 0-3 of each other type, 0-1 of the label's own
    (with the head, 1.5 of every type on average whatever the label), at least three."""
    while True:
        kinds = [lab for lab in HEADS for _ in range(rng.randint(0, 1) if lab == label else rng.randint(0, 3))]
        if len(kinds) >= 3:
            rng.shuffle(kinds)
            return kinds


# every noun, asked for or mentioned, comes with one of these: the word before a noun is then
# never the word that says whether it is the one asked for ("is the main composer"), and a
# noun's type is never a matter of the two or three words around it
ADJECTIVES = ("main", "first", "second", "original", "earliest", "latest", "exact", "usual", "official",
              "likely", "true", "disputed", "recorded", "listed", "supposed", "only", "last", "other", "same",
              "actual", "correct", "famous", "forgotten", "unusual", "expected", "new", "old", "current",
              "former", "proper", "typical", "known", "unknown", "right", "wrong", "better", "best", "worst",
              "real", "chief")


def _with_adjective(rng: random.Random, noun: str) -> str:
    """`noun` after one of ADJECTIVES, not the one it starts with ("official acronym")."""
    return f"{rng.choice([a for a in ADJECTIVES if not noun.startswith(a + ' ')])} {noun}"


def _listed(rng: random.Random, nouns: list[str]) -> str:
    the = [f"the {_with_adjective(rng, n)}" for n in nouns]
    return the[0] if len(the) == 1 else ", ".join(the[:-1]) + " and " + the[-1]


def instance(rng: random.Random, label: str) -> str:
    """A question asking for a noun of type `label` and mentioning others (see the module)."""
    head = rng.choice(HEADS[label])
    nouns = []
    for kind in _mentions(rng, label):
        pool = [n for n in HEADS[kind] if n != head and n not in nouns]
        nouns.append(rng.choice(pool))
    frame = rng.choice(FRAMES)
    single = "{M}" in frame
    first = _with_adjective(rng, nouns.pop()) if single else ""
    cut = rng.randint(1, len(nouns) - 1)
    return frame.format(H=_with_adjective(rng, head), K=rng.choice(DOCUMENTS),
                        A=_listed(rng, nouns[:cut]), B=_listed(rng, nouns[cut:]), M=first)


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
        head = m.group("head").split(" ", 1)[-1] if m else ""
        if head in LABEL_OF_HEAD:
            return head
    return None
