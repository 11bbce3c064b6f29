"""``mtlzoo train RECIPE`` whose ``model:`` is a saved .keras file of the user's own functional model."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from mtlzoo.cli import main

L = keras.layers


def _train(*args):
    return CliRunner().invoke(main, ["train", *args])


def save_digits_model(path):
    """A small functional CNN for multidigits' 28x28x1 images with the outputs {left, right}."""
    image = keras.Input((28, 28, 1), name="image")
    h = L.Flatten(name="flat")(L.MaxPooling2D(4, name="pool")(L.Conv2D(4, 3, activation="relu", name="conv")(image)))
    h = L.Dense(16, activation="relu", name="shared_dense")(h)
    model = keras.Model(image, {"left": L.Dense(10, name="left_logits")(h),
                                "right": L.Dense(10, name="right_logits")(h)}, name="my_digits")
    model.save(path)
    return model


def test_a_recipe_trains_a_saved_keras_model_into_a_run_folder(tmp_path):
    original = save_digits_model(tmp_path / "my_digits.keras")
    recipe = tmp_path / "mine.yaml"
    recipe.write_text(f"model: {tmp_path / 'my_digits.keras'}\ndata: multidigits\ndata_config: {{limit: 256}}\n"
                      "loss: sparse_categorical_crossentropy_from_logits\n"
                      "metrics: {left: [accuracy], right: [accuracy]}\n"
                      "balancer: mgda_ub\noptimizer: adam\nepochs: 2\nbatch_size: 64\n")
    run_dir = tmp_path / "run"
    result = _train(str(recipe), "--run-dir", str(run_dir))
    assert result.exit_code == 0, result.output
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert sorted(evaluation["tasks"]) == ["left", "right"]
    assert all(0 <= evaluation["tasks"][t]["accuracy"] <= 1 for t in ("left", "right"))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["options"]["loss"] == "sparse_categorical_crossentropy_from_logits"
    assert config["model"]["name"] == "my_digits"
    trained = keras.models.load_model(run_dir / "model.keras")
    assert trained.tree.paths == {"left": ("trunk", "head_left"), "right": ("trunk", "head_right")}
    assert trained.balancer.name == "mgda_ub" and trained.recipe["loss"].endswith("_from_logits")
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == [0, 1] and len(history["left_accuracy"]) == 2
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype="float32")
    assert not np.allclose(trained.predict(x, verbose=0)["left"], original.predict(x, verbose=0)["left"])


def test_the_default_run_folder_is_named_after_the_file(tmp_path, monkeypatch):
    from mtlzoo.cli.recipe_run import resolve
    from mtlzoo.training import Recipe

    save_digits_model(tmp_path / "digits_net.keras")
    monkeypatch.chdir(tmp_path)
    recipe = Recipe({"model": "digits_net.keras", "loss": "sparse_categorical_crossentropy_from_logits"})
    entry, _, options = resolve(recipe, 3, None, None)
    assert options["run_dir"] == "runs/digits_net-multidigits-uniform-seed3" and options["model"] == "digits_net.keras"
    model = entry.build()
    assert model.tasks == ("left", "right")
    assert model.recipe == {"loss": recipe.loss, "data": "multidigits"}


def one_output(path):
    x = keras.Input((28, 28, 1), name="image")
    keras.Model(x, {"digit": L.Dense(10, name="digit_logits")(L.Flatten(name="flat")(x))}).save(path)


def shared_twice(path):
    a, b = keras.Input((28, 28, 1), name="a"), keras.Input((28, 28, 1), name="b")
    dense = L.Dense(4, name="siamese")
    keras.Model([a, b], {"left": dense(L.Flatten(name="fa")(a)), "right": dense(L.Flatten(name="fb")(b))}).save(path)


def not_a_model(path):
    path.write_text("not a zip file")


@pytest.mark.parametrize("make, message", [
    (None, "does not exist"),
    (not_a_model, "is not a Keras model file that loads"),
    (one_output, "has one output ('digit')"),
    (shared_twice, "layer 'siamese'"),
])
def test_a_file_that_is_not_a_multi_output_functional_model_is_refused_with_the_reason(tmp_path, make, message):
    path = tmp_path / "bad.keras"
    if make is not None:
        make(path)
    result = _train("--model", str(path), "--set", "loss=mse", "--run-dir", str(tmp_path / "run"))
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in errors[0] and "bad.keras" in errors[0], result.output
    assert not (tmp_path / "run").exists()


def test_a_keras_model_without_a_loss_is_refused(tmp_path):
    save_digits_model(tmp_path / "net.keras")
    result = _train("--model", str(tmp_path / "net.keras"), "--run-dir", str(tmp_path / "run"))
    assert result.exit_code != 0 and "loss:" in result.output and "['left', 'right']" in result.output


@pytest.mark.parametrize("setting, message", [("loss=3", "loss must be"), ("metrics={left: 3}", "metrics must be")])
def test_bad_loss_and_metrics_keys_are_refused(tmp_path, setting, message):
    result = _train("--set", setting, "--run-dir", str(tmp_path / "run"))
    assert result.exit_code != 0 and message in result.output
