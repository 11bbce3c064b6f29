"""The train step under ``tf.distribute`` (DESIGN.md, Distribution).

Logical CPU devices and a worker cluster must be set up before TensorFlow
initialises, so every check runs ``distributed_worker.py`` in a fresh process
and asserts on what it writes: a tiny ``multimnist_lenet`` trained under a
strategy must end with the weights, logs and balancer state of the same model
trained on one device with the same global batches, also with partial-label
sample weights whose sums differ between the replicas' half batches.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("distributed_worker.py")
BALANCERS = ("uniform", "uncertainty", "gradnorm", "mgda", "mgda_ub", "hybrid", "pcgrad")
TRAIN_ON_BATCH = ("mgda_ub",)
#: Partial-label sample weights: each replica's share is its weighted sum over the global total weight.
WEIGHTED = ("uniform+weighted", "mgda_ub+weighted")
#: Armijo line search: sequential on one device, batched (one all-reduce of all trial losses) under the strategy.
LINE_SEARCH = ("mgda_ub+fast", "mgda_ub+classic", "mgda+classic")
ATOL = 1e-5
TIMEOUT = 600


def stderr_tail(text: str, lines: int = 40) -> str:
    """The last ``lines`` lines of a worker's stderr without TensorFlow's INFO chatter."""
    kept = [line for line in (text or "").splitlines()
            if line.strip() and not line.startswith(("I0000", "W0000", "WARNING: All log", "To enable"))]
    return "\n".join(kept[-lines:])


def run_worker(*args: str, timeout: float = TIMEOUT) -> None:
    """Run ``distributed_worker.py`` with ``args``; fail with its stderr tail if it does not succeed."""
    try:
        done = subprocess.run([sys.executable, str(WORKER), *args], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{WORKER.name} {' '.join(args)} timed out after {timeout}s:\n"
                    f"{stderr_tail(err.stderr.decode() if isinstance(err.stderr, bytes) else err.stderr)}")
    if done.returncode != 0:
        pytest.fail(f"{WORKER.name} {' '.join(args)} exited with {done.returncode}:\n{stderr_tail(done.stderr)}")


def assert_matches_one_device(name: str, result: dict, atol: float = ATOL) -> None:
    """Every stage's weights, balancer state and logs equal the one-device run's."""
    assert result["replicas"] == 2, result["replicas"]
    stages = [k[:-5] for k in result if k.endswith("_logs")]
    assert {"first", "fit"} <= set(stages), stages
    for stage in stages:
        for what in ("weights", "state", "logs"):
            diff = result[f"{stage}_{what}"]
            assert diff <= atol, f"{name}: {what} after the {stage!r} stage differ from one device by {diff:.3g}"
    # a MirroredVariable whose copies drifted apart would be saved from replica 0 only
    assert result["replica_spread"] <= 1e-6, f"{name}: replicas' copies differ by {result['replica_spread']:.3g}"


@pytest.fixture(scope="module")
def mirrored_report(tmp_path_factory) -> dict:
    """One subprocess checks every balancer under MirroredStrategy over two logical CPUs."""
    out = tmp_path_factory.mktemp("mirrored") / "report.json"
    run_worker("mirrored", str(out), "--balancers", *BALANCERS, *WEIGHTED, *LINE_SEARCH, "--train-on-batch", *TRAIN_ON_BATCH)
    return json.loads(out.read_text())


@pytest.mark.parametrize("name", LINE_SEARCH)
def test_line_search_under_mirrored_strategy_matches_one_device(mirrored_report, name):
    """The batched search over two replicas takes the sequential one-device search's step sizes."""
    result = mirrored_report[name]
    assert_matches_one_device(name, result)
    logs = result["logs"]["fit"]
    assert max(logs["trials"]) > 1, f"{name}: eta_ub = 4 should fail some trials: {logs}"
    assert logs["skipped"] == [0.0, 0.0, 0.0], logs


@pytest.mark.parametrize("name", BALANCERS + WEIGHTED)
def test_mirrored_strategy_matches_one_device(mirrored_report, name):
    result = mirrored_report[name]
    assert_matches_one_device(name, result)
    assert ("batch_logs" in result) == (name in TRAIN_ON_BATCH)
    for stage, logs in result["logs"].items():  # unscaled: the same numbers one device logs, and they add up
        np.testing.assert_allclose(logs["loss"], np.add(logs["left_loss"], logs["right_loss"]), rtol=1e-5,
                                   err_msg=f"{name}, {stage}")
        assert min(logs["left_loss"]) > 1.0, f"{name}: a 10-class cross-entropy this early is ~2.3: {logs}"


def test_balancer_state_moved_under_the_strategy(mirrored_report):
    """The state compared above is not trivially equal: it changed during training."""
    state = {name: mirrored_report[name]["state"] for name in BALANCERS}
    assert np.abs(np.subtract(state["gradnorm"]["task_weights"], 1.0)).max() > 1e-4, state["gradnorm"]
    assert np.abs(state["uncertainty"]["log_variances"]).max() > 1e-3, state["uncertainty"]
    assert state["pcgrad"]["steps"] == 6.0, state["pcgrad"]
    # hybrid: GradNorm phase for two epochs, then the switch (epsilon=10) and an MGDA-UB epoch
    assert state["hybrid"]["phase"] == 1.0, state["hybrid"]
    assert mirrored_report["hybrid"]["logs"]["fit"]["hybrid_phase"] == [0.0, 1.0, 1.0]
    for name in ("mgda", "mgda_ub", "hybrid"):
        assert "pareto_stationary" in mirrored_report[name]["logs"]["fit"], name


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_matches_one_process(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    jobs = {}
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = {**os.environ, "TF_CONFIG": config, "TF_CPP_MIN_LOG_LEVEL": "2"}
        jobs[f"worker{index}"] = subprocess.Popen(
            [sys.executable, str(WORKER), "worker", str(tmp_path / f"worker{index}.npz"),
             "--run-folder", str(tmp_path / f"run{index}")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    jobs["single"] = subprocess.Popen([sys.executable, str(WORKER), "single", str(tmp_path / "single.npz")],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    errors = {}
    try:
        for name, job in jobs.items():
            try:
                _, errors[name] = job.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                job.kill()
                _, errors[name] = job.communicate()
                errors[name] += f"\n[timed out after {TIMEOUT}s]"
    finally:
        for job in jobs.values():
            if job.poll() is None:
                job.kill()
    failed = {n: j.returncode for n, j in jobs.items() if j.returncode != 0}
    assert not failed, "\n\n".join(f"{n} exited with {failed[n]}; stderr tail:\n{stderr_tail(errors[n])}"
                                   for n in failed)

    results = {n: dict(np.load(tmp_path / f"{n}.npz")) for n in jobs}
    assert int(results["worker0"]["replicas"]) == 2 and int(results["single"]["replicas"]) == 1
    finals = {n: {k: v for k, v in r.items() if k.startswith("final:")} for n, r in results.items()}
    assert finals["single"] and set(finals["worker0"]) == set(finals["single"])
    moved = max(np.abs(v - results["single"]["initial:" + k[len("final:"):]]).max()
                for k, v in finals["single"].items())
    assert moved > 1e-3, "the reference did not train"
    for key, value in finals["single"].items():
        np.testing.assert_array_equal(finals["worker0"][key], finals["worker1"][key], err_msg=key)
        np.testing.assert_allclose(finals["worker0"][key], value, rtol=0, atol=ATOL, err_msg=key)
    logged = {k for k in results["single"] if k.startswith("history:")}
    assert logged and logged == {k for k in results["worker0"] if k.startswith("history:")}, logged
    for key, value in results["single"].items():  # the logs: unscaled global means
        if key in logged:
            np.testing.assert_allclose(results["worker0"][key], value, rtol=0, atol=ATOL, err_msg=key)
    # both workers were handed a run folder: only the chief (worker 0) writes one
    from mtlzoo.cli.run_folder import RunFolder

    chief = RunFolder(tmp_path / "run0")
    assert [row["epoch"] for row in chief.history_rows()] == [0, 1] and chief.checkpoint_path.exists()
    assert not (tmp_path / "run1").exists() or not any((tmp_path / "run1").iterdir())


@pytest.mark.slow
def test_synchronized_batch_norm_tree_matches_one_device(tmp_path):
    """``lenet_bn_tree`` (3 shared blocks) under MirroredStrategy, with batch norms synchronized.

    Keras' default unsynchronized ``BatchNormalization`` normalizes each replica's
    half batch and lets each replica keep its own moving statistics, so only the
    synchronized variant can equal one device.
    """
    out = tmp_path / "batchnorm.json"
    run_worker("batchnorm", str(out), "--balancers", "mgda_ub", "hybrid", "--train-on-batch",
               "--synchronized-bn")
    for name, result in json.loads(out.read_text()).items():
        assert_matches_one_device(name, result, atol=1e-4)  # moments over all replicas round differently
