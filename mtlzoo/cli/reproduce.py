"""``mtlzoo reproduce NAME``: regenerate one of the seeds' tables and figures into a run folder."""

from __future__ import annotations

import shlex
import sys
import textwrap

import click

from mtlzoo.cli.shared_options import data_dir_option
from mtlzoo.tools.reproduce import EXPERIMENTS  # read off the experiment modules: no TensorFlow, --help stays fast

NAMES = tuple(EXPERIMENTS)


def _with_experiments(fn):
    """Put every experiment's name and description into the docstring's ``{experiments}`` line."""
    lines = []
    for name, (_, text) in EXPERIMENTS.items():
        wrapped = textwrap.wrap(text, 54)
        first = f"      {name:<19} {wrapped[0]}" if len(name) < 20 else f"      {name}  {wrapped[0]}"
        lines += [first, *(" " * 26 + more for more in wrapped[1:])]
    fn.__doc__ = fn.__doc__.replace("      {experiments}", "\n".join(lines))
    return fn


@click.command()
@click.argument("name", type=click.Choice(NAMES))
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Training epochs per run. [default: the experiment's, e.g. 10 for multimnist_table3]")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Seeds 0..N-1 per method; tables show the mean and a 95% confidence interval.")
@data_dir_option
@click.option("--limit", type=click.IntRange(min=2), default=None,
              help="Use only this many training images (a quick, smaller reproduction).")
@click.option("--width", type=click.IntRange(min=1), default=None,
              help="Model width override (smaller networks for a quick check). [default: the seed's]")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Reproduction folder. [default: runs/reproduce-<NAME>]")
@click.option("--methods", default=None, metavar="M1,M2,...",
              help="multimnist_table3 and multimnist_leaderboard: the methods to train and tabulate, "
                   "comma-separated (table3: single_task, uniform, grid, uncertainty, gradnorm, mgda_ub, hybrid, "
                   "fast_line_search; leaderboard: single_task and any balancer). [default: all]")
@_with_experiments
def reproduce(name, epochs, seeds, data_dir, limit, width, run_dir, methods):
    """Rerun a seed's experiment and write report.md, CSV tables and PNG plots.

    \b
    Experiments:
      {experiments}

    Each training or measurement is a unit saved in the folder as it finishes,
    so an interrupted reproduction resumes where it stopped when rerun with the
    same command (a finished one only rewrites the report). One progress line
    per unit, with the elapsed time and an estimate of the time left.

    \b
    Examples:
      mtlzoo reproduce multimnist_table3 --data-dir ~/data --epochs 10 --seeds 3
      mtlzoo reproduce multimnist_table3 --data-dir ~/data --limit 6000 --seeds 2
      mtlzoo reproduce multimnist_table3 --data-dir ~/data --epochs 100 --seeds 2 --methods mgda_ub,hybrid
      mtlzoo reproduce line_search_timing --data-dir ~/data
      mtlzoo reproduce multimnist_leaderboard --data-dir ~/data --methods single_task,uniform,dwa,famo
    """
    from mtlzoo.cli.run_folder import RunFolder
    from mtlzoo.tools import reproduce as experiments

    chosen = _methods(name, methods)
    folder = experiments.ReproductionFolder(run_dir or f"runs/reproduce-{name}")
    options = experiments.ReproduceOptions(epochs=epochs, seeds=seeds, data_dir=data_dir, limit=limit,
                                           width=width, command=_command(), methods=chosen)
    settings = {"name": name, "epochs": epochs, "seeds": seeds, "limit": limit, "width": width}
    if chosen:
        settings["methods"] = list(chosen)
    run = RunFolder(folder.path)
    # methods may change between invocations: finished units are kept by method and seed
    conflicts = run.conflicts(settings, ignore=("methods",))
    if conflicts:
        from mtlzoo.option_conflicts import saved_vs_now

        raise click.ClickException(f"Reproduction folder {folder.path} was made with other options: "
                                   f"{saved_vs_now(conflicts, flags=True)}. "
                                   f"Rerun with the saved options to resume it, or pass a new --run-dir.")
    run.write_config({"command": options.command, "options": settings})
    click.echo(f"Reproducing {name}: {experiments.description(name)}.\nFolder: {folder.path}", err=True)
    import mtlzoo

    try:
        report = experiments.get(name)(folder, options)
    except mtlzoo.data.DataNotFoundError as e:
        raise click.ClickException(f"{name} needs data that is not here: {e}") from None
    except KeyboardInterrupt:
        click.echo("\nInterrupted; rerun the same command to resume from the last finished unit.", err=True)
        raise SystemExit(130) from None
    click.echo(report.read_text())
    click.echo(f"Report: {report}")


def _methods(name: str, text: str | None) -> tuple[str, ...] | None:
    """``--methods`` as a tuple of known method names, or ``None`` for all."""
    if text is None:
        return None
    if name not in ("multimnist_table3", "multimnist_leaderboard"):
        raise click.BadParameter(f"only multimnist_table3 and multimnist_leaderboard compare methods; drop "
                                 f"--methods for {name}.", param_hint="--methods")
    if name == "multimnist_leaderboard":  # every registered balancer, read now
        from mtlzoo.tools.reproduce.multimnist_leaderboard import method_names

        known = method_names()
    else:
        from mtlzoo.tools.reproduce.multimnist_table3 import METHODS as known

    chosen = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in chosen if m not in known]
    if not chosen or unknown:
        raise click.BadParameter(f"{text!r}: " + (f"unknown method(s) {unknown}" if unknown else "no method")
                                 + f"; known: {', '.join(known)} (comma-separated).", param_hint="--methods")
    return chosen


def _command() -> str:
    """The command line as typed (``mtlzoo reproduce ...``) for the report."""
    args = sys.argv[1:]
    if "reproduce" not in args:  # called in-process (tests)
        return "mtlzoo reproduce"
    return "mtlzoo " + " ".join(shlex.quote(a) for a in args[args.index("reproduce"):])
