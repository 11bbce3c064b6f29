"""``GramianBalancer``: the one core of every gradient-based balancer (ARCHITECTURE.md, Training)."""

from __future__ import annotations

import warnings
from typing import Any

import tensorflow as tf

from mtlzoo.training.balancers.balancer import Balancer
from mtlzoo.training.balancers.block_problem import BlockProblem

SPACES = ("latent", "parameters")
#: old spellings of ``space`` (GradNorm's "weights"), kept working with a deprecation warning
SPACE_ALIASES = {"weights": "parameters"}


def canonical_space(space: str, owner: str) -> str:
    """``space`` with deprecated spellings mapped (and warned about)."""
    if space in SPACE_ALIASES:
        new = SPACE_ALIASES[space]
        warnings.warn(f"{owner}: space={space!r} is deprecated; use space={new!r}.", DeprecationWarning,
                      stacklevel=4)
        return new
    return space


class GramianBalancer(Balancer):
    """A balancer that is a *weighting*: per shared block i, the Gram matrix G^i of the tasks'
    gradients (and their losses, and the method's state) in, weights w^i out.

    The core does the rest once for every method:

    1. per-task gradients in ``space="latent"`` (dL_t/dZ_i: one backward pass through each task's
       own blocks down to the shared latents, seed 002 §3.3) or ``space="parameters"``
       (dL_t/dtheta_i: one full backward pass per task), per shared tree block (seed 000 eqs.
       4.5 / 4.7);
    2. the Gram matrices, all-reduced over replicas (latent: the T x T matrices; parameters: the
       gradients), without the optimizer's loss scale;
    3. :meth:`weigh_blocks` (the method);
    4. the assembly: block i receives sum_t w_t^i dL_t/dZ_i as its upstream gradient (latent) or
       sum_t w_t^i dL_t/dtheta_i (parameters); each task's own blocks get ``own_weights`` times their
       task's gradient (1 unless the method says otherwise);
    5. a :class:`~mtlzoo.training.SearchDirection` for the line search (``step.direction``).

    A method implements :meth:`weigh` (one block) or :meth:`weigh_blocks` (all blocks at once, e.g.
    GradNorm's one set of task weights); a method whose update is not a linear combination of the
    task gradients (GradDrop, MoCo) overrides :meth:`combine`. Non-finite weights are replaced by
    :meth:`fallback_weights`, so a NaN Gram entry never reaches the parameters.

    Args:
        space: ``"latent"`` or ``"parameters"``; ``None`` takes the class's ``default_space``. A method
            defined in one space only lists it in ``spaces`` and refuses the other.
        **kwargs: :class:`Balancer` arguments.
    """

    #: the spaces the method is defined in
    spaces: tuple[str, ...] = SPACES
    default_space = "latent"
    #: log ``weight_<task>``: the weights of each task's first (root-most) shared block
    logs_weights = False

    def __init__(self, space: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        space = self.default_space if space is None else canonical_space(space, self.registry_name or "balancer")
        if space not in self.spaces:
            others = ", ".join(repr(s) for s in self.spaces)
            if space in SPACES:
                raise ValueError(f"{self.registry_name}: space={space!r} is not defined for this method; use "
                                 f"space={others}.")
            raise ValueError(f"{self.registry_name}: space must be one of {self.spaces}, got {space!r}.")
        self.space = space

    @property
    def latent(self) -> bool:
        """Whether the train step must return the shared latents Z_i."""
        return self.space == "latent"

    # ------------------------------------------------------------ the method
    def weigh(self, problem: BlockProblem) -> tf.Tensor:
        """The weights w^i (shape (T_i,), float32) of one block."""
        raise NotImplementedError(f"{type(self).__name__} must implement weigh() or weigh_blocks().")

    def weigh_blocks(self, problems: list[BlockProblem]) -> tuple[dict, dict]:
        """``({block: w^i}, logs)`` for every shared block; the default weighs each on its own."""
        return {p.block: self.weigh(p) for p in problems}, {}

    def combine(self, problem: BlockProblem, weights) -> list | None:
        """A nonlinear update for the block, or ``None`` for the linear sum_t w_t g_t.

        Returns this replica's share of the block's update, one tensor per gradient tensor of the
        block (latent: per upstream tensor; parameters: per variable), carrying the loss scale like
        the gradients: the optimizer sums what every replica returns.
        """
        return None

    def own_weights(self, step, block_weights: dict, logs: dict) -> dict:
        """``{task: multiplier}`` of the gradient of each task's own (unshared) blocks (default 1);
        ``logs`` is what :meth:`weigh_blocks` returned."""
        return {}

    def fallback_weights(self, size: int) -> tf.Tensor:
        """What replaces weights that came out non-finite (default: 1 / T_i each)."""
        return tf.fill((size,), 1.0 / size)

    # -------------------------------------------------------------- the core
    def problems(self, step, grams=None) -> list[BlockProblem]:
        """One :class:`BlockProblem` per shared block of the step (parents first)."""
        grams = step.grams(self.space) if grams is None else grams
        index = {t: k for k, t in enumerate(self.tasks)}
        position = {b: k for k, b in enumerate(self.tree.shared_blocks)}
        return [BlockProblem(block, position[block], tuple(tasks), tuple(index[t] for t in tasks),
                             tf.cast(grams[block], tf.float32),
                             tf.stack([tf.cast(step.values[t], tf.float32) for t in tasks]), step, self.space)
                for block, tasks, _ in step.groups.shared]

    def safe_weights(self, problems, weights: dict) -> dict:
        """``weights`` with any block whose weights are not all finite set to :meth:`fallback_weights`."""
        out = {}
        for p in problems:
            w = tf.cast(tf.convert_to_tensor(weights[p.block]), tf.float32)
            out[p.block] = tf.where(tf.reduce_all(tf.math.is_finite(w)), w, self.fallback_weights(p.size))
        return out

    def gradients(self, step):
        problems = self.problems(step)
        weights, logs = self.weigh_blocks(problems)
        weights = self.safe_weights(problems, weights)
        combined = {}
        for p in problems:
            update = self.combine(p, weights[p.block])
            if update is not None:
                combined[p.block] = update
        grads = step.assemble(self.space, weights, self.own_weights(step, weights, logs), combined)
        return step.finish(grads), {**logs, **self.weight_logs(problems, weights)}

    def log_names(self) -> tuple[str, ...]:
        return tuple(f"weight_{t}" for t in self.tasks) if self.logs_weights else ()

    def weight_logs(self, problems, weights: dict) -> dict:
        """``weight_<task>``: each task's weight in its first shared block (when ``logs_weights``)."""
        if not self.logs_weights:
            return {}
        logs = {}
        for p in problems:
            for k, task in enumerate(p.tasks):
                logs.setdefault(f"weight_{task}", weights[p.block][k])
        return {f"weight_{t}": logs.get(f"weight_{t}", tf.constant(1.0)) for t in self.tasks}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "space": self.space}
