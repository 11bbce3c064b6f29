"""mtlzoo.tools.export: TF Serving layout, signatures reproducing predict, peeled exports, atomic writes."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
from mtlzoo import testing
from mtlzoo.tools.export import export, versions

SMALL = {
    "multimnist_lenet": {"width": 2},
    "lenet_bn_tree": {"width": 2},
    "cross_stitch_lenet": {"width": 2},
    "resnet18_multihead": {"width": 2, "dataset": "celeba", "tasks": ["Smiling", "Male", "Young"],
                           "input_shape": (32, 32, 3)},
    "resnet50_psp": {"width": 4, "input_shape": (32, 64, 3)},
}
SLOW = {"resnet18_multihead", "resnet50_psp"}


def _inputs(model, n=3):
    return np.random.default_rng(1).random((n, *model.inputs[0].shape[1:]), dtype="float32")


def _count(loaded) -> int:
    return int(sum(np.prod(v.shape) for v in loaded.variables))


def test_every_zoo_model_is_covered():
    assert set(SMALL) == set(mtlzoo.models.names())


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(SMALL)])
def test_zoo_export_reproduces_predict(name, tmp_path):
    testing.seed_everything(0)
    model = mtlzoo.models.get(name, **SMALL[name])
    x = _inputs(model)
    expected = model.predict(x, verbose=0)
    path = export(model, tmp_path / name)
    assert path == tmp_path / name / "1"
    loaded = tf.saved_model.load(str(path))
    input_name = model._input_spec_config["input_name"]
    assert set(loaded.signatures) == {"serving_default", *(f"task_{t}" for t in model.tasks)}
    outputs = loaded.signatures["serving_default"](**{input_name: tf.constant(x)})
    assert set(outputs) == set(model.tasks)
    for task in model.tasks:
        np.testing.assert_allclose(outputs[task].numpy(), expected[task], atol=1e-5, rtol=1e-5)
        single = loaded.signatures[f"task_{task}"](**{input_name: tf.constant(x)})
        assert list(single) == [task]
        np.testing.assert_allclose(single[task].numpy(), expected[task], atol=1e-5, rtol=1e-5)

    shown = subprocess.run(["saved_model_cli", "show", "--all", "--dir", str(path)],
                           capture_output=True, text=True, check=True).stdout
    for signature in loaded.signatures:
        assert f"signature_def['{signature}']" in shown
    assert f"inputs['{input_name}']" in shown

    task = model.tasks[0]
    peeled_path = export(model, tmp_path / name, peel=task)
    assert peeled_path == tmp_path / name / "2"
    peeled = tf.saved_model.load(str(peeled_path))
    assert set(peeled.signatures) == {"serving_default", f"task_{task}"}
    assert _count(peeled) < _count(loaded)
    out = peeled.signatures[f"task_{task}"](**{input_name: tf.constant(x)})[task].numpy()
    np.testing.assert_allclose(out, expected[task], atol=1e-5, rtol=1e-5)


def test_metadata_documents_input_preprocessing_and_outputs(tmp_path):
    model = mtlzoo.models.get("multimnist_lenet", width=2)
    path = export(model, tmp_path / "mm")
    meta = json.loads((path / "assets.extra" / "mtlzoo.json").read_text())
    assert meta["input"] == {"name": "image", "dtype": "float32", "shape": [None, 28, 28, 1]}
    assert "[0, 1]" in meta["preprocessing"]
    assert meta["tasks"]["left"]["output"] == "logits"
    assert meta["tasks"]["left"]["shape"] == [None, 10]
    assert meta["signatures"]["task_right"] == ["right"]
    assert meta["parameters"] == model.count_params()


def test_versions_and_task_subsets(tmp_path):
    model = mtlzoo.models.get("multimnist_lenet", width=2)
    export(model, tmp_path / "m", version=3)
    assert export(model, tmp_path / "m", tasks=["right"]) == tmp_path / "m" / "4"
    assert versions(tmp_path / "m") == [3, 4]
    loaded = tf.saved_model.load(str(tmp_path / "m" / "4"))
    assert set(loaded.signatures) == {"serving_default", "task_right"}
    with pytest.raises(FileExistsError, match="exists already"):
        export(model, tmp_path / "m", version=3)
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['up'\]"):
        export(model, tmp_path / "m", tasks=["up"])
    with pytest.raises(ValueError, match="not both"):
        export(model, tmp_path / "m", tasks=["left"], peel="left")
    with pytest.raises(ValueError, match="positive integer"):
        export(model, tmp_path / "m", version=0)
    assert versions(tmp_path / "m") == [3, 4]


def test_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    import importlib

    export_module = importlib.import_module("mtlzoo.tools.export")  # the module (mtlzoo.tools.export is the function)

    def broken(*args, **kwargs):  # fails after the SavedModel is written, before the rename
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "describe", broken)
    model = mtlzoo.models.get("multimnist_lenet", width=2)
    with pytest.raises(OSError, match="disk full"):
        export(model, tmp_path / "m")
    assert list((tmp_path / "m").iterdir()) == []


def test_cli_export_from_keras_file_and_errors(tmp_path):
    from click.testing import CliRunner

    from mtlzoo.cli import main

    model = mtlzoo.models.get("multimnist_lenet", width=2)
    model.save(tmp_path / "model.keras")
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(tmp_path / "model.keras"), "--out", str(tmp_path / "ex"),
                                  "--peel", "left"])
    assert result.exit_code == 0, result.output
    assert "task_left" in result.output and (tmp_path / "ex" / "1" / "saved_model.pb").is_file()
    x = _inputs(model)
    served = tf.saved_model.load(str(tmp_path / "ex" / "1")).signatures["task_left"](image=x)["left"].numpy()
    np.testing.assert_allclose(served, model.predict(x, verbose=0)["left"], atol=1e-5)

    (tmp_path / "empty_run").mkdir()
    result = runner.invoke(main, ["export", str(tmp_path / "empty_run"), "--out", str(tmp_path / "ex")])
    assert result.exit_code == 2 and "without model.keras" in result.output
    result = runner.invoke(main, ["export", str(tmp_path / "model.keras"), "--out", str(tmp_path / "ex"),
                                  "--peel", "nope"])
    assert result.exit_code == 1 and "unknown task(s) ['nope']" in result.output
    shutil.rmtree(tmp_path / "ex")
