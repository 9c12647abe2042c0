"""Red team: checked evidence (`cite`) against a hostile kernel. The policy layer is assumed
bypassed: model code takes the host connection out of `cite.__closure__` (trusted policy) and
sends the host its own claims. Each test starts real kernels against the scripted server and
asserts what the host must hold alone: a citation is kept only where the context's own bytes
are the quote inside one document, what it reports (document, byte range, lines, page) is true
of those files, and nothing a claim carries can flood the run's record, leak bytes the kernel
could not read, or reach a terminal or a page as markup or escapes."""

from __future__ import annotations

from scripted_server import ScriptedServer, script

from rlm import RLM, SandboxConfig, read_trajectory

NEEDLE = "the vault code is 4711"
HOST = "host = [c.cell_contents for c in cite.__closure__ if hasattr(c.cell_contents, 'call')][0]\n"


def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "a.log").write_text("".join(f"line {i} ok é\n" for i in range(100)), encoding="utf-8")
    (d / "b.log").write_text("".join(f"entry {i} fine\n" for i in range(50)) + NEEDLE + "\ntail\n", encoding="utf-8")
    return d


def make(server, tmp_path, **kw) -> RLM:
    return RLM(model="root", base_url=server.url, api_key="k", runs_dir=tmp_path / "runs", notes=False,
               cache=False, answer_check=False, **kw)


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
