"""``Recipe``: a YAML training recipe (model, data, balancer, optimizer, schedule, epochs, seeds)."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mtlzoo import shipped_recipes

#: Every key a recipe may set, with its default and meaning (``mtlzoo train --set KEY=VALUE`` takes the same).
FIELDS: dict[str, tuple[Any, str]] = {
    "model": ("multimnist_lenet", "zoo model name (mtlzoo zoo)"),
    "model_config": ({}, "build arguments of the zoo model, e.g. {width: 4}"),
    "data": ("multidigits", "dataset name (mtlzoo.data.names())"),
    "data_config": ({}, "dataset options, e.g. {limit: 1000} where the loader has them"),
    "task": (None, "train one task alone on its peeled network (seed 002's single-task baseline)"),
    "balancer": (None, "balancer name or {class_name, config}; default: the zoo recipe's"),
    "line_search": (None, "fast | classic | {ArmijoLineSearch arguments}; replaces the optimizer's steps"),
    "optimizer": (None, "Keras optimizer name or {class_name, config}; default: the zoo recipe's"),
    "lr": (None, "learning rate (overrides the optimizer's)"),
    "schedule": (None, "step decay of the learning rate: {every: EPOCHS, factor: F}"),
    "batch_size": (None, "examples per batch; default: the zoo recipe's, else the dataset's"),
    "epochs": (60, "training epochs"),
    "seeds": ([0], "seeds this recipe is run with by mtlzoo reproduce (mtlzoo train takes --seed)"),
}


class Recipe:
    """A training recipe: plain data that ``mtlzoo train RECIPE.yaml`` and ``mtlzoo reproduce`` run.

    Recipes ship with the package (``mtlzoo.training.recipes``, listed by :meth:`names`) or
    are any YAML file with the keys of :data:`FIELDS`; the header comment of each shipped
    recipe gives its command and the figures the seed reports. Unknown keys are refused,
    and ``--set key=value`` overrides parse ``value`` as YAML (``--set model_config.width=4``
    reaches into a mapping).

    Args:
        values: ``{key: value}``; keys left out take the defaults of :data:`FIELDS`.
        name: the recipe's name (its file stem).

    Example:
        >>> r = Recipe.load("multidigits").override(["epochs=2", "model_config.width=4"])
        >>> r.epochs, r.model_config, r.model
        (2, {'width': 4}, 'multimnist_lenet')
    """

    def __init__(self, values: Mapping[str, Any] | None = None, name: str = "recipe"):
        values = dict(values or {})
        unknown = sorted(set(values) - set(FIELDS))
        if unknown:
            raise ValueError(f"recipe {name!r}: unknown key(s) {unknown}; known keys: {', '.join(FIELDS)}.")
        self.name = name
        self._values = {k: copy.deepcopy(values.get(k, default)) for k, (default, _) in FIELDS.items()}
        self._check()

    def __getattr__(self, key: str) -> Any:
        values = self.__dict__.get("_values", {})
        if key in values:
            return values[key]
        raise AttributeError(f"Recipe has no attribute {key!r}")

    def __repr__(self) -> str:
        return f"Recipe({self.name!r}, {self.to_dict()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipe) and self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain data (every key)."""
        return copy.deepcopy(self._values)

    def get_config(self) -> dict[str, Any]:
        """``{"name": ..., "values": ...}``; ``Recipe.from_config`` rebuilds it."""
        return {"name": self.name, "values": self.to_dict()}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Recipe:
        return cls(config["values"], name=config.get("name", "recipe"))

    # ------------------------------------------------------------------ loading
    @staticmethod
    def names() -> list[str]:
        """The recipes shipped with the package."""
        return shipped_recipes.names()

    @classmethod
    def load(cls, source: str | os.PathLike) -> Recipe:
        """A shipped recipe by name (``"multimnist"``), or a YAML file by path.

        Raises:
            ValueError: neither a shipped name nor an existing ``.yaml`` file, or bad YAML/keys.
        """
        import yaml

        path = Path(source)
        if path.suffix in (".yaml", ".yml") or os.sep in str(source) or path.exists():
            if not path.is_file():
                raise ValueError(f"recipe file {str(source)!r} does not exist; give a YAML file or one of the "
                                 f"shipped recipes: {', '.join(cls.names())}.")
            text, name = path.read_text(), path.stem
        else:
            if str(source) not in cls.names():
                raise ValueError(f"unknown recipe {str(source)!r}; shipped recipes: {', '.join(cls.names())} "
                                 f"(or give the path of a .yaml file).")
            text = (shipped_recipes.folder() / f"{source}.yaml").read_text()
            name = str(source)
        try:
            values = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ValueError(f"recipe {str(source)!r} is not valid YAML: {e}") from None
        if not isinstance(values, Mapping):
            raise ValueError(f"recipe {str(source)!r} must be a YAML mapping of keys ({', '.join(FIELDS)}).")
        return cls(values, name=name)

    # ------------------------------------------------------------------ changes
    def replace(self, **values: Any) -> Recipe:
        """A copy with ``values`` set (``None`` values are ignored, so unset CLI flags change nothing)."""
        merged = self.to_dict()
        merged.update({k: v for k, v in values.items() if v is not None})
        return Recipe(merged, name=self.name)

    def override(self, assignments: Iterable[str]) -> Recipe:
        """A copy with ``KEY=VALUE`` assignments applied; VALUE is parsed as YAML, dots reach into mappings.

        Raises:
            ValueError: an assignment without ``=``, an unknown key, or a value of the wrong kind.
        """
        import yaml

        merged = self.to_dict()
        for assignment in assignments:
            key, sep, text = assignment.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ValueError(f"--set {assignment!r}: write KEY=VALUE, e.g. --set epochs=10 or "
                                 f"--set model_config.width=4.")
            try:
                value = yaml.safe_load(text) if text.strip() else None
            except yaml.YAMLError as e:
                raise ValueError(f"--set {assignment!r}: the value is not valid YAML ({e}).") from None
            head, *rest = key.split(".")
            if head not in FIELDS:
                raise ValueError(f"--set {assignment!r}: unknown key {head!r}; known keys: {', '.join(FIELDS)}.")
            if not rest:
                merged[head] = value
                continue
            target = merged[head]
            if target is None:
                target = merged[head] = {}
            if not isinstance(target, dict):
                raise ValueError(f"--set {assignment!r}: {head} is {target!r}, not a mapping; set {head}=... whole.")
            for part in rest[:-1]:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    raise ValueError(f"--set {assignment!r}: {part} is not a mapping.")
            target[rest[-1]] = value
        return Recipe(merged, name=self.name)

    # --------------------------------------------------------------- resolution
    def optimizer_for(self, zoo_recipe: Mapping[str, Any], steps_per_epoch: int | None = None):
        """The Keras optimizer: this recipe's (or the zoo recipe's), with ``lr`` and ``schedule`` applied.

        Args:
            zoo_recipe: the zoo entry's recipe (its default optimizer).
            steps_per_epoch: batches per epoch, needed when ``schedule`` is set.
        """
        import keras

        spec = self.optimizer if self.optimizer is not None else zoo_recipe.get("optimizer", "adam")
        try:
            spec = keras.optimizers.serialize(keras.optimizers.get(spec))
        except (ValueError, TypeError) as e:
            raise ValueError(f"optimizer {spec!r} is not a Keras optimizer ({e}); use a name such as sgd or "
                             f"adam, or {{class_name: SGD, config: {{learning_rate: 0.01}}}}.") from None
        if self.lr is not None:
            spec["config"]["learning_rate"] = float(self.lr)
        if self.schedule:
            if not steps_per_epoch:
                raise ValueError("recipe schedule: the number of batches per epoch is unknown (a dataset of "
                                 "unknown size); remove `schedule`.")
            lr = spec["config"]["learning_rate"]
            spec["config"]["learning_rate"] = keras.optimizers.schedules.serialize(
                keras.optimizers.schedules.ExponentialDecay(
                    float(lr), decay_steps=int(self.schedule["every"]) * int(steps_per_epoch),
                    decay_rate=float(self.schedule["factor"]), staircase=True))
        return keras.optimizers.deserialize(spec)

    def _check(self) -> None:
        v = self._values
        for key in ("model", "data"):
            if not isinstance(v[key], str) or not v[key]:
                raise ValueError(f"recipe {self.name!r}: {key} must be a name, got {v[key]!r}.")
        for key in ("model_config", "data_config"):
            if not isinstance(v[key], Mapping):
                raise ValueError(f"recipe {self.name!r}: {key} must be a mapping, got {v[key]!r}.")
        for key in ("epochs", "batch_size"):
            if v[key] is not None and (isinstance(v[key], bool) or not isinstance(v[key], int) or v[key] < 1):
                raise ValueError(f"recipe {self.name!r}: {key} must be a positive integer, got {v[key]!r}.")
        if v["epochs"] is None:
            raise ValueError(f"recipe {self.name!r}: epochs must be a positive integer, got None.")
        if v["lr"] is not None and (isinstance(v["lr"], bool) or not isinstance(v["lr"], (int, float))
                                    or not (v["lr"] > 0 and math.isfinite(v["lr"]))):
            raise ValueError(f"recipe {self.name!r}: lr must be a positive number, got {v['lr']!r}.")
        if v["line_search"] not in (None, "fast", "classic", "none") and not isinstance(v["line_search"], Mapping):
            raise ValueError(f"recipe {self.name!r}: line_search must be fast, classic, none or a mapping, "
                             f"got {v['line_search']!r}.")
        if v["line_search"] == "none":
            v["line_search"] = None
        seeds = v["seeds"]
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            v["seeds"] = seeds = [seeds]
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
            raise ValueError(f"recipe {self.name!r}: seeds must be a list of integers, got {seeds!r}.")
        schedule = v["schedule"]
        if schedule is not None and not (isinstance(schedule, Mapping) and set(schedule) == {"every", "factor"}
                                         and int(schedule["every"]) >= 1 and 0 < float(schedule["factor"]) <= 1):
            raise ValueError(f"recipe {self.name!r}: schedule must be {{every: EPOCHS >= 1, factor: 0 < F <= 1}}, "
                             f"got {schedule!r}.")
        if v["task"] is not None and not isinstance(v["task"], str):
            raise ValueError(f"recipe {self.name!r}: task must be a task name, got {v['task']!r}.")

