"""Fuzzing the REST app in process (Starlette's TestClient): random URLs, methods, bodies, encodings and tensors.

Every request is answered with 200 or a 4xx JSON ``{"error": one line}`` -- never a 500,
an exception, a hang or unbounded memory -- and the fast parsing path
(:mod:`mtlzoo.tools.serving.fast_json`) gives the general path's answer, value for value,
on random numeric tensors (valid or not). 50 examples per target in the default suite,
``MTLZOO_FUZZ_EXAMPLES`` (1000) in the slow run.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
with warnings.catch_warnings():  # Starlette >= 1.10 asks for httpx2; httpx works with every version
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from mtlzoo.tools.serving import ModelRepository, ServingError, create_app
from mtlzoo.tools.serving import rest_app


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
harness = _load("_fuzz_harness", Path(__file__).parents[1] / "fuzz_harness.py")
toy = _load("_serving_toy_models_fuzz", Path(__file__).with_name("test_serving_repository.py"))
LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    return ModelRepository(toy.write_toy_models(tmp_path_factory.mktemp("fuzz_models")))


@pytest.fixture(scope="module")
def client(repository):
    with TestClient(create_app(repository, max_request_bytes=LIMIT), raise_server_exceptions=True) as running:
        yield running


NUMBERS = (st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=True, allow_infinity=True, width=64)
           | st.sampled_from([10 ** 40, -(10 ** 300), 2 ** 31, 2 ** 63, 1e39, 0, -0.0]))
LEAVES = NUMBERS | st.booleans() | st.none() | st.text(max_size=6) | st.fixed_dictionaries({"b64": st.text(max_size=8)})


@st.composite
def tensors(draw):
    """A nested list of a random (sometimes ragged) shape, or a scalar."""
    shape = draw(st.lists(st.integers(0, 4), max_size=4))
    leaf = draw(st.sampled_from([NUMBERS, LEAVES, st.floats(-10, 10)]))

    def build(dims):
        if not dims:
            return draw(leaf)
        size = dims[0] + (draw(st.integers(-1, 1)) if draw(st.integers(0, 9)) == 0 else 0)  # ragged, now and then
        return [build(dims[1:]) for _ in range(max(0, size))]
    return build(shape)


INPUT_NAMES = st.sampled_from(["x", "k", "text", "steps", "image", ""])
SIGNATURES = st.sampled_from([None, "", "serving_default", "task_a", "two_inputs", "strings", "with_total",
                              "nope", 5, ["x"]])
ROWS = st.lists(st.lists(st.floats(-1e3, 1e3) | NUMBERS, min_size=3, max_size=3), min_size=1, max_size=4)
#: Bodies of the right form for the toy model's signatures (values random): many are answered 200.
PLAUSIBLE = st.one_of(
    st.fixed_dictionaries({"instances": ROWS}, optional={"signature_name": st.sampled_from(["task_a",
                                                                                           "with_total"])}),
    st.fixed_dictionaries({"inputs": ROWS}),
    st.integers(1, 4).flatmap(lambda n: st.fixed_dictionaries({
        "signature_name": st.just("two_inputs"),
        "inputs": st.fixed_dictionaries({"x": st.lists(st.lists(st.floats(-9, 9), min_size=3, max_size=3),
                                                       min_size=n, max_size=n),
                                         "k": st.lists(st.integers(-2 ** 33, 2 ** 33) | NUMBERS, min_size=n,
                                                       max_size=n)})})),
    st.fixed_dictionaries({"signature_name": st.just("strings"),
                           "instances": st.lists(st.text(max_size=5) | st.fixed_dictionaries(
                               {"b64": st.sampled_from(["aGk=", "!!", "", "aGk"])}), min_size=1, max_size=3)}),
)
BODIES = st.one_of(
    PLAUSIBLE, PLAUSIBLE,
    st.fixed_dictionaries({"instances": tensors() | st.lists(st.dictionaries(INPUT_NAMES, tensors(), max_size=3),
                                                            max_size=3)},
                          optional={"signature_name": SIGNATURES}),
    st.fixed_dictionaries({"inputs": tensors() | st.dictionaries(INPUT_NAMES, tensors(), max_size=3)},
                          optional={"signature_name": SIGNATURES, "instances": tensors()}),
    st.dictionaries(st.text(max_size=8), tensors(), max_size=3),
    tensors(),
)
PATHS = st.one_of(
    st.sampled_from(["/v1/models/toy:predict"] * 4 + ["/v1/models/toy/versions/1:predict",
                                                      "/v1/models/other:predict", "/v1/models/toy/metadata"]),
    st.tuples(st.sampled_from(["toy", "other", "nope", "", "t" * 300, "to%20y", "%C3%A9", "%00"]),
              st.none() | st.sampled_from(["1", "2", "3", "0", "-1", "9" * 19, "9" * 5000, "x", "01", "1.5"]),
              st.sampled_from([":predict", ":predict", "", "/metadata", ":classify", ":", "/labels/a", "/x"]))
    .map(lambda p: f"/v1/models/{p[0]}" + (f"/versions/{p[1]}" if p[1] is not None else "") + p[2]),
    st.text(max_size=30).map(lambda t: "/v1/models/" + quote(t, safe="/:")),  # any text, percent-encoded
    st.sampled_from(["/", "/v1", "/v2/models/toy:predict", "/v1/models/", "/v1/models//versions/1:predict"]),
)


@st.composite
def requests_(draw):
    method = draw(st.sampled_from(["POST"] * 12 + ["GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]))
    path = draw(st.sampled_from(["/v1/models/toy:predict"]) if draw(st.integers(0, 2)) else PATHS)
    kind = draw(st.sampled_from(["json", "json", "json", "utf16", "latin1", "bytes", "huge int", "deep", "large"]))
    body = draw(BODIES)
    if kind in ("json", "utf16", "latin1"):
        text = json.dumps(body, allow_nan=True, separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
        content = text.encode({"json": "utf-8", "utf16": "utf-16", "latin1": "latin-1"}[kind], errors="replace")
    elif kind == "bytes":
        content = draw(st.binary(max_size=200))
    elif kind == "huge int":
        content = b'{"instances": [[' + b"7" * draw(st.integers(4000, 6000)) + b', 1, 2]]}'
    elif kind == "deep":
        content = b'{"instances": ' + b"[" * draw(st.integers(100, 100_000)) + b"]}"
    else:
        content = b'{"instances": [' + b"[1.0, 2.0, 3.0], " * draw(st.integers(15_000, 20_000)) + b"[1, 2, 3]]}"
    headers = {"content-type": draw(st.sampled_from(["application/json", "text/plain", "", "application/x-www"]))}
    return method, path, content, headers


def _request_case(record, client, request) -> None:
    method, path, content, headers = request
    with record.case((method, path[:60], len(content), content[:60])):
        reply = client.request(method, path, content=content, headers=headers)
        record.outcome(str(reply.status_code))
        assert reply.status_code in (200, 400, 404, 405, 413), (reply.status_code, reply.text[:300])
        if method == "HEAD":
            return
        answer = reply.json()
        assert isinstance(answer, dict)
        if reply.status_code != 200:
            assert list(answer) == ["error"] and isinstance(answer["error"], str), answer
            assert "\n" not in answer["error"] and len(answer["error"]) < 1000, answer["error"][:300]


@st.composite
def numeric_bodies(draw):
    """Bodies the fast path may take: ``x`` (float32, [-1, 3]) tensors, valid or slightly off, in varied spacing."""
    rows = draw(st.integers(0, 6))
    width = draw(st.sampled_from([3, 3, 3, 2, 4]))
    number = st.floats(-1e6, 1e6) | st.integers(-10 ** 6, 10 ** 6) | NUMBERS
    values = [[draw(number) for _ in range(width)] for _ in range(rows)]
    if rows and draw(st.integers(0, 5)) == 0:
        values[-1] = values[-1][:-1]  # ragged
    space = draw(st.sampled_from(["", " ", "\n", "  "]))
    array = json.dumps(values, allow_nan=True).replace(", ", "," + space)
    if draw(st.integers(0, 6)) == 0:  # a byte that is not JSON: "+1", ".5", "1.", a missing comma
        i = draw(st.integers(0, len(array)))
        array = array[:i] + draw(st.sampled_from(["+", ".", " ", "e", "-", "0"])) + array[i:]
    key = draw(st.sampled_from(["instances", "inputs"]))
    name = draw(st.sampled_from([None, "serving_default", "task_a", "with_total", "two_inputs", "strings"]))
    head = f'{{"signature_name": "{name}", ' if name and draw(st.booleans()) else "{"
    tail = f', "signature_name": "{name}"}}' if name and head == "{" else "}"
    return f'{head}"{key}":{space}{array}{tail}'.encode()


def _answer(repository, body: bytes, fast: bool):
    saved = rest_app.fast_predict
    try:
        if not fast:
            rest_app.fast_predict = lambda *args: None
        return json.loads(rest_app._predict(repository, "toy", None, body))
    except ServingError as error:
        return ("error", error.status, error.message)
    finally:
        rest_app.fast_predict = saved


def _equivalence_case(record, repository, body) -> None:
    with record.case(body):
        fast, general = _answer(repository, body, True), _answer(repository, body, False)
        record.outcome("error" if isinstance(general, tuple) else "answer")
        assert json.dumps(fast, allow_nan=True) == json.dumps(general, allow_nan=True), (body[:300], fast, general)


def _run_requests(settings, client):
    record = harness.FuzzRecord("serving requests")
    settings(given(requests_())(lambda request: _request_case(record, client, request)))()
    record.finish()


def _run_equivalence(settings, repository):
    record = harness.FuzzRecord("serving fast path = general path")
    settings(given(numeric_bodies())(lambda body: _equivalence_case(record, repository, body)))()
    summary = record.finish()
    assert summary["outcomes"].get("answer", 0) > 0


def test_fuzz_serving_requests(client):
    _run_requests(harness.FAST, client)


def test_fuzz_fast_path_matches_the_general_path(repository):
    _run_equivalence(harness.FAST, repository)


def test_fast_path_takes_the_common_body_and_agrees(repository):
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    body = json.dumps({"instances": x.tolist()}).encode()
    assert rest_app.fast_predict(repository, "toy", None, body) is not None  # it is taken
    assert _answer(repository, body, True) == _answer(repository, body, False)
    np.testing.assert_allclose([p["a"] for p in _answer(repository, body, True)["predictions"]],
                               toy.expected(x)["a"], rtol=1e-5)


@pytest.mark.slow
def test_fuzz_serving_requests_many(client):
    _run_requests(harness.SLOW, client)


@pytest.mark.slow
def test_fuzz_fast_path_matches_the_general_path_many(repository):
    _run_equivalence(harness.SLOW, repository)
