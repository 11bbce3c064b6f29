"""``mtlzoo zoo``: list the zoo's models with their tasks, parameter counts and input shapes."""

from __future__ import annotations

import json

import click


def _describe(name: str) -> dict:
    import mtlzoo

    entry = mtlzoo.models.entry(name)
    model = entry.build()
    return {
        "name": name,
        "tasks": list(model.tasks),
        "params": int(model.count_params()),
        "input_shape": list(model.inputs[0].shape[1:]),
        "seed": entry.seed,
        "description": entry.description,
    }


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per model instead of a table.")
def zoo(names: tuple[str, ...], as_json: bool) -> None:
    """List the zoo: name, tasks, parameter count and input shape of each model.

    Builds each model at its default size to count its parameters.

    \b
    Examples:
      mtlzoo zoo
      mtlzoo zoo multimnist_lenet --json
    """
    import mtlzoo

    known = mtlzoo.models.names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.BadParameter(f"unknown model(s) {unknown}; known: {', '.join(known)}", param_hint="NAMES")
    rows = [_describe(n) for n in (names or known)]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    header = ("model", "tasks", "params", "input shape", "seed")
    table = [
        (r["name"], _tasks_text(r["tasks"]), f"{r['params']:,}", "x".join(map(str, r["input_shape"])), r["seed"])
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in (header, *table)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *table):
        click.echo("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())


def _tasks_text(tasks: list[str], limit: int = 4) -> str:
    if len(tasks) <= limit:
        return ", ".join(tasks)
    return f"{', '.join(tasks[:limit - 1])}, ... ({len(tasks)} tasks)"
