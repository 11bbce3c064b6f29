"""The newcomer's path: ``mtlzoo export NAME --weights W --request FILE``, ``mtlzoo serve``, one predict; no data files.

Also ``mtlzoo zoo`` showing the model cards, and the one-line errors of ``export --weights``.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import requests
from click.testing import CliRunner

import mtlzoo
from mtlzoo import testing
from mtlzoo.cli import main
from mtlzoo.models import zoo_weights


def _run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def _error_line(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output  # click's usage lines above it, then one error line
    return lines[0]


def _predict(directory, name, request_file) -> dict:
    """Start ``mtlzoo serve``'s server on ``directory``, POST ``request_file``, stop it."""
    from mtlzoo.tools.serving import ModelServer

    server = ModelServer(str(directory), port=0).start()
    try:
        reply = requests.post(f"{server.url}/v1/models/{name}:predict", data=request_file.read_bytes(), timeout=60)
    finally:
        server.stop()
    assert reply.status_code == 200, reply.text
    return reply.json()


def _check_path(tmp_path, weights, expected_model):
    """export -> request file -> serve -> predict; the answers are ``expected_model``'s on the examples."""
    start = time.perf_counter()
    out, request = tmp_path / "exports" / "multimnist_lenet", tmp_path / "request.json"
    result = _run("export", "multimnist_lenet", "--weights", weights, "--out", out, "--request", request)
    images, labels = zoo_weights.examples("multimnist")
    assert f"Exported multimnist_lenet to {out / '1'}" in result.output
    assert f"labels left {' '.join(map(str, labels['left']))}; right" in result.output
    assert f"curl -d @{request} http://127.0.0.1:8501/v1/models/multimnist_lenet:predict" in result.output
    sent = json.loads(request.read_text())
    assert list(sent) == ["instances"]
    np.testing.assert_array_equal(np.asarray(sent["instances"], dtype=np.float32), images)
    predictions = _predict(tmp_path / "exports", "multimnist_lenet", request)["predictions"]
    expected = expected_model(images, training=False)
    for task in ("left", "right"):
        got = np.asarray([p[task] for p in predictions])
        np.testing.assert_allclose(got, np.asarray(expected[task]), rtol=1e-4, atol=1e-5)
    return time.perf_counter() - start


def test_export_with_a_weights_file_serves_its_predictions_on_the_example_request(tmp_path):
    testing.seed_everything(0)
    model = mtlzoo.models.get("multimnist_lenet", dropout=0.5)
    path = tmp_path / "mine.weights.h5"
    model.save_weights(str(path))
    _check_path(tmp_path, path, model)


def test_the_shipped_model_answers_a_predict_with_no_training_and_no_data(tmp_path):
    seconds = _check_path(tmp_path, "multimnist", mtlzoo.models.get("multimnist_lenet", weights="multimnist"))
    assert seconds < 120  # README: under a minute on 2 cores; generous for a loaded CI machine


def test_export_weights_errors_are_one_line(tmp_path):
    line = _error_line("export", "multimnist_lenet", "--out", tmp_path / "x")
    assert "'multimnist_lenet' is a zoo model, not a run folder or .keras file; add --weights" in line
    line = _error_line("export", "no_such_model", "--weights", "multimnist", "--out", tmp_path / "x")
    assert "with --weights, SOURCE is a zoo model name; 'no_such_model' is not one" in line
    line = _error_line("export", "lenet_bn_tree", "--weights", "nope", "--out", tmp_path / "x")
    assert "Invalid value for --weights" in line and "no shipped weights 'nope'" in line
    testing.seed_everything(0)
    path = tmp_path / "bn.weights.h5"
    mtlzoo.models.get("lenet_bn_tree", width=2).save_weights(str(path))
    (tmp_path / "bn.json").write_text(json.dumps({"model": "lenet_bn_tree", "model_config": {"width": 2}}))
    line = _error_line("export", "lenet_bn_tree", "--weights", path, "--out", tmp_path / "x", "--request",
                       tmp_path / "r.json")
    assert "no example inputs ship for lenet_bn_tree's data 'mnist_triple'" in line and "Drop --request" in line
    assert not (tmp_path / "x").exists()  # refused before exporting


def test_zoo_shows_the_model_cards(tmp_path, monkeypatch):
    card = {"model": "lenet_bn_tree", "weights": "toy", "data": "planted_mnist", "model_config": {"width": 2},
            "balancer": "hybrid", "epochs": 3, "seed": 0, "commit": "0123456789abcdef", "tree_dirty": False,
            "date": "2026-01-02T03:04:05Z",
            "test": {"examples": 10000, "tasks": {"digit": {"accuracy": 0.98765, "loss": 0.1}}}}
    (tmp_path / "lenet_bn_tree-toy.weights.h5").write_bytes(b"")
    (tmp_path / "lenet_bn_tree-toy.json").write_text(json.dumps(card))
    monkeypatch.setattr(zoo_weights, "FOLDER", tmp_path)
    output = _run("zoo", "lenet_bn_tree", "multimnist_lenet").output
    row = next(line for line in output.splitlines() if line.startswith("lenet_bn_tree"))
    assert row.rstrip().endswith("toy")
    assert ("lenet_bn_tree --weights toy: hybrid on planted_mnist, 3 epochs, seed 0; test accuracy digit 98.77% "
            "(10000 test examples); commit 0123456, 2026-01-02") in output
    rows = [json.loads(line) for line in _run("zoo", "lenet_bn_tree", "--json").output.strip().splitlines()]
    assert rows[-1]["weights"] == {"toy": card}
    assert "Trained weights" not in _run("zoo", "multimnist_lenet").output  # no card in this folder: no lines


@pytest.mark.parametrize("command", [["export", "--help"], ["zoo", "--help"]])
def test_help_shows_the_zoo_weights_path(command):
    output = _run(*command).output
    assert "--weights multimnist --out exports/multimnist_lenet" in output
