"""Trained weights shipped with the zoo: ``mtlzoo.models.get(name, weights=...)``, the model cards, the examples.

The shipped files are checked against what they claim: the card's hash, parameter count and build
options (fast), and its test metrics re-measured on the test split built from ``mnist.npz`` (slow).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

import mtlzoo
from mtlzoo import testing
from mtlzoo.models import zoo_weights

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
MNIST = Path(os.environ.get("MTLZOO_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist.npz"))
#: What the zoo ships (issue 20): (model, weights) -> the data its card must name.
#: cross_stitch_lenet's weights are not shipped yet (README "Trained weights"): its 30-epoch run is unfinished.
EXPECTED = {("lenet_bn_tree", "planted_mnist"): "planted_mnist", ("multimnist_lenet", "multimnist"): "multimnist"}


def _images(batch=4, seed=0):
    return np.random.default_rng(seed).random((batch, 28, 28, 1), dtype="float32")


def _saved(tmp_path, card=None, **config):
    """A random multimnist_lenet's weights in ``tmp_path`` (and a card beside them); returns (path, model)."""
    testing.seed_everything(0)
    model = mtlzoo.models.get("multimnist_lenet", **config)
    path = tmp_path / "mine.weights.h5"
    model.save_weights(str(path))
    if card is not None:
        (tmp_path / "mine.json").write_text(json.dumps(card))
    return path, model


def test_weights_path_loads_the_same_network(tmp_path):
    path, model = _saved(tmp_path, width=2)
    loaded = mtlzoo.models.get("multimnist_lenet", weights=path, width=2)
    testing.assert_outputs_close(loaded(_images(), training=False), model(_images(), training=False), atol=0)
    loaded = mtlzoo.models.get("multimnist_lenet", weights=str(path), width=2)  # a string path too
    testing.assert_outputs_close(loaded(_images(), training=False), model(_images(), training=False), atol=0)


def test_a_card_beside_the_file_gives_the_build_options(tmp_path):
    path, model = _saved(tmp_path, card={"model": "multimnist_lenet", "model_config": {"width": 3, "dropout": 0.5}},
                         width=3, dropout=0.5)
    loaded = mtlzoo.models.get("multimnist_lenet", weights=path)  # no width given: the card's
    assert loaded.count_params() == model.count_params()
    assert loaded.block_layer("trunk").get_layer("conv2_dropout").rate == 0.5
    plain = mtlzoo.models.get("multimnist_lenet", weights=path, dropout=0.0)  # overrides win; same test outputs
    testing.assert_outputs_close(plain(_images(), training=False), model(_images(), training=False), atol=1e-6)


def test_bad_weights_are_one_line_errors_naming_the_fix(tmp_path, monkeypatch):
    path, _ = _saved(tmp_path, width=2)
    with pytest.raises(ValueError, match=r"do not fit multimnist_lenet built with its defaults .*options the "):
        mtlzoo.models.get("multimnist_lenet", weights=path)
    with pytest.raises(ValueError, match="does not exist; pass an existing .weights.h5"):
        mtlzoo.models.get("multimnist_lenet", weights=tmp_path / "none.weights.h5")
    with pytest.raises(ValueError, match="whole saved model; load it with mtlzoo.tools.load_trained"):
        mtlzoo.models.get("multimnist_lenet", weights="model.keras")
    with pytest.raises(ValueError, match="pass a .weights.h5 file"):
        mtlzoo.models.get("multimnist_lenet", weights=tmp_path / "w.h5")
    with pytest.raises(ValueError, match="existing model"):
        mtlzoo.models.get(mtlzoo.models.get("multimnist_lenet", width=2), weights=path)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for stem in ("multimnist_lenet-alpha", "multimnist_lenet-beta"):
        (shipped / f"{stem}.weights.h5").write_bytes(path.read_bytes())
        (shipped / f"{stem}.json").write_text(json.dumps({"model": "multimnist_lenet", "model_config": {"width": 2}}))
    (shipped / "multimnist_lenet-nocard.weights.h5").write_bytes(path.read_bytes())  # no card: not shipped
    monkeypatch.setattr(zoo_weights, "FOLDER", shipped)
    assert mtlzoo.models.weights_names("multimnist_lenet") == ("alpha", "beta")
    assert zoo_weights.shipped() == [("multimnist_lenet", "alpha"), ("multimnist_lenet", "beta")]
    with pytest.raises(ValueError, match=r"no shipped weights 'gamma'; shipped: alpha, beta, or pass the path"):
        mtlzoo.models.get("multimnist_lenet", weights="gamma")
    with pytest.raises(ValueError, match="ships without weights"):
        mtlzoo.models.get("lenet_bn_tree", weights="alpha")
    with pytest.raises(ValueError, match="Unknown zoo model 'nope'. Known zoo models: cross_stitch_lenet"):
        mtlzoo.models.weights_names("nope")
    assert mtlzoo.models.get("multimnist_lenet", weights="beta").count_params() == _saved(tmp_path, width=2)[1] \
        .count_params()
    (shipped / "multimnist_lenet-beta.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON.*make_zoo_weights.py"):
        mtlzoo.models.card("multimnist_lenet", "beta")


def test_shipped_examples_are_multimnist_test_images():
    images, labels = zoo_weights.examples("multimnist")
    assert images.shape == (4, 28, 28, 1) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.max() > 0.5
    np.testing.assert_array_equal(np.round(images * 255) / 255, images)  # uint8 / 255, as the loader yields
    assert sorted(labels) == ["left", "right"]
    assert all(v.shape == (4,) and ((0 <= v) & (v <= 9)).all() for v in labels.values())
    with pytest.raises(ValueError, match="no example inputs are shipped for data 'cityscapes'; shipped: multimnist"):
        zoo_weights.examples("cityscapes")


def test_package_data_ships_every_file_of_the_weights_folder():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    ours = patterns["mtlzoo.models"]
    files = sorted(p.relative_to(ROOT / "models").as_posix() for p in (ROOT / "models" / "weights").iterdir())
    assert files, "models/weights/ is empty"
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in ours)]
    assert not unshipped, f"pyproject package-data does not ship {unshipped}"
    total = sum((ROOT / "models" / f).stat().st_size for f in files)
    assert total < 1_000_000, f"the shipped weights are {total} bytes; a few hundred KB was the budget"


def test_the_zoo_ships_the_issue_20_weights_with_complete_cards():
    assert {pair: zoo_weights.card(*pair)["data"] for pair in zoo_weights.shipped()} == EXPECTED
    for model_name, weights in EXPECTED:
        card = mtlzoo.models.card(model_name, weights)
        assert {"model", "weights", "data", "model_config", "recipe", "seed", "epochs", "params", "test", "commit",
                "date", "sha256", "command"} <= set(card)
        assert (card["model"], card["weights"]) == (model_name, weights)
        path = zoo_weights.weights_path(model_name, weights)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == card["sha256"]
        model = mtlzoo.models.get(model_name, weights=weights)  # loads: the card's options fit the file
        assert model.count_params() == card["params"]
        assert set(card["test"]["tasks"]) == set(model.tasks)
        assert card["recipe"]["model"] == model_name and card["recipe"]["model_config"] == card["model_config"]
    parity = mtlzoo.models.card("multimnist_lenet", "multimnist")
    assert parity["balancer"] == "mgda_ub" and parity["epochs"] == 100
    assert parity["model_config"] == {"dropout": 0.5} and parity["recipe"]["schedule"] == {"every": 10, "factor": 0.85}


def _measured(model_name, weights):
    card = mtlzoo.models.card(model_name, weights)
    model = mtlzoo.models.get(model_name, weights=weights)
    model.compile()
    test = mtlzoo.data.get(card["data"], split="test", data_dir=MNIST.parent, download=False)
    logs = model.evaluate(test, return_dict=True, verbose=0)
    return card, {t: float(logs[f"{t}_accuracy"]) for t in model.tasks}


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_file(), reason="needs the shared mnist.npz")
@pytest.mark.parametrize("model_name, weights", sorted(EXPECTED))
def test_shipped_weights_reproduce_their_cards_test_accuracy(model_name, weights):
    card, accuracy = _measured(model_name, weights)
    for task, value in accuracy.items():
        assert value == pytest.approx(card["test"]["tasks"][task]["accuracy"], abs=1e-3), task  # <= 10 of 10,000


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_file(), reason="needs the shared mnist.npz")
@pytest.mark.xfail(strict=True, reason="issue 20's target (96.5 / 95.0) is not met: the shipped parity weights "
                                       "measure 95.90 / 94.61 (README 'Trained weights'); passes once they do")
def test_shipped_multimnist_lenet_meets_the_issue_20_accuracy():
    _, accuracy = _measured("multimnist_lenet", "multimnist")
    assert accuracy["left"] >= 0.965 and accuracy["right"] >= 0.950, accuracy
