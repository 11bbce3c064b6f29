"""peel and split (seed 000 §3.2): partition validation, spec rewrites and numeric invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mtlzoo
from mtlzoo.task_tree import TaskTree
from mtlzoo.testing import (
    assert_outputs_close,
    layer_params,
    random_inputs,
    tiny_tree,
    tiny_tree_network,
    to_numpy,
    weights_snapshot,
)
from mtlzoo.tree_ops import check_partition, peel_tree, split_tree


# ------------------------------------------------------ partition validation
def _split_err(tree, block, partition):
    with pytest.raises(ValueError) as info:
        split_tree(tree, block, partition)
    return str(info.value)


def test_partition_not_covering_children_names_the_missing_child():
    msg = _split_err(tiny_tree(), "trunk", [["branch"]])
    assert "'head_c'" in msg and "'trunk'" in msg and "misses" in msg


def test_partition_with_a_non_child_names_it():
    msg = _split_err(tiny_tree(), "trunk", [["branch", "head_a"], ["head_c"]])
    assert "'head_a'" in msg and "not a child" in msg and "'trunk'" in msg


def test_partition_with_an_unknown_name_names_it():
    assert "'ghost'" in _split_err(tiny_tree(), "branch", [["head_a", "ghost"], ["head_b"]])


def test_child_in_two_groups_names_the_child():
    msg = _split_err(tiny_tree(), "trunk", [["branch", "head_c"], ["head_c"]])
    assert "'head_c'" in msg and "groups 0 and 1" in msg


def test_empty_group_is_rejected():
    msg = _split_err(tiny_tree(), "trunk", [["branch", "head_c"], []])
    assert "group 1" in msg and "empty" in msg and "'trunk'" in msg


def test_splitting_the_root_is_rejected():
    msg = _split_err(tiny_tree(), "root", [["trunk"]])
    assert "'root'" in msg and "root" in msg


def test_splitting_an_unknown_block_names_it():
    assert "'nope'" in _split_err(tiny_tree(), "nope", [["x"]])


def test_splitting_a_head_is_rejected_naming_block_and_task():
    msg = _split_err(tiny_tree(), "head_c", [])
    assert "'head_c'" in msg and "'c'" in msg and "output block" in msg


def test_splitting_an_inner_output_block_names_the_task_ending_there():
    tree = TaskTree(["r", "mid", "h1", "h2"], {"early": ["r", "mid"], "x": ["r", "mid", "h1"],
                                               "y": ["r", "mid", "h2"]})
    msg = _split_err(tree, "mid", [["h1"], ["h2"]])
    assert "'mid'" in msg and "'early'" in msg


def test_partition_given_as_a_bare_string_is_rejected():
    assert "'head_a'" in _split_err(tiny_tree(), "branch", "head_a")


def test_check_partition_accepts_exact_covers_and_bare_names():
    assert check_partition(tiny_tree(), "trunk", [["head_c", "branch"]]) == [["head_c", "branch"]]
    assert check_partition(tiny_tree(), "trunk", ["branch", "head_c"]) == [["branch"], ["head_c"]]


def test_split_copy_names_are_validated():
    tree = tiny_tree()
    with pytest.raises(ValueError, match="'head_a'"):
        split_tree(tree, "trunk", [["branch"], ["head_c"]], names=["t1", "head_a"])
    with pytest.raises(ValueError, match="one name per group"):
        split_tree(tree, "trunk", [["branch"], ["head_c"]], names=["t1"])
    with pytest.raises(ValueError, match="duplicate"):
        split_tree(tree, "trunk", [["branch"], ["head_c"]], names=["t1", "t1"])


# -------------------------------------------------------- spec-level rewrites
def test_split_tree_reroutes_paths():
    new, copies = split_tree(tiny_tree(), "trunk", [["branch"], ["head_c"]])
    assert copies == {"trunk_1": ["branch"], "trunk_2": ["head_c"]}
    assert new.paths == {
        "a": ("root", "trunk_1", "branch", "head_a"),
        "b": ("root", "trunk_1", "branch", "head_b"),
        "c": ("root", "trunk_2", "head_c"),
    }
    assert "trunk" not in new.blocks
    assert new.children("root") == ("trunk_1", "trunk_2")
    assert new.shared_blocks == ("root", "trunk_1", "branch")


def test_split_tree_default_names_skip_taken_names():
    tree = TaskTree(["r", "m", "m_1", "x", "y"], {"p": ["r", "m", "x"], "q": ["r", "m", "y"],
                                                  "s": ["r", "m_1"]})
    _, copies = split_tree(tree, "m", [["x"], ["y"]])
    assert list(copies) == ["m_2", "m_3"]


def test_peel_tree_keeps_one_path():
    single = peel_tree(tiny_tree(), "b")
    assert single.paths == {"b": ("root", "trunk", "branch", "head_b")}
    assert single.blocks == ("root", "trunk", "branch", "head_b")
    assert mtlzoo.peel(tiny_tree(), "b") == single
    with pytest.raises(ValueError, match="'zzz'"):
        peel_tree(tiny_tree(), "zzz")


@st.composite
def _tree_and_split(draw):
    n = draw(st.integers(min_value=3, max_value=10))
    names = [f"b{k}" for k in range(n)]
    parent = {names[0]: None, names[1]: names[0]}
    for k in range(2, n):
        parent[names[k]] = names[draw(st.integers(1, k - 1))]  # b1 is the only child of the root
    kids = {b: [c for c, p in parent.items() if p == b] for b in names}
    paths = {}
    for leaf in (b for b in names if not kids[b]):
        path, node = [], leaf
        while node is not None:
            path.append(node)
            node = parent[node]
        paths[f"t_{leaf}"] = path[::-1]
    tree = TaskTree(names, paths)
    block = draw(st.sampled_from([b for b in names[1:] if kids[b]]))
    labels = draw(st.lists(st.integers(0, len(kids[block]) - 1), min_size=len(kids[block]),
                           max_size=len(kids[block])))
    groups = [[c for c, g in zip(kids[block], labels) if g == j] for j in sorted(set(labels))]
    return tree, block, groups


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(_tree_and_split())
def test_random_splits_keep_every_path_apart_from_the_copy(drawn):
    tree, block, groups = drawn
    new, copies = split_tree(tree, block, groups)
    assert list(copies.values()) == groups
    assert new.tasks == tree.tasks
    assert set(new.blocks) == (set(tree.blocks) - {block}) | set(copies)
    copy_of = {child: copy for copy, group in copies.items() for child in group}
    for task in tree.tasks:
        old, rerouted = tree.path(task), new.path(task)
        expected = tuple(copy_of[old[i + 1]] if b == block else b for i, b in enumerate(old))
        assert rerouted == expected
    for copy, group in copies.items():
        assert sorted(new.children(copy)) == sorted(group)
        assert new.parent(copy) == tree.parent(block)


# ------------------------------------------------------- numeric invariants
X = random_inputs(batch=5, seed=1)


@pytest.fixture
def net():
    return tiny_tree_network()


@pytest.mark.parametrize("task", ["a", "b", "c"])
def test_peeled_output_equals_original_for_each_task(net, task):
    before = weights_snapshot(net)
    single = mtlzoo.peel(net, task)
    assert single.tasks == (task,)
    assert single.tree.paths == {task: net.tree.path(task)}
    assert type(single) is type(net)
    assert_outputs_close(single(X), {task: net(X)[task]}, atol=1e-5)
    expected = sum(layer_params(net.block_layer(b)) for b in net.tree.path(task))
    assert single.count_params() == expected
    assert expected < net.count_params()
    # the copies are independent: zeroing them leaves the original untouched
    for layer in single.blocks.values():
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    _assert_same_weights(net, before)


def _assert_same_weights(model, snapshot):
    after = model.get_weights()
    assert len(after) == len(snapshot)
    for a, b in zip(after, snapshot):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "extra,block,partition",
    [
        ((), "trunk", [["branch"], ["head_c"]]),
        ((), "branch", [["head_a"], ["head_b"]]),
        ((), "trunk", [["branch", "head_c"]]),
        (("d",), "trunk", [["branch", "head_c"], ["head_d"]]),
        (("d",), "trunk", [["head_d"], ["branch"], ["head_c"]]),
    ],
    ids=["trunk-singletons", "branch-singletons", "trunk-one-group", "trunk-2-groups", "trunk-3-singletons"],
)
def test_split_keeps_outputs_and_adds_k_minus_1_copies(extra, block, partition):
    net = tiny_tree_network(extra_tasks=extra)
    before = weights_snapshot(net)
    tree_before = net.tree
    reference = to_numpy(net(X))
    wider = mtlzoo.split(net, block, partition)
    k = len(partition)
    assert wider.count_params() - net.count_params() == (k - 1) * layer_params(net.block_layer(block))
    assert_outputs_close(wider(X), reference, atol=1e-5)
    assert block not in wider.tree.blocks
    copies = [b for b in wider.tree.blocks if b not in net.tree.blocks]
    assert len(copies) == k
    for copy, group in zip(copies, partition):
        assert sorted(wider.tree.children(copy)) == sorted(group)
    # the copies start equal but are separate variables: perturbing one changes only its tasks
    first = wider.block_layer(copies[0])
    first.set_weights([w + 1.0 for w in first.get_weights()])
    moved = to_numpy(wider(X))
    touched = set(wider.tree.tasks_of(copies[0]))
    for task in wider.tasks:
        changed = not np.allclose(moved[task], reference[task], atol=1e-5)
        assert changed == (task in touched), task
    _assert_same_weights(net, before)
    assert net.tree == tree_before
    assert_outputs_close(net(X), reference, atol=0)


def test_split_with_names_and_model_name():
    net = tiny_tree_network()
    wider = mtlzoo.split(net, "trunk", [["branch"], ["head_c"]], names=["t_ab", "t_c"], name="wide")
    assert wider.name == "wide"
    assert wider.tree.path("c") == ("root", "t_c", "head_c")
    assert wider.block_layer("t_ab").name == "t_ab"


def test_split_then_peel_composes():
    net = tiny_tree_network(extra_tasks=("d",))
    reference = to_numpy(net(X))
    wider = mtlzoo.split(net, "trunk", [["branch", "head_c"], ["head_d"]])
    deeper = mtlzoo.split(wider, "branch", [["head_a"], ["head_b"]])
    for task in net.tasks:
        assert_outputs_close(mtlzoo.peel(deeper, task)(X), {task: reference[task]}, atol=1e-5)


def test_model_level_split_validates_the_partition_and_leaves_the_model_alone():
    net = tiny_tree_network()
    before = weights_snapshot(net)
    with pytest.raises(ValueError, match="'head_c'"):
        mtlzoo.split(net, "trunk", [["branch"]])
    with pytest.raises(ValueError, match="'root'"):
        mtlzoo.split(net, "root", [["trunk"]])
    with pytest.raises(ValueError, match="'zzz'"):
        mtlzoo.peel(net, "zzz")
    _assert_same_weights(net, before)


def test_batch_norm_statistics_are_copied_by_peel_and_split():
    net = tiny_tree_network(batch_norm=True)
    x_train = random_inputs(batch=16, seed=2) * 3.0 + 2.0
    for _ in range(3):
        net(x_train, training=True)
    bn = net.block_layer("trunk").get_layer("bn")
    mean, var = to_numpy(bn.moving_mean), to_numpy(bn.moving_variance)
    assert np.abs(mean).max() > 1e-3 and np.abs(var - 1.0).max() > 1e-3  # statistics did move
    reference = to_numpy(net(X, training=False))
    fresh = tiny_tree_network(batch_norm=True, name="fresh")
    fresh.set_weights([w for w in net.get_weights()])
    fresh.block_layer("trunk").get_layer("bn").moving_mean.assign(np.zeros_like(mean))
    assert not np.allclose(to_numpy(fresh(X))["c"], reference["c"], atol=1e-5)  # stats matter here

    for task in net.tasks:
        single = mtlzoo.peel(net, task)
        assert_outputs_close(single(X, training=False), {task: reference[task]}, atol=1e-5)
    wider = mtlzoo.split(net, "trunk", [["branch"], ["head_c"]])
    assert_outputs_close(wider(X, training=False), reference, atol=1e-5)
    for copy in ("trunk_1", "trunk_2"):
        copied = wider.block_layer(copy).get_layer("bn")
        np.testing.assert_array_equal(to_numpy(copied.moving_mean), mean)
        np.testing.assert_array_equal(to_numpy(copied.moving_variance), var)
