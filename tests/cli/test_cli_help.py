"""Every ``mtlzoo`` command's ``--help``: what it does, an Examples section, and every option explained.

The click tree is walked from ``main``, so commands added later are checked too.
"""

from __future__ import annotations

import re
import shlex

import click
import pytest
from click.testing import CliRunner

from mtlzoo.cli import main


def _walk(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from _walk(command.commands[name], (*path, name))


COMMANDS = list(_walk(main))
IDS = [" ".join(("mtlzoo", *path)) for path, _ in COMMANDS]


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    return result.output


def _description(text: str) -> str:
    """The help text between the usage line and the Examples / Options sections."""
    body = text.split("\n\n", 1)[1]
    return re.split(r"^\s*(Examples?:|Options:)", body, maxsplit=1, flags=re.M)[0].strip()


def _examples(text: str) -> list[str]:
    """The command lines of the Examples section (click keeps them verbatim after a \\b marker)."""
    match = re.search(r"^\s*Examples?:\s*\n(.*?)(?:\n\s*\n|\Z)", text, flags=re.M | re.S)
    return [line.strip() for line in match.group(1).splitlines()] if match else []


def test_the_walk_finds_the_documented_commands():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "train", "evaluate", "export", "serve", "zoo", "bench", "search", "search split",
            "search partition"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_says_what_the_command_does_with_an_example(path, command):
    text = _help(path)
    prog = " ".join(("mtlzoo", *path))
    assert text.startswith(f"Usage: {prog} "), text.splitlines()[0]
    description = _description(text)
    assert len(description.split()) >= 5, f"{prog} --help has no description: {description!r}"
    examples = _examples(text)
    assert examples, f"{prog} --help has no 'Examples:' section (put \\b before it to keep its lines)"
    assert re.search(r"^  Examples?:\n    mtlzoo ", text, flags=re.M), \
        f"{prog} --help: 'Examples:' is not indented like the description (a docstring changed after definition?)"
    own = [line for line in examples if line == prog or line.startswith(prog + " ")]
    assert own, f"no example of {prog} --help starts with {prog!r}: {examples}"
    if isinstance(command, click.Group):  # a group's examples run one of its subcommands
        for line in own:
            assert len(_command_path(line)) > len(path), f"{line!r} runs no subcommand of {prog}"


def _command_path(line: str) -> tuple[str, ...]:
    """The command path an example line runs: ``mtlzoo --debug search split --steps 2`` -> (search, split)."""
    path, command = (), main
    for token in shlex.split(line)[1:]:
        if isinstance(command, click.Group) and token in command.commands:
            path, command = (*path, token), command.commands[token]
    return path


def _options_of(path: tuple[str, ...]) -> set[str]:
    command, names = main, set()
    for name in (None, *path):
        command = command if name is None else command.commands[name]
        for param in command.params:
            names.update(getattr(param, "opts", ()) + getattr(param, "secondary_opts", ()))
    return names | {"--help", "-h"}


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_examples_use_existing_commands_and_options(path, command):
    for line in _examples(_help(path)):
        if not line.startswith("mtlzoo "):
            continue  # e.g. serve's curl lines
        runs = _command_path(line)
        known = _options_of(runs)
        used = [t.split("=", 1)[0] for t in shlex.split(line)[1:] if t.startswith("-")]
        unknown = [t for t in used if t not in known]
        assert not unknown, f"example {line!r} uses unknown option(s) {unknown}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_option_and_subcommand_is_explained(path, command):
    text = _help(path)
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{' '.join(('mtlzoo', *path))} {param.opts[0]} has no help text"
            assert param.opts[0] in text
    if isinstance(command, click.Group):
        listed = text.split("Commands:", 1)[1]
        for name, sub in command.commands.items():
            assert re.search(rf"^\s+{re.escape(name)}\s+\S", listed, flags=re.M), f"{name} is not listed"
            assert sub.get_short_help_str(), f"{name} has no short help"


def test_main_help_lists_every_command_and_the_debug_flag():
    text = _help(())
    listed = text.split("Commands:", 1)[1]
    for name in main.commands:
        assert re.search(rf"^\s+{re.escape(name)}\s", listed, flags=re.M), name
    assert "--debug" in text and "MTLZOO_DEBUG" in text
    assert "--version" in text


def test_short_help_flag_and_version():
    runner = CliRunner()
    assert runner.invoke(main, ["-h"]).output == runner.invoke(main, ["--help"]).output
    assert runner.invoke(main, ["train", "-h"]).output == runner.invoke(main, ["train", "--help"]).output
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("mtlzoo, version ")
