"""``mtlzoo train``: tiny runs (multidigits, 1-2 epochs, batch 256) through click's CliRunner."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import mtlzoo
from mtlzoo.cli import main
from mtlzoo.cli import recipe_run as train_module

TINY = ["--batch-size", "256"]


def _train(run_dir, *args):
    return CliRunner().invoke(main, ["train", "--run-dir", str(run_dir), *TINY, *args])


def _json(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished one-epoch default run (shared; tests that change it work on a copy)."""
    run_dir = tmp_path_factory.mktemp("runs") / "one_epoch"
    result = _train(run_dir, "--epochs", "1")
    assert result.exit_code == 0, result.output
    return run_dir, result.output


def test_run_folder_holds_config_history_checkpoints_model_and_evaluation(finished_run):
    run_dir, output = finished_run
    for name in ("config.json", "history.csv", "history.json", "backup/epoch-1.weights.h5",
                 "backup/training_metadata.json", "checkpoints/last.keras", "model.keras", "evaluation.json"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert "6/6" in output and "left: accuracy" in output  # a progress line (1437 samples / 256) and the result

    config = _json(run_dir / "config.json")
    assert config["options"] == {"model": "multimnist_lenet", "data": "multidigits", "balancer": "mgda_ub",
                                 "epochs": 1, "batch_size": 256, "optimizer": "sgd", "lr": 0.01, "seed": 0,
                                 "run_dir": str(run_dir), "data_dir": None, "line_search": None}
    assert config["training_recipe"]["name"] == "multidigits"
    assert config["recipe"]["balancer"] == "mgda_ub"
    assert config["optimizer"]["config"]["momentum"] == 0.9
    assert config["versions"]["keras"] == keras.__version__
    assert config["versions"]["mtlzoo"] == mtlzoo.__version__ and "tensorflow" in config["versions"]

    history = _json(run_dir / "history.json")
    assert history["epoch"] == [0]
    assert {"loss", "left_loss", "right_loss", "left_accuracy", "right_accuracy"} <= set(history)
    assert not any(k.startswith("val_") for k in history)  # no validation data: no val_ columns
    assert (run_dir / "history.csv").read_text().count("\n") == 2  # header + one epoch

    evaluation = _json(run_dir / "evaluation.json")
    assert evaluation["epochs"] == 1 and evaluation["split"] == "test"
    assert set(evaluation["tasks"]) == {"left", "right"}
    assert all(0.0 <= evaluation["tasks"][t]["accuracy"] <= 1.0 for t in ("left", "right"))

    # model.keras is the trained model: it reproduces the saved test metrics.
    model = keras.models.load_model(run_dir / "model.keras")
    again = model.evaluate(mtlzoo.data.get("multidigits", split="test", batch_size=256), return_dict=True,
                           verbose=0)
    np.testing.assert_allclose(again["left_accuracy"], evaluation["tasks"]["left"]["accuracy"], atol=1e-6)
    np.testing.assert_allclose(again["right_loss"], evaluation["tasks"]["right"]["loss"], rtol=1e-5)


def test_rerunning_a_finished_run_does_not_retrain(finished_run):
    run_dir, _ = finished_run
    before = (run_dir / "model.keras").stat().st_mtime_ns
    result = _train(run_dir, "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "finished" in result.output and "--epochs" in result.output
    assert "6/6" not in result.output
    assert (run_dir / "model.keras").stat().st_mtime_ns == before


def test_different_options_fail_naming_them(finished_run):
    run_dir, _ = finished_run
    config = (run_dir / "config.json").read_text()
    result = _train(run_dir, "--epochs", "1", "--lr", "0.05", "--balancer", "uniform")
    assert result.exit_code != 0
    assert "--lr 0.01 (saved) vs 0.05 (now)" in result.output
    assert "--balancer 'mgda_ub' (saved) vs 'uniform' (now)" in result.output
    assert result.output.count("(saved)") == 2 and "new --run-dir" in result.output
    plain_sgd = _train(run_dir, "--epochs", "1", "--optimizer", "sgd")  # same name and lr, no momentum
    assert plain_sgd.exit_code != 0
    assert "--optimizer sgd with momentum 0.9 (saved) vs 0.0 (now)" in plain_sgd.output
    assert (run_dir / "config.json").read_text() == config


def test_larger_epochs_continue_a_finished_run(finished_run, tmp_path):
    run_dir = tmp_path / "extended"
    shutil.copytree(finished_run[0], run_dir)
    first = _json(run_dir / "history.json")
    result = _train(run_dir, "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "Resuming" in result.output and "Epoch 2/2" in result.output and "Epoch 1/2" not in result.output
    history = _json(run_dir / "history.json")
    assert history["epoch"] == [0, 1]
    assert history["loss"][0] == first["loss"][0]
    assert history["loss"][1] < history["loss"][0]  # continued from the trained weights
    assert _json(run_dir / "evaluation.json")["epochs"] == 2
    assert _json(run_dir / "config.json")["options"]["epochs"] == 2


class _Kill(keras.callbacks.Callback):
    """Stops training like Ctrl-C at the start of the second epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_an_interrupted_run_resumes_from_its_last_finished_epoch(tmp_path, monkeypatch):
    run_dir = tmp_path / "killed"
    callbacks = train_module._callbacks
    monkeypatch.setattr(train_module, "_callbacks", lambda run: [*callbacks(run), _Kill()])
    killed = _train(run_dir, "--epochs", "2", "--balancer", "uncertainty")
    assert killed.exit_code == 130
    assert "rerun the same command to resume" in killed.output
    assert not (run_dir / "evaluation.json").exists() and not (run_dir / "model.keras").exists()
    assert _json(run_dir / "backup" / "training_metadata.json")["epoch"] == 1
    monkeypatch.setattr(train_module, "_callbacks", callbacks)
    epoch_one = keras.models.load_model(run_dir / "checkpoints" / "last.keras")

    # Asking for the one finished epoch restores it without training: weights, optimizer and the
    # balancer's variables (uncertainty's log-variances) all come back from backup/.
    restored = _train(run_dir, "--epochs", "1", "--balancer", "uncertainty")
    assert restored.exit_code == 0, restored.output
    assert "1 epochs already trained" in restored.output and "6/6" not in restored.output
    final = keras.models.load_model(run_dir / "model.keras")
    assert any(not np.allclose(v, 0.0) for v in final.balancer.get_weights())  # trained log-variances
    for before, after in ((epoch_one, final), (epoch_one.balancer, final.balancer),
                          (epoch_one.optimizer, final.optimizer)):
        a, b = ([np.asarray(v) for v in obj.variables] for obj in (before, after))
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)

    resumed = _train(run_dir, "--epochs", "2", "--balancer", "uncertainty")
    assert resumed.exit_code == 0, resumed.output
    assert "Resuming" in resumed.output and "Epoch 2/2" in resumed.output and "Epoch 1/2" not in resumed.output
    assert _json(run_dir / "history.json")["epoch"] == [0, 1]
    assert _json(run_dir / "evaluation.json")["epochs"] == 2


def test_same_seed_same_history_and_default_run_dir(finished_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MTLZOO_DATA_DIR", str(tmp_path / "data"))
    default = CliRunner().invoke(main, ["train", *TINY, "--epochs", "1", "--seed", "3"])
    assert default.exit_code == 0, default.output
    a_dir = tmp_path / "runs" / "multimnist_lenet-multidigits-mgda_ub-seed3"
    assert _json(a_dir / "config.json")["options"]["data_dir"] == str(tmp_path / "data")  # from the env
    again = _train(tmp_path / "b", "--epochs", "1", "--seed", "3")
    assert again.exit_code == 0, again.output
    a, b, seed0 = (_json(d / "history.json") for d in (a_dir, tmp_path / "b", finished_run[0]))
    assert a == b
    assert a["loss"] != seed0["loss"]


@pytest.mark.parametrize("option, value, known", [("--model", "no_such_model", "multimnist_lenet"),
                                                  ("--data", "no_such_data", "multidigits"),
                                                  ("--balancer", "no_such_balancer", "gradnorm"),
                                                  ("--optimizer", "no_such_optimizer", "adam")])
def test_unknown_names_list_the_known_ones(tmp_path, option, value, known):
    result = _train(tmp_path / "run", option, value)
    assert result.exit_code == 2
    assert value in result.output and known in result.output
    assert not (tmp_path / "run").exists()


def test_dataset_that_does_not_fit_the_model_fails_before_training(tmp_path):
    result = _train(tmp_path / "run", "--model", "lenet_bn_tree", "--data", "multidigits")
    assert result.exit_code == 1
    assert "does not fit the model" in result.output and "mnist" in result.output
    assert "6/6" not in result.output and not (tmp_path / "run").exists()


def test_line_search_flag_is_used_and_recorded(tmp_path):
    result = _train(tmp_path / "ls", "--epochs", "1", "--line-search", "classic")
    assert result.exit_code == 0, result.output
    assert _json(tmp_path / "ls" / "config.json")["options"]["line_search"] == "classic"
    history = _json(tmp_path / "ls" / "history.json")
    assert {"eta", "trials", "skipped", "eta_ub"} <= set(history)
    bad = _train(tmp_path / "ls2", "--epochs", "1", "--line-search", "fast", "--balancer", "uniform")
    assert bad.exit_code != 0 and "latent balancer" in bad.output
