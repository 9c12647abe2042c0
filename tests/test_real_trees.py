"""Real trees as `rlm query` reads them: binary, empty, hidden and ignored files left out (and
said so in one line), other encodings read, invalid bytes replaced and the model told which.
Real processes, a real scripted server, real kernels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env
from scripted_server import Call, ScriptedServer

SEEN: dict[str, str] = {}


def root(call: Call) -> str:
    SEEN["system"] = call.system
    if call.turn == 0:
        return ("```repl\nimport json\nfound = json.dumps(sorted(d.path for d in docs))\n"
                "print(found, 'café' in context, '\\ufffd' in context, 'naïve' in context)\n```")
    return "FINAL_VAR(found)"


def make_tree(base: Path) -> Path:
    tree = base / "tree"
    (tree / "src").mkdir(parents=True)
    (tree / "build").mkdir()
    (tree / ".git").mkdir()
    (tree / "src" / "main.py").write_text("print('hello')\n")
    (tree / "README.md").write_text("A café.\n")
    (tree / "latin1.txt").write_bytes("na\xefve bytes: \xe9t\xe9\n".encode("latin-1"))  # not UTF-8
    (tree / "utf16.txt").write_text("naïve in UTF-16\n", encoding="utf-16")
    (tree / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    (tree / "empty.txt").write_text("")
    (tree / ".env").write_text("SECRET=1\n")
    (tree / ".git" / "config").write_text("[core]\n")
    (tree / "build" / "out.txt").write_text("built\n")
    (tree / "debug.log").write_text("log line\n")
    (tree / ".gitignore").write_text("build/\n*.log\n")
    return tree


def rlm(tmp_path: Path, server: ScriptedServer, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", "query", *args, "-q", "what is here?", "-m", "root",
                           "--base-url", server.url, "--no-notes", "--no-cache"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          env=cli_env(tmp_path / "home", key="test-key", COLUMNS="200"), check=False)


def test_a_real_tree_is_read_with_what_ripgrep_would_read(tmp_path):
    tree = make_tree(tmp_path)
    with ScriptedServer({"root": root}) as server:
        r = rlm(tmp_path, server, str(tree))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ["README.md", "latin1.txt", "src/main.py", "utf16.txt"]
    # one line says what was left out and what was read specially
    line = next(x for x in r.stderr.splitlines() if x.startswith("input:"))
    assert "2 ignored" in line and "3 hidden" in line and "1 binary" in line and "1 empty" in line
    assert "1 with invalid UTF-8 read as U+FFFD" in line and "1 in UTF-16/32" in line
    # the model is told, per file
    assert "latin1.txt: invalid UTF-8 bytes read as U+FFFD" in SEEN["system"]
    assert "utf16.txt: read as UTF-16" in SEEN["system"]


def test_flags_bring_hidden_and_ignored_files_back_and_verbose_lists_them(tmp_path):
    tree = make_tree(tmp_path)
    with ScriptedServer({"root": root}) as server:
        r = rlm(tmp_path, server, str(tree), "--hidden", "--no-ignore", "-v")
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout.strip().splitlines()[-1])
    assert {".env", ".git/config", ".gitignore", "build/out.txt", "debug.log"} <= set(found)
    assert "binary: blob.bin" in r.stderr and "empty: empty.txt" in r.stderr


def test_a_glob_with_an_empty_or_binary_file_runs_on_the_rest(tmp_path):
    (tmp_path / "a.txt").write_text("café\n")
    (tmp_path / "b.txt").write_text("")
    (tmp_path / "c.txt").write_bytes(b"\x00\x00")
    with ScriptedServer({"root": root}) as server:
        r = rlm(tmp_path, server, "*.txt")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ["a.txt"]
    assert "left out 2 files (1 empty, 1 binary)" in r.stderr


@pytest.mark.parametrize("setup", ["directory", "glob"])
def test_nothing_usable_is_one_error_naming_the_files(tmp_path, setup):
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "x.bin").write_bytes(b"\x00abc")
    (tree / "y.txt").write_text("")
    with ScriptedServer({"root": root}) as server:
        r = rlm(tmp_path, server, str(tree) if setup == "directory" else "t/*")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "x.bin" in r.stderr and "y.txt" in r.stderr, r.stderr


def test_one_file_with_invalid_utf8_is_read_with_markers_and_said_so(tmp_path):
    (tmp_path / "l.txt").write_bytes(b"na\xefve caf\xe9\n")

    def show(call: Call) -> str:
        SEEN["system"] = call.system
        return ("```repl\nr = str(context.count('\\ufffd')) + ' ' + str('caf' in context)\n```" if call.turn == 0
                else "FINAL_VAR(r)")

    with ScriptedServer({"root": show}) as server:
        r = rlm(tmp_path, server, "l.txt")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2 True"
    assert "1 with invalid UTF-8 read as U+FFFD" in r.stderr
    assert "invalid UTF-8 bytes read as U+FFFD" in SEEN["system"]


@pytest.mark.parametrize("where", ["stdlib", "/usr/share/doc"])
def test_trees_nobody_here_wrote_are_answered_with_one_summary_line(tmp_path, where):
    import sysconfig

    tree = Path(sysconfig.get_paths()["stdlib"]) if where == "stdlib" else Path(where)
    if not tree.is_dir():
        pytest.skip(f"{tree} is not on this machine")

    def count(call: Call) -> str:
        return "```repl\nn = str(len(docs))\n```" if call.turn == 0 else "FINAL_VAR(n)"

    with ScriptedServer({"root": count}) as server:
        r = rlm(tmp_path, server, str(tree))
    assert r.returncode == 0, r.stderr
    summary = [line for line in r.stderr.splitlines() if line.startswith("input:")]
    assert len(summary) <= 1, r.stderr  # what was left out, if anything, in one line
    if where == "stdlib":  # the standard library always holds empty __init__.py files
        assert int(r.stdout.strip()) > 100
        assert summary and "left out" in summary[0] and "empty" in summary[0], r.stderr
    else:  # how much documentation a machine keeps varies (slim images strip it)
        assert int(r.stdout.strip()) >= 1
