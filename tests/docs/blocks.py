"""The code blocks of the documentation pages, and running them as a reader does.

Rules every fenced block of ``docs/`` follows (the tests enforce them):

* ```` ```python ````: a script, run with the virtual environment's Python in a fresh process.
* ```` ```sh ```` / ```` ```bash ````: shell commands, run by ``bash -e`` with ``.venv/bin`` first on ``PATH``.
* ```` ```toml ````: a configuration snippet, parsed.
* A block with ``title="NAME"`` (any language) is a file the reader saves as ``NAME``: it is written into
  the page's folder, not run itself, and a later block of the page must use it.
* ```` ```text ````: output, a formula or a diagram; not code.

A page's blocks run in order in one folder (a block may use what an earlier one made). A line
``--8<-- "PATH"`` inside a block is the file PATH of the repository (the site includes it the same way).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RUN = {"python", "sh", "bash"}
KNOWN = RUN | {"toml", "text", "spice"}
TIMEOUT_S = 300

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`]*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]+)"')
_SNIPPET = re.compile(r'^\s*--8<--\s+"(?P<path>[^"]+)"\s*$')


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: str
    line: int
    lang: str
    title: str | None
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[str]:
    """Every Markdown page under docs/, relative to it."""
    return sorted(str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md"))


def blocks(page: str) -> list[Block]:
    """The fenced blocks of ``page``, in order."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"].strip()
        body, j = [], i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        if j == len(lines):
            raise ValueError(f"{page}:{i + 1}: the code block is never closed")
        lang = info.split()[0] if info else ""
        title = _TITLE.search(info)
        found.append(Block(page, i + 1, lang, title["title"] if title else None, _expand("\n".join(body) + "\n")))
        i = j + 1
    return found


def _expand(code: str) -> str:
    """Replace each ``--8<-- "PATH"`` line by the repository file PATH."""
    out = []
    for line in code.splitlines(keepends=True):
        snippet = _SNIPPET.match(line)
        out.append((ROOT / snippet["path"]).read_text(encoding="utf-8") if snippet else line)
    return "".join(out)


def problems(page: str) -> list[str]:
    """Rule violations of ``page``'s blocks (unknown language, an unused file, an untitled netlist, an
    indented code block, which has no language to say what it is)."""
    import markdown

    found = []
    page_blocks = blocks(page)
    # the site's extensions that change what is a block: admonitions and collapsible notes indent their text
    rendered = markdown.markdown((DOCS / page).read_text(encoding="utf-8"),
                                 extensions=["pymdownx.superfences", "admonition", "pymdownx.details"])
    if rendered.count("<pre") != len(page_blocks):
        found.append(f"{page}: {rendered.count('<pre') - len(page_blocks)} indented code block(s); "
                     "fence them with a language (text for formulas and output)")
    for index, block in enumerate(page_blocks):
        if block.lang not in KNOWN:
            found.append(f"{block.id}: language {block.lang!r}; use one of {sorted(KNOWN)} "
                         "(text for output, formulas and diagrams)")
        if block.lang == "spice" and block.title is None:
            found.append(f"{block.id}: a netlist needs title=\"FILE.cir\" so a later block can run it")
        if block.title and not any(block.title in later.code for later in page_blocks[index + 1:]):
            found.append(f"{block.id}: the file {block.title!r} is not used by any later block of the page")
    return found


def environment() -> dict[str, str]:
    """The reader's environment: the virtual environment's commands first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env.pop("SPICEGEN_PLUGINS", None)
    return env


def run(block: Block, folder: Path) -> subprocess.CompletedProcess | None:
    """Do what a reader does with ``block`` in ``folder``; None when there is nothing to run."""
    if block.title:
        target = folder / block.title
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.code, encoding="utf-8")
        return None
    if block.lang == "toml":
        tomllib.loads(block.code)
        return None
    if block.lang not in RUN:
        return None
    if block.lang == "python":
        script = folder / f"_block_{block.line}.py"
        script.write_text(block.code, encoding="utf-8")
        command = [sys.executable, script.name]
    else:
        command = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    return subprocess.run(command, cwd=folder, env=environment(), capture_output=True, text=True,
                          timeout=TIMEOUT_S)
