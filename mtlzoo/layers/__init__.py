"""Generic multi-task layers: cross-stitch units, column selection, and shape-static resizing/pooling."""

from mtlzoo.layers.adaptive_average_pooling import AdaptiveAveragePooling
from mtlzoo.layers.bilinear_resize import BilinearResize
from mtlzoo.layers.column_select import ColumnSelect
from mtlzoo.layers.cross_stitch import CrossStitch

__all__ = ["AdaptiveAveragePooling", "BilinearResize", "ColumnSelect", "CrossStitch"]
