"""Red team: checked evidence (`cite`) against a hostile kernel. The policy layer is assumed
bypassed: model code takes the host connection out of `cite.__closure__` (trusted policy) and
sends the host its own claims. Each test starts real kernels against the scripted server and
asserts what the host must hold alone: a citation is kept only where the context's own bytes
are the quote inside one document, what it reports (document, byte range, lines, page) is true
of those files, and nothing a claim carries can flood the run's record, leak bytes the kernel
could not read, or reach a terminal or a page as markup or escapes."""

from __future__ import annotations

import json
import re

from scripted_server import ScriptedServer, script
from test_evidence import corpus, make

from rlm import SandboxConfig, read_trajectory

HOST = "host = [c.cell_contents for c in cite.__closure__ if hasattr(c.cell_contents, 'call')][0]\n"


def run(tmp_path, context, *replies, trusted=True, **kw):
    if trusted:
        kw.setdefault("sandbox", SandboxConfig(policy="trusted"))
    with ScriptedServer({"root": script(*replies)}) as server:
        result = make(server, tmp_path, **kw).completion(context, "What is the vault code?")
        prompts = [c.prompt for c in server.calls_to("root")]
    return result, prompts


def replies_of(prompt: str) -> list[str]:
    return [line for line in prompt.splitlines() if line.startswith("{")]


def test_a_flood_of_refused_claims_does_not_flood_the_trajectory(tmp_path):
    """Thousands of requests of 100 refused claims each: the trajectory records a bounded number."""
    d = corpus(tmp_path)
    code = ("```repl\n" + HOST + "import time\nt = time.monotonic()\nn = 0\n"
            "bad = [{'context': 'context', 'start': 0, 'end': 10, 'quote': 'x' * 10 + str(i)} for i in range(100)]\n"
            "while time.monotonic() - t < 4:\n    host.call('cite', {'claims': bad})\n    n += 1\n"
            "print('requests', n)\n```")
    result, prompts = run(tmp_path, d, code, "FINAL(none)")
    sent = int(prompts[1].split("requests ", 1)[1].split()[0])
    events = [e for e in read_trajectory(result.trajectory_path) if e["event"] == "citation"]
    print("requests", sent, "citation events", len(events), "bytes", result.trajectory_path.stat().st_size)
    assert sent > 10
    assert len(events) <= 200 and "further refused claims" in events[-1]["refused"]
    assert result.evidence == []


def swap_then(code: str, path, secret):
    """A root handler that, before its first reply (the context is loaded by then), swaps the
    context's file for a link to `secret` (someone with write access to the corpus)."""
    def root(call):
        if call.turn == 0:
            path.unlink()
            path.symlink_to(secret)
            return code
        return "FINAL(none)"
    return root


def test_a_context_file_swapped_after_load_is_no_oracle_for_another_files_bytes(tmp_path):
    """The kernel holds the files it was given at load; a file swapped for a link to another file
    since must not let claims learn that file's bytes (guess a byte, see it kept)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("Z" + "hunter2 is the password\n")
    ctx = tmp_path / "ctx.txt"
    ctx.write_text("public text of the context\n" * 3)
    code = ("```repl\n" + HOST + "print('kernel sees', repr(context[:6]))\n"
            "import string\n"
            "claims = [{'context': 'context', 'start': 0, 'end': 1, 'quote': ch} for ch in string.ascii_uppercase]\n"
            "kept = [c['quote'] for c, r in zip(claims, host.call('cite', {'claims': claims})) if r.get('id')]\n"
            "print('kept', kept)\n```")
    with ScriptedServer({"root": swap_then(code, ctx, secret)}) as server:
        result = make(server, tmp_path, sandbox=SandboxConfig(policy="trusted")).completion(ctx, "q?")
        out = server.calls_to("root")[1].prompt
    assert "kernel sees 'public'" in out, out
    assert "kept []" in out, out
    assert result.evidence == []


def test_forged_claims_of_every_shape_are_refused_and_what_is_kept_is_the_files_bytes(tmp_path):
    """Offsets into a multi-byte character, bool/float/huge/negative offsets, start == end,
    surrogates, other and tool contexts, the header and the blank line between documents, a
    claim running into the next document, huge notes and names: refused, or kept only as the
    file's own bytes (invalid pieces shown as U+FFFD, never other text)."""
    d = corpus(tmp_path)
    code = ("```repl\n" + HOST + "raw = context.encode()\n"
            "e = raw.find('é'.encode())\nhb = raw.find(b'==> b.log <==')\nend_a = hb - 2\n"
            "claims = [\n"
            " {'context': 'context', 'start': e + 1, 'end': e + 2, 'quote': 'ok'},\n"  # 0 into é: other text
            " {'context': 'context', 'start': e + 1, 'end': e + 3, 'quote': '\\ufffd\\n'},\n"  # 1 half of é
            " {'context': 'context', 'start': True, 'end': 5, 'quote': 'ine '},\n"  # 2 bool
            " {'context': 'context', 'start': 1.0, 'end': 5, 'quote': 'ine '},\n"  # 3 float
            " {'context': 'context', 'start': 3, 'end': 3, 'quote': ''},\n"  # 4 empty
            " {'context': 'context', 'start': 2**70, 'end': 2**70 + 1, 'quote': 'x'},\n"  # 5 huge
            " {'context': 'context', 'start': 0, 'end': 1, 'quote': '\\ud800'},\n"  # 6 surrogate
            " {'context': 'tools_evidence', 'start': 0, 'end': 1, 'quote': 'x'},\n"  # 7 a tool's context
            " {'context': 'tools_notes', 'start': 0, 'end': 1, 'quote': 'x'},\n"  # 8
            " {'context': 'x' * 100000, 'start': 0, 'end': 1, 'quote': 'x'},\n"  # 9 a huge name
            " {'context': 'context', 'start': hb, 'end': hb + 13, 'quote': '==> b.log <=='},\n"  # 10 header
            " {'context': 'context', 'start': end_a, 'end': end_a + 2, 'quote': raw[end_a:end_a + 2].decode()},\n"  # 11
            " {'context': 'context', 'start': end_a - 3, 'end': hb + 3, 'quote': raw[end_a - 3:hb + 3].decode()},\n"  # 12
            " {'context': 'context', 'start': 0, 'end': 12, 'quote': raw[0:12].decode()},\n"  # 13 the first header
            " {'context': 'context', 'start': hb + 14, 'end': hb + 21, 'quote': 'entry 0', 'note': 'n' * 10**6},\n"  # 14
            " {'context': 'context', 'start': -1, 'end': 4, 'quote': raw[-1:4].decode()},\n"  # 15
            " {'context': 'context', 'start': 0, 'end': 9000, 'quote': raw[:9000].decode('utf-8', 'replace')},\n"  # 16
            " {'context': 'context', 'start': hb + 14, 'end': hb + 21, 'quote': 'entry 0', 'context2': 1},\n"  # 17 dup
            "]\n"
            "for i, r in enumerate(host.call('cite', {'claims': claims})):\n    print(i, r)\n```")
    result, prompts = run(tmp_path, d, code, "FINAL(x) [E99] [E1]")
    out = prompts[1]
    lines = [line for line in out.splitlines() if re.match(r"\d+ \{", line)]
    assert len(lines) == 18, out
    kept = {int(line.split()[0]) for line in lines if "'id': None" not in line}
    assert kept == {1, 14, 17}, out
    assert all(len(line) < 2000 for line in lines)  # a huge name is not echoed back whole
    files = {p.name: p.read_bytes() for p in d.iterdir()}
    for e in result.evidence:  # the file's bytes, as a Corpus reads them
        assert files[e.document][e.start:e.end].decode("utf-8", "replace") == e.quote
        assert e.note is None or len(e.note) <= 300
    assert [(e.id, e.document) for e in result.evidence] == [(1, "a.log")]  # [E99] names nothing kept
    assert "'doc': 'b.log', 'lines': [1, 1]" in lines[14]
    events = [e for e in read_trajectory(result.trajectory_path) if e["event"] == "citation"]
    assert all(len(json.dumps(e)) < 4000 for e in events)  # a huge name or note is cut in the record


def test_a_crafted_trajectory_cannot_make_the_run_view_show_a_file_outside_the_context(tmp_path):
    """A trajectory is a file people share: one that names another directory as the run's
    context and a known first line of a file there as a citation's quote must not get the bytes
    after it (a private key's body) into the page the viewer writes."""
    from rlm.frontends.viewer import render_run_html

    d = corpus(tmp_path)
    code = "```repl\ncite(re.search(r'the vault code is \\d+', context))\n```"
    result, _ = run(tmp_path, d, code, "FINAL(4711)", trusted=False)
    honest = render_run_html(result.trajectory_path)
    assert "entry 49 fine" in honest  # the lines around a true citation are shown
    home = tmp_path / "victim"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_key").write_text("-----BEGIN KEY-----\nSECRETBODY0123456789\n-----END KEY-----\n")
    events = list(read_trajectory(result.trajectory_path))
    forged = {"id": 1, "quote": "-----BEGIN KEY-----", "document": ".ssh/id_key", "start": 0, "end": 19,
              "lines": [1, 1], "page": None, "note": None, "context": "context", "at": [0, 19]}
    for e in events:
        if e["event"] == "run_start" or "replay" in e:
            e.setdefault("replay", {})["paths"] = [str(home)]
            if isinstance(e.get("context"), dict):
                e["context"]["path"] = str(home)
        if e["event"] == "citation" and e.get("evidence"):
            e["evidence"] = forged
        if e["event"] == "final":
            e["evidence"] = [forged]
    crafted = tmp_path / "shared" / result.trajectory_path.name
    crafted.parent.mkdir()
    crafted.write_text("".join(json.dumps(e) + "\n" for e in events))
    page = render_run_html(crafted)
    assert "-----BEGIN KEY-----" in page  # the quote the trajectory holds is shown
    assert "SECRETBODY" not in page


def test_escapes_in_a_documents_name_and_quote_never_reach_the_terminal_or_break_json(tmp_path):
    """A corpus file named with an escape sequence, holding one in the cited line: `rlm query`'s
    sources, `--json` and `rlm runs show` print them made visible, never as ESC."""
    import subprocess
    import sys

    from conftest import cli_env

    d = tmp_path / "corpus"
    d.mkdir()
    (d / "a\x1b]0;pwned\x07.log").write_text("code \x1b[2J4711 here\n\u202eevil\n", encoding="utf-8")
    (d / "b.log").write_text("nothing\n", encoding="utf-8")
    code = "```repl\ncite(re.search(r'code .*here', context))\n```"
    with ScriptedServer({"root": script(code, "FINAL(4711)", code, "FINAL(4711)")}) as server:
        base = [sys.executable, "cli.py", "query", str(d), "-q", "code?", "-m", "root", "--base-url", server.url,
                "--no-notes", "--no-cache"]
        env = cli_env(tmp_path / "home")
        shown = subprocess.run(base, capture_output=True, text=True, env=env, timeout=120)
        as_json = subprocess.run([*base, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "[E1]" in shown.stdout and "\x1b" not in shown.stdout + shown.stderr
    assert "\\x1b" in shown.stdout
    data = json.loads(as_json.stdout)
    assert data["evidence"][0]["quote"] == "code \x1b[2J4711 here" and "\x1b" not in as_json.stdout
    replayed = subprocess.run([sys.executable, "cli.py", "runs", "show", data["run_id"]], capture_output=True,
                              text=True, env=env, timeout=120)
    assert "[E1]" in replayed.stdout and "\x1b" not in replayed.stdout, replayed.stdout[-2000:]
