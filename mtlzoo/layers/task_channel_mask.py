"""Per-task channel masks with separate forward and backward masks (seed 004 §3)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _binary_matrix(value, what: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"TaskChannelMask: {what} must be a (tasks, channels) matrix; got shape {array.shape}. "
                         "Masks from partition_search are (channels, tasks): transpose them.")
    if not np.all((array == 0) | (array == 1)):
        raise ValueError(f"TaskChannelMask: {what} must hold only 0 and 1 (1 = channel used by the task).")
    return array.astype(np.float32)


@keras.saving.register_keras_serializable(package="mtlzoo")
class TaskChannelMask(keras.layers.Layer):
    """Zero the channels a task does not use; let gradients through only the channels it trains.

    For task ``t`` the output is ``x * m_f[t]`` (channel axis = last axis), computed as
    ``x * m_b[t] + stop_gradient(x * (m_f[t] - m_b[t]))``: channels in the forward mask
    ``m_f`` are visible to the task, and only those in the backward mask ``m_b``
    (a subset of ``m_f``) pass gradients back, so whatever produced a channel outside
    ``m_b[t]`` gets an exactly-zero gradient from task ``t`` (seed 004 §3). The masks are
    non-trainable weights, so they are saved with the model, and are also in the config.

    Args:
        forward_mask: binary (tasks, channels) array, ``m_f``.
        backward_mask: binary (tasks, channels) array with ``m_b <= m_f``; defaults to ``m_f``.

    Example:
        >>> layer = TaskChannelMask([[1, 1, 0], [0, 1, 1]], backward_mask=[[1, 0, 0], [0, 1, 1]])
        >>> keras.ops.convert_to_numpy(layer(keras.ops.ones((1, 3)), task_index=0)).tolist()
        [[1.0, 1.0, 0.0]]
    """

    def __init__(self, forward_mask, backward_mask=None, **kwargs):
        super().__init__(**kwargs)
        self._forward, self._backward = self._check(forward_mask, backward_mask)
        self.m_f = None
        self.m_b = None

    @property
    def tasks(self) -> int:
        return int(self._forward.shape[0])

    @property
    def channels(self) -> int:
        return int(self._forward.shape[1])

    @staticmethod
    def _check(forward_mask, backward_mask):
        forward = _binary_matrix(forward_mask, "forward_mask")
        backward = forward.copy() if backward_mask is None else _binary_matrix(backward_mask, "backward_mask")
        if backward.shape != forward.shape:
            raise ValueError(f"TaskChannelMask: backward_mask has shape {backward.shape} but forward_mask "
                             f"{forward.shape}; both are (tasks, channels).")
        outside = np.argwhere(backward > forward)
        if outside.size:
            t, c = (int(v) for v in outside[0])
            raise ValueError(f"TaskChannelMask: backward_mask must be a subset of forward_mask (m_b <= m_f), but "
                             f"task {t} trains channel {c} it does not use forward ({len(outside)} such entries); "
                             "clear those entries of backward_mask or set them in forward_mask.")
        return forward, backward

    def build(self, input_shape):
        if input_shape[-1] is not None and int(input_shape[-1]) != self.channels:
            raise ValueError(f"TaskChannelMask: the masks have {self.channels} channels but the input's last axis "
                             f"has {input_shape[-1]} (input shape {tuple(input_shape)}).")
        self.m_f = self.add_weight(name="forward_mask", shape=self._forward.shape, trainable=False,
                                   initializer=keras.initializers.Constant(self._forward))
        self.m_b = self.add_weight(name="backward_mask", shape=self._backward.shape, trainable=False,
                                   initializer=keras.initializers.Constant(self._backward))

    def set_masks(self, m_f, m_b=None) -> None:
        """Replace the masks (same shape); ``m_b`` defaults to ``m_f``.

        Raises:
            ValueError: when a mask is not binary, has another shape, or ``m_b`` is not a subset of ``m_f``.
        """
        forward, backward = self._check(m_f, m_b)
        if forward.shape != self._forward.shape:
            raise ValueError(f"TaskChannelMask.set_masks: new masks have shape {forward.shape}, the layer "
                             f"holds {self._forward.shape} (tasks, channels).")
        self._forward, self._backward = forward, backward
        if self.m_f is not None:
            self.m_f.assign(forward)
            self.m_b.assign(backward)

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """``(m_f, m_b)`` as float32 (tasks, channels) arrays (the weights' values once built)."""
        if self.m_f is None:
            return self._forward.copy(), self._backward.copy()
        return keras.ops.convert_to_numpy(self.m_f), keras.ops.convert_to_numpy(self.m_b)

    def call(self, inputs, task_index: int):
        t = int(task_index)
        if not 0 <= t < self.tasks:
            raise ValueError(f"TaskChannelMask: task_index {task_index} is out of range for {self.tasks} tasks.")
        m_f = ops.cast(self.m_f[t], inputs.dtype)
        m_b = ops.cast(self.m_b[t], inputs.dtype)
        return inputs * m_b + ops.stop_gradient(inputs * (m_f - m_b))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        forward, backward = self.masks()
        config.update(forward_mask=forward.astype(int).tolist(), backward_mask=backward.astype(int).tolist())
        return config
