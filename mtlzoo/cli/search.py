"""``mtlzoo search``: architecture search. ``split`` (seed 000 §5) and ``partition`` (seed 004)."""

from __future__ import annotations

import click

from mtlzoo.cli.search_partition import partition
from mtlzoo.cli.search_split import split


@click.group()
def search() -> None:
    """Architecture search for multi-task networks: tree splits (split) and channel partitions (partition)."""


search.add_command(split)
search.add_command(partition)
