"""Evidence: an answer with the passages it rests on, each checked against the files.

The model's code cites what it found (`cite(m)` for a regex match); rlm reads those bytes
back from the files itself and keeps a citation only if the quote is there. Each one
says where it is: the file, its byte range, its lines (and page, for a PDF).

Run it against any OpenAI-compatible endpoint:

    OPENAI_API_KEY=sk-... RLM_MODEL=gpt-5-mini python examples/evidence.py
"""

from pathlib import Path

from rlm import RLM

logs = Path("example-logs")
logs.mkdir(exist_ok=True)
(logs / "api.log").write_text("10:00 api started\n10:05 api ok\n")
(logs / "db.log").write_text("10:00 db started\n10:04 db FAILED: disk full\n10:06 db stopped\n")

result = RLM(max_iterations=10).completion(logs, "Which service failed, and why? Cite the line.")
print("status:", result.status)
print("answer:", result.answer)
for e in result.evidence:
    print(f"  [E{e.id}] {e.where()}: {e.quote!r}")  # e.g. [E1] db.log, line 2: '10:04 db FAILED: disk full'
    assert (logs / e.document).read_bytes()[e.start:e.end] == e.quote.encode()  # the file's own bytes
