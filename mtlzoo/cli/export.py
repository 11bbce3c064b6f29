"""``mtlzoo export``: a trained model as a SavedModel in TensorFlow Serving's layout."""

from __future__ import annotations

import click


@click.command("export")
@click.argument("source")
@click.option("--out", "out", required=True, type=click.Path(), help="Model folder; the export goes to "
              "OUT/<version>/ (serve the parent folder with `mtlzoo serve`).")
@click.option("--task", "tasks", multiple=True, help="Export only these tasks (repeatable). [default: all]")
@click.option("--peel", default=None, help="Export the single-task (peeled) network of this task: fewer "
              "parameters, the same output.")
@click.option("--version", "version", type=click.IntRange(min=1), default=None,
              help="Version number. [default: the next free one, starting at 1]")
@click.option("--weights", default=None, help="SOURCE is a zoo model name: export it with these trained "
              "weights, a name the zoo ships (`mtlzoo zoo` lists them, e.g. multimnist) or a .weights.h5 file.")
@click.option("--request", "request", type=click.Path(dir_okay=False), default=None,
              help="Also write an example predict request (TF Serving's JSON) to this file, from test images "
                   "shipped with the package (MultiMNIST models).")
def export(source, out, tasks, peel, version, weights, request):
    """Export a trained model (a run folder, a .keras file, or a zoo model with --weights) as a SavedModel.

    Writes OUT/<version>/ with a `serving_default` signature returning every
    task's output, one `task_<name>` signature per task, and
    assets.extra/mtlzoo.json describing the input, its preprocessing and the
    outputs. TensorFlow Serving and `mtlzoo serve` read this layout.

    \b
    Examples:
      mtlzoo export multimnist_lenet --weights multimnist --out exports/multimnist_lenet --request request.json
      mtlzoo export runs/multimnist_lenet-multidigits-mgda_ub-seed0 --out exports/multimnist
      mtlzoo export model.keras --out exports/left --peel left
      mtlzoo serve exports
    """
    from mtlzoo.tools.export import export as export_model

    model = _zoo_model(source, weights) if weights is not None else _trained_model(source)
    if request is not None:
        _check_request(model, request)
    try:
        path = export_model(model, out, tasks=list(tasks) or None, peel=peel, version=version)
    except (ValueError, FileExistsError) as e:
        raise click.ClickException(str(e)) from None
    signatures = ["serving_default", *(f"task_{t}" for t in ([peel] if peel else (tasks or model.tasks)))]
    click.echo(f"Exported {model.name} to {path} (signatures: {', '.join(signatures)}).")
    if request is not None:
        _write_request(model, request, path)


def _trained_model(source):
    """The model of a run folder or ``.keras`` file; a zoo name without --weights gets a hint."""
    from pathlib import Path

    import mtlzoo
    from mtlzoo.tools.model_source import load_trained

    if not Path(source).exists() and source in mtlzoo.models.names():
        shipped = mtlzoo.models.weights_names(source)
        hint = (f"add --weights {shipped[0]} to export its shipped weights" if shipped else
                "add --weights FILE.weights.h5 to export it with trained weights")
        raise click.BadParameter(f"{source!r} is a zoo model, not a run folder or .keras file; {hint}.",
                                 param_hint="SOURCE")
    try:
        return load_trained(source)
    except (FileNotFoundError, ValueError) as e:  # missing, not a .keras archive, or a corrupt one
        raise click.BadParameter(str(e), param_hint="SOURCE") from None


def _zoo_model(source, weights):
    """Zoo model ``source`` built with ``weights`` (a shipped name or a .weights.h5 path)."""
    import mtlzoo

    if source not in mtlzoo.models.names():
        raise click.BadParameter(f"with --weights, SOURCE is a zoo model name; {source!r} is not one (known: "
                                 f"{', '.join(mtlzoo.models.names())}).", param_hint="SOURCE")
    try:
        return mtlzoo.models.get(source, weights=weights)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--weights") from None


def _example_data(model) -> str:
    return (getattr(model, "recipe", None) or {}).get("data", "")


def _check_request(model, request) -> None:
    """Refuse --request before exporting when no example inputs fit the model."""
    from mtlzoo.models import zoo_weights

    data = _example_data(model)
    if data not in zoo_weights.example_data():
        raise click.BadParameter(f"no example inputs ship for {model.name}'s data {data or '(unknown)'!r}; "
                                 f"examples ship for: {', '.join(zoo_weights.example_data()) or 'none'}. "
                                 f"Drop --request.", param_hint="--request")


def _write_request(model, request, path) -> None:
    """Write ``{"instances": [...]}`` of the shipped example images and say how to send it."""
    import json

    from mtlzoo.atomic_file import atomic_file
    from mtlzoo.models import zoo_weights

    images, labels = zoo_weights.examples(_example_data(model))
    with atomic_file(request, "w") as fh:
        json.dump({"instances": images.tolist()}, fh, separators=(",", ":"))
    truth = "; ".join(f"{t} {' '.join(map(str, v.tolist()))}" for t, v in labels.items() if t in model.tasks)
    name = path.parent.name
    click.echo(f"Example request: {request} ({len(images)} test images; labels {truth}). Serve and send it:\n"
               f"  mtlzoo serve {path.parent.parent}\n"
               f"  curl -d @{request} http://127.0.0.1:8501/v1/models/{name}:predict")
