"""Click options that several ``mtlzoo`` commands share, declared once."""

from __future__ import annotations

import click

#: ``--data-dir DIR`` (also ``$MTLZOO_DATA_DIR``): where the loaders look for local copies of the data.
data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False), envvar="MTLZOO_DATA_DIR", default=None,
    help="Directory with local copies of the data, e.g. mnist.npz (also $MTLZOO_DATA_DIR).")
