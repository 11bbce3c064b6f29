"""A tiny ``mtlzoo train -> evaluate -> export`` on multidigits (offline), checked at each step."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import mtlzoo
from mtlzoo.cli import main

#: One epoch of multimnist_lenet at width 2 on the 1437 MultiDigits training images, 6 batches.
TINY = ["--data", "multidigits", "--epochs", "1", "--batch-size", "256", "--set", "model_config.width=2"]


def _run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "Error" not in result.stderr and "Traceback" not in result.output
    return result


def _json(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``mtlzoo train`` into a fresh run folder: ``(run folder, train output)``."""
    run = tmp_path_factory.mktemp("e2e") / "run"
    result = _run("train", *TINY, "--run-dir", run)
    return run, result.output


def test_train_writes_a_finished_run(trained):
    run, output = trained
    assert "Training multimnist_lenet on multidigits" in output and "left: accuracy" in output
    options = _json(run / "config.json")["options"]
    assert options["model"] == "multimnist_lenet" and options["data"] == "multidigits"
    assert options["epochs"] == 1 and options["model_config"] == {"width": 2}
    evaluation = _json(run / "evaluation.json")
    assert evaluation["epochs"] == 1 and set(evaluation["tasks"]) == {"left", "right"}
    model = keras.models.load_model(run / "model.keras")
    assert model.count_params() < mtlzoo.models.get("multimnist_lenet").count_params() / 10  # width 2


def test_evaluate_reproduces_the_runs_test_metrics(trained, tmp_path):
    run, _ = trained
    out = tmp_path / "evaluation.json"
    result = _run("evaluate", run, "--baseline", f"left={run}", "--baseline", f"right={run}", "--out", out)
    assert "multimnist_lenet on multidigits (test):" in result.output
    assert "Delta-m% against the single-task baselines: +0.00" in result.output  # the run against itself
    got, saved = _json(out), _json(run / "evaluation.json")
    assert got["data"] == "multidigits" and got["split"] == "test" and got["delta_m"] == pytest.approx(0.0)
    for task in ("left", "right"):
        for metric in ("loss", "accuracy"):
            assert got["tasks"][task][metric] == pytest.approx(saved["tasks"][task][metric], rel=1e-5, abs=1e-6)
            assert f"{metric} {saved['tasks'][task][metric]:.4f}" in result.output


def test_export_serves_the_same_predictions_as_the_runs_model(trained, tmp_path):
    run, _ = trained
    out = tmp_path / "exports" / "multimnist_lenet"
    result = _run("export", run, "--out", out)
    assert f"to {out / '1'}" in result.output and "serving_default, task_left, task_right" in result.output
    model = keras.models.load_model(run / "model.keras")
    images = next(iter(mtlzoo.data.get("multidigits", split="test", batch_size=16)))[0].numpy()
    expected = model.predict(images, verbose=0)

    loaded = tf.saved_model.load(str(out / "1"))
    served = loaded.signatures["serving_default"](image=tf.constant(images))
    assert set(served) == {"left", "right"}
    for task in ("left", "right"):
        np.testing.assert_allclose(served[task].numpy(), expected[task], rtol=1e-5, atol=1e-5)
        single = loaded.signatures[f"task_{task}"](image=tf.constant(images))
        np.testing.assert_allclose(single[task].numpy(), expected[task], rtol=1e-5, atol=1e-5)
    info = _json(out / "1" / "assets.extra" / "mtlzoo.json")
    assert "left" in json.dumps(info) and "right" in json.dumps(info)

    again = CliRunner().invoke(main, ["export", str(run), "--out", str(out), "--version", "1"])
    assert again.exit_code == 1 and "Traceback" not in again.output  # an export is never overwritten
    assert again.stderr.strip().splitlines() == [again.stderr.strip()]
    assert again.stderr.startswith(f"Error: export: {out / '1'} exists already") and "(2)" in again.stderr
