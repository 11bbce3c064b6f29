"""``moco``: MoCo (Fernando et al. 2023, "Mitigating Gradient Bias in Multi-objective Learning: A
Provably Convergent Approach", ICLR): MGDA on tracked gradients."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.gramian_balancer import GramianBalancer
from mtlzoo.training.solvers._common import project_simplex


@keras.saving.register_keras_serializable(package="mtlzoo")
class MoCo(GramianBalancer):
    """MoCo per shared block: track each task's parameter gradient across steps and take the
    MGDA-like direction of the tracked gradients, with weights that move by projected gradient steps.

    At step k (from 1), for every shared block i with tasks O(i) and gradients h_t = dL_t/dtheta_i
    (global batch, unscaled), with beta_k = beta / k^beta_decay and gamma_k = gamma / k^gamma_decay:

        y_t <- y_t - beta_k (y_t - h_t)                      (the tracked gradients, Y = [y_t])
        lambda <- Proj_simplex(lambda - gamma_k (Y Y^T + rho I) lambda)
        update of theta_i = Y^T lambda

    (Alg. 1). Y (one variable per block variable, shaped (T_i, *variable.shape), starting at 0) and
    lambda (per block, starting at 1/T_i) are state: saved with the model, restored by
    ``BackupAndRestore``, identical on every replica (updated from the all-reduced gradients). The
    logged ``weight_<task>`` is lambda of the task's root-most shared block.

    Parameter space only: Y tracks the same parameters' gradients from step to step; the latent
    gradients dL_t/dZ_i belong to the samples of one batch and cannot be tracked across batches, so
    ``space="latent"`` is refused.

    Departures: no projection of y onto a bounded set (the paper's Pi_{L_m}, there for the proof);
    Y starts at 0 and the step sizes decay as in the code the authors shared with LibMTL (whose
    defaults these are), but lambda is projected onto the simplex as in the paper (LibMTL uses a
    softmax); ``normalize=True`` tracks h_t L_t / ||h_t|| as that code does; per tree block.

    Args:
        beta, beta_decay: the tracking rate beta_k = beta / k^beta_decay (beta in (0, 1]).
        gamma, gamma_decay: the weights' step size gamma_k = gamma / k^gamma_decay.
        rho: the l2 regularization of the weights' update.
        normalize: track h_t scaled to norm L_t instead of h_t.
        space: ``"parameters"`` (the only one).
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("moco").space
        'parameters'
    """

    registry_name = "moco"
    spaces = ("parameters",)
    default_space = "parameters"
    logs_weights = True

    def __init__(self, beta: float = 0.5, beta_decay: float = 0.5, gamma: float = 0.1, gamma_decay: float = 0.5,
                 rho: float = 0.0, normalize: bool = False, space: str | None = None, **kwargs: Any):
        super().__init__(space=space, **kwargs)
        if not 0.0 < beta <= 1.0 or not gamma > 0 or not rho >= 0 or not beta_decay >= 0 or not gamma_decay >= 0:
            raise ValueError("moco: need 0 < beta <= 1, gamma > 0 and rho, beta_decay, gamma_decay >= 0; got "
                             f"beta={beta!r}, gamma={gamma!r}, rho={rho!r}, beta_decay={beta_decay!r}, "
                             f"gamma_decay={gamma_decay!r}.")
        self.beta, self.beta_decay = float(beta), float(beta_decay)
        self.gamma, self.gamma_decay = float(gamma), float(gamma_decay)
        self.rho = float(rho)
        self.normalize = bool(normalize)

    def create_state(self) -> None:
        if self.groups is None:
            raise ValueError("moco: set up with the model's VariableGroups (compile the model with it).")
        self.steps = self.state_variable("steps")
        self.tracked, self.lambdas = {}, {}
        position = {b: k for k, b in enumerate(self.tree.shared_blocks)}
        for block, tasks, variables in self.groups.shared:
            k = position[block]
            self.tracked[block] = [self.state_variable(f"tracked_{k}_{n}", (len(tasks), *v.shape))
                                   for n, v in enumerate(variables)]
            self.lambdas[block] = self.state_variable(f"lambda_{k}", (len(tasks),),
                                                      keras.initializers.Constant(1.0 / len(tasks)))

    def weigh_blocks(self, problems) -> tuple[dict, dict]:
        k = tf.convert_to_tensor(self.steps) + 1.0
        self.steps.assign(k)
        beta = self.beta / tf.pow(k, self.beta_decay)
        gamma = self.gamma / tf.pow(k, self.gamma_decay)
        weights = {}
        for p in problems:
            scale = p.step.loss_scale
            parts = [p.step.all_reduce_sum(tf.stack([tf.cast(g[n], tf.float32) for g in p.gradients()])) / scale
                     for n in range(len(self.tracked[p.block]))]  # per variable: (T_i, *shape), global
            if self.normalize:
                sq = tf.add_n([tf.reduce_sum(tf.reshape(h, (p.size, -1)) ** 2, axis=1) for h in parts])
                factor = tf.math.divide_no_nan(p.values, tf.sqrt(sq))
                parts = [h * tf.reshape(factor, (p.size,) + (1,) * (h.shape.rank - 1)) for h in parts]
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(h)) for h in parts])
            tracked = []
            for var, h in zip(self.tracked[p.block], parts):
                y = tf.convert_to_tensor(var)
                y = tf.where(finite, y - beta * (y - h), y)
                var.assign(y)  # combine() reads the updated values back
                tracked.append(y)
            yy = tf.add_n([tf.matmul(tf.reshape(y, (p.size, -1)), tf.reshape(y, (p.size, -1)), transpose_b=True)
                           for y in tracked])
            lam = tf.convert_to_tensor(self.lambdas[p.block])
            step = lam - gamma * (tf.linalg.matvec(yy, lam) + self.rho * lam)
            new = project_simplex(step, tf.ones((p.size,), tf.bool))
            new = tf.where(tf.reduce_all(tf.math.is_finite(new)), new, lam)
            self.lambdas[p.block].assign(new)
            weights[p.block] = new
        return weights, {}

    def combine(self, problem, weights) -> list:
        # the optimizer sums what every replica returns, with the loss scale: return this replica's share
        share = problem.step.loss_scale / float(problem.step.replicas())
        grads = problem.gradients()[0]
        return [tf.cast(tf.tensordot(weights, tf.convert_to_tensor(y), 1) * share, g.dtype)
                for y, g in zip(self.tracked[problem.block], grads)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta": self.beta, "beta_decay": self.beta_decay, "gamma": self.gamma,
                "gamma_decay": self.gamma_decay, "rho": self.rho, "normalize": self.normalize}
