"""Generic multi-task layers: cross-stitch units, column selection, per-task channel masks and batch norm, and
shape-static resizing/pooling."""

from mtlzoo.layers.adaptive_average_pooling import AdaptiveAveragePooling
from mtlzoo.layers.bilinear_resize import BilinearResize
from mtlzoo.layers.column_select import ColumnSelect
from mtlzoo.layers.cross_stitch import CrossStitch
from mtlzoo.layers.task_batch_normalization import TaskBatchNormalization
from mtlzoo.layers.task_channel_mask import TaskChannelMask

__all__ = [
    "AdaptiveAveragePooling",
    "BilinearResize",
    "ColumnSelect",
    "CrossStitch",
    "TaskBatchNormalization",
    "TaskChannelMask",
]
