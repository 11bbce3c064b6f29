"""``static``: fixed task weights c^t."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from mtlzoo.training.balancers.balancer import Balancer


@keras.saving.register_keras_serializable(package="mtlzoo")
class Static(Balancer):
    """Minimize sum_t c^t L_t with fixed weights (seed 000 eq. 4.8 with constant c).

    Args:
        weights: ``{task: c}`` (tasks left out get 1) or a list in the model's task order.
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get({"class_name": "static", "config": {"weights": {"left": 2.0}}}).task_weights
        {'left': 2.0}
    """

    registry_name = "static"

    def __init__(self, weights: Mapping[str, float] | Sequence[float] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(weights, Mapping):
            weights = {str(k): float(v) for k, v in weights.items()}
        elif weights is not None:
            weights = [float(v) for v in weights]
        self.task_weights = weights

    def create_state(self) -> None:
        spec = self.task_weights
        if spec is None:
            self._c = {t: 1.0 for t in self.tasks}
        elif isinstance(spec, Mapping):
            unknown = sorted(set(spec) - set(self.tasks))
            if unknown:
                raise ValueError(f"static balancer: weights for unknown task(s) {unknown}; tasks: {list(self.tasks)}.")
            self._c = {t: spec.get(t, 1.0) for t in self.tasks}
        else:
            if len(spec) != len(self.tasks):
                raise ValueError(f"static balancer: {len(spec)} weights for {len(self.tasks)} tasks "
                                 f"{list(self.tasks)}.")
            self._c = dict(zip(self.tasks, spec))
        bad = {t: c for t, c in self._c.items() if not c >= 0}
        if bad:
            raise ValueError(f"static balancer: weights must be >= 0, got {bad}.")

    def gradients(self, step):
        return step.weighted_sum_gradients(self._c), {}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weights": self.task_weights}
