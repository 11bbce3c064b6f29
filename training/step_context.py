"""What a balancer sees in one train step, and the gradient plumbing all balancers share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tensorflow as tf

from mtlzoo.training.search_direction import SearchDirection
from mtlzoo.training.variable_groups import VariableGroups


def gradient(tape, target, sources, output_gradients=None) -> list:
    """``tape.gradient`` with zeros for unconnected sources.

    (``unconnected_gradients=ZERO`` fails on Keras variables, whose ``dtype`` is
    a string, so the zeros are filled in here.)
    """
    sources = list(sources)
    grads = tape.gradient(target, sources, output_gradients=output_gradients)
    return [tf.zeros(tf.shape(s), tf.as_dtype(s.dtype)) if g is None else tf.convert_to_tensor(g)
            for g, s in zip(grads, sources)]


class StepContext:
    """One train step as a balancer sees it.

    Per-task losses are each replica's share of the global sample-weighted
    mean (its weighted sum divided by the all-reduced total weight), times the
    optimizer's loss scale, so that summing their gradients over replicas (what
    the optimizer does under a ``tf.distribute`` strategy) gives the gradient
    of the global mean loss.
    ``values`` are the global weighted means, unscaled and equal on every replica (what
    GradNorm's loss ratios and the hybrid switch look at).

    Args:
        model: the :class:`~mtlzoo.training.MultiTaskModel`.
        tape: the persistent ``GradientTape`` the forward pass ran under.
        losses: ``{task: scaled scalar loss}``.
        values: ``{task: unscaled global mean loss}``.
        latents: ``{block: Z_i}`` from the forward pass.
        variables: the variables to return gradients for, in order.
        groups: the model's :class:`VariableGroups`.
        loss_scale: the optimizer's loss scale (1 without mixed precision).
    """

    def __init__(self, model, tape, losses: Mapping, values: Mapping, latents: Mapping,
                 variables: Sequence, groups: VariableGroups, loss_scale=1.0):
        self.model = model
        self.tape = tape
        self.losses = dict(losses)
        self.values = dict(values)
        self.latents = dict(latents)
        self.variables = list(variables)
        self.groups = groups
        self.loss_scale = tf.cast(loss_scale, tf.float32)
        self.tasks = tuple(model.tree.tasks)
        self._index = {id(v): i for i, v in enumerate(self.variables)}
        #: the direction the Gramian core assembled (None for loss weightings)
        self.direction: SearchDirection | None = None
        #: the same as plain entries (latent_grams, block_weights, latent_direction,
        #: parameter_gradients), kept for code written against the first version
        self.record: dict = {}
        self._task_gradients: dict = {}
        self._grams: dict = {}

    # ----------------------------------------------------------- replicas
    @staticmethod
    def replicas() -> int:
        """Replicas in sync under the current strategy (1 without one)."""
        return tf.distribute.get_strategy().num_replicas_in_sync

    @staticmethod
    def all_reduce_sum(value):
        """Sum ``value`` over replicas (identity outside a multi-replica context)."""
        ctx = tf.distribute.get_replica_context()
        if ctx is None or ctx.num_replicas_in_sync == 1:
            return value
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, value)

    # --------------------------------------------------------- assembling
    def index_of(self, variable) -> int:
        """The position of ``variable`` in :attr:`variables` (and in every gradient list)."""
        return self._index[id(variable)]

    def empty(self) -> list:
        """A gradient list with one ``None`` slot per variable."""
        return [None] * len(self.variables)

    def add(self, grads: list, variables: Sequence, values: Sequence, scale=None) -> None:
        """Accumulate ``scale * values`` into the slots of ``variables``."""
        for var, value in zip(variables, values):
            if value is None:
                continue
            value = tf.convert_to_tensor(value)
            if scale is not None:
                value = value * tf.cast(scale, value.dtype)
            i = self._index[id(var)]
            grads[i] = value if grads[i] is None else grads[i] + value

    def finish(self, grads: list) -> list:
        """Zeros for variables nobody wrote to (e.g. a frozen branch)."""
        return [tf.zeros_like(v) if g is None else g for g, v in zip(grads, self.variables)]

    def weighted_sum_gradients(self, weights: Mapping[str, tf.Tensor], extra=None) -> list:
        """Gradients of ``sum_t w_t L_t (+ extra)`` for every variable: one backward pass.

        ``weights`` and ``extra`` may be callables, evaluated under the tape (so
        gradients reach balancer variables they depend on)."""
        with self.tape:  # re-entered: weights may depend on trainable balancer variables
            if callable(weights):
                weights = weights()
            if callable(extra):
                extra = extra()
            total = tf.add_n([tf.cast(weights[t], tf.float32) * tf.cast(self.losses[t], tf.float32)
                              for t in self.tasks])
            if extra is not None:
                total = total + extra
        return gradient(self.tape, total, self.variables)

    # -------------------------------------------------- latent (MGDA-UB)
    def latent_gradients(self) -> dict:
        """Per task: ``{"latent": {block: dL_t/dZ_i}, "own": [dL_t/d theta_t]}``.

        One ``tape.gradient`` call per task; it runs back only through the
        task's own blocks down to the shared latents. Computed once per step.
        """
        if "latent" in self._task_gradients:
            return {t: {"latent": g["blocks"], "own": g["own"]} for t, g in self._task_gradients["latent"].items()}
        out = {}
        for task in self.tasks:
            blocks = [g[0] for g in self.groups.shared_of(task)]
            latents = [tf.nest.flatten(self.latents[b]) for b in blocks]
            own = list(self.groups.own[task])
            flat = [z for zs in latents for z in zs]
            grads = gradient(self.tape, self.losses[task], flat + own)
            per_block, k = {}, 0
            for b, zs in zip(blocks, latents):
                per_block[b] = grads[k:k + len(zs)]
                k += len(zs)
            out[task] = {"latent": per_block, "own": grads[k:]}
        self._task_gradients["latent"] = {t: {"blocks": g["latent"], "own": g["own"]} for t, g in out.items()}
        return out

    def gram(self, vectors: Sequence[Sequence[tf.Tensor]], space: str = "latent") -> tf.Tensor:
        """The T x T Gram matrix of per-task gradients (each a list of tensors), float32, over the
        global batch and divided by the squared loss scale.

        Latent gradients are per-sample, so replicas all-reduce their local Gram
        matrices; parameter gradients are sums over samples, so replicas
        all-reduce the gradients themselves first (ARCHITECTURE.md, Distribution).
        """
        gram = None
        for j in range(len(vectors[0])):  # one tensor at a time: no T x (all parameters) copy
            matrix = tf.stack([tf.reshape(tf.cast(parts[j], tf.float32), [-1]) for parts in vectors])
            if space == "parameters":
                matrix = self.all_reduce_sum(matrix)
            term = tf.matmul(matrix, matrix, transpose_b=True)
            gram = term if gram is None else gram + term
        if space == "latent":
            gram = self.all_reduce_sum(gram)
        return gram / tf.square(self.loss_scale)

    def latent_grams(self, latent_grads: Mapping) -> dict:
        """``{block: Gram over O(i)}`` of the latent gradients (all-reduced, eq. 4.7)."""
        return self.grams("latent")

    def assemble_latent(self, latent_grads: Mapping, block_weights: Mapping, own_weights: Mapping) -> list:
        """Block i gets ``(dZ_i/d theta_i)^T sum_t w_t^i dL_t/dZ_i``; task t's own blocks get
        ``own_weights[t] * dL_t/d theta_t`` (:meth:`assemble` in latent space)."""
        self._task_gradients["latent"] = {t: {"blocks": g["latent"], "own": g["own"]} for t, g in latent_grads.items()}
        return self.assemble("latent", block_weights, own_weights)

    # ---------------------------------------------------- parameters (MGDA)
    def parameter_gradients(self) -> dict:
        """Per task: ``{"shared": {block: [dL_t/d theta_i]}, "own": [dL_t/d theta_t]}`` (computed once per step)."""
        if "parameters" in self._task_gradients:
            return {t: {"shared": g["blocks"], "own": g["own"]}
                    for t, g in self._task_gradients["parameters"].items()}
        out = {}
        for task in self.tasks:
            groups = self.groups.shared_of(task)
            flat = [v for g in groups for v in g[2]]
            own = list(self.groups.own[task])
            grads = gradient(self.tape, self.losses[task], flat + own)
            per_block, k = {}, 0
            for block, _, variables in groups:
                per_block[block] = grads[k:k + len(variables)]
                k += len(variables)
            out[task] = {"shared": per_block, "own": grads[k:]}
        self.record["parameter_gradients"] = out
        self._task_gradients["parameters"] = {t: {"blocks": g["shared"], "own": g["own"]} for t, g in out.items()}
        return out

    def parameter_grams(self, param_grads: Mapping) -> dict:
        """``{block: Gram over O(i)}`` of the per-task parameter gradients (eq. 4.5)."""
        return self.grams("parameters")

    def assemble_parameters(self, param_grads: Mapping, block_weights: Mapping, own_weights: Mapping) -> list:
        """Block i gets ``sum_t w_t^i dL_t/d theta_i``; own blocks as in :meth:`assemble_latent`."""
        self._task_gradients["parameters"] = {t: {"blocks": g["shared"], "own": g["own"]}
                                              for t, g in param_grads.items()}
        return self.assemble("parameters", block_weights, own_weights)

    # ------------------------------------------------------------ the core
    def task_gradients(self, space: str) -> dict:
        """Per task: ``{"blocks": {block: [tensors]}, "own": [dL_t/d theta_t]}`` with the block
        gradients in ``space`` (``"latent"``: dL_t/dZ_i; ``"parameters"``: dL_t/d theta_i).
        Computed once per step and shared by everyone who asks (hybrid, line search)."""
        if space not in self._task_gradients:
            self.latent_gradients() if space == "latent" else self.parameter_gradients()
        return self._task_gradients[space]

    def grams(self, space: str) -> dict:
        """``{block: Gram over O(i)}`` of :meth:`task_gradients` in ``space`` (all-reduced, unscaled;
        seed 000 eqs. 4.5 / 4.7). Computed once per step."""
        if space not in self._grams:
            grads = self.task_gradients(space)
            self._grams[space] = {block: self.gram([grads[t]["blocks"][block] for t in tasks], space=space)
                                  for block, tasks, _ in self.groups.shared}
            if space == "latent":
                self.record["latent_grams"] = self._grams[space]
        return self._grams[space]

    def assemble(self, space: str, block_weights: Mapping, own_weights: Mapping,
                 combined: Mapping | None = None) -> list:
        """One gradient per variable from the per-task gradients in ``space``.

        Shared block i gets sum_t w_t^i g_t^i (``block_weights[i]``, over O(i) in Gram order), or
        ``combined[i]`` when the method combined the block's gradients itself; in latent space that
        is the upstream gradient of Z_i, back-propagated into the block's own parameters only. Task
        t's own blocks get ``own_weights[t]`` (default 1) times dL_t/d theta_t. Records the
        :class:`SearchDirection` as :attr:`direction`.
        """
        combined = dict(combined or {})
        task_grads = self.task_gradients(space)
        grads = self.empty()
        latent_direction, tasks_of = {}, {}
        for block, tasks, variables in self.groups.shared:
            tasks_of[block] = tuple(tasks)
            parts = [task_grads[t]["blocks"][block] for t in tasks]
            if space == "latent":
                if block in combined:
                    upstream = list(combined[block])
                else:
                    w = block_weights[block]
                    upstream = [tf.add_n([tf.cast(w[k], g[j].dtype) * g[j] for k, g in enumerate(parts)])
                                for j in range(len(parts[0]))]
                latent = tf.nest.flatten(self.latents[block])
                self.add(grads, variables, gradient(self.tape, latent, variables, output_gradients=upstream))
                latent_direction[block] = upstream
            elif block in combined:
                self.add(grads, variables, list(combined[block]))
            else:
                w = block_weights[block]
                for k, values in enumerate(parts):
                    self.add(grads, variables, values, w[k])
        for task in self.tasks:
            self.add(grads, self.groups.own[task], task_grads[task]["own"], own_weights.get(task))
        linear = {b: w for b, w in block_weights.items() if b not in combined}
        self.direction = SearchDirection(space, task_grads, self._grams.get(space, {}), linear,
                                         latent_direction, tasks_of, self.loss_scale)
        self.record["block_weights"] = dict(block_weights)
        if space == "latent":
            self.record["latent_direction"] = latent_direction
        return grads
