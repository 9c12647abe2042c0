"""The record-shaped kinds of the real-model bench: counting (log lines matching a condition),
needle (a code stated once among similar ones), aggregation (sum / max / mean over JSON or CSV
records with a filter) and two_step (find a record, then count by one of its fields).

Each builder takes its random source and a size in characters and returns a `Made`: the
question, the exact gold and the meta the tests recompute it from (`where`: a list of
[field, op, value] conditions over the parsed records, op one of eq, prefix, contains, ge,
between)."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from benchmarks.real_model import texts as tx

Where = list[list[Any]]


@dataclass
class Made:
    """One task's content before it is written: text (one file) or files (a folder)."""

    question: str
    gold: Any
    meta: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    files: dict[str, str] | None = None


def matches(rec: dict[str, Any], where: Where) -> bool:
    for name, op, value in where:
        got = rec[name]
        if op == "eq":
            ok = str(got) == str(value)
        elif op == "prefix":
            ok = str(got).startswith(value)
        elif op == "contains":
            ok = value in str(got)
        elif op == "ge":
            ok = float(got) >= value
        elif op == "between":
            ok = value[0] <= float(got) <= value[1]
        else:
            raise ValueError(f"unknown condition {op!r}")
        if not ok:
            return False
    return True


Record = dict[str, Any]


def _until(chars: int, make: Callable[[], Record], render: Callable[[Record], str]) -> list[Record]:
    out: list[dict[str, Any]] = []
    size = 0
    while size < chars:
        out.append(make())
        size += len(render(out[-1])) + 1
    return out


def _applog(rng: random.Random, chars: int) -> list[dict[str, Any]]:
    ts = tx.clock(rng)
    return _until(chars, lambda: tx.applog_record(rng, next(ts)), tx.applog_line)


def _access(rng: random.Random, chars: int) -> list[dict[str, Any]]:
    ts = tx.clock(rng, mean_gap_s=3)
    return _until(chars, lambda: tx.access_record(rng, next(ts)), tx.access_line)


def _lines(records: list[dict[str, Any]], render: Callable[[dict[str, Any]], str]) -> str:
    return "".join(render(r) + "\n" for r in records)


def _jsonl(records: list[dict[str, Any]]) -> str:
    return _lines(records, lambda r: json.dumps(r))


def _csv(records: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(records)
    return buf.getvalue()


def _count(records: list[dict[str, Any]], where: Where) -> int:
    return sum(1 for r in records if matches(r, where))


def _code(rng: random.Random, taken: set[str], shape: str) -> str:
    """A code in `shape` (A: a letter or digit, 9: a digit), not in `taken`."""
    alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        code = "".join(rng.choice(alnum) if c == "A" else rng.choice("0123456789") if c == "9" else c for c in shape)
        if code not in taken:
            taken.add(code)
            return code


# ----- counting -----------------------------------------------------------------------------------------

APPLOG = ("The context is an application log, one event per line (timestamp, level, [service], host=, req=, "
          "latency_ms=, message).")
ACCESS = "The context is a web server access log in combined log format, one request per line."
NUMBER = "Answer with the number only."


def count_errors(rng: random.Random, chars: int) -> Made:
    service = rng.choice(tx.SERVICES)
    recs = _applog(rng, chars)
    where: Where = [["level", "eq", "ERROR"], ["service", "eq", service]]
    q = f"{APPLOG} How many lines have level ERROR and come from the {service} service (shown as [{service}])? {NUMBER}"
    return Made(q, _count(recs, where), {"format": "applog", "where": where}, _lines(recs, tx.applog_line))


def count_5xx(rng: random.Random, chars: int) -> Made:
    recs = _access(rng, chars)
    where: Where = [["status", "between", [500, 599]], ["path", "prefix", "/api/checkout"]]
    q = (f"{ACCESS} How many requests for paths starting with /api/checkout got a 5xx status (500 to 599)? "
         f"{NUMBER}")
    return Made(q, _count(recs, where), {"format": "access", "where": where}, _lines(recs, tx.access_line))


def count_slow(rng: random.Random, chars: int) -> Made:
    host = rng.choice(tx.HOSTS[:12])
    recs = _applog(rng, chars)
    where: Where = [["host", "eq", host], ["latency_ms", "ge", 2000]]
    q = f"{APPLOG} How many lines from host={host} have latency_ms of 2000 or more? {NUMBER}"
    return Made(q, _count(recs, where), {"format": "applog", "where": where}, _lines(recs, tx.applog_line))


def count_404(rng: random.Random, chars: int) -> Made:
    recs = _access(rng, chars)
    where: Where = [["status", "eq", 404], ["path", "prefix", "/static/"]]
    q = f"{ACCESS} How many requests for paths starting with /static/ got status 404? {NUMBER}"
    return Made(q, _count(recs, where), {"format": "access", "where": where}, _lines(recs, tx.access_line))


# ----- needle -------------------------------------------------------------------------------------------

def _slug(city: str) -> str:
    return city.lower().replace(" ", "-")


def needle_recovery(rng: random.Random, chars: int) -> Made:
    teams = ["ops", "billing", "support", "data", "infra", "sales"]
    team, team2 = rng.sample(teams, 2)
    city, city2 = (_slug(c) for c in rng.sample(tx.CITIES, 2))
    target = f"{team}-{city}"
    accounts = [target, f"{target}-2", f"{team2}-{city}", f"{team}-{city2}"]
    while len(accounts) < 14:
        a = f"{rng.choice(teams)}-{_slug(rng.choice(tx.CITIES))}"
        if a not in accounts:
            accounts.append(a)
    recs = _applog(rng, chars)
    codes: set[str] = set()
    gold = ""
    for pos, acct in zip(rng.sample(range(len(recs)), len(accounts)), accounts, strict=True):
        code = _code(rng, codes, "RC-AAAA-AAAA")
        gold = code if acct == target else gold
        recs[pos].update(level="INFO", service="auth", msg=f"issued recovery code {code} for account {acct}")
    q = f"{APPLOG} What recovery code was issued for the account {target}? Answer with the code only."
    meta = {"format": "applog", "evidence": f"issued recovery code {gold} for account {target}\n",
            "key": f"for account {target}\n"}
    return Made(q, gold, meta, _lines(recs, tx.applog_line))


_GATE_SENTENCES = ["The access code for the {gate} gate of the {depot} depot is {code}.",
                   "Staff using the {gate} gate of the {depot} depot enter the code {code}.",
                   "For the {gate} gate of the {depot} depot, the keypad code is {code}."]


def needle_gate(rng: random.Random, chars: int) -> Made:
    last, last2 = rng.sample(tx.LAST, 2)
    depot = f"{last} Street"
    gates = ["north", "south", "east", "west", "service"]
    gate = rng.choice(gates)
    pairs = [(g, d) for d in (depot, f"{last} Road", f"{last} Street North", f"{last2} Street") for g in gates]
    codes: set[str] = set()
    lines, gold, evidence = [], "", ""
    for g, d in pairs:
        code = _code(rng, codes, "9999-") + rng.choice(tx.WORDS).upper()
        s = rng.choice(_GATE_SENTENCES).format(gate=g, depot=d, code=code)
        if (g, d) == (gate, depot):
            gold, evidence = code, s
        lines.append(s)
    paras = tx.prose(rng, chars)
    for s in lines:
        i = rng.randrange(len(paras))
        paras[i] = f"{paras[i]} {s}"
    q = (f"The context is a long text. What is the access code for the {gate} gate of the {depot} depot? "
         "Answer with the code only.")
    meta = {"format": "prose", "evidence": evidence, "key": f"{gate} gate of the {depot} depot"}
    return Made(q, gold, meta, "\n\n".join(paras) + "\n")


def _near_ids(rng: random.Random, digits: int) -> tuple[str, Iterator[str]]:
    """A target id, and an endless series of distinct ids that starts with the target and ids
    made of its digits shuffled."""
    target = f"{rng.randrange(10 ** (digits - 1), 10 ** digits):0{digits}d}"
    near = [target]
    while len(near) < 6:
        shuffled = "".join(rng.sample(target, digits))
        if shuffled not in near:
            near.append(shuffled)

    def ids() -> Iterator[str]:
        seen = set(near)
        yield from near
        while True:
            i = f"{rng.randrange(10 ** digits):0{digits}d}"
            if i not in seen:
                seen.add(i)
                yield i

    return target, ids()


def _shuffled(rng: random.Random, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rng.shuffle(recs)
    return recs


def needle_device(rng: random.Random, chars: int) -> Made:
    target, ids = _near_ids(rng, 5)
    serials: set[str] = set()
    ts = tx.clock(rng, mean_gap_s=200)

    def make() -> dict[str, Any]:
        return {"device_id": f"dev-{next(ids)}", "site": rng.choice(tx.CITIES),
                "model": rng.choice(["EX-2300", "EX-4100", "MX-204", "SRX-345", "QFX-5120"]),
                "firmware": f"{rng.randint(18, 23)}.{rng.randint(1, 4)}R{rng.randint(1, 3)}",
                "serial": _code(rng, serials, "SN-AAAAAAAA"), "last_seen": next(ts).strftime("%Y-%m-%dT%H:%M:%SZ")}

    recs = _shuffled(rng, _until(chars, make, json.dumps))
    (rec,) = [r for r in recs if r["device_id"] == f"dev-{target}"]
    q = ("The context holds one JSON record per line about network devices. What is the serial number of the "
         f"device dev-{target}? Answer with the serial only.")
    meta = {"format": "jsonl", "evidence": json.dumps(rec), "key": f'"device_id": "dev-{target}"'}
    return Made(q, rec["serial"], meta, _jsonl(recs))


def needle_shipment(rng: random.Random, chars: int) -> Made:
    target, ids = _near_ids(rng, 7)
    codes: set[str] = set()

    def make() -> dict[str, Any]:
        created = tx.START + timedelta(minutes=rng.randint(0, 90 * 1440))
        return {"shipment_id": f"SHP-{next(ids)}", "created": created.strftime("%Y-%m-%d %H:%M"),
                "origin": rng.choice(tx.CITIES), "destination": rng.choice(tx.CITIES),
                "carrier": rng.choice(["Parcelink", "SwiftFreight", "Northway", "BlueArrow", "Cargona"]),
                "weight_kg": f"{rng.uniform(0.2, 40):.1f}", "tracking_code": _code(rng, codes, "AA99AAAA9A")}

    recs = _shuffled(rng, _until(chars, make, lambda r: ",".join(r.values())))
    (rec,) = [r for r in recs if r["shipment_id"] == f"SHP-{target}"]
    q = ("The context is a CSV of shipments. What is the tracking_code of shipment "
         f"SHP-{target}? Answer with the code only.")
    meta = {"format": "csv", "evidence": ",".join(rec.values()), "key": f"SHP-{target},"}
    return Made(q, rec["tracking_code"], meta, _csv(recs))


# ----- aggregation --------------------------------------------------------------------------------------

_STATUSES = {"placed": 20, "shipped": 30, "delivered": 35, "refunded": 8, "cancelled": 5, "returned": 6}


def _orders(rng: random.Random, chars: int, customers: int = 400) -> list[dict[str, Any]]:
    ts = tx.clock(rng, mean_gap_s=120)
    ids: set[str] = set()

    def make() -> dict[str, Any]:
        quantity = rng.randint(1, 12)
        return {"order_id": _code(rng, ids, "O-999999"), "placed": next(ts).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "customer": f"c-{rng.randint(1000, 1000 + customers - 1)}", "region": rng.choice(tx.REGIONS),
                "status": rng.choices(list(_STATUSES), list(_STATUSES.values()))[0], "quantity": quantity,
                "total_cents": quantity * rng.randint(199, 9999)}

    return _until(chars, make, json.dumps)


_STORES = [f"S-{n:02d}" for n in range(1, 21)]
_CATEGORIES = ["garden", "kitchen", "toys", "tools", "books", "lighting", "outdoor", "bath"]


def _sales(rng: random.Random, chars: int) -> list[dict[str, Any]]:
    start = datetime(2024, 2, 1)

    def make() -> dict[str, Any]:
        return {"date": (start + timedelta(days=rng.randint(0, 89))).strftime("%Y-%m-%d"),
                "store": rng.choice(_STORES), "category": rng.choice(_CATEGORIES),
                "sku": f"K{rng.randint(10000, 99999)}", "units": rng.randint(1, 40),
                "unit_price": f"{rng.randint(99, 19999) / 100:.2f}"}

    return _until(chars, make, lambda r: ",".join(map(str, r.values())))


def agg_refunded(rng: random.Random, chars: int) -> Made:
    recs = _orders(rng, chars)
    region = rng.choice(tx.REGIONS)
    where: Where = [["region", "eq", region], ["status", "eq", "refunded"]]
    gold = sum(r["quantity"] for r in recs if matches(r, where))
    q = (f"The context holds one JSON order record per line. What is the total quantity over all orders with "
         f'region "{region}" and status "refunded"? {NUMBER}')
    return Made(q, gold, {"format": "jsonl", "where": where, "field": "quantity", "op": "sum"}, _jsonl(recs))


def agg_max_price(rng: random.Random, chars: int) -> Made:
    recs = _sales(rng, chars)
    store, category = rng.choice(_STORES), rng.choice(_CATEGORIES)
    where: Where = [["store", "eq", store], ["category", "eq", category]]
    gold = max(Decimal(r["unit_price"]) for r in recs if matches(r, where))
    q = (f"The context is a CSV of sales (date, store, category, sku, units, unit_price). What is the highest "
         f"unit_price among rows with store {store} and category {category}? {NUMBER}")
    return Made(q, float(gold), {"format": "csv", "where": where, "field": "unit_price", "op": "max"}, _csv(recs))


def agg_mean_latency(rng: random.Random, chars: int) -> Made:
    endpoints = ["/api/orders", "/api/search", "/api/cart", "/api/users", "/api/checkout", "/api/reviews"]
    ts = tx.clock(rng, mean_gap_s=2)

    def make() -> dict[str, Any]:
        return {"ts": next(ts).strftime("%Y-%m-%dT%H:%M:%SZ"), "endpoint": rng.choice(endpoints),
                "method": rng.choice(["GET", "GET", "POST"]),
                "status": rng.choices([200, 201, 404, 500], [80, 5, 10, 5])[0],
                "latency_ms": rng.randint(5, 1500), "region": rng.choice(tx.REGIONS)}

    recs = _until(chars, make, json.dumps)
    endpoint = rng.choice(endpoints)
    where: Where = [["endpoint", "eq", endpoint], ["status", "eq", 200]]
    picked = [r for r in recs if matches(r, where)]
    # a mean whose second decimal is an exact 5 rounds differently half-up and half-even: nudge one value
    while (Decimal(sum(r["latency_ms"] for r in picked)) * 100 / len(picked)) % 10 == 5:
        picked[0]["latency_ms"] += 1
    mean = Decimal(sum(r["latency_ms"] for r in picked)) / len(picked)
    gold = float(mean.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    q = ("The context holds one JSON record per line about API requests. What is the mean latency_ms of the "
         f'requests with endpoint "{endpoint}" and status 200? Answer with the number only, rounded to one '
         "decimal place.")
    return Made(q, gold, {"format": "jsonl", "where": where, "field": "latency_ms", "op": "mean1"}, _jsonl(recs))


def agg_units_month(rng: random.Random, chars: int) -> Made:
    recs = _sales(rng, chars)
    category = rng.choice(_CATEGORIES)
    where: Where = [["category", "eq", category], ["date", "prefix", "2024-03"]]
    gold = sum(r["units"] for r in recs if matches(r, where))
    q = (f"The context is a CSV of sales (date, store, category, sku, units, unit_price). How many units in total "
         f"were sold in category {category} in March 2024 (dates 2024-03-01 to 2024-03-31)? {NUMBER}")
    return Made(q, gold, {"format": "csv", "where": where, "field": "units", "op": "sum"}, _csv(recs))


# ----- two_step -----------------------------------------------------------------------------------------

def _two_step(fmt: str, first: Where, link: str, then: Where, via: Any) -> dict[str, Any]:
    return {"format": fmt, "first": first, "link": link, "then": then, "via": via}


def _at_least_one(rng: random.Random, recs: list[dict[str, Any]], link: str, via: Any, then: Where,
                  skip: int) -> None:
    """Make sure the second step has something to count (one record of `via` made to match)."""
    if any(r[link] == via and matches(r, then) for r in recs):
        return
    pos = rng.choice([i for i in range(len(recs)) if i != skip])
    recs[pos][link] = via
    for name, _, value in then:
        recs[pos][name] = value


def two_step_audit(rng: random.Random, chars: int) -> Made:
    actions = {"login": 30, "login_failed": 8, "push": 25, "open_pull_request": 10, "merge_pull_request": 8,
               "create_repository": 2, "delete_repository": 2, "rotate_key": 3, "invite_member": 3}
    repos = [f"{w}-{s}" for w in tx.WORDS for s in ("api", "web", "infra", "terraform", "docs", "etl")]
    ts = tx.clock(rng, mean_gap_s=60)

    def make() -> dict[str, Any]:
        return {"ts": next(ts).strftime("%Y-%m-%dT%H:%M:%SZ"), "user": f"u-{rng.randint(1000, 1029)}",
                "action": rng.choices(list(actions), list(actions.values()))[0], "resource": rng.choice(repos),
                "ip": f"10.{rng.randint(0, 9)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"}

    recs = _until(chars, make, json.dumps)
    repo, user = rng.choice(repos), f"u-{rng.randint(1000, 1029)}"
    for r in recs:
        if r["action"] == "delete_repository" and r["resource"] == repo:
            r["resource"] = rng.choice([x for x in repos if x != repo])
    pos = rng.randrange(len(recs))
    recs[pos].update(user=user, action="delete_repository", resource=repo)
    first = [["action", "eq", "delete_repository"], ["resource", "eq", repo]]
    then = [["action", "eq", "login_failed"]]
    _at_least_one(rng, recs, "user", user, then, pos)
    gold = sum(1 for r in recs if r["user"] == user and matches(r, then))
    q = (f'The context is an audit log, one JSON event per line. Exactly one user deleted the repository "{repo}". '
         f"How many login_failed events does that user have in the whole log? {NUMBER}")
    return Made(q, gold, _two_step("jsonl", first, "user", then, user), _jsonl(recs))


def two_step_tickets(rng: random.Random, chars: int) -> Made:
    agents = sorted({tx.person(rng) for _ in range(40)})[:25]
    subjects = ["Cannot log in", "Refund not received", "Invoice shows wrong VAT", "App crashes on start",
                "Password reset email missing", "Order arrived damaged", "Change delivery address", "API returns 500"]
    ids: set[str] = set()
    start = tx.START

    def make() -> dict[str, Any]:
        opened = start + timedelta(minutes=rng.randint(0, 120 * 1440))
        return {"ticket_id": _code(rng, ids, "T-99999"), "opened": opened.strftime("%Y-%m-%d %H:%M"),
                "closed": (opened + timedelta(minutes=rng.randint(5, 9000))).strftime("%Y-%m-%d %H:%M"),
                "agent": rng.choice(agents),
                "priority": rng.choices(["low", "normal", "high", "urgent"], [30, 45, 18, 7])[0],
                "status": rng.choice(["closed", "resolved"]), "subject": rng.choice(subjects)}

    recs = _until(chars, make, lambda r: ",".join(map(str, r.values())))
    pos = rng.randrange(len(recs))
    target = recs[pos]
    then = [["priority", "eq", "high"]]
    _at_least_one(rng, recs, "agent", target["agent"], then, pos)
    gold = sum(1 for r in recs if r["agent"] == target["agent"] and matches(r, then))
    q = (f"The context is a CSV export of support tickets. Find the agent of ticket {target['ticket_id']}. How many "
         f"tickets with priority high does that agent have in total? {NUMBER}")
    meta = _two_step("csv", [["ticket_id", "eq", target["ticket_id"]]], "agent", then, target["agent"])
    return Made(q, gold, meta, _csv(recs))


def two_step_checksum(rng: random.Random, chars: int) -> Made:
    recs = _applog(rng, chars)
    pos = rng.randrange(len(recs))
    host = rng.choice(tx.HOSTS)
    segment = f"/var/lib/inventory/segment-{rng.randint(1, 99):02d}"
    recs[pos].update(level="ERROR", host=host, service="inventory",
                     msg=f"checksum mismatch on block {rng.randint(10000, 99999)} of {segment}")
    first = [["msg", "contains", "checksum mismatch"]]
    then = [["level", "eq", "ERROR"]]
    gold = sum(1 for r in recs if r["host"] == host and matches(r, then))
    q = (f"{APPLOG} Exactly one line reports a checksum mismatch. How many ERROR lines in the whole log come from "
         f"the host that reported it (that line included)? {NUMBER}")
    return Made(q, gold, _two_step("applog", first, "host", then, host), _lines(recs, tx.applog_line))


def two_step_orders(rng: random.Random, chars: int) -> Made:
    recs = _orders(rng, chars, customers=150)
    pos = rng.randrange(len(recs))
    target = recs[pos]
    then = [["status", "eq", "returned"]]
    _at_least_one(rng, recs, "customer", target["customer"], then, pos)
    gold = sum(1 for r in recs if r["customer"] == target["customer"] and matches(r, then))
    q = (f"The context holds one JSON order record per line. Find the customer who placed order {target['order_id']}. "
         f'How many orders with status "returned" does that customer have in total? {NUMBER}')
    return Made(q, gold, _two_step("jsonl", [["order_id", "eq", target["order_id"]]], "customer", then,
                                   target["customer"]), _jsonl(recs))
