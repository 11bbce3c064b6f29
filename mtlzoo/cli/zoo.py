"""``mtlzoo zoo``: list the zoo's models with their tasks, parameter counts, input shapes and trained weights."""

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
        "weights": {w: mtlzoo.models.card(name, w) for w in mtlzoo.models.weights_names(name)},
    }


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per model instead of a table.")
def zoo(names: tuple[str, ...], as_json: bool) -> None:
    """List the zoo: name, tasks, parameter count, input shape and shipped weights of each model.

    Builds each model at its default size to count its parameters. Below the
    table, one line per shipped set of trained weights from its model card:
    how it was trained and its measured test metrics. Load them with
    mtlzoo.models.get(NAME, weights=WEIGHTS) or export them with
    `mtlzoo export NAME --weights WEIGHTS --out DIR`. --json prints the
    whole cards.

    \b
    Examples:
      mtlzoo zoo
      mtlzoo zoo multimnist_lenet --json
      mtlzoo export multimnist_lenet --weights multimnist --out exports/multimnist_lenet
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
    header = ("model", "tasks", "params", "input shape", "seed", "weights")
    table = [
        (r["name"], _tasks_text(r["tasks"]), f"{r['params']:,}", "x".join(map(str, r["input_shape"])), r["seed"],
         ", ".join(r["weights"]) or "-")
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in (header, *table)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *table):
        click.echo("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
    cards = [(r["name"], w, card) for r in rows for w, card in r["weights"].items()]
    if cards:
        click.echo("\nTrained weights (mtlzoo.models.get(NAME, weights=WEIGHTS); model cards):")
    for name, weights, card in cards:
        click.echo(f"  {name} --weights {weights}: {_card_text(card)}")


def _card_text(card: dict) -> str:
    """One line of a model card: training, measured test metrics, provenance."""
    recipe = card.get("recipe", {})
    balancer = card.get("balancer") or recipe.get("balancer")
    trained = (f"{balancer if isinstance(balancer, str) else 'custom balancer'} on {card.get('data')}, "
               f"{card.get('epochs')} epochs, seed {card.get('seed')}")
    tasks = card.get("test", {}).get("tasks", {})
    metrics = ", ".join(f"{t} {m['accuracy'] * 100:.2f}%" for t, m in tasks.items() if "accuracy" in m)
    commit = (card.get("commit") or "unknown")[:7] + ("+changes" if card.get("tree_dirty") else "")
    return (f"{trained}; test accuracy {metrics or 'not recorded'} "
            f"({card.get('test', {}).get('examples', '?')} test examples); commit {commit}, {card.get('date', '?')[:10]}")


def _tasks_text(tasks: list[str], limit: int = 4) -> str:
    if len(tasks) <= limit:
        return ", ".join(tasks)
    return f"{', '.join(tasks[:limit - 1])}, ... ({len(tasks)} tasks)"
