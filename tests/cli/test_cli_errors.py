"""``mtlzoo`` error paths: one ``Error:`` line naming the bad input and the fix, ``--debug`` for the traceback."""

from __future__ import annotations

import doctest

import click
import pytest
from click.testing import CliRunner

from mtlzoo.cli import error_handling_group, main
from mtlzoo.cli import zoo as zoo_module
from mtlzoo.cli.error_handling_group import DEBUG_HINT, error_message
from mtlzoo.data import DataNotFoundError

TINY = ["--batch-size", "256", "--set", "model_config.width=2"]


def _invoke(args, **kwargs):
    return CliRunner().invoke(main, args, **kwargs)


def _error_line(result, exit_code: int, one_line: bool = True) -> str:
    """The single ``Error:`` line of a failed command (and, with ``one_line``, the last thing it printed)."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.rstrip().splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    if one_line:
        assert lines[-1] == errors[0], f"the error continues after its first line:\n{result.stderr}"
    return errors[0]


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No data anywhere and no downloads: empty data, Keras and tfds folders, MTLZOO_OFFLINE=1."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in ("MTLZOO_DATA_DIR", "KERAS_HOME", "TFDS_DATA_DIR"):
        monkeypatch.setenv(name, str(empty))
    monkeypatch.setenv("MTLZOO_OFFLINE", "1")
    monkeypatch.delenv("MTLZOO_DEBUG", raising=False)
    return empty


# ------------------------------------------------------------------------------------------- bad names


@pytest.mark.parametrize(("option", "known"), [("--model", "multimnist_lenet"), ("--balancer", "mgda_ub"),
                                               ("--data", "multidigits"), ("--optimizer", "adam")])
def test_unknown_names_are_one_line_listing_the_known_ones(option, known, tmp_path):
    result = _invoke(["train", option, "no_such_thing", "--run-dir", str(tmp_path / "run"), *TINY])
    line = _error_line(result, 2)
    assert option in line and "'no_such_thing'" in line and known in line
    assert not (tmp_path / "run").exists()


def test_unknown_model_in_zoo_and_bench():
    line = _error_line(_invoke(["zoo", "no_such_model"]), 2)
    assert "no_such_model" in line and "multimnist_lenet" in line
    line = _error_line(_invoke(["bench", "--balancers", "uniform,no_such_balancer", "--steps", "1"]), 2)
    assert "--balancers" in line and "no_such_balancer" in line


# ----------------------------------------------------------------------------------------- missing data


def test_missing_multimnist_lists_where_it_looked_without_downloading(offline):
    result = _invoke(["train", "--data", "multimnist", "--data-dir", str(offline), "--run-dir",
                      str(offline.parent / "run"), "--epochs", "1"])
    line = _error_line(result, 1, one_line=False)  # a ClickException listing the files it looked for
    assert line.startswith("Error: --data multimnist: Could not find the mnist data")
    assert str(offline / "mnist.npz") in result.stderr
    assert "How to get it" in result.stderr and "MTLZOO_DATA_DIR" in result.stderr
    assert "Download failed" not in result.stderr  # offline: no download was tried
    assert not (offline.parent / "run").exists()


def test_missing_source_and_empty_run_folder(tmp_path):
    line = _error_line(_invoke(["evaluate", str(tmp_path / "nowhere")]), 2)
    assert "SOURCE" in line and "nowhere" in line and "does not exist" in line
    (tmp_path / "empty_run").mkdir()
    line = _error_line(_invoke(["export", str(tmp_path / "empty_run"), "--out", str(tmp_path / "out")]), 2)
    assert "SOURCE" in line and "model.keras" in line
    line = _error_line(_invoke(["serve", str(tmp_path / "nowhere")]), 1)
    assert "DIR" in line and "does not exist" in line and "mtlzoo export" in line


# ------------------------------------------------------------------------------------ bad option values


@pytest.mark.parametrize(("args", "names"), [
    (["train", "--epochs", "0"], ["--epochs", "0"]),
    (["train", "--lr", "-1"], ["--lr", "-1"]),
    (["train", "--line-search", "sideways"], ["--line-search", "sideways", "fast"]),
    (["train", "--batch-size", "many"], ["--batch-size", "many"]),
    (["train", "--no-such-flag"], ["--no-such-flag"]),
    (["evaluate", ".", "--baseline", "left"], ["--baseline", "TASK=SOURCE"]),
    (["bench", "--preset", "huge"], ["--preset", "huge", "lenet"]),
    (["serve", ".", "--port", "70000"], ["--port", "70000"]),
    (["search", "partition", "--temperature", "-1"], ["--temperature", "-1"]),
])
def test_bad_option_values_are_usage_errors_naming_the_option(args, names):
    result = _invoke(args)
    line = _error_line(result, 2)
    for name in names:
        assert name in line, (name, line)
    path, command = ["mtlzoo"], main
    while isinstance(command, click.Group) and args[len(path) - 1] in command.commands:
        command = command.commands[args[len(path) - 1]]
        path.append(command.name)
    assert f"Try '{' '.join(path)} --help' for help." in result.output  # the usage of the right command


def test_a_run_folder_made_with_other_options_is_not_resumed(tmp_path):
    run_dir = tmp_path / "run"
    first = _invoke(["train", "--epochs", "1", "--run-dir", str(run_dir), *TINY])
    assert first.exit_code == 0, first.output
    config = (run_dir / "config.json").read_text()
    result = _invoke(["train", "--epochs", "2", "--balancer", "uniform", "--run-dir", str(run_dir), *TINY])
    line = _error_line(result, 1)
    assert "--balancer 'mgda_ub' (saved) vs 'uniform' (now)" in line and "--run-dir" in line
    assert (run_dir / "config.json").read_text() == config


# ------------------------------------------------------------------------ unexpected errors and --debug


def _boom(*args, **kwargs):
    raise RuntimeError("boom in the zoo")


def test_an_unexpected_error_is_one_line_with_the_debug_hint(monkeypatch):
    monkeypatch.delenv("MTLZOO_DEBUG", raising=False)
    monkeypatch.setattr(zoo_module, "_describe", _boom)
    line = _error_line(_invoke(["zoo", "multimnist_lenet"]), 1)
    assert line == f"Error: RuntimeError: boom in the zoo {DEBUG_HINT}"


@pytest.mark.parametrize(("args", "env"), [(["--debug"], {}), ([], {"MTLZOO_DEBUG": "1"})])
def test_debug_prints_the_traceback(monkeypatch, args, env):
    monkeypatch.setattr(zoo_module, "_describe", _boom)
    result = _invoke([*args, "zoo", "multimnist_lenet"], env=env)
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "in _boom" in result.stderr and result.stderr.rstrip().endswith("RuntimeError: boom in the zoo")
    assert not any(line.startswith("Error:") for line in result.stderr.splitlines())


def test_debug_off_in_the_environment(monkeypatch):
    monkeypatch.setattr(zoo_module, "_describe", _boom)
    result = _invoke(["zoo", "multimnist_lenet"], env={"MTLZOO_DEBUG": "0"})
    assert result.exit_code == 1 and "Traceback" not in result.stderr


def test_ctrl_c_exits_130(monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo_module, "_describe", interrupt)
    result = _invoke(["zoo", "multimnist_lenet"])
    assert result.exit_code == 130 and "Interrupted." in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def failing_command(monkeypatch):
    """A temporary ``mtlzoo fail`` command raising the exception it is given."""

    def add(error: BaseException):
        @click.command("fail")
        def fail():
            """Fail on purpose (test only)."""
            raise error

        monkeypatch.setitem(main.commands, "fail", fail)

    return add


def test_user_errors_read_naturally(failing_command):
    failing_command(ValueError("--width must be positive, got -3; pass --width 2 or more."))
    line = _error_line(_invoke(["fail"]), 1)
    assert line == f"Error: --width must be positive, got -3; pass --width 2 or more. {DEBUG_HINT}"


def test_an_uncaught_data_error_keeps_its_list(failing_command):
    failing_command(DataNotFoundError("mnist", ["/a/mnist.npz", "/b/mnist.npz"], "put mnist.npz in /a."))
    result = _invoke(["fail"])
    _error_line(result, 1, one_line=False)
    assert "  - /a/mnist.npz\n  - /b/mnist.npz\n" in result.stderr and "put mnist.npz in /a." in result.stderr


def test_click_errors_pass_through_unchanged(failing_command):
    failing_command(click.ClickException("a message written for users"))
    assert _error_line(_invoke(["fail"]), 1) == "Error: a message written for users"
    failing_command(click.exceptions.Exit(3))
    result = _invoke(["fail"])
    assert result.exit_code == 3 and result.output == ""


def test_error_message_is_one_short_line():
    assert error_message(RuntimeError("first\nsecond\n")) == f"RuntimeError: first [...] {DEBUG_HINT}"
    assert error_message(KeyError("left")) == f"KeyError: 'left' {DEBUG_HINT}"
    assert error_message(ValueError()) == f"ValueError {DEBUG_HINT}"
    long = error_message(OSError("x" * 1000))
    assert "\n" not in long and len(long) < 400 and long.startswith("OSError: xxx")
    assert error_message(FileNotFoundError("no such file: a.keras")).startswith("no such file: a.keras (")


def test_module_doctests():
    assert doctest.testmod(error_handling_group).failed == 0
