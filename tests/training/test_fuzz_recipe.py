"""Fuzzing recipes: random values for every key, random and mutated YAML files, random ``--set`` assignments.

Every case ends in a Recipe (which then round-trips through its config and JSON, as a run
folder saves it, and resolves its optimizer or refuses with a ValueError) or in a one-line
ValueError of bounded length; never another exception type, a hang or unbounded memory.
50 examples per target in the default suite, ``MTLZOO_FUZZ_EXAMPLES`` (1000) in the slow run.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from mtlzoo.training import Recipe
from mtlzoo.training.recipe import FIELDS


def _harness():
    spec = importlib.util.spec_from_file_location("_fuzz_harness", Path(__file__).parents[1] / "fuzz_harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _harness()
MESSAGE_LIMIT = 600

SCALARS = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.sampled_from([10 ** 400, -(10 ** 500)])
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["mgda_ub", "uniform", "sgd", "adam", "fast", "classic", "none", "multimnist_lenet",
                              "multidigits", "left", "SGD", "x" * 5000]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(["class_name", "config", "every", "factor", "width",
                                                         "learning_rate", "limit", "momentum"]) | st.text(max_size=5),
                                        inner, max_size=4), max_leaves=12)
KEYS = st.sampled_from(list(FIELDS)) | st.text(max_size=8)
NUMBERS = st.integers(-3, 300) | st.floats(-2.0, 2.0) | SCALARS
#: Values of the right kind for each key, mostly (some of their parts random), so that many recipes pass the
#: checks and reach the optimizer.
PLAUSIBLE = {
    "model": st.sampled_from(["multimnist_lenet", "cross_stitch_lenet"]),
    "data": st.sampled_from(["multidigits", "multimnist"]),
    "model_config": st.dictionaries(st.sampled_from(["width", "dropout"]), NUMBERS, max_size=2),
    "data_config": st.dictionaries(st.sampled_from(["limit"]), NUMBERS, max_size=1),
    "task": st.sampled_from([None, "left", "right"]),
    "balancer": st.sampled_from([None, "mgda_ub", "uniform", "gradnorm"])
    | st.fixed_dictionaries({"class_name": st.sampled_from(["gradnorm", "GradNorm", "nope"]),
                             "config": st.dictionaries(st.sampled_from(["alpha"]), NUMBERS, max_size=1)}),
    "loss": st.sampled_from([None, "mse", "sparse_categorical_crossentropy_from_logits", {"left": "mse"}]),
    "metrics": st.sampled_from([None, ["accuracy"], "accuracy", {"left": ["accuracy"], "right": []}]),
    "line_search": st.sampled_from([None, "fast", "classic", "none"])
    | st.dictionaries(st.sampled_from(["method", "beta", "eta_max", "nope"]), NUMBERS, max_size=2),
    "optimizer": st.sampled_from([None, "sgd", "adam", "rmsprop", "nosuch"])
    | st.fixed_dictionaries({"class_name": st.sampled_from(["SGD", "Adam", "nope"]),
                             "config": st.dictionaries(st.sampled_from(["learning_rate", "momentum", "beta_1",
                                                                        "nesterov", "bogus"]), NUMBERS,
                                                       max_size=3)}),
    "lr": st.none() | st.floats(1e-6, 10.0) | NUMBERS,
    "schedule": st.none() | st.fixed_dictionaries({"every": NUMBERS, "factor": NUMBERS}),
    "batch_size": st.none() | st.integers(1, 512) | NUMBERS,
    "epochs": st.integers(1, 100) | NUMBERS,
    "seeds": st.lists(st.integers(0, 2 ** 32 - 1), min_size=1, max_size=3) | NUMBERS,
}
RECIPES = st.dictionaries(KEYS, VALUES, max_size=6) | st.fixed_dictionaries(
    {}, optional={key: strategy | VALUES if key in ("lr", "epochs") else strategy
                  for key, strategy in PLAUSIBLE.items()})

LAUGHS = 'a: &a ["lol", "lol", "lol", "lol"]\n' + "".join(
    f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}]\n" for p, n in zip("abcdefghij", "bcdefghijk")) + "model: *k\n"
NOISE = st.sampled_from(list("&*!|>-:[]{},#'\"\n\t ?%@`") + ["!!python/object:os.system ", "<<: ", "&x ", "*x",
                                                              "!!binary ", "\x00", "\ufeff", "  - ", LAUGHS])


@st.composite
def yaml_texts(draw) -> str:
    """A dumped random recipe with random YAML punctuation spliced in, or raw text, or an alias bomb."""
    kind = draw(st.sampled_from(["dumped", "dumped", "raw", "laughs", "deep"]))
    if kind == "raw":
        return draw(st.text(max_size=80))
    if kind == "laughs":
        return LAUGHS
    if kind == "deep":
        return "model_config: " + "[" * draw(st.integers(50, 3000))
    text = yaml.safe_dump(draw(RECIPES), default_flow_style=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(NOISE) + text[i:]
    return text


ASSIGNMENTS = st.lists(st.one_of(
    st.sampled_from(["epochs=3", "lr=0.05", "model_config.width=4", "schedule={every: 2, factor: 0.5}",
                     "balancer=gradnorm", "seeds=[1, 2]", "optimizer={class_name: SGD, config: {momentum: 0.5}}",
                     "line_search=fast", "task=left", "batch_size=32", "data_config.limit=100", "epochs=",
                     "model_config={width: &w 2, dropout: *w}"]),
    st.tuples(st.sampled_from(list(FIELDS)) | st.sampled_from(["model_config.width", "data_config.limit",
                                                               "schedule.every", "epochs.x", "model_config..a"])
              | st.text(max_size=8),
              VALUES.map(lambda v: json.dumps(v, allow_nan=True)) | yaml_texts() | st.text(max_size=20))
    .map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.text(max_size=20),
), max_size=3)


def _use(recipe: Recipe) -> None:
    """What a valid recipe must allow: the config round trip, JSON (config.json), the optimizer or a ValueError."""
    assert Recipe.from_config(recipe.get_config()) == recipe
    json.dumps(recipe.to_dict(), allow_nan=True)
    try:
        recipe.optimizer_for({}, steps_per_epoch=10)
    except ValueError as error:
        harness.one_line(error, MESSAGE_LIMIT)


def _outcome(record, make, label=None) -> None:
    with record.case(label):
        try:
            recipe = make()
        except ValueError as error:
            harness.one_line(error, MESSAGE_LIMIT)
            record.outcome("ValueError")
            return
        _use(recipe)
        record.outcome("recipe")


def _values_case(record, values):
    _outcome(record, lambda: Recipe(values, name="fuzz"), values)


def _file_case(record, text, folder):
    path = folder / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _outcome(record, lambda: Recipe.load(path), text)


def _set_case(record, assignments):
    _outcome(record, lambda: Recipe().override(assignments), assignments)


def _run(target, strategy, case, settings):
    record = harness.FuzzRecord(target)
    settings(given(strategy)(lambda value: case(record, value)))()
    record.finish()


def _run_files(settings, tmp_path):
    record = harness.FuzzRecord("recipe YAML files")
    settings(given(yaml_texts())(lambda text: _file_case(record, text, tmp_path)))()
    record.finish()


def test_fuzz_recipe_values():
    _run("recipe values", RECIPES, _values_case, harness.FAST)


def test_fuzz_recipe_files(tmp_path):
    _run_files(harness.FAST, tmp_path)


def test_fuzz_set_assignments():
    _run("--set assignments", ASSIGNMENTS, _set_case, harness.FAST)


@pytest.mark.slow
def test_fuzz_recipe_values_many():
    _run("recipe values", RECIPES, _values_case, harness.SLOW)


@pytest.mark.slow
def test_fuzz_recipe_files_many(tmp_path):
    _run_files(harness.SLOW, tmp_path)


@pytest.mark.slow
def test_fuzz_set_assignments_many():
    _run("--set assignments", ASSIGNMENTS, _set_case, harness.SLOW)
