"""ARCHITECTURE.md is the map in the repository, and the code cites it (not DESIGN.md, which is not here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "ARCHITECTURE.md"
SOURCES = ("mtlzoo", "models", "training", "tools", "tests", "benchmarks")
#: files still citing DESIGN.md, waiting for their fix (issue 18); an entry that no longer cites it fails
PENDING = {"tests/training/test_distribution.py"}


def _headings() -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#{2,4} (.+)$", DOC.read_text(encoding="utf-8"), re.M)}


def _code_files():
    for folder in SOURCES:
        yield from sorted((ROOT / folder).rglob("*.py"))
    yield ROOT / "pyproject.toml"
    yield ROOT / "setup.cfg"


def test_the_map_names_the_four_rooms_the_train_step_and_where_new_pieces_go():
    text = DOC.read_text(encoding="utf-8")
    for room in ("`mtlzoo/`", "`models/`", "`training/`", "`tools/`"):
        assert room in text
    headings = _headings()
    assert {"Layout: one package, four rooms", "Where a new piece goes", "Rules of the house"} <= headings
    assert any(h.startswith("Training") for h in headings)
    where = text.split("## Where a new piece goes", 1)[1].split("\n## ", 1)[0]
    for piece in ("balancer", "backbone", "dataset", "search", "experiment"):
        assert f"**A {piece}**" in where or f"**An {piece}**" in where, piece


def test_every_citation_names_a_section_of_the_map():
    headings = _headings()
    short = {h.split(":")[0] for h in headings} | {h.split(" ")[0] for h in headings}
    bad = []
    for path in _code_files():
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in re.finditer(r"ARCHITECTURE\.md, \"?([A-Z][\w ]*[\w])", line):
                if match.group(1) not in headings | short:
                    bad.append(f"{path.relative_to(ROOT)}:{line_no} cites {match.group(1)!r}")
    assert not bad, f"sections of ARCHITECTURE.md: {sorted(headings)}\n" + "\n".join(bad)


def test_nothing_cites_design_md():
    this = Path(__file__).resolve()
    found = {(str(path.relative_to(ROOT)), n) for path in _code_files() if path.resolve() != this
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "DESIGN.md" in line}
    assert PENDING <= {f for f, _ in found}, "fixed: drop it from PENDING"
    bad = sorted(f"{f}:{n}" for f, n in found if f not in PENDING)
    assert not bad, "cite ARCHITECTURE.md (DESIGN.md is not in the repository):\n" + "\n".join(bad)
