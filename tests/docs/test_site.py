"""The documentation site builds with ``mkdocs build --strict`` (broken links, anchors and API references fail
it), its API reference renders the package's signatures, and no page speaks of internal material."""
from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INTERNAL = ("SPEC §", "issue", "/shared/")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                           capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}\n{build.stderr}"
    return out


def _text(page: Path) -> str:
    """What a reader sees on an HTML page: tags dropped, entities decoded, white space collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def test_the_api_reference_renders_signatures_and_docstrings(site):
    raw = (site / "api" / "study" / "index.html").read_text(encoding="utf-8")
    study = _text(site / "api" / "study" / "index.html")
    assert 'id="spicegen.study.Study"' in raw and "Study ¶ Bases: ABC A named study: typed options" in study
    assert "run ( study : Study | str , out : str | os . PathLike [ str ], * , settings :" in study
    core = _text(site / "api" / "core" / "index.html")
    assert "spicegen . Param ( name : str , default : float , unit : str = '' , desc : str = ''" in core
    assert all(f'id="spicegen.{name}"' in (site / "api" / "core" / "index.html").read_text(encoding="utf-8")
               for name in ("Device", "Param", "Variation", "State", "Check", "Equations", "register"))
    assert ":func:" not in study + core  # Sphinx roles are rendered as code, not left as text
    for page in ("montecarlo", "veriloga", "fitting", "interop"):
        assert (site / "api" / page / "index.html").stat().st_size > 10_000


def test_every_page_of_the_nav_is_built(site):
    for page in ("quickstart", "tutorial", "core", "studies", "montecarlo", "fitting", "interop", "mdwmtj", "reram",
                 "reram_studies", "reram_crossbar", "lif_neuron", "assumptions", "paper_vs_simulation"):
        assert (site / page / "index.html").is_file(), page
    assert "Paper vs simulation" in _text(site / "paper_vs_simulation" / "index.html")


def test_no_page_speaks_of_internal_material(site):
    found = [f"{page.relative_to(site)}: {word!r}" for page in site.rglob("*.html")
             for word in INTERNAL if word.lower() in _text(page).lower()]
    found += [f"{page.relative_to(ROOT)}: {word!r}" for page in (ROOT / "docs").rglob("*.md")
              for word in INTERNAL if word.lower() in page.read_text(encoding="utf-8").lower()]
    assert not found, "\n".join(found)
