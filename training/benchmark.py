"""Time the train step of several balancers on one zoo model, relative to ``uniform`` (``mtlzoo bench``).

Every balancer trains its own copy of the model (same seed, same weights) on
the same synthetic batch, compiled with plain SGD and the model's recipe loss
(no metrics, so only the loss, the balancer and the update are timed).
After warm-up, each step is timed on its own and the median is reported.
The timed steps are spread over ``rounds`` rounds that visit the balancers
in turn; a balancer's ratio to ``uniform`` is the median over rounds of the
ratio of the two medians in that round (:func:`paired_ratio`), so load from
other processes that comes and goes between rounds cancels out.

A balancer is a registry name, optionally with a space: ``"pcgrad:latent"``,
``"upgrad:parameters"``; ``"all"`` stands for every registered balancer in its
default space. Parameter-space Gramian methods (exact MGDA, PCGrad, MoCo, any
``NAME:parameters``: :func:`is_slow`) take one full backward pass per task: with
40 tasks a step costs about 40 plain steps, so they time ``slow_steps`` steps
(default: as many as ``steps``; the presets use fewer).

Each balancer's step is traced by one untimed ``train_on_batch`` call; then,
once every balancer is traced (the first call of a step after another one
was traced runs slow), each runs ``warmup`` untimed steps.

>>> from mtlzoo.training.benchmark import run_benchmark
>>> result = run_benchmark("multimnist_lenet", ["mgda_ub"], batch_size=8, steps=2, warmup=1,
...                        rounds=1, model_options={"width": 2})
>>> [row["balancer"] for row in result["results"]]
['uniform', 'mgda_ub']
>>> result["results"][0]["ratio"]
1.0
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mtlzoo.training.step_timing import interleaved_rounds, time_steps  # time_steps: re-exported, part of the API

#: Balancers of the first release that take one full backward pass per task (see :func:`is_slow`).
SLOW_BALANCERS = ("mgda", "pcgrad")
#: What ``mtlzoo bench --preset lenet`` compares: every registered balancer (:func:`expand`).
ALL_BALANCERS = ("all",)
#: Tracing calls longer than this (seconds) get a progress line before each of their timing runs.
SLOW_SECONDS = 10.0
#: Named settings: the model, its builder options, the batch and the step counts.
PRESETS: dict[str, dict[str, Any]] = {
    "lenet": {"model": "multimnist_lenet", "model_options": {}, "batch_size": 256, "balancers": ALL_BALANCERS,
              "steps": 60, "slow_steps": 60, "warmup": 5, "rounds": 20},
    "resnet18": {"model": "resnet18_multihead", "model_options": {"dataset": "celeba"}, "batch_size": 64,
                 "balancers": ("uniform", "mgda_ub", "mgda"), "steps": 8, "slow_steps": 2, "warmup": 1,
                 "rounds": 4},
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
    """A fresh zoo model compiled with SGD, the recipe loss, no metrics, no line search and ``balancer``.

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
    # plain optimizer steps: a recipe's line search (seed 001) would add trial evaluations to the timing
    no_search = {"line_search": False} if "line_search" in inspect.signature(net.compile).parameters else {}
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss=recipe_loss(model),
                metrics=[], balancer=make_balancer(balancer) if isinstance(balancer, str) else balancer,
                **no_search)
    return net


def expand(balancers: Sequence[str]) -> list[str]:
    """The balancer specs with ``"all"`` replaced by every registered name (sorted), duplicates dropped.

    >>> "mgda_ub" in expand(["all"])
    True
    """
    from mtlzoo.training import balancers as registry

    out = []
    for spec in balancers:
        out += list(registry.names()) if spec == "all" else [spec]
    return list(dict.fromkeys(out))


def make_balancer(spec: str):
    """The balancer of a spec ``NAME`` or ``NAME:SPACE`` (e.g. ``"pcgrad:latent"``)."""
    from mtlzoo.training import balancers as registry

    name, _, space = spec.partition(":")
    return registry.get(name, space=space) if space else registry.get(name)


def is_slow(spec: str) -> bool:
    """Whether the balancer takes one full backward pass per task (a parameter-space Gramian method;
    GradNorm's parameter form needs only its last weight tensor's gradients and is not)."""
    from mtlzoo.training import balancers as registry

    balancer = make_balancer(spec)
    return (isinstance(balancer, registry.GramianBalancer) and balancer.space == "parameters"
            and not isinstance(balancer, registry.GradNorm))


def check_names(model: str, balancers: Sequence[str]) -> None:
    """Raise ``ValueError`` naming an unknown zoo model or balancer and listing the known ones."""
    import mtlzoo
    from mtlzoo.training import balancers as registry

    if model not in mtlzoo.models.names():
        raise ValueError(f"benchmark: unknown zoo model {model!r}; known: {', '.join(mtlzoo.models.names())}.")
    unknown = [b for b in balancers if b != "all" and b.partition(":")[0] not in registry.names()]
    if unknown:
        raise ValueError(f"benchmark: unknown balancer(s) {unknown}; known: {', '.join(registry.names())} "
                         "(or all; NAME:latent / NAME:parameters picks the space).")
    for spec in balancers:
        if ":" in spec:
            make_balancer(spec)  # a space the method does not have: its own one-line error


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
        warmup: untimed steps per balancer before timing, after every balancer's step
            was traced (by one untimed ``train_on_batch`` call each).
        slow_steps: timed steps of :data:`SLOW_BALANCERS` (default ``steps``).
        rounds: rounds the timed steps are spread over, visiting the balancers in turn.
        model_options: zoo builder options, e.g. ``{"dataset": "celeba"}`` or ``{"width": 2}``.
        seed: seeds the weights (the same for every balancer) and the batch.
        progress: called with one line of text per phase (build, warm-up, round), and
            before each balancer's steps in a round when its tracing call took over
            :data:`SLOW_SECONDS`.

    Returns:
        A JSON-ready dict: ``model``, ``model_options``, ``tasks`` (T), ``input_shape``,
        ``batch_size``, ``warmup``, ``rounds``, ``results`` (per balancer: ``balancer``,
        ``steps``, ``median_ms`` and ``min_ms`` (over all its timed steps), ``ratio`` to
        uniform (the :func:`paired_ratio` of the rounds), ``ratio_of_medians``,
        ``ratio_of_minimums`` (the least disturbed steps: a check when the machine is
        busy), ``first_step_s`` (the tracing call), ``times_ms``) and ``ratios`` (``"<b>/uniform"`` for every b, plus
        ``"mgda/mgda_ub"`` when both ran, all paired by round).
    """
    for label, value, low in (("batch_size", batch_size, 1), ("steps", steps, 1), ("warmup", warmup, 0),
                              ("rounds", rounds, 1), ("slow_steps", steps if slow_steps is None else slow_steps, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"benchmark: {label} must be an integer >= {low}, got {value!r}.")
    check_names(model, list(balancers))
    names = list(dict.fromkeys(["uniform", *expand(balancers)]))
    say = progress or (lambda message: None)
    slow_steps = steps if slow_steps is None else slow_steps
    runs, batch = {}, None
    for name in names:
        say(f"{name}: building {model} and tracing its train step")
        net = build_compiled(model, name, model_options, seed)
        if runs:
            _copy_blocks(runs["uniform"]["net"], net)
        batch = batch or synthetic_batch(net, batch_size, recipe_loss(model), seed)
        start = time.perf_counter()
        net.train_on_batch(*batch)  # builds the optimizer and traces the step
        plan = split_steps(slow_steps if is_slow(name) else steps, rounds)
        runs[name] = {"net": net, "step": _step_fn(net, *batch), "first": time.perf_counter() - start,
                      "times": [], "rounds": [], "plan": plan}
    if warmup:
        say(f"warming up: {warmup} step{'s' * (warmup > 1)} per balancer")

    def before(r: int, name: str, count: int) -> None:
        if runs[name]["first"] > SLOW_SECONDS:
            say(f"round {r + 1}/{rounds}: timing {count} step{'s' * (count > 1)} of {name}")

    def after_round(r: int, seconds: dict) -> None:
        say(f"round {r + 1}/{rounds} done; median ms so far: " + ", ".join(
            f"{name} {1000 * float(np.median([t for part in times for t in part])):.1f}"
            for name, times in seconds.items()))

    # warm-up after all tracing (the first call after another trace runs slow), then the rounds
    timed = interleaved_rounds({name: run["step"] for name, run in runs.items()},
                               {name: run["plan"] for name, run in runs.items()}, warmup=warmup,
                               before=before, after_round=after_round)
    for name, run in runs.items():
        run["rounds"] = timed["seconds"][name]
        run["times"] = [t for part in run["rounds"] for t in part]
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


def paired_ratio(times: Sequence[Sequence[float]], baseline: Sequence[Sequence[float]]) -> float:
    """Median over rounds of ``median(times[r]) / median(baseline[r])``, over the rounds where both ran.

    Pairs steps timed close together, so load that comes and goes between
    rounds cancels out.

    >>> paired_ratio([[2.0, 2.2], [4.0], []], [[1.0], [2.0], [9.0]])
    2.05
    """
    pairs = [float(np.median(a)) / float(np.median(b)) for a, b in zip(times, baseline) if len(a) and len(b)]
    if not pairs:
        raise ValueError("paired_ratio: no round has steps of both balancers.")
    return float(np.median(pairs))


def _summary(model, model_options, net, batch_size, warmup, rounds, runs) -> dict:
    medians = {name: float(np.median(run["times"])) for name, run in runs.items()}
    base = runs["uniform"]["rounds"]
    minimums = {name: min(run["times"]) for name, run in runs.items()}
    results = [{"balancer": name, "steps": len(run["times"]), "median_ms": 1000 * medians[name],
                "min_ms": 1000 * minimums[name], "ratio": paired_ratio(run["rounds"], base),
                "ratio_of_medians": medians[name] / medians["uniform"],
                "ratio_of_minimums": minimums[name] / minimums["uniform"],
                "first_step_s": run["first"], "times_ms": [1000 * t for t in run["times"]]}
               for name, run in runs.items()]
    ratios = {f"{row['balancer']}/uniform": row["ratio"] for row in results if row["balancer"] != "uniform"}
    if "mgda" in runs and "mgda_ub" in runs:
        ratios["mgda/mgda_ub"] = paired_ratio(runs["mgda"]["rounds"], runs["mgda_ub"]["rounds"])
    return {"model": model, "model_options": dict(model_options or {}), "tasks": len(net.tasks),
            "input_shape": list(net.inputs[0].shape[1:]), "batch_size": batch_size, "warmup": warmup,
            "rounds": rounds, "results": results, "ratios": ratios}


__all__ = ["ALL_BALANCERS", "GENERIC", "PRESETS", "SLOW_BALANCERS", "build_compiled", "check_names", "expand",
           "is_slow", "make_balancer",
           "paired_ratio", "recipe_loss", "run_benchmark", "split_steps", "synthetic_batch", "time_steps"]
