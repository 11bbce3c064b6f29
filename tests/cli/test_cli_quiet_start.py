"""The CLI hides TensorFlow's start-up log lines unless --debug is given or the user set TF_CPP_MIN_LOG_LEVEL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mtlzoo.cli.quiet_start import START_UP_LINE, _start_up_lines_dropped, drop_start_up_lines, quiet_start

ONEDNN = ("I0000 00:00:1796684592.820610   19552 port.cc:153] oneDNN custom operations are on. You may see "
          "slightly different numerical results.\n")
CUDA = "I0000 00:00:1796684592.821017   19552 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n"
CUINIT = "E0000 00:00:1796684599.167750   19552 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"


def _run(args, env_update=None):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "MTLZOO_DEBUG")}
    env.update(env_update or {})
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=300)


def _start_up_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if START_UP_LINE.match(line)]


def test_drop_start_up_lines_keeps_every_other_line():
    kept = "UserWarning: something the user should see\nTraceback (most recent call last):\n"
    assert drop_start_up_lines(ABSL + ONEDNN + kept + CUDA + CUINIT) == kept


def test_what_is_written_to_file_descriptor_2_meanwhile_comes_back_without_the_start_up_lines(capfd):
    with _start_up_lines_dropped():
        os.write(2, (ONEDNN + "a line of its own\n" + CUDA + "and another\n").encode())
    assert capfd.readouterr().err == "a line of its own\nand another\n"


def test_debug_a_user_log_level_or_an_imported_tensorflow_leave_everything_as_it_is():
    env = {}
    assert quiet_start(debug=True, environ=env) is False and env == {}
    env = {"TF_CPP_MIN_LOG_LEVEL": "1"}
    assert quiet_start(environ=env) is False and env == {"TF_CPP_MIN_LOG_LEVEL": "1"}
    import tensorflow  # noqa: F401  (imported by now in any test process)

    env = {}
    assert quiet_start(environ=env) is False and env == {}


def test_the_cli_hides_tensorflows_start_up_lines_and_debug_shows_them():
    shown = _run(["-m", "mtlzoo", "--debug", "zoo"])
    quiet = _run(["-m", "mtlzoo", "zoo"])
    assert shown.returncode == 0 and quiet.returncode == 0, quiet.stderr[-2000:]
    assert _start_up_lines(quiet.stderr) == [], quiet.stderr[-2000:]
    assert quiet.stdout == shown.stdout
    if not _start_up_lines(shown.stderr):
        pytest.skip("this TensorFlow build logs nothing at start-up: nothing to hide")


def test_a_log_level_the_user_set_is_kept():
    script = ("import os; from mtlzoo.cli.quiet_start import quiet_start; assert not quiet_start(); "
              "import tensorflow; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    user = _run(["-c", script], {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert user.returncode == 0, user.stderr[-2000:]
    assert user.stdout.strip() == "0"
