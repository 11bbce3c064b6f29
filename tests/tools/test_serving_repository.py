"""mtlzoo.tools.serving without HTTP: the model directory, TF Serving's JSON shapes, both predict formats, errors.

``write_toy_models`` (also used by ``test_serving_http.py``) saves small ``tf.Module`` SavedModels
with several signatures: two outputs, one output, two inputs (float32 + int32), strings, and a
deliberately slow one.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.tools.serving import ModelRepository, ServingError

X = tf.TensorSpec([None, 3], tf.float32, name="x")
WEIGHTS = np.arange(6, dtype="float32").reshape(3, 2) / 10


class ToyModel(tf.Module):
    """``a = x @ (scale * WEIGHTS)``, ``b = sum(a, axis=1)``, plus signatures of other shapes and dtypes."""

    def __init__(self, scale: float):
        super().__init__()
        self.w = tf.Variable(scale * WEIGHTS)

    @tf.function(input_signature=[X])
    def both(self, x):
        a = tf.matmul(x, self.w)
        return {"a": a, "b": tf.reduce_sum(a, axis=1)}

    @tf.function(input_signature=[X])
    def only_a(self, x):
        return {"a": tf.matmul(x, self.w)}

    @tf.function(input_signature=[X])
    def with_total(self, x):
        return {"a": tf.matmul(x, self.w), "total": tf.reduce_sum(x)}

    @tf.function(input_signature=[X, tf.TensorSpec([None], tf.int32, name="k")])
    def two_inputs(self, x, k):
        return {"y": x * tf.cast(k, tf.float32)[:, None]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def strings(self, text):
        return {"length": tf.strings.length(text), "upper": tf.strings.upper(text)}

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="steps")])
    def slow(self, steps):
        """``steps`` products of 300x300 matrices: a request that takes a while (graceful-shutdown test)."""
        m = tf.eye(300) * 0.5
        _, total = tf.while_loop(lambda i, t: i < steps, lambda i, t: (i + 1, tf.matmul(t, m) + 1.0),
                                 (tf.constant(0), tf.zeros([300, 300])))
        return {"steps": steps, "corner": total[0, 0]}


def write_toy_models(directory: Path) -> Path:
    """``toy/1`` (scale 1), ``toy/2`` (scale 2), ``other/1``, and folders the server must ignore."""
    for name, version, scale in (("toy", 1, 1.0), ("toy", 2, 2.0), ("other", 1, 3.0)):
        module = ToyModel(scale)
        tf.saved_model.save(module, str(directory / name / str(version)), signatures={
            "serving_default": module.both, "task_a": module.only_a, "two_inputs": module.two_inputs,
            "strings": module.strings, "slow": module.slow, "with_total": module.with_total})
    (directory / "toy" / "3").mkdir()                      # no saved_model.pb: ignored
    (directory / "toy" / "notes").mkdir()                  # not an integer: ignored
    (directory / "empty_model").mkdir()                    # no versions: not served
    (directory / "README.txt").write_text("not a model")   # a file: ignored
    return directory


def expected(x, scale: float = 2.0) -> dict:
    a = np.asarray(x, dtype="float32") @ (scale * WEIGHTS)
    return {"a": a, "b": a.sum(axis=1)}


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    return ModelRepository(write_toy_models(tmp_path_factory.mktemp("models")))


X_ROWS = [[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]


def _error(call, *args) -> ServingError:
    with pytest.raises(ServingError) as info:
        call(*args)
    return info.value


def test_scan_serves_integer_versions_with_a_saved_model(repository):
    assert repository.names == ["other", "toy"]
    assert repository.versions("toy") == [1, 2]
    assert repository.latest("toy").version == 2


def test_status_and_metadata_have_tf_serving_shapes(repository):
    assert repository.status("other") == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    meta = repository.metadata("toy")
    assert meta["model_spec"] == {"name": "toy", "signature_name": "", "version": "2"}
    defs = meta["metadata"]["signature_def"]["signature_def"]
    assert sorted(defs) == ["serving_default", "slow", "strings", "task_a", "two_inputs", "with_total"]
    x = defs["two_inputs"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in x["tensor_shape"]["dim"]] == ["-1", "3"]
    assert defs["two_inputs"]["inputs"]["k"]["dtype"] == "DT_INT32"
    assert sorted(defs["serving_default"]["outputs"]) == ["a", "b"]
    assert defs["serving_default"]["method_name"] == "tensorflow/serving/predict"


def test_row_format_one_and_several_outputs(repository):
    want = expected(X_ROWS)
    rows = repository.predict("toy", None, {"instances": X_ROWS})["predictions"]
    assert [sorted(r) for r in rows] == [["a", "b"], ["a", "b"]]
    np.testing.assert_allclose([r["a"] for r in rows], want["a"], rtol=1e-6)
    np.testing.assert_allclose([r["b"] for r in rows], want["b"], rtol=1e-6)
    single = repository.predict("toy", None, {"signature_name": "task_a", "instances": [{"x": v} for v in X_ROWS]})
    np.testing.assert_allclose(single["predictions"], want["a"], rtol=1e-6)


def test_columnar_format_and_versions(repository):
    out = repository.predict("toy", "1", {"inputs": {"x": X_ROWS}})["outputs"]
    np.testing.assert_allclose(out["a"], expected(X_ROWS, scale=1.0)["a"], rtol=1e-6)
    bare = repository.predict("toy", 2, {"signature_name": "task_a", "inputs": X_ROWS})["outputs"]
    np.testing.assert_allclose(bare, expected(X_ROWS)["a"], rtol=1e-6)
    statuses = repository.status("toy")["model_version_status"]
    assert [s["version"] for s in statuses] == ["2", "1"]  # version 1 was loaded on demand above


def test_columnar_format_allows_unbatched_outputs_and_scalar_inputs(repository):
    out = repository.predict("toy", None, {"signature_name": "with_total", "inputs": X_ROWS})["outputs"]
    assert out["total"] == pytest.approx(np.sum(X_ROWS))
    assert repository.predict("toy", None, {"signature_name": "slow", "inputs": {"steps": 2}})["outputs"] == {
        "steps": 2, "corner": pytest.approx(1.5)}


def test_two_inputs_in_both_formats(repository):
    rows = repository.predict("toy", None, {"signature_name": "two_inputs", "instances": [
        {"x": X_ROWS[0], "k": 2}, {"x": X_ROWS[1], "k": -1}]})["predictions"]
    np.testing.assert_allclose(rows, [np.multiply(X_ROWS[0], 2), np.multiply(X_ROWS[1], -1)])
    cols = repository.predict("toy", None, {"signature_name": "two_inputs", "inputs": {"x": X_ROWS, "k": [3, 0]}})
    np.testing.assert_allclose(cols["outputs"], [np.multiply(X_ROWS[0], 3), [0, 0, 0]])


def test_strings_as_text_and_base64(repository):
    raw = base64.b64encode(b"\xffab").decode()
    rows = repository.predict("toy", None, {"signature_name": "strings",
                                            "instances": ["abc", {"b64": raw}, {"text": "é"}]})["predictions"]
    assert [r["length"] for r in rows] == [3, 3, 2]
    assert rows[0]["upper"] == "ABC" and rows[1]["upper"] == {"b64": base64.b64encode(b"\xffAB").decode()}


def test_not_found_errors_are_404(repository):
    assert _error(repository.predict, "nope", None, {"instances": X_ROWS}).status == 404
    error = _error(repository.predict, "toy", "7", {"instances": X_ROWS})
    assert error.status == 404 and "Specific(toy, 7)" in error.message and "1, 2" in error.message
    assert _error(repository.status, "toy", "3").status == 404  # folder without saved_model.pb
    error = _error(repository.predict, "toy", None, {"signature_name": "nope", "instances": X_ROWS})
    assert error.status == 404 and '"nope"' in error.message and "task_a" in error.message
    assert _error(repository.metadata, "toy", "one").status == 400


@pytest.mark.parametrize("body, words", [
    ([1, 2], ["JSON object"]),
    ({"instances": X_ROWS, "inputs": X_ROWS}, ["exactly one"]),
    ({}, ["exactly one"]),
    ({"instance": X_ROWS}, ["unknown key", "instance"]),
    ({"instances": []}, ["non-empty list"]),
    ({"instances": X_ROWS, "signature_name": 3}, ["signature_name", "string"]),
    ({"instances": [[1, 2, 3], [1, 2]]}, ["'x'", "ragged"]),
    ({"instances": [[1, 2]]}, ["'x'", "[-1, 3]", "[1, 2]", "each instance must have shape [3]"]),
    ({"inputs": [1, 2, 3]}, ["'x'", "[-1, 3]", "got shape [3]"]),
    ({"instances": [["a", "b", "c"]]}, ["'x'", "float32", "strings"]),
    ({"instances": [[1, None, 3]]}, ["'x'", "float32", "null"]),
    ({"instances": [{"y": [1, 2, 3]}]}, ["'y'", "'x'"]),
    ({"signature_name": "two_inputs", "instances": [{"x": [1, 2, 3], "k": 1.5}]}, ["'k'", "int32", "non-integer"]),
    ({"signature_name": "two_inputs", "instances": [{"x": [1, 2, 3], "k": 2 ** 40}]}, ["'k'", "int32", "range"]),
    ({"signature_name": "two_inputs", "instances": [{"x": [1, 2, 3]}]}, ["missing", "'k'"]),
    ({"signature_name": "two_inputs", "inputs": [[1, 2, 3]]}, ["'inputs'", "object"]),
    ({"signature_name": "strings", "instances": [{"b64": "@@"}]}, ["'text'", "base64"]),
    ({"signature_name": "strings", "instances": [3]}, ["'text'", "string"]),
    ({"signature_name": "with_total", "instances": X_ROWS}, ["output 'total'", "columnar"]),
    ({"signature_name": "slow", "instances": [3]}, ["'steps'", "[]", "got shape [1]"]),
])
def test_bad_requests_are_400_with_a_message_naming_the_problem(repository, body, words):
    error = _error(repository.predict, "toy", None, body)
    assert error.status == 400, error.message
    for word in words:
        assert word in error.message, (word, error.message)


def test_other_versions_load_once_under_concurrent_requests(tmp_path, monkeypatch):
    from mtlzoo.tools.serving import model_repository

    repo = ModelRepository(write_toy_models(tmp_path))
    loads, servable = [], model_repository.Servable

    def counting_servable(*args):
        loads.append(args[:2])
        return servable(*args)

    monkeypatch.setattr(model_repository, "Servable", counting_servable)
    results, barrier = [], threading.Barrier(8)

    def ask():
        barrier.wait()
        results.append(repo.servable("toy", "1"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [("toy", 1)]
    assert len(results) == 8 and len({id(s) for s in results}) == 1 and results[0].version == 1


def test_empty_or_missing_directory_says_what_layout_is_expected(tmp_path):
    with pytest.raises(ValueError, match=r"no models found.*<model_name>/<version>/saved_model.pb"):
        ModelRepository(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ModelRepository(tmp_path / "missing")
