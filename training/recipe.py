"""``Recipe``: a YAML training recipe (model, data, balancer, optimizer, schedule, epochs, seeds)."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mtlzoo import shipped_recipes
from mtlzoo.safe_yaml import MAX_CHARS, load_yaml
from mtlzoo.short_repr import short_repr
from mtlzoo.training.recipe_checks import check_values

#: Every key a recipe may set, with its default and meaning (``mtlzoo train --set KEY=VALUE`` takes the same).
FIELDS: dict[str, tuple[Any, str]] = {
    "model": ("multimnist_lenet", "zoo model name (mtlzoo zoo), or the path of a .keras file holding a functional "
                                  "Keras model with one output per task"),
    "model_config": ({}, "build arguments of the zoo model, e.g. {width: 4}"),
    "data": ("multidigits", "dataset name (mtlzoo.data.names())"),
    "data_config": ({}, "dataset options, e.g. {limit: 1000} where the loader has them"),
    "task": (None, "train one task alone on its peeled network (seed 002's single-task baseline)"),
    "balancer": (None, "balancer name or {class_name, config}; default: the zoo recipe's"),
    "loss": (None, "one loss for every task or {task: loss} (Keras names, <name>_from_logits); default: the zoo "
                   "recipe's (a .keras model needs it)"),
    "metrics": (None, "metrics of every task ([accuracy]) or {task: [...]}; default: the zoo recipe's"),
    "line_search": (None, "fast | classic | {ArmijoLineSearch arguments}; replaces the optimizer's steps"),
    "optimizer": (None, "Keras optimizer name or {class_name, config}; default: the zoo recipe's"),
    "lr": (None, "learning rate (overrides the optimizer's)"),
    "schedule": (None, "step decay of the learning rate: {every: EPOCHS, factor: F}"),
    "batch_size": (None, "examples per batch; default: the zoo recipe's, else the dataset's"),
    "epochs": (60, "training epochs"),
    "strategy": (None, "tf.distribute strategy: auto | one_device | mirrored | multi_worker (mirrored: every GPU, "
                       "or MTLZOO_LOGICAL_CPUS=N logical CPUs); default auto"),
    "mixed_precision": (False, "Keras mixed_float16: float16 compute, float32 variables, losses and solvers"),
    "jit_compile": (None, "XLA: true or false; default Keras' auto (XLA with a GPU, not on CPU, where it is slower)"),
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
        unknown = sorted((k for k in values if k not in FIELDS), key=str)
        if unknown:
            raise ValueError(f"recipe {name!r}: unknown key(s) {short_repr(unknown)}; known keys: "
                             f"{', '.join(FIELDS)}.")
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
        path = Path(source)
        if path.suffix in (".yaml", ".yml") or os.sep in str(source) or path.exists():
            if not path.is_file():
                raise ValueError(f"recipe file {str(source)!r} does not exist; give a YAML file or one of the "
                                 f"shipped recipes: {', '.join(cls.names())}.")
            text, name = _read_text(path), path.stem
        else:
            if str(source) not in cls.names():
                raise ValueError(f"unknown recipe {str(source)!r}; shipped recipes: {', '.join(cls.names())} "
                                 f"(or give the path of a .yaml file).")
            text = (shipped_recipes.folder() / f"{source}.yaml").read_text()
            name = str(source)
        values = load_yaml(text, f"recipe {str(source)!r}") or {}
        if not isinstance(values, Mapping):
            raise ValueError(f"recipe {str(source)!r} must be a YAML mapping of keys ({', '.join(FIELDS)}), "
                             f"got {short_repr(values)}.")
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
        merged = self.to_dict()
        for assignment in assignments:
            key, sep, text = assignment.partition("=")
            key = key.strip()
            shown = f"--set {short_repr(assignment)}"
            if not sep or not key:
                raise ValueError(f"{shown}: write KEY=VALUE, e.g. --set epochs=10 or --set model_config.width=4.")
            value = load_yaml(text, f"{shown}: the value") if text.strip() else None
            head, *rest = key.split(".")
            if head not in FIELDS:
                raise ValueError(f"{shown}: unknown key {short_repr(head)}; known keys: {', '.join(FIELDS)}.")
            if not rest:
                merged[head] = value
                continue
            target = merged[head]
            if target is None:
                target = merged[head] = {}
            if not isinstance(target, dict):
                raise ValueError(f"{shown}: {head} is {short_repr(target)}, not a mapping; set {head}=... whole.")
            for part in rest[:-1]:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    raise ValueError(f"{shown}: {short_repr(part)} is not a mapping.")
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
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ValueError(f"optimizer {short_repr(spec)} is not a Keras optimizer ({short_repr(str(e), 160, False)})"
                             f"; use a name such as sgd or adam, or {{class_name: SGD, config: {{learning_rate: "
                             f"0.01}}}}.") from None
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
        try:
            return keras.optimizers.deserialize(spec)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ValueError(f"optimizer {short_repr(spec)} cannot be built ({short_repr(str(e), 160, False)}); "
                             f"check its config.") from None

    def _check(self) -> None:
        self._values = check_values(self._values, self.name)


def _read_text(path: Path) -> str:
    """A recipe file's text: bounded in size, UTF-8, errors naming the file."""
    try:
        size = path.stat().st_size
        if size > 4 * MAX_CHARS:
            raise ValueError(f"recipe file {str(path)!r} is {size} bytes, far more than a recipe; give a YAML recipe.")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"recipe file {str(path)!r} is not UTF-8 text; give a YAML recipe.") from None
    except OSError as e:
        raise ValueError(f"recipe file {str(path)!r} cannot be read ({e.strerror}).") from None
