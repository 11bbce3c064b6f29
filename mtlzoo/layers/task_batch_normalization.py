"""Batch normalization with its own statistics and affine parameters per task (seed 004 A.2)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="mtlzoo")
class TaskBatchNormalization(keras.layers.Layer):
    """One ``BatchNormalization`` per task: own moving mean/variance, gamma and beta.

    Seed 004 (A.2), after Rebuffi et al.: "we maintain separate batch
    normalization statistics per task"; the parameter overhead is 4 numbers
    per channel per task. ``call(x, task_index, training)`` normalizes with the
    statistics of that task only, so a forward pass for task ``t`` never moves
    another task's statistics.

    Args:
        tasks: number of tasks (>= 1).
        axis, momentum, epsilon, center, scale: as for ``keras.layers.BatchNormalization``.

    Example:
        >>> bn = TaskBatchNormalization(2)
        >>> y = bn(keras.ops.ones((4, 3)), task_index=1, training=True)
        >>> [n.name for n in bn.norms]
        ['task_0', 'task_1']
    """

    def __init__(self, tasks: int, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 1:
            raise ValueError(f"TaskBatchNormalization: tasks must be a positive integer; got {tasks!r}.")
        self.tasks = tasks
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.norms = [
            keras.layers.BatchNormalization(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon,
                                            center=self.center, scale=self.scale, name=f"task_{t}")
            for t in range(tasks)
        ]

    def build(self, input_shape):
        for norm in self.norms:
            norm.build(input_shape)

    def call(self, inputs, task_index: int, training=None):
        t = int(task_index)
        if not 0 <= t < self.tasks:
            raise ValueError(f"TaskBatchNormalization: task_index {task_index} is out of range for "
                             f"{self.tasks} tasks.")
        return self.norms[t](inputs, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(tasks=self.tasks, axis=self.axis, momentum=self.momentum, epsilon=self.epsilon,
                      center=self.center, scale=self.scale)
        return config
