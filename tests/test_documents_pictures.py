"""Pictures to sub-models: a page of a PDF of the context, drawn by the isolated reader, and a
picture file of the context reach a scripted vision sub-model as image parts (checked by the
server: a real PNG of the page); the kernel sends only which document and page, never the
bytes; a sub-model that refuses images gives the model one clear error."""

from __future__ import annotations

import base64
import io

import document_files as D
from scripted_server import Call, Fault, ScriptedServer

from rlm import RLM

SEEN: dict[str, object] = {}


def vision(call: Call) -> str:
    parts = call.messages[-1]["content"]
    assert isinstance(parts, list), "the pictures come as parts of the message"
    text = next(p["text"] for p in parts if p["type"] == "text")
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    from PIL import Image

    described = []
    for url in urls:
        head, data = url.split(",", 1)
        picture = Image.open(io.BytesIO(base64.b64decode(data)))
        described.append(f"{head} {picture.format} {picture.width}x{picture.height}")
        if picture.format == "PNG" and picture.height > 1000:  # the drawn page: mostly white, some ink
            gray = picture.convert("L")
            SEEN.setdefault("ink", []).append(sum(gray.histogram()[:160]))  # type: ignore[union-attr]
    SEEN.setdefault("texts", []).append(text)  # type: ignore[union-attr]
    return " | ".join(described)


def blind(call: Call) -> str | Fault:
    if isinstance(call.messages[-1]["content"], list):
        return Fault(400, '{"error": {"message": "image input is not supported by this model", '
                          '"type": "invalid_request_error"}}')
    return "text only"


ROOT = """```repl
report = next(d for d in docs if d.path == 'report.pdf')
logo = next(d for d in docs if d.kind == 'image')
page = llm_query('What is written on this page?', images=[(report, 2)])
both = llm_query('Compare these', images=[logo, (report, 1)])
refused = llm_query('What is this?', images=[(report, 1)], model='blind')
try:
    llm_query('a whole PDF', images=[report])
except Exception as exc:
    whole = str(exc)
try:
    llm_query('no such page', images=[(report, 9)])
except Exception as exc:
    missing = str(exc)
found = '\\n'.join([page, both, refused, whole, missing])
print(found)
```"""


def root(call: Call) -> str:
    return ROOT if call.turn == 0 else "FINAL_VAR(found)"


def test_a_page_and_a_picture_reach_a_vision_sub_model_as_image_parts(tmp_path):
    from PIL import Image

    docs = tmp_path / "docs"
    docs.mkdir()
    D.pdf(docs / "report.pdf", ["cover", "THE BIG NUMBER IS 42 " * 20])
    Image.new("RGB", (64, 32), (200, 30, 30)).save(docs / "logo.png")
    with ScriptedServer({"root": root, "vision": vision, "blind": blind}) as server:
        rlm = RLM(model="root", sub_model="vision", base_url=server.url, api_key="k", models=["blind"],
                  runs_dir=tmp_path / "runs", notes=False, cache=False, max_iterations=3)
        result = rlm.completion(docs, "What is on page 2?")
    lines = result.answer.splitlines()
    assert result.status == "ok", result.error
    page, both, refused, whole, missing = lines
    assert page.startswith("data:image/png;base64 PNG ") and int(page.split("x")[-1]) >= 1500
    assert both.startswith("data:image/png;base64 PNG 64x32 | data:image/png;base64 PNG ")
    assert refused.startswith("[llm_query error: the sub-model 'blind' did not take the picture(s)")
    assert "may not accept images" in refused
    assert "is a PDF: give one of its pages" in whole
    assert "cannot show 'report.pdf' page 9: the PDF has 2 pages" in missing
    # the pages were drawn with their text: page 2 (a paragraph) has more ink than page 1 ("cover")
    page_two, page_one = SEEN["ink"][:2]
    assert page_two > 2 * page_one > 0
    # the trajectory holds no picture bytes (they went from the host's files to the model)
    trajectory = result.trajectory_path.read_text()
    assert "iVBOR" not in trajectory  # a PNG's first bytes in base64
    assert '"images": 2' in trajectory and "short_sub_prompt" not in trajectory
