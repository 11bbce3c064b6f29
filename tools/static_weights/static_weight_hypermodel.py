"""``StaticWeightHyperModel``: a keras-tuner ``HyperModel`` over static task weights on a simplex grid."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import keras_tuner

from mtlzoo.tools.static_weights.mean_metric_callback import MeanMetricCallback
from mtlzoo.tools.static_weights.simplex_grid import simplex_grid, smallest_resolution

#: The one hyperparameter: the index of the trial's point in :attr:`StaticWeightHyperModel.grid`.
HP_NAME = "weights_index"


class StaticWeightHyperModel(keras_tuner.HyperModel):
    """Builds a zoo model compiled with the ``static`` balancer at one grid point of the weight simplex.

    The search space is one ``hp.Choice`` over the indices of
    :func:`~mtlzoo.tools.static_weights.simplex_grid.simplex_grid` points, so
    every trial is a point ``c`` of the simplex (``sum_t c^t = 1``; interior
    points by default, see there). The model is compiled with
    ``balancer={"class_name": "static", "config": {"weights": {t: total_weight * c^t}}}``.
    ``total_weight`` defaults to T: the centre of the simplex then trains
    exactly like the ``uniform`` balancer (``sum_t L_t``) and the recipe's
    learning rate keeps its meaning; ``total_weight=1`` is seed 002's
    ``sum_t c^t L^t`` literally (at T times smaller steps).

    Every trial starts from the same initial weights (the Keras seed is reset
    to ``seed`` before each build), so trials differ only in their task weights.
    The objective is ``val_mean_<metric>``, the mean of ``val_<task>_<metric>``
    over tasks, added to the epoch logs by :class:`MeanMetricCallback` in :meth:`fit`.

    Args:
        model: a zoo model name (``mtlzoo.models.names()``).
        resolution: the grid's steps per edge: weights are multiples of ``1/resolution``.
        model_kwargs: zoo build options (``width=2``, ``dataset="celeba"``, ...).
        optimizer: a Keras optimizer name or config (``None``: the zoo recipe's);
            each trial gets a fresh instance.
        metric: the per-task metric averaged into the objective (compiled for every task).
        direction: ``"max"`` (accuracy) or ``"min"`` (a loss or an error).
        include_boundary: allow zero weights (tasks left untrained).
        total_weight: the sum of the static weights (``None``: the number of tasks).
        seed: the Keras seed set before every build.
        compile_kwargs: further :meth:`MultiTaskModel.compile` arguments (``loss``, ...).

    Example:
        >>> hypermodel = StaticWeightHyperModel("multimnist_lenet", resolution=4, model_kwargs={"width": 2})
        >>> hypermodel.grid
        [(0.25, 0.75), (0.5, 0.5), (0.75, 0.25)]
        >>> hp = keras_tuner.HyperParameters(); hp.Fixed("weights_index", 0)
        0
        >>> hypermodel.build(hp).balancer.task_weights
        {'left': 0.5, 'right': 1.5}
    """

    def __init__(self, model: str = "multimnist_lenet", resolution: int = 10,
                 model_kwargs: Mapping[str, Any] | None = None, optimizer=None, metric: str = "accuracy",
                 direction: str = "max", include_boundary: bool = False, total_weight: float | None = None,
                 seed: int = 0, compile_kwargs: Mapping[str, Any] | None = None, **kwargs):
        super().__init__(name=kwargs.pop("name", "static_weights"), **kwargs)
        import mtlzoo

        self.entry = mtlzoo.models.entry(model)  # raises "unknown zoo model ...; known: ..."
        self.model_kwargs = dict(model_kwargs or {})
        self.resolution = int(resolution)
        self.optimizer = optimizer
        self.metric = metric
        if direction not in ("max", "min"):
            raise ValueError(f"direction must be 'max' or 'min', got {direction!r}.")
        self.direction = direction
        self.include_boundary = bool(include_boundary)
        self.total_weight = total_weight
        self.seed = int(seed)
        self.compile_kwargs = dict(compile_kwargs or {})
        self.fits = 0  # trials trained by this instance (fit calls)
        self.tasks = tuple(self.build_network().tasks)
        lowest = smallest_resolution(len(self.tasks), self.include_boundary)
        if self.resolution < lowest:
            raise ValueError(f"resolution {self.resolution} gives no interior grid point for {len(self.tasks)} "
                             f"tasks; use a resolution >= {lowest}.")
        self.grid = simplex_grid(len(self.tasks), self.resolution, self.include_boundary)

    @property
    def objective(self) -> keras_tuner.Objective:
        """The tuner objective: ``val_mean_<metric>`` in :attr:`direction`."""
        return keras_tuner.Objective(f"val_mean_{self.metric}", direction=self.direction)

    def weights_of(self, index: int) -> dict[str, float]:
        """The simplex point ``{task: c^t}`` of grid index ``index``."""
        return dict(zip(self.tasks, self.grid[int(index)]))

    def balancer_weights(self, index: int) -> dict[str, float]:
        """The ``static`` balancer's weights ``{task: total_weight * c^t}`` of grid index ``index``."""
        total = float(len(self.tasks) if self.total_weight is None else self.total_weight)
        return {t: total * c for t, c in self.weights_of(index).items()}

    def build(self, hp: keras_tuner.HyperParameters):
        index = hp.Choice(HP_NAME, list(range(len(self.grid))), ordered=True)
        model = self.build_network()
        recipe = dict(getattr(model, "recipe", None) or {})
        optimizer = self.optimizer if self.optimizer is not None else recipe.get("optimizer", "adam")
        if isinstance(optimizer, keras.optimizers.Optimizer):  # never share optimizer state between trials
            optimizer = keras.optimizers.serialize(optimizer)
        kwargs = {"metrics": [self.metric], **self.compile_kwargs}
        model.compile(optimizer=keras.optimizers.get(optimizer),
                      balancer={"class_name": "static", "config": {"weights": self.balancer_weights(index)}},
                      **kwargs)
        return model

    def fit(self, hp, model, x=None, *args, callbacks=None, **kwargs):
        """``model.fit`` with :class:`MeanMetricCallback` placed before the tuner's callbacks.

        Args:
            hp: the trial's hyperparameters.
            model: the built model.
            x: a dataset, or a zero-argument callable returning a fresh one (so
                every trial sees the same shuffled batches).
            callbacks: the tuner's callbacks.
            *args, **kwargs: the rest of ``model.fit``'s arguments (``validation_data``, ``epochs``, ...).

        Returns:
            The ``History`` (keras-tuner takes the objective's best epoch).
        """
        if callable(x) and not hasattr(x, "element_spec"):
            x = x()
        self.fits += 1
        callbacks = [MeanMetricCallback(self.tasks, self.metric), *(callbacks or [])]
        return model.fit(x, *args, callbacks=callbacks, **kwargs)

    def build_network(self):
        """The zoo model with the Keras seed reset to :attr:`seed` (uncompiled); every trial starts from it."""
        keras.utils.set_random_seed(self.seed)
        return self.entry.build(**self.model_kwargs)
