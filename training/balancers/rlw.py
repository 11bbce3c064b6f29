"""``rlw``: Random Loss Weighting (Lin et al. 2022, "Reasonable Effectiveness of Random Weighting: A Litmus Test
for Multi-Task Learning", TMLR)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtlzoo.training.balancers.balancer import Balancer

DISTRIBUTIONS = ("normal", "dirichlet")


def rlw_weights(seed, size: int, distribution: str = "normal", concentration: float = 1.0) -> tf.Tensor:
    """One draw of RLW's task weights (float32, shape (size,), summing to 1) from a stateless seed pair.

    ``"normal"``: softmax of a standard normal vector (the paper's default); ``"dirichlet"``:
    Dirichlet(concentration, ..., concentration), drawn as normalized Gamma variates.

    Example:
        >>> w = rlw_weights(tf.constant([0, 3]), 2)
        >>> round(float(tf.reduce_sum(w)), 5)
        1.0
    """
    seed = tf.cast(seed, tf.int32)
    if distribution == "normal":
        return tf.nn.softmax(tf.random.stateless_normal((size,), seed=seed))
    draws = tf.random.stateless_gamma((size,), seed=seed, alpha=tf.constant(concentration, tf.float32))
    draws = tf.maximum(draws, 1e-30)  # a Gamma(alpha < 1) draw can underflow to 0
    return draws / tf.reduce_sum(draws)


@keras.saving.register_keras_serializable(package="mtlzoo")
class RLW(Balancer):
    """Minimize sum_t lambda_t L_t with fresh random weights lambda every step (Lin et al. 2022, Alg. 1).

    lambda is drawn from ``distribution`` and normalized to sum to 1 (the paper's f(lambda~), the
    softmax for the normal draws). Draws are stateless: ``tf.random.stateless_*`` seeded with
    ``(seed, step)``, where ``step`` counts train steps in a state variable, so every replica
    draws the same weights and a resumed run continues the same sequence. Logs ``weight_<task>``
    (their mean over an epoch is close to 1/T).

    Departures from the paper: none in the draws; a task absent from a batch (loss 0) keeps its
    weight, which multiplies a zero loss. The weights sum to 1 as in the paper (``uniform``'s sum
    to T): with plain SGD, RLW's steps are about 1/T of uniform's at the same learning rate (with
    Adam, the paper's optimizer, the scale is immaterial).

    Args:
        distribution: ``"normal"`` (softmax of N(0, 1) draws, the paper's default) or
            ``"dirichlet"``.
        concentration: the Dirichlet parameter alpha (``"dirichlet"`` only; 1 is uniform on the simplex).
        seed: seeds the draws (with the step counter).
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("rlw", distribution="dirichlet").distribution
        'dirichlet'
    """

    registry_name = "rlw"

    def __init__(self, distribution: str = "normal", concentration: float = 1.0, seed: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"rlw: distribution must be one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}.")
        if isinstance(concentration, bool) or not isinstance(concentration, (int, float)) \
                or not np.isfinite(concentration) or concentration <= 0:
            raise ValueError(f"rlw: concentration must be a finite number > 0, got {concentration!r}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"rlw: seed must be an integer, got {seed!r}.")
        self.distribution = distribution
        self.concentration = float(concentration)
        self.seed = int(seed)

    def create_state(self) -> None:
        self.steps = self.state_variable("steps")

    def log_names(self) -> tuple[str, ...]:
        return tuple(f"weight_{t}" for t in self.tasks)

    def draw(self, counter) -> tf.Tensor:
        """The weights of step ``counter`` (what :meth:`gradients` uses at that step)."""
        seed = tf.stack([tf.constant(self.seed, tf.int32), tf.cast(counter, tf.int32)])
        return rlw_weights(seed, len(self.tasks), self.distribution, self.concentration)

    def gradients(self, step):
        w = self.draw(self.steps)
        self.steps.assign_add(1.0)
        grads = step.weighted_sum_gradients({t: w[k] for k, t in enumerate(self.tasks)})
        return grads, {f"weight_{t}": w[k] for k, t in enumerate(self.tasks)}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "distribution": self.distribution, "concentration": self.concentration,
                "seed": self.seed}
