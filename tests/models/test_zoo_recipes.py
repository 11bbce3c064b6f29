"""Every zoo entry's recipe compiles and trains: ``compile()`` with no arguments then one ``fit`` step."""

from __future__ import annotations

import numpy as np
import pytest

import mtlzoo
from mtlzoo import testing
from mtlzoo.training import MultiTaskModel

SMALL = {
    "multimnist_lenet": {"width": 2},
    "lenet_bn_tree": {"width": 2},
    "cross_stitch_lenet": {"width": 2},
    "resnet18_multihead": {"width": 2},
    "resnet50_psp": {"width": 4, "input_shape": (32, 64, 3)},
}


def labels_like(outputs, info):
    rng = np.random.default_rng(0)
    labels = {}
    for task, out in outputs.items():
        kind = info.task(task).kind if info is not None else "classification"
        if kind in ("classification", "segmentation"):
            labels[task] = rng.integers(0, out.shape[-1], out.shape[:-1])
        elif kind == "binary":
            labels[task] = rng.integers(0, 2, out.shape).astype("float32")
        else:
            labels[task] = rng.random(out.shape, dtype="float32")
    return labels


def test_every_zoo_model_is_covered():
    assert set(SMALL) == set(mtlzoo.models.names())


SLOW = {"resnet18_multihead", "resnet50_psp"}  # tracing a 10-task ResNet step takes ~30 s on 2 cores


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(SMALL)])
def test_recipe_compiles_and_trains(name):
    testing.seed_everything(0)
    model = mtlzoo.models.get(name, **SMALL[name])
    assert isinstance(model, MultiTaskModel)
    model.compile()
    recipe = mtlzoo.models.entry(name).recipe
    assert model.balancer.name == recipe["balancer"]
    data = recipe.get("data", "")
    info = mtlzoo.data.info(data) if data in mtlzoo.data.names() and name != "resnet18_multihead" else None
    x = np.random.default_rng(0).random((2, *model.inputs[0].shape[1:]), dtype="float32")
    outputs = model.predict(x, verbose=0)
    y = labels_like(outputs, info) if name != "resnet18_multihead" else {
        t: np.ones((2, 1), "float32") for t in model.tasks}
    history = model.fit(x, y, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    assert all(f"{t}_loss" in history for t in model.tasks)
