"""The zoo entry behind a recipe's ``model:``: a zoo model name, or a ``.keras`` file of the user's own model."""

from __future__ import annotations

from pathlib import Path

import click


def model_entry(recipe):
    """``recipe.model`` as a :class:`~mtlzoo.models.zoo_entry.ZooEntry`.

    A name ending in ``.keras`` is a file holding a multi-output functional Keras
    model (or a ``MultiTaskModel``); its entry builds the model that
    :func:`mtlzoo.training.keras_file.load_keras_file` makes of it, with the
    recipe's ``loss`` and ``metrics`` as its compile defaults. Anything else is
    a zoo name.

    Raises:
        click.BadParameter: an unknown zoo name, a file that is not such a model
            (the reason in one line), or a ``.keras`` model without a ``loss``.
    """
    import mtlzoo
    from mtlzoo.cli.recipe_run import check_name

    if not str(recipe.model).endswith(".keras"):
        check_name("model", recipe.model, mtlzoo.models.names())
        return mtlzoo.models.entry(recipe.model)
    from mtlzoo.models.zoo_entry import ZooEntry
    from mtlzoo.training.keras_file import load_keras_file

    try:
        model = load_keras_file(recipe.model)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--model") from None
    if recipe.loss is None and not (model.recipe or {}).get("loss"):
        raise click.BadParameter(f"model file {recipe.model!r} has no losses: add `loss:` to the recipe, one for "
                                 f"every task or {{task: loss}} for its tasks {list(model.tasks)}, e.g. "
                                 "loss: sparse_categorical_crossentropy_from_logits.", param_hint="--set loss")
    defaults = {"loss": recipe.loss, "metrics": recipe.metrics, "data": recipe.data}
    return ZooEntry(name=Path(recipe.model).stem, builder=lambda: model,
                    description=f"functional Keras model from {recipe.model}, tree {model.tree.paths}",
                    seed="user model (MultiTaskModel.from_keras)",
                    recipe={k: v for k, v in defaults.items() if v is not None})
