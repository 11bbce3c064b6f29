"""``mtlzoo export``: a trained model as a SavedModel in TensorFlow Serving's layout."""

from __future__ import annotations

import click


@click.command("export")
@click.argument("source", type=click.Path(exists=True))
@click.option("--out", "out", required=True, type=click.Path(), help="Model folder; the export goes to "
              "OUT/<version>/ (serve the parent folder with `mtlzoo serve`).")
@click.option("--task", "tasks", multiple=True, help="Export only these tasks (repeatable). [default: all]")
@click.option("--peel", default=None, help="Export the single-task (peeled) network of this task: fewer "
              "parameters, the same output.")
@click.option("--version", "version", type=click.IntRange(min=1), default=None,
              help="Version number. [default: the next free one, starting at 1]")
def export(source, out, tasks, peel, version):
    """Export a trained model (a run folder or a .keras file) as a SavedModel.

    Writes OUT/<version>/ with a `serving_default` signature returning every
    task's output, one `task_<name>` signature per task, and
    assets.extra/mtlzoo.json describing the input, its preprocessing and the
    outputs. TensorFlow Serving and `mtlzoo serve` read this layout.

    \b
    Examples:
      mtlzoo export runs/multimnist_lenet-multidigits-mgda_ub-seed0 --out exports/multimnist
      mtlzoo export model.keras --out exports/left --peel left
      mtlzoo serve exports
    """
    from mtlzoo.tools.export import export as export_model
    from mtlzoo.tools.model_source import load_trained

    try:
        model = load_trained(source)
    except FileNotFoundError as e:
        raise click.BadParameter(str(e), param_hint="SOURCE") from None
    try:
        path = export_model(model, out, tasks=list(tasks) or None, peel=peel, version=version)
    except (ValueError, FileExistsError) as e:
        raise click.ClickException(str(e)) from None
    signatures = ["serving_default", *(f"task_{t}" for t in ([peel] if peel else (tasks or model.tasks)))]
    click.echo(f"Exported {model.name} to {path} (signatures: {', '.join(signatures)}).")
