"""Shared part of the min-norm rules (MGDA in either space, EDM): gradient normalization, the solver, stationarity."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from mtlzoo.training.balancers.gramian_balancer import GramianBalancer
from mtlzoo.training import solvers
from mtlzoo.training.min_norm import min_norm

NORMALIZATIONS = ("none", "l2", "loss", "loss+")


class MinNormBalancer(GramianBalancer):
    """Base of the balancers that solve min_alpha ||sum_t alpha_t g_t||^2 on the simplex (seed 002 eq. 3).

    Args:
        normalization: how the gradients are normalized before the min-norm
            problem, as in the authors' code: ``"none"``, ``"l2"`` (g / ||g||),
            ``"loss"`` (g / L) or ``"loss+"`` (g / (L ||g||)). The weights alpha
            then multiply the raw losses.
        solver: a :func:`~mtlzoo.training.min_norm` solver name.
        tolerance: a block's step counts as Pareto-stationary (seed 000 Fig. 4)
            when ||sum_t alpha_t g_t|| <= tolerance * (the block's largest task
            gradient norm at the first step); the logged ``pareto_stationary`` is
            the fraction of an epoch's steps where every shared block is.
        solver_options: passed to the solver (``max_iters``, ``tol``).
        space: ``"latent"`` (MGDA-UB) or ``"parameters"`` (exact MGDA); see :class:`GramianBalancer`.
        **kwargs: ``Balancer`` arguments.
    """

    def __init__(self, normalization: str = "loss+", solver: str = "auto", tolerance: float = 0.05,
                 solver_options: dict | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}.")
        if not tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance!r}.")
        if solver != "auto" and not callable(solver):
            solvers.get(solver)  # unknown name: the registry's error lists the known ones
        self.normalization = normalization
        self.solver = solver
        self.tolerance = float(tolerance)
        self.solver_options = dict(solver_options or {})

    def log_names(self) -> tuple[str, ...]:
        return ("pareto_stationary",) + super().log_names()

    def normalizers(self, gram: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
        """The per-task divisors of ``normalization`` (1 where one would be 0 or not finite)."""
        norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gram), 0.0))
        values = tf.cast(values, tf.float32)
        n = {"none": tf.ones_like(norms), "l2": norms, "loss": values, "loss+": values * norms}[self.normalization]
        ok = tf.math.is_finite(n) & (n > 1e-12)
        return tf.where(ok, n, tf.ones_like(n))

    def create_state(self) -> None:
        # per shared block of the tree: the largest task-gradient norm of the first step
        self.reference_norms = self.state_variable("reference_norms", (max(len(self.tree.shared_blocks), 1),))

    def solve(self, gram: tf.Tensor, values: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(alpha, ||sum_t alpha_t g_t||)`` for one block's Gram matrix and its tasks' loss values."""
        n = self.normalizers(gram, values)
        alpha = min_norm(gram / (n[:, None] * n[None, :]), solver=self.solver, **self.solver_options)
        safe = tf.where(tf.math.is_finite(gram), gram, tf.zeros_like(gram))
        norm = tf.sqrt(tf.maximum(tf.tensordot(alpha, tf.linalg.matvec(safe, alpha), 1), 0.0))
        return alpha, norm

    def solve_blocks(self, step, grams) -> tuple[dict, tf.Tensor]:
        """alpha^i for every shared block from ``grams``, and whether all of them are Pareto-stationary."""
        weights, logs = self.weigh_blocks(self.problems(step, grams))
        return weights, logs["pareto_stationary"]

    def weigh_blocks(self, problems) -> tuple[dict, dict]:
        """alpha^i for every shared block, and ``pareto_stationary``: whether all of them are.

        A block is stationary when the norm of the weighted gradient of the raw
        losses, ||sum_t alpha_t g_t||, is at most ``tolerance`` times the largest
        task-gradient norm of the block at the first step: the KKT condition
        (seed 000 eq. 4.3) up to a tolerance relative to where training started,
        so the fraction of stationary steps grows as training converges (Fig. 4).
        """
        weights, flags = {}, []
        references = tf.convert_to_tensor(self.reference_norms)
        updates = []
        for p in problems:
            weights[p.block], norm = self.solve(p.gram, p.values)
            diag = tf.linalg.diag_part(p.gram)
            largest = tf.sqrt(tf.reduce_max(tf.where(tf.math.is_finite(diag), tf.maximum(diag, 0.0), 0.0)))
            k = p.position
            reference = tf.where(references[k] > 0, references[k], largest)
            updates.append(tf.one_hot(k, references.shape[0]) * reference)
            flags.append(norm <= self.tolerance * reference)
        if updates:
            self.reference_norms.assign(tf.where(references > 0, references, tf.add_n(updates)))
        stationary = tf.reduce_all(tf.stack(flags)) if flags else tf.constant(True)
        return weights, {"pareto_stationary": tf.cast(stationary, tf.float32)}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "normalization": self.normalization, "solver": self.solver,
                "tolerance": self.tolerance, "solver_options": dict(self.solver_options)}
