"""``Recipe``: shipped YAML recipes, ``--set`` overrides, validation, optimizer and schedule resolution."""

from __future__ import annotations

import keras
import pytest

from mtlzoo.training import Recipe
from mtlzoo.training.recipe import FIELDS


def test_every_shipped_recipe_loads_names_a_zoo_model_and_dataset_and_documents_its_command():
    import mtlzoo
    from mtlzoo import shipped_recipes

    names = Recipe.names()
    assert {"multidigits", "multimnist", "multimnist_shift_line_search", "celeba", "cityscapes"} <= set(names)
    for name in names:
        recipe = Recipe.load(name)
        assert recipe.model in mtlzoo.models.names() and recipe.data in mtlzoo.data.names(), name
        header = (shipped_recipes.folder() / f"{name}.yaml").read_text().split("\n\n")[0]
        assert f"mtlzoo train {name}" in header or name == "multidigits", name
        assert "seed" in header.lower(), name  # the figures the seed reports (or says it reports none)


def test_override_parses_yaml_values_and_reaches_into_mappings():
    recipe = Recipe.load("multimnist").override(["epochs=3", "lr=0.05", "model_config.width=4", "task=left",
                                                 "schedule={every: 2, factor: 0.5}", "seeds=[4, 5]"])
    assert (recipe.epochs, recipe.lr, recipe.task, recipe.seeds) == (3, 0.05, "left", [4, 5])
    assert recipe.model_config == {"dropout": 0.5, "width": 4}  # the dot reaches into the recipe's mapping
    assert Recipe.load("multimnist").epochs == 100  # the shipped recipe is untouched
    assert Recipe.from_config(recipe.get_config()) == recipe


@pytest.mark.parametrize("assignment, message", [
    ("epochs", "write KEY=VALUE"),
    ("nokey=1", "unknown key 'nokey'"),
    ("epochs=-1", "epochs must be a positive integer"),
    ("epochs=ten", "epochs must be a positive integer"),
    ("lr=0", "lr must be a positive number"),
    ("line_search=slow", "line_search must be fast, classic"),
    ("schedule={every: 0, factor: 0.5}", "schedule must be"),
    ("balancer=[1", "not valid YAML"),
])
def test_bad_overrides_name_the_key_and_the_fix(assignment, message):
    with pytest.raises(ValueError, match=message):
        Recipe.load("multimnist").override([assignment])


def test_load_errors_name_the_shipped_recipes(tmp_path):
    with pytest.raises(ValueError, match="unknown recipe 'nope'; shipped recipes: .*multimnist"):
        Recipe.load("nope")
    with pytest.raises(ValueError, match="does not exist"):
        Recipe.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: multimnist_lenet\nwidth: 3\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['width'\]"):
        Recipe.load(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ValueError, match="must be a YAML mapping"):
        Recipe.load(bad)
    good = tmp_path / "mine.yaml"
    good.write_text("# mine\nmodel: cross_stitch_lenet\nepochs: 2\n")
    assert (Recipe.load(good).name, Recipe.load(good).model, Recipe.load(good).data) == ("mine", "cross_stitch_lenet",
                                                                                         FIELDS["data"][0])


def test_optimizer_takes_the_recipe_lr_and_a_step_schedule_in_epochs():
    zoo = {"optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.01, "momentum": 0.9}}}
    assert Recipe().optimizer_for(zoo).get_config()["momentum"] == 0.9  # the zoo's optimizer by default
    opt = Recipe({"lr": 0.2, "schedule": {"every": 3, "factor": 0.5}}).optimizer_for(zoo, steps_per_epoch=10)
    schedule = opt.learning_rate if callable(opt.learning_rate) else opt._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.ExponentialDecay)
    assert [round(float(schedule(step)), 6) for step in (0, 29, 30, 60)] == [0.2, 0.2, 0.1, 0.05]
    with pytest.raises(ValueError, match="batches per epoch is unknown"):
        Recipe({"schedule": {"every": 3, "factor": 0.5}}).optimizer_for(zoo)
    with pytest.raises(ValueError, match="not a Keras optimizer"):
        Recipe({"optimizer": "nosuch"}).optimizer_for(zoo)
