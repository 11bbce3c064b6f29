"""The ``mtlzoo`` command line (click). Heavy imports happen inside the commands."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mtlzoo")
def main() -> None:
    """mtlzoo: multi-task learning for Keras 3 as multi-objective optimization."""


def _register_commands() -> None:
    from mtlzoo.cli.bench import bench
    from mtlzoo.cli.evaluate import evaluate
    from mtlzoo.cli.export import export
    from mtlzoo.cli.search import search
    from mtlzoo.cli.serve import serve
    from mtlzoo.cli.train import train
    from mtlzoo.cli.zoo import zoo

    main.add_command(bench)
    main.add_command(evaluate)
    main.add_command(export)
    main.add_command(search)
    main.add_command(serve)
    main.add_command(train)
    main.add_command(zoo)


_register_commands()
