"""Split search: stress (Alg. 2), task/child affinity (Alg. 3, 4) and the spectral partition."""

import math

import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
from mtlzoo.testing import seed_everything, tiny_tree, weights_snapshot
from mtlzoo.tools.split_search import (
    block_stress,
    child_affinity,
    fine_tune_peeled,
    network_compatibility,
    restrict_to_task,
    spectral_partition,
    splittable_blocks,
    task_affinity,
)

TASKS = ("mnist", "fashion_mnist", "kmnist")


@pytest.fixture(scope="module")
def trained():
    """lenet_bn_tree(width=2), its peeled copies fine-tuned for 1 epoch, and a tiny masked dataset."""
    seed_everything(0)
    model = mtlzoo.models.get("lenet_bn_tree", width=2)
    model.compile(metrics=[])
    rng = np.random.default_rng(0)
    n = 24
    x = rng.random((n, 28, 28, 1)).astype("float32")
    y = {t: rng.integers(0, 10, n) for t in TASKS}
    w = {t: (np.arange(n) % 3 == k).astype("float32") for k, t in enumerate(TASKS)}  # one task per row
    ds = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(8)
    before = weights_snapshot(model)
    peeled = fine_tune_peeled(model, ds, epochs=1, seed=0)
    return model, peeled, ds, x, before


# ---------------------------------------------------------------- Alg. 2
def test_fine_tune_peeled_trains_single_task_copies_and_leaves_the_network(trained):
    model, peeled, _, _, before = trained
    for a, b in zip(weights_snapshot(model), before):
        np.testing.assert_array_equal(a, b)
    assert sorted(peeled) == sorted(TASKS)
    for task, net in peeled.items():
        assert net.tasks == (task,)
        assert net.tree.path(task) == model.tree.path(task)
        moved = [not np.allclose(a, b) for a, b in zip(net.block_layer("conv2").get_weights(),
                                                      model.block_layer("conv2").get_weights())]
        assert any(moved), task
    assert len({id(net.optimizer) for net in peeled.values()}) == len(TASKS)


def test_stress_is_positive_after_fine_tuning_and_sums_compatibilities(trained):
    model, peeled, ds, _, _ = trained
    for block in ("conv1", "conv2"):
        stress = block_stress(model, block, peeled, ds)
        expected = sum(network_compatibility(peeled[t], model, block, ds) for t in TASKS)
        assert stress > 0
        assert stress == pytest.approx(expected, rel=1e-6)


def test_stress_of_a_network_against_its_own_copies_is_zero(trained):
    model, _, ds, x, _ = trained
    copies = fine_tune_peeled(model, ds, epochs=0)
    assert block_stress(model, "conv2", copies, ds) == 0.0
    assert block_stress(model, "conv1", copies, x) == 0.0


def test_stress_needs_a_peeled_network_for_every_task_of_the_block(trained):
    model, peeled, ds, _, _ = trained
    with pytest.raises(ValueError, match="'kmnist'"):
        block_stress(model, "conv2", {t: peeled[t] for t in TASKS[:2]}, ds)


def test_fine_tune_peeled_of_a_plain_tree_network_uses_its_compiled_loss():
    from mtlzoo.testing import tiny_tree_network
    from mtlzoo.training import MultiTaskModel

    net = tiny_tree_network(batch_norm=True)
    rng = np.random.default_rng(1)
    y = {t: rng.normal(size=(8, k)).astype("float32") for t, k in (("a", 2), ("b", 3), ("c", 4))}
    ds = tf.data.Dataset.from_tensor_slices((rng.normal(size=(8, 3)).astype("float32"), y)).batch(4)
    with pytest.raises(ValueError, match="compile"):
        fine_tune_peeled(net, ds, epochs=1)
    net.compile(optimizer="sgd", loss="mse")
    peeled = fine_tune_peeled(net, ds, epochs=1, tasks=["a", "c"])
    assert sorted(peeled) == ["a", "c"] and all(isinstance(m, MultiTaskModel) for m in peeled.values())
    assert block_stress(net, "trunk", {**peeled, "b": peeled["a"]}, ds) > 0


def test_restrict_to_task_keeps_one_task_labels_and_weights(trained):
    _, _, ds, _, _ = trained
    x, y, w = next(iter(restrict_to_task(ds, "kmnist")))
    assert list(y) == ["kmnist"] and list(w) == ["kmnist"]
    np.testing.assert_array_equal(w["kmnist"].numpy(), [0, 0, 1, 0, 0, 1, 0, 0])
    with pytest.raises(ValueError, match="'nope'"):
        restrict_to_task(ds, "nope")


def test_splittable_blocks_are_non_root_blocks_with_two_children():
    assert splittable_blocks(tiny_tree()) == ["trunk", "branch"]
    tree = mtlzoo.models.get("lenet_bn_tree", width=2).tree
    assert splittable_blocks(tree) == ["conv2"]
    assert splittable_blocks(mtlzoo.split(tree, "conv2", [["head_mnist"], ["head_fashion_mnist", "head_kmnist"]])[0]) \
        == ["conv1", "conv2_2"]


# ---------------------------------------------------------------- Alg. 3
def test_task_affinity_is_the_symmetric_pairwise_compatibility(trained):
    _, peeled, ds, _, _ = trained
    a = task_affinity(peeled, "conv2", ds, TASKS)
    assert a.shape == (3, 3)
    np.testing.assert_array_equal(np.diag(a), 0.0)
    np.testing.assert_array_equal(a, a.T)
    assert np.all(a[~np.eye(3, dtype=bool)] > 0)
    assert a[0, 2] == pytest.approx(network_compatibility(peeled["mnist"], peeled["kmnist"], "conv2", ds), rel=1e-6)
    assert a[2, 0] == pytest.approx(network_compatibility(peeled["kmnist"], peeled["mnist"], "conv2", ds), rel=1e-6)


def test_task_affinity_of_identical_copies_is_zero(trained):
    model, _, ds, _, _ = trained
    copies = fine_tune_peeled(model, ds, epochs=0)
    np.testing.assert_array_equal(task_affinity(copies, "conv1", ds, TASKS), np.zeros((3, 3)))


# ---------------------------------------------------------------- Alg. 4
def test_child_affinity_on_the_three_task_tree_by_hand():
    # tiny_tree: trunk -> {branch (a, b), head_c (c)}
    a = np.array([[0.0, 1.0, 2.0],
                  [1.0, 0.0, 4.0],
                  [2.0, 4.0, 0.0]])
    # A^[branch, head_c] = mean(A[a,c], A[b,c]) = 3; A^[head_c, branch] = max(A[c,a], A[c,b]) = 4
    # A~ = 3.5 = max A~, so exp(-3.5 / 3.5) = e^-1
    children, m = child_affinity(tiny_tree(), "trunk", a, ["a", "b", "c"])
    assert children == ["branch", "head_c"]
    np.testing.assert_allclose(m, [[1.0, math.exp(-1)], [math.exp(-1), 1.0]])
    perm = [2, 0, 1]  # the same matrix in another task order gives the same answer
    _, m2 = child_affinity(tiny_tree(), "trunk", a[np.ix_(perm, perm)], ["c", "a", "b"])
    np.testing.assert_allclose(m2, m)


def test_child_affinity_with_three_children_by_hand():
    # tiny_tree(["d"]): trunk -> {branch (a, b), head_c (c), head_d (d)}
    a = np.array([[0.0, 0.1, 0.6, 0.3],
                  [0.1, 0.0, 0.2, 0.5],
                  [0.6, 0.2, 0.0, 0.4],
                  [0.3, 0.5, 0.4, 0.0]])
    # branch/head_c: (mean(.6, .2) + max(.6, .2)) / 2 = (.4 + .6) / 2 = .5
    # branch/head_d: (mean(.3, .5) + max(.3, .5)) / 2 = (.4 + .5) / 2 = .45
    # head_c/head_d: (.4 + .4) / 2 = .4 ; max = .5
    children, m = child_affinity(tiny_tree(["d"]), "trunk", a, ["a", "b", "c", "d"])
    assert children == ["branch", "head_c", "head_d"]
    e = math.exp
    np.testing.assert_allclose(m, [[1, e(-1.0), e(-0.9)], [e(-1.0), 1, e(-0.8)], [e(-0.9), e(-0.8), 1]])


def test_child_affinity_of_a_zero_matrix_is_all_ones_and_checks_inputs():
    children, m = child_affinity(tiny_tree(), "branch", np.zeros((2, 2)), ["a", "b"])
    assert children == ["head_a", "head_b"]
    np.testing.assert_array_equal(m, np.ones((2, 2)))
    with pytest.raises(ValueError, match="'c'"):
        child_affinity(tiny_tree(), "trunk", np.zeros((2, 2)), ["a", "b"])


# ------------------------------------------------------ spectral partition
def test_spectral_partition_recovers_two_obvious_clusters():
    children = ["c0", "c1", "c2", "c3", "c4", "c5"]
    cluster = [0, 1, 0, 1, 1, 0]
    m = np.array([[1.0 if i == j else (0.9 if cluster[i] == cluster[j] else 0.05) for j in range(6)]
                  for i in range(6)])
    assert spectral_partition(children, m, seed=0) == [["c0", "c2", "c5"], ["c1", "c3", "c4"]]
    assert spectral_partition(children, m, seed=3) == [["c0", "c2", "c5"], ["c1", "c3", "c4"]]


def test_spectral_partition_three_groups():
    cluster = [0, 0, 1, 1, 2]
    m = np.array([[1.0 if i == j else (0.95 if cluster[i] == cluster[j] else 0.02) for j in range(5)]
                  for i in range(5)])
    assert spectral_partition(list("abcde"), m, n_groups=3) == [["a", "b"], ["c", "d"], ["e"]]


def test_two_children_become_singletons_without_clustering(monkeypatch):
    import sklearn.cluster

    def boom(*args, **kwargs):
        raise AssertionError("SpectralClustering must not be called for two children")

    monkeypatch.setattr(sklearn.cluster, "SpectralClustering", boom)
    assert spectral_partition(["x", "y"], np.ones((2, 2))) == [["x"], ["y"]]


def test_uninformative_affinity_still_gives_the_requested_groups():
    groups = spectral_partition(list("abcd"), np.ones((4, 4)))
    assert len(groups) == 2 and sorted(sum(groups, [])) == list("abcd")


def test_merged_clusters_are_split_by_the_least_cohesive_child(monkeypatch):
    import sklearn.cluster

    class OneCluster:  # a clustering that puts every child in one group
        def __init__(self, **kwargs):
            pass

        def fit_predict(self, affinity):
            return np.zeros(len(affinity), dtype=int)

    monkeypatch.setattr(sklearn.cluster, "SpectralClustering", OneCluster)
    m = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
    # mean affinity to the rest of the group: a 0.5, b 0.55, c 0.15 -> c leaves
    assert spectral_partition(["a", "b", "c"], m) == [["a", "b"], ["c"]]


def test_spectral_partition_errors_name_the_block():
    with pytest.raises(ValueError, match="'conv1'.*at least 2"):
        spectral_partition(["conv2"], np.ones((1, 1)), block="conv1")
    with pytest.raises(ValueError, match="symmetric"):
        spectral_partition(list("abc"), np.array([[1, 0.5, 0], [0, 1, 0], [0, 0, 1]]), block="t")
    with pytest.raises(ValueError, match="n_groups"):
        spectral_partition(list("abc"), np.ones((3, 3)), n_groups=4)


def test_importing_the_peel_and_split_modules_keeps_the_facade_functions():
    # the split search imports mtlzoo.peel / mtlzoo.split as modules; mtlzoo.peel must stay the function
    import subprocess
    import sys

    code = ("import types, mtlzoo; from mtlzoo.peel import peel; from mtlzoo.split import split; "
            "bound = [vars(mtlzoo).get(n) for n in ('peel', 'split')]; "  # no attribute access: no TF import
            "assert not any(isinstance(b, types.ModuleType) for b in bound), bound")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
