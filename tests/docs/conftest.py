"""One folder per documentation page, where its blocks run in order, shared by the tests of this folder."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.docs import blocks


class PageRun:
    """The blocks of one page, run in order in one folder, each at most once."""

    def __init__(self, page: str, folder: Path) -> None:
        self.page, self.folder = page, folder
        self.blocks = blocks.blocks(page)
        self.results: list[subprocess.CompletedProcess | None] = []

    def upto(self, line: int) -> subprocess.CompletedProcess | None:
        """Run every block up to the one starting at ``line``; its result (None: a file, or nothing to run).

        A block whose predecessor failed is reported as failing because of it, naming the line."""
        index = next(i for i, block in enumerate(self.blocks) if block.line == line)
        while len(self.results) <= index:
            previous = self.results[-1] if self.results else None
            if previous is not None and previous.returncode != 0:
                failed = self.blocks[len(self.results) - 1]
                pytest.fail(f"an earlier block of {self.page} failed ({failed.id}); fix that one first", pytrace=False)
            self.results.append(blocks.run(self.blocks[len(self.results)], self.folder))
        return self.results[index]

    def all(self) -> None:
        """Run every block of the page; fail at the first that fails."""
        for block in self.blocks:
            result = self.upto(block.line)
            if result is not None and result.returncode != 0:
                pytest.fail(failure(block, result), pytrace=False)


def failure(block: blocks.Block, result: subprocess.CompletedProcess) -> str:
    """What a failed block printed, named by page and line."""
    return (f"{block.id} ({block.lang}) exited with {result.returncode}\n--- block\n{block.code}"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}")


@pytest.fixture(scope="session")
def page_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PageRun]:
    return {}


@pytest.fixture(scope="session")
def page_run(page_runs: dict[str, PageRun], tmp_path_factory: pytest.TempPathFactory):
    """``page_run(page)``: the page's shared run (made on first use, in a fresh folder)."""
    def get(page: str) -> PageRun:
        if page not in page_runs:
            folder = tmp_path_factory.mktemp(page.replace("/", "_").removesuffix(".md"))
            page_runs[page] = PageRun(page, folder)
        return page_runs[page]
    return get
