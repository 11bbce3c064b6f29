"""``mtlzoo train --strategy / --mixed-precision / --jit-compile`` (and the recipe keys of the same names).

The mirrored check runs ``mtlzoo train`` in fresh processes (the logical CPU devices are
fixed when TensorFlow starts): with ``MTLZOO_LOGICAL_CPUS=2 --strategy mirrored`` it must
end with the weights and history of the one-device run on the same global batches.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import mtlzoo
from mtlzoo.cli import main

TINY = ["--batch-size", "256", "--set", "model_config.width=2"]
ATOL = 1e-5


def _train(run_dir, *args):
    return CliRunner().invoke(main, ["train", "--run-dir", str(run_dir), *TINY, *args])


def _weights(run_dir) -> dict:
    model = mtlzoo.load_model(run_dir / "model.keras")
    return {v.path: v.numpy() for v in model.weights}


def _history(run_dir) -> list[dict]:
    with open(run_dir / "history.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


@pytest.mark.parametrize("args, words", [
    (["--strategy", "gpus"], "'gpus' is not one of 'auto', 'one_device', 'mirrored', 'multi_worker'"),
    (["--set", "strategy=gpus"], "strategy must be auto, one_device, mirrored or multi_worker, got 'gpus'"),
    (["--set", "jit_compile=1"], "jit_compile must be true, false or null"),
    (["--strategy", "multi_worker"], "mtlzoo train cannot run multi_worker yet"),
])
def test_bad_strategy_values_are_named_in_one_line(tmp_path, args, words):
    result = _train(tmp_path / "run", "--epochs", "1", *args)
    assert result.exit_code == 2, result.output
    assert words in result.output, result.output
    assert not (tmp_path / "run").exists()


def test_bad_logical_cpu_count_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLZOO_LOGICAL_CPUS", "two")
    result = _train(tmp_path / "run", "--epochs", "1", "--strategy", "mirrored")
    assert result.exit_code == 2 and "MTLZOO_LOGICAL_CPUS must be a whole number >= 1" in result.output, result.output


def test_mixed_precision_trains_and_is_a_saved_option(tmp_path):
    import keras

    result = _train(tmp_path / "run", "--epochs", "1", "--mixed-precision")
    assert result.exit_code == 0, result.output
    assert keras.mixed_precision.dtype_policy().name == "float32"  # the policy is restored after the build
    model = mtlzoo.load_model(tmp_path / "run" / "model.keras")
    assert "mixed_float16" in {layer.dtype_policy.name for layer in model.blocks.values()}  # float16 compute
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    assert all(np.isfinite(list(row.values())).all() for row in _history(tmp_path / "run"))
    options = json.loads((tmp_path / "run" / "config.json").read_text())["options"]
    assert options["mixed_precision"] is True
    again = _train(tmp_path / "run", "--epochs", "2")  # resuming without it would change the numerics
    assert again.exit_code != 0 and "--mixed-precision True (saved) vs False (now)" in again.output, again.output


def _train_process(run_dir, balancer, env_extra, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env_extra}
    env.pop("MTLZOO_LOGICAL_CPUS", None) if not env_extra else None
    done = subprocess.run([sys.executable, "-m", "mtlzoo", "train", "--run-dir", str(run_dir), *TINY,
                           "--epochs", "2", "--balancer", balancer, *args],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("balancer", ["uniform", "mgda_ub", "upgrad", "imtl"])
def test_mirrored_over_two_logical_cpus_equals_one_device(tmp_path, balancer):
    _train_process(tmp_path / "one", balancer, {})
    _train_process(tmp_path / "two", balancer, {"MTLZOO_LOGICAL_CPUS": "2"}, "--strategy", "mirrored")
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert set(one) == set(two)
    initial = mtlzoo.models.get("multimnist_lenet", width=2)  # the run moved the weights
    assert max(float(np.abs(one[v.path] - v.numpy()).max()) for v in initial.weights if v.path in one) > 1e-3
    for key, value in one.items():
        np.testing.assert_allclose(two[key], value, rtol=0, atol=ATOL, err_msg=f"{balancer}: {key}")
    for a, b in zip(_history(tmp_path / "one"), _history(tmp_path / "two")):
        assert set(a) == set(b)
        for key in a:
            assert abs(a[key] - b[key]) <= ATOL, (balancer, key, a[key], b[key])
