"""mtlzoo serve against slow, numerous and hostile clients (127.0.0.1 only; every loop bounded in count and time).

Slow headers, a body that announces a Content-Length and stalls, a trickling body and an idle
connection are each answered 408 and disconnected within the read timeout; past
``max_connections`` a connection gets 503 at once; the server keeps answering meanwhile; a
stop (what SIGTERM does) returns within a few seconds with stalled clients attached; numbers
out of the input dtype's range and absurd version numbers are 400, never 500.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from mtlzoo.tools.serving import ModelServer

TIMEOUT = 1.0  # the test servers' read timeout, seconds
HOST = "127.0.0.1"


def _toy_models_module():
    path = Path(__file__).with_name("test_serving_repository.py")
    spec = importlib.util.spec_from_file_location("_serving_toy_models_hostile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


toy = _toy_models_module()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return toy.write_toy_models(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def server(models_dir):
    with ModelServer(models_dir, port=0, log_level="critical", read_timeout=TIMEOUT, max_connections=16) as running:
        yield running


def _connect(server) -> socket.socket:
    sock = socket.create_connection((HOST, server.port), timeout=10)
    return sock


def _read_all(sock: socket.socket, limit: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and the seconds that took."""
    start, chunks = time.monotonic(), []
    sock.settimeout(limit)
    while time.monotonic() - start < limit:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - start


def _predict_ok(server) -> None:
    reply = requests.post(f"{server.url}/v1/models/toy:predict", json={"instances": [[1.0, 2.0, 3.0]]}, timeout=30)
    assert reply.status_code == 200, reply.text


SLOW = {
    "headers never finish": [b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"],
    "body announced, never sent": [b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
                                   b'{"inst'],
    "nothing at all": [],
}


@pytest.mark.parametrize("kind", list(SLOW))
def test_a_slow_client_gets_408_and_is_disconnected_within_the_timeout(server, kind):
    sock = _connect(server)
    try:
        for part in SLOW[kind]:
            sock.sendall(part)
        answer, seconds = _read_all(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"connection: close" in answer.lower() and b'"error"' in answer
    assert TIMEOUT * 0.8 <= seconds < TIMEOUT + 3, seconds
    _predict_ok(server)


def test_a_trickling_body_is_cut_at_the_deadline_not_kept_alive_by_each_byte(server):
    sock = _connect(server)
    try:
        sock.sendall(b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        start = time.monotonic()
        sock.settimeout(0.2)
        answer = b""
        for _ in range(40):  # one byte every 0.2 s: bounded to 8 s
            try:
                sock.sendall(b" ")
                answer += sock.recv(65536)
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if answer:
                break
        seconds = time.monotonic() - start
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert seconds < TIMEOUT + 3, seconds


def test_past_max_connections_a_new_one_gets_503_and_the_server_recovers(server):
    held = [_connect(server) for _ in range(16)]
    try:
        time.sleep(0.2)  # accepted
        extra = _connect(server)
        answer, seconds = _read_all(extra, limit=5)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503 ") and b"too many connections" in answer, answer[:200]
        assert seconds < 1.0
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the held connections are released as they close
        try:
            _predict_ok(server)
            break
        except (AssertionError, requests.ConnectionError):
            time.sleep(0.1)
    _predict_ok(server)


def test_valid_requests_are_answered_while_stalled_clients_wait(server):
    stalled = [_connect(server) for _ in range(10)]
    try:
        for sock in stalled:
            sock.sendall(b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
        start = time.monotonic()
        for _ in range(5):
            _predict_ok(server)
        assert time.monotonic() - start < TIMEOUT + 2
    finally:
        for sock in stalled:
            sock.close()


HUGE = "9" * 5000
BAD_NUMBERS = {
    "5000-digit integer in the body": ({"data": '{"instances": [[%s, 1, 2]]}' % HUGE}, "toy:predict",
                                       "more than 4300 digits"),
    "5000-digit version": ({"json": {"instances": [[1.0, 2.0, 3.0]]}}, f"toy/versions/{HUGE}:predict",
                           "(5000 characters) is not a positive integer"),
    "19-digit version": ({"json": {"instances": [[1.0, 2.0, 3.0]]}}, f"toy/versions/{'1' * 19}:predict",
                         "at most 18 digits"),
    "int32 beyond its range": ({"json": {"signature_name": "two_inputs",
                                         "inputs": {"x": [[1.0, 2.0, 3.0]], "k": [2 ** 31]}}}, "toy:predict",
                               "got 2147483648, out of the range of int32"),
    "integer beyond int64": ({"json": {"signature_name": "two_inputs",
                                       "inputs": {"x": [[1.0, 2.0, 3.0]], "k": [10 ** 30]}}}, "toy:predict",
                             "out of the range of int32"),
    "float32 overflow": ({"data": '{"instances": [[1e39, 1, 2]]}'}, "toy:predict", "out of the range of float32"),
    "integer beyond float32": ({"data": '{"instances": [[%d, 1, 2]]}' % 10 ** 40}, "toy:predict",
                               "out of the range of float32"),
    "huge Content-Length": ({"data": b"{}", "headers": {"Content-Length": "9" * 30}}, "toy:predict", ""),
}


@pytest.mark.parametrize("kind", list(BAD_NUMBERS))
def test_numbers_out_of_range_are_400_not_500(server, kind):
    kwargs, path, words = BAD_NUMBERS[kind]
    if "headers" in kwargs:  # a Content-Length the body does not have: sent by hand
        sock = _connect(server)
        sock.sendall(f"POST /v1/models/{path} HTTP/1.1\r\nHost: x\r\nContent-Length: {'9' * 30}\r\n\r\n{{}}".encode())
        answer, _ = _read_all(sock)
        sock.close()
        assert answer.split(b" ")[1] in (b"400", b"413"), answer[:200]
        return
    reply = requests.post(f"{server.url}/v1/models/{path}", timeout=30, **kwargs)
    assert reply.status_code == 400, reply.text[:300]
    assert words in reply.json()["error"] and len(reply.text) < 600, reply.text[:300]


def test_stop_returns_within_seconds_with_stalled_clients(models_dir):
    server = ModelServer(models_dir, port=0, log_level="critical", read_timeout=60.0).start()
    stalled = [_connect(server) for _ in range(6)]
    for i, sock in enumerate(stalled):
        if i % 3 == 0:
            sock.sendall(b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        elif i % 3 == 1:
            sock.sendall(b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.3)
    assert server.in_flight >= 2  # the body-stalled requests are being "answered"
    start = time.monotonic()
    server.stop(timeout=30)
    assert time.monotonic() - start < 3.0  # not the read timeout (60 s), not the graceful timeout (10 s)
    for sock in stalled:
        sock.close()


@pytest.mark.slow
def test_sigterm_exits_within_seconds_with_stalled_clients(models_dir):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen([sys.executable, "-m", "mtlzoo", "serve", str(models_dir), "--host", HOST,
                                "--port", "0", "--read-timeout", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    stalled = []
    try:
        first = process.stdout.readline()
        assert first.startswith("Serving"), first
        port = int(first.split(" at ")[1].split(" ")[0].rsplit(":", 1)[1])
        for i in range(30):
            sock = socket.create_connection((HOST, port), timeout=10)
            sock.sendall([b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
                          b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n", b""][i % 3])
            stalled.append(sock)
        reply = requests.post(f"http://{HOST}:{port}/v1/models/toy:predict",
                              data=json.dumps({"instances": [[1, 2, 3]]}), timeout=30)
        assert reply.status_code == 200
        start = time.monotonic()
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
        seconds = time.monotonic() - start
    finally:
        process.kill()
        for sock in stalled:
            sock.close()
    assert process.returncode == 0 and "Server stopped." in rest
    assert seconds < 5.0, seconds
