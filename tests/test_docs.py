"""The documentation checks itself: README.md, ARCHITECTURE.md and docs/*.md.

- Links: every relative link points at a file that exists, inside the checkout, and every
  `#anchor` at a heading of its page (as GitHub makes anchors).
- Python examples: every ```python block runs, offline, in a fresh interpreter in an empty
  directory, and exits 0, unless the line before its fence says why it cannot:
  `<!-- not run: needs a model endpoint -->` (a model key, a server, the network, a GPU or a huge
  corpus are reasons; nothing else is skipped).
- Commands: every `rlm ...` command of a ```bash block names real subcommands and options, with
  values of the right kind, parsed by the typer app of cli.py itself; every `python X.py` /
  `python -m X` there names a script or module of the checkout.
- The README keeps the two commands a new user runs, byte for byte, and `.ci/run` runs the test
  command's steps.
- Paths of the checkout named in code spans exist, and so do the files ARCHITECTURE.md's layout
  names; `toml` and `json` blocks parse.

Each check is also run on a page written wrong (`test_the_checks_catch_*`), so none of them can
pass by checking nothing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
import typer.main

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", REPO / "ARCHITECTURE.md", *sorted((REPO / "docs").glob("*.md"))]

INSTALL_AND_RUN = 'pip install -e . && rlm query README.md -q "What does this project do?" --model local'
TEST_COMMAND = "pip install -e '.[test]' && ruff check . && mypy && python -m pytest"

NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<why>\S.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<fence>`{3,})(?P<lang>[\w+-]*)\s*$")
HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<text>.+?)\s*#*\s*$")
LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"(?<!`)`(?!`)(?P<code>[^`]+)`(?!`)")
# the top-level directories of the checkout that pages name paths in
CHECKOUT_PATH = re.compile(r"^(?:rlm|sandbox|evals|benchmarks|tests|docs|\.ci)/[\w./*-]*$")
# paths in code spans that name another project's files, not ours
ELSEWHERE = {"rlm/logger/rlm_logger.py"}  # the official RLM implementation's logger (docs/cli.md)
# a python block's environment: this checkout importable, a key that reaches no one, no home of
# the developer's (~/.rlm/rlm.toml, the caches)
FAKE_KEY = "sk-docs-test-not-a-real-key"
BLOCK_TIMEOUT_S = 180


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    not_run: str | None  # why, from the marker on the line before the fence

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO) if self.page.is_relative_to(REPO) else self.page}:{self.line}"


def parse(page: Path, text: str | None = None) -> tuple[list[Block], list[tuple[int, str]]]:
    """A page's fenced blocks, and its other lines (number, text) with the blocks left out."""
    lines = (page.read_text() if text is None else text).split("\n")
    blocks: list[Block] = []
    prose: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            prose.append((i + 1, lines[i]))
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i].rstrip() != m["fence"]:
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"{page}:{start + 1}: a fence that is never closed"
        marker = NOT_RUN.match(lines[start - 1]) if start else None
        blocks.append(Block(page, start + 1, m["lang"], "\n".join(body) + "\n", marker["why"] if marker else None))
        i += 1
    return blocks, prose


def strip_code_spans(line: str) -> str:
    return CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text as rendered, lower case, punctuation other than
    `-` and `_` dropped, each space a `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path, text: str | None = None) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, line in parse(page, text)[1]:
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m["text"])
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def link_errors(page: Path, text: str | None = None) -> list[str]:
    errors = []
    own = anchors(page, text)
    for number, line in parse(page, text)[1]:
        for m in LINK.finditer(strip_code_spans(line)):
            target = m["target"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not ours to check offline
                continue
            path_part, _, anchor = target.partition("#")
            where = f"{page.name}:{number}: [{m['text']}]({target})"
            if path_part:
                dest = (page.parent / path_part).resolve()
                if not dest.is_relative_to(REPO):
                    errors.append(f"{where} leaves the checkout")
                    continue
                if not dest.exists():
                    errors.append(f"{where}: no such file")
                    continue
            else:
                dest = page
            if anchor and dest.suffix == ".md":
                found = own if dest == page else anchors(dest)
                if anchor not in found:
                    errors.append(f"{where}: no heading with the anchor #{anchor} in {dest.name}")
    return errors


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in parse(page)[0]]


def block_id(block: Block) -> str:
    return block.where


# --- links -------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_links_point_at_files_and_headings_that_exist(page):
    assert link_errors(page) == []


def test_every_docs_page_is_linked_from_the_readme():
    readme = (REPO / "README.md").read_text()
    missing = [p.name for p in PAGES if p.parent.name == "docs" and f"](docs/{p.name})" not in readme]
    assert missing == []


def checkout_files() -> list[Path]:
    """The checkout's own text files: no hidden directory but `.ci` (.git, virtual
    environments, tool caches), no build output."""
    out = []
    for path in REPO.rglob("*"):
        parts = path.relative_to(REPO).parts
        if any((p.startswith(".") and p != ".ci") or p in {"__pycache__", "build", "dist"} or p.endswith(".egg-info")
               for p in parts[:-1]):
            continue
        if path.is_file() and path.suffix in {".md", ".py", ".toml", ".txt", ".json", ".html", ".js", ".css", ""}:
            out.append(path)
    return out


def test_nothing_points_at_the_shared_directory():
    """`shared/` is the developers' own; a user's checkout has none."""
    needle = ".." + "/shared"
    hits = []
    for path in checkout_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if needle in text:
            hits.append(str(path.relative_to(REPO)))
    assert hits == []
    assert REPO / ".ci" / "run" in checkout_files()


# --- python blocks -----------------------------------------------------------------------------


def run_block(block: Block, workdir: Path) -> subprocess.CompletedProcess[str]:
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RLM_", "OPENAI_"))}
    env.update({"PYTHONPATH": str(REPO), "HOME": str(home), "RLM_HOME": str(home / ".rlm"),
                "XDG_CACHE_HOME": str(home / ".cache"), "OPENAI_API_KEY": FAKE_KEY})
    script = workdir / "block.py"
    script.write_text(block.text)
    return subprocess.run([sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT_S)


PYTHON_BLOCKS = [b for b in all_blocks() if b.lang == "python"]


def test_not_run_markers_sit_on_python_blocks_and_say_why():
    orphans = []
    for page in PAGES:
        lines = page.read_text().split("\n")
        for i, line in enumerate(lines):
            if "not run" in line and line.lstrip().startswith("<!--"):
                nxt = lines[i + 1] if i + 1 < len(lines) else ""
                if not NOT_RUN.match(line) or nxt.strip() != "```python":
                    orphans.append(f"{page.name}:{i + 1}")
    assert orphans == []
    assert any(b.not_run is None for b in PYTHON_BLOCKS), "at least one example must run"


@pytest.mark.parametrize("block", [b for b in PYTHON_BLOCKS if b.not_run is None], ids=block_id)
def test_python_blocks_run(block, tmp_path):
    r = run_block(block, tmp_path)
    assert r.returncode == 0, f"{block.where} exited {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"


@pytest.mark.parametrize("block", [b for b in PYTHON_BLOCKS if b.not_run is not None], ids=block_id)
def test_python_blocks_not_run_still_compile(block):
    compile(block.text, block.where, "exec")


# --- commands ----------------------------------------------------------------------------------


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a bash block, as words: lines joined at a trailing backslash,
    comments dropped, split at `|`, `;`, `&&`, `||`, `&`, without redirections and leading
    `NAME=value` assignments."""
    commands: list[list[str]] = []
    for line in script.replace("\\\n", " ").split("\n"):
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        lex.commenters = ""
        words: list[str] = []
        skip = False
        for token in lex:
            if skip:
                skip = False
                continue
            if token.startswith("#"):
                break
            if token in {"|", "||", "&&", ";", "&"}:
                commands.append(words)
                words = []
            elif token in {"<", ">", ">>", ">&", "&>", "<(", ">|"}:
                if words and words[-1].isdigit():
                    words.pop()
                skip = True
            else:
                words.append(token)
        commands.append(words)
    out = []
    for words in commands:
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]
        if words:
            out.append(words)
    return out


def rlm_error(args: list[str]) -> str | None:
    """Why `rlm ARGS` would not parse, or None: the typer app parses it (subcommands, option
    names, values and their types, required arguments) without running anything."""
    import cli

    command = typer.main.get_command(cli.app)
    name, rest = "rlm", list(args)
    try:
        ctx = command.make_context(name, [], resilient_parsing=True)
        while hasattr(command, "list_commands"):  # a group: its next word names a subcommand
            if not rest or rest[0].startswith("-"):
                return f"`{name}` names no subcommand (one of {', '.join(command.list_commands(ctx))})"
            sub = command.get_command(ctx, rest[0])
            if sub is None:
                return f"`{name}` has no subcommand {rest[0]!r} (only {', '.join(command.list_commands(ctx))})"
            name, rest, command = rest[0], rest[1:], sub
            ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
        command.make_context(name, rest, parent=ctx.parent, resilient_parsing=False)
    except Exception as e:  # click's UsageError and BadParameter, under typer's own click
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        return f"{type(e).__name__}: {message}"
    return None


def python_error(args: list[str]) -> str | None:
    """Why `python ARGS` names no script or module of the checkout (None for other programs)."""
    if args[:2] == ["python", "-m"] and len(args) > 2:
        module = args[2]
        top = module.split(".")[0]
        if not (REPO / top).exists():
            return None  # a module of another package (pip, venv...)
        base = REPO / module.replace(".", "/")
        return None if base.with_suffix(".py").is_file() or (base / "__main__.py").is_file() else f"no module {module}"
    if args[:1] == ["python"] and len(args) > 1 and args[1].endswith(".py"):
        return None if (REPO / args[1]).is_file() else f"no script {args[1]}"
    return None


def command_errors(block: Block) -> list[str]:
    errors = []
    for words in shell_commands(block.text):
        why = rlm_error(words[1:]) if words[0] == "rlm" else python_error(words)
        if why:
            errors.append(f"{block.where}: {shlex.join(words)}: {why}")
    return errors


BASH_BLOCKS = [b for b in all_blocks() if b.lang in {"bash", "sh", "shell", "console"}]


@pytest.mark.parametrize("block", BASH_BLOCKS, ids=block_id)
def test_commands_name_real_subcommands_and_options(block):
    assert command_errors(block) == []


def test_the_rlm_commands_shown_cover_every_subcommand_group():
    """Each group of `rlm` (query, runs, notes, eval, ...) is shown at least once in a bash block."""
    import cli

    shown = {words[1] for b in BASH_BLOCKS for words in shell_commands(b.text) if words[0] == "rlm" and len(words) > 1}
    command = typer.main.get_command(cli.app)
    ctx = command.make_context("rlm", ["query"])
    assert set(command.list_commands(ctx)) - shown == set()


# --- the README's two commands -----------------------------------------------------------------


def readme_command_errors(readme: str, ci_run: str) -> list[str]:
    """The README's bash blocks hold the two commands as whole lines, and `.ci/run` runs each
    step of the test command on a line of its own."""
    lines = [line for b in parse(REPO / "README.md", readme)[0] if b.lang == "bash" for line in b.text.split("\n")]
    errors = [f"README.md lost: {command}" for command in (INSTALL_AND_RUN, TEST_COMMAND) if command not in lines]
    ci = ci_run.split("\n")
    errors += [f".ci/run does not run: {step}" for step in TEST_COMMAND.split(" && ") if step not in ci]
    return errors


def test_readme_keeps_the_install_and_test_commands():
    assert readme_command_errors((REPO / "README.md").read_text(), (REPO / ".ci" / "run").read_text()) == []


# --- paths, layout, other blocks ---------------------------------------------------------------


def path_errors(page: Path, text: str | None = None) -> list[str]:
    errors = []
    for number, line in parse(page, text)[1]:
        for m in CODE_SPAN.finditer(line):
            code = m["code"].strip()
            if not CHECKOUT_PATH.match(code) or code in ELSEWHERE:
                continue
            found = list(REPO.glob(code)) if "*" in code else [REPO / code] if (REPO / code).exists() else []
            if not found:
                errors.append(f"{page.name}:{number}: `{code}` does not exist")
    return errors


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_paths_in_code_spans_exist(page):
    assert path_errors(page) == []


def layout_errors(text: str) -> list[str]:
    """ARCHITECTURE.md's layout: each item names a directory, then files and folders in it."""
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    items = re.split(r"\n(?=- )", section)
    errors = []
    for item in items:
        spans = [m["code"] for m in CODE_SPAN.finditer(item.replace("\n", " "))]
        if not item.startswith("- ") or not spans:
            continue
        base = REPO / spans[0] if spans[0].endswith("/") else REPO
        if not base.exists():
            errors.append(f"`{spans[0]}` does not exist")
        for name in spans[1:]:
            if re.fullmatch(r"[\w./-]+(\.py|/)", name) and not (base / name).exists():
                errors.append(f"`{name}` is not in {base.relative_to(REPO)}/")
    return errors


def test_the_layout_names_files_that_exist():
    text = (REPO / "ARCHITECTURE.md").read_text()
    assert "\n## Layout\n" in text
    assert layout_errors(text) == []


@pytest.mark.parametrize("block", [b for b in all_blocks() if b.lang in {"toml", "json"}], ids=block_id)
def test_toml_and_json_blocks_parse(block):
    if block.lang == "json":
        json.loads(block.text)
        return
    from rlm import RLMConfig

    settings = tomllib.loads(block.text)
    known = {f.name for f in fields(RLMConfig)}
    assert set(settings) - known == set(), "rlm.toml keys are RLMConfig fields"


# --- each check fails on a page written wrong --------------------------------------------------


BROKEN_PAGE = """# A page

## Real heading

[fine](#real-heading) [fine too](../README.md#install-and-run-a-fresh-linux-machine-python-311)
[no file](nowhere.md) [no heading](#not-a-heading) [no heading there](../README.md#nope)
[outside](../../etc/passwd) `[inside a code span](nowhere.md)` is not a link
`rlm/no_such_module.py` and `tests/test_docs.py`
"""


def test_the_checks_catch_broken_links_and_paths():
    page = REPO / "docs" / "broken.md"  # never written: the checks take the text
    errors = link_errors(page, BROKEN_PAGE)
    assert len(errors) == 4, errors
    assert any("(nowhere.md): no such file" in e for e in errors)
    assert any("#not-a-heading" in e for e in errors)
    assert any("#nope in README.md" in e for e in errors)
    assert any("leaves the checkout" in e for e in errors)
    assert path_errors(page, BROKEN_PAGE) == ["broken.md:8: `rlm/no_such_module.py` does not exist"]


def test_the_checks_catch_wrong_commands():
    block = Block(REPO / "docs" / "broken.md", 1, "bash", "\n".join([
        'rlm query logs/ -q "x" --model m --max-cst 1',        # an option misspelt
        "rlm querry logs/ -q x",                              # a subcommand misspelt
        "rlm runs view abc --format official",                # an option of another subcommand
        "rlm query logs/ -q x --max-wall soon",               # a value of the wrong kind
        "cat x | rlm notes",                                  # a group without its subcommand
        "python benchmarks/no_such_bench.py --x",             # no such script
        "python -m benchmarks.no_such",                       # no such module
        "rlm query logs/ -q x --json > out.json  # fine",    # fine
        "OPENAI_API_KEY=k rlm eval run tasks/ --method rlm \\\n    --model m -w 4",  # fine
    ]) + "\n", None)
    errors = command_errors(block)
    assert len(errors) == 7, errors
    for wrong in ("--max-cst", "querry", "--format", "soon", "rlm notes", "no_such_bench.py", "benchmarks.no_such"):
        assert any(wrong in e for e in errors), (wrong, errors)


def test_the_checks_catch_a_failing_block(tmp_path):
    bad = Block(REPO / "docs" / "broken.md", 1, "python", "import rlm\nraise SystemExit(3)\n", None)
    assert run_block(bad, tmp_path).returncode == 3
    env_probe = Block(REPO / "docs" / "broken.md", 1, "python",
                      "import os, rlm, pathlib\n"
                      f"assert pathlib.Path(rlm.__file__).is_relative_to({str(REPO)!r}), rlm.__file__\n"
                      f"assert os.environ['OPENAI_API_KEY'] == {FAKE_KEY!r}\n"
                      "assert pathlib.Path.home() == pathlib.Path.cwd() / 'home'\n", None)
    r = run_block(env_probe, tmp_path / "probe")
    assert r.returncode == 0, r.stderr


def test_the_checks_catch_a_changed_readme_command():
    readme, ci = (REPO / "README.md").read_text(), (REPO / ".ci" / "run").read_text()
    assert readme_command_errors(readme.replace("--model local", "--model  local"), ci) == [
        f"README.md lost: {INSTALL_AND_RUN}"]
    assert readme_command_errors(readme.replace("&& mypy &&", "&&"), ci.replace("\nmypy\n", "\n")) == [
        f"README.md lost: {TEST_COMMAND}", ".ci/run does not run: mypy"]


def test_the_checks_catch_a_stale_layout():
    text = (REPO / "ARCHITECTURE.md").read_text().replace("`viewer.py`", "`view.py`")
    assert layout_errors(text) == ["`view.py` is not in rlm/frontends/"]


def test_github_anchors():
    assert slug("`rlm query`") == "rlm-query"
    assert slug("Money: prices, models and budgets") == "money-prices-models-and-budgets"
    assert slug("Regex scans at ripgrep's speed") == "regex-scans-at-ripgreps-speed"
    assert slug("Sub-calls: `llm_query`") == "sub-calls-llm_query"
    assert slug("Install and run (a fresh Linux machine, Python 3.11+)") == "install-and-run-a-fresh-linux-machine-python-311"
    assert anchors(Path("x.md"), "# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}
