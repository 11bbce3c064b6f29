"""The balancer interface: per-task losses of one step in, one gradient per variable out."""

from __future__ import annotations

from typing import Any

import keras


class Balancer(keras.layers.Layer):
    """Base class of the multi-objective rules that combine per-task gradients.

    A balancer is a Keras layer only so that its state (log-variances, task
    weights, the hybrid phase) is tracked, saved with the model and restored by
    ``BackupAndRestore``; it is never called on tensors. ``MultiTaskModel``
    calls :meth:`setup` once from ``compile`` and :meth:`gradients` in every
    train step, inside ``tf.function``.

    Gradient-based methods subclass :class:`GramianBalancer` (the one core of per-task gradients,
    Gram matrices and assembly, in latent or parameter space); loss weightings subclass this class
    directly and return ``step.weighted_sum_gradients(weights)``. Subclasses create state in
    :meth:`create_state`, list the scalar logs they return in :meth:`log_names`, may react to
    epoch ends in :meth:`on_epoch_end`, and set ``registry_name``: every class of the
    ``balancers`` package that sets it is registered under that name (in its own file, nowhere else).

    Args:
        name: the layer name (default: the registry name).
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("uniform").latent
        False
    """

    latent = False
    registry_name: str | None = None

    def __init__(self, name: str | None = None, **kwargs: Any):
        kwargs.pop("dtype", None)
        super().__init__(name=name or self.registry_name, dtype="float32", **kwargs)
        self.tasks: tuple[str, ...] = ()
        self.tree = None
        self.groups = None

    def setup(self, tree, groups=None) -> None:
        """Bind to a model's :class:`~mtlzoo.TaskTree` (and its
        :class:`~mtlzoo.training.VariableGroups`, for state shaped like the shared variables) and
        create the state (once)."""
        if self.built:
            if tuple(tree.tasks) != self.tasks:
                raise ValueError(f"Balancer {self.name!r} is set up for tasks {list(self.tasks)}, "
                                 f"not {list(tree.tasks)}; use a new balancer per model.")
            return
        self.tree = tree
        self.groups = groups
        self.tasks = tuple(tree.tasks)
        self.create_state()
        self.built = True

    def create_state(self) -> None:
        """Create variables with ``add_weight`` (float32, ``aggregation="only_first_replica"``
        for values every replica computes identically)."""

    def log_names(self) -> tuple[str, ...]:
        """Names of the scalars :meth:`gradients` returns in its logs."""
        return ()

    def gradients(self, step):
        """Return ``(grads, logs)``: one gradient per ``step.variables`` and ``{name: scalar}``.

        Args:
            step: the :class:`~mtlzoo.training.StepContext` of this train step.
        """
        raise NotImplementedError

    #: set by methods that need the task losses after the update, on the same batch (FAMO): the
    #: train step then runs one more forward pass and calls :meth:`after_update`
    needs_losses_after_update = False

    def after_update(self, step, values) -> None:
        """Called in the train step after the update when ``needs_losses_after_update``, with
        ``values``: ``{task: global mean loss}`` of the same batch at the updated weights (forward
        pass with ``training=False``)."""

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        """Called eagerly after every training epoch; returns values to add to the epoch's logs."""
        return {}

    def state_variable(self, name: str, shape=(), initializer="zeros", trainable: bool = False):
        """A float32 state variable; non-trainable ones hold values every replica agrees on."""
        return self.add_weight(name=name, shape=shape, initializer=initializer, trainable=trainable,
                               dtype="float32",
                               aggregation="mean" if trainable else "only_first_replica")

    def compute_output_spec(self, *args, **kwargs):  # never called on tensors
        raise TypeError(f"{type(self).__name__} is a balancer, not a layer to call on tensors.")
