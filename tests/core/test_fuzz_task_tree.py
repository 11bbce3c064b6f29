"""Fuzzing ``TaskTree``: random specs, random JSON values and mutated JSON text.

Every case ends in a TaskTree that keeps the tree invariants (one root, every path starts at
it, one parent per block, JSON round trip) or in a one-line ValueError; never another
exception type. 50 examples per target in the default suite, ``MTLZOO_FUZZ_EXAMPLES``
(1000) in the slow run (``pytest -m slow -s``), with the case count, slowest case and
peak RSS printed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtlzoo.task_tree import TaskTree


def _harness():
    spec = importlib.util.spec_from_file_location("_fuzz_harness", Path(__file__).parents[1] / "fuzz_harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _harness()

NAMES = st.sampled_from(["r", "a", "b", "c", "h1", "h2", "", "x/y", "é", "r "])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 30, 10 ** 30) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=5),
    max_leaves=25)


@st.composite
def valid_trees(draw) -> TaskTree:
    """A random valid tree: a random parent for each block, a task ending at each leaf (and some inner blocks)."""
    n = draw(st.integers(1, 10))
    names = [f"b{i}" for i in range(n)]
    parent = {names[k]: names[draw(st.integers(0, k - 1))] for k in range(1, n)}
    leaves = [b for b in names if b not in parent.values()]
    ends = leaves + draw(st.lists(st.sampled_from(names), unique=True, max_size=2))

    def path(block):
        out = [block]
        while out[-1] in parent:
            out.append(parent[out[-1]])
        return out[::-1]

    info = draw(st.dictionaries(st.sampled_from(names), JSON_VALUES, max_size=3))
    blocks = {b: info.get(b) for b in names}
    return TaskTree(blocks, {f"t{i}_{end}": path(end) for i, end in enumerate(ends)})


SPECS = st.one_of(
    st.tuples(st.lists(NAMES, max_size=6) | st.dictionaries(NAMES, JSON_VALUES, max_size=6) | JSON_VALUES,
              st.dictionaries(NAMES, st.lists(NAMES, max_size=5) | JSON_VALUES, max_size=5) | JSON_VALUES),
    valid_trees().map(lambda tree: (tree.block_info, tree.paths)),
)


def _mutate(text: str, edits) -> str:
    for position, kind, char in edits:
        i = position % (len(text) + 1)
        if kind == "insert":
            text = text[:i] + char + text[i:]
        elif kind == "delete":
            text = text[:i] + text[i + 1:]
        else:
            text = text[:i] + char + text[i + 1:]
    return text


JSON_TEXTS = st.one_of(
    st.tuples(valid_trees(), st.lists(st.tuples(st.integers(0, 10 ** 6), st.sampled_from(["insert", "delete", "set"]),
                                                st.sampled_from(list('[]{}",:0123456789aé\\ ntf') + ["\x00"])),
                                      max_size=4))
    .map(lambda case: _mutate(case[0].to_json(indent=None), case[1])),
    JSON_VALUES.map(lambda value: json.dumps({"blocks": value, "paths": value})),
    st.text(max_size=60),
    st.integers(1, 3000).map(lambda n: "[" * n),
    st.binary(max_size=40),
)


def _check_tree(tree: TaskTree) -> None:
    root = tree.root
    for task in tree.tasks:
        path = tree.path(task)
        assert path[0] == root and len(set(path)) == len(path)
        for prev, block in zip(path, path[1:]):
            assert tree.parent(block) == prev
    assert set(tree.topological_order()) == set(tree.blocks)
    assert TaskTree.from_json(tree.to_json()).to_json() == tree.to_json()  # (as text: a NaN info is not == itself)
    str(tree)


def _spec_case(record, spec) -> None:
    blocks, paths = spec
    with record.case(spec):
        try:
            tree = TaskTree(blocks, paths)
        except ValueError as error:
            harness.one_line(error, limit=5000)
            record.outcome("ValueError")
            return
        _check_tree(tree)
        record.outcome("tree")


def _json_case(record, text) -> None:
    with record.case(text):
        try:
            tree = TaskTree.from_json(text)
        except ValueError as error:
            harness.one_line(error, limit=5000)
            record.outcome("ValueError")
            return
        _check_tree(tree)
        record.outcome("tree")


def _run(target, strategy, case, settings):
    record = harness.FuzzRecord(target)
    settings(given(strategy)(lambda value: case(record, value)))()
    summary = record.finish()
    assert summary["cases"] >= min(settings.max_examples, 50)


def test_fuzz_task_tree_specs():
    _run("TaskTree specs", SPECS, _spec_case, harness.FAST)


def test_fuzz_task_tree_json():
    _run("TaskTree JSON", JSON_TEXTS, _json_case, harness.FAST)


@pytest.mark.slow
def test_fuzz_task_tree_specs_many():
    _run("TaskTree specs", SPECS, _spec_case, harness.SLOW)


@pytest.mark.slow
def test_fuzz_task_tree_json_many():
    _run("TaskTree JSON", JSON_TEXTS, _json_case, harness.SLOW)
