"""A run as one self-contained HTML page: `rlm runs view RUN_ID`.

The page needs no server and no network: the run's data is one JSON block inside it, the
script and styles are inline (rlm/frontends/templates/run_view.html), code is highlighted here with
Pygments, and a Content-Security-Policy forbids any request (images only as data: URIs). It
shows the question, settings, answer and status; each turn's reply, cells (code, output,
errors, duration); every sub-call (collapsed; rendered only when opened or found by the
search); child runs nested (rendered when expanded); notes loaded and written; budget use
over time as a small chart; and the evidence: each verified citation (`cite`) with its id, where
it is (document, page, lines) and its quote shown inside the lines around it, read again from the
run's context files (`evidence_context`), linked from the answer and to the cell that made it,
and each cell's citations, kept or refused (and why).

What is not stored again: a sub-call prompt that carried a chunk of the context is in the
trajectory as its head and tail (`trajectory.prompt_record`); the page shows those, its size,
the cell that sent it and, when the viewer finds its text in the run's context files, where
it came from ("characters 240,000-320,000 of logs/app.log"). Long outputs and replies are cut
for the page (the trajectory keeps them).

Secrets never appear: every text goes through `Redactor` (the values of the environment's
key, token, secret and password variables, and what looks like an API key, a bearer token or
a password in a URL) before it is written.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import time
from collections.abc import Iterable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rlm.events import UNFINISHED, Kind
from rlm.evidence import AROUND_BYTES
from rlm.resume import find_run
from rlm.trajectory import read_trajectory

# what the page keeps of long texts (the trajectory has them whole)
SUB_REPLY_CHARS = 8_000
OUTPUT_CHARS = 50_000
MODEL_REPLY_CHARS = 50_000
CHART_POINTS = 400
# finding where long prompts came from: the context files read (at most this much) and the time spent
SOURCE_MAX_CHARS = 256 << 20
LOCATE_BUDGET_S = 3.0
_PROBE_CHARS = 200
# a citation's quote is shown inside the lines around it: at most this many, and bytes, each side
EVIDENCE_LINES = 2
EVIDENCE_AROUND_BYTES = AROUND_BYTES

_SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
_SECRET_PATTERNS = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),                      # OpenAI-style keys (sk-, sk-proj-...)
    re.compile(r"\b(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{16,}=*"),
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),               # user:password@ in a URL
]
REDACTED = "[redacted]"


class Redactor:
    """Replaces secrets in texts: the given values, the values of this process's environment
    variables that name a key, token, secret or password (8 characters or more), and patterns of
    well-known key formats."""

    def __init__(self, secrets: Iterable[str] = (), *, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        values = {v for v in secrets if v and len(v) >= 8}
        values |= {v for k, v in env.items() if _SECRET_ENV.search(k) and v and len(v) >= 8}
        ordered = sorted(values, key=len, reverse=True)
        self._values = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def text(self, value: str) -> str:
        if self._values is not None:
            value = self._values.sub(REDACTED, value)
        for pattern in _SECRET_PATTERNS:
            value = pattern.sub(REDACTED, value)
        return value

    def any(self, value: Any) -> Any:
        """`value` with every string in it (keys too) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.any(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.any(v) for v in value]
        return value


def find_run_path(runs_dir: Path, run_id: str) -> Path:
    """The trajectory of `run_id` (or of the one run whose id starts or ends with it); ContextError
    if there is none, or several."""
    return find_run(runs_dir, run_id)


def _cut(text: Any, limit: int) -> tuple[str, int]:
    """(the text cut to `limit` characters, how many were cut)."""
    s = "" if text is None else str(text)
    return (s, 0) if len(s) <= limit else (s[:limit], len(s) - limit)


def _prose(reply: str) -> str:
    """A reply's text outside code fences (the cells show the code)."""
    out = re.sub(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$", "", reply, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def _ts(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


class _Highlighter:
    def __init__(self) -> None:
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer
        except ImportError:  # pragma: no cover - Pygments comes with IPython, a dependency
            self._fmt = None
            return
        self._highlight, self._lexer = highlight, PythonLexer()
        self._fmt = HtmlFormatter(nowrap=True, classprefix="pg-")
        self.css = self._fmt.get_style_defs(".code")

    css = ""

    def __call__(self, code: str) -> str:
        if self._fmt is None:
            return html.escape(code)
        return str(self._highlight(code, self._lexer, self._fmt))


class ContextSources:
    """The texts a run's context came from (its files, or the stored in-memory context), to tell
    where a long sub-call prompt's text was taken from."""

    def __init__(self, sources: list[tuple[str, str]]) -> None:
        self.sources = sources
        self._hint: dict[int, int] = {}
        self._spent = 0.0

    @classmethod
    def of_run(cls, start: dict[str, Any], runs_dir: Path) -> ContextSources:
        context = start.get("context") or {}
        replay = start.get("replay") or {}
        paths: list[Path] = []
        if replay.get("paths"):
            paths = [Path(p) for p in replay["paths"]]
        elif context.get("kind") == "path" and context.get("path"):
            paths = [Path(context["path"])]
        sources: list[tuple[str, str]] = []
        budget = SOURCE_MAX_CHARS
        if replay.get("stored"):
            stored = runs_dir / Path(str(replay["stored"])).name
            text = _read_text(stored, budget)
            if text is not None and replay.get("kind") == "text":
                sources.append(("the context", text))
                budget -= len(text)
        for root in paths:
            files = [root] if root.is_file() else sorted(
                p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                      p.relative_to(root).parts))
            for f in files:
                text = _read_text(f, budget)
                if text is None:
                    continue
                sources.append((str(f), text))
                budget -= len(text)
                if budget <= 0:
                    break
        return cls(sources)

    def locate(self, head: str, tail: str, chars: int) -> dict[str, Any] | None:
        """Where the text of a prompt (known by its head and tail) is in the sources: the source,
        the character range, and which part of the prompt it is; None if not found in time."""
        if not self.sources or len(head) < _PROBE_CHARS or self._spent > LOCATE_BUDGET_S:
            return None
        started = time.monotonic()
        try:
            probe_at = len(head) - _PROBE_CHARS
            probe = head[probe_at:]
            for index, (name, text) in enumerate(self.sources):
                hint = self._hint.get(index, 0)
                pos = text.find(probe, hint)
                if pos < 0 and hint:
                    pos = text.find(probe, 0, hint + len(probe))
                if pos < 0:
                    continue
                k, start = probe_at, pos
                while k > 0 and start > 0 and head[k - 1] == text[start - 1]:
                    k, start = k - 1, start - 1
                end = start + (chars - k)
                whole_rest = bool(tail) and end <= len(text) and text[end - len(tail):end] == tail
                self._hint[index] = max(0, (end if whole_rest else pos) - len(probe))
                found: dict[str, Any] = {"source": name, "start": start, "prompt_offset": k}
                if whole_rest:
                    found["end"] = end
                return found
            return None
        finally:
            self._spent += time.monotonic() - started


def _read_text(path: Path, budget: int) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > budget:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\x00" in data[:8192]:
        return None
    return data.decode("utf-8", "replace")


class _ContextFiles:
    """The files of a run's context, to read a cited quote again with the lines around it (its
    document's bytes where the document is a text file: a directory's file by its name, a file
    given; an in-memory context stored with the run by the context's offsets). The quote must
    be there, byte for byte, and the bytes read around it hash to what the host read when it
    kept the citation (`around_sha256`: no other file, whatever a trajectory names); an
    extracted document (PDF, Word...) is not its file's bytes."""

    def __init__(self, start: dict[str, Any], runs_dir: Path) -> None:
        replay = start.get("replay") or {}
        context = start.get("context") or {}
        roots = [Path(str(p)) for p in replay.get("paths") or []]
        if not roots and context.get("kind") == "path" and context.get("path"):
            roots = [Path(str(context["path"]))]
        self.roots = roots
        self.stored = (runs_dir / Path(str(replay["stored"])).name
                       if replay.get("stored") and replay.get("kind") == "text" else None)

    def _candidates(self, document: str) -> Iterable[Path]:
        for root in self.roots:
            if root.is_dir():
                try:
                    path = (root / document).resolve()
                    if path.is_relative_to(root.resolve()) and path.is_file():
                        yield path
                except (OSError, ValueError):
                    continue
            elif root.is_file() and (document in (root.name, str(root)) or str(root).endswith("/" + document)):
                yield root

    def around(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        """{before, after, more_before, more_after, first_line}: the text around a citation's quote in its document (at
        most EVIDENCE_LINES lines, EVIDENCE_AROUND_BYTES bytes each side), or None where it
        is not found in the run's files."""
        try:
            quote = str(ev["quote"]).encode("utf-8", "surrogatepass")
            places = [(path, int(ev["start"])) for path in self._candidates(str(ev["document"]))]
            if self.stored is not None:
                places.append((self.stored, int(ev["at"][0])))
        except (KeyError, TypeError, ValueError, IndexError):
            return None
        for path, at in places:
            try:
                with open(path, "rb") as f:
                    lo = max(0, at - EVIDENCE_AROUND_BYTES)
                    f.seek(lo)
                    data = f.read(at - lo + len(quote) + EVIDENCE_AROUND_BYTES)
            except OSError:
                continue
            if data[at - lo:at - lo + len(quote)] != quote:
                continue
            if hashlib.sha256(data).hexdigest() != ev.get("around_sha256"):
                continue  # not the bytes the host read around it (a crafted trajectory, or the file changed)
            wanted = at - lo + len(quote) + EVIDENCE_AROUND_BYTES
            before = data[:at - lo].split(b"\n")
            after = data[at - lo + len(quote):].split(b"\n")
            # what is left out: "lines" (whole lines above / below), "part" (the shown piece is
            # part of a line), "" (nothing: the document's start or end)
            more_before = "part" if lo > 0 else ""
            if len(before) > EVIDENCE_LINES + 1:
                before, more_before = before[-(EVIDENCE_LINES + 1):], "lines"
            more_after = "part" if len(data) == wanted else ""  # the file goes on past what was read
            if len(after) > EVIDENCE_LINES + 1:
                after, more_after = after[:EVIDENCE_LINES + 1], "lines"
            lines = ev.get("lines")
            return {"before": b"\n".join(before).decode("utf-8", "replace").lstrip("\ufffd"),
                    "after": b"\n".join(after).decode("utf-8", "replace").rstrip("\ufffd"),
                    "more_before": more_before, "more_after": more_after,
                    "first_line": int(lines[0]) - (len(before) - 1) if lines else None}
        return None


class _Builder:
    """Builds the page's data for a run and its child runs."""

    def __init__(self, runs_dir: Path, redactor: Redactor) -> None:
        self.runs_dir = runs_dir
        self.redact = redactor
        self.highlight = _Highlighter()
        self.sources: ContextSources | None = None
        self.points: list[tuple[float, int, float]] = []  # (time, tokens, cost) of every call in the tree
        self.root_started: float | None = None
        self.root_id = ""
        self.sub_call_count = 0
        self.unpriced = False  # the root run's cost is unknown: a model without a price
        self.turn_marks: list[list[Any]] = []  # [time, turn] of the root run's model calls
        self._seen: set[str] = set()

    def run(self, path: Path) -> dict[str, Any]:
        raw_events = list(read_trajectory(path))
        events = [self.redact.any(e) for e in raw_events]
        start: dict[str, Any] = next((e for e in events if e.get("event") == Kind.RUN_START), {})
        run_id = str(start.get("run_id") or path.stem)
        self._seen.add(run_id)
        started = _ts(start.get("ts"))
        if not self.root_id:
            self.root_started, self.root_id = started, run_id
        if self.sources is None:
            self.sources = ContextSources.of_run(start, self.runs_dir)
        offset = (started - self.root_started) if started is not None and self.root_started is not None else 0.0
        config = start.get("config") or {}
        run: dict[str, Any] = {
            "id": run_id, "depth": start.get("depth", 0), "parent": start.get("parent_run_id"),
            "model": start.get("model"), "method": start.get("method") or "rlm", "query": start.get("query"),
            "started": start.get("ts"),
            "context": start.get("context") or {}, "status": UNFINISHED, "answer": None, "error": None,
            "settings": _settings(config), "turns": [], "cells": {}, "subcalls": [], "children": {},
            "notes": {"loaded": None, "ops": [], "written": []}, "budget_stop": None, "totals": None,
            "offset_s": round(offset, 3), "citations": [], "evidence": [],
        }
        final_evidence: list[dict[str, Any]] | None = None
        turns: dict[str, dict[str, Any]] = {}

        def turn_of(key: Any) -> dict[str, Any]:
            k = str(key)
            if k not in turns:
                turns[k] = {"turn": key, "calls": [], "cells": []}
                run["turns"].append(turns[k])
            return turns[k]

        for raw, e in zip(raw_events, events, strict=True):
            kind = e.get("event")
            if kind == Kind.CONTEXT_LOADED:
                run["loaded"] = {k: e.get(k) for k in ("name", "type", "size", "description", "docs")}
            elif kind == Kind.MODEL_CALL:
                reply, cut = _cut(e.get("reply"), MODEL_REPLY_CHARS)
                call = {k: e.get(k) for k in ("model", "prompt_tokens", "completion_tokens", "cached_tokens",
                                              "latency_s", "attempts", "cache_hit", "error", "prompt_chars")}
                call["cost_usd"] = _cost(e)
                call.update(prose=_prose(reply), reply=reply, reply_cut=cut, messages=len(e.get("messages") or []))
                turn_of(e.get("turn"))["calls"].append(call)
                self._point(e, offset)
                if run_id == self.root_id:
                    self.turn_marks.append([round(float(e.get("t") or 0.0), 3), e.get("turn")])
            elif kind == Kind.CELL:
                out, out_cut = _cut(e.get("stdout"), OUTPUT_CHARS)
                cell = {"cell": e.get("cell"), "turn": e.get("turn"), "block": e.get("block"),
                        "code": self.highlight(str(e.get("code") or "")), "stdout": out, "stdout_cut": out_cut,
                        "error": e.get("error"), "duration_s": e.get("duration_s"), "timed_out": e.get("timed_out"),
                        "restarted": e.get("restarted"), "truncated": e.get("truncated"), "final": e.get("final"),
                        "subcalls": [], "children": [], "notes": []}
                run["cells"][str(e.get("cell"))] = cell
                turn_of(e.get("turn"))["cells"].append(e.get("cell"))
            elif kind == Kind.SUB_CALL:
                run["subcalls"].append(self._sub_call(e, raw, len(run["subcalls"])))
                self._point(e, offset)
            elif kind == Kind.CHILD_RUN:
                child_id = str(e.get("child_run_id"))
                child = {"id": child_id, "cell": e.get("cell"), "prompt": self._prompt(e, raw), "status": None}
                child_path = Path(str(e.get("trajectory"))) if e.get("trajectory") else None
                if child_path is None or not child_path.is_file():
                    child_path = self.runs_dir / f"{child_id}.jsonl"
                if child_path.is_file() and child_id not in self._seen:
                    child["run"] = self.run(child_path)
                    child["status"] = child["run"]["status"]
                run["children"][child_id] = child
            elif kind == Kind.CHILD_DONE:
                child = run["children"].get(str(e.get("child_run_id")))
                if child is not None:
                    child.update(status=e.get("status"), cost_usd=_cost(e))
            elif kind == Kind.NOTES_LOADED:
                run["notes"]["loaded"] = {k: e.get(k) for k in ("directory", "memories", "memory_tokens",
                                                                 "memory_ids", "memory_texts", "docs")}
            elif kind == Kind.NOTE:
                run["notes"]["ops"].append({k: e.get(k) for k in ("cell", "op", "id", "message", "request")})
            elif kind == Kind.NOTES_WRITTEN:
                run["notes"]["written"] = e.get("writes") or []
            elif kind == Kind.NOTES_ERROR:
                run["notes"]["error"] = e.get("error")
            elif kind == Kind.BUDGET_STOP:
                run["budget_stop"] = e.get("budget")
            elif kind == Kind.CITATION:
                run["citations"].append({k: e[k] for k in ("cell", "id", "refused", "evidence", "claim") if k in e})
            elif kind == Kind.FINAL:
                run.update(status=e.get("status"), answer=e.get("answer"), error=e.get("error"))
                if isinstance(e.get("evidence"), list):
                    final_evidence = [x for x in e["evidence"] if isinstance(x, dict)]
            elif kind == Kind.TOTALS:
                usage = (e.get("usage") or {}).get("total") or {}
                run["totals"] = {"tokens": usage.get("total_tokens", 0), "prompt_tokens": usage.get("prompt_tokens", 0),
                                 "completion_tokens": usage.get("completion_tokens", 0),
                                 "cache_hits": usage.get("cache_hits", 0), "saved_usd": usage.get("saved_usd", 0.0),
                                 "cost_usd": _cost(e, 0.0), "iterations": e.get("iterations"),
                                 "sub_calls": e.get("sub_calls"), "wall_s": e.get("wall_s"),
                                 "by_model": {m: {**u, "cost_usd": _cost(u, 0.0)} for m, u in
                                              ((e.get("usage") or {}).get("by_model") or {}).items()}}
                if run_id == self.root_id:
                    self.unpriced = run["totals"]["cost_usd"] == UNPRICED
        # link cells to what they started
        for index, sc in enumerate(run["subcalls"]):
            cell = run["cells"].get(str(sc.get("cell")))
            if cell is not None:
                cell["subcalls"].append(index)
        for child_id, child in run["children"].items():
            cell = run["cells"].get(str(child.get("cell")))
            if cell is not None:
                cell["children"].append(child_id)
        for op in run["notes"]["ops"]:
            cell = run["cells"].get(str(op.get("cell")))
            if cell is not None:
                cell["notes"].append(op)
        self._evidence(run, final_evidence, start)
        return run

    def _evidence(self, run: dict[str, Any], final: list[dict[str, Any]] | None, start: dict[str, Any]) -> None:
        """The run's evidence (the final event's, or the kept citations of a run that did not
        finish), each with the cell that cited it and its quote in the lines around it; each
        cell's citations, as indices into run["citations"]."""
        cited_in: dict[Any, Any] = {}
        kept: list[dict[str, Any]] = []
        for index, c in enumerate(run["citations"]):
            ev = c.get("evidence")
            if c.get("id") is not None and isinstance(ev, dict):
                cited_in.setdefault(c["id"], c.get("cell"))
                kept.append(ev)
            cell = run["cells"].get(str(c.get("cell")))
            if cell is not None:
                cell.setdefault("citations", []).append(index)
        files = _ContextFiles(start, self.runs_dir)
        for ev in final if final is not None else kept:
            item = dict(ev)
            item["cell"] = cited_in.get(ev.get("id"))
            cell = run["cells"].get(str(item["cell"]))
            item["turn"] = cell.get("turn") if cell else None
            around = files.around(ev)
            if around is not None:
                item["around"] = self._redacted_around(around, str(ev.get("quote") or ""))
            run["evidence"].append(item)

    def _redacted_around(self, around: dict[str, Any], quote: str) -> dict[str, Any] | None:
        """`around` with its texts redacted; None where a secret runs across the quote's edge (the
        page then shows the quote alone, as the trajectory's redacted copy has it)."""
        before, after = around["before"], around["after"]
        parts = [self.redact.text(before), self.redact.text(quote), self.redact.text(after)]
        if "".join(parts) != self.redact.text(before + quote + after):
            return None
        return {**around, "before": parts[0], "after": parts[2]}

    def _prompt(self, e: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
        """The prompt of a sub-call or child run (`e` redacted; `raw` as recorded, to find where
        its text came from before redaction changed it)."""
        if "prompt" in e:
            text, cut = _cut(e.get("prompt"), SUB_REPLY_CHARS)
            return {"text": text, "chars": e.get("prompt_chars", len(text)), "cut": cut}
        if "prompt_head" in e:
            head, tail = str(e.get("prompt_head") or ""), str(e.get("prompt_tail") or "")
            chars = int(e.get("prompt_chars") or 0)
            out: dict[str, Any] = {"head": head, "tail": tail, "chars": chars, "sha256": e.get("prompt_sha256")}
            raw_head, raw_tail = str(raw.get("prompt_head") or ""), str(raw.get("prompt_tail") or "")
            where = self.sources.locate(raw_head, raw_tail, chars) if self.sources else None
            if where is not None:
                out["source"] = self.redact.any(where)
            return out
        return {"chars": e.get("prompt_chars")}  # a trajectory from before prompts were kept

    def _sub_call(self, e: dict[str, Any], raw: dict[str, Any], index: int) -> dict[str, Any]:
        self.sub_call_count += 1
        reply, cut = _cut(e.get("reply"), SUB_REPLY_CHARS)
        return {"i": index, "cell": e.get("cell"), "model": e.get("model"), "depth": e.get("depth"),
                "prompt": self._prompt(e, raw), "reply": reply, "reply_cut": cut, "error": e.get("error"),
                "pt": e.get("prompt_tokens"), "ct": e.get("completion_tokens"), "cost": _cost(e),
                "lat": e.get("latency_s"), "attempts": e.get("attempts"), "hit": bool(e.get("cache_hit")),
                "t": e.get("t")}

    def _point(self, e: dict[str, Any], offset: float) -> None:
        tokens = int(e.get("prompt_tokens") or 0) + int(e.get("completion_tokens") or 0)
        cost = float(e.get("cost_usd") or 0.0)
        self.points.append((float(e.get("t") or 0.0) + offset, tokens, cost))

    def chart(self, root: dict[str, Any]) -> dict[str, Any]:
        """Cumulative tokens and cost over time (at most CHART_POINTS points), and the budgets."""
        series: list[list[float]] = []
        tokens, cost = 0, 0.0
        for t, dt, dc in sorted(self.points):
            tokens += dt
            cost += dc
            series.append([round(t, 3), tokens, round(cost, 8)])
        if len(series) > CHART_POINTS:
            step = len(series) / CHART_POINTS
            series = [series[int(i * step)] for i in range(CHART_POINTS - 1)] + [series[-1]]
        settings = root.get("settings") or {}
        return {"series": series, "turns": self.turn_marks, "unpriced": self.unpriced,
                "max_tokens": settings.get("max_tokens"),
                "max_cost_usd": settings.get("max_cost_usd"), "max_wall_s": settings.get("max_wall_s")}


UNPRICED = "unpriced"


def _cost(e: dict[str, Any], absent: float | None = None) -> float | str | None:
    """A cost as the page shows it: the number recorded; "unpriced" where the trajectory says
    null (a model without a price: unknown, not $0); `absent` where none was recorded."""
    if "cost_usd" not in e:
        return absent
    return UNPRICED if e["cost_usd"] is None else e["cost_usd"]


_SETTINGS = ("model", "sub_model", "base_url", "sub_base_url", "max_iterations", "max_depth", "max_cost_usd",
             "max_tokens", "max_wall_s", "max_sub_calls", "max_concurrency", "history", "sub_calls", "notes",
             "notes_turn", "model_kwargs", "api_key", "sub_api_key")


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    out = {k: config[k] for k in _SETTINGS if k in config}
    sandbox = config.get("sandbox") or {}
    for k in ("policy", "cell_timeout_s", "output_limit_chars"):
        if k in sandbox:
            out[f"sandbox.{k}"] = sandbox[k]
    return out


def _template(name: str) -> str:
    return resources.files("rlm.frontends").joinpath("templates", name).read_text(encoding="utf-8")


def _json_for_script(value: Any) -> str:
    """JSON that is safe inside a <script> element (no "</script>", no "<!--")."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")


def page(title: str, body: str, *, head: str = "") -> str:
    """A self-contained HTML page (the shared look of the run view and the eval report)."""
    return (_template("page.html").replace("__CSP__", CSP).replace("__TITLE__", html.escape(title))
            .replace("/*__STYLE__*/", _template("style.css")).replace("<!--__HEAD__-->", head)
            .replace("<!--__BODY__-->", body))


def build_run_data(path: Path, *, runs_dir: Path | None = None, secrets: Iterable[str] = (),
                   links: dict[str, str] | None = None) -> dict[str, Any]:
    """The data the page shows for the run in trajectory `path` (with its child runs)."""
    builder = _Builder(runs_dir or path.parent, Redactor(secrets))
    root = builder.run(path)
    return {"run": root, "chart": builder.chart(root), "sub_calls": builder.sub_call_count,
            "generated": datetime.now().astimezone().isoformat(timespec="seconds"), "links": links or {}}


def render_run_html(path: Path, *, runs_dir: Path | None = None, secrets: Iterable[str] = (),
                    back_link: str | None = None) -> str:
    """The run in trajectory `path` as one self-contained HTML page."""
    data = build_run_data(path, runs_dir=runs_dir, secrets=secrets,
                          links={"back": back_link} if back_link else None)
    highlight_css = _Highlighter().css
    head = f"<style>{highlight_css}</style>"
    # the data goes in last: nothing is replaced inside it
    body = (_template("run_view.html").replace("/*__SCRIPT__*/", _template("run_view.js"))
            .replace("/*__DATA__*/", _json_for_script(data)))
    query = str(data["run"].get("query") or "")
    return page(f"{data['run']['method']} run {data['run']['id']}: {query[:80]}", body, head=head)


def write_run_html(path: Path, out: Path, **kwargs: Any) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_run_html(path, **kwargs), encoding="utf-8")
    tmp.replace(out)
    return out
