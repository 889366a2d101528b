"""docs/guide/support.md ("What the loader supports") cannot rot silently.

Every ``tests/FILE.py::name`` the page cites is a test function defined at
the top level of that file (read with ``ast``: no import, no collection of
other modules), every repository file it names exists, and every row of its
feature tables says yes, partly, no or not applicable.
"""

from __future__ import annotations

import ast
import functools
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "guide" / "support.md"
CITED = re.compile(r"`(tests/[a-z0-9_/]+\.py)::(\w+)`")
FILES = re.compile(r"`((?:bpfnest|tests|docs)/[a-z0-9_/.-]+\.(?:py|md))`")
STATUS = re.compile(r"^(yes|partly|no|not applicable)\b")


def citations() -> list[tuple[str, str]]:
    return sorted(set(CITED.findall(PAGE.read_text())))


@functools.cache
def defined_tests(path: str) -> frozenset[str]:
    """The names of the test functions defined at the top level of ``path``."""
    tree = ast.parse((ROOT / path).read_text(), filename=path)
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
    )


def feature_rows() -> list[list[str]]:
    """The cells of every table row under a ``| feature | status |`` header."""
    rows: list[list[str]] = []
    in_table = False
    for line in PAGE.read_text().splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["feature", "status"]:
            in_table = True
        elif in_table and not set(cells[0]) <= {"-"}:
            rows.append(cells)
    return rows


def test_the_page_cites_tests() -> None:
    # The pattern must find what the page holds: a page that cited nothing
    # (or a pattern that matched nothing) would make the test below vacuous.
    assert len(citations()) >= 40
    assert len(feature_rows()) >= 40


@pytest.mark.parametrize(("path", "name"), citations(), ids=[f"{p}::{n}" for p, n in citations()])
def test_every_cited_test_exists(path: str, name: str) -> None:
    assert (ROOT / path).is_file(), f"{PAGE.name} cites {path}, which does not exist"
    assert name in defined_tests(path), (
        f"{PAGE.name} cites {path}::{name}, which {path} does not define: rename or remove the row"
    )


def test_every_named_file_exists() -> None:
    named = set(FILES.findall(PAGE.read_text())) | {p for p, _ in citations()}
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert named and not missing, f"{PAGE.name} names files that do not exist: {missing}"


def test_every_row_has_a_status() -> None:
    bad = [row[0] for row in feature_rows() if len(row) != 4 or not STATUS.match(row[1])]
    assert not bad, f"rows of {PAGE.name} without yes/partly/no/not applicable: {bad}"


def test_the_page_is_in_the_nav_and_the_readme() -> None:
    assert "guide/support.md" in (ROOT / "mkdocs.yml").read_text()
    assert "docs/guide/support.md" in (ROOT / "README.md").read_text()
