"""TaskTree: validation errors (each naming its culprit), derived data, JSON, rendering."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlzoo.task_tree import TaskTree
from mtlzoo.testing import tiny_tree

BLOCKS = ["root", "trunk", "branch", "head_a", "head_b", "head_c"]
PATHS = {
    "a": ["root", "trunk", "branch", "head_a"],
    "b": ["root", "trunk", "branch", "head_b"],
    "c": ["root", "trunk", "head_c"],
}


def _err(blocks, paths):
    with pytest.raises(ValueError) as info:
        TaskTree(blocks=blocks, paths=paths)
    return str(info.value)


# --------------------------------------------------------------- validation
def test_unknown_block_in_path_names_task_and_block():
    msg = _err(["r", "a"], {"x": ["r", "a"], "y": ["r", "ghost"]})
    assert "'y'" in msg and "'ghost'" in msg and "unknown" in msg.lower()


def test_path_not_starting_at_root_names_task_and_block():
    msg = _err(["r", "a", "b"], {"x": ["r", "a"], "y": ["a", "b"]})
    assert "'y'" in msg and "'a'" in msg and "root" in msg.lower()


def test_block_with_two_parents_names_block_and_parents():
    msg = _err(["r", "a", "b"], {"x": ["r", "a", "b"], "y": ["r", "b"]})
    assert "'b'" in msg and "two parents" in msg
    assert "'a'" in msg and "'r'" in msg  # both parents


def test_root_reached_again_from_another_path_is_rejected():
    # 'r' is the root (first path); the second path enters it from 'a': a cycle r -> a -> r.
    msg = _err(["r", "a"], {"x": ["r", "a"], "y": ["r", "a", "r"]})
    assert "'y'" in msg and "'r'" in msg


def test_repeated_block_in_path_names_task_and_block():
    msg = _err(["r", "a", "b"], {"x": ["r", "a", "b", "a"]})
    assert "'x'" in msg and "'a'" in msg and "twice" in msg


def test_cycle_across_paths_is_rejected_naming_a_block():
    # a -> b in one path and b -> a in another: b gets two parents.
    msg = _err(["r", "a", "b"], {"x": ["r", "a", "b"], "y": ["r", "b", "a"]})
    assert re.search(r"'(a|b)'", msg) and "parent" in msg


@pytest.mark.parametrize("path", [[], None, (), "r"], ids=["empty", "none", "empty-tuple", "bare-string"])
def test_task_without_path_names_task(path):
    msg = _err(["r", "a"], {"x": ["r", "a"], "lonely": path})
    assert "'lonely'" in msg and "no path" in msg


def test_block_used_by_no_task_names_block():
    msg = _err(["r", "a", "orphan"], {"x": ["r", "a"]})
    assert "'orphan'" in msg and "no task" in msg


def test_several_unused_blocks_are_all_named():
    msg = _err(["r", "a", "o1", "o2"], {"x": ["r", "a"]})
    assert "'o1'" in msg and "'o2'" in msg


@pytest.mark.parametrize("blocks,paths", [([], {}), ([], {"x": ["r"]}), (["r"], {}), ({}, {})])
def test_empty_spec(blocks, paths):
    assert "empty spec" in _err(blocks, paths).lower()


def test_duplicate_block_names_in_list():
    msg = _err(["r", "a", "a"], {"x": ["r", "a"]})
    assert "'a'" in msg and "uplicate" in msg


@pytest.mark.parametrize(
    "text,culprit",
    [
        ('{"blocks": {"r": null, "a": null, "a": null}, "paths": {"x": ["r", "a"]}}', "'a'"),
        ('{"blocks": ["r", "a"], "paths": {"x": ["r", "a"], "x": ["r"]}}', "'x'"),
    ],
    ids=["block", "task"],
)
def test_duplicate_keys_in_json(text, culprit):
    with pytest.raises(ValueError, match="uplicate") as info:
        TaskTree.from_json(text)
    assert culprit in str(info.value)


@pytest.mark.parametrize("bad", [1, None, "", 2.5, ("r",)], ids=["int", "none", "empty", "float", "tuple"])
def test_bad_block_name_types(bad):
    msg = _err(["r", bad], {"x": ["r"]})
    assert repr(bad) in msg and "Block" in msg


@pytest.mark.parametrize("bad", [1, None, ""], ids=["int", "none", "empty"])
def test_bad_task_name_types(bad):
    msg = _err(["r"], {bad: ["r"]})
    assert repr(bad) in msg and "Task" in msg


def test_slash_in_block_name_is_rejected():
    assert "'a/b'" in _err(["r", "a/b"], {"x": ["r", "a/b"]})


@pytest.mark.parametrize("entry", [3, ["a"], {"a": 1}], ids=["int", "list", "dict"])
def test_non_string_block_in_path_is_a_value_error_naming_the_task(entry):
    # An unhashable entry used to escape as a TypeError from the membership test.
    msg = _err(["r", "a"], {"x": ["r", "a"], "y": ["r", entry]})
    assert "'y'" in msg and repr(entry) in msg


def test_paths_given_as_one_shot_iterables_are_read_once():
    # Paths are typed Iterable[str]: a generator must work, not be consumed by validation.
    tree = TaskTree(BLOCKS, {t: (b for b in p) for t, p in PATHS.items()})
    assert tree.paths == {t: tuple(p) for t, p in PATHS.items()}


@pytest.mark.parametrize("blocks", [None, "root"], ids=["none", "string"])
def test_blocks_must_be_a_collection(blocks):
    assert repr(blocks) in _err(blocks, {"x": ["root"]})


@pytest.mark.parametrize("paths", [None, ["root"]], ids=["none", "list"])
def test_paths_must_be_a_mapping(paths):
    assert "mapping" in _err(["root"], paths)


def test_from_dict_rejects_missing_keys_and_unknown_version():
    with pytest.raises(ValueError, match="'blocks'"):
        TaskTree.from_dict({"paths": {}})
    with pytest.raises(ValueError, match="version"):
        TaskTree.from_dict({"version": 99, "blocks": ["r"], "paths": {"x": ["r"]}})
    with pytest.raises(ValueError, match="not valid JSON"):
        TaskTree.from_json("{not json")


# ------------------------------------------------------------- derived data
def test_derived_data_of_the_tiny_tree():
    tree = TaskTree(BLOCKS, PATHS)
    assert tree == tiny_tree()
    assert tree.root == "root"
    assert tree.tasks == ("a", "b", "c")
    assert tree.blocks == tuple(BLOCKS)
    assert tree.path("c") == ("root", "trunk", "head_c")
    assert tree.tasks_of("root") == ("a", "b", "c")
    assert tree.tasks_of("trunk") == ("a", "b", "c")
    assert tree.tasks_of("branch") == ("a", "b")
    assert tree.tasks_of("head_c") == ("c",)
    assert tree.children("root") == ("trunk",)
    assert tree.children("trunk") == ("branch", "head_c")
    assert tree.children("branch") == ("head_a", "head_b")
    assert tree.children("head_a") == ()
    assert tree.parent("root") is None and tree.parent("head_b") == "branch"
    assert tree.shared_blocks == ("root", "trunk", "branch")
    assert [tree.depth_of(b) for b in BLOCKS] == [0, 1, 2, 3, 3, 2]
    assert tree.depth == 4  # blocks on the longest path
    assert tree.topological_order() == ("root", "trunk", "branch", "head_c", "head_a", "head_b")
    assert set(tree.subtree("branch")) == {"branch", "head_a", "head_b"}
    assert tree.subtree("branch")[0] == "branch"
    assert set(tree.subtree("trunk")) == set(BLOCKS) - {"root"}
    assert tree.subtree("head_c") == ("head_c",)


def test_unknown_names_in_queries_raise_key_errors_naming_them():
    tree = tiny_tree()
    for query in (tree.children, tree.tasks_of, tree.parent, tree.depth_of, tree.subtree):
        with pytest.raises(KeyError, match="nope"):
            query("nope")
    with pytest.raises(KeyError, match="nope"):
        tree.path("nope")


def test_single_block_tree_is_valid():
    tree = TaskTree(["only"], {"t": ["only"]})
    assert tree.root == "only" and tree.shared_blocks == () and tree.depth == 1


def test_task_may_end_at_an_inner_block():
    tree = TaskTree(["r", "a", "b"], {"x": ["r", "a"], "y": ["r", "a", "b"]})
    assert tree.tasks_of("a") == ("x", "y") and tree.children("a") == ("b",)


def test_str_renders_every_block_and_task():
    tree = tiny_tree()
    text = str(tree)
    lines = text.splitlines()
    assert len(lines) == len(tree.blocks)
    assert lines[0].startswith("root")
    for block in tree.blocks:
        assert sum(re.search(rf"(^|\s){block}\b", line) is not None for line in lines) == 1, block
    for task, path in tree.paths.items():
        assert re.search(rf"{path[-1]}.*-> {task}\b", text)
    # children are indented below their parent
    indent = {b: next(len(l) - len(l.lstrip("│├└─ ")) for l in lines if re.search(rf"(^|\s){b}\b", l))
              for b in tree.blocks}
    for block in tree.blocks:
        if tree.parent(block) is not None:
            assert indent[block] > indent[tree.parent(block)]


def test_block_info_is_kept():
    tree = TaskTree({"r": {"units": 3}, "a": None}, {"x": ["r", "a"]})
    assert tree.block_info == {"r": {"units": 3}, "a": None}


# -------------------------------------------------------------------- JSON
def test_json_round_trip():
    tree = TaskTree({"r": {"units": 3}, "a": None, "b": [1, 2]}, {"x": ["r", "a"], "y": ["r", "b"]})
    text = tree.to_json()
    back = TaskTree.from_json(text)
    assert back == tree
    assert back.paths == tree.paths and back.block_info == tree.block_info
    assert json.loads(text)["paths"] == {"x": ["r", "a"], "y": ["r", "b"]}
    assert hash(back) == hash(tree)
    assert TaskTree.from_dict(tree.to_dict()) == tree


def test_trees_differing_in_a_path_are_not_equal():
    other = TaskTree(BLOCKS, {**PATHS, "c": ["root", "trunk", "branch", "head_c"]})
    assert other != tiny_tree()


# ---------------------------------------------------- property-based trees
@st.composite
def random_trees(draw):
    """A random tree from random parent assignments: block k's parent is one of blocks 0..k-1."""
    n = draw(st.integers(min_value=1, max_value=12))
    names = [f"b{k}" for k in range(n)]
    parent = {names[0]: None}
    for k in range(1, n):
        parent[names[k]] = names[draw(st.integers(0, k - 1))]
    has_child = {p for p in parent.values() if p is not None}
    leaves = [b for b in names if b not in has_child]
    # one task per leaf, plus maybe tasks ending at inner blocks
    ends = leaves + draw(st.lists(st.sampled_from(names), unique=True, max_size=3).map(
        lambda xs: [x for x in xs if x in has_child]))
    ends = draw(st.permutations(ends))
    paths = {}
    for j, end in enumerate(ends):
        path, node = [], end
        while node is not None:
            path.append(node)
            node = parent[node]
        paths[f"t{j}"] = path[::-1]
    declared = draw(st.permutations(names))
    return TaskTree(blocks=list(declared), paths=paths), parent


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(random_trees())
def test_random_trees_round_trip_and_satisfy_invariants(drawn):
    tree, parent = drawn
    back = TaskTree.from_json(tree.to_json())
    assert back == tree and back.paths == tree.paths and back.blocks == tree.blocks

    order = tree.topological_order()
    assert sorted(order) == sorted(tree.blocks)
    position = {b: i for i, b in enumerate(order)}
    for block in tree.blocks:
        assert tree.parent(block) == parent[block]
        if parent[block] is not None:
            assert position[parent[block]] < position[block]
        containing = [t for t, p in tree.paths.items() if block in p]
        assert sorted(tree.tasks_of(block)) == sorted(containing)
        assert (block in tree.shared_blocks) == (len(containing) >= 2)
        expected_depth, node = 0, block
        while parent[node] is not None:
            node, expected_depth = parent[node], expected_depth + 1
        assert tree.depth_of(block) == expected_depth
        assert set(tree.subtree(block)) == {b for b in tree.blocks if _is_below(b, block, parent)}

    children = [c for b in tree.blocks for c in tree.children(b)]
    assert sorted(children) == sorted(set(tree.blocks) - {tree.root})  # covers, and disjoint
    assert tree.root == next(b for b, p in parent.items() if p is None)
    assert tree.depth == max(tree.depth_of(b) for b in tree.blocks) + 1


def _is_below(block, ancestor, parent):
    while block is not None:
        if block == ancestor:
            return True
        block = parent[block]
    return False
