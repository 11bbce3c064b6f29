"""``MultiTaskModel``: a tree network with a multi-objective train step."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training import armijo_line_search as line_search_registry
from mtlzoo.training import balancers as balancer_registry
from mtlzoo.training.balancer_callback import BalancerCallback
from mtlzoo.training.batch_guard import BatchGuard
from mtlzoo.training.step_context import StepContext, gradient
from mtlzoo.training.task_losses import per_task, resolve_loss, split_targets, weighted_sum
from mtlzoo.training.variable_groups import VariableGroups
from mtlzoo.tree_network import TreeNetwork


class _Compiled:
    """Compile-time state kept out of Keras' attribute tracking (rebuilt by every ``compile``)."""

    def __init__(self, loss_fns, loss_weights, trackers, groups, config):
        self.loss_fns = loss_fns
        self.loss_weights = loss_weights
        self.trackers = trackers
        self.groups = groups
        self.config = config


@keras.saving.register_keras_serializable(package="mtlzoo")
class MultiTaskModel(TreeNetwork):
    """A :class:`~mtlzoo.TreeNetwork` that trains as a multi-objective problem.

    ``compile`` takes one loss per task and a balancer; ``fit`` runs a train
    step that computes the per-task losses (with per-task sample weights, so
    a sample without a task's label does not train that task), lets the
    balancer turn them into one gradient per variable, and applies it. Logs
    hold ``loss`` (the sum of the weighted task losses), ``<task>_loss``, the
    per-task metrics ``<task>_<metric>`` and the balancer's values
    (``pareto_stationary``, ``hybrid_phase``, ``weight_<task>``).

    Args:
        tree, blocks, input_shape, input_dtype, input_name: as for :class:`~mtlzoo.TreeNetwork`.
        recipe: the zoo's recommended ``compile`` arguments (``optimizer``,
            ``loss``, ``metrics``, ``balancer``, ``loss_weights``); ``compile()``
            fills every argument it is not given from it.
        **kwargs: ``keras.Model`` arguments (``name``).

    Example:
        >>> import mtlzoo
        >>> model = mtlzoo.models.get("multimnist_lenet", width=2)
        >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy_from_logits",
        ...               metrics=["accuracy"], balancer="mgda_ub")
        >>> model.balancer.name
        'mgda_ub'
    """

    def __init__(self, tree, blocks=None, input_shape=(), input_dtype: str = "float32",
                 input_name: str = "inputs", recipe: Mapping | None = None, **kwargs):
        super().__init__(tree, blocks, input_shape=input_shape, input_dtype=input_dtype, input_name=input_name,
                         **kwargs)
        self.recipe = recipe
        self._mtl = None

    @classmethod
    def from_keras(cls, model, shared=None, name=None, **kwargs):
        """A multi-output functional Keras model as a ``MultiTaskModel`` with the tree read off its graph,
        sharing its layers; see :func:`mtlzoo.training.from_keras.from_keras` (``copy``, ``recipe``)."""
        from mtlzoo.training.from_keras import from_keras

        return from_keras(model, shared=shared, name=name, model_class=cls, **kwargs)

    @property
    def recipe(self) -> dict | None:
        """The recommended ``compile`` arguments (a fresh copy), or ``None``."""
        return json.loads(self._recipe_json) if self._recipe_json else None

    @recipe.setter
    def recipe(self, value: Mapping | None) -> None:
        # kept as JSON text: Keras wraps dict attributes in tracked containers, which must not be deep-copied
        try:
            self._recipe_json = json.dumps(dict(value)) if value else ""
        except TypeError as err:
            raise ValueError(f"recipe must be JSON-serializable (names and config dicts): {err}") from None

    @property
    def line_search(self):
        """The compiled :class:`~mtlzoo.training.ArmijoLineSearch`, or ``None``."""
        return getattr(self, "_line_search", None)

    @property
    def balancer(self):
        """The compiled :class:`~mtlzoo.training.balancers.Balancer` (``None`` before ``compile``)."""
        return getattr(self, "_balancer", None)

    # --------------------------------------------------------------- compile
    def compile(self, optimizer=None, loss=None, metrics=None, balancer=None, loss_weights=None, line_search=None,
                **kwargs):
        """Configure training.

        Args:
            optimizer: a Keras optimizer, its name or config.
            loss: one loss for every task or ``{task: loss}``: Keras names,
                ``"<name>_from_logits"``, ``Loss`` instances or functions.
            metrics: ``[metric, ...]`` for every task or ``{task: [...]}``;
                they honour per-task sample weights.
            balancer: a :mod:`~mtlzoo.training.balancers` name, config or instance.
            loss_weights: fixed multipliers c_t of each task's loss (one number
                or ``{task: c}``), applied before the balancer.
            line_search: ``None`` (the optimizer steps), ``"fast"`` or
                ``"classic"`` Armijo backtracking (seed 001), or a dict of
                :class:`~mtlzoo.training.ArmijoLineSearch` arguments; the step
                size then comes from the search and the optimizer is unused.
            **kwargs: ``keras.Model.compile`` arguments (``run_eagerly``,
                ``jit_compile``, ``steps_per_execution``; ``jit_compile`` is left at Keras'
                ``"auto"``: XLA with a GPU, TensorFlow's graph on a CPU-only machine or under a
                ``tf.distribute`` strategy, the faster on CPU by 2x to 20x for conv nets,
                see ``benchmarks/bench_xla.py``), and ``on_nonfinite``:
                ``"raise"`` (default) or ``"skip"`` for a training batch with NaN/Inf
                (see :class:`~mtlzoo.training.BatchGuard`; a bad batch is never applied).

        Any of ``optimizer``, ``loss``, ``metrics``, ``balancer``,
        ``loss_weights`` left out comes from :attr:`recipe` when the model has
        one; otherwise the defaults are Adam, no metrics, ``"uniform"`` and 1.
        """
        recipe = self.recipe or {}
        optimizer = optimizer if optimizer is not None else recipe.get("optimizer", "adam")
        loss = loss if loss is not None else recipe.get("loss")
        metrics = metrics if metrics is not None else recipe.get("metrics")
        balancer = balancer if balancer is not None else recipe.get("balancer", "uniform")
        loss_weights = loss_weights if loss_weights is not None else recipe.get("loss_weights")
        line_search = line_search if line_search is not None else recipe.get("line_search")
        if kwargs.get("weighted_metrics") is not None:
            raise ValueError("MultiTaskModel.compile: pass metrics=...; they are weighted by the per-task "
                             "sample weights already.")
        kwargs.pop("weighted_metrics", None)
        guard = BatchGuard(kwargs.pop("on_nonfinite", "raise"))
        tasks = self.tasks
        if loss is None:
            raise ValueError(f"compile: no loss given and model {self.name!r} has no recipe; pass "
                             f"loss=<one loss> or loss={{task: loss}} for the tasks {list(tasks)}.")
        losses = per_task(loss, tasks, "loss")
        loss_fns = {t: resolve_loss(losses[t], t) for t in tasks}
        weights = per_task(1.0 if loss_weights is None else loss_weights, tasks, "loss_weights")
        weights = {t: float(w) for t, w in weights.items()}
        task_metrics = None
        if metrics:
            task_metrics = {t: list(m) if isinstance(m, (list, tuple)) else [m]
                            for t, m in per_task(metrics, tasks, "metrics").items()}
        optimizer = keras.optimizers.get(optimizer)
        super().compile(optimizer=optimizer, weighted_metrics=task_metrics, **kwargs)
        self._set_tracked("_balancer", balancer_registry.get(balancer))
        groups = VariableGroups.of(self)
        self._balancer.setup(self.tree, groups)
        search = line_search_registry.get(line_search)
        self._set_tracked("_line_search", search)
        trackers = {f"{t}_loss": keras.metrics.Mean(name=f"{t}_loss") for t in tasks}
        trackers.update({n: keras.metrics.Mean(name=n) for n in self._training_logs(search)})
        config = {"optimizer": keras.optimizers.serialize(optimizer), "loss": _plain(losses),
                  "metrics": _plain(task_metrics) or {},
                  "balancer": keras.saving.serialize_keras_object(self._balancer),
                  "loss_weights": weights,
                  # False, not None: a reload must not fall back to the recipe's line search
                  "line_search": keras.saving.serialize_keras_object(search) if search is not None else False,
                  **{k: kwargs[k] for k in ("run_eagerly", "steps_per_execution", "jit_compile") if k in kwargs}}
        if guard.on_nonfinite != "raise":
            config["on_nonfinite"] = guard.on_nonfinite
        self._mtl = _Compiled(loss_fns, weights, trackers, groups, config)
        self._mtl.guard = guard
        if search is not None:
            try:
                search.setup(self)
            except ValueError:
                self._set_tracked("_line_search", None)  # stay usable: compiled without the search
                self._mtl.config["line_search"] = False
                raise

    def _training_logs(self, search) -> tuple[str, ...]:
        return tuple(self._balancer.log_names()) + (tuple(search.log_names()) if search is not None else ())

    def _set_tracked(self, attribute: str, value) -> None:
        """Attach a stateful helper layer (balancer, line search): tracked, so its variables are saved
        and checkpointed with the model; recompiling detaches the previous one."""
        old = getattr(self, attribute, None)
        if old is not None and old is not value and any(layer is old for layer in self._layers):
            self._layers.remove(old)
        setattr(self, attribute, value)

    def get_compile_config(self):
        if self._mtl is None:
            return None
        return copy.deepcopy(self._mtl.config)

    def compile_from_config(self, config):
        config = dict(config)
        config["optimizer"] = keras.optimizers.deserialize(config["optimizer"])
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        metrics = super().metrics
        if self._mtl is None:
            return metrics
        loss_trackers = [m for n, m in self._mtl.trackers.items() if n.endswith("_loss")]
        others = [m for n, m in self._mtl.trackers.items() if not n.endswith("_loss")]
        return metrics[:1] + loss_trackers + metrics[1:] + others

    # ------------------------------------------------------------------ fit
    def fit(self, *args, **kwargs):
        """``keras.Model.fit``, with a :class:`BalancerCallback` placed first among the callbacks."""
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if not any(isinstance(c, BalancerCallback) for c in callbacks):
            callbacks.insert(0, BalancerCallback())
        if self._mtl is not None:
            callbacks.insert(0, self._mtl.guard.callback())  # stops fit after a bad batch (BatchGuard)
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def train_on_batch(self, *args, **kwargs):
        """``keras.Model.train_on_batch``; a batch the :class:`BatchGuard` refused raises ``ValueError``."""
        guard = self._mtl.guard if self._mtl is not None else None
        if guard is not None:
            guard.reset()
        logs = super().train_on_batch(*args, **kwargs)
        if guard is not None and guard.must_stop():
            raise ValueError(guard.problem())
        return logs

    # ----------------------------------------------------------------- steps
    def _check_compiled(self) -> None:
        if self._mtl is None:
            raise RuntimeError(f"Model {self.name!r} is not compiled; call model.compile(...) first "
                               "(model.compile() uses the zoo recipe).")

    def task_losses(self, y, outputs, sample_weight=None) -> dict:
        """``{task: c_t * weighted mean loss}`` (float32) of one batch on this replica."""
        return {t: tf.math.divide_no_nan(s, w) for t, (s, w) in self._loss_sums(y, outputs, sample_weight).items()}

    def _loss_sums(self, y, outputs, sample_weight) -> dict:
        self._check_compiled()
        ys, ws = split_targets(y, sample_weight, self.tasks)
        sums = {}
        for t in self.tasks:
            total, weight = weighted_sum(self._mtl.loss_fns[t](ys[t], outputs[t]), ws[t])
            sums[t] = (self._mtl.loss_weights[t] * total, weight)
        return sums

    def _global_losses(self, y, outputs, sample_weight) -> tuple[dict, dict]:
        """``(shares, values)``: this replica's share of each task's global weighted mean loss (the
        shares sum to it over replicas, so do their gradients), and the global means themselves."""
        shares = {}
        for t, (total, weight) in self._loss_sums(y, outputs, sample_weight).items():
            weight = StepContext.all_reduce_sum(tf.stop_gradient(weight))
            shares[t] = tf.math.divide_no_nan(total, weight)
        values = {t: StepContext.all_reduce_sum(tf.stop_gradient(v)) for t, v in shares.items()}
        return shares, values

    def train_step(self, data):
        self._check_compiled()
        data, guarded = self._mtl.guard.step(self, data)  # a batch with NaN/Inf or bad labels is never applied
        if guarded is not None:
            return guarded
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        latent_blocks = [b for b, _, _ in self._mtl.groups.shared] if self._balancer.latent else []
        with tf.GradientTape(persistent=True) as tape:
            outputs, latents = self.forward(x, training=True, latents=latent_blocks)
            shares, values = self._global_losses(y, outputs, sample_weight)
            scaled = {t: self.optimizer.scale_loss(v) for t, v in shares.items()}
            regularization = self.losses
            regularization = (self.optimizer.scale_loss(tf.add_n(regularization) / StepContext.replicas())
                              if regularization else None)
        variables = self.trainable_variables
        step = StepContext(self, tape, scaled, values, latents, variables, self._mtl.groups,
                           self.optimizer.scale_loss(tf.constant(1.0)))
        grads, logs = self._balancer.gradients(step)
        if regularization is not None:
            extra = gradient(tape, regularization, variables)
            grads = [g + e for g, e in zip(grads, extra)]
        if self._line_search is not None:
            logs = {**logs, **self._line_search.apply(
                self, step, grads, x, lambda out: self._loss_sums(y, out, sample_weight))}
        else:
            self.optimizer.apply_gradients(zip(grads, variables))
        if self._balancer.needs_losses_after_update:
            after, _ = self.forward(x, training=False, latents=())
            self._balancer.after_update(step, self._global_losses(y, after, sample_weight)[1])
        del tape
        return self._update_metrics(x, y, outputs, sample_weight, values, logs)

    def test_step(self, data):
        self._check_compiled()
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        outputs, _ = self.forward(x, training=False, latents=())
        _, values = self._global_losses(y, outputs, sample_weight)
        logs = self._update_metrics(x, y, outputs, sample_weight, values, {})
        training_only = set(self._training_logs(self._line_search))
        return {k: v for k, v in logs.items() if k not in training_only}

    def _update_metrics(self, x, y, outputs, sample_weight, local, logs):
        batch = tf.shape(tf.nest.flatten(x)[0])[0]
        self._loss_tracker.update_state(tf.add_n(list(local.values())), sample_weight=batch)
        for t, v in local.items():
            self._mtl.trackers[f"{t}_loss"].update_state(v, sample_weight=batch)
        for name, value in logs.items():
            if name in self._mtl.trackers:
                self._mtl.trackers[name].update_state(value)
        if self._compile_metrics is not None:
            ys, ws = split_targets(y, sample_weight, self.tasks)
            has_weights = any(w is not None for w in ws.values())
            self._compile_metrics.update_state(ys, outputs, ws if has_weights else None)
        return self.get_metrics_result()

    # ---------------------------------------------------------- serialization
    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "recipe": self.recipe}


def _plain(value):
    """Losses/metrics as JSON-able identifiers (objects serialized)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return keras.saving.serialize_keras_object(value)
