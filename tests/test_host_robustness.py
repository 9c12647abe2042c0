"""The host against a hostile kernel: model code in a trusted-policy sandbox talks to the bridge
and to the kernel's own shell socket directly, and the host must stay bounded (memory, threads,
file descriptors), keep the session working, and cap every text that comes out of the kernel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from rlm.subcalls import SubCallServer
from rlm.tools import SUBCONTEXT_KEY, query_tools
from sandbox import HostRequest, Sandbox, SandboxConfig, bridge
from sandbox.channel import close_thread_loop as _close_thread_loop
from sandbox.config import GiB
from sandbox.kernel import wire
from sandbox.kernel.caps import FINAL_MAX_CHARS

RT = "from sandbox.kernel.kernel import SandboxKernel\nrt = SandboxKernel.runtime\n"
OUTPUT_LIMIT = 20_000


class Recorder:
    """The query tools' host handler: answers each prompt, and records each request's
    contexts, the files that came with it, and the host's thread count when it arrived."""

    def __init__(self) -> None:
        self.requests: list[dict] = []

    def __call__(self, req: HostRequest) -> list[str]:
        files = []
        for fd in req.fds:
            size = os.fstat(fd).st_size
            files.append(os.pread(fd, min(size, 64), 0) if size else b"")
        self.requests.append({"op": req.op, "prompts": req.args.get("prompts"), "contexts": req.args.get("contexts"), "files": files,
                              "sizes": [os.fstat(fd).st_size for fd in req.fds],
                              "threads": threading.active_count()})
        return [f"answer:{p[:20]}" for p in req.args["prompts"]]


@pytest.fixture(scope="module")
def recorder():
    return Recorder()


@pytest.fixture(scope="module")
def sb(recorder):
    cfg = SandboxConfig(policy="trusted", cell_timeout_s=60, interrupt_grace_s=2, open_files=4096,
                        memory_limit_bytes=3 * GiB)
    with Sandbox(cfg) as s:
        s.add_tools(query_tools(recorder))
        yield s


def run(sb, code: str) -> str:
    r = sb.execute(code)
    assert r.error is None, r.error
    return r.stdout


def answers(sb) -> None:
    """The sandbox (or a restart of it) still answers."""
    assert sb.execute("print(1)").stdout == "1\n"
    assert run(sb, "print(llm_query('still here'))") == "answer:still here\n"


def host_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # "5": reset the peak resident set size
        f.write("5")


def rss(field: str = "VmHWM") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(field)


# ----- 1. sizes are checked before anything is read or decoded ------------------------------------
def test_an_oversized_request_frame_is_refused_on_its_header(sb):
    code = RT + (
        "import socket, struct\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\ns.connect(rt.bridge_path)\n"
        "s.sendall(struct.pack('>I', 100 * 2**20) + b'[\"xxxxxxxx')\n"  # claims 100 MiB, sends 10 bytes
        "s.settimeout(10)\nt = time.monotonic()\n"
        "try:\n    got = s.recv(100)\nexcept OSError as exc:\n    got = type(exc).__name__\n"
        "print(repr(got), time.monotonic() - t < 5)\ns.close()\n"
    )
    # closed (or reset) at once: nothing waited for
    assert run(sb, "import time\n" + code) in ("b'' True\n", "'ConnectionResetError' True\n")
    r = sb.execute("llm_query('x' * 70_000_000)")  # an honest request over the limit: a clear error
    assert r.error is not None and "limit" in r.error and "67,108,864" in r.error, r.error[:500]
    answers(sb)


def test_large_list_and_dict_sub_contexts_travel_as_json_files(sb, recorder):
    recorder.requests.clear()
    code = ("big = [{'id': i, 'text': 'row %d' % i} for i in range(300_000)]\n"
            "small = {'a': 1}\n"
            "print(rlm_query_batched(['p1', 'p2', 'p3', 'p4'], [big, small, big, 'x' * 4_000_001]))")
    out = run(sb, code)
    assert out.count("answer:") == 4
    (req,) = recorder.requests
    contexts = req["contexts"]
    # the list goes once, as a JSON file, however often it is passed; the small dict inline
    assert contexts[0] == {SUBCONTEXT_KEY: 0, "kind": "json"} and contexts[2] == contexts[0]
    assert contexts[1] == {"a": 1}
    assert contexts[3] == {SUBCONTEXT_KEY: 1}
    assert len(req["files"]) == 2 and req["files"][0].startswith(b'[{"id": 0, "text": "row 0"}')
    assert req["sizes"][1] == 4_000_001


# ----- 2. each sub-context copied once; nothing read whole at the depth limit ------------------------
class _Broker:
    def __init__(self, scratch_root: Path) -> None:
        self.prompts: list[str] = []
        self.copies: list[int] = []
        self.root = scratch_root

    async def query(self, prompts, **_):
        self.prompts = list(prompts)
        self.copies = [len([n for n in os.listdir(d) if n != ".owner"]) for d in self.root.glob("rlm-subctx-*")]
        return ["ok"] * len(prompts)


class _Child:
    def __init__(self, context, query) -> None:
        self.context, self.query = context, query
        self.run_id = f"child-{id(self)}"
        self.trajectory = SimpleNamespace(path=None)

    async def execute(self):
        text = Path(self.context.value).read_text() if self.context.kind == "path" else str(self.context.value)
        return SimpleNamespace(answer=f"{len(text)}", usage=None, status="ok", cost_usd=0.0, priced=True)


def _server(tmp_path: Path, max_depth: int):
    broker = _Broker(tmp_path)
    children: list[_Child] = []

    @contextlib.asynccontextmanager
    async def slots(_depth):
        yield

    tree = SimpleNamespace(broker=broker, budget=SimpleNamespace(claim_sub_call=lambda: None),
                           slots_for=slots, status=SimpleNamespace(child_runs=0))
    run = SimpleNamespace(tree=tree, depth=0, sub_calls=0, children=[], emit=lambda e: None, iterations=1,
                          usage=SimpleNamespace(merge=lambda u: None),
                          config=SimpleNamespace(sub_calls=True, max_depth=max_depth,
                                                 sandbox=SimpleNamespace(work_root=tmp_path,
                                                                         disk_quota_bytes=GiB)))

    def start_child(context, query):
        children.append(_Child(context, query))
        return children[-1]

    return SubCallServer(run, start_child), broker, children


def _file(tmp_path: Path, name: str, data: bytes) -> int:
    p = tmp_path / name
    p.write_bytes(data)
    return os.open(p, os.O_RDONLY)


def test_a_sub_context_referenced_many_times_is_copied_once(tmp_path):
    server, broker, _ = _server(tmp_path, max_depth=1)
    fd = _file(tmp_path, "ctx.txt", b"abc " * 1000)
    twin = os.dup(fd)  # the same file under a second descriptor
    try:
        contexts = [{SUBCONTEXT_KEY: 0}] * 8 + [{SUBCONTEXT_KEY: 1}]
        request = HostRequest("rlm_query", {"prompts": ["p"] * 9, "contexts": contexts}, 1, [fd, twin])
        assert asyncio.run(server.serve(request)) == ["ok"] * 9
    finally:
        os.close(fd)
        os.close(twin)
    assert broker.copies == [1]
    assert all(p == "p\n\n" + "abc " * 1000 for p in broker.prompts)


def test_at_the_depth_limit_a_huge_sub_context_is_cut_not_read_whole(tmp_path):
    server, broker, _ = _server(tmp_path, max_depth=1)
    fd = _file(tmp_path, "big.txt", b"HEAD" + b"x" * 40_000_000 + b"TAIL")
    try:
        request = HostRequest("rlm_query", {"prompts": ["p"], "contexts": [{SUBCONTEXT_KEY: 0}]}, 1, [fd])
        asyncio.run(server.serve(request))
    finally:
        os.close(fd)
    (prompt,) = broker.prompts
    assert len(prompt) < 10_000_000 and prompt.startswith("p\n\nHEAD") and prompt.endswith("TAIL")
    assert "cut" in prompt


def test_a_json_sub_context_file_reaches_the_child_as_json_text(tmp_path):
    server, _, children = _server(tmp_path, max_depth=3)
    data = json.dumps([{"id": i} for i in range(1000)]).encode()
    fd = _file(tmp_path, "ctx.json", data)
    try:
        contexts = [{SUBCONTEXT_KEY: 0, "kind": "json"}, {SUBCONTEXT_KEY: 0, "kind": "json"}]
        request = HostRequest("rlm_query", {"prompts": ["q1", "q2"], "contexts": contexts}, 1, [fd])
        assert asyncio.run(server.serve(request)) == [str(len(data))] * 2
    finally:
        os.close(fd)
    assert [c.context.kind for c in children] == ["path", "path"]
    assert children[0].context.value == children[1].context.value  # one copy for both
    assert children[0].query.startswith("q1") and "json.loads(context)" in children[0].query


# ----- 3. every text out of the kernel is capped on the host -----------------------------------------
def test_a_huge_exception_message_comes_back_capped(sb):
    r = sb.execute("raise Exception('x' * 50_000_000)")
    assert r.error is not None and "Exception" in r.error and len(r.error) < 3 * OUTPUT_LIMIT
    answers(sb)


def test_hostile_cell_replies_are_capped_and_sanitised(sb):
    hostile = RT + (
        "orig = rt.run_cell\n"
        "def run_cell(code):\n"
        "    out = orig(code)\n"
        "    if 'HOSTILE' in code:\n"
        "        out.update(stdout='o' * 5_000_000, error='e' * 5_000_000, final='f' * 30_000_000)\n"
        "    if 'TYPES' in code:\n"
        "        out.update(stdout=['x'], error=5, final={'a': 1}, cell='abc', restored='zz', output_chars=None)\n"
        "    return out\n"
        "rt.run_cell = run_cell\n"
    )
    run(sb, hostile)
    r = sb.execute("# HOSTILE")
    assert len(r.stdout) < 3 * OUTPUT_LIMIT and r.truncated
    assert len(r.error) < 3 * OUTPUT_LIMIT
    assert len(r.final) < FINAL_MAX_CHARS + 1000
    r = sb.execute("# TYPES")
    assert isinstance(r.stdout, str) and isinstance(r.error, str) and isinstance(r.final, str)
    assert isinstance(r.cell, int) and all(isinstance(n, str) for n in r.restored)
    run(sb, "rt.run_cell = orig")
    answers(sb)


def test_hostile_internal_results_are_capped_and_sanitised(sb):
    hostile = RT + (
        "orig_internal = rt.internal\n"
        "def internal(op, args):\n"
        "    if op in ('read_variable', 'answer'):\n"
        "        return 'v' * 30_000_000\n"
        "    if op == 'variables':\n"
        "        return [{'name': 'n' * 1_000_000, 'type': 't' * 1_000_000, 'size': 1},\n"
        "                {'name': 1, 'type': None, 'size': 'x', 'extra': True}, 'junk']\n"
        "    return orig_internal(op, args)\n"
        "rt.internal = internal\n"
    )
    run(sb, hostile)
    try:
        assert len(sb.read_variable("anything")) < FINAL_MAX_CHARS + 1000
        assert len(sb.answer_draft()) < FINAL_MAX_CHARS + 1000
        variables = sb.variables()
        assert all(isinstance(v.name, str) and len(v.name) < 1000 and isinstance(v.type, str)
                   and len(v.type) < 1000 and isinstance(v.size, int) for v in variables)
    finally:
        run(sb, "rt.internal = orig_internal")
    answers(sb)


def test_a_shell_message_over_the_size_limit_drops_the_connection_and_restarts(sb):
    hostile = RT + (
        "orig = rt.run_cell\n"
        "def run_cell(code):\n"
        "    out = orig(code)\n"
        "    if 'GIANT' in code:\n"
        "        out['stdout'] = 'g' * 150_000_000\n"
        "    return out\n"
        "rt.run_cell = run_cell\n"
    )
    run(sb, hostile)
    reset_peak_rss()
    before = rss("VmRSS")
    started = time.monotonic()
    r = sb.execute("# GIANT")
    assert r.restarted and "limit" in r.error, r.error
    assert time.monotonic() - started < 30  # noticed at once, not at the cell's time limit
    assert rss() - before < 100 * 2**20  # the 150 MB message never reached host memory
    answers(sb)


# ----- 7. a kernel that exits between cells: the next cell restarts it, never waits for ever ------------
def test_a_kernel_that_exits_between_cells_is_restarted_not_waited_on(sb):
    run(sb, "import os, threading\nthreading.Timer(0.2, os._exit, (3,)).start()")
    time.sleep(1.5)
    box: dict = {}

    def execute() -> None:
        try:
            box["r"] = sb.execute("print(1)")
        finally:
            _close_thread_loop()  # jupyter_client's event loop of this thread

    waiter = threading.Thread(target=execute, daemon=True)
    waiter.start()
    waiter.join(30)
    assert not waiter.is_alive(), "execute hung: the request was sent on a connection that is gone"
    assert box["r"].restarted and box["r"].error.startswith("KernelDied: the kernel exited with status 3")
    answers(sb)


# ----- 4. received file descriptors are closed on every path ------------------------------------------
def test_descriptors_sent_with_malformed_frames_are_closed(sb):
    code = RT + (
        "import os, socket, struct\n"
        "r, w = os.pipe()\n"
        "bad = [struct.pack('>I', 5) + b'{bad}', struct.pack('>I', 2**31) + b'xx',\n"
        "       struct.pack('>I', 2) + b'[]', struct.pack('>I', 3) + b'\\xff\\xfe\\xfd',\n"
        "       struct.pack('>I', 8) + b'[[[[[[[[', struct.pack('>I', 100) + b'{}']\n"
        "for i in range(200):\n"
        "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "    s.connect(rt.bridge_path)\n"
        "    frame = bad[i % len(bad)]\n"
        "    s.settimeout(10)\n"
        "    try:\n"
        "        socket.send_fds(s, [frame[:1]], [r, w] * (35 if i % 7 == 0 else 1))\n"
        "        s.sendall(frame[1:])\n"
        "        s.shutdown(socket.SHUT_WR)\n"
        "        s.recv(1000)\n"
        "    except OSError:\n"
        "        pass\n"
        "    s.close()\n"
        "os.close(r)\nos.close(w)\nprint('sent')\n"
    )
    run(sb, "print(1)")
    baseline = host_fds()
    assert run(sb, code) == "sent\n"
    deadline = time.monotonic() + 5
    while host_fds() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_fds() <= baseline
    answers(sb)


def test_wire_recv_frame_closes_the_descriptors_of_a_frame_it_rejects():
    r, w = os.pipe()
    try:
        for frame in (struct.pack(">I", 5) + b"{bad}", struct.pack(">I", 2**31) + b"xx",
                      struct.pack(">I", 3) + b"\xff\xfe\xfd", struct.pack(">I", 9) + b"[1"):
            a, b = socket.socketpair()
            with a, b:
                before = host_fds()
                socket.send_fds(a, [frame[:1]], [r, w])
                a.sendall(frame[1:])
                a.shutdown(socket.SHUT_WR)
                with pytest.raises(wire.WireError):
                    wire.recv_frame(b, 4)
                assert host_fds() == before, frame
    finally:
        os.close(r)
        os.close(w)


# ----- 5. bridge connections are capped -----------------------------------------------------------
def test_thousands_of_idle_bridge_connections_cost_no_threads(sb, recorder):
    recorder.requests.clear()
    run(sb, "print(llm_query('warm'))")
    baseline = threading.active_count()
    code = RT + (
        "import socket, threading\n"
        "socks, lock = [], threading.Lock()\n"
        "def opener(n):\n"
        "    for _ in range(n):\n"
        "        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "        try:\n"
        "            s.connect(rt.bridge_path)\n"
        "        except OSError:\n"
        "            s.close()\n"
        "            continue\n"
        "        with lock:\n"
        "            socks.append(s)\n"
        "ts = [threading.Thread(target=opener, args=(250,)) for _ in range(8)]\n"
        "for t in ts:\n    t.start()\n"
        "for t in ts:\n    t.join()\n"
        "during = llm_query('during')\n"
        "for s in socks:\n    s.close()\n"
        "print(len(socks), during)\n"
    )
    assert run(sb, code) == "2000 answer:during\n"
    during = next(r["threads"] for r in recorder.requests if r["prompts"] == ["during"])
    print(f"host threads: {baseline} before, {during} with 2,000 idle connections open")
    assert during - baseline < 80, (baseline, during)
    deadline = time.monotonic() + 10
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= baseline
    answers(sb)


def test_a_connection_that_sends_nothing_does_not_pin_the_bridge(sb):
    # 200 connections, each sending half a frame and stalling, then normal calls
    code = RT + (
        "import socket, struct\n"
        "stalled = []\n"
        "for i in range(200):\n"
        "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "    s.connect(rt.bridge_path)\n"
        "    s.sendall(struct.pack('>I', 1000) + b'{\"op\": ')\n"
        "    stalled.append(s)\n"
        "print(llm_query_batched(['a', 'b']))\n"
        "for s in stalled:\n    s.close()\n"
    )
    assert run(sb, code) == "['answer:a', 'answer:b']\n"
    answers(sb)


def test_a_request_that_does_not_arrive_in_time_is_dropped(sb, monkeypatch):
    monkeypatch.setattr(bridge, "RECEIVE_TIMEOUT_S", 0.5, raising=False)
    code = RT + (
        "import socket, struct, time\n"
        "socks = []\n"
        "for i in range(10):\n"
        "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "    s.connect(rt.bridge_path)\n"
        "    s.sendall(struct.pack('>I', 100) + b'{')\n"
        "    socks.append(s)\n"
        "time.sleep(2)\n"
        "closed = 0\n"
        "for s in socks:\n"
        "    s.settimeout(1)\n"
        "    try:\n"
        "        closed += s.recv(10) == b''\n"
        "    except TimeoutError:\n"
        "        pass\n"
        "    except OSError:\n"
        "        closed += 1\n"
        "    s.close()\n"
        "print(closed)\n"
    )
    assert run(sb, code) == "10\n"
    answers(sb)


# ----- 6. shell traffic outside the current request is ignored -------------------------------------
FLOOD = """
import threading, time, uuid
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
sess, sock = app.session, app.shell_socket
idents = list(app.kernel._parent_ident["shell"])
done = threading.Event()
def flood():
    try:
        for i in range(10_000):
            kind = i % 5
            if i % 1000 == 3:  # a message of thousands of parts
                sock.send_multipart(idents + [b"<IDS|MSG>"] + [b"p" * 100] * 20_000)
            elif kind == 0:  # a well-signed reply to a request nobody made
                sess.send(sock, "execute_reply", {"status": "ok", "rlm": {"stdout": "spoofed"}},
                          parent={"msg_id": uuid.uuid4().hex, "msg_type": "execute_request"}, ident=idents)
            elif kind == 1:  # a bad signature
                sock.send_multipart(idents + [b"<IDS|MSG>", b"0" * 64, b"{}", b"{}", b"{}", b"{}"])
            elif kind == 2:  # no delimiter at all
                sock.send_multipart(idents + [b"garbage"])
            elif kind == 3:  # well signed, but the header is not a message header
                parts = [b"[1]", b"{}", b"{}", b"{}"]
                sock.send_multipart(idents + [b"<IDS|MSG>", sess.sign(parts)] + parts)
            else:            # well signed, a valid header, a bulky body
                parts = [sess.pack(sess.msg_header("execute_reply")), b"{}", b"{}",
                         sess.pack({"rlm": {"stdout": "b" * 100_000}})]
                sock.send_multipart(idents + [b"<IDS|MSG>", sess.sign(parts)] + parts)
    finally:
        done.set()
app.shell_channel_thread.io_loop.add_callback(flood)
done.wait(60)
time.sleep(2)  # the kernel's queue to the host drains (a reply sent into a full queue is dropped)
print("flooded")
"""


def test_unsolicited_shell_messages_are_dropped_and_the_session_goes_on(sb):
    run(sb, "print(1)")
    reset_peak_rss()
    before = rss("VmRSS")
    started = time.monotonic()
    r = sb.execute(FLOOD)
    assert (r.error, r.stdout) == (None, "flooded\n")
    print(f"flood cell: {time.monotonic() - started:.1f} s, peak RSS growth {(rss() - before) / 2**20:.0f} MiB")
    assert sb.execute("print(1)").stdout == "1\n"
    assert rss() - before < 500 * 2**20
    answers(sb)


@pytest.mark.parametrize("mask", [0o077, 0o177])
def test_a_kernel_starts_whatever_the_hosts_umask(mask):
    """The launcher builds the kernel's root with the host's umask: under 077 (hardened hosts) or
    177 its directories were closed to the kernel's own uid, and every start failed with status 70."""
    old = os.umask(mask)
    try:
        with Sandbox(SandboxConfig(cell_timeout_s=20)) as sb:
            assert "42" in sb.execute("print(6 * 7)").stdout
    finally:
        os.umask(old)


def test_bridges_made_at_once_in_many_threads_leave_the_process_umask_alone(tmp_path):
    """The bridge once swapped the process-wide umask around bind(): two sandboxes starting in
    two threads could leave it at 0o177 for good, and every later kernel of that process failed."""
    old = os.umask(0o022)
    os.umask(old)
    modes: list[int] = []
    errors: list[BaseException] = []

    def make(n: int) -> None:
        try:
            for i in range(40):
                server = bridge.BridgeServer(tmp_path / f"b{n}-{i}.sock", lambda req: [])
                modes.append(os.lstat(server.path).st_mode & 0o777)
                server.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=make, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    now = os.umask(old)
    assert not errors, errors
    assert now == old, oct(now)
    assert len(modes) == 320 and set(modes) == {0o600}


def test_a_directory_planted_at_the_bridge_path_does_not_stop_a_restart():
    """The kernel's uid owns the work directory: a directory left where the bridge socket goes
    made the restart's unlink() raise IsADirectoryError out of execute() (faults come back in the
    result, never as exceptions), and the sandbox was lost."""
    with Sandbox(SandboxConfig(policy="trusted", cell_timeout_s=10, interrupt_grace_s=1)) as sb:
        sb.load_context([1, 2])
        r = sb.execute("import os\nos.unlink('bridge.sock')\nos.makedirs('bridge.sock/x')")
        assert r.error is None, r
        r = sb.execute("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass", timeout=2)
        assert r.timed_out and r.restarted, r
        assert sb.execute("print(sum(context))").stdout == "3\n"
