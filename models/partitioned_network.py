"""``PartitionedNetwork``: a LeNet whose feature channels are partitioned among tasks (seed 004 §3, A.2).

A model family, so it lives in the models room; the feature-partition search
(:mod:`mtlzoo.tools.partition_search`) builds, trains and scores it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from mtlzoo.layers import TaskBatchNormalization, TaskChannelMask

INPUT_SHAPE = (28, 28, 1)
KERNEL = 5


def _task_classes(tasks, classes: int) -> dict[str, int]:
    if isinstance(tasks, Mapping):
        out = {str(t): int(k) for t, k in tasks.items()}
    elif isinstance(tasks, Sequence) and not isinstance(tasks, str):
        out = {str(t): int(classes) for t in tasks}
    else:
        raise ValueError(f"tasks must be a list of task names or a {{task: classes}} dict; got {tasks!r}.")
    if not out or len(out) != len(tasks) or any(k < 1 for k in out.values()):
        raise ValueError(f"tasks must name at least one task, each once, with >= 1 class; got {tasks!r}.")
    return out


def _layer_masks(masks, widths, tasks, what):
    """(channels, tasks) masks per masked layer -> (tasks, channels) float arrays, checked."""
    if masks is None:
        return None
    if len(masks) != len(widths):
        raise ValueError(f"{what} must hold {len(widths)} masks (conv1 output: {widths[0]} channels, dense "
                         f"output: {widths[1]} units), each (channels, tasks); got {len(masks)}.")
    out = []
    for mask, width, layer in zip(masks, widths, ("conv1", "dense")):
        mask = np.asarray(mask)
        if mask.shape != (width, tasks):
            raise ValueError(f"{what} for {layer} must have shape (channels, tasks) = {(width, tasks)}; "
                             f"got {mask.shape}.")
        out.append(mask.T)
    return out


def _metric_copy(metric):
    if isinstance(metric, keras.metrics.Metric):
        return metric.__class__.from_config(metric.get_config())
    return metric


@keras.saving.register_keras_serializable(package="mtlzoo")
class PartitionedNetwork(keras.Model):
    """A LeNet for 28x28x1 images whose channels are partitioned among tasks by masks (seed 004).

    Layers: conv ``width``@5x5 -> task BN -> ReLU -> 2x2 max-pool -> **mask** -> conv
    ``2 width``@5x5 -> task BN -> ReLU -> pool -> flatten -> dense ``hidden`` -> ReLU ->
    **mask** -> one Dense head per task (logits). The shared layers run once per task,
    with that task's masks and batch norm, and ``call`` returns ``{task: logits}``.

    Which outputs are masked, and why: masks sit every other layer (§3), on the outputs
    of conv1 and of the dense layer, not on conv2's. Every shared weight then touches
    exactly one masked channel: conv1's kernel ``[..., k]`` and conv2's ``[:, :, k, :]``
    belong to conv1 channel ``k``; the dense kernel ``[:, k]`` and bias ``[k]`` to dense
    unit ``k``. A task with a share ``P_ii`` of the channels of each masked layer therefore
    uses a share ``P_ii`` of every shared layer's weights, i.e. of the model. (Masking
    every layer would leave it ``P_ii²`` of conv2.) Task BN layers and heads are the task's own.

    Backward masks: a channel in ``m_f`` but not ``m_b`` is read but not trained. The mask
    layer stops gradients to what produced it (conv1 / dense column, BN); conv2's kernel,
    which reads the masked channels, is used with a gradient mask on its input axis
    (``K m_b + stop_gradient(K (1 - m_b))``), so its rows outside ``m_b`` get zero gradient
    too. Heads are private and train on every channel they see (``m_f``).

    Training (seed 004 A.2): SGD with momentum, one momentum slot per task per trainable
    variable (non-trainable weights ``momentum/<task>/<i>``, saved with the model).
    Each step computes every task's gradient separately; a task is present in the batch
    when the sum of its sample weights is > 0 (always, without sample weights). A present
    task's slot becomes ``momentum * slot + g_task``; weights move by ``-lr * (sum of the
    present tasks' slots)``; an absent task's slot and batch-norm statistics stay
    bit-identical. So a weight only task B uses never moves on a batch without B,
    momentum included. Keras optimizers are not used for the step: ``compile`` accepts
    ``optimizer=None`` or an SGD (its learning rate and momentum are used; the learning
    rate is read from ``model.optimizer.learning_rate`` each step, so LR callbacks work).

    Args:
        tasks: task names (each with ``classes`` outputs) or a ``{task: classes}`` dict.
        partition: the constraint matrix ``P̃`` (tasks x tasks); the masks come from
            :func:`~mtlzoo.tools.partition_search.masks_for_widths` for widths ``[width, hidden]``. Give this or ``masks``.
        masks: two (channels, tasks) binary forward masks ``m_f``: conv1 output (``width``)
            and dense output (``hidden``). Neither given: every task uses every channel.
        backward_masks: like ``masks`` (``m_b``, a subset of ``m_f``); defaults to ``m_f``.
        width: conv1 channels (conv2 has ``2 width``). hidden: dense units.
        classes: outputs per task when ``tasks`` is a list.
        learning_rate, momentum: SGD defaults (seed 004 A.2 uses lr 0.05 with momentum).
        bn_momentum: moving-average momentum of the task batch norms.
        mask_kwargs: passed to :func:`~mtlzoo.tools.partition_search.masks_for_widths` (``time_limit``, ...).

    Example:
        >>> import numpy as np
        >>> net = PartitionedNetwork(["digit", "parity"], partition=np.array([[0.5, 0.25], [0.25, 0.75]]),
        ...                          width=4, hidden=8)
        >>> sorted(net(np.zeros((2, 28, 28, 1), "float32")))
        ['digit', 'parity']
        >>> net.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    """

    def __init__(self, tasks, partition=None, masks=None, backward_masks=None, width: int = 10, hidden: int = 50,
                 classes: int = 10, learning_rate: float = 0.05, momentum: float = 0.9, bn_momentum: float = 0.9,
                 mask_kwargs: Mapping | None = None, **kwargs):
        super().__init__(**kwargs)
        self.task_classes = _task_classes(tasks, classes)
        self.tasks = list(self.task_classes)
        for name, value in (("width", width), ("hidden", hidden)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PartitionedNetwork: {name} must be a positive integer; got {value!r}.")
        self.width, self.hidden = width, hidden
        self.learning_rate, self.momentum, self.bn_momentum = float(learning_rate), float(momentum), float(bn_momentum)
        n = len(self.tasks)
        widths = [width, hidden]
        if partition is not None and masks is not None:
            raise ValueError("PartitionedNetwork: give either partition (P̃) or masks, not both.")
        if partition is not None:
            # the mask program (a MILP) belongs to the partition search: imported only when a P̃ is given
            from mtlzoo.tools.partition_search.mask_program import masks_for_widths

            masks = masks_for_widths(np.asarray(partition, dtype=np.float64), widths, **dict(mask_kwargs or {}))
        forward = _layer_masks(masks, widths, n, "masks") or [np.ones((n, w)) for w in widths]
        backward = _layer_masks(backward_masks, widths, n, "backward_masks") or [None, None]
        self.conv1 = keras.layers.Conv2D(width, KERNEL, use_bias=False, name="conv1")
        self.bn1 = TaskBatchNormalization(n, momentum=self.bn_momentum, name="bn1")
        self.mask1 = TaskChannelMask(forward[0], backward[0], name="mask1")
        self.conv2 = keras.layers.Conv2D(2 * width, KERNEL, use_bias=False, name="conv2")
        self.bn2 = TaskBatchNormalization(n, momentum=self.bn_momentum, name="bn2")
        self.dense = keras.layers.Dense(hidden, name="dense")
        self.mask2 = TaskChannelMask(forward[1], backward[1], name="mask2")
        self.heads = [keras.layers.Dense(k, name=f"head_{t}") for t, k in self.task_classes.items()]
        self.pool = keras.layers.MaxPooling2D(2)
        self.flatten = keras.layers.Flatten()
        self._slots = None

    # -- structure -----------------------------------------------------------------------------------------
    def build(self, input_shape=(None, *INPUT_SHAPE)):
        input_shape = tuple(input_shape)
        if tuple(input_shape[1:]) != INPUT_SHAPE:
            raise ValueError(f"PartitionedNetwork takes {INPUT_SHAPE} images; got input shape {input_shape}.")
        c1 = self.conv1.compute_output_shape(input_shape)
        self.conv1.build(input_shape)
        self.bn1.build(c1)
        h = self.pool.compute_output_shape(c1)
        self.mask1.build(h)
        c2 = self.conv2.compute_output_shape(h)
        self.conv2.build(h)
        self.bn2.build(c2)
        flat = self.flatten.compute_output_shape(self.pool.compute_output_shape(c2))
        self.dense.build(flat)
        self.mask2.build((None, self.hidden))
        for head in self.heads:
            head.build((None, self.hidden))
        variables = self.trainable_variables
        self._slots = [[self.add_weight(name=f"momentum_{t}_{i}", shape=v.shape, initializer="zeros",
                                        trainable=False, autocast=False) for i, v in enumerate(variables)]
                       for t in range(len(self.tasks))]
        self.built = True

    def masks(self, backward: bool = False) -> list[np.ndarray]:
        """The two masks (conv1 output, dense output) as (tasks, channels) 0/1 arrays: ``m_f`` or ``m_b``."""
        return [np.asarray(layer.masks()[1 if backward else 0]) for layer in (self.mask1, self.mask2)]

    def set_masks(self, masks, backward_masks=None) -> None:
        """New (channels, tasks) masks for conv1 and dense outputs (as the constructor's ``masks``)."""
        n, widths = len(self.tasks), [self.width, self.hidden]
        forward = _layer_masks(masks, widths, n, "masks")
        backward = _layer_masks(backward_masks, widths, n, "backward_masks") or [None, None]
        self.mask1.set_masks(forward[0], backward[0])
        self.mask2.set_masks(forward[1], backward[1])

    def variable_masks(self, task, backward: bool = True) -> dict[str, np.ndarray]:
        """``{variable.path: 0/1 array}``: the trainable entries ``task`` trains (``m_b``) or reads (``m_f``).

        Every other entry gets an exactly-zero gradient from ``task``.
        """
        t = self.tasks.index(task) if task in self.tasks else self._bad_task(task)
        m1, m2 = (m[t] for m in self.masks(backward))
        f2 = self.masks(False)[1][t]
        out = {self.conv1.kernel.path: np.broadcast_to(m1, self.conv1.kernel.shape),
               self.conv2.kernel.path: np.broadcast_to(m1[:, None], self.conv2.kernel.shape),
               self.dense.kernel.path: np.broadcast_to(m2, self.dense.kernel.shape),
               self.dense.bias.path: m2}
        for s in range(len(self.tasks)):
            own = float(s == t)
            for v in self.bn1.norms[s].trainable_variables:
                out[v.path] = own * m1
            for v in self.bn2.norms[s].trainable_variables:
                out[v.path] = np.full(v.shape, own)
            head = self.heads[s]
            out[head.kernel.path] = own * np.broadcast_to(f2[:, None], head.kernel.shape)
            out[head.bias.path] = np.full(head.bias.shape, own)
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}

    def _bad_task(self, task):
        raise ValueError(f"Unknown task {task!r}; the network's tasks are {self.tasks}.")

    # -- forward -------------------------------------------------------------------------------------------
    def call(self, inputs, training=None):
        return {task: self.task_call(inputs, t, training) for t, task in enumerate(self.tasks)}

    def task_call(self, inputs, task_index: int, training=None):
        """Logits of one task (by index): the shared layers with that task's masks and batch norm."""
        return self.heads[task_index](self.upper(self.lower(inputs, task_index, training), task_index, training))

    def lower(self, inputs, task_index: int, training=None):
        """The layers up to the first mask (distillation's target depth): conv1 -> task BN -> ReLU -> pool."""
        return self.pool(ops.relu(self.bn1(self.conv1(inputs), task_index=task_index, training=training)))

    def upper(self, features, task_index: int, training=None):
        """The partitioned layers after :meth:`lower`: mask1 -> conv2 -> task BN -> ReLU -> pool -> dense -> mask2.

        conv2's kernel rows outside the task's backward mask get no gradient.
        """
        t = task_index
        h = self.mask1(features, task_index=t)
        m_b = ops.cast(self.mask1.m_b[t], self.conv2.kernel.dtype)[None, None, :, None]
        kernel = self.conv2.kernel * m_b + ops.stop_gradient(self.conv2.kernel * (1.0 - m_b))
        h = ops.conv(h, ops.cast(kernel, h.dtype), strides=1, padding="valid")
        h = self.pool(ops.relu(self.bn2(h, task_index=t, training=training)))
        return self.mask2(ops.relu(self.dense(self.flatten(h))), task_index=t)

    # -- training ------------------------------------------------------------------------------------------
    def compile(self, optimizer=None, loss=None, metrics=None, learning_rate=None, momentum=None, **kwargs):
        """Keras ``compile``; the step is per-task-momentum SGD (see the class doc).

        Args:
            optimizer: None (SGD from ``learning_rate``/``momentum``) or ``"sgd"``/a ``keras.optimizers.SGD``
                (its learning rate and momentum are used unless given explicitly).
            loss, metrics, **kwargs: as for ``keras.Model.compile`` (``loss_weights``, ...), per task by name;
                a metrics list that is not a dict is given to every task.
            learning_rate, momentum: override the constructor's values.
        """
        if optimizer is None:
            optimizer = keras.optimizers.SGD(self.learning_rate, momentum=self.momentum)
        optimizer = keras.optimizers.get(optimizer)
        if not isinstance(optimizer, keras.optimizers.SGD):
            raise ValueError(f"PartitionedNetwork steps its weights by SGD with one momentum slot per task "
                             f"(seed 004 A.2); got optimizer {type(optimizer).__name__}. Pass optimizer=None or "
                             "'sgd' and set learning_rate= / momentum=.")
        if optimizer.nesterov or optimizer.weight_decay:
            raise ValueError("PartitionedNetwork's per-task-momentum SGD has no Nesterov momentum or weight decay; "
                             "use keras.optimizers.SGD(learning_rate, momentum=...) without them.")
        if learning_rate is not None:
            optimizer.learning_rate = float(learning_rate)
        if momentum is not None:
            optimizer.momentum = float(momentum)
        self.learning_rate = float(ops.convert_to_numpy(optimizer.learning_rate))
        self.momentum = float(optimizer.momentum)
        if metrics is not None and not isinstance(metrics, Mapping):  # one list for all tasks: a copy per task
            metrics = {task: [_metric_copy(m) for m in (metrics if isinstance(metrics, (list, tuple)) else [metrics])]
                       for task in self.tasks}
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Re-compile after ``keras.models.load_model`` (the SGD's learning rate and momentum included)."""
        self.compile(**keras.saving.deserialize_keras_object(config))

    def present_tasks(self, sample_weight):
        """One boolean scalar per task: does the batch hold it (sum of its sample weights > 0)?"""
        out = []
        for task in self.tasks:
            w = sample_weight.get(task) if isinstance(sample_weight, Mapping) else sample_weight
            out.append(tf.constant(True) if w is None else tf.reduce_sum(tf.cast(w, tf.float32)) > 0.0)
        return out

    def task_gradients(self, x, y_pred, loss, tape):
        """Per-task gradients ``[[g per trainable variable] per task]`` of ``loss`` taken on ``tape``.

        ``loss`` depends on task ``t``'s parameters only through ``y_pred[t]``, so task ``t``'s
        gradient is ``dloss/dy_pred[t]`` back-propagated through that task's forward pass alone.
        """
        variables = self.trainable_variables
        preds = [y_pred[task] for task in self.tasks]
        upstream = tape.gradient(loss, preds, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        grads = [tape.gradient(p, variables, output_gradients=u) for p, u in zip(preds, upstream)]
        return [[tf.zeros(v.shape, v.dtype) if g is None else tf.convert_to_tensor(g) for g, v in zip(gs, variables)]
                for gs in grads]

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        present = self.present_tasks(sample_weight)
        norms = [self.bn1.norms[t].non_trainable_variables + self.bn2.norms[t].non_trainable_variables
                 for t in range(len(self.tasks))]
        saved = [[tf.identity(v.value) for v in vs] for vs in norms]
        with tf.GradientTape(persistent=True) as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
        grads = self.task_gradients(x, y_pred, loss, tape)
        del tape
        for is_present, vs, old in zip(present, norms, saved):  # an absent task's BN statistics stay put
            for v, o in zip(vs, old):
                v.assign(tf.where(is_present, v.value, o))
        lr = tf.cast(self.optimizer.learning_rate, tf.float32)
        for i, variable in enumerate(self.trainable_variables):
            step = tf.zeros_like(variable.value)
            for t, is_present in enumerate(present):
                slot = self._slots[t][i]
                new = tf.where(is_present, self.momentum * slot.value + grads[t][i], slot.value)
                slot.assign(new)
                step = step + tf.where(is_present, new, tf.zeros_like(new))
            variable.assign_sub(lr * step)
        self.optimizer.iterations.assign_add(1)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def get_config(self):
        config = super().get_config()
        forward, backward = self.masks(False), self.masks(True)
        config.update(tasks=dict(self.task_classes), width=self.width, hidden=self.hidden,
                      masks=[m.T.astype(int).tolist() for m in forward],
                      backward_masks=[m.T.astype(int).tolist() for m in backward],
                      learning_rate=self.learning_rate, momentum=self.momentum, bn_momentum=self.bn_momentum)
        return config
