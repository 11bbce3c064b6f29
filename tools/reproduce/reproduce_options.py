"""``ReproduceOptions``: what ``mtlzoo reproduce`` passes to every experiment."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import click


@dataclass(frozen=True)
class ReproduceOptions:
    """The options shared by every reproduction experiment.

    Args:
        epochs: training epochs per run; ``None`` means the experiment's default.
        seeds: how many seeds (0, 1, ..., seeds - 1) each method runs with.
        data_dir: local copies of the data (``--data-dir`` / ``$MTLZOO_DATA_DIR``), or ``None``.
        limit: cap on training examples (and a proportional cap on test examples) for quick
            checks and tests; ``None`` uses the full datasets.
        command: the command line that started the reproduction, quoted in the report.
        width: model width override for quick checks (``None``: the seed's architecture).
        methods: the methods to run, for experiments that compare methods (``multimnist_table3``);
            ``None`` runs all of them.

    Example:
        >>> ReproduceOptions(epochs=2, seeds=3).seed_list
        [0, 1, 2]
    """

    epochs: int | None = None
    seeds: int = 3
    data_dir: str | None = None
    limit: int | None = None
    command: str = ""
    width: int | None = None
    methods: tuple[str, ...] | None = None
    started: float = field(default_factory=time.time, compare=False)

    def __post_init__(self):
        if self.seeds < 1:
            raise ValueError(f"seeds={self.seeds}: pass at least one seed.")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs={self.epochs}: pass at least one epoch.")
        if self.limit is not None and self.limit < 2:
            raise ValueError(f"limit={self.limit}: pass at least 2 training images, or no limit for the full data.")
        if self.width is not None and self.width < 1:
            raise ValueError(f"width={self.width}: pass a positive model width, or none for the seed's.")
        if self.methods is not None:
            if isinstance(self.methods, str) or not self.methods:
                raise ValueError(f"methods={self.methods!r}: pass a non-empty tuple of method names, or None for all.")
            object.__setattr__(self, "methods", tuple(self.methods))

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds))

    def epochs_or(self, default: int) -> int:
        """``epochs``, or the experiment's ``default`` when not given."""
        return default if self.epochs is None else self.epochs

    def progress(self, index: int, total: int, what: str) -> None:
        """Print ``[index/total] what`` with the elapsed time and a naive ETA (one line per unit of work)."""
        elapsed = time.time() - self.started
        eta = f", about {_clock(elapsed / index * (total - index))} left" if index > 0 else ""
        click.echo(f"[{index + 1}/{total}] {what} ({_clock(elapsed)} elapsed{eta})", err=True)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
