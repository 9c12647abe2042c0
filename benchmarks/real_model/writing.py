"""The prose-shaped kinds of the real-model bench: prose_fact (a fact stated once among similar
sentences), cause (why one incident happened, in an incident log), and documents (a folder of
files where one holds the answer).

Builders return a `Made` (see records.py) whose meta names the evidence: the sentence or line
that states the gold, the phrase that identifies it (`key`, which occurs once), and for
documents the file that holds it."""

from __future__ import annotations

import random
from typing import Any

from benchmarks.real_model import texts as tx
from benchmarks.real_model.records import Made

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def _spread(rng: random.Random, paras: list[str], sentences: list[str]) -> list[str]:
    """Each sentence added to the start or end of a random paragraph."""
    for s in sentences:
        i = rng.randrange(len(paras))
        paras[i] = f"{s} {paras[i]}" if rng.random() < 0.5 else f"{paras[i]} {s}"
    return paras


def _prose_task(rng: random.Random, chars: int, sentences: list[str], question: str, gold: Any,
                evidence: str, key: str) -> Made:
    paras = _spread(rng, tx.prose(rng, chars), sentences)
    meta = {"format": "prose", "evidence": evidence, "key": key}
    return Made(f"The context is a long text about a region's history. {question}", gold, meta,
                "\n\n".join(paras) + "\n")


# reserved for the facts asked about, so that the filler text never names them
_T_FIRST = ["Helena", "Marguerite", "Ottilie", "Constance", "Rosalind", "Philippa"]
_T_LAST = ["Voss", "Arden", "Lisle", "Crane", "Holt", "Marsh"]


def fact_laboratory(rng: random.Random, chars: int) -> Made:
    first, last = rng.choice(_T_FIRST), rng.choice(_T_LAST)
    who, near1, near2 = f"{first} {last}", f"{first} {last}ley", f"{rng.choice(tx.FIRST)} {last}"
    city, c1, c2, c3, c4 = rng.sample(tx.CITIES, 5)
    fact = f"In {rng.randint(1890, 1960)}, {who} moved her laboratory to {city}."
    others = [f"In {rng.randint(1890, 1960)}, {near1} moved her laboratory to {c1}.",
              f"{near2} moved her laboratory to {c2} after a long dispute with the university.",
              f"{who} was born in {c3} and spent her childhood near the river.",
              f"{who} gave her first public lecture in {c4}, on the chemistry of dyes."]
    return _prose_task(rng, chars, [fact, *others],
                       f"To which city did {who} move her laboratory? Answer with the city name only.",
                       city, fact, f"{who} moved her laboratory")


def fact_ship(rng: random.Random, chars: int) -> Made:
    adj, adj2 = rng.sample(["Northern", "Silver", "Morning", "Restless", "Amber", "Patient"], 2)
    noun = rng.choice(["Star", "Heron", "Tide", "Lantern", "Gull", "Promise"])
    ship = f"{adj} {noun}"
    port, p1, p2 = rng.sample(tx.CITIES, 3)
    year = rng.randint(1840, 1910)
    fact = f"The steamship {ship} was launched at {port} in {year}."
    others = [f"The steamship {ship} was refitted at {p1} in {year + rng.randint(8, 20)}.",
              f"The steamship {ship} II was launched at {p2} in {year + rng.randint(21, 40)}.",
              f"The steamship {adj2} {noun} was launched in {year - rng.randint(3, 15)} to carry mail.",
              f"The steamship {ship} was finally broken up in {year + rng.randint(41, 60)}."]
    return _prose_task(rng, chars, [fact, *others],
                       f"In which year was the steamship {ship} launched? Answer with the year only.",
                       year, fact, f"The steamship {ship} was launched")


def fact_founder(rng: random.Random, chars: int) -> Made:
    city, city2 = rng.sample(tx.CITIES, 2)
    kind, kind2 = rng.sample(["Chess Society", "Rowing Club", "Choral Society", "Camera Club", "Astronomy Circle"], 2)
    club = f"{city} {kind}"
    names = rng.sample([f"{f} {la}" for f in tx.FIRST for la in tx.LAST], 4)
    fact = f"The {club} was founded in {rng.randint(1850, 1930)} by a schoolteacher named {names[0]}."
    others = [f"The {city} {kind2} was founded in {rng.randint(1850, 1930)} by a retired sailor named {names[1]}.",
              f"The {city2} {kind} was founded by {names[2]}, who also ran the town's bakery.",
              f"{names[3]} served as the first treasurer of the {club}."]
    return _prose_task(rng, chars, [fact, *others],
                       f"Who founded the {club}? Answer with the person's full name only.",
                       names[0], fact, f"The {club} was founded")


def fact_bridge(rng: random.Random, chars: int) -> Made:
    name = rng.choice(["Old Mill", "Kings Ferry", "Saltmarsh", "Hollow Lane", "Abbey", "Tanners"])
    bridge = f"{name} Bridge"
    length = rng.randint(120, 900)
    fact = f"The {bridge} is {length} metres long, built of grey stone."
    others = [f"The {bridge} rises {rng.randint(8, 40)} metres above the water at its highest point.",
              f"The {name} Footbridge is {length + rng.randint(-100, -20)} metres long.",
              f"The {name} Viaduct is {length + rng.randint(30, 200)} metres long.",
              f"Around {rng.randint(200, 900)} carts crossed the {bridge} each day in {rng.randint(1850, 1900)}."]
    return _prose_task(rng, chars, [fact, *others],
                       f"How long is the {bridge}, in metres? Answer with the number only.",
                       length, fact, f"The {bridge} is")


# ----- cause --------------------------------------------------------------------------------------------

# (how the report says it, the short gold, the keywords an answer must hold: each a list of alternatives)
CAUSES: list[tuple[str, str, list[list[str]]]] = [
    ("an expired TLS certificate on the internal load balancer", "expired TLS certificate",
     [["expired", "expiry"], ["cert"]]),
    ("the primary database disk filling up completely", "database disk full", [["disk"]]),
    ("a misconfigured DNS record for the internal API hostname", "misconfigured DNS record", [["dns"]]),
    ("a memory leak in the session cache", "memory leak", [["leak"]]),
    ("a feature flag switched on for all customers by mistake", "feature flag", [["flag"]]),
    ("a fibre cut between the two data centres", "fibre cut", [["fibre", "fiber"]]),
    ("clock drift on the token signing servers", "clock drift", [["clock"]]),
    ("a runaway batch job that exhausted the connection pool", "connection pool exhausted", [["pool"]]),
    ("a schema migration that locked the orders table", "schema migration", [["migration"]]),
    ("a cooling failure in rack B7", "cooling failure", [["cooling"]]),
    ("the message broker running out of memory", "message broker out of memory", [["broker"]]),
    ("a power outage in the eu-west data centre", "power outage", [["power"]]),
    ("rate limiting by the upstream email provider", "rate limiting", [["rate limit"]]),
    ("a bad kernel upgrade on the storage nodes", "kernel upgrade", [["kernel"]]),
]
_CAUSE_SENTENCES = ["The root cause was {cause}.", "The investigation found that the outage was caused by {cause}.",
                    "Engineers traced the failure to {cause}.", "The review concluded that {cause} was to blame."]
_HERRING = "Engineers first suspected {cause}, but that was ruled out."
_OPS_NOTES = [
    "Change CHG-{n}: {service} was upgraded to version {v} during the maintenance window.",
    "The on-call rotation for {service} passed to {person} this week.",
    "Capacity review: {service} peaked at {n} requests per second with headroom to spare.",
    "{person} reminded everyone that runbooks for {service} must be reviewed every quarter.",
    "Dashboards for {service} were reorganised; the old links redirect for one more month.",
    "A game day for {service} is planned; {person} will coordinate the failover drill.",
]


_SYMPTOMS = ["elevated error rates", "a drop in successful requests", "timeouts", "failed health checks"]


def _date(day: int) -> str:
    """Day `day` of 2023-2024 as '14 March 2024' (months of 28 days keep every date real)."""
    year, rest = 2023 + day // 336, day % 336
    return f"{rest % 28 + 1} {MONTHS[rest // 28]} {year}"


def _incident(rng: random.Random, number: int, service: str, date: str, cause: str, herring: str | None) -> str:
    lines = [f"Incident INC-{number}: {service} outage on {date}",
             f"At {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d} UTC monitoring reported "
             f"{rng.choice(_SYMPTOMS)} "
             f"in the {service} service.",
             f"About {rng.randint(2, 60)}% of requests failed for {rng.randint(5, 180)} minutes."]
    if herring:
        lines.append(_HERRING.format(cause=herring))
    lines.append(rng.choice(_CAUSE_SENTENCES).format(cause=cause))
    lines.append(f"{tx.person(rng)} led the response; service was restored after "
                 f"{rng.choice(['a rollback', 'a failover to the standby region', 'a manual fix', 'a restart'])}.")
    return lines[0] + "\n" + " ".join(lines[1:])


def cause(rng: random.Random, chars: int) -> Made:
    service, day = rng.choice(tx.SERVICES), rng.randrange(672)
    which = rng.randrange(len(CAUSES))
    phrase, gold, keywords = CAUSES[which]
    others = [c for i, c in enumerate(CAUSES) if i != which]
    # near misses: the same service on other days, other services on the same day
    near = [(service, _date(d)) for d in rng.sample([d for d in range(672) if d != day], 3)]
    near += [(s, _date(day)) for s in rng.sample([s for s in tx.SERVICES if s != service], 2)]
    taken = {(service, _date(day)), *near}
    blocks: list[str] = []
    size, number = 0, rng.randint(1000, 2000)
    target_block = _incident(rng, number, service, _date(day), phrase, rng.choice(others)[0])
    for s, d in near:
        number += rng.randint(1, 9)
        blocks.append(_incident(rng, number, s, d, rng.choice(others)[0], None))
    while size < chars:
        if rng.random() < 0.6:
            s, d = rng.choice(tx.SERVICES), _date(rng.randrange(672))
            if (s, d) in taken:
                continue
            taken.add((s, d))
            number += rng.randint(1, 9)
            herring = rng.choice(CAUSES)[0] if rng.random() < 0.3 else None
            # the same service or day as the one asked about never has its cause
            pool = others if s == service or d == _date(day) else CAUSES
            blocks.append(_incident(rng, number, s, d, rng.choice(pool)[0], herring))
        else:
            names = [tx.person(rng) for _ in range(2)]
            blocks.append("Operations note\n" + " ".join(
                rng.choice(_OPS_NOTES).format(n=rng.randint(1000, 9999), v=f"{rng.randint(1, 9)}.{rng.randint(0, 30)}",
                                              service=rng.choice(tx.SERVICES), person=rng.choice(names))
                for _ in range(rng.randint(3, 6))))
        size += len(blocks[-1]) + 2
    rng.shuffle(blocks)
    blocks.insert(rng.randint(1, len(blocks) - 1), target_block)
    evidence = next(s for s in target_block.split(". ") if phrase in s)
    date = _date(day)
    meta = {"format": "incidents", "keywords": keywords, "evidence": evidence, "cause": phrase,
            "key": f"{service} outage on {date}\n", "answer": "keywords"}
    q = (f"The context is an incident log with operations notes. Why did the {service} outage on {date} happen? "
         "Answer with a short phrase naming the cause.")
    return Made(q, gold, meta, "\n\n".join(blocks) + "\n")


# ----- documents ----------------------------------------------------------------------------------------

def _count_files(chars: int, per_file: int) -> int:
    return max(20, min(200, chars // per_file))


def _pad(rng: random.Random, head: str, size: int, sentences: list[str], **slots: Any) -> str:
    """`head`, then sentences from `sentences` until about `size` characters."""
    out: list[str] = []
    total = len(head)
    while total < size:
        s = rng.choice(sentences).format(**slots, n=rng.randint(2, 40), city=rng.choice(tx.CITIES),
                                         service=rng.choice(tx.SERVICES))
        out.append(s)
        total += len(s) + 1
    return head + " ".join(out)


_PRODUCT = ["The {name} is designed for everyday use in homes and small offices.",
            "Customers in {city} rated the {name} highly for its build quality.",
            "Replacement parts for the {name} are stocked for at least {n} years.",
            "The {name} ships in recyclable packaging with a printed quick-start guide.",
            "Clean the {name} with a dry cloth; do not use solvents.",
            "The {name} passed {n} separate drop and heat tests before release."]


def docs_products(rng: random.Random, chars: int) -> Made:
    series = ["Aurora", "Nimbus", "Harbor", "Vesta", "Lumen", "Cinder", "Orbit", "Willow", "Quill", "Summit"]
    kinds = ["Desk Lamp", "Floor Lamp", "Kettle", "Toaster", "Fan", "Heater", "Blender", "Speaker"]
    n = _count_files(chars, 2600)
    s, k, num = rng.choice(series), rng.choice(kinds), rng.randint(1, 5)
    target = f"{s} {num} {k}"
    names = [target, f"{s} {num % 5 + 1} {k}", f"{s} {num} {rng.choice([x for x in kinds if x != k])}"]
    pool = [f"{a} {b} {c}" for a in series for b in range(1, 6) for c in kinds]
    names += rng.sample([x for x in pool if x not in names], n - len(names))
    rng.shuffle(names)
    skus = rng.sample(range(10000, 99999), n)
    files, gold, where = {}, 0, ""
    for name, sku in zip(names, skus, strict=True):
        warranty = rng.choice([6, 12, 18, 24, 36, 48, 60])
        head = (f"# {name}\nSKU: SKU-{sku}\nCategory: {name.split(' ', 2)[2]}\nPrice: ${rng.randint(19, 399)}.99\n"
                f"Warranty: {warranty} months\nWeight: {rng.uniform(0.3, 6):.1f} kg\n\n## Description\n")
        path = f"products/SKU-{sku}.md"
        files[path] = _pad(rng, head, chars // n, _PRODUCT, name=name) + "\n"
        if name == target:
            gold, where = warranty, path
    q = (f"The context is a folder of product sheets, one product per file. What is the warranty period, in months, "
         f"of the {target}? Answer with the number only.")
    meta = {"format": "files", "file": where, "evidence": f"Warranty: {gold} months", "key": f"# {target}\n"}
    return Made(q, gold, meta, files=files)


_DISCUSSION = ["The team reviewed the {service} error budget; {n} percent remains for the quarter.",
               "Latency on {service} improved after last week's cache change.",
               "There was a long discussion about moving {service} to the new cluster in {city}.",
               "Nobody objected to freezing {service} deploys during the audit.",
               "The incident from last week was discussed; the write-up for {service} is nearly done.",
               "Hiring for the {service} team continues; {n} candidates are in the pipeline."]
_VERBS = ["migrate", "audit", "document", "retire", "upgrade", "load-test"]
_THINGS = ["cron jobs", "dashboards", "alert rules", "TLS certificates", "runbooks", "database replicas"]


def docs_meetings(rng: random.Random, chars: int) -> Made:
    n = _count_files(chars, 2400)
    teams = ["platform", "payments", "search", "mobile", "data", "security", "growth", "infra"]
    people = sorted({tx.person(rng) for _ in range(60)})
    verb, thing, service = rng.choice(_VERBS), rng.choice(_THINGS), rng.choice(tx.SERVICES)
    target = f"{verb} the {service} {thing}"
    near = [f"{verb} the {rng.choice([s for s in tx.SERVICES if s != service])} {thing}",
            f"{rng.choice([v for v in _VERBS if v != verb])} the {service} {thing}"]
    used = {target, *near}
    slots = rng.sample(range(n), 3)
    files, gold, where = {}, "", ""
    dates = sorted(rng.sample(range(336), n))
    for i, day in enumerate(dates):
        team = rng.choice(teams)
        date = f"2024-{day // 28 % 12 + 1:02d}-{day % 28 + 1:02d}"
        attendees = rng.sample(people, 5)
        items = []
        for _ in range(rng.randint(2, 4)):
            a = f"{rng.choice(_VERBS)} the {rng.choice(tx.SERVICES)} {rng.choice(_THINGS)}"
            if a not in used:
                used.add(a)
                items.append((rng.choice(attendees), a))
        if i in slots:
            special = [target, *near][slots.index(i)]
            owner = rng.choice(attendees)
            items.insert(rng.randint(0, len(items)), (owner, special))
            if special == target:
                gold, where = owner, f"meetings/{date}-{team}-sync-{i:03d}.md"
        head = f"# {team.title()} sync, {date}\nAttendees: {', '.join(attendees)}\n\n## Discussion\n"
        body = _pad(rng, head, chars // n - 150, _DISCUSSION)
        actions = "".join(f"- {who} to {what} by {date[:8]}{rng.randint(1, 28):02d}\n" for who, what in items)
        files[f"meetings/{date}-{team}-sync-{i:03d}.md"] = f"{body}\n\n## Action items\n{actions}"
    q = (f"The context is a folder of meeting notes. Who was given the action item to {target}? "
         "Answer with the person's full name only.")
    meta = {"format": "files", "file": where, "evidence": f"- {gold} to {target} by", "key": f" to {target} by"}
    return Made(q, gold, meta, files=files)


_CLAUSES = ["The Supplier shall maintain insurance cover of at least {n} million for the duration of this agreement.",
            "Invoices are payable within {n} days of receipt unless disputed in writing.",
            "Each party shall keep the other's confidential information secret for {n} years after termination.",
            "The Supplier shall meet the service levels in Schedule {n} and report on them monthly.",
            "Disputes shall first be referred to a meeting of senior managers held in {city}.",
            "Neither party is liable for delays caused by events beyond its reasonable control."]


def docs_contracts(rng: random.Random, chars: int) -> Made:
    words = ["Brightline", "Northstar", "Keystone", "Bluewater", "Ironbridge", "Silverleaf", "Redwood", "Summit"]
    kinds = ["Logistics", "Freight", "Analytics", "Cleaning Services", "Catering", "Security", "Software", "Staffing"]
    w, k = rng.choice(words), rng.choice(kinds)
    target = f"{w} {k}"
    vendors = [target, f"{w} {rng.choice([x for x in kinds if x != k])}",
               f"{rng.choice([x for x in words if x != w])} {k}"]
    pool = [f"{a} {b}" for a in words for b in kinds if f"{a} {b}" not in vendors]
    n = min(_count_files(chars, 3500), len(pool) + len(vendors))
    vendors += rng.sample(pool, n - len(vendors))
    rng.shuffle(vendors)
    ids = rng.sample(range(1000, 9999), n)
    files, gold, where = {}, 0, ""
    for vendor, cid in zip(vendors, ids, strict=True):
        notice = rng.choice([14, 30, 45, 60, 90, 120])
        head = (f"MASTER SERVICES AGREEMENT No. {cid}\n\nThis agreement is made between Acme Retail Ltd "
                f"(the Customer) and {vendor} (the Supplier).\n\n"
                f"1. Term. This agreement runs for {rng.choice([12, 24, 36])} months from signature.\n"
                f"2. Termination. Either party may terminate this agreement with {notice} days' written notice.\n"
                f"3. Liability. Each party's liability is capped at {rng.randint(1, 20)} times the annual fees.\n"
                "4. General.\n")
        path = f"contracts/contract-{cid}.txt"
        files[path] = _pad(rng, head, chars // n, _CLAUSES) + "\n"
        if vendor == target:
            gold, where = notice, path
    q = (f"The context is a folder of supplier contracts. How many days' written notice are needed to terminate the "
         f"agreement with {target}? Answer with the number only.")
    meta = {"format": "files", "file": where, "evidence": f"with {gold} days' written notice",
            "key": f"{target} (the Supplier)"}
    return Made(q, gold, meta, files=files)


_BIO = ["{name} joined the company after several years in {city}.", "{name} enjoys long walks and local history.",
        "Colleagues know {name} for careful code reviews.", "{name} has mentored {n} new starters so far.",
        "Before this role, {name} worked on logistics software in {city}.",
        "{name} speaks at the internal tech talks now and then."]


def docs_people(rng: random.Random, chars: int) -> Made:
    n = _count_files(chars, 1800)
    first, last = rng.choice(tx.FIRST), rng.choice(tx.LAST)
    target = f"{first} {last}"
    names = [target, f"{first} {rng.choice([x for x in tx.LAST if x != last])}",
             f"{rng.choice([x for x in tx.FIRST if x != first])} {last}"]
    pool = [f"{f} {la}" for f in tx.FIRST for la in tx.LAST if f"{f} {la}" not in names]
    names += rng.sample(pool, n - len(names))
    rng.shuffle(names)
    extensions = rng.sample(range(2000, 8999), n)
    ids = rng.sample(range(10000, 99999), n)
    files, gold, where = {}, 0, ""
    for name, ext, eid in zip(names, extensions, ids, strict=True):
        head = (f"Name: {name}\nTeam: {rng.choice(['Platform', 'Payments', 'Search', 'Data', 'Security'])}\n"
                f"Office: Building {rng.choice('ABCDE')}, room {rng.randint(1, 6)}.{rng.randint(1, 40):02d}\n"
                f"Extension: {ext}\nManager: {rng.choice(names)}\n\nAbout\n")
        path = f"people/emp-{eid}.txt"
        files[path] = _pad(rng, head, chars // n, _BIO, name=name.split()[0]) + "\n"
        if name == target:
            gold, where = ext, path
    q = (f"The context is a folder of staff directory entries, one person per file. What is the phone extension of "
         f"{target}? Answer with the number only.")
    meta = {"format": "files", "file": where, "evidence": f"Extension: {gold}\n", "key": f"Name: {target}\n"}
    return Made(q, gold, meta, files=files)
