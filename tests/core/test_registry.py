"""Registries (name | config dict | instance), and the lazy public facade."""

import pathlib
import re
import subprocess
import sys
import textwrap

import keras
import pytest

import mtlzoo
from mtlzoo import heads
from mtlzoo.registry import Registry
from mtlzoo.testing import random_inputs, tiny_tree_network


class Widget:
    def __init__(self, size=1):
        self.size = size

    def get_config(self):
        return {"size": self.size}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _registry():
    reg = Registry("widget", base=Widget)
    reg.register("widget", Widget)
    reg.register("double", lambda size=1: Widget(2 * size))
    return reg


def test_get_by_name_with_arguments():
    reg = _registry()
    assert isinstance(reg.get("widget"), Widget) and reg.get("widget", size=3).size == 3
    assert reg.get("double", size=4).size == 8
    assert reg.names() == ("double", "widget") and "double" in reg and "nope" not in reg


def test_get_by_config_dict():
    reg = _registry()
    assert reg.get({"class_name": "widget", "config": {"size": 5}}).size == 5
    assert reg.get({"name": "double", "config": {"size": 2}}).size == 4  # 'name' works too; plain factory
    assert reg.get({"class_name": "widget"}, size=7).size == 7
    with pytest.raises(ValueError, match="class_name") as info:
        reg.get({"config": {}})
    assert "double" in str(info.value) and "widget" in str(info.value)


def test_get_by_instance_passes_it_through():
    reg = _registry()
    w = Widget(9)
    assert reg.get(w) is w
    with pytest.raises(ValueError, match="size"):
        reg.get(w, size=1)
    with pytest.raises(ValueError, match="Widget") as info:
        reg.get(3.5)
    assert "double" in str(info.value)


@pytest.mark.parametrize("identifier", ["nope", {"class_name": "nope"}])
def test_unknown_name_lists_the_known_ones(identifier):
    with pytest.raises(ValueError) as info:
        _registry().get(identifier)
    msg = str(info.value)
    assert "'nope'" in msg and "double" in msg and "widget" in msg


def test_register_rejects_a_second_factory_under_one_name():
    reg = _registry()
    reg.register("widget", Widget)  # the same factory again is fine
    with pytest.raises(ValueError, match="'widget'"):
        reg.register("widget", lambda: None)


def test_head_registry():
    assert set(heads.names()) >= {"classification", "multi_label", "binary", "dense", "mlp"}
    head = heads.get("classification", num_classes=4, hidden_units=(3,))
    assert isinstance(head, heads.ClassificationHead) and head.num_classes == 4
    again = heads.get({"class_name": "classification", "config": head.get_config()})
    assert isinstance(again, heads.ClassificationHead) and again.get_config() == head.get_config()
    assert heads.get(head) is head
    assert isinstance(heads.get("binary"), heads.MultiLabelHead)
    with pytest.raises(ValueError) as info:
        heads.get("softmax")
    assert all(name in str(info.value) for name in heads.names())
    with pytest.raises(ValueError):
        heads.get(42)


def test_zoo_registry():
    names = mtlzoo.models.names()
    assert {"multimnist_lenet", "lenet_bn_tree", "cross_stitch_lenet"} <= set(names)
    net = mtlzoo.models.get({"class_name": "multimnist_lenet", "config": {"width": 2}}, tasks=["p", "q"])
    assert net.tasks == ("p", "q")
    assert mtlzoo.models.get(net) is net
    with pytest.raises(ValueError, match="overrides"):
        mtlzoo.models.get(net, width=2)
    with pytest.raises(ValueError) as info:
        mtlzoo.models.get("no_such_model")
    assert "'no_such_model'" in str(info.value) and all(n in str(info.value) for n in names)
    with pytest.raises(ValueError, match="'depth'"):
        mtlzoo.models.get("multimnist_lenet", depth=3)


# ------------------------------------------------------------------- facade
def _run(code, cwd):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True,
                            text=True, timeout=120, env={**_env(), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _env():
    import os

    return dict(os.environ)


def test_import_mtlzoo_does_not_import_tensorflow(tmp_path):
    out = _run("""
        import sys
        import mtlzoo
        tree = mtlzoo.TaskTree(["r", "a"], {"x": ["r", "a"]})
        from mtlzoo import tree_ops
        tree_ops.split_tree
        heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
        print("HEAVY", heavy)
    """, cwd=tmp_path)
    assert "HEAVY []" in out


def _serializable_modules():
    """Every module of the package whose source registers a Keras-serializable class."""
    root = pathlib.Path(mtlzoo.__file__).resolve().parent.parent
    rooms = {"mtlzoo": "mtlzoo", "models": "mtlzoo.models", "training": "mtlzoo.training",
             "tools": "mtlzoo.tools"}
    found = []
    for folder, package in rooms.items():
        for file in sorted((root / folder).rglob("*.py")):
            if re.search(r"^\s*@keras\.saving\.register_keras_serializable", file.read_text(), re.M):
                rel = file.relative_to(root / folder).with_suffix("")
                parts = [p for p in rel.parts if p != "__init__"]
                found.append(".".join([package, *parts]))
    return found


def test_facade_registers_classes_for_plain_load_model(tmp_path):
    path = tmp_path / "net.keras"
    net = tiny_tree_network()
    x = random_inputs(batch=2, seed=4)
    net.save(path)
    expected = keras.ops.convert_to_numpy(net(x)["a"]).tolist()
    modules = _serializable_modules()
    assert "mtlzoo.tree_network" in modules and "mtlzoo.layers.cross_stitch" in modules
    out = _run(f"""
        import sys
        import keras, numpy as np
        try:
            keras.models.load_model({str(path)!r})
            print("LOADED-WITHOUT-MTLZOO")
        except Exception:
            pass
        import mtlzoo
        mtlzoo.TreeNetwork  # touching a Keras-backed name registers everything
        missing = [m for m in {modules!r} if m not in sys.modules]
        print("MISSING", missing)
        model = keras.models.load_model({str(path)!r})
        print("TYPE", type(model).__name__)
        x = np.random.default_rng(4).standard_normal((2, 3)).astype("float32")
        got = keras.ops.convert_to_numpy(model(x)["a"])
        print("MAXDIFF", float(np.abs(got - np.array({expected!r}, "float32")).max()))
    """, cwd=tmp_path)
    assert "LOADED-WITHOUT-MTLZOO" not in out  # the control: registration is what makes it work
    assert "MISSING []" in out
    assert "TYPE TreeNetwork" in out
    assert float(re.search(r"MAXDIFF (\S+)", out).group(1)) <= 1e-6


def test_facade_names_resolve():
    assert mtlzoo.TreeNetwork.__name__ == "TreeNetwork"
    assert callable(mtlzoo.peel) and callable(mtlzoo.split) and callable(mtlzoo.load_model)
    assert {"TaskTree", "TreeNetwork", "peel", "split", "models"} <= set(dir(mtlzoo))
    with pytest.raises(AttributeError, match="no_such_name"):
        mtlzoo.no_such_name  # noqa: B018


def test_mtlzoo_load_model(tmp_path):
    net = tiny_tree_network()
    net.save(tmp_path / "m.keras")
    loaded = mtlzoo.load_model(tmp_path / "m.keras")
    assert loaded.tree == net.tree
