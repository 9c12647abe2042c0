"""Runs one task with the official RLM library (`rlms`), inside that library's own virtual
environment (its import name is `rlm`, like this project's): `python official_runner.py JOB.json`
reads the job, writes `{"answer", "iterations", "ran_out", "input_tokens", "output_tokens", "error"}`
to the job's `out`. `iterations` counts the library's turns (from its own in-memory logger);
`ran_out` is true when no turn set `answer["ready"]` and the library made its extra out-of-turns
call for an answer (`RLM._default_answer`). With `log_dir` in the job, the library's logger also
writes its JSON-lines log there (the format its visualizer reads).

llama.cpp's chat template refuses two assistant messages in a row (HTTP 400 "Cannot have 2 or
more assistant messages at the end of the list"), which the library sends when a reply had no
code; consecutive messages of one role are merged here (joined by a blank line) before they are
sent. The library itself is not changed.
"""

# mypy: ignore-errors
# (it runs against the official library, whose import name `rlm` is this project's too)
import json
import sys
import traceback
from typing import Any


def merged(messages):
    out = []
    for m in messages:
        if out and isinstance(m, dict) and out[-1].get("role") == m.get("role") \
                and isinstance(m.get("content"), str) and isinstance(out[-1].get("content"), str):
            out[-1] = {**out[-1], "content": out[-1]["content"] + "\n\n" + m["content"]}
        else:
            out.append(dict(m) if isinstance(m, dict) else m)
    return out


def patch_openai():
    import openai.resources.chat.completions as chat

    sync_create, async_create = chat.Completions.create, chat.AsyncCompletions.create

    def create(self, *args, **kwargs):
        if "messages" in kwargs:
            kwargs["messages"] = merged(kwargs["messages"])
        return sync_create(self, *args, **kwargs)

    async def acreate(self, *args, **kwargs):
        if "messages" in kwargs:
            kwargs["messages"] = merged(kwargs["messages"])
        return await async_create(self, *args, **kwargs)

    chat.Completions.create, chat.AsyncCompletions.create = create, acreate


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        job = json.load(f)
    result: dict[str, Any] = {"answer": None, "iterations": None, "ran_out": None, "input_tokens": 0,
                              "output_tokens": 0, "error": None}
    logger = None
    try:
        patch_openai()
        from rlm.logger import RLMLogger

        from rlm import RLM

        with open(job["context_file"], encoding="utf-8") as f:
            context = f.read()
        logger = RLMLogger(log_dir=job.get("log_dir"), file_name="official")
        rlm = RLM(backend="openai", environment="local", max_iterations=job["max_iterations"],
                  backend_kwargs={"model_name": job["model"], "base_url": job["base_url"],
                                  "api_key": job["api_key"]}, logger=logger)
        completion = rlm.completion(context, root_prompt=job["question"])
        result["answer"] = completion.response
        # the loop logs one entry per turn; running out adds one more, the default-answer call
        logged = len((completion.metadata or {}).get("iterations") or [])
        result["ran_out"] = logged > job["max_iterations"]
        result["iterations"] = min(logged, job["max_iterations"])
        usage = completion.usage_summary
        result["input_tokens"] = usage.total_input_tokens
        result["output_tokens"] = getattr(usage, "total_output_tokens", 0)
        result["error"] = completion.error
    except Exception as exc:  # the bench records the failure as the row's error
        result["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
        if logger is not None and result["iterations"] is None:
            result["iterations"] = min(logger.iteration_count, job["max_iterations"])
    with open(job["out"], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
