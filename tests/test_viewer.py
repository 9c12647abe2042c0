"""The HTML run view and the official-format export, on a real recorded run of 40 turns and
1,000 sub-calls, loaded in a real headless Chromium (Debian's `chromium`, which .ci/run installs)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from big_run import ANSWER, CHUNK, FAN_OUT, TURNS, record_big_run, sub_answer
from conftest import PLANTED_KEY, REPO, cli_env

from rlm.frontends.viewer import ContextSources, Redactor

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium here: .ci/run installs Debian's chromium package (apt-get install chromium)")


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("big-run")
    runs, run_id, context = record_big_run(tmp)
    return tmp, runs, run_id, context


def rlm_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, capture_output=True, timeout=180,
                          env=cli_env(cwd / "home"), check=False)


def chromium(*args: str, url: str, profile: Path) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-extensions", "--disable-default-apps", "--metrics-recording-only",
         f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args, url],
        capture_output=True, timeout=120, check=False)


BROWSER_SERVICES = re.compile(r"(^|\.)(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)$")


class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 that answers nothing and notes the host of every request."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hosts: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            try:
                conn.settimeout(2)
                line = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                target = line.split(" ")[1] if " " in line else line
                self.hosts.append(urlsplit(target if "://" in target else "//" + target).hostname or target)
            except OSError as exc:
                self.hosts.append(f"unreadable request: {exc}")
            finally:
                conn.close()

    def page_hosts(self) -> set[str]:
        """The hosts asked for, but Chromium's own services."""
        return {h for h in self.hosts if not BROWSER_SERVICES.search(h)}

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


class PageText(HTMLParser):
    """The text a person sees: everything outside <script>, <style> and <head>."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    @classmethod
    def of(cls, html: str) -> str:
        p = cls()
        p.feed(html)
        return "".join(p.parts)


# what would make a browser fetch something: an address in src/href/action/srcset, CSS url() or
# @import, a module import, fetch/XHR/WebSocket/EventSource/sendBeacon, a <base> or meta refresh
EXTERNAL = re.compile(
    r"""(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:|//|file:|ftp:|ws:)"""
    r"""|url\(\s*["']?\s*(?:https?:|//)|@import|\bimport\s*\(|\bimport\s+[\w{*]|\bfetch\s*\("""
    r"""|XMLHttpRequest|WebSocket|EventSource|sendBeacon|<base\b|http-equiv=["']?refresh|<link\b|<iframe\b""",
    re.IGNORECASE)


def test_a_run_of_40_turns_and_1000_sub_calls_renders_in_chromium(big_run, tmp_path):
    tmp, runs, run_id, context = big_run
    out = tmp_path / "view.html"
    started = time.monotonic()
    r = rlm_cli("runs", "view", run_id[-8:], "--runs-dir", str(runs), "-o", str(out), cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().strip() == str(out)
    html = out.read_text(encoding="utf-8")
    size = out.stat().st_size
    print(f"\nrun view: {size / 2**20:.2f} MiB, written in {elapsed:.2f} s (the CLI process, start to end)")
    assert size < 20 * 2**20

    # self-contained: nothing to fetch, and a policy that forbids fetching anyway
    assert not EXTERNAL.findall(html), EXTERNAL.findall(html)[:5]
    assert "default-src 'none'" in html and "connect-src" not in html
    # secrets never appear (the context's first line holds the planted key; the environment has it too)
    assert PLANTED_KEY not in html and "[redacted]" in html
    assert "test-key" not in html  # the key the run was given is recorded as "set"

    if CHROMIUM is None:
        pytest.skip("no chromium here: .ci/run installs Debian's chromium package (apt-get install chromium)")
    turn, part = 17, 4
    wanted = sub_answer(turn, part)
    dom = chromium("--dump-dom", url=f"{out.as_uri()}#q=ZEBRA-{turn}-{part}", profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr.decode()[-2000:]
    page = dom.stdout.decode()
    assert 'data-rendered="1"' in page
    text = PageText.of(page)
    assert ANSWER in text  # the answer
    assert "answers = llm_query_batched([f'Turn 1, part {i}: list the record codes" in text  # a cell's code
    assert wanted in text  # a sub-call's answer, found by the search and opened
    assert f"1 sub-call matches “ZEBRA-{turn}-{part}”" in text
    # the prompt is shown by its head, size and where it came from
    assert f"the rest is characters {part * CHUNK:,}–{(part + 1) * CHUNK:,} of {context}" in text, text[:3000]
    assert "ZeroDivisionError" in text and "sub-run" in text and "Loaded 0 memories" in text
    assert PLANTED_KEY not in page

    # no request leaves the page: every request goes to this proxy (loopback included), which notes
    # its host; Chromium's own services (component updates, time, accounts) are not the page's
    proxy = RecordingProxy()
    try:
        flags = (f"--proxy-server=http://127.0.0.1:{proxy.port}", "--proxy-bypass-list=<-loopback>")
        control = tmp_path / "control.html"
        control.write_text('<html><body><img src="http://example.invalid/pixel.png">'
                           '<script>fetch("http://example.invalid/x")</script></body></html>')
        chromium("--dump-dom", *flags, url=control.as_uri(), profile=tmp_path / "profile-control")
        assert "example.invalid" in proxy.page_hosts()  # the method sees a page that does fetch something
        proxy.hosts.clear()
        loaded = chromium("--dump-dom", *flags, url=f"{out.as_uri()}#q=ZEBRA", profile=tmp_path / "profile-proxy")
        assert 'data-rendered="1"' in loaded.stdout.decode()
        time.sleep(0.5)
        assert proxy.page_hosts() == set(), "the run view made a network request"
    finally:
        proxy.close()

    # a screenshot, kept as a test artifact (docs/run-view.png in the README is one of these)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "run-view.png"
    shot.unlink(missing_ok=True)
    taken = chromium(f"--screenshot={shot}", "--window-size=1280,1500", "--hide-scrollbars",
                     url=f"{out.as_uri()}#q=ZEBRA-7-3", profile=tmp_path / "profile-shot")
    assert taken.returncode == 0 and shot.exists() and shot.stat().st_size > 20_000, taken.stderr.decode()[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_data_of_the_big_run(big_run):
    """What the page is built from: every turn, cell and sub-call, the child run, the notes."""
    from rlm.frontends.viewer import build_run_data, find_run_path

    tmp, runs, run_id, context = big_run
    started = time.monotonic()
    data = build_run_data(find_run_path(runs, run_id))
    built = time.monotonic() - started
    print(f"\npage data of {data['sub_calls']:,} sub-calls built in {built:.2f} s")
    run = data["run"]
    assert run["status"] == "ok" and run["answer"] == ANSWER
    assert [t["turn"] for t in run["turns"]] == [*range(1, TURNS + 2), "notes"]
    assert len(run["subcalls"]) == TURNS * FAN_OUT and data["sub_calls"] == TURNS * FAN_OUT
    located = [sc["prompt"].get("source") for sc in run["subcalls"]]
    assert all(s is not None for s in located)  # every chunk found in the context file
    assert {s["source"] for s in located} == {str(context)}
    # each is its chunk (a start may take in a newline the instructions also end with)
    parts = [int(re.search(r"part (\d+)", sc["reply"]).group(1)) for sc in run["subcalls"]]  # (they end in any order)
    assert [s["end"] for s in located] == [(part + 1) * CHUNK for part in parts]
    assert all(0 <= s["end"] - s["start"] - CHUNK <= 2 for s in located)
    child = next(iter(run["children"].values()))
    assert child["status"] == "ok" and child["run"]["answer"].startswith("the part has")
    assert run["notes"]["ops"][0]["op"] == "remember" and "25 parts" in run["notes"]["ops"][0]["request"]["text"]
    assert len(data["chart"]["series"]) <= 400 and data["chart"]["series"][-1][1] == run["totals"]["tokens"]


def test_export_in_the_official_format(big_run, tmp_path):
    tmp, runs, run_id, context = big_run
    out = tmp_path / "official.jsonl"
    r = rlm_cli("runs", "export", run_id, "--runs-dir", str(runs), "--format", "official", "-o", str(out),
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    text = out.read_text(encoding="utf-8")
    assert PLANTED_KEY not in text and "test-key" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    meta, iterations = lines[0], lines[1:]
    # the shape of rlm/logger/rlm_logger.py + rlm/core/types.py in the official repository
    assert set(meta) == {"type", "timestamp", "root_model", "max_depth", "max_iterations", "backend",
                         "backend_kwargs", "environment_type", "environment_kwargs", "other_backends"}
    assert meta["type"] == "metadata" and meta["root_model"] == "root" and meta["other_backends"] == ["sub"]
    assert len(iterations) == TURNS + 1 and [i["iteration"] for i in iterations] == list(range(1, TURNS + 2))
    for it in iterations:
        assert set(it) == {"type", "iteration", "timestamp", "prompt", "response", "code_blocks", "final_answer",
                           "iteration_time"}
        assert it["type"] == "iteration" and all(set(m) == {"role", "content"} for m in it["prompt"])
        for block in it["code_blocks"]:
            assert set(block) == {"code", "result"}
            assert set(block["result"]) == {"stdout", "stderr", "locals", "execution_time", "rlm_calls", "final_answer"}
    # what the official visualizer computes (visualizer/src/lib/parse-logs.ts computeMetadata)
    calls = [c for it in iterations for b in it["code_blocks"] for c in b["result"]["rlm_calls"]]
    assert len(calls) == TURNS * FAN_OUT + 1
    assert iterations[-1]["final_answer"] == ANSWER and all(i["final_answer"] is None for i in iterations[:-1])
    assert any(b["result"]["stderr"] for b in iterations[1]["code_blocks"])  # the ZeroDivisionError
    first = calls[0]
    assert {"root_model", "prompt", "response", "usage_summary", "execution_time"} <= set(first)
    assert first["response"] == sub_answer(1, 0) and "characters of the context not stored again" in first["prompt"]
    assert first["usage_summary"]["model_usage_summaries"]["sub"]["total_calls"] == 1
    child = next(c for c in calls if "metadata" in c)
    assert child["response"].startswith("the part has") and child["metadata"]["iterations"]
    assert child["metadata"]["run_metadata"]["root_model"] == "sub"
    # the question is in the first message the visualizer reads it from
    assert iterations[2]["prompt"][1]["content"].startswith("Question: How many records does the ledger hold?")

    raw = rlm_cli("runs", "export", run_id, "--runs-dir", str(runs), "--format", "jsonl", cwd=tmp_path)
    events = [json.loads(line) for line in raw.stdout.decode().splitlines()]
    assert events[0]["event"] == "run_start" and {e["run_id"] for e in events} >= {run_id}
    assert len({e["run_id"] for e in events}) == 2 and PLANTED_KEY not in raw.stdout.decode()
    bad = rlm_cli("runs", "export", run_id, "--runs-dir", str(runs), "--format", "xml", cwd=tmp_path)
    assert bad.returncode == 2 and "official" in bad.stderr.decode()


def test_redaction_and_locating_prompts():
    r = Redactor(["hunter2-long-password"], environ={"MY_API_TOKEN": "tok-1234567890", "HOME": "/root"})
    text = ("key sk-proj-abcdefghijklmnopqrstuvwx, Bearer abcdefghijklmnopqrstuvwxyz, https://u:pw@host/x, "
            "hunter2-long-password, tok-1234567890, /root")
    out = r.text(text)
    for secret in ("sk-proj-abc", "abcdefghijklmnopqrstuvwxyz", "u:pw", "hunter2", "tok-1234567890"):
        assert secret not in out
    assert out.endswith("/root") and r.any({"a": [text]})["a"][0] == out

    corpus = "".join(f"line {i:05d} of the corpus\n" for i in range(5000))
    sources = ContextSources([("corpus.txt", corpus)])
    prompt = "Summarise this: " + corpus[30_000:50_000]
    found = sources.locate(prompt[:1500], prompt[-300:], len(prompt))
    assert found == {"source": "corpus.txt", "start": 30_000, "end": 50_000, "prompt_offset": len("Summarise this: ")}
    tail_changed = prompt + "\nAnswer briefly."
    found = sources.locate(tail_changed[:1500], tail_changed[-300:], len(tail_changed))
    assert found is not None and found["start"] == 30_000 and "end" not in found
    assert sources.locate("x" * 1500, "y" * 300, 20_000) is None


def test_eval_report_html_links_each_task_to_its_run(big_run, tmp_path):
    tmp, runs, run_id, context = big_run
    rows = [
        {"task_id": "sniah-32k-0", "suite": "sniah", "variant": "single_1", "length": 32768, "method": "rlm",
         "score": 100.0, "answer": ANSWER, "gold": ANSWER, "status": "ok", "tokens": 5000, "cost_usd": 0.01,
         "wall_s": 4.2, "run_id": run_id, "trajectory_path": str(runs / f"{run_id}.jsonl"), "truncated": False},
        {"task_id": "sniah-32k-0", "suite": "sniah", "variant": "single_1", "length": 32768, "method": "direct",
         "score": 0.0, "answer": "<b>no</b>", "gold": ANSWER, "status": "ok", "tokens": 4000, "cost_usd": 0.002,
         "wall_s": 1.0, "run_id": None, "trajectory_path": None, "truncated": True},
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = rlm_cli("eval", "report", str(results), "-o", str(tmp_path / "report"), "--html", cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    report = tmp_path / "report" / "report.html"
    html = report.read_text(encoding="utf-8")
    assert not EXTERNAL.findall(html) and "default-src 'none'" in html
    assert html.count('src="data:image/png;base64,') == 2  # the score and cost plots, inlined
    assert f'<a href="runs/{run_id}.html">sniah-32k-0</a>' in html and "&lt;b&gt;no&lt;/b&gt;" in html
    page = tmp_path / "report" / "runs" / f"{run_id}.html"
    assert page.exists() and '"back":"../report.html"' in page.read_text(encoding="utf-8")
    assert PLANTED_KEY not in html
    if CHROMIUM is None:
        pytest.skip("no chromium here: .ci/run installs Debian's chromium package (apt-get install chromium)")
    dom = chromium("--dump-dom", url=report.as_uri(), profile=tmp_path / "profile")
    text = PageText.of(dom.stdout.decode())
    assert "100.0" in text and "sniah-32k-0" in text and "Tasks (2)" in text


def test_a_baseline_run_page_lists_its_sub_calls_outside_any_cell(tmp_path):
    """summary's compaction calls are sub-calls no cell made: the page lists them after the
    turns (it counted them and showed none)."""
    if CHROMIUM is None:
        pytest.skip("no chromium here: .ci/run installs Debian's chromium package (apt-get install chromium)")
    from eval_strategies import reader
    from scripted_server import ScriptedServer

    from evals import MethodSettings, generate, run_eval
    from rlm.frontends.viewer import write_run_html

    tasks = generate("sniah", 20_480, 1, 0, tmp_path / "t", variant="single_2")
    with ScriptedServer({"reader": reader}) as srv:
        s = MethodSettings.of(model="reader", base_url=srv.url, api_key="k", runs_dir=tmp_path / "runs",
                              window_tokens=4000)
        (row,) = run_eval(tasks, ["summary"], s, tmp_path / "r.jsonl", workers=1)
    out = write_run_html(Path(row["trajectory_path"]), tmp_path / "run.html")
    dom = chromium("--dump-dom", url=out.as_uri(), profile=tmp_path / "profile")
    text = PageText.of(dom.stdout.decode())
    assert "sub-calls outside any cell" in text, text[:2000]
    assert "summary run" in text  # the baseline's name, not "rlm run"
    assert re.search(r"\d+ sub-calls · [\d,]+ tokens", text)


HOSTILE = ("</textarea></pre><script>document.title='pwned'</script>"
           "<img src=x onerror=\"document.title='pwned-img'\"> end")


@pytest.fixture(scope="module")
def evidence_run(tmp_path_factory):
    """A real run against the scripted server whose code cites: a match (kept), a quote the
    corpus holds that is hostile HTML (kept, with a hostile note), a document's first bytes
    (kept), and a passage that takes in the header line between documents (refused by the host)."""
    from scripted_server import ScriptedServer, script

    from rlm import RLM

    tmp = tmp_path_factory.mktemp("evidence-run")
    corpus = tmp / "corpus"
    corpus.mkdir()
    (corpus / "a.log").write_text("".join(f"line {i} ok\n" for i in range(100)), encoding="utf-8")
    (corpus / "b.log").write_text("".join(f"line {i} ok\n" for i in range(50)) + "the secret code is 4711\ntail\n",
                                  encoding="utf-8")
    (corpus / "c.txt").write_text("before\n" + HOSTILE + "\nafter\n", encoding="utf-8")
    code = ("```repl\nm = re.search(r'secret code is (\\d+)', context)\nprint(repr(cite(m, note='the code')))\n"
            "h = re.search(r'</textarea>.*end', context)\n"
            "print(repr(cite(h, note='<b>note</b><script>document.title=\"note\"</script>')))\n"
            "print(cite(docs[0], 0, 9))\nprint(cite(context, 0, 20))\n```")
    with ScriptedServer({"root": script(code, "FINAL(4711 [E1] [E2] [E3])")}) as server:
        result = RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp / "runs", notes=False, cache=False,
                     answer_check=False).completion(corpus, "what is the code?")
    assert result.status == "ok" and [e.id for e in result.evidence] == [1, 2, 3], result
    return tmp, tmp / "runs", result


def test_the_run_view_shows_the_evidence(evidence_run, tmp_path):
    from rlm.frontends.viewer import build_run_data, find_run_path, write_run_html

    tmp, runs, result = evidence_run
    path = find_run_path(runs, result.run_id)
    run = build_run_data(path)["run"]
    assert run["answer"] == "4711 [E1] [E2] [E3]"
    ev = {e["id"]: e for e in run["evidence"]}
    assert sorted(ev) == [1, 2, 3]
    assert (ev[1]["document"], ev[1]["lines"], ev[1]["quote"], ev[1]["note"]) == ("b.log", [51, 51],
                                                                                 "secret code is 4711", "the code")
    assert (ev[2]["document"], ev[2]["lines"], ev[2]["quote"]) == ("c.txt", [2, 2], HOSTILE)
    assert (ev[3]["document"], ev[3]["start"], ev[3]["end"], ev[3]["quote"]) == ("a.log", 0, 9, "line 0 ok")
    assert all(e["cell"] == 1 and e["turn"] == 1 for e in ev.values())
    # each quote inside the lines around it, read again from the corpus files
    assert ev[1]["around"] == {"before": "line 48 ok\nline 49 ok\nthe ", "after": "\ntail\n", "more_before": "lines",
                               "more_after": "", "first_line": 49}
    assert ev[2]["around"]["before"] == "before\n" and ev[2]["around"]["after"] == "\nafter\n"
    assert ev[3]["around"]["before"] == "" and ev[3]["around"]["after"] == "\nline 1 ok\nline 2 ok"
    assert ev[3]["around"]["more_after"] == "lines" and ev[3]["around"]["first_line"] == 1
    # the cell made all four citations: three kept, one refused by the host, with why
    cell = run["cells"]["1"]
    made = [run["citations"][i] for i in cell["citations"]]
    assert [c["id"] for c in made] == [1, 2, 3, None]
    assert "not inside one document" in made[3]["refused"] and made[3]["claim"]["start"] == 0

    out = write_run_html(path, tmp_path / "view.html")
    html = out.read_text(encoding="utf-8")
    assert "<script>document.title" not in html and "<img src=x" not in html  # the data is escaped JSON
    assert not EXTERNAL.findall(html) and "default-src 'none'" in html
    if CHROMIUM is None:
        pytest.skip("no chromium here: .ci/run installs Debian's chromium package (apt-get install chromium)")
    dom = chromium("--dump-dom", url=out.as_uri(), profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr.decode()[-2000:]
    page = dom.stdout.decode()
    assert 'data-rendered="1"' in page
    text = PageText.of(page)
    # the evidence section: each kept citation with its id, place, cell, note and quote in context
    assert "Evidence (3)" in text and "rests on 3 verified citations: [E1] [E2] [E3]" in text, text[:3000]
    assert "[E1] b.log, line 51 · cited in cell 1 · turn 1" in text
    assert "[E2] c.txt, line 2 · cited in cell 1 · turn 1" in text
    assert "[E3] a.log, line 1 · cited in cell 1 · turn 1" in text
    assert "note: the code" in text and "in b.log, from line 49" in text
    assert "…\nline 48 ok\nline 49 ok\nthe secret code is 4711\ntail\n" in text
    # linked: the answer's [E1] and the list to the evidence, the evidence to its cell
    run_id = result.run_id
    assert page.count(f'href="#{run_id}-ev-1"') == 3  # in the answer, the list under it, the cell
    assert f'id="{run_id}-ev-2"' in page and f'href="#{run_id}-cell-1"' in page
    assert re.search(r'<mark class="quote">secret code is 4711</mark>', page)
    # the cell shows what it cited: verified ones, and the refused one with why
    assert "verified [E1] b.log, line 51: secret code is 4711" in text
    assert re.search(r"refused the passage is not inside one document[^\n]*— claimed .*\(context bytes 0-20\)", text)
    # hostile text is shown as text and runs nothing
    assert HOSTILE in text and '<b>note</b><script>document.title="note"</script>' in text
    assert "<title>pwned" not in page and "<title>note" not in page and "pwned-img" not in page.split("<title>")[1][:80]
    assert page.count("<script") == 2 and "<img" not in page  # the data block and the page's own script
    assert "&lt;/textarea&gt;&lt;/pre&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;" in page


def test_export_carries_or_leaves_out_the_citations(evidence_run, tmp_path):
    tmp, runs, result = evidence_run
    official = rlm_cli("runs", "export", result.run_id, "--runs-dir", str(runs), "--format", "official", cwd=tmp_path)
    assert official.returncode == 0, official.stderr.decode()
    lines = [json.loads(line) for line in official.stdout.decode().splitlines()]
    assert lines[0]["type"] == "metadata" and [x["type"] for x in lines[1:]] == ["iteration", "iteration"]
    assert lines[-1]["final_answer"] == "4711 [E1] [E2] [E3]"
    assert "cite(m, note='the code')" in lines[1]["code_blocks"][0]["code"]
    raw = rlm_cli("runs", "export", result.run_id, "--runs-dir", str(runs), "--format", "jsonl", cwd=tmp_path)
    assert raw.returncode == 0, raw.stderr.decode()
    events = [json.loads(line) for line in raw.stdout.decode().splitlines()]
    citations = [e for e in events if e["event"] == "citation"]
    assert [c["id"] for c in citations] == [1, 2, 3, None] and citations[1]["evidence"]["quote"] == HOSTILE
    assert [e["id"] for e in next(e for e in events if e["event"] == "final")["evidence"]] == [1, 2, 3]


def test_a_quote_of_an_in_memory_context_is_shown_in_context_and_secrets_around_it_are_redacted(tmp_path):
    """A str context is stored with the run: the quote is read again from there, by its offsets
    in the context; a key on the line above is redacted; a quote not in the files is shown alone."""
    from scripted_server import ScriptedServer, script

    from rlm import RLM
    from rlm.frontends.viewer import _ContextFiles, build_run_data, render_run_html

    text = "".join(f"row {i}\n" for i in range(30)) + f"key {PLANTED_KEY}\nthe answer is 42\nend\n"
    code = "```repl\nprint(repr(cite('the answer is 42')))\n```"
    with ScriptedServer({"root": script(code, "FINAL(42)")}) as server:
        result = RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs", notes=False,
                     cache=False, answer_check=False).completion(text, "what is the answer?")
    path = tmp_path / "runs" / f"{result.run_id}.jsonl"
    (ev,) = build_run_data(path)["run"]["evidence"]
    assert (ev["document"], ev["lines"], ev["cell"]) == ("the context", [32, 32], 1)
    assert ev["around"] == {"before": "row 29\nkey [redacted]\n", "after": "\nend\n", "more_before": "lines",
                            "more_after": "", "first_line": 30}
    assert PLANTED_KEY not in render_run_html(path)
    files = _ContextFiles({"replay": {"paths": [str(tmp_path)]}}, tmp_path)
    assert files.around({**ev, "document": "../../etc/passwd"}) is None  # never read outside the context's files
    assert files.around({**ev, "quote": "not there"}) is None
