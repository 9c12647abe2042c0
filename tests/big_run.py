"""A real recorded run of 40 turns and 1,000 sub-calls (plus a child run, a failing cell and
notes), made against the scripted model server: what the run view and the export are tested on.

Each turn the root model fans out 25 `llm_query_batched` prompts, each carrying a 20,000-character
chunk of the context (so the trajectory keeps their heads only, and the viewer finds where they
came from). The context's first line holds the planted API key: it reaches cell output and
sub-call prompts, and must never reach a page.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import PLANTED_KEY
from scripted_server import Call, ScriptedServer

from rlm import RLM

TURNS = 40
FAN_OUT = 25
CHUNK = 20_000
ANSWER = "All 1,000 parts were read: the ledger holds 24,975 records."
CHILD_ANSWER_PREFIX = "the part has"


def sub_answer(turn: int, part: int) -> str:
    return f"turn {turn} part {part}: found code ZEBRA-{turn}-{part}"


def make_context(path: Path) -> Path:
    lines = [f"config: OPENAI_API_KEY={PLANTED_KEY}"]
    i = 0
    while sum(len(x) + 1 for x in lines) < FAN_OUT * CHUNK + 1000:
        lines.append(f"record {i:06d}: cargo {['salt', 'tin', 'wool', 'amber'][i % 4]} weighed {(i * 37) % 991} kg")
        i += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def root_code(turn: int) -> str:
    code = (f"```repl\nchunks = [context[i * {CHUNK}:(i + 1) * {CHUNK}] for i in range({FAN_OUT})]\n"
            f"answers = llm_query_batched([f'Turn {turn}, part {{i}}: list the record codes in this text.\\n\\n' + c "
            f"for i, c in enumerate(chunks)])\nprint(len(answers), answers[0])\n```")
    if turn == 1:
        code = "I will look at the start first.\n```repl\nprint(context[:120])\n```\n" + code
    if turn == 2:
        code += "\nAnd a check that fails:\n```repl\nratio = 1 / 0\n```"
    if turn == 3:
        code += "\n```repl\npart = rlm_query('How many lines are in this part?', context[:3000])\nprint(part)\n```"
    return code


def root(call: Call) -> str:
    if "leave notes for future runs" in call.prompt:
        return "```repl\nremember('The ledger has one record per line, in 25 parts of 20,000 characters.', 'read it')\n```"
    turn = call.turn + 1
    if turn > TURNS:
        return f"FINAL({ANSWER})"
    return root_code(turn)


def sub(call: Call) -> str:
    if call.is_root:  # the child run of rlm_query: a small RLM of its own
        if call.turn == 0:
            return "```repl\nn = str(len(context.splitlines()))\nprint(n)\n```"
        return "```repl\nFINAL('" + CHILD_ANSWER_PREFIX + " ' + n + ' lines')\n```"
    m = re.match(r"Turn (\d+), part (\d+):", call.prompt)
    if m:
        return sub_answer(int(m.group(1)), int(m.group(2)))
    return "no part"


def record_big_run(tmp: Path) -> tuple[Path, str, Path]:
    """(runs directory, root run id, context file) of a fresh 40-turn, 1,000-sub-call run."""
    context = make_context(tmp / "ledger.txt")
    runs = tmp / "runs"
    with ScriptedServer({"root": root, "sub": sub}) as server:
        rlm = RLM(model="root", sub_model="sub", base_url=server.url, api_key="test-key", runs_dir=runs,
                  max_iterations=TURNS + 5, max_depth=2, notes=tmp / "notes", cache=False,
                  answer_check=False)  # the page is what is tested, not the answer
        result = rlm.completion(context, "How many records does the ledger hold?")
    assert result.status == "ok" and result.answer == ANSWER, (result.status, result.error)
    assert result.iterations == TURNS + 1 and result.sub_calls == TURNS * FAN_OUT + 1
    return runs, result.run_id, context
