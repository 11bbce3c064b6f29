"""One loaded version of one served model: its signatures, status, metadata and predictions."""

from __future__ import annotations

import json
from pathlib import Path

import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from mtlzoo.tools.export import METADATA_FILE
from mtlzoo.tools.serving.serving_error import ServingError
from mtlzoo.tools.serving.signature import Signature

#: The signature a predict request without ``signature_name`` uses (TF Serving's default).
DEFAULT_SIGNATURE = "serving_default"
#: The keys a predict request body may hold.
REQUEST_KEYS = ("signature_name", "instances", "inputs")


class Servable:
    """A SavedModel version loaded for serving (TF Serving's "servable").

    Args:
        name: the model's name (its folder in the served directory).
        version: the version number (its sub-folder).
        path: the version folder, holding ``saved_model.pb`` and ``variables/``.

    Example:
        >>> servable = Servable("multimnist_lenet", 1, "exports/multimnist_lenet/1")   # doctest: +SKIP
        >>> sorted(servable.signatures)                                                # doctest: +SKIP
        ['serving_default', 'task_left', 'task_right']
        >>> servable.predict({"signature_name": "task_left", "instances": [image]})    # doctest: +SKIP
        {'predictions': [[...10 logits...]]}
    """

    def __init__(self, name: str, version: int, path):
        self.name = name
        self.version = int(version)
        self.path = Path(path)
        self._loaded = tf.saved_model.load(str(self.path))  # keeps the variables alive
        self.signatures = {key: Signature(key, fn) for key, fn in self._loaded.signatures.items()}
        self._signature_defs = self._read_signature_defs()
        self.description = self._read_description()

    def status(self) -> dict:
        """This version's entry of TF Serving's ``model_version_status`` list."""
        return {"version": str(self.version), "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""}}

    def metadata(self) -> dict:
        """TF Serving's ``GET /v1/models/<name>[/versions/<v>]/metadata`` answer.

        For an export of :func:`mtlzoo.tools.export`, ``metadata.mtlzoo`` adds its
        ``assets.extra/mtlzoo.json``: the input, the preprocessing it expects and each task's output.
        """
        metadata = {"signature_def": {"signature_def": self._signature_defs}}
        if self.description is not None:
            metadata["mtlzoo"] = self.description
        return {"model_spec": {"name": self.name, "signature_name": "", "version": str(self.version)},
                "metadata": metadata}

    def predict(self, request) -> dict:
        """Answer a parsed ``:predict`` body (row format ``instances`` or columnar ``inputs``).

        Raises:
            ServingError: 400 for a malformed body or bad inputs, 404 for an unknown signature.
        """
        if not isinstance(request, dict):
            raise ServingError(400, "the request body must be a JSON object with 'instances' (row format) or "
                                    f"'inputs' (columnar format), got a JSON {_json_type(request)}")
        unknown = sorted(k for k in request if k not in REQUEST_KEYS)
        if unknown:
            raise ServingError(400, f"unknown key(s) {unknown} in the request body; a predict request holds "
                                    "'instances' or 'inputs', and optionally 'signature_name'")
        if ("instances" in request) == ("inputs" in request):
            raise ServingError(400, "the request body must hold exactly one of 'instances' (row format: a list "
                                    "of examples) or 'inputs' (columnar format: batched values)")
        signature = self.signature(request.get("signature_name"))
        if "instances" in request:
            return signature.predict_rows(request["instances"])
        return signature.predict_columns(request["inputs"])

    def signature(self, name) -> Signature:
        """The signature called ``name`` (``None`` or ``""``: ``serving_default``)."""
        if name is None or name == "":
            name = DEFAULT_SIGNATURE
        if not isinstance(name, str):
            raise ServingError(400, f"'signature_name' must be a string, got a JSON {_json_type(name)}")
        if name not in self.signatures:
            raise ServingError(404, f'Serving signature name: "{name}" not found in signature def of model '
                                    f"'{self.name}' version {self.version}; its signatures: "
                                    f"{', '.join(sorted(self.signatures))}")
        return self.signatures[name]

    def _read_description(self) -> dict | None:
        """``assets.extra/mtlzoo.json`` when the export has one and it is a JSON object, else ``None``."""
        path = self.path / "assets.extra" / METADATA_FILE
        try:
            description = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return description if isinstance(description, dict) else None

    def _read_signature_defs(self) -> dict:
        """The served signatures' SignatureDefs as TF Serving prints them (dtypes ``DT_FLOAT``, sizes "-1")."""
        saved_model = saved_model_pb2.SavedModel()
        saved_model.ParseFromString((self.path / "saved_model.pb").read_bytes())
        definitions = saved_model.meta_graphs[0].signature_def
        return {key: json_format.MessageToDict(definitions[key], preserving_proto_field_name=True,
                                               always_print_fields_with_no_presence=True)
                for key in sorted(self.signatures) if key in definitions}


def _json_type(value) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
