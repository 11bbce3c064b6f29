"""What you do with a trained network: architecture search, export, serving.

- :func:`export`: a SavedModel in TensorFlow Serving's layout (all tasks, one
  signature per task, peeled single-task networks); ``mtlzoo export``.
- :mod:`mtlzoo.tools.serving`: TensorFlow Serving's REST API; ``mtlzoo serve``.
- :mod:`mtlzoo.tools.split_search`: seed 000 §5's greedy min-stress split search; ``mtlzoo search split``.
- :func:`load_trained`: the model of a run folder or ``.keras`` file.
"""

from mtlzoo.tools.export import export, versions
from mtlzoo.tools.model_source import load_trained, model_file

__all__ = ["export", "load_trained", "model_file", "versions"]
