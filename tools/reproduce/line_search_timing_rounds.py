"""The timing method of ``benchmarks/bench_line_search.py``, inside the package: the contenders of seed 001
Table 1 run ``train_on_batch`` on one fixed batch, interleaved in rounds whose order rotates, and the median
seconds per step are compared.

The four contenders (seed 001 §5: eta_ub = 1, beta = 0.1, eps = 1e-10, eta_ub halved every 10 epochs):

- ``fast``: MGDA-UB direction, fast latent backtracking (Alg. 4.2, rule 4.2);
- ``classic``: MGDA-UB direction, classical backtracking on the whole model (Alg. 4.1, rule 4.1);
- ``sgd``: "Classical SGD": the plain sum of the task losses (``uniform``), SGD at a fixed rate;
- ``mgda_ub``: MGDA-UB with SGD at the same fixed rate (the benchmark's SGD baseline).

>>> list(METHODS)
['fast', 'classic', 'sgd', 'mgda_ub']
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np

#: Seed 001 §5's line-search settings.
SEARCH = {"eta_max": 1.0, "beta": 0.1, "eps": 1e-10, "decay": 0.5, "decay_every": 10}
#: The fixed SGD rate of ``sgd`` and ``mgda_ub`` (the best of seed 001's 8 rates in the README's benchmark).
SGD_RATE = 0.1
#: name -> (balancer, line search or None); ``None`` means SGD at :data:`SGD_RATE` without momentum.
METHODS = {"fast": ("mgda_ub", "fast"), "classic": ("mgda_ub", "classic"),
           "sgd": ("uniform", None), "mgda_ub": ("mgda_ub", None)}
#: Timing rounds, steps per method per round, untimed warm-up steps per method (the benchmark's defaults).
ROUNDS, STEPS, WARMUP = 20, 5, 5


def compile_method(model, method: str):
    """Compile ``model`` for contender ``method`` (a key of :data:`METHODS`) and return it.

    Example:
        >>> import mtlzoo
        >>> compile_method(mtlzoo.models.get("multimnist_lenet", width=2), "fast").line_search.method
        'fast'
    """
    import keras

    if method not in METHODS:
        raise ValueError(f"line_search_timing: unknown method {method!r}; known: {', '.join(METHODS)}.")
    balancer, search = METHODS[method]
    if search is None:
        model.compile(balancer=balancer, optimizer=keras.optimizers.SGD(learning_rate=SGD_RATE, momentum=0.0))
    else:
        model.compile(balancer=balancer, line_search={"method": search, **SEARCH})
    return model


def build_method(method: str, weights: Sequence[np.ndarray], width: int | None = None):
    """A fresh ``multimnist_lenet`` holding ``weights``, compiled for ``method``.

    Args:
        method: a key of :data:`METHODS`.
        weights: values of the network's ``model.weights`` taken before ``compile`` (which adds the
            balancer's and the line search's variables).
        width: the model width (``None``: the seed's).

    Returns:
        ``(model, variables)``: the compiled model and the network variables that ``weights`` filled.
    """
    import mtlzoo

    model = mtlzoo.models.get("multimnist_lenet", **({"width": width} if width else {}))
    variables = list(model.weights)
    for variable, value in zip(variables, weights, strict=True):
        variable.assign(value)
    return compile_method(model, method), variables


def time_rounds(models: Mapping[str, object], x, y, rounds: int | None = None, steps: int | None = None,
                warmup: int | None = None) -> dict:
    """Median seconds per ``train_on_batch`` step of each model on the batch ``(x, y)``, interleaved.

    After ``warmup`` untimed steps each, ``rounds`` rounds run ``steps`` steps
    of every model, the order rotating by one model each round, so a slow phase
    of a shared machine hits all models alike.

    Args:
        models: ``{name: compiled model}``.
        x, y: the fixed batch.
        rounds, steps, warmup: defaults :data:`ROUNDS`, :data:`STEPS`, :data:`WARMUP`.

    Returns:
        ``{"median_step_seconds": {name: s}, "step_seconds": {name: [s per round]},
        "eta_mean"/"trials_mean": {name: mean over the timed steps} (line searches only)}``.

    Example:
        >>> out = time_rounds({"fast": model}, x, y, rounds=2, steps=1, warmup=1)  # doctest: +SKIP
    """
    rounds, steps, warmup = (ROUNDS if rounds is None else rounds, STEPS if steps is None else steps,
                             WARMUP if warmup is None else warmup)
    if rounds < 1 or steps < 1 or warmup < 0:
        raise ValueError(f"time_rounds: need rounds >= 1, steps >= 1, warmup >= 0; got {rounds}, {steps}, "
                         f"{warmup}.")
    from mtlzoo.training.step_timing import interleaved_rounds

    names = list(models)
    timed = interleaved_rounds({n: partial(models[n].train_on_batch, x, y, return_dict=True) for n in names},
                               [steps] * rounds, warmup=warmup, rotate=True)
    seconds = {n: [sum(part) / steps for part in timed["seconds"][n]] for n in names}
    logs = timed["outputs"]
    searched = [n for n in names if logs[n] and "eta" in logs[n][0]]
    return {"median_step_seconds": {n: statistics.median(s) for n, s in seconds.items()},
            "step_seconds": seconds,
            "eta_mean": {n: float(np.mean([float(o["eta"]) for o in logs[n]])) for n in searched},
            "trials_mean": {n: float(np.mean([float(o["trials"]) for o in logs[n]])) for n in searched}}
