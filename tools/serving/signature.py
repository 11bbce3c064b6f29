"""One serving signature of a loaded SavedModel, answering TF Serving's row and columnar predict formats."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mtlzoo.tools.serving.json_tensor import shape_text, to_array, to_json
from mtlzoo.tools.serving.serving_error import ServingError


class Signature:
    """A SavedModel signature (a concrete function taking keyword tensors, returning a dict).

    The input specs come from ``function.structured_input_signature[1]`` and the outputs from
    ``function.structured_outputs``, so any SavedModel signature works, with any number of
    inputs and outputs.

    Row format (``instances``): a list with one entry per example; for a single-input
    signature an entry is the value or ``{input: value}``, otherwise ``{input: value, ...}``.
    The answer is ``{"predictions": [...]}``: one value per example for a single output, one
    ``{output: value}`` object per example otherwise.

    Columnar format (``inputs``): the batched value, or ``{input: batched value, ...}``; the
    answer is ``{"outputs": value}`` for a single output, ``{"outputs": {output: value}}``
    otherwise.

    Args:
        name: the signature's key in the SavedModel (e.g. ``serving_default``).
        function: the concrete function, ``tf.saved_model.load(path).signatures[name]``.

    Example:
        >>> loaded = tf.saved_model.load("exports/multimnist_lenet/1")        # doctest: +SKIP
        >>> signature = Signature("task_left", loaded.signatures["task_left"])  # doctest: +SKIP
        >>> signature.predict_rows([np.zeros((28, 28, 1)).tolist()])            # doctest: +SKIP
        {'predictions': [[0.01, -0.2, ...]]}
    """

    def __init__(self, name: str, function):
        self.name = name
        self.function = function
        self.inputs = dict(function.structured_input_signature[1])
        outputs = function.structured_outputs
        self.outputs = dict(outputs) if isinstance(outputs, dict) else {"output_0": outputs}

    def describe_inputs(self) -> str:
        """``"image: float32 [-1, 28, 28, 1]"`` for every input, for messages."""
        return ", ".join(f"{n}: {s.dtype.name} {shape_text(s.shape)}" for n, s in self.inputs.items())

    def predict_rows(self, instances) -> dict:
        """Answer the row format: ``instances`` -> ``{"predictions": [...]}``."""
        if not isinstance(instances, list) or not instances:
            raise ServingError(400, "'instances' must be a non-empty list with one entry per example; "
                                    f"signature '{self.name}' takes {self.describe_inputs()}")
        if len(self.inputs) == 1:
            (name, spec), = self.inputs.items()
            column = [self._single_value(instance, name, spec, f"instance {i}") for i, instance in enumerate(instances)]
            arrays = {name: to_array(column, spec, name, row_format=True)}
        else:
            columns = {name: [] for name in self.inputs}
            for i, instance in enumerate(instances):
                self._check_keys(instance, f"instance {i}")
                for name in self.inputs:
                    columns[name].append(instance[name])
            arrays = {n: to_array(columns[n], self.inputs[n], n, row_format=True) for n in self.inputs}
        return self.rows_answer(self.run(arrays), len(instances))

    def rows_answer(self, outputs: dict, count: int) -> dict:
        """The row format's ``{"predictions": [...]}`` for the outputs of ``count`` instances."""
        for name, value in outputs.items():
            if value.ndim == 0 or value.shape[0] != count:
                raise ServingError(400, f"output '{name}' of signature '{self.name}' has shape {list(value.shape)}, "
                                        f"not one row per instance ({count}); send the columnar 'inputs' format")
        if len(outputs) == 1:
            return {"predictions": to_json(next(iter(outputs.values())))}
        columns = {name: to_json(value) for name, value in outputs.items()}
        return {"predictions": [{name: columns[name][i] for name in columns} for i in range(count)]}

    def predict_columns(self, inputs) -> dict:
        """Answer the columnar format: ``inputs`` -> ``{"outputs": ...}``."""
        if len(self.inputs) == 1:
            (name, spec), = self.inputs.items()
            arrays = {name: to_array(self._single_value(inputs, name, spec, "'inputs'"), spec, name)}
        else:
            self._check_keys(inputs, "'inputs'")
            arrays = {n: to_array(inputs[n], self.inputs[n], n) for n in self.inputs}
        return self.columns_answer(self.run(arrays))

    @staticmethod
    def columns_answer(outputs: dict) -> dict:
        """The columnar format's ``{"outputs": ...}``."""
        if len(outputs) == 1:
            return {"outputs": to_json(next(iter(outputs.values())))}
        return {"outputs": {name: to_json(value) for name, value in outputs.items()}}

    def run(self, arrays: dict) -> dict:
        """Call the signature on validated arrays; the outputs as NumPy arrays."""
        tensors = {name: tf.constant(array, dtype=self.inputs[name].dtype) for name, array in arrays.items()}
        try:
            outputs = self.function(**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise ServingError(400, f"signature '{self.name}' rejected the input: {_op_message(error)}") from None
        if not isinstance(outputs, dict):
            outputs = {"output_0": outputs}
        return {name: np.asarray(value) for name, value in outputs.items()}

    def _single_value(self, value, name: str, spec, where: str):
        """The value of a single-input signature, unwrapping ``{name: value}``."""
        if not isinstance(value, dict):
            return value
        if set(value) == {name}:
            return value[name]
        if spec.dtype.name == "string" and set(value) == {"b64"}:
            return value
        raise ServingError(400, f"{where} names inputs {sorted(value)}, but signature '{self.name}' takes one "
                                f"input, '{name}' ({self.describe_inputs()}): send the value or {{\"{name}\": value}}")

    def _check_keys(self, value, where: str) -> None:
        if not isinstance(value, dict):
            raise ServingError(400, f"{where} must be an object {{input: value}} with the inputs of signature "
                                    f"'{self.name}' ({self.describe_inputs()}), got {type(value).__name__}")
        missing = [n for n in self.inputs if n not in value]
        unknown = sorted(k for k in value if k not in self.inputs)
        if missing or unknown:
            parts = ([f"missing input(s) {missing}"] if missing else []) + \
                    ([f"unknown input(s) {unknown}"] if unknown else [])
            raise ServingError(400, f"{where}: {'; '.join(parts)}; signature '{self.name}' takes "
                                    f"{self.describe_inputs()}")


def _op_message(error: tf.errors.OpError) -> str:
    """The useful lines of a TensorFlow op error (no 'Detected at node' or stack-trace banners)."""
    skip = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "[[{{node")
    lines = [line.strip() for line in str(error.message).splitlines()]
    kept = [line for line in lines if line and not line.startswith(skip)]
    return " ".join(kept) or type(error).__name__
