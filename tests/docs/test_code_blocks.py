"""Every code block of the documentation runs as written, page by page, in order (see tests/docs/blocks.py)."""
from __future__ import annotations

import pytest

from tests.docs import blocks
from tests.docs.conftest import failure

BLOCKS = [block for page in blocks.pages() for block in blocks.blocks(page)]
CODE = [block for block in BLOCKS if block.lang in blocks.RUN or block.title or block.lang == "toml"]


@pytest.mark.parametrize("page", blocks.pages())
def test_blocks_follow_the_rules(page):
    assert not blocks.problems(page), "\n".join(blocks.problems(page))


@pytest.mark.ngspice
@pytest.mark.openvaf
@pytest.mark.parametrize("block", CODE, ids=[block.id for block in CODE])
def test_code_block_runs(block, page_run):
    result = page_run(block.page).upto(block.line)
    if result is not None:
        assert result.returncode == 0, failure(block, result)
