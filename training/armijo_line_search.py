"""Armijo backtracking line search, classical (seed 001 Alg. 4.1) and fast in the latent space (Alg. 4.2)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training import armijo_backtracking, armijo_rules
from mtlzoo.training.step_context import StepContext

METHODS = ("fast", "classic")


@keras.saving.register_keras_serializable(package="mtlzoo")
class ArmijoLineSearch(keras.layers.Layer):
    """Chooses the step size eta of every train step by backtracking until an Armijo rule holds.

    The balancer supplies the direction: the gradient it would hand the
    optimizer, i.e. d_sh = (dz/d theta_sh)^T d_z for the shared parameters and
    grad_t L_t for each task's own ones. Starting from the upper bound eta_ub,
    eta shrinks by ``shrink`` until every task's trial loss satisfies the rule;
    the step theta <- theta - eta d is then applied directly (the compiled
    optimizer is not used). Trial points are evaluated with ``stateless_call``,
    so the model's variables and batch-norm statistics are untouched by trials.

    - ``method="fast"`` (Alg. 4.2): trials move the latent z of the shared
      trunk to z - eta d_z and the heads to theta_t - eta grad_t L_t; only the
      heads run. Rules ``"4.2"`` (default), ``"4.3"``, ``"4.4"``, ``"4.5"``.
      Needs a latent balancer (``mgda_ub``, ``edm``, ``hybrid``, latent
      ``gradnorm``/``pcgrad``) and a model whose parameterised shared blocks are
      shared by every task.
      As in the seed, the trial checks only the heads at z - eta d_z; the
      trunk's actual move of z, eta (dz/d theta_sh)(dz/d theta_sh)^T d_z, is not
      checked and is typically hundreds of times larger (d_z is the gradient of
      the batch-mean loss). On MultiMNIST the search then accepts eta_ub on
      almost every step, so eta_ub acts as the trunk's learning rate.
    - ``method="classic"`` (Alg. 4.1): trials run the whole model at
      theta - eta d; rule ``"4.1"``; works with any balancer.

    The candidates are eta_0 * shrink^k for k = 0..``candidates``-1 that are
    >= ``eps`` (eta_0 = eta_ub, or the warm start below). A non-finite trial
    loss fails the trial. When no candidate passes, the step at ``eps`` is
    taken if its losses are finite, otherwise the batch is skipped. Logs:
    ``eta`` (mean step), ``trials`` (mean trials per step), ``skipped``
    (fraction of skipped batches). eta_ub is multiplied by ``decay`` every
    ``decay_every`` epochs (seed 001 §5); it is a variable, saved in
    checkpoints.

    Two ways to walk the candidates (:mod:`~mtlzoo.training.armijo_backtracking`),
    with the same result for the same candidates:

    - sequential (the one-device default): one trial at a time, stopping at the
      first accepted one; usually one or two trials per step.
    - batched (``batched=True``; always under a ``tf.distribute`` strategy with
      several replicas): every candidate and ``eps`` are evaluated in one
      fixed-length pass on each replica's samples, the trial losses are summed
      over replicas with one all-reduce, and the largest accepted candidate is
      taken. A departure from seed 001, which backtracks one trial at a time
      (the data-dependent loop would need an all-reduce per trial inside
      ``tf.while_loop``): each step costs ``candidates + 1`` trials (35 with the
      defaults), so under a strategy raise ``eps`` or lower ``candidates``.
      ``trials`` then logs the accepted candidate's position (what the
      sequential search would have counted), not the trials evaluated. Trials
      move every replica along the all-reduced direction.

    Warm start (``warm_start``, default on for ``classic``): each step's search
    starts from the previously accepted eta divided by ``shrink`` (capped at
    eta_ub) instead of from eta_ub, as in Vaswani et al. 2019 ("Painless
    Stochastic Gradient", their reset option 2 with an increase of 1/shrink):
    once the step size has settled the search needs one or two trials per step
    instead of about eight. A departure from seed 001 Alg. 4.1, which restarts at
    eta_ub every step; ``warm_start=False`` restores that.

    Args:
        method: ``"fast"`` or ``"classic"``.
        rule: the Armijo rule (default 4.2 for fast, 4.1 for classic).
        eta_max: the initial upper bound eta_ub.
        beta: the Armijo constant, in (0, 0.5).
        shrink: eta's factor after a failed trial, in (0, 1).
        eps: the lower bound of eta.
        decay: eta_ub's factor every ``decay_every`` epochs.
        decay_every: epochs between decays (0: never).
        warm_start: start from the last accepted eta / shrink (default: ``True`` for classic,
            ``False`` for fast, whose trials are cheap).
        candidates: how many step sizes eta_0 * shrink^k a step may try (default: every one
            >= ``eps`` from ``eta_max``, i.e. :attr:`max_trials`).
        batched: evaluate all candidates at once (default: only under a strategy with several
            replicas; ``False`` is refused there).
        **kwargs: ``keras.layers.Layer`` arguments.

    Example:
        >>> model = mtlzoo.models.get("multimnist_lenet", width=2)
        >>> model.compile(balancer="mgda_ub", line_search="fast")
        >>> model.compile(balancer="mgda_ub", line_search={"method": "classic", "eta_max": 0.5})
        >>> model.line_search.method, model.line_search.eta_max
        ('classic', 0.5)
        >>> ArmijoLineSearch(method="classic", eps=1e-3, candidates=4, batched=True).candidates
        4
    """

    def __init__(self, method: str = "fast", rule: str | None = None, eta_max: float = 1.0, beta: float = 0.1,
                 shrink: float = 0.5, eps: float = 1e-10, decay: float = 0.5, decay_every: int = 10,
                 warm_start: bool | None = None, candidates: int | None = None, batched: bool | None = None,
                 **kwargs: Any):
        kwargs.pop("dtype", None)
        super().__init__(name=kwargs.pop("name", "line_search"), dtype="float32", **kwargs)
        if method not in METHODS:
            raise ValueError(f"line_search: method must be one of {METHODS}, got {method!r}.")
        rule = rule or ("4.2" if method == "fast" else "4.1")
        allowed = armijo_rules.FAST_RULES if method == "fast" else armijo_rules.CLASSIC_RULES
        if rule not in allowed:
            raise ValueError(f"line_search: the {method} method takes rule {' / '.join(allowed)}, got {rule!r}.")
        checks = {"eta_max": eta_max > 0, "beta": 0 < beta < 0.5, "shrink": 0 < shrink < 1,
                  "eps": 0 < eps <= eta_max, "decay": 0 < decay <= 1, "decay_every": decay_every >= 0}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"line_search: invalid {bad}: need eta_max > 0, 0 < beta < 0.5, 0 < shrink < 1, "
                             "0 < eps <= eta_max, 0 < decay <= 1, decay_every >= 0.")
        self.method, self.rule = method, rule
        self.eta_max, self.beta, self.shrink, self.eps = float(eta_max), float(beta), float(shrink), float(eps)
        self.decay, self.decay_every = float(decay), int(decay_every)
        self.warm_start = (method == "classic") if warm_start is None else bool(warm_start)
        self.max_trials = int(math.ceil(math.log(self.eps / self.eta_max) / math.log(self.shrink))) + 1
        if candidates is not None and (isinstance(candidates, bool) or int(candidates) != candidates
                                       or candidates < 1):
            raise ValueError(f"line_search: candidates must be a whole number >= 1 (or None for all "
                             f"{self.max_trials} down to eps), got {candidates!r}.")
        self._candidates = None if candidates is None else int(candidates)
        self.candidates = self.max_trials if candidates is None else int(candidates)
        self.batched = None if batched is None else bool(batched)
        self._plan = None

    # ------------------------------------------------------------------ setup
    def setup(self, model) -> None:
        """Check the model suits the method and create the state (eta_ub, epochs seen)."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1 and self.batched is False:
            raise ValueError(f"line_search: batched=False needs one replica, the strategy has {replicas}; "
                             "leave batched unset (or True) under a tf.distribute strategy.")
        groups = model._mtl.groups
        tasks = tuple(model.tasks)
        if self.method == "fast":
            if len(groups.shared) != 1 or set(groups.shared[0][1]) != set(tasks):
                raise ValueError(
                    "line_search='fast' needs one parameterised shared block used by every task (a shared "
                    f"trunk); model {model.name!r} has {[(b, list(t)) for b, t, _ in groups.shared]}. "
                    "Use line_search='classic'.")
            if not model.balancer.latent:
                raise ValueError(f"line_search='fast' needs a latent balancer (mgda_ub, edm, hybrid, gradnorm, "
                                 f"pcgrad with space='latent'), not {model.balancer.name!r}.")
            block = groups.shared[0][0]
            self._plan = {"block": block,
                          "heads": {t: model.tree.path(t)[model.tree.path(t).index(block) + 1:] for t in tasks}}
        if not self.built:
            self.eta_ub = self.add_weight(name="eta_ub", shape=(), dtype="float32", trainable=False,
                                          initializer=keras.initializers.Constant(self.eta_max),
                                          aggregation="only_first_replica")
            self.epochs_seen = self.add_weight(name="epochs_seen", shape=(), dtype="float32", trainable=False,
                                               initializer="zeros", aggregation="only_first_replica")
            self.last_eta = self.add_weight(name="last_eta", shape=(), dtype="float32", trainable=False,
                                            initializer="zeros", aggregation="only_first_replica")
            self.built = True
        self._updater = keras.optimizers.SGD(learning_rate=1.0, name="line_search_step")
        self._updater.build(model.trainable_variables)

    @staticmethod
    def log_names() -> tuple[str, ...]:
        return ("eta", "trials", "skipped")

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        self.epochs_seen.assign_add(1.0)
        if self.decay_every and int(self.epochs_seen.numpy()) % self.decay_every == 0:
            self.eta_ub.assign(self.eta_ub * self.decay)
        return {"eta_ub": float(self.eta_ub.numpy())}

    # ------------------------------------------------------------------- step
    def apply(self, model, step: StepContext, grads: list, x, loss_sums) -> dict:
        """Search eta along ``-grads``, apply the step, return the logs.

        Args:
            model: the :class:`~mtlzoo.training.MultiTaskModel`.
            step: the step context the balancer ran on.
            grads: the balancer's gradients (scaled by the loss scale; this replica's share).
            x: the batch inputs (classic trials run the model on them).
            loss_sums: ``loss_sums(outputs) -> {task: (c_t * weighted loss sum, total weight)}``
                on this replica.
        """
        scale = step.loss_scale
        replicated = StepContext.replicas() > 1
        share = [tf.cast(g, tf.float32) / scale for g in grads]  # the updater sums these over replicas
        direction = StepContext.all_reduce_sum(share) if replicated else share
        current = tf.stack([step.values[t] for t in step.tasks])
        own_sq = self._own_squares(step, direction)
        if self.method == "fast":
            inner, trial_sums = self._fast(model, step, direction, loss_sums)
        else:
            inner, trial_sums = self._classic(model, step, direction, x, loss_sums)
        decrease = armijo_rules.decrease(self.rule, own_sq, inner)
        eta_ub = tf.convert_to_tensor(self.eta_ub)
        start = eta_ub
        if self.warm_start:
            last = tf.convert_to_tensor(self.last_eta)
            start = tf.where(last > 0, tf.minimum(eta_ub, last / self.shrink), eta_ub)
        walk = (self.shrink, self.eps, self.beta, self.candidates)
        if self.batched or replicated:
            eta, trials, take = armijo_backtracking.batched(trial_sums, current, decrease, start, *walk)
        else:
            def trial(eta):  # one device: the sums are the global ones
                totals, weights = trial_sums(eta)
                return tf.math.divide_no_nan(totals, weights)

            eta, trials, take = armijo_backtracking.sequential(trial, current, decrease, start, *walk)
        steps = [tf.where(take, eta * d, tf.zeros_like(d)) for d in share]  # a skip moves nothing
        if self.warm_start:
            self.last_eta.assign(tf.where(take, eta, self.last_eta))
        self._updater.apply_gradients(zip(steps, step.variables))
        model.optimizer.iterations.assign_add(1)
        return {"eta": eta, "trials": tf.cast(trials, tf.float32),
                "skipped": tf.cast(tf.logical_not(take), tf.float32)}

    @staticmethod
    def _own_squares(step, direction) -> tf.Tensor:
        """||grad_t L_t||^2 over each task's own parameters."""
        out = []
        for t in step.tasks:
            parts = [direction[step.index_of(v)] for v in step.groups.own[t]]
            out.append(tf.add_n([tf.reduce_sum(tf.square(p)) for p in parts]) if parts else tf.constant(0.0))
        return tf.stack(out)

    @staticmethod
    def _stacked_sums(sums, tasks) -> tuple[tf.Tensor, tf.Tensor]:
        """``{task: (sum, weight)}`` as two ``(T,)`` float32 tensors."""
        return (tf.stack([tf.cast(sums[t][0], tf.float32) for t in tasks]),
                tf.stack([tf.cast(sums[t][1], tf.float32) for t in tasks]))

    def _fast(self, model, step, direction, loss_sums):
        block = self._plan["block"]
        found = step.direction
        if found is None or found.space != "latent" or block not in found.latent:
            raise ValueError(f"line_search='fast': balancer {model.balancer.name!r} produced no latent direction.")
        tasks = found.block_tasks[block]
        inner = found.inner_products(block)
        if block not in found.block_weights:  # a nonlinear combination: from this replica's tensors
            inner = StepContext.all_reduce_sum(inner)
        inner_by_task = dict(zip(tasks, tf.unstack(inner)))
        inner = tf.stack([inner_by_task[t] for t in step.tasks])
        z = tf.nest.flatten(step.latents[block])
        d_z = [tf.cast(d, tf.float32) / step.loss_scale for d in found.latent[block]]
        layers = {t: [model.block_layer(b) for b in self._plan["heads"][t]] for t in step.tasks}
        heads = {t: [(layer, [direction[step.index_of(v)] for v in layer.trainable_variables]) for layer in layers[t]]
                 for t in step.tasks}
        structure = step.latents[block]

        def trial(eta):
            moved = tf.nest.pack_sequence_as(structure, [tf.cast(zi, tf.float32) - eta * di
                                                         for zi, di in zip(z, d_z)])
            outputs = {}
            for t in step.tasks:
                h = moved
                for layer, d in heads[t]:
                    values = [v - tf.cast(eta, v.dtype) * tf.cast(g, v.dtype)
                              for v, g in zip(layer.trainable_variables, d)]
                    h, _ = layer.stateless_call(values, [v.value for v in layer.non_trainable_variables], h,
                                                training=True)
                outputs[t] = h
            return self._stacked_sums(loss_sums(outputs), step.tasks)

        return inner, trial

    def _classic(self, model, step, direction, x, loss_sums):
        grads = step.task_gradients("parameters")  # shared with a parameter-space balancer
        inner = []
        for t in step.tasks:  # (dL_t/d theta_sh)^T d_sh, unscaled
            terms = [tf.reduce_sum(tf.cast(g, tf.float32) * direction[step.index_of(v)])
                     for block, _, variables in step.groups.shared_of(t)
                     for v, g in zip(variables, grads[t]["blocks"][block])]
            inner.append(tf.add_n(terms) / step.loss_scale if terms else tf.constant(0.0))
        inner = StepContext.all_reduce_sum(tf.stack(inner))  # this replica's gradients, the global direction
        trainable = model.trainable_variables
        positions = [step.index_of(v) for v in trainable]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def trial(eta):
            values = [v - tf.cast(eta, v.dtype) * tf.cast(direction[k], v.dtype) for v, k in zip(trainable, positions)]
            outputs, _ = model.stateless_call(values, non_trainable, x, training=True)
            return self._stacked_sums(loss_sums(outputs), step.tasks)

        return inner, trial

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "method": self.method, "rule": self.rule, "eta_max": self.eta_max,
                "beta": self.beta, "shrink": self.shrink, "eps": self.eps, "decay": self.decay,
                "decay_every": self.decay_every, "warm_start": self.warm_start, "candidates": self._candidates,
                "batched": self.batched}


def get(identifier) -> ArmijoLineSearch | None:
    """``None``/``False`` -> no line search; ``"fast"``/``"classic"``; a dict of arguments (``method``
    included) or a Keras config; or an instance."""
    if identifier in (None, False):
        return None
    if isinstance(identifier, ArmijoLineSearch):
        return identifier
    if isinstance(identifier, str):
        return ArmijoLineSearch(method=identifier)
    if isinstance(identifier, Mapping):
        if "class_name" in identifier:
            return keras.saving.deserialize_keras_object(dict(identifier))
        return ArmijoLineSearch(**identifier)
    raise ValueError(f"line_search must be 'fast', 'classic', a dict of ArmijoLineSearch arguments or an "
                     f"instance, got {identifier!r}.")


__all__ = ["ArmijoLineSearch", "get"]
