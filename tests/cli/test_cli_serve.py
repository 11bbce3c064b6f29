"""``mtlzoo serve``: help, one-line errors, and a real server started by the command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner

from mtlzoo.cli import main


def _write_model(directory, version: int = 1):
    """``directory/<version>/``: a SavedModel doubling its input, signature ``serving_default``."""
    import tensorflow as tf

    class Double(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def double(self, x):
            return {"y": 2.0 * x}

    module = Double()
    tf.saved_model.save(module, str(directory / str(version)), signatures={"serving_default": module.double})
    return directory


def _error_line(result) -> str:
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_help_shows_the_layout_the_endpoints_and_a_curl_example():
    assert "serve" in CliRunner().invoke(main, ["--help"]).output
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for words in ("DIR/<model_name>/<version>/saved_model.pb", ":predict", "/metadata", "curl", "--max-request-mb",
                  "127.0.0.1", "8501"):
        assert words in result.output, words


def test_missing_dir_and_file_are_one_line_errors(tmp_path):
    line = _error_line(CliRunner().invoke(main, ["serve", str(tmp_path / "nope")]))
    assert "does not exist" in line and "<model_name>/<version>" in line
    (tmp_path / "file.txt").write_text("x")
    assert "is a file" in _error_line(CliRunner().invoke(main, ["serve", str(tmp_path / "file.txt")]))


def test_no_models_says_what_layout_is_expected(tmp_path):
    line = _error_line(CliRunner().invoke(main, ["serve", str(tmp_path)]))
    assert "no models found" in line and "<model_name>/<version>/saved_model.pb" in line


def test_a_model_folder_instead_of_its_parent_gets_a_hint(tmp_path):
    _write_model(tmp_path / "double")
    line = _error_line(CliRunner().invoke(main, ["serve", str(tmp_path / "double")]))
    assert "is a model folder" in line and f"serve its parent '{tmp_path.resolve()}'" in line


def test_bad_port_is_refused():
    result = CliRunner().invoke(main, ["serve", ".", "--port", "70000"])
    assert result.exit_code != 0 and "70000" in result.output


def test_serve_starts_a_server_answering_the_rest_api(tmp_path, monkeypatch):
    from mtlzoo.tools.serving import ModelServer

    _write_model(tmp_path / "double")
    replies = []

    def serve_one_request(server):
        server.start()
        try:
            replies.append(requests.post(f"{server.url}/v1/models/double:predict",
                                         json={"instances": [[1.0, -2.0]]}, timeout=30).json())
        finally:
            server.stop()

    monkeypatch.setattr(ModelServer, "serve", serve_one_request)
    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--port", "0", "--max-request-mb", "1"])
    assert result.exit_code == 0, result.output
    assert replies == [{"predictions": [[2.0, -4.0]]}]
    assert "Serving 1 model(s)" in result.output and "double  versions 1 (serving 1)" in result.output
    assert "serving_default (x: float32 [-1, 2])" in result.output and "Server stopped." in result.output


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_server_cleanly(tmp_path, sig):
    _write_model(tmp_path / "double")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen([sys.executable, "-m", "mtlzoo", "serve", str(tmp_path), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        first = process.stdout.readline()
        assert first.startswith("Serving 1 model(s)"), first
        url = first.split(" at ")[1].split(" ")[0]
        assert requests.get(f"{url}/v1/models/double", timeout=30).status_code == 200
        process.send_signal(sig)
        rest, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0 and "Server stopped." in rest
