"""Datasets as tf.data pipelines of (x, {task: y})."""
