"""Inputs of the ordinary world: text whose characters make a str wider than its bytes, other
encodings at every size, names that are not UTF-8, special files (FIFOs, sockets, devices,
/proc), symlink loops and paths past PATH_MAX. Each is read, or left out and counted with its
reason, or refused in one line; none hangs. Real kernels, real files, the real CLI."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, cli_env
from scripted_server import Call, ScriptedServer

from rlm import RLM, ContextError
from sandbox import Sandbox, SandboxConfig
from sandbox.context import prepare

SMALL = 10_000  # max_str_bytes in these tests: a str up to 10,000 bytes in the kernel


def kernel_type(sb: Sandbox, value) -> str:
    sb.load_context(value)
    return sb.execute("print(type(context).__name__)").stdout.strip()


# ----- the str/Corpus choice is made on the decoded size ---------------------------------
def test_one_wide_character_makes_a_text_a_corpus_when_its_str_would_not_fit(tmp_path):
    # 3,000 ASCII bytes and one emoji: 3,005 bytes on disk, 12,004 bytes as a str (every
    # character 4 bytes wide). Chosen on bytes, this was a str; at 600 MB, a MemoryError.
    text = "a" * 3000 + "\N{GRINNING FACE}"
    (tmp_path / "emoji.txt").write_text(text, encoding="utf-8")
    (tmp_path / "latin.txt").write_text("é" * 3000, encoding="utf-8")  # 6,000 bytes, a 3,000-byte str
    with Sandbox(SandboxConfig(policy="trusted", max_str_bytes=SMALL)) as sb:
        assert kernel_type(sb, tmp_path / "emoji.txt") == "Corpus"
        assert sb.execute("print(context.count('\\N{GRINNING FACE}'))").stdout.strip() == "1"
        assert kernel_type(sb, text) == "Corpus"  # a str given in Python: the same rule
        assert kernel_type(sb, tmp_path / "latin.txt") == "str"
        assert kernel_type(sb, "é" * 3000) == "str"


def test_the_size_of_a_directory_as_a_str_counts_its_widest_character(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("a" * 2000)
    (tree / "b.txt").write_text("b" * 1000 + "\N{GRINNING FACE}")
    with Sandbox(SandboxConfig(policy="trusted", max_str_bytes=SMALL)) as sb:
        assert kernel_type(sb, tree) == "Corpus"
        assert sb.execute("print(len(docs), docs[1].text.count('b'))").stdout.split() == ["2", "1000"]


def test_a_limit_still_reached_names_itself_its_value_and_the_setting(tmp_path):
    big = tmp_path / "wide.txt"
    big.write_text("\N{GRINNING FACE}" * 4_000_000, encoding="utf-8")  # 16 MB on disk and as a str
    config = SandboxConfig(policy="trusted", memory_limit_bytes=256 << 20, max_str_bytes=1 << 30)
    with Sandbox(config) as sb, pytest.raises(Exception) as caught:
        sb.load_context(big)
        sb.load_context("\N{GRINNING FACE}" * 60_000_000)  # 240 MB as a str: more than the 256 MiB
    message = str(caught.value)
    assert "memory_limit_bytes" in message and "max_str_bytes" in message and "GiB" in message


# ----- other encodings, at every size ----------------------------------------------------
def test_a_utf16_file_above_max_str_bytes_is_read_as_text(tmp_path):
    f = tmp_path / "wide16.txt"
    f.write_text("filler line\n" * 2000 + "the needle is here\n", encoding="utf-16")
    with Sandbox(SandboxConfig(policy="trusted", max_str_bytes=SMALL)) as sb:
        info = sb.load_context(f)
        out = sb.execute("print(type(context).__name__, 'needle is here' in context)").stdout.split()
    assert out == ["Corpus", "True"]  # it had been the raw UTF-16 bytes: 'n\x00e\x00...'
    assert "UTF-16" in info.description


def test_small_utf16_files_in_a_mapped_directory_are_decoded(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big.txt").write_text("x" * 20_000 + "\n")
    (tree / "small16.txt").write_text("hello from UTF-16\n", encoding="utf-16")
    (tree / "small32.txt").write_text("hello from UTF-32\n", encoding="utf-32")
    with Sandbox(SandboxConfig(policy="trusted", max_str_bytes=SMALL)) as sb:
        info = sb.load_context(tree)
        out = sb.execute("print(type(context).__name__, 'hello from UTF-16' in context, "
                         "[d.text.strip() for d in docs if d.path.startswith('small')])").stdout
    assert out.startswith("Corpus True") and "'hello from UTF-16', 'hello from UTF-32'" in out
    assert set(info.decoded) == {"small16.txt", "small32.txt"}


# ----- names that are not UTF-8 -----------------------------------------------------------
def test_a_file_name_that_is_not_utf8_is_shown_with_escapes_and_read(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "fine.txt").write_text("fine\n")
    bad = os.fsdecode(b"bad\xffname.txt")
    (tree / bad).write_text("the text of the badly named file\n")
    with Sandbox(SandboxConfig(policy="trusted")) as sb:
        sb.load_context(tree)  # was: "directory ... is not valid UTF-8 (byte 8 ...)"
        out = sb.execute("print([d.path for d in docs], 'badly named' in context)").stdout
    assert "'bad\\\\xffname.txt'" in out and out.strip().endswith("True")


# ----- special files, loops and long paths ------------------------------------------------
def make_specials(tree: Path) -> socket.socket:
    tree.mkdir()
    (tree / "good.txt").write_text("good text\n")
    os.mkfifo(tree / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tree / "sock"))
    (tree / "loop1").symlink_to("loop2")
    (tree / "loop2").symlink_to("loop1")
    (tree / "dangling").symlink_to("nowhere")
    return sock


def test_a_directory_with_special_files_leaves_them_out_by_reason_and_never_waits(tmp_path):
    sock = make_specials(tmp_path / "tree")
    try:
        spec = prepare(tmp_path / "tree", "context", tmp_path, SMALL)
    finally:
        sock.close()
    assert spec.skipped == {"special": ["pipe", "sock"], "link loop": ["loop1", "loop2"],
                            "broken link": ["dangling"]}
    assert "2 special" in spec.description and "2 link loop" in spec.description


@pytest.mark.parametrize(("name", "says"), [
    ("pipe", "is a FIFO (named pipe)"), ("sock", "is a socket"), ("loop1", "is a loop of symbolic links"),
    ("dangling", "is a symbolic link to a missing file"), ("/dev/null", "is a character device"),
])
def test_a_special_path_given_alone_is_refused_in_one_line_without_opening_it(tmp_path, name, says):
    sock = make_specials(tmp_path / "tree")
    try:
        with pytest.raises(ContextError, match=re.escape(says)):
            RLM(model="m", base_url="http://127.0.0.1:9/v1", api_key="k").completion(
                tmp_path / "tree" / name if not name.startswith("/") else Path(name), "q?")
    finally:
        sock.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc")
def test_a_proc_file_that_says_its_size_is_zero_is_read(tmp_path):
    assert os.stat("/proc/self/status").st_size == 0
    spec = prepare(Path("/proc/self/status"), "context", tmp_path, SMALL)  # it "was empty"
    assert spec.mode == "text" and b"Pid:" in spec.data_path.read_bytes()


def test_paths_past_path_max_are_counted_as_left_out_with_a_short_name(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "top.txt").write_text("top\n")
    fd = os.open(tree, os.O_RDONLY)
    try:
        for _ in range(20):  # 20 levels of 250-character names: past PATH_MAX (4,096)
            os.mkdir("d" * 250, dir_fd=fd)
            fd, old = os.open("d" * 250, os.O_RDONLY, dir_fd=fd), fd
            os.close(old)
        os.close(os.open("deep.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
        os.write(wfd := os.open("deep.txt", os.O_WRONLY, dir_fd=fd), b"deep text\n")
        os.close(wfd)
    finally:
        os.close(fd)
    spec = prepare(tree, "context", tmp_path, SMALL)
    assert spec.skipped.get("path too long"), spec.skipped  # had been dropped without a word
    assert "path too long" in spec.description and len(spec.description) < 2000


# ----- the CLI reads a FIFO as it reads standard input -------------------------------------
def answer_with_context(call: Call) -> str:
    if call.turn == 0:
        return "```repl\nprint(context.strip())\n```"
    return "FINAL_VAR(context)"


def test_rlm_query_reads_a_fifo_given_as_the_path(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def writer() -> None:
        time.sleep(0.5)
        with open(fifo, "w") as f:
            f.write("text written to the pipe\n")

    threading.Thread(target=writer, daemon=True).start()
    with ScriptedServer({"root": answer_with_context}) as server:
        r = subprocess.run([sys.executable, str(REPO / "cli.py"), "query", str(fifo), "-q", "what?", "-m", "root",
                            "--base-url", server.url, "--no-notes", "--no-cache"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env=cli_env(tmp_path / "home", key="test-key"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "text written to the pipe"


def test_ctrl_c_while_waiting_for_a_fifo_writer_ends_the_command(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "query", str(fifo), "-q", "what?", "-m", "m",
                             "--base-url", "http://127.0.0.1:9/v1", "--no-notes"],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=cli_env(tmp_path / "home"))
    line = proc.stderr.readline()  # the notice that it waits: it is in the wait now
    assert "waiting for a program to write to" in line
    proc.send_signal(signal.SIGINT)  # once: it had ignored the first Ctrl-C, hanging in open()
    try:
        rest = proc.communicate(timeout=30)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in rest
