"""Evidence: `cite` in a real kernel, each citation checked by the host against the context's own
files, against the scripted server. What holds: a cited match, quote or document slice comes back
with its document, byte range, lines and page, and those bytes of the file are the quote; text
that is not in the context, the right text at the wrong place and places outside the context
are refused each time, also when model code skips `cite` and sends the host its own claims."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import cli_env
from document_files import pdf
from scripted_server import ScriptedServer, script

from rlm import RLM, SandboxConfig, read_trajectory
from rlm.evidence import answer_evidence

NEEDLE = "the vault code is 4711"


def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "a.log").write_text("".join(f"line {i} ok é\n" for i in range(100)), encoding="utf-8")
    (d / "b.log").write_text("".join(f"entry {i} fine\n" for i in range(50)) + NEEDLE + "\ntail\n", encoding="utf-8")
    return d


def make(server, tmp_path, **kw) -> RLM:
    return RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs", notes=False,
               cache=False, answer_check=False, **kw)


def run(tmp_path, context, *replies, **kw):
    with ScriptedServer({"root": script(*replies)}) as server:
        result = make(server, tmp_path, **kw).completion(context, "What is the vault code?")
        prompts = [c.prompt for c in server.calls_to("root")]
    return result, prompts


def test_a_cited_match_quote_and_document_slice_come_back_with_their_place_and_the_files_bytes(tmp_path):
    d = corpus(tmp_path)
    code = ("```repl\nm = re.search(r'the vault code is (\\d+)', context)\nc = cite(m)\n"
            "q = cite('line 7 ok é', note='a line with an accent')\nw = cite(docs[0], 0, 9)\n"
            "print(c.doc, c.lines, c.id, q.lines, w.doc)\n```")
    result, prompts = run(tmp_path, d, code, "FINAL(4711)")
    assert result.status == "ok"
    by_doc = {(e.document, e.quote): e for e in result.evidence}
    assert set(by_doc) == {("b.log", NEEDLE), ("a.log", "line 7 ok é"), ("a.log", "line 0 ok")}
    for e in result.evidence:  # the byte range is the file's own bytes
        assert (d / e.document).read_bytes()[e.start:e.end] == e.quote.encode("utf-8")
    needle = by_doc[("b.log", NEEDLE)]
    assert needle.lines == (51, 51) and needle.page is None
    assert by_doc[("a.log", "line 7 ok é")].lines == (8, 8)
    assert by_doc[("a.log", "line 7 ok é")].note == "a line with an accent"
    assert "[cite] kept [E1] b.log, line 51: 'the vault code is 4711'" in prompts[1]
    assert "b.log (51, 51) 1 (8, 8) a.log" in prompts[1]
    # the trajectory has each citation and the final event the answer's evidence
    events = list(read_trajectory(result.trajectory_path))
    kept = [e for e in events if e["event"] == "citation"]
    assert [e["id"] for e in kept] == [1, 2, 3] and all(e["refused"] is None for e in kept)
    final = next(e for e in events if e["event"] == "final")
    assert [x["quote"] for x in final["evidence"]] == [e.quote for e in result.evidence]


def test_invented_text_the_right_text_at_the_wrong_place_and_places_outside_are_refused(tmp_path):
    d = corpus(tmp_path)
    code = ("```repl\nprint(cite('the vault code is 1234'))\n"  # not in the context
            "at = context.find('the vault code')\n"
            "print(cite('the vault code is 4711', start=at + 3))\n"  # right text, wrong place
            "print(cite(context, len(context) + 5, len(context) + 20))\n"  # outside the context
            "print(cite(docs[1], 0, 10 ** 6))\n"  # outside its document
            "print(cite(context, 0, 12))\n"  # the header line between documents
            "print(cite(context, 0, len(context)))\n```")  # a whole context is no passage
    result, prompts = run(tmp_path, d, code, "FINAL(none)")
    assert result.evidence == []
    out = prompts[1]
    assert out.count("[cite] refused") == 6, out
    assert "not found verbatim in the context" in out
    assert "the quote is not at offset" in out
    assert "outside the context" in out and "outside b.log" in out
    assert "not inside one document" in out
    assert "cite at most 2,000" in out
    refused = [e for e in read_trajectory(result.trajectory_path) if e["event"] == "citation"]
    assert len(refused) == 1 and refused[0]["id"] is None  # the header: the kernel's checks passed, the host's did not


def test_forged_claims_sent_past_cite_are_refused_by_the_host(tmp_path):
    """Trusted policy: model code takes the host connection out of `cite` and sends its own claims.
    The host reads the bytes itself: each forgery is refused, the one true claim kept."""
    d = corpus(tmp_path)
    code = ("```repl\nhost = [c.cell_contents for c in cite.__closure__ if hasattr(c.cell_contents, 'call')][0]\n"
            "at = context.encode().find(b'the vault code')\n"
            "claims = [\n"
            " {'context': 'context', 'start': at, 'end': at + 22, 'quote': 'the vault code is 1234'},\n"  # other text
            " {'context': 'context', 'start': at + 1, 'end': at + 23, 'quote': 'the vault code is 4711'},\n"  # moved
            " {'context': 'context', 'start': 10**12, 'end': 10**12 + 22, 'quote': 'the vault code is 4711'},\n"
            " {'context': 'context', 'start': -5, 'end': 3, 'quote': 'x'},\n"
            " {'context': 'nope', 'start': 0, 'end': 3, 'quote': 'abc'},\n"
            " {'context': 'context', 'start': at, 'end': at + 22, 'quote': 'the vault code is 4711'},\n"  # true
            " 'junk',\n"
            "]\n"
            "for r in host.call('cite', {'claims': claims}):\n    print(r)\n```")
    result, prompts = run(tmp_path, d, code, "FINAL(4711)", sandbox=SandboxConfig(policy="trusted"))
    assert [(e.document, e.quote) for e in result.evidence] == [("b.log", NEEDLE)]
    replies = [line for line in prompts[1].splitlines() if line.startswith("{")]
    assert len(replies) == 7
    assert [("'id': None" in r) for r in replies] == [True, True, True, True, True, False, True]
    assert "not what the context holds at that place" in replies[0] and "not what the context holds" in replies[1]
    assert "outside the context" in replies[2] and "is not a text context" in replies[4]


def test_a_sub_models_quote_is_mapped_back_to_its_chunk_verbatim_only(tmp_path):
    d = corpus(tmp_path)
    code = ("```repl\nstart = context.find('entry 40')\nchunk = context[start:start + 400]\n"
            "said = llm_query('Quote the line with the code.\\n\\n' + chunk)\n"
            "c = cite(said, within=(start, start + 400))\nprint(c and c.lines)\n"
            "print(cite('  \"the vault code is 4711\"  ', within=(0, 50)))\n"
            "print(repr(cite(said, within=chunk)))\n```")

    def sub(call):
        return '"the vault code is 4711"' if "Quote the line" in call.prompt else "?"

    with ScriptedServer({"root": script(code, "FINAL(4711) [E1]"), "sub": sub}) as server:
        result = make(server, tmp_path, sub_model="sub").completion(d, "What is the vault code?")
        out = server.calls_to("root")[1].prompt
    assert [(e.document, e.lines) for e in result.evidence] == [("b.log", (51, 51))]
    assert "(51, 51)" in out
    assert "not found verbatim in that range of the context" in out  # the same quote outside its range
    assert "[E1] b.log, line 51: 'the vault code is 4711'" in out  # the chunk itself as the range: the same citation


def test_a_pdf_citation_names_its_page(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    pdf(d / "report.pdf", ["Introduction to the plan.", "Budget: the total is 5,300 euros.", "Closing words."])
    code = ("```repl\nm = re.search(r'the total is [\\d,]+ euros', context)\nprint(cite(m).page)\n"
            "page = docs[0].places[2]\nprint(repr(cite(page, 0, len('[p. 3]'))))\n```")
    result, prompts = run(tmp_path, d, code, "FINAL(5,300 euros)")
    total, third = result.evidence
    assert total.document == "report.pdf" and total.page == "p. 2" and total.quote == "the total is 5,300 euros"
    assert total.where().startswith("report.pdf p. 2, line")
    assert (third.page, third.quote) == ("p. 3", "[p. 3]")  # a page of docs, with offsets in it


def test_the_answers_evidence_is_what_it_names_or_quotes_else_all(tmp_path):
    d = corpus(tmp_path)
    code = ("```repl\na = cite('line 3 ok é')\nb = cite(re.search('vault code is 4711', context))\n```")
    named, _ = run(tmp_path, d, code, "FINAL(4711, see [E2])")
    assert [e.id for e in named.evidence] == [2]
    quoted, _ = run(tmp_path, d, code, "FINAL_VAR(b)")
    assert [e.quote for e in quoted.evidence] == ["vault code is 4711"]
    every, _ = run(tmp_path, d, code, "FINAL(4711)")
    assert [e.id for e in every.evidence] == [1, 2]
    listed, _ = run(tmp_path, d, code + "\n```repl\nanswer['evidence'] = [b]\nanswer['content'] = '4711'\n"
                    "answer['ready'] = True\n```")
    assert [e.quote for e in listed.evidence] == ["vault code is 4711"]
    odd, _ = run(tmp_path, d, code + "\n```repl\nanswer['evidence'] = 'b'\nanswer['content'] = '4711'\n"
                 "answer['ready'] = True\n```")
    assert [e.id for e in odd.evidence] == [1, 2]  # not a list: the run's citations
    assert answer_evidence(None, []) == []


def test_rlm_query_prints_the_sources_under_the_answer_and_json_carries_them(tmp_path):
    d = corpus(tmp_path)
    code = "```repl\ncite(re.search(r'vault code is \\d+', context))\n```"
    with ScriptedServer({"root": script(code, "FINAL(4711)", code, "FINAL(4711)")}) as server:
        base = [sys.executable, "cli.py", "query", str(d), "-q", "What is the code?", "-m", "root", "--base-url",
                server.url, "--no-notes", "--no-cache"]
        env = cli_env(tmp_path / "home")
        shown = subprocess.run(base, capture_output=True, text=True, env=env, timeout=120)
        as_json = subprocess.run([*base, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "4711"
    assert "Sources (each checked against the context, byte for byte): 1" in shown.stdout
    assert '[E1] b.log, line 51: "vault code is 4711"' in shown.stdout
    data = json.loads(as_json.stdout)
    assert data["evidence"][0]["document"] == "b.log" and data["evidence"][0]["lines"] == [51, 51]
    replayed = subprocess.run([sys.executable, "cli.py", "runs", "show", data["run_id"]], capture_output=True,
                              text=True, env=env, timeout=120)
    assert '[E1] b.log, line 51: "vault code is 4711"' in replayed.stdout, replayed.stdout[-2000:]


def test_a_sessions_asks_keep_their_own_evidence_when_reopened(tmp_path):
    d = corpus(tmp_path)
    first = "```repl\nc = cite(re.search(r'the vault code is \\d+', context))\n```"
    second = "```repl\nc2 = cite('line 9 ok é')\n```"
    replies = {0: [first, "FINAL(4711)"], 1: [second, "FINAL(line 9)"]}

    def root(call):
        ask = 1 if "Which line?" in call.messages[1]["content"].split("Question: ", 1)[1].split("\n")[0] else 0
        return replies[ask][min(call.turn, 1)]

    with ScriptedServer({"root": root}) as server:
        rlm = make(server, tmp_path)
        with rlm.session(d, name="audit") as session:
            one = session.ask("What is the vault code?")
            two = session.ask("Which line?")
        with rlm.session(name="audit") as again:
            kept = [[e["quote"] for e in a.evidence] for a in again.asks]
    assert [e.quote for e in one.evidence] == ["the vault code is 4711"]
    assert [e.quote for e in two.evidence] == ["line 9 ok é"]  # each ask its own
    assert kept == [["the vault code is 4711"], ["line 9 ok é"]]


def test_the_hosts_reader_counts_lines_in_any_order_within_its_budget(tmp_path, monkeypatch):
    """Line numbers come from the host's own count, resumed from the nearest place counted
    before: the same whatever order the kernel cites in; past the budget, none (not a guess)."""
    import random

    from sandbox import context_reader
    from sandbox.context import prepare

    monkeypatch.setattr(context_reader, "_COUNT_PIECE", 64)
    text = "".join(f"row {i} {'x' * (i % 7)}\n" for i in range(3000))
    (tmp_path / "big.txt").write_text(text)
    spec = prepare(tmp_path / "big.txt", "context", tmp_path, 1 << 30)
    starts = [m.start() for m in __import__("re").finditer(r"(?m)^row \d+", text)]
    order = list(range(0, 3000, 37))
    random.Random(1).shuffle(order)
    with context_reader.ContextReader(spec) as reader:
        [doc] = reader.documents
        assert [reader.line_of(doc, starts[i]) for i in order] == [i + 1 for i in order]
        assert reader._counted <= len(text) + 64 * len(order)  # never counted from the start again
    monkeypatch.setattr(context_reader, "LINE_COUNT_BUDGET", 1000)
    with context_reader.ContextReader(spec) as reader:
        [doc] = reader.documents
        assert reader.line_of(doc, starts[10]) == 11
        assert reader.line_of(doc, starts[2000]) is None


def test_a_context_loaded_again_under_its_name_gets_its_own_byte_offsets(tmp_path):
    """The kernel remembered a context's all-ASCII test by name: an ASCII context loaded again as
    text with an accent kept the old answer, and its byte offsets were its character offsets."""
    from sandbox import Sandbox, Tools

    module = tmp_path / "spans.py"
    module.write_text("def install(kernel, data=None):\n    return {'span': kernel.byte_span}\n")
    with Sandbox() as sb:
        sb.load_context("abc def")
        sb.add_tools(Tools("spans", module, {}))
        first = sb.execute("print(span('context', 4, 7))").stdout.strip()
        sb.load_context("é b def")
        again = sb.execute("print(span('context', 4, 7))").stdout.strip()
    assert (first, again) == ("(4, 7)", "(5, 8)")
