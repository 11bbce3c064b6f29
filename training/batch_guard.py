"""``BatchGuard``: no training step ever applies an update computed from a bad batch.

Inside ``MultiTaskModel.train_step`` (a ``tf.function``) the guard checks every batch for
NaN/Inf in the inputs, float labels and sample weights, for negative sample weights and
for integer class labels outside ``[0, units)`` of the task's output (where the sample
weight is positive). The flags are summed over replicas, so every replica takes the same
branch of a ``tf.cond``: a clean batch runs the train step; a bad one runs nothing (no
optimizer, balancer or line-search update; the metrics keep their values) and is recorded.
With ``on_nonfinite="raise"`` (the default) the guard's callback, which
``MultiTaskModel.fit`` adds, then stops ``fit`` with a ``ValueError`` naming the epoch, the
batch, the task and the tensor; with ``"skip"`` training goes on and the log
``skipped_batches`` counts the batches left out since ``compile``. Negative weights and labels out of range
always raise: skipping cannot fix data that is wrong everywhere. The check is a ``tf.cond``
and a few reductions, so it also runs under XLA (which would drop assertions). Under a
``tf.distribute`` strategy with several replicas the step's all-reduces cannot sit inside a
``tf.cond`` (``MirroredStrategy`` refuses synchronization inside control flow), so there the
batch flows through ``tf.debugging.Assert`` ops instead: a bad batch stops ``fit`` with a
TensorFlow error carrying the same message (and the optimizer step) before any update, and
``"skip"`` is refused.

>>> BatchGuard("skip").on_nonfinite
'skip'
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf

from mtlzoo.training.batch_check import is_class_index, output_ranks, output_units
from mtlzoo.training.step_context import StepContext
from mtlzoo.training.task_losses import split_targets

MODES = ("raise", "skip")
#: What a flag means; index into the ``reason`` the guard records.
REASONS = ("holds NaN/Inf values", "holds negative sample weights", "holds class labels outside [0, units)")
_NONFINITE, _NEGATIVE, _RANGE = range(3)


class BatchGuard:
    """Check every training batch in-graph; skip a bad one, and raise or count it (module docstring).

    Args:
        on_nonfinite: ``"raise"`` (stop ``fit`` with an error naming the batch, task and
            tensor) or ``"skip"`` (leave NaN/Inf batches out and count them).

    Example:
        >>> import numpy as np, mtlzoo
        >>> model = mtlzoo.models.get("multimnist_lenet", width=2); model.compile(on_nonfinite="skip")
        >>> x = np.zeros((4, 28, 28, 1), "float32"); x[2, 0, 0, 0] = np.nan
        >>> y = {"left": np.zeros(4, "int32"), "right": np.zeros(4, "int32")}
        >>> logs = model.fit(x, y, batch_size=2, verbose=0, shuffle=False).history
        >>> logs["skipped_batches"], int(model.optimizer.iterations)
        ([1.0], 1)
    """

    def __init__(self, on_nonfinite: str = "raise"):
        if on_nonfinite not in MODES:
            raise ValueError(f"on_nonfinite must be one of {', '.join(MODES)}; got {on_nonfinite!r}.")
        self.on_nonfinite = on_nonfinite
        self._inside = False
        self._names: list[tuple[str, str]] = []  # (task or "", tensor name) per flag, from the last trace
        with tf.init_scope():
            agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
            self.steps = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=agg, name="guard_steps")
            self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=agg, name="guard_skipped")
            # [step, flag index, reason] of the first bad batch; -1 while there is none
            self.first_bad = tf.Variable([-1, -1, -1], dtype=tf.int64, trainable=False, aggregation=agg,
                                         name="guard_first_bad")

    def get_config(self) -> dict:
        return {"on_nonfinite": self.on_nonfinite}

    @classmethod
    def from_config(cls, config) -> BatchGuard:
        return cls(**config)

    # ------------------------------------------------------------------ in-graph
    def step(self, model, data):
        """``(data, logs)``: ``logs is None`` means "run the train step on ``data``"; else the step's result.

        ``MultiTaskModel.train_step`` calls this first; the guard calls ``train_step`` again
        inside its ``tf.cond`` for a clean batch (that inner call gets ``logs = None``).
        """
        if self._inside:
            return data, None
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        flags, reasons, names = self._flags(model, x, y, sample_weight)
        if not flags:
            return data, None
        self._names = names
        counts = StepContext.all_reduce_sum(tf.cast(tf.stack(flags), tf.float32))  # every replica agrees
        if StepContext.replicas() > 1:
            return self._asserted(model, data, counts, reasons, names), None
        ok = tf.reduce_all(counts == 0.0)
        step = self.steps.assign_add(1) - 1
        if model.optimizer is not None and not model.optimizer.built:  # its variables outside the cond
            model.optimizer.build(model.trainable_variables)

        def clean():
            self._inside = True
            try:
                logs = model.train_step(data)
            finally:
                self._inside = False
            return self._with_count(logs)

        def bad():
            reason = tf.constant(reasons, tf.int64)
            stops = counts > 0.0  # the flags that stop training: all, or all but NaN/Inf when skipping
            if self.on_nonfinite == "skip":
                stops = stops & tf.not_equal(reason, _NONFINITE)
            first = tf.argmax(tf.cast(stops, tf.int32), output_type=tf.int64)
            record = tf.stack([step, first, tf.gather(reason, first)])
            new = tf.logical_and(tf.reduce_any(stops), self.first_bad[0] < 0)
            with tf.control_dependencies([tf.cond(new, lambda: tf.identity(self.first_bad.assign(record)),
                                                  lambda: tf.identity(self.first_bad))]):
                counted = self.skipped.assign_add(1)
            with tf.control_dependencies([counted]):
                return self._with_count(model.get_metrics_result())

        return data, tf.cond(ok, clean, bad)

    def _asserted(self, model, data, counts, reasons, names):
        """Under several replicas: the batch flows only through assertions (a tf.cond around the step would
        hold the replicas' synchronization points, which MirroredStrategy cannot run inside control flow)."""
        if self.on_nonfinite == "skip":
            raise ValueError(f"on_nonfinite='skip' is not supported under a tf.distribute strategy with "
                             f"{StepContext.replicas()} replicas (skipping would put the step's all-reduces "
                             f"inside a tf.cond); compile with on_nonfinite='raise'.")
        step = model.optimizer.iterations if model.optimizer is not None else tf.constant(-1, tf.int64)
        checks = []
        for i, (reason, (task, name)) in enumerate(zip(reasons, names)):
            where = f", task {task!r}" if task else ""
            checks.append(tf.debugging.Assert(
                tf.equal(counts[i], 0.0),
                [f"Training stopped at optimizer step", step, f"{where}: {name} {REASONS[reason]}; "
                 f"the batch was not applied."], name=f"batch_guard_{i}"))
        with tf.control_dependencies(checks):
            return tf.nest.map_structure(lambda t: None if t is None else tf.identity(t), data)

    def _with_count(self, logs):
        logs = dict(logs)
        if self.on_nonfinite == "skip":
            logs["skipped_batches"] = tf.cast(self.skipped.read_value(), tf.float32)
        return logs

    def _flags(self, model, x, y, sample_weight):
        flags, reasons, names = [], [], []

        def add(flag, reason, task, name):
            flags.append(flag)
            reasons.append(reason)
            names.append((task, name))

        xs = x.values() if isinstance(x, Mapping) else x if isinstance(x, (list, tuple)) else [x]
        for i, tensor in enumerate(xs):
            if tensor.dtype.is_floating:
                add(_any_nonfinite(tensor), _NONFINITE, "", "inputs" if len(xs) == 1 else f"inputs[{i}]")
        try:
            ys, ws = split_targets(y, sample_weight, model.tasks)
        except (ValueError, AttributeError):
            return flags, reasons, names  # the train step itself reports malformed targets
        units, ranks = output_units(model), output_ranks(model)
        for task in model.tasks:
            label, weight = tf.convert_to_tensor(ys[task]), ws[task]
            if weight is not None:
                weight = tf.convert_to_tensor(weight)
                name = f"sample_weight[{task!r}]"
                if weight.dtype.is_floating:
                    add(_any_nonfinite(weight), _NONFINITE, task, name)
                add(tf.reduce_any(weight < tf.zeros([], weight.dtype)), _NEGATIVE, task, name)
            if label.dtype.is_floating:
                add(_any_nonfinite(label), _NONFINITE, task, f"labels[{task!r}]")
            elif (label.shape.rank is not None and units.get(task)
                  and is_class_index(label.shape.rank, label.dtype.as_numpy_dtype, ranks.get(task))):
                outside = (label < 0) | (label >= tf.cast(units[task], label.dtype))
                if weight is not None:
                    live = weight > tf.zeros([], weight.dtype)
                    for _ in range(label.shape.rank - (weight.shape.rank or 1)):
                        live = live[..., None]
                    outside = outside & tf.broadcast_to(live, tf.shape(label))
                add(tf.reduce_any(outside), _RANGE, task, f"labels[{task!r}]")
        return flags, reasons, names

    # ----------------------------------------------------------------- eagerly
    def reset(self) -> None:
        """Forget the recorded bad batch (``fit`` does this at its start)."""
        self.first_bad.assign([-1, -1, -1])

    def problem(self, epoch: int | None = None, first_step: int = 0) -> str | None:
        """The one-line description of the first bad batch since :meth:`reset`, or ``None``."""
        step, flag, reason = (int(v) for v in self.first_bad.numpy())
        if step < 0:
            return None
        task, name = self._names[flag] if 0 <= flag < len(self._names) else ("", "a tensor")
        when = f"epoch {epoch + 1}, batch {step - first_step}" if epoch is not None else f"training step {step}"
        where = f", task {task!r}" if task else ""
        fix = ("pass compile(on_nonfinite='skip') to leave such batches out, or clean the data"
               if reason == _NONFINITE else "fix the data")
        return (f"Training stopped at {when}{where}: {name} {REASONS[reason]}; the batch was not applied. "
                f"{fix[0].upper()}{fix[1:]}.")

    def must_stop(self) -> bool:
        """Whether a batch that stops training was recorded (any bad batch but NaN/Inf ones with ``"skip"``)."""
        return int(self.first_bad.numpy()[0]) >= 0

    def callback(self) -> keras.callbacks.Callback:
        """The callback that raises :meth:`problem` from ``fit`` (``MultiTaskModel.fit`` adds it)."""
        return _GuardCallback(self)


class _GuardCallback(keras.callbacks.Callback):
    """Raises the guard's problem after the batch that caused it; logs skipped batches at the epoch end."""

    def __init__(self, guard: BatchGuard):
        super().__init__()
        self.guard = guard
        self._epoch, self._first_step = None, 0

    def on_train_begin(self, logs=None):
        self.guard.reset()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._first_step = epoch, int(self.guard.steps.numpy())

    def on_train_batch_end(self, batch, logs=None):
        if self.guard.must_stop():
            raise ValueError(self.guard.problem(self._epoch, self._first_step))


def _any_nonfinite(tensor: tf.Tensor) -> tf.Tensor:
    return tf.logical_not(tf.reduce_all(tf.math.is_finite(tensor)))
