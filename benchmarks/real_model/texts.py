"""Realistic filler for the real-model bench: application and access log lines, JSON and CSV
records, prose paragraphs from varied sentence templates. Every maker takes its own
`random.Random`, so the same seed gives the same text."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

FIRST = [
    "Amara", "Bruno", "Celia", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Keiko", "Lars",
    "Mira", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Soren", "Talia", "Umar", "Vera", "Wendel", "Xenia",
    "Yusuf", "Zora", "Anton", "Beatrix", "Cyrus", "Delia", "Emil", "Fiona", "Gideon", "Hana", "Ivo", "Jana",
]
LAST = [
    "Abernathy", "Bellweather", "Castellano", "Draxler", "Eisenberg", "Fairbanks", "Galloway", "Hollister",
    "Ivanova", "Jankowski", "Kettering", "Lindqvist", "Marchetti", "Nakamura", "Okonkwo", "Pemberton",
    "Quiroga", "Rasmussen", "Sandoval", "Thorncastle", "Valdivia", "Whitlock", "Yamamoto", "Zielinski",
    "Brandt", "Corrigan", "Dalton", "Esposito", "Fernsby", "Gruber", "Halloran", "Iverson",
]
CITIES = [
    "Northhaven", "Eastford", "Glenbridge", "Portmoor", "Lakeview", "Saint Aldric", "Westwick", "Fort Ardel",
    "Mountvale", "Oldbury", "Newcrest", "Southgate", "Harrowby", "Kessling", "Tamsin", "Vellin", "Corrin",
    "Brightwater", "Lowmarsh", "Calderton",
]
SERVICES = [
    "payments", "checkout", "search", "auth", "inventory", "billing", "notifications", "gateway",
    "recommendations", "shipping",
]
HOSTS = [f"web-{n:02d}" for n in range(1, 13)] + [f"worker-{n:02d}" for n in range(1, 9)] + \
        [f"db-{n:02d}" for n in range(1, 5)]
REGIONS = ["EU", "NA", "APAC", "LATAM", "MEA"]
TABLES = ["orders", "users", "sessions", "invoices", "line_items", "carts", "events"]
WORDS = [
    "amber", "basalt", "cobalt", "delta", "ember", "fjord", "granite", "harbor", "indigo", "juniper",
    "kelp", "lumen", "mistral", "nimbus", "onyx", "prairie", "quartz", "russet", "sierra", "tundra",
]

START = datetime(2024, 3, 1, 0, 0, 0)


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def clock(rng: random.Random, start: datetime = START, mean_gap_s: float = 20.0) -> Iterator[datetime]:
    """An endless, increasing series of timestamps."""
    t = start
    while True:
        t += timedelta(seconds=rng.randint(0, int(2 * mean_gap_s)), milliseconds=rng.randint(0, 999))
        yield t


# ----- application logs -------------------------------------------------------------------------------

_MESSAGES: dict[str, list[str]] = {
    "DEBUG": ["retrying idempotent call attempt={n1}", "payload size {n4} bytes", "cache key {word}:{n4} refreshed",
              "feature evaluation took {n2} us", "opened span {hex}"],
    "INFO": ["request completed path=/api/{table}/{n4} status=200", "cache hit ratio {n2}%", "user u-{n4} signed in",
             "job {word}-sync finished in {n2}s", "scheduled {n2} tasks", "connection pool size {n2}",
             "served {n3} requests in the last minute", "config version {n3} loaded"],
    "WARN": ["slow query took {n4} ms on table {table}", "disk usage at {n2}% on /var/lib/{service}",
             "retry budget low ({n1} left)", "deprecated header X-{word} received",
             "queue depth {n3} above soft limit"],
    "ERROR": ["timeout contacting upstream {service}", "failed to charge card: gateway returned {n3}",
              "unhandled exception in worker {n1}: KeyError('{word}')", "connection reset by peer 10.0.{n1}.{n2}",
              "circuit breaker open for {service}"],
}
LEVEL_WEIGHTS = {"DEBUG": 12, "INFO": 68, "WARN": 13, "ERROR": 7}


def _fill(rng: random.Random, template: str) -> str:
    return template.format(n1=rng.randint(1, 9), n2=rng.randint(10, 99), n3=rng.randint(100, 999),
                           n4=rng.randint(1000, 9999), word=rng.choice(WORDS), table=rng.choice(TABLES),
                           service=rng.choice(SERVICES), hex=f"{rng.getrandbits(64):016x}")


def applog_record(rng: random.Random, ts: datetime, **fixed: Any) -> dict[str, Any]:
    """One application log record; `fixed` sets fields (level, service, host, latency_ms, msg)."""
    level = fixed.get("level") or rng.choices(list(LEVEL_WEIGHTS), list(LEVEL_WEIGHTS.values()))[0]
    latency = rng.choice([rng.randint(2, 400), rng.randint(2, 400), rng.randint(200, 4000)])
    rec = {"ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z", "level": level,
           "service": rng.choice(SERVICES), "host": rng.choice(HOSTS), "req": f"{rng.getrandbits(32):08x}",
           "latency_ms": latency, "msg": _fill(rng, rng.choice(_MESSAGES[level]))}
    rec.update(fixed)
    return rec


def applog_line(rec: dict[str, Any]) -> str:
    return (f"{rec['ts']} {rec['level']:<5} [{rec['service']}] host={rec['host']} req={rec['req']} "
            f"latency_ms={rec['latency_ms']} {rec['msg']}")


# ----- access logs (combined log format) -----------------------------------------------------------------

_PATHS = ["/api/orders/{n4}", "/api/checkout/{step}", "/api/search?q={word}", "/static/js/app.{hex8}.js",
          "/static/img/{word}.png", "/login", "/account/settings", "/api/cart/items", "/api/users/u-{n4}",
          "/static/css/site.{hex8}.css", "/api/checkout/{step}/confirm", "/health"]
_AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 "
           "Safari/537.36",
           "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 "
           "Safari/605.1.15",
           "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0", "curl/8.5.0",
           "okhttp/4.12.0", "python-requests/2.31.0"]
_STATUS = {200: 70, 201: 4, 204: 3, 301: 2, 304: 6, 400: 2, 401: 2, 404: 5, 429: 2, 500: 2, 502: 1, 503: 1}


def access_record(rng: random.Random, ts: datetime, **fixed: Any) -> dict[str, Any]:
    path = rng.choice(_PATHS).format(n4=rng.randint(1000, 99999), step=rng.choice(["cart", "address", "payment"]),
                                     word=rng.choice(WORDS), hex8=f"{rng.getrandbits(32):08x}")
    method = "GET" if path.startswith("/static") or rng.random() < 0.6 else rng.choice(["POST", "PUT", "DELETE"])
    rec = {"ip": f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
           "ts": ts.strftime("%d/%b/%Y:%H:%M:%S +0000"), "method": method, "path": path,
           "status": rng.choices(list(_STATUS), list(_STATUS.values()))[0], "bytes": rng.randint(120, 90_000),
           "agent": rng.choice(_AGENTS)}
    rec.update(fixed)
    return rec


def access_line(rec: dict[str, Any]) -> str:
    return (f'{rec["ip"]} - - [{rec["ts"]}] "{rec["method"]} {rec["path"]} HTTP/1.1" {rec["status"]} {rec["bytes"]} '
            f'"-" "{rec["agent"]}"')


# ----- prose --------------------------------------------------------------------------------------------

_TOPICS = ["river trade", "glass making", "the old salt roads", "winter fairs", "bell founding", "canal locks",
           "orchard grafting", "the printing guilds", "lighthouse keeping", "wool dyeing", "tide tables",
           "railway timetables", "mapmaking", "beekeeping", "stone bridges"]
_GOODS = ["smoked fish", "wool blankets", "copper pans", "pickled cabbage", "lace", "barley bread", "honey",
          "leather boots", "dried apricots", "clay pipes"]
_SENTENCES = [
    "The market in {city} opens at {hour} on {weekday}s, and most stalls sell {goods}.",
    "In {year}, {person} published a short study of {topic} that was widely read in {city}.",
    "Rainfall around {city} was unusually {weather} that season, and the river rose by {n2} centimetres.",
    "{person} served as harbour master of {city} for {n1} years before retiring to the hills.",
    "The {org} held its annual meeting in {city}, where {person} spoke at length about {topic}.",
    "Travellers from {city} usually reached {city2} in {n1} days when the roads were dry.",
    "Most households in {city} kept a ledger of {goods} bought and sold through the winter.",
    "A fire in {year} destroyed part of the archive in {city}, including letters about {topic}.",
    "Local historians still argue about whether {person} ever visited {city2}.",
    "The population of {city} grew from about {n3} to nearly {n4} within a single generation.",
    "Every spring the council of {city} repaired the causeway with stone brought from {city2}.",
    "{person} kept detailed notes on {topic}, which are now held in a private collection.",
    "Merchants complained that tolls between {city} and {city2} had doubled since {year}.",
    "The school in {city} taught {topic} alongside arithmetic and letter writing.",
    "By {year} the road to {city2} had been widened and lit with oil lamps.",
    "Few records survive from the {decade}s, but parish books mention {goods} traded at {city}.",
    "{person} described the winter of {year} as the coldest anyone in {city} could remember.",
    "A small museum in {city} displays tools once used for {topic}.",
    "The {org} later moved its offices from {city} to {city2}, citing lower rents.",
    "Visitors often remark on the painted doors along the main street of {city}.",
    "Disputes over grazing rights between {city} and {city2} lasted for {n2} years.",
    "{person} and {person2} corresponded for decades about {topic} and family matters.",
    "The annual fair at {city} drew sellers of {goods} from as far away as {city2}.",
    "According to one account, {person} walked from {city} to {city2} in a single day.",
]
_ORGS = ["Guild of Weavers", "Harbour Trust", "Society of Surveyors", "Merchants' Association", "River Board",
         "Chamber of Commerce", "Friends of the Library", "Farmers' Cooperative"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def sentence(rng: random.Random, names: list[str] | None = None) -> str:
    names = names or [person(rng) for _ in range(2)]
    city, city2 = rng.sample(CITIES, 2)
    return rng.choice(_SENTENCES).format(
        city=city, city2=city2, person=rng.choice(names), person2=rng.choice(names), year=rng.randint(1820, 1990),
        decade=rng.randint(182, 198) * 10, topic=rng.choice(_TOPICS), goods=rng.choice(_GOODS),
        org=rng.choice(_ORGS), hour=f"{rng.randint(5, 9)} o'clock", weekday=rng.choice(_WEEKDAYS),
        weather=rng.choice(["wet", "dry", "mild", "harsh"]), n1=rng.randint(2, 9), n2=rng.randint(11, 60),
        n3=rng.randint(800, 3000), n4=rng.randint(4000, 12000))


def paragraph(rng: random.Random, sentences: int | None = None) -> str:
    names = [person(rng) for _ in range(3)]
    return " ".join(sentence(rng, names) for _ in range(sentences or rng.randint(4, 7)))


def prose(rng: random.Random, chars: int) -> list[str]:
    """Paragraphs of about `chars` characters in all."""
    out: list[str] = []
    size = 0
    while size < chars:
        out.append(paragraph(rng))
        size += len(out[-1]) + 2
    return out


def insert_at_random(rng: random.Random, items: list[str], extra: list[str]) -> list[str]:
    """`items` with each of `extra` put at a random place (none at the very start or end)."""
    out = list(items)
    for e in extra:
        out.insert(rng.randint(1, max(1, len(out) - 1)), e)
    return out
