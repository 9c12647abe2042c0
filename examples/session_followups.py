"""Sessions: ask follow-up questions over one context, in one kernel.

The log is loaded once. Each ask is its own run, but the kernel's variables stay,
and the model is told the earlier questions and answers. The session is saved after
each ask; opening it again by name (as a new process would) replays the earlier asks
into a new kernel without asking the model, and the next question goes on from there.

Run it against any OpenAI-compatible endpoint:

    OPENAI_API_KEY=sk-... RLM_MODEL=gpt-5-mini python examples/session_followups.py
    OPENAI_BASE_URL=http://localhost:8000/v1 RLM_MODEL=qwen3 python examples/session_followups.py
"""

from rlm import RLM

LOG = "\n".join([
    "09:00 api ok", "09:01 db ok", "09:02 db ERROR disk full", "09:03 api ERROR timeout",
    "09:04 db ERROR disk full", "09:05 api ok", "09:06 cache ERROR evicted",
]) + "\n"

rlm = RLM(max_iterations=10)  # model, endpoint and key come from the environment

with rlm.session(LOG) as session:
    first = session.ask("How many ERROR lines are there?")
    print("1.", first.answer, f"[{first.status}]")
    second = session.ask("Which service logged the first of those errors?")
    print("2.", second.answer, f"[{second.status}]")
    print("variables:", ", ".join(v.name for v in session.variables()))
    name = session.name  # saved under <runs_dir>/sessions/<name>.json

# Open it again by name: no context needed, the earlier asks are replayed first.
with rlm.session(name=name) as again:
    print("earlier:", [ask.question for ask in again.asks])
    third = again.ask("Which service logged the most errors?")
    print("3.", third.answer, f"[{third.status}]")
