"""``cagrad``: conflict-averse gradient descent (Liu et al. 2021)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.gramian_balancer import GramianBalancer
from mtlzoo.training.solvers.conflict_averse import conflict_averse

RESCALES = (0, 1, 2)


@keras.saving.register_keras_serializable(package="mtlzoo")
class CAGrad(GramianBalancer):
    """CAGrad (Liu, Liu, Jin, Stone & Liu 2021, "Conflict-Averse Gradient Descent for Multi-task
    Learning", NeurIPS; Algorithm 1).

    Per shared block i: the update d maximizes the worst task's improvement min_t g_t . d over the
    ball ||d - g0|| <= c ||g0|| around the mean gradient g0. Its dual is
    min_{w in simplex} g_w . g0 + sqrt(phi) ||g_w||, g_w = sum_t w_t g_t, phi = c^2 ||g0||^2, and
    d = g0 + sqrt(phi) / ||g_w|| g_w: the weights are 1/T + sqrt(phi) / ||g_w|| w_t, all from G.
    ``rescale`` divides them as the authors' code does: 0 none, 1 by 1 + c^2 (their default),
    2 by 1 + c.

    Departures: the authors (and LibMTL) solve the dual with SciPy's SLSQP on a smoothed norm, TorchJD
    with cvxpy/CLARABEL; here a barrier method in TensorFlow (float64, at most 400 Newton steps, see
    :func:`~mtlzoo.training.solvers.conflict_averse.conflict_averse`) solves it to a duality gap of
    1e-11 (relative to trace G). When ||g_w|| vanishes (g0 is Pareto-stationary within the ball)
    the extra term is dropped (the authors' limit: their c / (||g_w|| + 1e-8) times g_w = 0;
    TorchJD returns 0 there). A task whose Gram row is not finite gets weight 0. The authors
    apply CAGrad to the shared parameters; ``space="latent"`` (default here) applies the same rule
    to the latent gradients of each shared block.

    Args:
        c: the radius factor c >= 0 (the authors' ``alpha``/``calpha``, default 0.5); c = 0 is the
            mean gradient.
        rescale: 0, 1 or 2, as above.
        space: ``"latent"`` (default) or ``"parameters"``.
        **kwargs: :class:`~mtlzoo.training.balancers.Balancer` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> problem = balancers.BlockProblem("trunk", 0, ("a", "b"), (0, 1),
        ...                                  tf.constant([[1.0, -2.0], [-2.0, 9.0]]), tf.ones(2), None, "latent")
        >>> balancers.get("cagrad", c=0.0).weigh(problem).numpy()   # c = 0: the mean
        array([0.5, 0.5], dtype=float32)
    """

    registry_name = "cagrad"
    logs_weights = True

    def __init__(self, c: float = 0.5, rescale: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        if not c >= 0:
            raise ValueError(f"cagrad: c must be >= 0, got {c!r}.")
        if rescale not in RESCALES:
            raise ValueError(f"cagrad: rescale must be one of {RESCALES}, got {rescale!r}.")
        self.c = float(c)
        self.rescale = int(rescale)

    def weigh(self, problem) -> tf.Tensor:
        divisor = {0: 1.0, 1: 1.0 + self.c ** 2, 2: 1.0 + self.c}[self.rescale]
        return conflict_averse(problem.gram, self.c) / divisor

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "c": self.c, "rescale": self.rescale}
