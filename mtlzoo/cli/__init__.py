"""The ``mtlzoo`` command line (click). Heavy imports happen inside the commands."""

from __future__ import annotations

import click

from mtlzoo.cli.error_handling_group import ErrorHandlingGroup
from mtlzoo.cli.quiet_start import quiet_start


@click.group("mtlzoo", cls=ErrorHandlingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, envvar="MTLZOO_DEBUG",
              help="Print the full traceback of an unexpected error instead of a one-line message, and "
                   "TensorFlow's start-up log lines (hidden otherwise, unless you set TF_CPP_MIN_LOG_LEVEL) "
                   "(also MTLZOO_DEBUG=1).")
@click.version_option(package_name="mtlzoo")
def main(debug: bool) -> None:
    """mtlzoo: multi-task learning for Keras 3 as multi-objective optimization.

    Trains YAML recipes or zoo models with gradient balancers (MGDA-UB,
    GradNorm, hybrid, ...) into resumable run folders, evaluates and exports
    them, serves the exports over TensorFlow Serving's REST API, and searches
    tree and channel-partition architectures. `mtlzoo COMMAND --help` explains each
    command. Errors are one line naming the fix; pass --debug (before the
    command) for the traceback.

    \b
    Examples:
      mtlzoo zoo
      mtlzoo train --epochs 5 --run-dir runs/demo
      mtlzoo evaluate runs/demo
      mtlzoo export runs/demo --out exports/demo
      mtlzoo reproduce multimnist_table3 --data-dir ~/data --epochs 10
      mtlzoo --debug train --data multimnist --data-dir ~/data
    """
    quiet_start(debug)


def _register_commands() -> None:
    from mtlzoo.cli.bench import bench
    from mtlzoo.cli.evaluate import evaluate
    from mtlzoo.cli.export import export
    from mtlzoo.cli.reproduce import reproduce
    from mtlzoo.cli.search import search
    from mtlzoo.cli.serve import serve
    from mtlzoo.cli.train import train
    from mtlzoo.cli.tune import tune
    from mtlzoo.cli.zoo import zoo

    main.add_command(bench)
    main.add_command(evaluate)
    main.add_command(export)
    main.add_command(search)
    main.add_command(serve)
    main.add_command(reproduce)
    main.add_command(train)
    main.add_command(tune)
    main.add_command(zoo)


_register_commands()
