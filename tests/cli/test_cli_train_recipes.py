"""``mtlzoo train RECIPE --set KEY=VALUE``: recipes on the command line, single-task runs, bad overrides."""

from __future__ import annotations

import json

import keras
import pytest
from click.testing import CliRunner

from mtlzoo.cli import main


def _train(*args):
    return CliRunner().invoke(main, ["train", *args])


def test_recipe_with_overrides_trains_a_single_task_run_and_records_the_recipe(tmp_path):
    run_dir = tmp_path / "left"
    result = _train("multidigits", "--set", "epochs=1", "--set", "model_config.width=2", "--set", "task=left",
                    "--set", "schedule={every: 1, factor: 0.5}", "--batch-size", "256", "--run-dir", str(run_dir))
    assert result.exit_code == 0, result.output
    assert "task left alone" in result.output
    config = json.loads((run_dir / "config.json").read_text())
    assert config["options"]["task"] == "left" and config["options"]["model_config"] == {"width": 2}
    assert config["training_recipe"]["values"]["schedule"] == {"every": 1, "factor": 0.5}
    assert config["optimizer"]["config"]["learning_rate"]["class_name"] == "ExponentialDecay"
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert list(evaluation["tasks"]) == ["left"] and 0 <= evaluation["tasks"]["left"]["accuracy"] <= 1
    model = keras.models.load_model(run_dir / "model.keras")
    assert list(model.tasks) == ["left"]
    # the flags override the recipe; a different override of the same run folder is refused, naming it
    again = _train("multidigits", "--set", "epochs=1", "--set", "model_config.width=3", "--set", "task=left",
                   "--set", "schedule={every: 1, factor: 0.5}", "--batch-size", "256", "--run-dir", str(run_dir))
    assert again.exit_code != 0 and "--model-config {'width': 2} (saved) vs {'width': 3} (now)" in again.output


def test_a_recipe_file_is_trained(tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("model: multimnist_lenet\nmodel_config: {width: 2}\ndata: multidigits\nbalancer: uniform\n"
                      "epochs: 1\nbatch_size: 512\n")
    result = _train(str(recipe), "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["options"]["balancer"], config["options"]["batch_size"]) == ("uniform", 512)
    assert config["training_recipe"]["name"] == "mine"


@pytest.mark.parametrize("args, message", [
    (["--set", "epochs"], "write KEY=VALUE"),
    (["--set", "widht=2"], "unknown key 'widht'"),
    (["--set", "epochs=0"], "epochs must be a positive integer"),
    (["--set", "task=middle"], "unknown task 'middle'"),
    (["--set", "model_config.depth=2", "--set", "epochs=1"], "model_config"),
    (["no_such_recipe"], "unknown recipe 'no_such_recipe'"),
])
def test_bad_recipe_input_is_one_line_naming_the_fix(tmp_path, args, message):
    result = _train(*args, "--run-dir", str(tmp_path / "run"))
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run" / "config.json").exists()


def test_train_help_lists_the_shipped_recipes():
    result = _train("--help")
    assert result.exit_code == 0
    assert "mtlzoo train multimnist" in result.output and "multimnist_shift_line_search" in result.output
