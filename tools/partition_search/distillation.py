"""Distillation scoring of feature partitions (seed 004 §4.2, §5.1, A.2 "Distillation details").

A partition ``P̃`` is scored without training a multi-task network to convergence:

1. :func:`train_teachers` trains one single-task :class:`PartitionedNetwork` per task
   (partition ``[[1.0]]``: every channel), all from the same seeded initialisation.
2. :class:`DistillationScorer` builds a student :class:`PartitionedNetwork` over all tasks
   with the masks of ``P̃``, and for a few steps, alternating tasks uniformly (A.2), feeds
   teacher ``t``'s features at the target depth (its conv1 block: conv1 -> BN -> ReLU -> pool)
   through the student's partitioned layers (mask1 -> conv2 -> task BN -> ReLU -> pool ->
   dense -> ReLU -> mask2) with task ``t``'s masks, minimising the MSE to teacher ``t``'s
   own features at that point (its dense output).
3. The score is the mean over tasks of teacher ``t``'s accuracy with its layers after the
   target depth replaced by the student's (masked for ``t``), its head kept.

Student initialisation (``init="mean"``, the default): the seed initialises the student
from the common pretrained model every teacher was fine-tuned from. Here the teachers
share one seeded initialisation and train briefly, so their weights stay channel-aligned,
and the mean of their conv2 / dense weights is the closest stand-in for that common
ancestor: it starts distillation from weights that already compute features close to
every teacher's, which is what makes a *short* distillation informative. A fresh random
initialisation (``init="seeded"``) would make the score mostly measure optimisation speed;
it is kept as an option for comparison. The student's task batch norms start from the
matching teacher's (they are per-task layers in both).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((64, 28, 28, 1), dtype=np.float32)
    >>> y = {"a": rng.integers(0, 2, 64), "b": rng.integers(0, 3, 64)}
    >>> teachers = train_teachers((x, y), {"a": 2, "b": 3}, width=2, hidden=4, epochs=1)
    >>> scorer = DistillationScorer(teachers, (x, y), (x, y), steps=4, batch_size=8)
    >>> 0.0 <= scorer(np.array([[0.5, 0.25], [0.25, 0.5]])) <= 1.0
    True
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from mtlzoo.tools.partition_search.mask_program import masks_for_widths
from mtlzoo.models.partitioned_network import PartitionedNetwork
from mtlzoo.tools.partition_search.teachers import as_arrays, train_teachers  # noqa: F401 (train_teachers: the docstring examples)

TARGETS = ("conv1",)
INITS = ("mean", "seeded")
_EVAL_CHUNK = 1024


class DistillationScorer:
    """Score a partition ``P̃`` by a short multi-task feature distillation from single-task teachers (§4.2).

    Construction precomputes, once, every teacher's conv1-block features and dense
    outputs on (at most ``max_train``) training images and on (at most ``max_eval``)
    evaluation images, and builds one student whose masks and weights are reset at
    every call, so the traced ``tf.function`` steps are reused across calls.

    A call: masks from ``P̃`` (:func:`masks_for_widths`, widths ``[width, hidden]``);
    student weights reset (see ``init``); ``steps`` SGD steps with one momentum slot per
    task (A.2), tasks alternating in turn, batches drawn with a stateless RNG from
    ``(seed, step)``, learning rate divided by 10 after ``drop_at`` of the steps (A.2);
    then the mean over tasks of the swapped-in teachers' accuracy on the evaluation data.

    After a call, ``last_details`` holds ``score``, ``seconds``, and per task
    ``accuracy``, ``mse_before`` and ``mse_after`` (evaluation-set MSE to the teacher's
    dense output before and after distillation), ``channels`` (conv1, dense channels
    the task uses) and ``teacher_accuracy``; ``history`` keeps one such dict per call.

    Args:
        teachers: ``{task: single-task PartitionedNetwork}`` (e.g. from :func:`train_teachers`),
            all with the same ``width`` and ``hidden``.
        train_data, eval_data: ``(images, {task: labels})`` arrays or ``tf.data.Dataset`` s.
        steps: distillation steps in total (rounded up to a multiple of the number of tasks).
        learning_rate, momentum: SGD settings of the distillation.
        batch_size: images per step.
        target: the target depth; only ``"conv1"`` (the output of the conv1 block).
        init: ``"mean"`` (the teachers' mean weights) or ``"seeded"`` (Glorot-uniform from ``seed``).
        drop_at: fraction of the steps after which the learning rate drops by 10 (A.2: 2000 of 3000).
        max_train, max_eval: examples kept from each data set.
        seed: batch sampling (and ``"seeded"`` initialisation) seed.
        mask_kwargs: passed to :func:`masks_for_widths`.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.random((32, 28, 28, 1), dtype=np.float32), {"a": rng.integers(0, 2, 32)}
        >>> scorer = DistillationScorer(train_teachers((x, y), ["a"], width=2, hidden=4, epochs=1), (x, y), (x, y),
        ...                             steps=2, batch_size=4)
        >>> s = scorer(np.array([[1.0]])); sorted(scorer.last_details["tasks"]["a"])
        ['accuracy', 'channels', 'mse_after', 'mse_before', 'teacher_accuracy']
    """

    def __init__(self, teachers: Mapping[str, PartitionedNetwork], train_data, eval_data, steps: int = 200,
                 learning_rate: float = 0.05, momentum: float = 0.9, batch_size: int = 32, target: str = "conv1",
                 init: str = "mean", drop_at: float = 2 / 3, max_train: int = 4096, max_eval: int = 2000,
                 seed: int = 0, mask_kwargs: Mapping | None = None):
        self.teachers = self._check_teachers(teachers)
        if target not in TARGETS:
            raise ValueError(f"DistillationScorer: target {target!r} is not supported; choose one of {TARGETS} "
                             "(the output of the conv1 block; the partitioned layers after it are distilled).")
        if init not in INITS:
            raise ValueError(f"DistillationScorer: init must be one of {INITS}; got {init!r}.")
        for name, value in (("steps", steps), ("batch_size", batch_size), ("max_train", max_train),
                            ("max_eval", max_eval)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"DistillationScorer: {name} must be a positive integer; got {value!r}.")
        if not 0.0 <= float(drop_at) <= 1.0:
            raise ValueError(f"DistillationScorer: drop_at must be a fraction in [0, 1]; got {drop_at!r}.")
        self.tasks = list(self.teachers)
        first = self.teachers[self.tasks[0]]
        self.width, self.hidden = first.width, first.hidden
        self.rounds = -(-int(steps) // len(self.tasks))
        self.steps = self.rounds * len(self.tasks)
        self.learning_rate, self.momentum = float(learning_rate), float(momentum)
        self.batch_size, self.target, self.init, self.seed = int(batch_size), target, init, int(seed)
        self.drop_round = int(round(float(drop_at) * self.rounds))
        self.mask_kwargs = dict(mask_kwargs or {})
        self.last_details: dict | None = None
        self.history: list[dict] = []

        x_train, y_train = as_arrays(train_data, "train_data", max_train)
        x_eval, y_eval = as_arrays(eval_data, "eval_data", max_eval)
        missing = [t for t in self.tasks if t not in y_eval]
        if missing:
            raise ValueError(f"eval_data has no labels for task(s) {missing}; it has {sorted(y_eval)}.")
        self._train_in, self._train_out = self._teacher_features(x_train)
        self._eval_in, self._eval_out = self._teacher_features(x_eval)
        self._eval_labels = [tf.constant(y_eval[t]) for t in self.tasks]
        self.teacher_accuracy = {t: float(self._accuracy(self.teachers[t], 0, self._eval_in[i], self._eval_labels[i],
                                                         self.teachers[t].heads[0]))
                                 for i, t in enumerate(self.tasks)}
        self._build_student()

    # -- construction --------------------------------------------------------------------------------------
    @staticmethod
    def _check_teachers(teachers) -> dict[str, PartitionedNetwork]:
        if not isinstance(teachers, Mapping) or not teachers:
            raise ValueError("teachers must be a non-empty {task: PartitionedNetwork} dict (see train_teachers).")
        shapes = set()
        for task, net in teachers.items():
            if not isinstance(net, PartitionedNetwork) or len(net.tasks) != 1 or not net.built:
                raise ValueError(f"teachers[{task!r}] must be a built single-task PartitionedNetwork (train_teachers "
                                 f"makes them); got {type(net).__name__}.")
            shapes.add((net.width, net.hidden))
        if len(shapes) != 1:
            raise ValueError(f"All teachers need the same width and hidden to share a student; got {sorted(shapes)}.")
        return dict(teachers)

    def _teacher_features(self, x):
        """Per task: (conv1-block features, dense outputs) of its teacher on ``x``, as constants."""
        inputs, outputs = [], []
        for task in self.tasks:
            net = self.teachers[task]
            f, d = [], []
            for start in range(0, len(x), _EVAL_CHUNK):
                a, b = self._teacher_pass(net, tf.constant(x[start:start + _EVAL_CHUNK]))
                f.append(a.numpy())
                d.append(b.numpy())
            inputs.append(tf.constant(np.concatenate(f)))
            outputs.append(tf.constant(np.concatenate(d)))
        return inputs, outputs

    @staticmethod
    @tf.function(reduce_retracing=True)
    def _teacher_pass(net, x):
        h = net.lower(x, 0, training=False)
        return h, net.upper(h, 0, training=False)

    def _build_student(self):
        self.student = PartitionedNetwork({t: self.teachers[t].heads[0].units for t in self.tasks},
                                          width=self.width, hidden=self.hidden, name="distillation_student")
        self.student.build((None, 28, 28, 1))
        s = self.student
        self._shared = [s.conv2.kernel, s.dense.kernel, s.dense.bias]
        self._task_vars = [self._shared + list(s.bn2.norms[t].trainable_variables) for t in range(len(self.tasks))]
        self._slots = [[tf.Variable(tf.zeros_like(v.value), trainable=False) for v in vs] for vs in self._task_vars]
        self._init_values = self._initial_values()

    def _initial_values(self) -> list[tuple[keras.Variable, np.ndarray]]:
        """(student variable, value) pairs assigned at the start of every call."""
        s, teachers = self.student, [self.teachers[t] for t in self.tasks]
        pairs = []
        if self.init == "mean":
            for name in ("conv2.kernel", "dense.kernel", "dense.bias"):
                layer, attr = name.split(".")
                values = [np.asarray(getattr(getattr(n, layer), attr)) for n in teachers]
                pairs.append((getattr(getattr(s, layer), attr), np.mean(values, axis=0)))
        else:
            rng = np.random.default_rng(self.seed)
            for v, (fan_in, fan_out) in ((s.conv2.kernel, (25 * self.width, 25 * 2 * self.width)),
                                         (s.dense.kernel, tuple(s.dense.kernel.shape))):
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                pairs.append((v, rng.uniform(-limit, limit, tuple(v.shape)).astype(np.float32)))
            pairs.append((s.dense.bias, np.zeros(tuple(s.dense.bias.shape), np.float32)))
        for t, teacher in enumerate(teachers):  # task batch norms: the task's own, from its teacher
            for mine, theirs in zip(s.bn2.norms[t].variables, teacher.bn2.norms[0].variables):
                pairs.append((mine, np.asarray(theirs)))
        return pairs

    # -- one call ------------------------------------------------------------------------------------------
    def __call__(self, P_tilde) -> float:
        """The distillation score of ``P̃`` (mean swapped-in teacher accuracy), higher is better."""
        start = time.perf_counter()
        P_tilde = np.asarray(P_tilde, dtype=np.float64)
        n = len(self.tasks)
        if P_tilde.shape != (n, n):
            raise ValueError(f"DistillationScorer: P̃ must be ({n}, {n}) for tasks {self.tasks}; got {P_tilde.shape}.")
        masks = masks_for_widths(P_tilde, [self.width, self.hidden], **self.mask_kwargs)
        self.student.set_masks(masks)
        self._reset()
        before = self._evaluate()
        self._distill(tf.constant(self.learning_rate, tf.float32))
        after = self._evaluate()
        per_task = {}
        for i, task in enumerate(self.tasks):
            per_task[task] = {"accuracy": float(after[0][i]), "mse_before": float(before[1][i]),
                              "mse_after": float(after[1][i]), "teacher_accuracy": self.teacher_accuracy[task],
                              "channels": [int(masks[0][:, i].sum()), int(masks[1][:, i].sum())]}
        score = float(np.mean([d["accuracy"] for d in per_task.values()]))
        self.last_details = {"score": score, "seconds": time.perf_counter() - start, "tasks": per_task}
        self.history.append(self.last_details)
        return score

    def _reset(self):
        for variable, value in self._init_values:
            variable.assign(value)
        for slots in self._slots:
            for slot in slots:
                slot.assign(tf.zeros_like(slot))

    @tf.function
    def _distill(self, learning_rate):
        n_tasks = len(self.tasks)
        for r in tf.range(self.rounds):
            lr = tf.where(r < self.drop_round, learning_rate, learning_rate / 10.0)
            for t in range(n_tasks):  # alternate tasks uniformly (A.2)
                step = r * n_tasks + t
                idx = tf.random.stateless_uniform([self.batch_size], seed=tf.stack([self.seed, step]), minval=0,
                                                  maxval=tf.shape(self._train_in[t])[0], dtype=tf.int32)
                features, target = tf.gather(self._train_in[t], idx), tf.gather(self._train_out[t], idx)
                variables = self._task_vars[t]
                with tf.GradientTape() as tape:
                    out = self.student.upper(features, t, training=True)
                    loss = tf.reduce_mean(tf.square(out - target))
                grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
                for variable, slot, grad in zip(variables, self._slots[t], grads):
                    slot.assign(self.momentum * slot + grad)
                    variable.assign_sub(lr * slot)

    def _evaluate(self):
        """(accuracy per task, MSE per task) of the student swapped into each teacher, on the evaluation data."""
        acc, mse = self._evaluate_graph()
        return np.asarray(acc), np.asarray(mse)

    @tf.function
    def _evaluate_graph(self):
        acc, mse = [], []
        for t, task in enumerate(self.tasks):
            out = self.student.upper(self._eval_in[t], t, training=False)
            mse.append(tf.reduce_mean(tf.square(out - self._eval_out[t])))
            logits = self.teachers[task].heads[0](out)
            hits = tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == self._eval_labels[t], tf.float32)
            acc.append(tf.reduce_mean(hits))
        return tf.stack(acc), tf.stack(mse)

    @staticmethod
    def _accuracy(layers, task_index, features, labels, head):
        logits = head(layers.upper(features, task_index, training=False))
        return tf.reduce_mean(tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == labels, tf.float32))

    def swapped_logits(self, task: str, images, layers: PartitionedNetwork | None = None):
        """Teacher ``task``'s logits with its layers after the target depth taken from ``layers``.

        Args:
            task: a teacher's task.
            images: (N, 28, 28, 1) float images.
            layers: the network whose partitioned layers replace the teacher's (masked for
                ``task``): the student (default) or any network with ``task`` (e.g. the teacher itself).
        """
        if task not in self.teachers:
            raise ValueError(f"Unknown task {task!r}; the scorer's tasks are {self.tasks}.")
        layers = self.student if layers is None else layers
        if task not in layers.tasks:
            raise ValueError(f"layers has no task {task!r}; its tasks are {layers.tasks}.")
        teacher = self.teachers[task]
        features = teacher.lower(ops.convert_to_tensor(np.asarray(images, np.float32)), 0, training=False)
        return teacher.heads[0](layers.upper(features, layers.tasks.index(task), training=False))
