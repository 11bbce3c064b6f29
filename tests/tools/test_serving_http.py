"""mtlzoo serve over real HTTP: a uvicorn server on 127.0.0.1 (free port, background thread), a requests client.

Each endpoint; each kind of bad request answered with its status and a JSON error while
the server keeps answering; 200 concurrent predicts; graceful shutdown; and (when the
exporter is there) an exported zoo model served with the same outputs as ``model.predict``.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

from mtlzoo.tools.serving import ModelServer

LIMIT = 64 * 1024  # request-size limit of the test server


def _toy_models_module():
    """``write_toy_models`` / ``expected`` live beside the repository tests; load them from there."""
    path = Path(__file__).with_name("test_serving_repository.py")
    spec = importlib.util.spec_from_file_location("_serving_toy_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


toy = _toy_models_module()
X_ROWS = [[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return toy.write_toy_models(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def server(models_dir):
    with ModelServer(models_dir, port=0, max_request_bytes=LIMIT, log_level="warning") as running:
        yield running


def _predict_ok(server) -> None:
    """The server still answers a good request correctly."""
    reply = requests.post(f"{server.url}/v1/models/toy:predict", json={"instances": X_ROWS}, timeout=30)
    assert reply.status_code == 200, reply.text
    np.testing.assert_allclose([p["a"] for p in reply.json()["predictions"]], toy.expected(X_ROWS)["a"], rtol=1e-6)


def test_binds_loopback_on_a_free_port(server):
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0 and server.running


def test_status_endpoints(server):
    reply = requests.get(f"{server.url}/v1/models/toy", timeout=30)
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    status = reply.json()["model_version_status"]
    assert status[0] == {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    one = requests.get(f"{server.url}/v1/models/toy/versions/1", timeout=30).json()
    assert one == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}


def test_metadata_endpoints(server):
    meta = requests.get(f"{server.url}/v1/models/toy/metadata", timeout=30).json()
    assert meta["model_spec"] == {"name": "toy", "signature_name": "", "version": "2"}
    x = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT" and [d["size"] for d in x["tensor_shape"]["dim"]] == ["-1", "3"]
    old = requests.get(f"{server.url}/v1/models/toy/versions/1/metadata", timeout=30).json()
    assert old["model_spec"]["version"] == "1"


def test_predict_row_columnar_version_and_signature(server):
    _predict_ok(server)
    url = f"{server.url}/v1/models/toy"
    columnar = requests.post(f"{url}/versions/1:predict", json={"inputs": {"x": X_ROWS}}, timeout=30).json()
    np.testing.assert_allclose(columnar["outputs"]["b"], toy.expected(X_ROWS, scale=1.0)["b"], rtol=1e-6)
    single = requests.post(f"{url}:predict", json={"signature_name": "task_a", "instances": X_ROWS}, timeout=30)
    np.testing.assert_allclose(single.json()["predictions"], toy.expected(X_ROWS)["a"], rtol=1e-6)
    two = requests.post(f"{url}:predict", json={"signature_name": "two_inputs",
                                                "inputs": {"x": X_ROWS, "k": [1, 2]}}, timeout=30)
    np.testing.assert_allclose(two.json()["outputs"], [X_ROWS[0], np.multiply(X_ROWS[1], 2)])


def _chunks(size: int):
    """A body sent with Transfer-Encoding: chunked (no Content-Length), ``size`` bytes in all."""
    yield b'{"instances": ['
    sent = 15
    while sent < size:
        yield b"[1.0, 2.0, 3.0], " * 64
        sent += 17 * 64
    yield b"[1.0, 2.0, 3.0]]}"


BAD_REQUESTS = {
    "malformed JSON": ("post", "/v1/models/toy:predict", {"data": b'{"instances": [1, 2'}, 400, "JSON Parse error"),
    "nested too deeply": ("post", "/v1/models/toy:predict", {"data": b"[" * 50000}, 400, "too deeply"),
    "not UTF-8": ("post", "/v1/models/toy:predict", {"data": b'{"instances": "\xff"}'}, 400, "UTF-8"),
    "not an object": ("post", "/v1/models/toy:predict", {"json": [1, 2, 3]}, 400, "JSON object"),
    "both formats": ("post", "/v1/models/toy:predict", {"json": {"instances": X_ROWS, "inputs": X_ROWS}}, 400,
                     "exactly one"),
    "unknown model": ("post", "/v1/models/nope:predict", {"json": {"instances": X_ROWS}}, 404,
                      "Servable not found for request: Latest(nope)"),
    "unknown model status": ("get", "/v1/models/nope", {}, 404, "served models: other, toy"),
    "unknown version": ("post", "/v1/models/toy/versions/9:predict", {"json": {"instances": X_ROWS}}, 404,
                        "Specific(toy, 9)"),
    "version not a number": ("get", "/v1/models/toy/versions/latest/metadata", {}, 400, "positive integer"),
    "unknown signature": ("post", "/v1/models/toy:predict", {"json": {"signature_name": "nope", "instances": X_ROWS}},
                          404, '"nope" not found'),
    "wrong shape": ("post", "/v1/models/toy:predict", {"json": {"instances": [[1.0, 2.0]]}}, 400,
                    "input 'x' expects shape [-1, 3]"),
    "ragged": ("post", "/v1/models/toy:predict", {"json": {"instances": [[1, 2, 3], [1]]}}, 400, "ragged"),
    "wrong dtype": ("post", "/v1/models/toy:predict", {"json": {"instances": [["a", "b", "c"]]}}, 400,
                    "expects float32 (numbers), got strings"),
    "wrong int dtype": ("post", "/v1/models/toy:predict",
                        {"json": {"signature_name": "two_inputs", "inputs": {"x": X_ROWS, "k": [0.5, 1]}}}, 400,
                        "input 'k' expects int32"),
    "too large": ("post", "/v1/models/toy:predict", {"json": {"instances": [[1.0, 2.0, 3.0]] * 10000}}, 413,
                  "request body too large"),
    "too large, chunked": ("post", "/v1/models/toy:predict", {"data": "chunked"}, 413,
                           f"more than {LIMIT} bytes"),
    "GET on predict": ("get", "/v1/models/toy:predict", {}, 405, "use POST"),
    "POST on status": ("post", "/v1/models/toy", {"json": {}}, 405, "use GET"),
    "DELETE on metadata": ("delete", "/v1/models/toy/metadata", {}, 405, "use GET"),
    "classify": ("post", "/v1/models/toy:classify", {"json": {"instances": X_ROWS}}, 404, ":predict"),
    "label": ("get", "/v1/models/toy/labels/stable", {}, 404, "labels"),
    "bad URL": ("get", "/v1/models/toy/versions", {}, 404, "Malformed request"),
    "outside the API": ("get", "/v2/anything", {}, 404, "/v1/models/<name>"),
}


@pytest.mark.parametrize("kind", list(BAD_REQUESTS))
def test_bad_request_gets_a_json_error_and_the_server_keeps_serving(server, kind):
    method, path, kwargs, status, words = BAD_REQUESTS[kind]
    if kwargs.get("data") == "chunked":
        kwargs = {"data": _chunks(4 * LIMIT)}
    reply = requests.request(method, server.url + path, timeout=30, **kwargs)
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()
    assert list(error) == ["error"] and words in error["error"], error
    if status == 405:
        assert reply.headers["allow"] in ("POST", "GET, HEAD")
    _predict_ok(server)


def test_unexpected_failure_is_a_500_json_error(server, monkeypatch):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(server.repository, "servable", broken)  # both parsing paths look the model up
    reply = requests.post(f"{server.url}/v1/models/toy:predict", json={"instances": X_ROWS}, timeout=30)
    assert reply.status_code == 500 and "RuntimeError: boom" in reply.json()["error"]
    monkeypatch.undo()
    _predict_ok(server)


def test_200_concurrent_predicts_are_all_answered_correctly(server):
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(int(rng.integers(1, 5)), 3)).astype("float32") for _ in range(200)]

    def ask(x):
        reply = requests.post(f"{server.url}/v1/models/toy:predict",
                              json={"signature_name": "task_a", "instances": x.tolist()}, timeout=60)
        return reply.status_code, reply.json()

    with ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(ask, batches))
    assert [status for status, _ in answers] == [200] * 200
    for x, (_, body) in zip(batches, answers):
        np.testing.assert_allclose(body["predictions"], toy.expected(x)["a"], rtol=1e-5, atol=1e-6)


def test_stop_answers_requests_in_flight_then_refuses_connections(models_dir):
    server = ModelServer(models_dir, port=0, log_level="warning").start()
    answers = []
    slow = threading.Thread(target=lambda: answers.append(requests.post(
        f"{server.url}/v1/models/toy:predict", json={"signature_name": "slow", "inputs": {"steps": 1500}},
        timeout=60)))
    slow.start()
    deadline = time.monotonic() + 30
    while server.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert server.in_flight == 1
    server.stop()
    slow.join()
    assert answers[0].status_code == 200 and answers[0].json()["outputs"]["steps"] == 1500
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/v1/models/toy", timeout=5)
    with pytest.raises(RuntimeError, match="runs once"):
        server.start()


def test_busy_port_is_a_clear_error(server, models_dir):
    with pytest.raises(OSError, match=rf"cannot listen on 127.0.0.1:{server.port}.*choose another port"):
        ModelServer(models_dir, port=server.port)


def test_exported_zoo_model_serves_model_predict(tmp_path):
    import mtlzoo
    from mtlzoo.tools.export import export

    model = mtlzoo.models.get("multimnist_lenet", width=2)
    x = np.random.default_rng(1).random((3, 28, 28, 1), dtype="float32")
    want = model.predict(x, verbose=0)
    export(model, tmp_path / "multimnist_lenet")
    with ModelServer(tmp_path, port=0, log_level="warning") as server:
        url = f"{server.url}/v1/models/multimnist_lenet"
        rows = requests.post(f"{url}:predict", json={"instances": x.tolist()}, timeout=60).json()["predictions"]
        left = requests.post(f"{url}:predict", json={"signature_name": "task_left", "inputs": {"image": x.tolist()}},
                             timeout=60).json()["outputs"]
        meta = requests.get(f"{url}/metadata", timeout=60).json()["metadata"]
    assert meta["mtlzoo"]["input"]["name"] == "image" and "[0, 1]" in meta["mtlzoo"]["preprocessing"]
    assert set(meta["signature_def"]["signature_def"]) == {"serving_default", "task_left", "task_right"}
    for task in ("left", "right"):
        np.testing.assert_allclose([r[task] for r in rows], want[task], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(left, want["left"], atol=1e-5, rtol=1e-5)
