"""The sub-call server of one run: answers the requests its kernel sends through the query
tools. `llm_query` goes to the tree's broker; `rlm_query` starts child runs (one depth down,
sharing the budget), or, at the depth limit, becomes an `llm_query` of the prompt followed by
the context. A sub-context that came as an open file is copied once into a host-private
scratch directory, by offset through the descriptor, before a child run loads it: once per file
however often the request refers to it, never read whole into host memory, and by its data
extents (a sparse file's holes stay holes): the data copied for one request is bounded by the
sandbox's `disk_quota_bytes` (what the kernel's own work directory may hold), its apparent size
by `MAX_SUBCONTEXT_BYTES`. Scratch directories are `rlm-subctx-<pid>-*`, locked by their
process; a root run's start removes those whose process is gone (`sandbox.scratch`). A list or dict
that came as a file of JSON (`"kind": "json"`) is never decoded on the host: the child run sees
its JSON text as a str, and its question says so. At the depth limit a sub-context is appended
to its prompt cut to `FALLBACK_CONTEXT_CHARS` (head and tail kept, with a marker), and to
`FALLBACK_TOTAL_CHARS` over all the prompts of a request, read by offset from the copy.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlm import prompts as prompts_text
from rlm.errors import RLMError
from rlm.events import ChildDoneEvent, ChildRunEvent, LoopCheckEvent, SubCallEvent
from rlm.inputs import Context
from rlm.loop_guards import looks_like_refusal, short_prompts, written_prompts
from rlm.model_window import DEFAULT_WINDOW_CHARS, chunk_chars
from rlm.tools import MAX_IMAGES, SUBCONTEXT_KEY
from rlm.trajectory import prompt_record
from sandbox import HostRequest, cap_text
from sandbox.attachments import Attachment, AttachmentTooLarge
from sandbox.scratch import ScratchDir

SCRATCH_PREFIX = "rlm-subctx-"

if TYPE_CHECKING:
    from rlm.results import RunResult
    from rlm.run_handle import RunHandle

# prompts (llm_query and rlm_query together) one run's kernel may send in one model turn
MAX_PROMPTS_PER_TURN = 10_000
MAX_SUBCONTEXT_BYTES = 8 * 2**30  # the sub-context files of one request, together
# at the depth limit, the most of a sub-context appended to a prompt, and of all of a request's
FALLBACK_CONTEXT_CHARS = 8_000_000
FALLBACK_TOTAL_CHARS = 32_000_000
_JSON_NOTE = ("\n\n(The context is the JSON text of the list or dict passed to rlm_query: "
              "`json.loads(context)` turns it back.)")
# A child run's question when rlm_query got no context: the prompt is the context, and the
# question says so once it is too long to repeat.
_INLINE_QUERY_CHARS = 2000

ChildStarter = Callable[[Context, str], "RunHandle"]


class SubCallServer:
    """Serves `run`'s kernel requests for sub-calls; `start_child(context, query)` makes the
    child run of an `rlm_query` (not started)."""

    def __init__(self, run: RunHandle, start_child: ChildStarter) -> None:
        self.run = run
        self.tree = run.tree
        self.config = run.config
        self._start_child = start_child
        self._turn = -1
        self._turn_prompts = 0
        self._written_turn: int | None = None  # the turn whose short note first met a prompt written in code

    def handle(self, request: HostRequest) -> list[str]:
        """On a bridge thread: hop onto the run's event loop and wait for the answers."""
        return asyncio.run_coroutine_threadsafe(self.serve(request), self.tree.loop).result()

    async def serve(self, request: HostRequest) -> list[str]:
        prompts = list(request.args.get("prompts") or [])
        self._admit(len(prompts), request.op)
        if not self.config.sub_calls:
            return [f"[{request.op} error: sub-calls are disabled in this run]"] * len(prompts)
        if request.op == "llm_query":
            images = request.args.get("images")
            pictures = None if images is None else await asyncio.to_thread(self._pictures, images)
            return await self.llm(prompts, request.args.get("model"), request.cell, images=pictures)
        contexts = list(request.args.get("contexts") or [None] * len(prompts))
        if len(contexts) != len(prompts):
            raise ValueError("rlm_query: contexts must pair one to one with prompts")
        scratch = await asyncio.to_thread(ScratchDir, SCRATCH_PREFIX, self.config.sandbox.work_root)
        try:
            received = await asyncio.to_thread(_received, contexts, request.attachments, scratch.path,
                                               self.config.sandbox.disk_quota_bytes)
            if self.run.depth + 1 >= self.config.max_depth:
                texts = await asyncio.to_thread(_prompt_texts, [c for c, _ in received])
                merged = [p if t is None else f"{p}\n\n{t}" for p, t in zip(prompts, texts, strict=True)]
                return await self.llm(merged, None, request.cell, check=False)
            return list(await asyncio.gather(*(
                self._child(p + _JSON_NOTE if is_json else p, c, request.cell)
                for p, (c, is_json) in zip(prompts, received, strict=True))))
        finally:
            await asyncio.to_thread(scratch.close)

    def _admit(self, count: int, op: str) -> None:
        """Count `count` prompts against this turn's limit (ValueError, naming it, past it)."""
        if self.run.iterations != self._turn:
            self._turn, self._turn_prompts = self.run.iterations, 0
        if self._turn_prompts + count > MAX_PROMPTS_PER_TURN:
            raise ValueError(f"{op}: this turn's code has sent {self._turn_prompts:,} prompts and this call "
                             f"{count:,} more; the limit is {MAX_PROMPTS_PER_TURN:,} prompts per turn: "
                             "send fewer, larger chunks")
        self._turn_prompts += count

    def _pictures(self, images: Any) -> list[tuple[str, bytes]]:
        """The pictures a kernel asked to show, found by document name in the loaded context
        (a picture file, or a PDF page drawn by the sandbox's isolated reader); ValueError,
        naming the first one that cannot be shown, otherwise."""
        if not isinstance(images, list) or not 1 <= len(images) <= MAX_IMAGES:
            raise ValueError(f"llm_query: images takes 1 to {MAX_IMAGES} pictures")
        pictures = []
        for ref in images:
            name, page = (ref.get("doc"), ref.get("page")) if isinstance(ref, dict) else (None, None)
            if not isinstance(name, str) or len(name) > 4096 or (page is not None and type(page) is not int):
                raise ValueError("llm_query: each image is a document of `docs`, or (doc, page_number)")
            sandbox = self.run.sandbox
            if sandbox is None:
                raise ValueError("llm_query: no context is loaded to take pictures from")
            try:
                pictures.append(sandbox.picture(name, page))
            except ValueError as exc:
                raise ValueError(f"llm_query: cannot show {name[:200]!r}"
                                 f"{'' if page is None else f' page {page}'}: {exc}") from None
        return pictures

    async def llm(self, prompts: list[str], model: Any, cell: int, *, check: bool = True,
                  images: list[tuple[str, bytes]] | None = None) -> list[str]:
        if check:
            self._check_prompts(prompts, pictures=bool(images))
        self.run.sub_calls += len(prompts)
        answers = await self.tree.broker.query(
            prompts, model=None if model is None else str(model), depth=self.run.depth + 1,
            cell=cell, emit=self._emit_sub_call, images=images,
        )
        if check:
            self._check_answers(prompts, answers)
        return answers

    def _check_prompts(self, prompts: list[str], pictures: bool = False) -> None:
        """ValueError for a prompt over the sub-model's window; a note for prompts too short to
        carry any data (rlm/loop_guards.py), unless pictures carry it. Prompts that are all too
        short and written whole in the cell's code (a guess the sub-model would make up) are
        sent with that note in the first turn that makes them, and refused with a ValueError in
        every later turn, once the model was told (not with `answer_check=False`)."""
        window = int(self.config.sub_window_chars or DEFAULT_WINDOW_CHARS)
        over = [len(p) for p in prompts if len(p) > window]
        if over:
            raise ValueError(f"llm_query: a prompt of {max(over):,} characters is over the sub-model's window "
                             f"(about {window:,} characters); nothing was sent: split the text into chunks of at most "
                             f"{chunk_chars(window):,} characters, leaving room for the question")
        written = [] if pictures or not self.config.answer_check else written_prompts(prompts, self.run.cell_code)
        if written and len(written) == len(prompts):  # nothing of the request carries data
            if self._written_turn is not None and self._written_turn < self.run.iterations:
                self.run.emit(LoopCheckEvent(event="loop_check", check="written_sub_prompt", count=len(written)))
                raise ValueError(prompts_text.written_prompt(written[0], len(prompts)))
            self._written_turn = self.run.iterations
        short = [] if pictures else short_prompts(prompts)
        if short:
            self.run.pending_notes.append(prompts_text.short_prompts(len(short), max(short)))
            self.run.emit(LoopCheckEvent(event="loop_check", check="short_sub_prompt", count=len(short),
                                         longest=max(short)))

    def _check_answers(self, prompts: list[str], answers: list[str]) -> None:
        """Remember the replies that decline or ask for data: they are no answer."""
        refused = [a for a in answers if looks_like_refusal(a)]
        self.run.flagged_replies.update(a.strip() for a in refused if a.strip())
        if refused:
            self.run.pending_notes.append(prompts_text.refusals(len(refused), refused[0].strip()[:100]))
            self.run.emit(LoopCheckEvent(event="loop_check", check="sub_refusal", count=len(refused)))

    def _emit_sub_call(self, event: SubCallEvent) -> None:
        if "prompt_tokens" in event:
            hit = bool(event.get("cache_hit"))
            cost = event.get("saved_usd") if hit else event["cost_usd"]
            self.run.usage.add(event["model"], event["depth"], event["prompt_tokens"],
                               event["completion_tokens"], event.get("cached_tokens", 0), cost or 0.0,
                               from_cache=hit, priced=cost is not None)
        self.run.emit(event)

    async def _child(self, prompt: str, context: Context | None, cell: int) -> str:
        run = self.run
        spent = self.tree.budget.claim_sub_call()
        if spent is not None:
            return f"[rlm_query error: the {spent} budget is spent; no sub-run was started]"
        run.sub_calls += 1
        if context is None:
            query = prompt if len(prompt) <= _INLINE_QUERY_CHARS else (
                f"The task is written in the variable `context` ({len(prompt):,} characters): read it first.")
            context = Context(prompt, "text")
        else:
            query = prompt
        async with self.tree.slots_for(run.depth + 1):
            self.tree.status.child_runs += 1
            child = self._start_child(context, query)
            run.children.append(child.run_id)
            run.emit(ChildRunEvent(event="child_run", cell=cell, child_run_id=child.run_id,
                                   trajectory=str(child.trajectory.path) if child.trajectory.path else None,
                                   **prompt_record(prompt)))
            try:
                result: RunResult = await child.execute()
            except RLMError as exc:
                return f"[rlm_query error: the sub-run could not start: {exc}]"
            finally:
                self.tree.status.child_runs -= 1
        run.usage.merge(result.usage)
        run.emit(ChildDoneEvent(event="child_done", child_run_id=child.run_id, status=result.status,
                                answer_chars=len(result.answer or ""),
                                cost_usd=round(result.cost_usd, 6) if result.priced else None))
        if result.answer is None:
            return f"[rlm_query error: the sub-run ended with status {result.status} and no answer]"
        return result.answer


def _received(contexts: list[Any], files: list[Attachment], scratch: Path,
              copy_limit: int) -> list[tuple[Context | None, bool]]:
    """Each sub-context as a Context (None when there is none), and whether it is JSON text. One
    that came as a file becomes a host-private copy (a Path), made once per file (by its place
    in the request, and by its identity) however often the request refers to it; the data
    copied for the request is at most `copy_limit` bytes (allocated, not apparent, size)."""
    by_index: dict[int, Path] = {}
    by_file: dict[tuple[int, int], Path] = {}
    total = 0
    copied = 0
    out: list[tuple[Context | None, bool]] = []
    for context in contexts:
        ref = _file_reference(context)
        if ref is None:
            out.append((Context.maybe(context), False))
            continue
        index, kind = ref
        if not 0 <= index < len(files):
            raise ValueError("rlm_query: a sub-context file is missing")
        if index not in by_index:
            key = files[index].identity
            if key not in by_file:
                path, n = _copy_received_file(files[index], scratch, ".json" if kind == "json" else ".txt",
                                              copy_limit - copied, total)
                total += files[index].size
                copied += n
                by_file[key] = path
            by_index[index] = by_file[key]
        out.append((Context(by_index[index], "path"), kind == "json"))
    return out


def _file_reference(context: Any) -> tuple[int, str] | None:
    """(index in the request's files, "text" or "json") of a sub-context that came as a file."""
    if not (isinstance(context, dict) and SUBCONTEXT_KEY in context and set(context) <= {SUBCONTEXT_KEY, "kind"}):
        return None
    index, kind = context[SUBCONTEXT_KEY], context.get("kind", "text")
    if not isinstance(index, int) or isinstance(index, bool):
        raise ValueError("rlm_query: a sub-context file is missing")
    if kind not in ("text", "json"):
        raise ValueError(f"rlm_query: unknown sub-context kind {str(kind)[:50]!r}")
    return index, kind


def _prompt_texts(contexts: list[Context | None]) -> list[str | None]:
    """The text to append to each prompt at the depth limit (None: no context), each cut to
    its share of FALLBACK_TOTAL_CHARS (at most FALLBACK_CONTEXT_CHARS). A copied file is read
    once, and only the head and tail that are kept."""
    limit = min(FALLBACK_CONTEXT_CHARS, FALLBACK_TOTAL_CHARS // max(sum(c is not None for c in contexts), 1))
    read: dict[Path, str] = {}
    texts: list[str | None] = []
    for c in contexts:
        if c is None:
            texts.append(None)
        elif c.kind == "path":
            if c.value not in read:
                read[c.value] = _read_cut(c.value, limit)
            texts.append(read[c.value])
        else:  # inline: already in memory (it came inside the request frame)
            texts.append(cap_text(c.as_text(), limit)[0])
    return texts


def _read_cut(path: Path, limit: int) -> str:
    """The text of our private copy `path`, its middle cut (with a marker) past `limit` bytes."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size <= limit:
            return f.read().decode("utf-8", "replace")
        head = f.read(limit // 2)
        f.seek(size - (limit - limit // 2))
        tail = f.read()
    cut = size - len(head) - len(tail)
    return (f"{head.decode('utf-8', 'replace')}\n... [{cut:,} bytes of the context cut; "
            f"{size:,} in all] ...\n{tail.decode('utf-8', 'replace')}")


def _copy_received_file(file: Attachment, scratch: Path, suffix: str, copy_limit: int,
                        before: int) -> tuple[Path, int]:
    """A private copy of a file the kernel sent (`before`: the bytes of the request's earlier
    files); ValueError, in the words a model can act on, past a limit."""
    try:
        size = file.size
    except ValueError:
        raise ValueError("rlm_query: a sub-context must be a regular file") from None
    if size > MAX_SUBCONTEXT_BYTES:
        raise ValueError(f"rlm_query: a sub-context of {size:,} bytes is over the "
                         f"{MAX_SUBCONTEXT_BYTES:,}-byte limit")
    if before + size > MAX_SUBCONTEXT_BYTES:
        raise ValueError(f"rlm_query: the sub-contexts of one call are over the "
                         f"{MAX_SUBCONTEXT_BYTES:,}-byte limit together")
    try:
        return file.copy_to(scratch, suffix, copy_limit)
    except AttachmentTooLarge:
        raise ValueError(f"rlm_query: the sub-contexts of one call hold more than {max(copy_limit, 0):,} bytes "
                         "of data (what the sandbox's work directory may hold); pass smaller ones") from None
