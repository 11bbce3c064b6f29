"""Feature partitioning (seed 004 §3.1, A.1): P = MᵀM/c, refine (eqs. 1-4), the mask MILP (eqs. 5-10)."""

import doctest
import itertools
import statistics
import time

import numpy as np
import pytest

from mtlzoo.tools import partition_search as ps
from mtlzoo.tools.partition_search import (
    MaskSolution,
    channel_use,
    masks_for_widths,
    masks_from_partition,
    overlap_bounds,
    partition_matrix,
    refine,
    sample_partition,
)


def random_mask(rng, c, n):
    """A random (c, n) binary mask; task i keeps each channel with its own probability q_i ~ U(0, 1)."""
    return (rng.random((c, n)) < rng.uniform(0.0, 1.0, n)).astype(np.int8)


def brute_force(P_tilde, c):
    """Exhaustive search over all masks up to channel order (counts of each task subset).

    Returns ``(least total slack, least largest slack, least total slack among masks
    within one channel or None)``, all in channels.
    """
    n = P_tilde.shape[0]
    k = 2**n
    patterns = (np.arange(k)[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1
    bars = np.array(list(itertools.combinations(range(c + k - 1), k - 1)))
    edges = np.hstack([np.full((len(bars), 1), -1), bars, np.full((len(bars), 1), c + k - 1)])
    x = np.diff(edges, axis=1) - 1  # every composition of c into k parts
    iu = np.triu_indices(n)
    counts = np.einsum("ms,si,sj->mij", x, patterns, patterns)[:, iu[0], iu[1]]
    err = np.abs(counts - c * P_tilde[iu])
    total, largest = err.sum(axis=1), err.max(axis=1)
    within = largest <= 1 + 1e-9
    return float(total.min()), float(largest.min()), (float(total[within].min()) if within.any() else None)


# ---------------------------------------------------------------- P = MᵀM / c
def test_partition_matrix_shares_and_overlaps():
    M = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 1]])
    P = partition_matrix(M)
    np.testing.assert_allclose(P, [[0.75, 0.5, 0.25], [0.5, 0.5, 0.25], [0.25, 0.25, 0.5]])
    assert channel_use(P) == pytest.approx((0.75 + 0.5 + 0.5) / 3)


@pytest.mark.parametrize(
    "M, match",
    [(np.array([1, 0, 1]), "channels, tasks"), (np.array([[1, 2], [0, 1]]), "binary"), (np.zeros((0, 2)), "at least")],
)
def test_partition_matrix_rejects_non_masks(M, match):
    with pytest.raises(ValueError, match=match):
        partition_matrix(M)


# ---------------------------------------------------------------- refine, eqs. 1-4
def test_refine_matches_eqs_1_to_4_on_a_hand_computed_example():
    P = np.array([[0.6, 0.5, 0.2], [0.5, 0.8, 1.0], [0.2, 1.0, 0.3]])
    # (0,1): P_min = 0.6+0.8-1 = 0.4, P_max = 0.6 -> 0.4 + 0.5*0.2 = 0.5
    # (0,2): P_min = 0,              P_max = 0.3 -> 0   + 0.2*0.3 = 0.06
    # (1,2): P_min = 0.8+0.3-1 = 0.1, P_max = 0.3 -> 0.1 + 1.0*0.2 = 0.3
    expected = np.array([[0.6, 0.5, 0.06], [0.5, 0.8, 0.3], [0.06, 0.3, 0.3]])
    np.testing.assert_allclose(refine(P), expected, atol=1e-12)
    lo, hi = overlap_bounds(P)
    np.testing.assert_allclose(lo[[0, 0, 1], [1, 2, 2]], [0.4, 0.0, 0.1], atol=1e-12)
    np.testing.assert_allclose(hi[[0, 0, 1], [1, 2, 2]], [0.6, 0.3, 0.3], atol=1e-12)


def test_refined_off_diagonals_lie_between_the_least_and_most_overlap():
    rng = np.random.default_rng(0)
    for n in range(1, 8):
        for _ in range(20):
            P = sample_partition(n, rng)
            P_t = refine(P)
            lo, hi = overlap_bounds(P)
            off = ~np.eye(n, dtype=bool)
            assert np.all(P_t[off] >= lo[off] - 1e-12) and np.all(P_t[off] <= hi[off] + 1e-12)
            np.testing.assert_array_equal(np.diag(P_t), np.diag(P))
            np.testing.assert_allclose(P_t, P_t.T)
            assert channel_use(P_t) == pytest.approx(channel_use(P))
    # 0 maps to the least and 1 to the most overlap the diagonal allows.
    d = np.diag([0.7, 0.6])
    assert refine(d + np.array([[0, 1.0], [1.0, 0]]))[0, 1] == pytest.approx(0.6)
    assert refine(d)[0, 1] == pytest.approx(0.3)


@pytest.mark.parametrize(
    "P, match",
    [
        (np.ones((2, 3)) * 0.5, "square"),
        (np.array([[0.5, 0.1], [0.2, 0.5]]), "symmetric"),
        (np.array([[1.5, 0.1], [0.1, 0.5]]), r"\[0, 1\]"),
        (np.array([[np.nan, 0.1], [0.1, 0.5]]), "NaN"),
    ],
)
def test_refine_rejects_malformed_matrices_naming_the_problem(P, match):
    with pytest.raises(ValueError, match=match):
        refine(P)


# ---------------------------------------------------------------- sampling
def test_sample_partition_follows_the_documented_distribution():
    a, b = sample_partition(4, 7), sample_partition(4, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    samples = np.stack([sample_partition(4, np.random.default_rng(s)) for s in range(400)])
    np.testing.assert_array_equal(samples, samples.transpose(0, 2, 1))
    assert samples.min() >= 0 and samples.max() <= 1
    assert abs(samples.mean() - 0.5) < 0.03  # U(0, 1) everywhere by default
    narrow = np.stack([sample_partition(3, s, channel_use=(0.2, 0.4)) for s in range(100)])
    diag = narrow[:, np.arange(3), np.arange(3)]
    assert diag.min() >= 0.2 and diag.max() <= 0.4
    with pytest.raises(ValueError, match="channel_use"):
        sample_partition(3, 0, channel_use=(0.6, 0.4))
    with pytest.raises(ValueError, match="positive integer"):
        sample_partition(0, 0)


# ---------------------------------------------------------------- the MILP: acceptance
def test_acceptance_100_random_masks_come_back_within_one_channel_where_any_mask_can():
    """Issue 7 item 2: refine(MᵀM/c) -> masks_from_partition -> |M'ᵀM'/c - P̃| <= 1/c.

    refine() is not a projection, so for n >= 3 its P̃ need not be realisable by any
    mask (measured: 12 of these 100, n = 3..6). The bound is asserted wherever a mask
    meeting it exists (always for n = 2, where every pairwise-feasible overlap is
    realisable); everywhere else HiGHS must have proved that none exists.
    """
    rng = np.random.default_rng(2024)
    failures = []
    for _ in range(100):
        c, n = int(rng.integers(8, 65)), int(rng.integers(2, 7))
        P_t = refine(partition_matrix(random_mask(rng, c, n)))
        s = masks_from_partition(P_t, c, return_solution=True)
        assert s.mask.shape == (c, n) and set(np.unique(s.mask)) <= {0, 1}
        assert s.status == "optimal"
        within = s.max_error <= 1 / c + 1e-9
        assert within == bool(s.realisable), (c, n, s.max_error * c, s.realisable)
        if n == 2:
            assert within, (c, P_t)
        if not within:
            best = masks_from_partition(P_t, c, fallback="max", return_solution=True)
            assert best.max_error <= s.max_error + 1e-12
            failures.append((n, c, s.max_error * c, best.max_error * c))
    print(f"\nunrealisable within 1 channel: {len(failures)}/100; (n, c, channels off, least possible):")
    for row in failures:
        print("  n=%d c=%d  eq.5 mask %.3g  least-max mask %.3g" % row)
    assert len(failures) <= 20  # measured 12; a regression in the solver shows up here


def test_refining_a_real_mask_can_ask_for_overlaps_no_mask_has():
    # 42 channels; task sizes 26, 17, 17; overlaps 10, 12, 6 (6 channels shared by all three).
    rows = {(1, 1, 1): 6, (1, 1, 0): 4, (1, 0, 1): 6, (1, 0, 0): 10, (0, 1, 0): 7, (0, 0, 1): 5, (0, 0, 0): 4}
    M = np.repeat(np.array(list(rows)), list(rows.values()), axis=0)
    np.testing.assert_array_equal(M.T @ M, [[26, 10, 12], [10, 17, 6], [12, 6, 17]])
    P_t = refine(partition_matrix(M))
    np.testing.assert_allclose(42 * P_t[[0, 0, 1], [1, 2, 2]], [4.8095238, 5.5714286, 2.4285714], atol=1e-6)
    # Within one channel: sizes >= 25 + 16 + 16 = 57, overlaps <= 5 + 6 + 3 = 14, so the union
    # has >= 57 - 14 = 43 > 42 channels: no mask is within 1/c of this P̃.
    s = masks_from_partition(P_t, 42, return_solution=True)
    assert s.realisable is False and s.max_error > 1 / 42
    best = masks_from_partition(P_t, 42, fallback="max", return_solution=True)
    assert 1 < best.slack.max() <= s.slack.max()


@pytest.mark.parametrize("n, widths", [(2, range(2, 10)), (3, range(3, 10)), (4, range(3, 6))])
def test_milp_matches_exhaustive_search_on_small_layers(n, widths):
    rng = np.random.default_rng(n)
    for c in widths:
        for source in ("mask", "sample"):
            if source == "mask":
                P_t = refine(partition_matrix(random_mask(rng, c, n)))
            else:
                P_t = refine(sample_partition(n, rng))
            total, largest, total_within = brute_force(P_t, c)
            plain = masks_from_partition(P_t, c, tolerance=None, return_solution=True)
            assert plain.total_slack == pytest.approx(total, abs=1e-7)
            s = masks_from_partition(P_t, c, return_solution=True)
            assert s.realisable == (total_within is not None)
            assert s.total_slack == pytest.approx(total if total_within is None else total_within, abs=1e-7)
            best = masks_from_partition(P_t, c, fallback="max", return_solution=True)
            if total_within is None:
                assert best.slack.max() == pytest.approx(largest, abs=1e-7)
            else:
                assert best.slack.max() <= 1 + 1e-7


def test_channel_formulation_of_the_seed_has_the_same_optimum():
    rng = np.random.default_rng(3)
    for c, n in [(6, 3), (8, 3), (5, 4)]:
        P_t = refine(sample_partition(n, rng))
        for tol in (None, 1.0):
            a = masks_from_partition(P_t, c, tolerance=tol, formulation="patterns", return_solution=True)
            b = masks_from_partition(P_t, c, tolerance=tol, formulation="channels", return_solution=True)
            assert b.formulation == "channels" and b.status == "optimal"
            assert a.total_slack == pytest.approx(b.total_slack, abs=1e-7)
            assert a.realisable == b.realisable


def test_unrealisable_targets_go_into_the_slack_not_an_exception():
    # Three tasks with half the channels each, pairwise disjoint: refine keeps the 0 overlaps
    # (P_min = 0), but |A∪B∪C| = 24 - Σ overlaps + triple <= 16 forces Σ overlaps >= 8, so
    # slack = Σ|a_i - 8| + Σ o_ij >= 8 for every mask, and 8 is reached.
    P_t = refine(np.diag([0.5, 0.5, 0.5]))
    np.testing.assert_array_equal(P_t, np.diag([0.5, 0.5, 0.5]))
    for kwargs in ({}, {"tolerance": None}, {"fallback": "max"}, {"formulation": "channels"}):
        s = masks_from_partition(P_t, 16, return_solution=True, **kwargs)
        assert s.mask.shape == (16, 3)
        assert s.status == "optimal"
        assert s.realisable is (None if kwargs.get("tolerance", 1) is None else False)
        assert s.total_slack >= 8 - 1e-9 and s.total_slack > 0
        if "fallback" not in kwargs:
            assert s.total_slack == pytest.approx(8.0)
    # Not even pairwise feasible (raw, unrefined): two full masks asked to be disjoint.
    s = masks_from_partition(np.diag([1.0, 1.0]), 8, return_solution=True)
    assert s.realisable is False and s.total_slack == pytest.approx(8.0)


def test_a_positive_diagonal_never_gets_the_degenerate_empty_mask():
    rng = np.random.default_rng(5)
    for n in (2, 4, 6):
        P_t = refine(sample_partition(n, rng, channel_use=(0.2, 0.9)))
        s = masks_from_partition(P_t, 32, return_solution=True)
        # The printed one-sided eqs. 6-7 are met by M = 0 with zero slack; the two-sided ones are not.
        zero = MaskSolution(np.zeros((32, n)), P_t, "optimal")
        assert s.total_slack < zero.total_slack
        assert np.all(s.mask.sum(axis=0) >= np.floor(32 * np.diag(P_t)) - 1)
        if s.realisable:
            assert np.all(np.abs(s.mask.sum(axis=0) - 32 * np.diag(P_t)) <= 1 + 1e-9)


def test_one_partition_serves_layers_of_different_widths():
    P_t = refine(np.array([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.25]]))
    np.testing.assert_allclose(P_t, [[0.5, 0.25, 0.125], [0.25, 0.5, 0.125], [0.125, 0.125, 0.25]])
    solutions = masks_for_widths(P_t, [8, 16, 32, 16], return_solution=True)
    assert [s.channels for s in solutions] == [8, 16, 32, 16]
    assert solutions[1] is solutions[3]  # a repeated width is solved once
    for s in solutions:
        assert s.realisable and s.max_error <= 1 / s.channels + 1e-9
    masks = masks_for_widths(refine(sample_partition(3, 1)), (8, 16, 32))
    assert [m.shape for m in masks] == [(8, 3), (16, 3), (32, 3)]
    with pytest.raises(ValueError, match="widths"):
        masks_for_widths(P_t, 16)
    with pytest.raises(ValueError, match="each width"):
        masks_for_widths(P_t, [16, 0])


def test_solver_failure_falls_back_to_rounding_and_says_so(monkeypatch):
    import mtlzoo.tools.partition_search.mask_program as mp

    class NoIncumbent:
        x, status, message = None, 1, "Time limit reached. (HiGHS Status 13)"

    monkeypatch.setattr(mp, "milp", lambda *a, **k: NoIncumbent())
    P_t = refine(np.array([[0.5, 0.3, 0.9], [0.3, 0.25, 0.6], [0.9, 0.6, 0.75]]))
    s = masks_from_partition(P_t, 16, return_solution=True)
    assert s.status == "heuristic" and "heuristic" in s.message and s.realisable is None
    np.testing.assert_array_equal(s.mask.sum(axis=0), np.rint(16 * np.diag(P_t)))
    with pytest.warns(RuntimeWarning, match="heuristic"):
        M = masks_from_partition(P_t, 16)
    assert M.shape == (16, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"channels": 0}, "channels"),
        ({"channels": 8, "time_limit": 0}, "time_limit"),
        ({"channels": 8, "tolerance": -1}, "tolerance"),
        ({"channels": 8, "formulation": "rows"}, "formulation"),
        ({"channels": 8, "fallback": "min"}, "fallback"),
    ],
)
def test_masks_from_partition_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        masks_from_partition(np.diag([0.5, 0.5]), **kwargs)
    with pytest.raises(ValueError, match="P_tilde must be symmetric"):
        masks_from_partition(np.array([[0.5, 0.1], [0.3, 0.5]]), 8)


def test_docstring_examples_run():
    from mtlzoo.tools.partition_search import mask_program, mask_solution, parameterization

    for module in (ps, parameterization, mask_program, mask_solution):
        result = doctest.testmod(module, verbose=False)
        assert result.failed == 0 and result.attempted > 0, module.__name__


# ---------------------------------------------------------------- timing (slow)
@pytest.mark.slow
def test_milp_time_for_64_channels_and_6_tasks():
    """Median of 20 solves for c = 64, n = 6, both formulations in one run (the machine is shared)."""
    rng = np.random.default_rng(0)
    targets = [refine(sample_partition(6, rng)) for _ in range(10)]
    targets += [refine(partition_matrix(random_mask(rng, 64, 6))) for _ in range(10)]
    times = {}
    for formulation in ("patterns", "channels"):
        runs = []
        for P_t in targets:
            start = time.perf_counter()
            s = masks_from_partition(P_t, 64, formulation=formulation, return_solution=True)
            runs.append((time.perf_counter() - start, s.status, s.total_slack))
        times[formulation] = runs
        print(
            f"\n{formulation}: median {statistics.median(r[0] for r in runs):.4f} s, "
            f"max {max(r[0] for r in runs):.3f} s, statuses {[r[1] for r in runs].count('optimal')}/20 optimal"
        )
    worse = sum(b[2] > a[2] + 1e-7 for a, b in zip(times["patterns"], times["channels"]))
    print(f"channel form ended with more slack than the pattern form on {worse}/20")
    assert statistics.median(r[0] for r in times["patterns"]) < 0.5
    assert all(r[1] == "optimal" for r in times["patterns"])
