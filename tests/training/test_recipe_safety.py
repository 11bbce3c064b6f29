"""Recipes from hostile or careless hands: bounded YAML (billion laughs, recursion, nesting), the kind of every key,
bounded error messages, and the CLI's one ``Error:`` line for each."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from click.testing import CliRunner

from mtlzoo.safe_yaml import MAX_NODES, load_yaml
from mtlzoo.training import Recipe
from mtlzoo.training.recipe import FIELDS
from mtlzoo.training.recipe_checks import KINDS


def _laughs(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs": each level is a list of ``width`` aliases of the level below (width**levels values)."""
    lines = ['a: &a [' + ", ".join(['"lol"'] * width) + "]"]
    names = "abcdefghijklmnop"
    for prev, name in zip(names, names[1:levels]):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]")
    lines.append(f"model: *{names[levels - 1]}")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_in_milliseconds_with_a_short_message(tmp_path):
    text = _laughs()
    assert len(text.encode()) < 500 and 9 ** 9 > 100 * MAX_NODES  # a few hundred bytes for 387 million values
    path = tmp_path / "laughs.yaml"
    path.write_text(text)
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        Recipe.load(path)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    message = str(info.value)
    assert "laughs.yaml" in message and "aliases" in message and "\n" not in message and len(message) < 300
    assert elapsed < 1.0, elapsed  # about 5 ms alone; generous for 2 busy cores
    assert peak < 20 * 2 ** 20, peak  # bytes allocated, not the gigabyte an expansion would take


def test_aliases_within_the_limit_still_work():
    assert load_yaml("base: &b {width: 4}\nother: *b\n", "r") == {"base": {"width": 4}, "other": {"width": 4}}
    wide = _laughs(levels=3, width=9)  # 729 values: far under the limit
    assert len(load_yaml(wide, "r")["model"]) == 9


@pytest.mark.parametrize("text, words", [
    ("a: &a [*a]\n", "recursive alias"),
    ("[" * 50_000, "more than 100 deep"),
    ("- " * 3000 + "x", "more than 100 deep"),
    ("x" * (1 << 17), "characters of YAML"),
    ("a: [1, 2\n", "not valid YAML"),
    ("a: !!python/object/apply:os.system ['echo hi']\n", "not valid YAML"),
], ids=["recursive", "flow-deep", "block-deep", "long", "invalid", "python-tag"])
def test_hostile_yaml_is_one_bounded_line_fast(text, words):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=words) as info:
        load_yaml(text, "recipe 'x'")
    assert time.perf_counter() - start < 2.0  # PyYAML alone takes 14 s on 4,000 nested '['
    assert "\n" not in str(info.value) and len(str(info.value)) < 400 and str(info.value).startswith("recipe 'x'")


#: One value of the wrong kind for every key (the issue's two among them).
WRONG = {"model": 5, "data": ["multidigits"], "model_config": [1], "data_config": "limit=3", "task": 3,
         "balancer": 5, "loss": 3, "metrics": {"left": [1]}, "line_search": "slow", "optimizer": {"config": {}}, "lr": float("inf"),
         "schedule": {"every": [1], "factor": 0.5}, "batch_size": 0, "epochs": True, "seeds": [-1],
         "strategy": "gpus", "mixed_precision": "yes", "jit_compile": 1}


def test_every_key_has_a_wrong_kind_case():
    assert set(WRONG) == set(FIELDS) == set(KINDS)


@pytest.mark.parametrize("key", list(WRONG))
def test_wrong_kind_names_the_key_and_an_example(key):
    with pytest.raises(ValueError) as info:
        Recipe({key: WRONG[key]}, name="mine")
    message = str(info.value)
    assert message.startswith(f"recipe 'mine': {key} must be ") and f"; e.g. {key}: " in message, message
    assert "\n" not in message


@pytest.mark.parametrize("text, words", [
    ("balancer: 5\n", "balancer must be a balancer name or {class_name: NAME, config: {...}}, got 5"),
    ("schedule: {every: [1], factor: 0.5}\n", "schedule must be {every: EPOCHS >= 1"),
    ("epochs: 2020-01-01\n", "epochs must be a positive integer"),
    ("model_config: {when: 2020-01-01}\n", "model_config.when holds datetime.date(2020, 1, 1)"),
    ("model_config: {1: 2}\n", "model_config has the key 1, not a name"),
    ("data_config: {x: !!binary aGVsbG8=}\n", "data_config.x holds b'hello'"),
    ("seeds: [0, 4294967296]\n", "seeds must be a non-empty list of integers in [0, 4294967295]"),
    ("lr: 1e400\n", "lr must be a positive number"),
    (f"model: {'m' * 30_000}\nepochs: [1]\n", "model must be a zoo model name"),
], ids=lambda v: v[:20] if isinstance(v, str) else None)
def test_recipe_files_with_wrong_kinds_are_refused_by_key(tmp_path, text, words):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        Recipe.load(path)
    assert words in str(info.value) and len(str(info.value)) < 400, str(info.value)[:500]


def test_error_messages_never_echo_a_huge_value(tmp_path):
    huge = list(range(5000))
    for values in ({"epochs": huge}, {"model": "x" * 10 ** 6 + "\n"}, {"seeds": [10 ** 5000]}, {"nokey": 1, 7: 2}):
        with pytest.raises(ValueError) as info:
            Recipe(values)
        assert len(str(info.value)) < 400, str(info.value)[:500]
    with pytest.raises(ValueError, match="--set") as info:
        Recipe().override(["model_config.width=" + "[" * 200 + "1" + "]" * 200])
    assert len(str(info.value)) < 400
    with pytest.raises(ValueError, match="aliases") as info:
        Recipe().override(["model_config={" + _laughs().replace("\n", ", ").rstrip(", ") + "}"])
    assert len(str(info.value)) < 400


def test_files_that_are_not_text_or_too_large_are_named(tmp_path):
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="bin.yaml' is not UTF-8 text"):
        Recipe.load(binary)
    large = tmp_path / "large.yaml"
    large.write_text("# " + "x" * (1 << 19) + "\n")
    with pytest.raises(ValueError, match="large.yaml"):
        Recipe.load(large)


def test_set_value_of_the_wrong_kind_names_the_key_and_python_objects_are_refused():
    with pytest.raises(ValueError, match="balancer must be"):
        Recipe().override(["balancer=5"])
    with pytest.raises(ValueError, match="contains itself"):
        loop = []
        loop.append(loop)
        Recipe({"model_config": {"a": loop}})
    with pytest.raises(ValueError, match="model_config.f holds"):
        Recipe({"model_config": {"f": print}})


@pytest.mark.parametrize("text, words", [
    ("balancer: 5\n", "balancer must be"),
    ("schedule: {every: [1]}\n", "schedule must be"),
    (_laughs(), "aliases"),
], ids=["balancer", "schedule", "laughs"])
def test_cli_answers_one_error_line(tmp_path, text, words):
    from mtlzoo.cli import main

    path = tmp_path / "r.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["train", str(path), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0] and len(result.output) < 1000, result.output
    assert not (tmp_path / "run").exists()
