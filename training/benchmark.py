"""Time the train step of several balancers on one zoo model, relative to ``uniform`` (``mtlzoo bench``).

Every balancer trains its own copy of the model (same seed, same weights) on
the same synthetic batch, compiled with plain SGD and the model's recipe loss
(no metrics, so only the loss, the balancer and the update are timed). After
``warmup`` untimed steps (the first one traces the step), each step is timed
on its own and the median is reported. The timed steps are spread over
``rounds`` rounds that visit the balancers in turn, so a burst of load from
another process hits every balancer alike.

Exact MGDA and parameter-space PCGrad (:data:`SLOW_BALANCERS`) take one full
backward pass per task: with 40 tasks a step costs about 40 plain steps, so
they time ``slow_steps`` steps (default: as many as ``steps``; the presets use
fewer).

>>> from mtlzoo.training.benchmark import run_benchmark
>>> result = run_benchmark("multimnist_lenet", ["mgda_ub"], batch_size=8, steps=2, warmup=1,
...                        rounds=1, model_options={"width": 2})
>>> [row["balancer"] for row in result["results"]]
['uniform', 'mgda_ub']
>>> result["results"][0]["ratio"]
1.0
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

#: Balancers that take one full backward pass per task (their step costs about T plain steps).
SLOW_BALANCERS = ("mgda", "pcgrad")
#: What ``mtlzoo bench --preset lenet`` compares.
ALL_BALANCERS = ("uniform", "uncertainty", "gradnorm", "mgda_ub", "mgda", "hybrid", "pcgrad")
#: Named settings: the model, its builder options, the batch and the step counts.
PRESETS: dict[str, dict[str, Any]] = {
    "lenet": {"model": "multimnist_lenet", "model_options": {}, "batch_size": 256, "balancers": ALL_BALANCERS,
              "steps": 60, "slow_steps": 60, "warmup": 5, "rounds": 3},
    "resnet18": {"model": "resnet18_multihead", "model_options": {"dataset": "celeba"}, "batch_size": 64,
                 "balancers": ("uniform", "mgda_ub", "mgda"), "steps": 6, "slow_steps": 2, "warmup": 1,
                 "rounds": 2},
}
#: Settings for ``--model`` without ``--preset``.
GENERIC = {"model_options": {}, "batch_size": 64, "balancers": ("uniform", "mgda_ub"), "steps": 20,
           "slow_steps": 10, "warmup": 2, "rounds": 2}


def synthetic_batch(model, batch_size: int, loss: Any = "mse", seed: int = 0) -> tuple:
    """``(x, {task: y})`` of random inputs and labels shaped for ``model`` and ``loss``.

    Labels follow each task's loss: integer classes for ``sparse_categorical_*``,
    0/1 for ``binary_*`` and ``hinge``, one-hot for ``categorical_*``, standard
    normal values otherwise.

    Args:
        model: a zoo :class:`~mtlzoo.training.MultiTaskModel` (one input).
        batch_size: samples in the batch.
        loss: one loss or ``{task: loss}`` (names or ``Loss`` instances), as given to ``compile``.
        seed: seeds NumPy's generator.

    Example:
        >>> import mtlzoo
        >>> net = mtlzoo.models.get("multimnist_lenet", width=2)
        >>> x, y = synthetic_batch(net, 4, "sparse_categorical_crossentropy_from_logits")
        >>> tuple(x.shape), tuple(y["left"].shape)
        ((4, 28, 28, 1), (4,))
    """
    import tensorflow as tf

    from mtlzoo.training.task_losses import per_task

    if len(model.inputs) != 1:
        raise ValueError(f"benchmark: model {model.name!r} has {len(model.inputs)} inputs; only one-input "
                         "models can be benchmarked on a synthetic batch.")
    rng = np.random.default_rng(seed)
    spec = model.inputs[0]
    x = tf.constant(rng.standard_normal((batch_size, *spec.shape[1:])).astype(spec.dtype))
    losses = per_task(loss, model.tasks, "loss")
    outputs = model.output
    y = {t: tf.constant(_labels(rng, losses[t], (batch_size, *outputs[t].shape[1:]))) for t in model.tasks}
    return x, y


def _labels(rng, loss, shape) -> np.ndarray:
    name = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
    name = str(name).lower()
    classes = shape[-1]
    if "sparse_categorical" in name:
        return rng.integers(0, classes, shape[:-1]).astype("int32")
    if "categorical" in name:
        return np.eye(classes, dtype="float32")[rng.integers(0, classes, shape[:-1])]
    if "binary" in name or "hinge" in name:
        return rng.integers(0, 2, shape).astype("float32")
    return rng.standard_normal(shape).astype("float32")


def recipe_loss(model: str):
    """The loss of zoo model ``model``'s recipe (read from its zoo entry).

    >>> recipe_loss("resnet18_multihead")
    'binary_crossentropy_from_logits'
    """
    import mtlzoo

    loss = mtlzoo.models.entry(model).recipe.get("loss")
    if loss is None:
        raise ValueError(f"benchmark: zoo model {model!r} has no recipe loss to train with.")
    return loss


def build_compiled(model: str, balancer: str, model_options: Mapping | None = None, seed: int = 0,
                   learning_rate: float = 1e-3):
    """A fresh zoo model compiled with SGD, the recipe loss, no metrics and ``balancer``.

    Example:
        >>> build_compiled("multimnist_lenet", "mgda_ub", {"width": 2}).balancer.name
        'mgda_ub'
    """
    import keras

    import mtlzoo

    keras.utils.set_random_seed(seed)
    net = mtlzoo.models.get(model, **dict(model_options or {}))
    if not hasattr(net, "balancer"):
        raise ValueError(f"benchmark: zoo model {model!r} is not a MultiTaskModel; it cannot be trained.")
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss=recipe_loss(model),
                metrics=[], balancer=balancer)
    return net


def time_steps(step: Callable[[], Any], steps: int) -> list[float]:
    """Seconds of each of ``steps`` calls of ``step`` (which must block until the step is done)."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def check_names(model: str, balancers: Sequence[str]) -> None:
    """Raise ``ValueError`` naming an unknown zoo model or balancer and listing the known ones."""
    import mtlzoo
    from mtlzoo.training import balancers as registry

    if model not in mtlzoo.models.names():
        raise ValueError(f"benchmark: unknown zoo model {model!r}; known: {', '.join(mtlzoo.models.names())}.")
    unknown = [b for b in balancers if b not in registry.names()]
    if unknown:
        raise ValueError(f"benchmark: unknown balancer(s) {unknown}; known: {', '.join(registry.names())}.")


def split_steps(total: int, rounds: int) -> list[int]:
    """``total`` steps spread over ``rounds`` rounds as evenly as possible (earlier rounds get the extra).

    >>> split_steps(5, 3)
    [2, 2, 1]
    """
    return [total // rounds + (1 if r < total % rounds else 0) for r in range(rounds)]


def run_benchmark(model: str = "multimnist_lenet", balancers: Sequence[str] = ("uniform", "mgda_ub"),
                  batch_size: int = 256, steps: int = 20, warmup: int = 2, slow_steps: int | None = None,
                  rounds: int = 2, model_options: Mapping | None = None, seed: int = 0,
                  progress: Callable[[str], None] | None = None) -> dict:
    """Median seconds per train step of each balancer on ``model``, and its ratio to ``uniform``.

    Args:
        model: a zoo model name (``mtlzoo.models.names()``).
        balancers: balancer names; ``uniform`` is added first when missing (the baseline).
        batch_size: samples per step (one synthetic batch, reused).
        steps: timed steps per balancer.
        warmup: untimed steps before timing (>= 1: the first traces the step).
        slow_steps: timed steps of :data:`SLOW_BALANCERS` (default ``steps``).
        rounds: rounds the timed steps are spread over, visiting the balancers in turn.
        model_options: zoo builder options, e.g. ``{"dataset": "celeba"}`` or ``{"width": 2}``.
        seed: seeds the weights (the same for every balancer) and the batch.
        progress: called with one line of text per phase (build, round).

    Returns:
        A JSON-ready dict: ``model``, ``model_options``, ``tasks`` (T), ``input_shape``,
        ``batch_size``, ``warmup``, ``rounds``, ``results`` (per balancer: ``balancer``,
        ``steps``, ``median_ms``, ``ratio`` to uniform, ``first_step_s`` (the tracing step),
        ``times_ms``) and ``ratios`` (``"<b>/uniform"`` for every b, plus ``"mgda/mgda_ub"``
        when both ran).
    """
    for label, value, low in (("batch_size", batch_size, 1), ("steps", steps, 1), ("warmup", warmup, 1),
                              ("rounds", rounds, 1), ("slow_steps", steps if slow_steps is None else slow_steps, 1)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"benchmark: {label} must be an integer >= {low}, got {value!r}"
                             + (" (the first warm-up step traces the train step)." if label == "warmup" else "."))
    names = list(dict.fromkeys(["uniform", *balancers]))
    check_names(model, names)
    say = progress or (lambda message: None)
    slow_steps = steps if slow_steps is None else slow_steps
    runs = {}
    for name in names:
        say(f"{name}: building {model} and warming up ({warmup} step{'s' * (warmup > 1)}, the first traces)")
        net = build_compiled(model, name, model_options, seed)
        if runs:
            _copy_blocks(runs["uniform"]["net"], net)
        x, y = synthetic_batch(net, batch_size, recipe_loss(model), seed)
        start = time.perf_counter()
        net.train_on_batch(x, y)  # builds the optimizer and traces the step
        first = time.perf_counter() - start
        net.make_train_function()
        step = _step_fn(net, x, y)
        time_steps(step, warmup - 1)
        runs[name] = {"net": net, "step": step, "first": first, "times": [],
                      "plan": split_steps(slow_steps if name in SLOW_BALANCERS else steps, rounds)}
    for r in range(rounds):
        for name, run in runs.items():
            count = run["plan"][r]
            if count:
                run["times"] += time_steps(run["step"], count)
                say(f"round {r + 1}/{rounds} {name}: {count} step{'s' * (count > 1)}, "
                    f"median so far {1000 * float(np.median(run['times'])):.1f} ms")
    net = runs["uniform"]["net"]
    return _summary(model, model_options, net, batch_size, warmup, rounds, runs)


def _copy_blocks(source, target) -> None:
    """Give ``target`` the block weights of ``source`` (balancer variables stay the balancer's own)."""
    for block, layer in target.blocks.items():
        layer.set_weights(source.blocks[block].get_weights())


def _step_fn(net, x, y) -> Callable[[], float]:
    data = [(x, y, None)]  # the structure train_on_batch traced with: no retrace

    def step() -> float:
        logs = net.train_function(data)
        return float(logs["loss"])  # blocks until the step has run

    return step


def _summary(model, model_options, net, batch_size, warmup, rounds, runs) -> dict:
    medians = {name: float(np.median(run["times"])) for name, run in runs.items()}
    base = medians["uniform"]
    results = [{"balancer": name, "steps": len(run["times"]), "median_ms": 1000 * medians[name],
                "ratio": medians[name] / base, "first_step_s": run["first"],
                "times_ms": [1000 * t for t in run["times"]]} for name, run in runs.items()]
    ratios = {f"{name}/uniform": medians[name] / base for name in runs if name != "uniform"}
    if "mgda" in medians and "mgda_ub" in medians:
        ratios["mgda/mgda_ub"] = medians["mgda"] / medians["mgda_ub"]
    return {"model": model, "model_options": dict(model_options or {}), "tasks": len(net.tasks),
            "input_shape": list(net.inputs[0].shape[1:]), "batch_size": batch_size, "warmup": warmup,
            "rounds": rounds, "results": results, "ratios": ratios}


__all__ = ["ALL_BALANCERS", "GENERIC", "PRESETS", "SLOW_BALANCERS", "build_compiled", "check_names",
           "recipe_loss", "run_benchmark", "split_steps", "synthetic_batch", "time_steps"]
