"""The paper's CodeAct baselines: a ReAct loop in which the model writes Python that runs in
the sandbox, with its context in the prompt (cut to the window), not in the REPL.

    codeact      + `search(query, k)`: BM25 over the whole context's chunks (as in the paper,
                 after Jimenez et al.), so what the window cut off can still be found
    codeact-sub  + `llm_query(prompt)` / `llm_query_batched(prompts)`: sub-calls to the sub-model

Each turn the model's ```repl blocks run in a restricted sandbox and their output (capped)
comes back as the next user message; `FINAL(answer)` outside code ends the loop (FINAL_VAR(name)
prints the variable). Old turns are dropped, oldest first, when the conversation would not
fit the window; after `max_turns` (or past the cost budget) the model is asked for its answer
once more, without code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.retrieve import Searcher
from evals.tokens import Tokenizer
from rlm.events import CellEvent
from rlm.protocol import parse_reply
from rlm.tools import query_tools
from sandbox import HostRequest, SandboxConfig, Tools, open_sandbox

KERNEL_DIR = Path(__file__).resolve().parent / "kernel"
OBSERVATION_TOKENS = 2000  # output of one turn's code, as the model sees it
TURNS_TOKENS = 12_000  # window kept free of context for the loop's turns

SYSTEM = """You answer a question about a long context. The context is in the user's message \
(cut to fit your window if it was longer: the message says so). You can run Python: write it \
in a ```repl block and you will see what it prints. In that Python:
{tools}
When you know the answer, reply with FINAL(your answer) on a line of its own, outside code."""
SEARCH_DOC = ("- `search(query, k=5)` returns the k passages of the WHOLE context that best match `query` "
              "(BM25), best first: use it for what the part you were shown does not hold.")
SUB_DOC = ("- `llm_query(prompt)` asks a language model and returns its answer; "
           "`llm_query_batched(prompts)` asks many at once (answers in order). Put the text it should "
           "read into the prompt.")

Chat = Callable[[list[dict[str, str]]], Awaitable[str]]
AskSub = Callable[[str, int | None], Awaitable[str]]  # (prompt, the cell that asked)


@dataclass
class CodeActResult:
    answer: str | None
    status: str  # "ok", "max_iterations" or "max_cost"
    turns: int
    truncated: bool


async def codeact(text: str, question: str, *, chat: Chat, ask_sub: AskSub | None, tok: Tokenizer,
                  window_tokens: int, chunk_chars: int, max_turns: int, sandbox_config: SandboxConfig,
                  afford: Callable[[int, int, int], bool] | None = None,
                  emit: Callable[[CellEvent], None] | None = None) -> CodeActResult:
    """Answer `question` about `text` with the CodeAct loop (sub-calls when `ask_sub` is given).

    `afford(prompt_tokens, sub_prompt_tokens, sub_calls)` says whether the cost budget can pay for
    a call to the model with that prompt and `sub_calls` sub-calls whose prompts hold that many.
    A turn starts only if it and a last answer after it can be paid; when not, the loop ends
    (status max_cost) with that last answer, asked only if it can be paid itself (else no
    answer). Sub-calls the budget cannot pay beside a last answer are refused in the sandbox,
    with no call made.
    `emit` gets a trajectory's "cell" event for each code block run."""
    from evals.retrieve import chunk_text

    # a small window keeps half for the turns (a fixed 12k left only a 256-token floor of context)
    room = max(256, window_tokens - tok.count(question) - min(TURNS_TOKENS, window_tokens // 2))
    shown = tok.head(text, room)
    truncated = len(shown) < len(text)
    cut = (f"\n\n[the context was cut here to fit your window: {len(shown):,} of {len(text):,} characters "
           "shown; search() reaches the rest]") if truncated else ""
    searcher = await asyncio.to_thread(Searcher, chunk_text(text, chunk_chars))
    loop = asyncio.get_running_loop()

    def search(request: HostRequest) -> list[str]:
        query, k = str(request.args.get("query", "")), int(request.args.get("k", 5))
        return [searcher.chunks[i] for i in searcher.top(query, k)]

    tools = [Tools("search", KERNEL_DIR / "search.py", {"search": search})]
    # what a last answer would be billed, as of this turn's reply: the sub-calls' budget keeps it
    # free (counted once a turn, not at every llm_query: the context makes it a long count)
    last_answer = [0]
    if ask_sub is not None:
        sub = ask_sub

        async def answer_all(prompts: list[str], cell: int | None) -> list[str]:
            return list(await asyncio.gather(*(sub(p, cell) for p in prompts)))

        def serve(request: HostRequest) -> list[str]:  # on a bridge thread: hop onto the loop
            if request.op != "llm_query":  # rlm_query would drop its context: not this baseline's
                raise RuntimeError(f"{request.op} is not available here: use llm_query(prompt)")
            prompts = [str(p) for p in request.args.get("prompts") or []]
            if afford is not None and not afford(last_answer[0], sum(_billed_text(p, tok) for p in prompts),
                                                 len(prompts)):
                raise RuntimeError("the cost budget cannot pay for these sub-calls; none was made")
            return asyncio.run_coroutine_threadsafe(answer_all(prompts, request.cell), loop).result()

        tools.append(query_tools(serve))
    listed = SEARCH_DOC + ("\n" + SUB_DOC if ask_sub is not None else "")
    messages = [{"role": "system", "content": SYSTEM.format(tools=listed)},
                {"role": "user", "content": f"Context:\n{shown}{cut}\n\nQuestion: {question}"}]
    sandbox = open_sandbox(sandbox_config)
    # the sandbox is blocking and keeps per-thread state (jupyter_client's event loop): one
    # thread of its own, as the controller's runs have
    thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="codeact")

    async def blocking(fn: Callable[..., Any], *args: Any) -> Any:
        return await loop.run_in_executor(thread, fn, *args)

    async def run(code: str, turn: int, block: int) -> str:
        result = await blocking(sandbox.execute, code)
        if emit is not None:
            emit(CellEvent(event="cell", turn=turn, block=block, cell=result.cell, code=code,
                           stdout=result.stdout, error=result.error, truncated=result.truncated,
                           timed_out=result.timed_out, restarted=result.restarted, final=result.final,
                           duration_s=round(result.duration_s, 4)))
        out = (result.stdout + (f"\nError: {result.error}" if result.error else "")).strip() or "(no output)"
        kept = tok.head(out, OBSERVATION_TOKENS)
        return kept if len(kept) == len(out) else f"{kept}\n[output cut: {len(out):,} characters in all]"


    try:
        await blocking(sandbox.start)
        for tool_set in tools:
            await blocking(sandbox.add_tools, tool_set)
        status = "max_iterations"
        for turn in range(1, max_turns + 1):
            fitted = _fit(messages, tok, window_tokens)
            if afford is not None and not afford(2 * _billed(fitted, tok), 0, 0):  # this turn and a last answer
                status = "max_cost"
                break
            reply = parse_reply(await chat(fitted))
            messages.append({"role": "assistant", "content": reply.visible})
            if afford is not None and ask_sub is not None:
                last_answer[0] = _billed(_fit(messages, tok, window_tokens), tok)
            observed = [await run(code, turn, block) for block, code in enumerate(reply.code)]
            if reply.final_kind == "text":
                return CodeActResult(reply.final, "ok", turn, truncated)
            if reply.final_kind == "var":
                name = (reply.final or "").strip()
                value = await blocking(sandbox.read_variable, name) if name.isidentifier() else None
                if value is not None:
                    return CodeActResult(value, "ok", turn, truncated)
                observed.append(f"FINAL_VAR({name}) names no variable: use FINAL(your answer), or define it first.")
            elif not reply.code:
                observed.append("No code ran. Write a ```repl block, or reply with FINAL(your answer).")
            messages.append({"role": "user", "content": "\n\n".join(observed)})
        # the last observation and the request to answer go in one message (roles alternate)
        messages[-1]["content"] += "\n\nNo turns are left: reply now with FINAL(your answer)."
        fitted = _fit(messages, tok, window_tokens)
        if afford is not None and not afford(_billed(fitted, tok), 0, 0):
            return CodeActResult(None, "max_cost", turn - 1 if status == "max_cost" else max_turns, truncated)
        last = parse_reply(await chat(fitted))
        return CodeActResult(last.final if last.final_kind == "text" else last.visible.strip() or None,
                             status, max_turns, truncated)
    finally:
        try:
            await asyncio.shield(blocking(sandbox.close))
        finally:
            thread.shutdown(wait=False)


def _billed_text(text: str, tok: Tokenizer) -> int:
    """Tokens a server may bill for `text`, for the budget: our count, or characters / 4 where
    that is more (the endpoint's tokenizer is not ours; better to stop a little early)."""
    return max(tok.count(text), len(text) // 4)


def _billed(messages: list[dict[str, Any]], tok: Tokenizer) -> int:
    return sum(_billed_text(m["content"], tok) + 4 for m in messages)


def _fit(messages: list[dict[str, str]], tok: Tokenizer, window_tokens: int) -> list[dict[str, Any]]:
    """The conversation within the window: the system prompt and the context message kept, the
    oldest turns after them dropped first (a note says how many)."""
    head, turns = messages[:2], messages[2:]
    budget = window_tokens - sum(tok.count(m["content"]) for m in head) - 1024
    kept: list[dict[str, str]] = []
    for m in reversed(turns):
        budget -= tok.count(m["content"]) + 4
        if budget < 0:
            break
        kept.insert(0, m)
    if kept and kept[0]["role"] == "user" and len(kept) < len(turns):
        kept.pop(0)  # never start the kept turns with an observation whose code was dropped
    dropped = len(turns) - len(kept)
    if dropped:  # said at the end of the context message, so that the roles still alternate
        note = f"\n\n[{dropped} earlier messages of this conversation were dropped to fit the window]"
        head = [head[0], {**head[1], "content": head[1]["content"] + note}]
    return [*head, *kept]
