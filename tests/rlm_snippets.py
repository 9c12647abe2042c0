"""Model code in the style of published RLM trajectories, as data, with the text it runs on.

`SNIPPETS` are cells the way models write them in a REPL over `context` (the RLM paper's
trajectories, Zhang, Kraska & Khattab 2025, and the examples of the official system prompt in
github.com/alexzhang13/rlm): exploration (`print(context[:2000])`, `len(context)`, looking at
lines), chunking (`context[i:i+n]` over `range(0, len(context), n)`, documents, paragraphs),
counting (`context.count`, `re.findall`, `Counter`), aggregation (parsing records, grouping,
statistics), sub-call fan-out (prompt lists for `llm_query_batched`, `rlm_query`) and answer
assembly (`answer["content"]` / `answer["ready"]`, `FINAL_VAR`, `FINAL`). Each cell stands
alone: it defines every variable it uses.

`tests/test_snippets.py` runs every snippet in restricted mode on a `str` context and on a
memory-mapped `Corpus` of the same text (`make_context`). A snippet must run; one that
declares `expect_error_hint` must instead fail where `error_on` says (on the Corpus only, or
on both kinds) with an error containing that hint, the allowed way to do the same thing.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

CATEGORIES = ("exploration", "chunking", "counting", "aggregation", "fanout", "assembly", "misc")
MAGIC_NUMBER = "7340261"


@dataclass(frozen=True)
class Snippet:
    """One cell of model code.

    id: short name (the test id); category: one of CATEGORIES; code: the cell.
    expect_error_hint: the cell must fail (where `error_on` says) with an error containing it.
    error_on: "corpus" (it runs on a str, fails on a Corpus) or "both".
    needs_subcalls: it calls llm_query / rlm_query (answered by the test's scripted sub-model).
    same_output: its stdout on a str and on a Corpus of the same ASCII text must be equal
        (False where it prints the context's type or its repr).
    finishes: it sets the final answer (answer["ready"], FINAL_VAR or FINAL).
    """

    id: str
    category: str
    code: str
    expect_error_hint: str | None = None
    error_on: str = "corpus"
    needs_subcalls: bool = False
    same_output: bool = True
    finishes: bool = False


# ----- the text the snippets run on ----------------------------------------------------------
_SERVICES = ("auth", "billing", "search", "api", "worker")
_LEVELS = ("DEBUG", "INFO", "INFO", "INFO", "INFO", "WARN", "ERROR")
_MESSAGES = ("login ok", "token refreshed", "cache miss", "query served", "retrying upstream",
             "timeout talking to db", "payment declined", "job finished", "rate limited", "slow response")
# (non-ASCII, its ASCII stand-in): the ASCII text keeps the same structure
_FOREIGN = (
    ("Le café de Zürich a fermé — naïve résumé reçu.", "Le cafe de Zurich a ferme - naive resume recu."),
    ("東京のサーバーは正常です。応答時間は安定しています。", "Tokyo servers are normal. Response times are stable."),
    ("Ελληνικά: όλα λειτουργούν κανονικά σήμερα.", "Greek: everything works normally today."),
    ("Überprüfung fehlgeschlagen für Straße 12 🚀", "Check failed for Strasse 12 (rocket)"),
    ("Привет, мир! Отчёт готов.", "Privet, mir! The report is ready."),
)
_PROSE = (
    "The on-call engineer reviewed the dashboards and found nothing unusual in the morning traffic.",
    "A slow migration on the billing database caused a short spike in latency for several users.",
    "Customers in the search cluster reported stale results, which the team traced to a cache bug.",
    "The worker pool was resized after the nightly batch jobs started to overlap with peak hours.",
    "Several timeouts were caused by a misconfigured load balancer in front of the api service.",
    "The incident review concluded that alerting thresholds were too lax for the auth service.",
    "A new deployment rolled out gradually, with error rates watched at every step of the way.",
    "The team agreed to rotate credentials quarterly and to document every manual intervention.",
)
_COUNTRIES = ("DE", "FR", "US", "JP", "GR", "BR", "IN")
_PLANS = ("free", "pro", "team", "enterprise")
_TAGS = ("beta", "churn-risk", "vip", "trial", "annual", "monthly")


def make_context(ascii_only: bool = False, seed: int = 7) -> str:
    """About 300 KB of an "operations archive": documents (`### Document N: title`) of server
    logs, prose incident notes (one holds the sentence "the special magic number is NNN"),
    JSON-lines customer records and a CSV table of orders. Non-ASCII lines (accents, Japanese,
    Greek, Cyrillic, an emoji) unless `ascii_only`, which puts ASCII stand-ins of the same
    structure in their place."""
    rng = random.Random(seed)

    def foreign() -> str:
        pair = rng.choice(_FOREIGN)
        return pair[1] if ascii_only else pair[0]

    out = ["# Operations archive", "Server logs, incident notes, customer records and orders, by document.", ""]
    kinds = ("log", "notes", "records", "log", "orders", "notes")
    for n in range(1, 19):
        kind = kinds[(n - 1) % len(kinds)]
        title = {"log": f"server log node-{chr(96 + n)}", "notes": "incident notes",
                 "records": "customer records", "orders": "orders table"}[kind]
        out.append(f"### Document {n}: {title}")
        if kind == "log":
            day = 1 + n % 5
            for i in range(420):
                level = rng.choice(_LEVELS)
                service = rng.choice(_SERVICES)
                status = 500 + rng.randint(0, 4) if level == "ERROR" else rng.choice((200, 200, 201, 204, 404))
                line = (f"2024-03-{day + i // 200:02d}T{8 + i % 12:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z {level:<5} "
                        f"{service:<7} user=u{1000 + rng.randint(0, 140)} req={rng.getrandbits(32):08x} "
                        f"latency={rng.randint(3, 900)}ms status={status} msg=\"{rng.choice(_MESSAGES)}\"")
                out.append(line)
                if i % 97 == 13:
                    out.append(f"2024-03-{day:02d}T12:00:00Z WARN  worker  user=u1000 req=00000000 latency=1ms "
                               f"status=200 msg=\"{foreign()}\"")
        elif kind == "notes":
            for p in range(14):
                sentences = [rng.choice(_PROSE) for _ in range(rng.randint(3, 6))]
                if p % 5 == 2:
                    sentences.insert(1, foreign())
                if n == 8 and p == 9:
                    sentences.insert(2, f"For the record, the special magic number is {MAGIC_NUMBER}.")
                out.append(" ".join(sentences))
                out.append("")
        elif kind == "records":
            for i in range(380):
                record = {"id": n * 1000 + i, "user": f"u{1000 + rng.randint(0, 140)}",
                          "country": rng.choice(_COUNTRIES), "plan": rng.choice(_PLANS),
                          "spend": round(rng.uniform(0, 500), 2),
                          "tags": sorted(rng.sample(_TAGS, rng.randint(0, 3)))}
                if i % 61 == 5:
                    record["note"] = foreign()
                out.append(json.dumps(record, ensure_ascii=False))
        else:
            out.append("order_id,user,amount,currency,date")
            for i in range(420):
                out.append(f"{n * 10000 + i},u{1000 + rng.randint(0, 140)},{rng.uniform(1, 900):.2f},"
                           f"{rng.choice(('EUR', 'USD', 'JPY'))},2024-03-{1 + i % 28:02d}")
        out.append("")
    return "\n".join(out) + "\n"


# ----- the snippets ------------------------------------------------------------------------
def _s(id: str, category: str, code: str, **kw: object) -> Snippet:  # noqa: A002 - the field's name
    return Snippet(id, category, code.strip("\n") + "\n", **kw)  # type: ignore[arg-type]


EXPLORATION = [
    _s("peek_type_len", "exploration", r'''
print(type(context))
print(len(context))
''', same_output=False),
    _s("peek_head", "exploration", r'''
print(context[:2000])
''',),
    _s("peek_tail", "exploration", r'''
print(context[-1500:])
''',),
    _s("peek_middle", "exploration", r'''
mid = len(context) // 2
print(context[mid:mid + 1000])
'''),
    _s("type_name_and_size", "exploration", r'''
print(type(context).__name__, f"{len(context):,} characters")
''', same_output=False),
    _s("isinstance_branches", "exploration", r'''
if isinstance(context, str):
    print("str", context[:200])
elif isinstance(context, list):
    print("list of", len(context), "items")
else:
    print(type(context).__name__, len(context))
    print(context[:200])
''', same_output=False),
    _s("lines_total_and_first_20", "exploration", r'''
lines = context.split("\n")
print(f"Total lines: {len(lines)}")
for line in lines[:20]:
    print(line)
'''),
    _s("splitlines_head_and_tail", "exploration", r'''
lines = context.splitlines()
print(len(lines))
print("\n".join(lines[:5]))
print("...")
print("\n".join(lines[-5:]))
'''),
    _s("enumerate_first_lines", "exploration", r'''
for i, line in enumerate(context.splitlines()):
    if i >= 10:
        break
    print(i, repr(line[:80]))
'''),
    _s("document_headers", "exploration", r'''
import re
headers = re.findall(r"^### .*$", context, re.MULTILINE)
print(len(headers))
for h in headers:
    print(h)
'''),
    _s("paragraph_structure", "exploration", r'''
paras = context.split("\n\n")
print(len(paras))
print([len(p) for p in paras[:10]])
'''),
    _s("random_sample_of_lines", "exploration", r'''
import random
random.seed(0)
lines = context.splitlines()
for line in random.sample(lines, 5):
    print(line[:100])
'''),
    _s("find_keyword_window", "exploration", r'''
idx = context.find("magic")
print(idx)
print(context[max(0, idx - 200):idx + 200])
'''),
    _s("membership_checks", "exploration", r'''
print("magic number" in context, "ERROR" in context, "unicorn" in context)
'''),
    _s("starts_and_ends", "exploration", r'''
print(context.startswith("# Operations"), context.endswith("\n"))
print(context.startswith(("#", "//")), context.endswith(("\n\n", "}")))
'''),
    _s("documents_preview", "exploration", r'''
docs = context.split("### Document ")
print(len(docs))
for d in docs[1:4]:
    print(d[:120].replace("\n", " | "))
'''),
    _s("line_length_stats", "exploration", r'''
lengths = [len(l) for l in context.splitlines()]
print(max(lengths), min(lengths), round(sum(lengths) / len(lengths), 1))
'''),
    _s("textwrap_shorten_preview", "exploration", r'''
import textwrap
print(textwrap.shorten(context[:5000], width=300, placeholder=" ..."))
'''),
    _s("repr_of_head", "exploration", r'''
print(repr(context[:300]))
'''),
    _s("headers_with_offsets", "exploration", r'''
import re
for m in re.finditer(r"^### Document (\d+): (.+)$", context, re.M):
    print(m.group(1), m.group(2), m.start())
'''),
    _s("line_prefix_census", "exploration", r'''
from collections import Counter
prefixes = Counter(line[:4] for line in context.splitlines() if line)
print(prefixes.most_common(8))
'''),
    _s("non_ascii_lines", "exploration", r'''
non_ascii = [l for l in context.splitlines() if not l.isascii()]
print(len(non_ascii))
print(non_ascii[:3])
'''),
    _s("index_of_section", "exploration", r'''
pos = context.index("### Document 3")
print(pos, context[pos:pos + 60])
'''),
    _s("rfind_last_error", "exploration", r'''
last = context.rfind("ERROR")
print(last)
print(context[last - 40:last + 120])
'''),
    _s("print_whole_context", "exploration", r'''
print(context)
''', expect_error_hint="print(context[:2000])"),
    _s("str_of_context", "exploration", r'''
text = str(context)
print(len(text), text[:80])
''', expect_error_hint="chunks("),
    _s("fstring_debug_len", "exploration", r'''
n = len(context)
print(f"{n=}", f"{n:,}", f"{n / 1e6:.2f}M")
'''),
    _s("show_vars", "exploration", r'''
probe = context[:100]
SHOW_VARS()
''', same_output=False),
]

CHUNKING = [
    _s("fixed_size_chunks", "chunking", r'''
chunk_size = 50_000
chunks = [context[i:i + chunk_size] for i in range(0, len(context), chunk_size)]
print(len(chunks), [len(c) for c in chunks])
'''),
    _s("chunks_by_lines_budget", "chunking", r'''
lines = context.splitlines()
chunks, cur, size = [], [], 0
for line in lines:
    if size + len(line) > 40_000 and cur:
        chunks.append("\n".join(cur))
        cur, size = [], 0
    cur.append(line)
    size += len(line) + 1
if cur:
    chunks.append("\n".join(cur))
print(len(chunks), sum(len(c) for c in chunks))
'''),
    _s("overlapping_windows", "chunking", r'''
step, overlap = 30_000, 2_000
windows = []
for start in range(0, len(context), step):
    windows.append((start, context[max(0, start - overlap):start + step]))
print(len(windows), windows[-1][0], len(windows[0][1]))
'''),
    _s("ten_equal_chunks", "chunking", r'''
# Suppose the context is ~300K chars and we want 10 chunks
chunk_size = len(context) // 10
chunks = []
for i in range(10):
    if i < 9:
        chunk_str = context[i * chunk_size:(i + 1) * chunk_size]
    else:
        chunk_str = context[i * chunk_size:]
    chunks.append(chunk_str)
print([len(c) for c in chunks])
'''),
    _s("ceil_chunk_count", "chunking", r'''
import math
n = math.ceil(len(context) / 64_000)
parts = [context[k * 64_000:(k + 1) * 64_000] for k in range(n)]
print(n, sum(map(len, parts)) == len(context))
'''),
    _s("split_into_documents", "chunking", r'''
docs = [d for d in context.split("### Document ") if d.strip()]
titles = [d.split("\n", 1)[0] for d in docs]
print(len(docs))
print(titles)
'''),
    _s("re_split_documents", "chunking", r'''
import re
parts = re.split(r"\n(?=### Document )", context)
print(len(parts), [p[:20] for p in parts[:3]])
''', expect_error_hint="chunks("),
    _s("re_split_per_chunk", "chunking", r'''
import re
parts = []
for start in range(0, len(context), 100_000):
    parts.extend(re.split(r"\n(?=### Document )", context[start:start + 100_000]))
print(len(parts))
'''),
    _s("chunks_method_or_slices", "chunking", r'''
if hasattr(context, "chunks"):
    pieces = [text for _, text in context.chunks(100_000)]
else:
    pieces = [context[i:i + 100_000] for i in range(0, len(context), 100_000)]
print(len(pieces), sum(len(p) for p in pieces) > 0)
''', same_output=False),
    _s("paragraph_batches", "chunking", r'''
paras = [p.strip() for p in context.split("\n\n") if p.strip()]
batches = [paras[i:i + 20] for i in range(0, len(paras), 20)]
print(len(paras), len(batches), len(batches[-1]))
'''),
    _s("lines_around_needle", "chunking", r'''
lines = context.splitlines()
hit = next(i for i, l in enumerate(lines) if "magic number" in l)
print(hit)
print("\n".join(l[:80] for l in lines[hit - 2:hit + 3]))
'''),
    _s("generator_chunks", "chunking", r'''
def iter_chunks(text, size=25_000):
    for start in range(0, len(text), size):
        yield start, text[start:start + size]

count = 0
for start, chunk in iter_chunks(context):
    count += chunk.count("ERROR")
print(count, context.count("ERROR"))
'''),
    _s("islice_line_batches", "chunking", r'''
import itertools
it = iter(context.splitlines())
batches = []
while True:
    batch = list(itertools.islice(it, 500))
    if not batch:
        break
    batches.append(batch)
print(len(batches), len(batches[-1]))
'''),
    _s("sections_from_offsets", "chunking", r'''
import re
starts = [m.start() for m in re.finditer(r"^### Document", context, re.M)] + [len(context)]
sections = [context[a:b] for a, b in zip(starts, starts[1:])]
print(len(sections), [s[:25] for s in sections[:3]])
'''),
    _s("token_budget_estimate", "chunking", r'''
approx_tokens = len(context) / 4
print(f"~{approx_tokens:,.0f} tokens")
n_chunks = max(1, round(approx_tokens / 20_000))
chunk_chars = -(-len(context) // n_chunks)
print(n_chunks, chunk_chars)
'''),
    _s("group_lines_by_day", "chunking", r'''
import collections
by_day = collections.defaultdict(list)
for line in context.splitlines():
    if line[:4] == "2024" and "T" in line[:11]:
        by_day[line[:10]].append(line)
print(len(by_day), sorted(by_day)[:3], {k: len(v) for k, v in sorted(by_day.items())[:2]})
'''),
    _s("last_lines_reversed", "chunking", r'''
lines = context.splitlines()
for line in lines[-4:][::-1]:
    print(line[:60])
'''),
    _s("index_loop_with_neighbours", "chunking", r'''
lines = context.splitlines()
hits = []
for i in range(len(lines)):
    if "magic number" in lines[i]:
        window = lines[max(0, i - 2):i + 3]
        hits.append((i, len(window), lines[i - 1][:20], lines[i + 1][:20]))
print(hits)
'''),
    _s("list_index_and_count", "chunking", r'''
lines = context.splitlines()
start = lines.index("### Document 8: incident notes")
print(start, lines.count(""), lines[start + 1][:40])
'''),
    _s("reversed_scan_for_last_error", "chunking", r'''
lines = context.split("\n")
for line in reversed(lines):
    if " ERROR " in line:
        print(line[:90])
        break
'''),
    _s("line_range_join", "chunking", r'''
lines = context.split("\n")
chunk = "\n".join(lines[1000:2000])
print(len(chunk), chunk[:60])
'''),
    _s("tail_reversed_slice", "chunking", r'''
tail = context[-200:]
print(tail[::-1][:50])
'''),
    _s("step_slice_whole", "chunking", r'''
print(context[::1000][:40])
''', expect_error_hint="context[a:b]"),
    _s("csv_block_by_find", "chunking", r'''
start = context.find("order_id,")
end = context.find("\n\n", start)
block = context[start:end]
print(start, end, len(block.splitlines()))
'''),
]

COUNTING = [
    _s("count_substring", "counting", r'''
print(context.count("ERROR"))
'''),
    _s("findall_word_boundary", "counting", r'''
import re
print(len(re.findall(r"\bERROR\b", context)))
'''),
    _s("level_counter", "counting", r'''
import re
from collections import Counter
levels = Counter(re.findall(r"^\S+ (DEBUG|INFO|WARN|ERROR)\b", context, re.M))
print(levels)
'''),
    _s("lines_containing", "counting", r'''
n = sum(1 for line in context.splitlines() if "ERROR" in line)
print(n)
'''),
    _s("word_count", "counting", r'''
words = context.split()
print(len(words))
'''),
    _s("word_frequencies", "counting", r'''
from collections import Counter
c = Counter(w.lower().strip(".,;:!?\"'()") for w in context.split())
print(c.most_common(15))
'''),
    _s("unique_users", "counting", r'''
import re
users = set(re.findall(r"user=(u\d+)", context))
print(len(users))
print(sorted(users)[:10])
'''),
    _s("errors_per_service_dict", "counting", r'''
import re
counts = {}
for m in re.finditer(r"(ERROR|WARN) +(\w+)", context):
    key = (m.group(1), m.group(2))
    counts[key] = counts.get(key, 0) + 1
for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:10]:
    print(k, v)
'''),
    _s("counter_item_increment", "counting", r'''
import re
from collections import Counter
c = Counter()
for svc, lvl in re.findall(r"Z (WARN|ERROR) +(\w+)", context):
    c[lvl] += 1
c["total"] = sum(c.values())
print(c.most_common(3))
'''),
    _s("defaultdict_int_increment", "counting", r'''
from collections import defaultdict
per_day = defaultdict(int)
for line in context.splitlines():
    if line.startswith("2024-") and " ERROR " in line:
        per_day[line[:10]] += 1
del per_day["2024-03-01"]
print(sorted(per_day.items()))
'''),
    _s("list_item_and_slice_augment", "counting", r'''
buckets = [0] * 10
for line in context.splitlines():
    if "latency=" in line:
        ms = int(line.split("latency=")[1].split("ms")[0])
        buckets[min(ms // 100, 9)] += 1
labels = ["a", "b"]
labels[0] += "!"
labels[1:] += ["c"]
print(buckets, labels)
'''),
    _s("augmented_item_counts", "counting", r'''
counts = {}
for line in context.splitlines():
    if line.startswith("2024-"):
        level = line.split()[1]
        counts.setdefault(level, 0)
        counts[level] += 1
print(dict(sorted(counts.items())))
'''),
    _s("case_insensitive_count", "counting", r'''
import re
print(len(re.findall(r"(?i)timeout", context)), len(re.findall("timeout", context, re.IGNORECASE)))
'''),
    _s("lower_count_whole", "counting", r'''
print(context.lower().count("error"))
''', expect_error_hint="chunks("),
    _s("lower_count_per_chunk", "counting", r'''
total = 0
for i in range(0, len(context), 100_000):
    total += context[i:i + 100_000].lower().count("timeout")
print(total)
'''),
    _s("char_counter_whole", "counting", r'''
from collections import Counter
chars = Counter(context)
print(chars.most_common(5))
''', expect_error_hint="chunks("),
    _s("latency_numbers", "counting", r'''
import re
nums = [int(x) for x in re.findall(r"latency=(\d+)ms", context)]
print(len(nums), sum(nums), max(nums), min(nums))
'''),
    _s("latency_statistics", "counting", r'''
import re, statistics
nums = [int(x) for x in re.findall(r"latency=(\d+)ms", context)]
print(statistics.mean(nums), statistics.median(nums), round(statistics.pstdev(nums), 2))
print(statistics.quantiles(nums, n=20)[-1])
'''),
    _s("days_counter", "counting", r'''
import re
from collections import Counter
days = Counter(m.group(1) for m in re.finditer(r"^(\d{4}-\d{2}-\d{2})T", context, re.M))
print(len(days), days.most_common(3))
'''),
    _s("count_documents", "counting", r'''
print(context.count("### Document "), context.count("\n"), len(context.splitlines()))
'''),
    _s("finditer_5xx", "counting", r'''
import re
print(sum(1 for _ in re.finditer(r"status=5\d\d", context)))
'''),
    _s("compiled_pattern_groups", "counting", r'''
import re
pat = re.compile(r"user=(u\d+).*?status=(\d{3})")
bad = [m.groups() for m in pat.finditer(context) if m.group(2).startswith("5")]
print(len(bad), bad[:3])
'''),
    _s("hour_histogram", "counting", r'''
import re
from collections import Counter
hours = Counter(int(h) for h in re.findall(r"T(\d{2}):\d{2}:\d{2}Z", context))
print(sorted(hours.items())[:5])
for h, n in sorted(hours.items())[:3]:
    print(f"{h:02d}h {'#' * (n // 20)} {n}")
'''),
    _s("non_ascii_char_count", "counting", r'''
non_ascii = sum(1 for line in context.splitlines() for ch in line if ord(ch) > 127)
print(non_ascii)
'''),
    _s("count_with_bounds", "counting", r'''
first_doc = context.find("### Document 2")
print(context.count("ERROR", 0, first_doc), context.count("ERROR", first_doc))
'''),
    _s("search_group_number", "counting", r'''
import re
m = re.search(r"special magic number is (\d+)", context)
print(m.group(1) if m else None, m.span() if m else None)
'''),
]

AGGREGATION = [
    _s("json_lines_records", "aggregation", r'''
import json
records = []
for line in context.splitlines():
    if line.startswith("{") and line.endswith("}"):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass
print(len(records))
print(json.dumps(records[0], indent=2))
'''),
    _s("spend_by_country", "aggregation", r'''
import json
from collections import defaultdict
records = [json.loads(l) for l in context.splitlines() if l.startswith('{"id"')]
spend = defaultdict(float)
for r in records:
    spend[r["country"]] += r["spend"]
for k, v in sorted(spend.items(), key=lambda kv: -kv[1]):
    print(f"{k}: {v:,.2f}")
'''),
    _s("csv_dictreader", "aggregation", r'''
import csv
start = context.find("order_id,")
end = context.find("\n\n", start)
rows = list(csv.DictReader(context[start:end].splitlines()))
print(len(rows), rows[0])
'''),
    _s("csv_sum_by_currency", "aggregation", r'''
import csv, re
totals = {}
for m in re.finditer(r"^order_id,.*?(?=\n\n|\Z)", context, re.M | re.S):
    for row in csv.reader(m.group(0).splitlines()[1:]):
        totals[row[3]] = totals.get(row[3], 0.0) + float(row[2])
print({k: round(v, 2) for k, v in sorted(totals.items())})
'''),
    _s("io_stringio_csv", "aggregation", r'''
import io, csv
start = context.find("order_id,")
rows = list(csv.reader(io.StringIO(context[start:start + 5000])))
print(len(rows))
''', expect_error_hint="allowed modules", error_on="both"),
    _s("latency_by_service", "aggregation", r'''
import re, statistics
from collections import defaultdict
stats = defaultdict(list)
for svc, ms in re.findall(r"\s(auth|billing|search|api|worker)\s+user=\S+ req=\S+ latency=(\d+)ms", context):
    stats[svc].append(int(ms))
for svc in sorted(stats):
    v = stats[svc]
    print(f"{svc:<8} n={len(v):4d} mean={statistics.mean(v):7.1f} p95={statistics.quantiles(v, n=20)[-1]:.0f}")
'''),
    _s("top_error_users", "aggregation", r'''
import re
from collections import Counter
top = Counter(re.findall(r"ERROR\s+\w+\s+user=(u\d+)", context)).most_common(5)
print(top)
'''),
    _s("dataclass_events", "aggregation", r'''
import re
from dataclasses import dataclass, field

@dataclass
class Event:
    ts: str
    level: str
    service: str
    user: str
    tags: list = field(default_factory=list)

pattern = re.compile(r"^(\S+) (DEBUG|INFO|WARN|ERROR)\s+(\w+)\s+user=(\S+)", re.M)
events = [Event(*m.groups()) for m in pattern.finditer(context)]
print(len(events), events[0])
print(sum(1 for e in events if e.level == "ERROR"))
'''),
    _s("datetime_span", "aggregation", r'''
import re
from datetime import datetime, timedelta
stamps = re.findall(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", context, re.M)
ts = [datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ") for t in stamps]
span = max(ts) - min(ts)
print(min(ts), max(ts), span.days, span > timedelta(hours=1))
print(min(ts).isoformat(), max(ts).strftime("%d %b %Y"))
'''),
    _s("set_operations_users", "aggregation", r'''
import re, json
err_users = set(re.findall(r"ERROR\s+\w+\s+user=(u\d+)", context))
rec_users = {json.loads(l)["user"] for l in context.splitlines() if l.startswith('{"id"')}
print(len(err_users & rec_users), len(err_users - rec_users), len(err_users | rec_users))
print(sorted(err_users ^ rec_users)[:5])
'''),
    _s("heapq_slowest", "aggregation", r'''
import heapq, re
slow = heapq.nlargest(5, ((int(ms), line) for line in context.splitlines()
                          for ms in re.findall(r"latency=(\d+)ms", line)))
for ms, line in slow:
    print(ms, line[:60])
'''),
    _s("groupby_days", "aggregation", r'''
import itertools, re
rows = sorted(re.findall(r"^(\d{4}-\d\d-\d\d)T\S+ (\w+)", context, re.M))
for day, grp in itertools.groupby(rows, key=lambda r: r[0]):
    levels = [lvl for _, lvl in grp]
    print(day, len(levels), levels.count("ERROR"))
'''),
    _s("longest_line", "aggregation", r'''
longest = max(context.splitlines(), key=len)
shortest = min((l for l in context.splitlines() if l), key=len)
print(len(longest), longest[:100])
print(repr(shortest))
'''),
    _s("reduce_total", "aggregation", r'''
import re
from functools import reduce
nums = [float(x) for x in re.findall(r'"spend": ([\d.]+)', context)]
total = reduce(lambda a, b: a + b, nums, 0.0)
print(len(nums), round(total, 2), round(sum(nums), 2))
'''),
    _s("level_percentages", "aggregation", r'''
import re
from collections import Counter
levels = Counter(re.findall(r"Z (DEBUG|INFO|WARN|ERROR) ", context))
total = sum(levels.values())
for lvl, n in levels.most_common():
    print(f"{lvl:<6}{n:>6} {n / total:6.1%}")
'''),
    _s("dict_comprehension_plans", "aggregation", r'''
import json
records = [json.loads(l) for l in context.splitlines() if l.startswith('{"id"')]
by_plan = {p: sum(1 for r in records if r["plan"] == p) for p in {r["plan"] for r in records}}
print(dict(sorted(by_plan.items())))
'''),
    _s("tags_flattened", "aggregation", r'''
import json
from collections import Counter
records = [json.loads(l) for l in context.splitlines() if l.startswith('{"id"')]
print(Counter(t for r in records for t in r["tags"]).most_common(5))
print(sum(1 for r in records if not r["tags"]), sum(1 for r in records if "note" in r))
'''),
    _s("user_sessions", "aggregation", r'''
import re
from collections import defaultdict
actions = defaultdict(list)
for user, msg in re.findall(r"user=(u\d+) .*?msg=\"([^\"]*)\"", context):
    actions[user].append(msg)
busiest = sorted(actions, key=lambda u: (-len(actions[u]), u))[:3]
for u in busiest:
    print(u, len(actions[u]), actions[u][:2])
'''),
    _s("difflib_close_matches", "aggregation", r'''
import difflib
services = sorted(set(l.split()[2] for l in context.splitlines() if l.startswith("2024-")))
print(services, difflib.get_close_matches("biling", services))
'''),
    _s("itemgetter_sort", "aggregation", r'''
import csv, operator
start = context.find("order_id,")
rows = list(csv.reader(context[start:context.find("\n\n", start)].splitlines()[1:]))
rows = [(r[0], r[1], float(r[2]), r[3]) for r in rows]
for r in sorted(rows, key=operator.itemgetter(2), reverse=True)[:3]:
    print(r)
'''),
    _s("status_matrix", "aggregation", r'''
import re
from collections import Counter
pairs = Counter(re.findall(r"(auth|billing|search|api|worker)\s+user=\S+ req=\S+ latency=\d+ms status=(\d)\d\d", context))
services = sorted({s for s, _ in pairs})
print("svc     " + " ".join(f"{c}xx" for c in "245"))
for s in services:
    print(f"{s:<8}" + " ".join(f"{pairs.get((s, c), 0):3d}" for c in "245"))
'''),
    _s("per_document_stats", "aggregation", r'''
import re
docs = context.split("### Document ")[1:]
table = []
for d in docs:
    title = d.split("\n", 1)[0]
    table.append((title, len(d), d.count("\n"), len(re.findall(r"\bERROR\b", d))))
for row in table[:6]:
    print("{:<30} {:>7} {:>5} {:>4}".format(*row))
'''),
]

FANOUT = [
    _s("single_query_on_head", "fanout", r'''
chunk = context[:10000]
reply = llm_query(f"What is the magic number in the context? Here is the chunk: {chunk}")
print(reply)
''', needs_subcalls=True),
    _s("whole_context_in_prompt", "fanout", r'''
reply = llm_query(f"Find the special magic number in this text:\n{context}")
print(reply)
''', needs_subcalls=True, expect_error_hint="slice"),
    _s("whole_context_as_prompt", "fanout", r'''
summary = llm_query("Summarise this text.\n\n" + context)
print(summary[:80])
''', needs_subcalls=True, expect_error_hint="chunks("),
    _s("whole_context_without_a_question", "fanout", r'''
summary = llm_query(context)
print(summary[:80])
''', needs_subcalls=True, expect_error_hint="no question or instruction", error_on="both"),
    _s("official_example_overwrites_answer", "fanout", r'''
chunk = context[:10000]
answer = llm_query(f"What is the magic number in the context? Here is the chunk: {chunk}")
print(answer)
''', needs_subcalls=True),
    _s("batched_magic_search", "fanout", r'''
chunk_size = 50_000
chunks = [context[i:i + chunk_size] for i in range(0, len(context), chunk_size)]
prompts = [f"Find the special magic number in this text. Reply with the number or NONE.\n\n{c}" for c in chunks]
answers = llm_query_batched(prompts)
for i, a in enumerate(answers):
    print(f"chunk {i}: {a}")
found = [a for a in answers if a.strip() != "NONE"]
print(found)
''', needs_subcalls=True),
    _s("per_document_summaries", "fanout", r'''
docs = context.split("### Document ")[1:]
titles = [d.split("\n", 1)[0] for d in docs]
prompts = [f"Summarize this document in one sentence:\n{d[:20000]}" for d in docs]
summaries = llm_query_batched(prompts)
for t, s in zip(titles, summaries):
    print(f"- {t}: {s[:70]}")
''', needs_subcalls=True),
    _s("map_reduce", "fanout", r'''
query = "Which service had the most errors?"
chunk_size = len(context) // 6 + 1
chunks = [context[i:i + chunk_size] for i in range(0, len(context), chunk_size)]
prompts = [f"Try to answer: {query}. Count ERROR lines per service in this text:\n{c}" for c in chunks]
answers = llm_query_batched(prompts)
for i, a in enumerate(answers):
    print(f"I got the answer from chunk {i}: {a}")
summary = llm_query(f"Aggregating all the answers per chunk, answer: {query}\n\nAnswers:\n" + "\n".join(answers))
print(summary)
''', needs_subcalls=True),
    _s("iterative_buffer", "fanout", r'''
query = "Which service had the most errors?"
sections = context.split("### Document ")[1:]
buffer = ""
for i, section in enumerate(sections[:4]):
    buffer = llm_query(f"You are on section {i} of {len(sections)}. So far you know: {buffer}. "
                       f"Gather information to answer {query}. Section:\n{section[:20000]}")
    print(f"After section {i} of {len(sections)}, you have tracked: {buffer[:60]}")
''', needs_subcalls=True),
    _s("filter_then_extract", "fanout", r'''
import re
candidates = [l for l in context.splitlines() if re.search(r"\bERROR\b.*status=50[34]", l)]
print(len(candidates))
batch = ["Extract the user id and service from this log line as JSON:\n" + l for l in candidates[:15]]
results = llm_query_batched(batch)
print(results[:3])
''', needs_subcalls=True),
    _s("json_answers_parsed", "fanout", r'''
import json
chunks = [context[i:i + 60_000] for i in range(0, len(context), 60_000)]
raw = llm_query_batched([f"Return JSON with keys errors and chars for this text:\n{c}" for c in chunks])
parsed = []
for r in raw:
    try:
        obj = json.loads(r)
    except (json.JSONDecodeError, TypeError):
        obj = None
    parsed.append(obj if isinstance(obj, dict) else {"errors": 0, "chars": 0})
print(sum(p["errors"] for p in parsed), parsed[0])
''', needs_subcalls=True),
    _s("rlm_query_on_slice", "fanout", r'''
res = rlm_query("Count the ERROR lines in this text and answer with a number.", context[:30_000])
print(res)
''', needs_subcalls=True),
    _s("rlm_query_batched_on_slices", "fanout", r'''
spans = [(i, i + 40_000) for i in range(0, 120_000, 40_000)]
outs = rlm_query_batched(["How many ERROR lines are there?"] * len(spans), [context[a:b] for a, b in spans])
print(outs)
''', needs_subcalls=True),
    _s("rlm_query_whole_context", "fanout", r'''
res = rlm_query("Find the special magic number.", context)
print(res)
''', needs_subcalls=True, expect_error_hint="context[a:b]"),
    _s("batches_of_twenty", "fanout", r'''
lines = [l for l in context.splitlines() if l.startswith("2024-") and " WARN " in l]
groups = ["\n".join(lines[i:i + 10]) for i in range(0, len(lines), 10)]
prompts = [f"Classify the root cause of these warnings:\n{g}" for g in groups]
results = []
for b in range(0, len(prompts), 20):
    results.extend(llm_query_batched(prompts[b:b + 20]))
assert len(results) == len(prompts)
print(len(prompts), len(results), results[0][:40])
''', needs_subcalls=True),
    _s("template_format_prompts", "fanout", r'''
TEMPLATE = "Question: {q}\nReply with the number or NONE.\nText:\n{text}"
parts = [context[i:i + 80_000] for i in range(0, len(context), 80_000)]
prompts = [TEMPLATE.format(q="What is the special magic number?", text=p) for p in parts]
answers = llm_query_batched(prompts)
print(answers)
''', needs_subcalls=True),
    _s("votes_counter", "fanout", r'''
from collections import Counter
parts = [context[i:i + 50_000] for i in range(0, len(context), 50_000)]
answers = llm_query_batched(["What is the special magic number? Reply NONE if absent.\n" + p for p in parts])
votes = Counter(a.strip() for a in answers if a.strip() != "NONE")
best, n = votes.most_common(1)[0]
print(best, n, len(answers))
''', needs_subcalls=True),
    _s("query_with_model_kwarg", "fanout", r'''
reply = llm_query("Say hello in one word: " + context[:100], model=None)
print(reply[:40])
''', needs_subcalls=True),
    _s("sub_answers_into_dict", "fanout", r'''
import re
titles = re.findall(r"^### Document (\d+): (.+)$", context, re.M)
notes = [t for t in titles if t[1] == "incident notes"]
bodies = []
for num, _ in notes:
    start = context.find(f"### Document {num}:")
    end = context.find("### Document", start + 10)
    bodies.append(context[start:end if end != -1 else len(context)])
replies = llm_query_batched([f"What is the special magic number? NONE if absent.\n{b}" for b in bodies])
by_doc = {num: r for (num, _), r in zip(notes, replies)}
print(by_doc)
''', needs_subcalls=True),
]

ASSEMBLY = [
    _s("answer_dict_from_regex", "assembly", r'''
import re
m = re.search(r"special magic number is (\d+)", context)
answer["content"] = m.group(1)
answer["ready"] = True
print(answer)
''', finishes=True),
    _s("final_var_by_value", "assembly", r'''
import re
n_errors = len(re.findall(r"\bERROR\b", context))
result = f"There are {n_errors:,} ERROR lines."
FINAL_VAR(result)
''', finishes=True),
    _s("final_var_by_name", "assembly", r'''
final_answer = str(context.count("### Document "))
FINAL_VAR("final_answer")
''', finishes=True),
    _s("final_call", "assembly", r'''
import re
users = sorted(set(re.findall(r"user=(u\d+)", context)))
FINAL(", ".join(users[:5]))
''', finishes=True),
    _s("report_lines_join", "assembly", r'''
import re
from collections import Counter
levels = Counter(re.findall(r"Z (DEBUG|INFO|WARN|ERROR) ", context))
report = ["# Log summary", ""]
for lvl, n in levels.most_common():
    report.append(f"- {lvl}: {n}")
report.append("")
report.append(f"Documents: {context.count('### Document ')}")
text = "\n".join(report)
print(text)
answer["content"] = text
answer["ready"] = True
''', finishes=True),
    _s("json_answer", "assembly", r'''
import json, re
payload = {"magic": re.search(r"magic number is (\d+)", context).group(1),
           "documents": context.count("### Document "),
           "errors": context.count(" ERROR ")}
answer["content"] = json.dumps(payload, sort_keys=True)
answer["ready"] = True
print(answer["content"])
''', finishes=True),
    _s("markdown_table", "assembly", r'''
import re
from collections import Counter
svc = Counter(re.findall(r"ERROR (\w+) ", context))
rows = ["| service | errors |", "|---|---|"] + [f"| {s} | {n} |" for s, n in sorted(svc.items())]
table = "\n".join(rows)
print(table)
''',),
    _s("numeric_answer", "assembly", r'''
answer["content"] = context.count("status=503")
answer["ready"] = True
''', finishes=True),
    _s("incremental_answer", "assembly", r'''
answer["content"] = "partial: looking at documents"
print(answer["ready"])
parts = []
for num in range(1, 4):
    pos = context.find(f"### Document {num}:")
    parts.append(context[pos:context.find("\n", pos)])
answer["content"] = "; ".join(parts)
answer["ready"] = True
''', finishes=True),
    _s("textwrap_fill_summary", "assembly", r'''
import textwrap
sentence_start = context.find("For the record")
summary = context[sentence_start:sentence_start + 400]
print(textwrap.fill(summary, width=70))
print(textwrap.dedent("""
    Answer:
      see above
""").strip())
'''),
    _s("string_template", "assembly", r'''
import re
from string import Template
t = Template("Found $n errors across $d days; magic=$magic")
msg = t.substitute(n=context.count(" ERROR "),
                   d=len(set(re.findall(r"^(\d{4}-\d\d-\d\d)T", context, re.M))),
                   magic=re.search(r"magic number is (\d+)", context).group(1))
print(msg)
'''),
    _s("format_specs", "assembly", r'''
import re
spend = [float(x) for x in re.findall(r'"spend": ([\d.]+)', context)]
print(f"{'total':<10}{sum(spend):>14,.2f}")
print(f"{'average':<10}{sum(spend) / len(spend):>14.3f}")
print("{:>8}|{:^8}|{:<8}".format("right", "mid", "left"))
print("%d records, %.1f%% above 250" % (len(spend), 100 * sum(s > 250 for s in spend) / len(spend)))
'''),
    _s("assert_then_answer", "assembly", r'''
import re
m = re.search(r"special magic number is (\d+)", context)
assert m is not None, "needle not found"
value = int(m.group(1))
assert 1_000_000 <= value < 10_000_000
answer["content"] = f"The special magic number is {value}."
answer["ready"] = True
''', finishes=True),
    _s("answer_from_sub_calls", "assembly", r'''
parts = [context[i:i + 100_000] for i in range(0, len(context), 100_000)]
replies = llm_query_batched(["What is the special magic number? NONE if absent.\n" + p for p in parts])
hits = [r for r in replies if r != "NONE"]
final_text = hits[0] if hits else "not found"
FINAL_VAR(final_text)
''', needs_subcalls=True, finishes=True),
    _s("final_with_list", "assembly", r'''
import re
top = sorted(set(re.findall(r"status=(5\d\d)", context)))
FINAL_VAR(top)
''', finishes=True),
]

MISC = [
    _s("import_os_refused", "misc", r'''
import os
print(os.listdir("."))
''', expect_error_hint="allowed modules", error_on="both"),
    _s("open_file_refused", "misc", r'''
with open("context.txt") as f:
    data = f.read()
print(len(data))
''', expect_error_hint="the data is in the variable `context`", error_on="both"),
    _s("encode_whole", "misc", r'''
size = len(context.encode("utf-8"))
print(size)
''', expect_error_hint="chunks("),
    _s("encode_slice", "misc", r'''
print(len(context[:1000].encode("utf-8")), len(context[:1000]))
'''),
    _s("list_of_context", "misc", r'''
chars = list(context)
print(len(chars))
''', expect_error_hint="chunks("),
    _s("strip_then_split", "misc", r'''
lines = context.strip().split("\n")
print(len(lines), lines[0], lines[-1][:40])
'''),
    _s("upper_whole", "misc", r'''
shout = context.upper()
print(shout[:20])
''', expect_error_hint="chunks("),
    _s("replace_whole", "misc", r'''
cleaned = context.replace("\r\n", "\n")
print(len(cleaned))
''', expect_error_hint="chunks("),
    _s("strip_then_splitlines", "misc", r'''
lines = context.strip().splitlines()
print(len(lines), lines[-1][:50])
body = context.lstrip("# ")
print(body[:40], len(context) - len(body))
'''),
    _s("rstrip_newline_split", "misc", r'''
rows = context.rstrip("\n").split("\n")
print(len(rows), repr(rows[-1][:30]), context.rstrip().endswith("\n"))
'''),
    _s("partition_whole", "misc", r'''
head, sep, tail = context.partition("### Document 8")
print(len(head), sep, tail[:40])
''', expect_error_hint="context[a:b]"),
    _s("partition_by_find", "misc", r'''
pos = context.find("### Document 8")
head, tail = context[:pos], context[pos:]
print(len(head), tail[:40])
'''),
    _s("textwrap_on_whole", "misc", r'''
import textwrap
print(textwrap.shorten(context, width=200))
'''),
    _s("class_with_state", "misc", r'''
class Tracker:
    def __init__(self):
        self.seen = set()
        self.hits = 0

    def add(self, item):
        if item in self.seen:
            self.hits += 1
        self.seen.add(item)

import re
t = Tracker()
for u in re.findall(r"user=(u\d+)", context[:50_000]):
    t.add(u)
print(len(t.seen), t.hits)
'''),
    _s("try_except_value_error", "misc", r'''
values = []
for tok in context[:3000].split():
    try:
        values.append(int(tok))
    except ValueError as e:
        last_error = str(e)
print(len(values), last_error[:40])
'''),
    _s("map_filter_lambda", "misc", r'''
warn = list(filter(lambda l: " WARN " in l, context.splitlines()))
lens = list(map(len, warn))
print(len(warn), max(lens), sorted(lens)[:3])
'''),
    _s("any_all_zip", "misc", r'''
lines = context.splitlines()
print(any("magic" in l for l in lines), all(len(l) < 2000 for l in lines))
pairs = list(zip(lines[:3], lines[1:4]))
print(len(pairs), pairs[0][0][:20])
'''),
    _s("hashlib_digest", "misc", r'''
import hashlib
print(hashlib.md5(context[:1000].encode()).hexdigest())
print(hashlib.sha256(context[-1000:].encode("utf-8")).hexdigest()[:16])
'''),
    _s("base64_roundtrip", "misc", r'''
import base64
b = base64.b64encode(context[:60].encode())
print(b.decode(), base64.b64decode(b).decode() == context[:60])
'''),
    _s("unicodedata_normalize", "misc", r'''
import unicodedata
odd = [l for l in context.splitlines() if not l.isascii()][:3]
for l in odd:
    print(unicodedata.normalize("NFKD", l).encode("ascii", "ignore").decode()[:60])
print(len(odd))
'''),
    _s("dir_of_context", "misc", r'''
print([m for m in dir(context) if not m.startswith("_")][:12])
''', same_output=False),
    _s("getattr_method", "misc", r'''
method = getattr(context, "count")
print(method("ERROR"), hasattr(context, "find"), hasattr(context, "_mm"))
'''),
    _s("main_guard", "misc", r'''
def main():
    return context.count("INFO")

if __name__ == "__main__":
    print(main())
'''),
    _s("global_counter", "misc", r'''
counter = 0

def bump(n=1):
    global counter
    counter += n

for line in context.splitlines()[:500]:
    if "INFO" in line:
        bump()
print(counter)
'''),
    _s("closure_nonlocal", "misc", r'''
def make_counter():
    total = 0
    def add(x):
        nonlocal total
        total += x
        return total
    return add

add = make_counter()
for n in (context.count("WARN"), context.count("ERROR")):
    add(n)
print(add(0))
'''),
    _s("walrus_search", "misc", r'''
import re
if (m := re.search(r"special magic number is (\d+)", context)):
    print("found", m.group(1), m.start() > 0)
'''),
    _s("match_statement", "misc", r'''
def classify(line):
    match line.split()[:2]:
        case [_, "ERROR"]:
            return "error"
        case [_, "WARN"]:
            return "warning"
        case _:
            return "other"

from collections import Counter
print(Counter(classify(l) for l in context.splitlines() if l.startswith("2024-")))
''', expect_error_hint="use if/elif", error_on="both"),
    _s("print_star_sep", "misc", r'''
lines = context.splitlines()
print(*lines[:3], sep="\n")
print(*range(3), sep=", ", end="!\n")
'''),
    _s("sort_key_str_lower", "misc", r'''
words = sorted({w for w in context[:5000].split() if w.isalpha()})
words.sort(key=str.lower)
print(words[:10], sorted(["b", "A", "c"], key=str.lower))
'''),
    _s("from_imports", "misc", r'''
from collections import Counter, defaultdict, OrderedDict, deque
from itertools import islice, chain
import re as regex_module
first = list(islice(chain(context.splitlines(), ["end"]), 3))
recent = deque(maxlen=3)
for line in context.splitlines()[:100]:
    recent.append(line[:10])
print(len(first), list(recent), OrderedDict(a=1), regex_module.escape("a.b"))
'''),
    _s("raise_from_none", "misc", r'''
def parse_amount(text):
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None

try:
    parse_amount(context[:5])
except ValueError as e:
    print(e)
'''),
    _s("private_attribute_refused", "misc", r'''
print(context._mm)
''', expect_error_hint='starts with "_"', error_on="both"),
    _s("type_dunder_name", "misc", r'''
results = [1, "a", 2.0, None, [1], {"k": 1}]
print([type(x).__name__ for x in results])
print(type(context[:10]).__name__, type(len(context)).__name__)
'''),
    _s("bisect_offsets", "misc", r'''
import bisect, re
starts = [m.start() for m in re.finditer(r"^### Document", context, re.M)]
needle = context.find("magic number")
print(bisect.bisect_right(starts, needle))
'''),
    _s("fnmatch_filter", "misc", r'''
import fnmatch
titles = [l[4:] for l in context.splitlines() if l.startswith("### ")]
print(fnmatch.filter(titles, "*server log*")[:3])
'''),
    _s("sorted_multikey", "misc", r'''
import re
rows = re.findall(r"user=(u\d+) req=\S+ latency=(\d+)ms", context)
rows = sorted(rows, key=lambda r: (-int(r[1]), r[0]))[:5]
print(rows)
'''),
    _s("enumerate_start_and_zip_strict", "misc", r'''
lines = context.splitlines()[:5]
for n, (a, b) in enumerate(zip(lines, lines[1:]), start=1):
    print(n, len(a), len(b))
'''),
    _s("string_methods_on_lines", "misc", r'''
for line in context.splitlines()[:200]:
    if line.startswith("### "):
        head, _, tail = line.partition(": ")
        print(head.lower(), "|", tail.upper(), "|", line.rsplit(" ", 1)[-1], "|", line.strip("#").strip())
'''),
    _s("exec_eval_refused", "misc", r'''
print(eval("1 + 1"))
''', expect_error_hint="not allowed", error_on="both"),
]

SNIPPETS: list[Snippet] = EXPLORATION + CHUNKING + COUNTING + AGGREGATION + FANOUT + ASSEMBLY + MISC

assert len({s.id for s in SNIPPETS}) == len(SNIPPETS), "snippet ids must be unique"
assert all(s.category in CATEGORIES for s in SNIPPETS)
