"""``mtlzoo search``: architecture search. ``split`` (seed 000 §5) and ``partition`` (seed 004)."""

from __future__ import annotations

import click

from mtlzoo.cli.search_partition import partition
from mtlzoo.cli.search_split import split


@click.group()
def search() -> None:
    """Architecture search for multi-task networks: tree splits (split) and channel partitions (partition).

    `split` grows a tree network by splitting its most stressed block, step
    by step (seed 000 §5); `partition` searches a feature partition P, which
    channels each task uses (seed 004). Both write a resumable run folder with
    a report.md; `mtlzoo search COMMAND --help` lists their options.

    \b
    Examples:
      mtlzoo search split --data-dir ~/data --steps 2
      mtlzoo search partition --data multidigits --limit 600 --trials 10 --final-epochs 3
    """


search.add_command(split)
search.add_command(partition)
