"""Generic multi-task layers: cross-stitch units and column selection."""

from mtlzoo.layers.column_select import ColumnSelect
from mtlzoo.layers.cross_stitch import CrossStitch

__all__ = ["ColumnSelect", "CrossStitch"]
