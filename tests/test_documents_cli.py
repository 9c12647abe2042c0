"""`rlm query` over a folder of documents, as a user runs it: the real CLI, a real sandbox and
its extraction workers, a scripted model (a real HTTP server) whose code finds a needle and
names its page; one summary line of what was read; the second run read from the cache;
--no-extract reading as before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import document_files as D
from conftest import cli_env
from scripted_server import Call, ScriptedServer

FINDER = ("```repl\nimport re\nm = re.search(r'vault combination is (\\S+?)\\.', context)\n"
          "found = f\"{m.group(1)} ({place_of(m.start())})\" if m else 'not found: ' + str(len(docs))\n"
          "print(found)\n```")


def root(call: Call) -> str:
    return FINDER if call.turn == 0 else "FINAL_VAR(found)"


def rlm(tmp_path: Path, server: ScriptedServer, *args: str) -> subprocess.CompletedProcess:
    env = cli_env(tmp_path / "home", key="test-key", COLUMNS="250", XDG_CACHE_HOME=str(tmp_path / "xdg"))
    return subprocess.run([sys.executable, "-m", "cli", "query", *args, "-q", "Where is the vault combination?",
                           "-m", "root", "--base-url", server.url, "--no-notes", "--no-cache", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env, check=False)


def test_a_needle_on_a_pdf_page_is_answered_with_its_page_named(tmp_path):
    docs = tmp_path / "docs"
    (docs / "manuals").mkdir(parents=True)
    pages = [f"Page {n} of the manual. Nothing to see." for n in range(1, 13)]
    pages[8] += " The vault combination is 4417-TEAL."
    D.pdf(docs / "manuals" / "handbook.pdf", pages)
    D.compressed(docs / "changelog.gz", b"version 2: fixed things\n")
    D.docx(docs / "policy.docx", [("Scope", "all staff")])
    (docs / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    (docs / "notes.txt").write_text("plain notes\n")
    with ScriptedServer({"root": root}) as server:
        first = rlm(tmp_path, server, str(docs))
        second = rlm(tmp_path, server, str(docs))
        plain = rlm(tmp_path, server, str(docs), "--no-extract")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["answer"] == "4417-TEAL (manuals/handbook.pdf p. 9)"
    lines = [x for x in first.stderr.splitlines() if x.startswith("input:")]
    assert len(lines) == 1, first.stderr  # one line on the input
    line = lines[0]
    assert line.startswith("input: read 4 document files as text in ") and "(0 from the cache)" in line
    assert "1 pdf" in line and "1 gz" in line and "1 docx" in line and "1 image" in line and "; 4 documents" in line
    assert "left out" not in first.stderr
    assert json.loads(second.stdout)["answer"] == json.loads(first.stdout)["answer"]
    assert "(4 from the cache)" in second.stderr
    # without extraction the PDF is binary, as before, and nothing is read as a document
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["answer"] == "not found: 1"  # only notes.txt
    assert "input: left out 4 files (4 binary)" in plain.stderr and "document files" not in plain.stderr
