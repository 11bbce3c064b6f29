"""Reading a tree off a functional Keras graph (KerasGraph, KerasCut): task sets, blocks, latents, refusals."""

import keras
import numpy as np
import pytest

from mtlzoo.keras_cut import KerasCut
from mtlzoo.keras_graph import KerasGraph

L = keras.layers


def three_task_model():
    """trunk feeds a, b, c; mid feeds a and b only; each task has a head."""
    x = keras.Input((5,), name="x")
    h = L.Dense(6, name="t1")(x)
    h = L.Dense(6, name="t2")(h)
    mid = L.Dense(4, name="mid")(h)
    mid = L.Activation("relu", name="mid_act")(mid)
    outs = {"a": L.Dense(1, name="out_a")(mid), "b": L.Dense(2, name="out_b")(mid),
            "c": L.Dense(3, name="out_c")(L.Dense(3, name="pre_c")(h))}
    return keras.Model(x, outs, name="three")


def test_task_sets_are_the_outputs_each_layer_feeds():
    graph = KerasGraph(three_task_model())
    sets = {graph.name(n): graph.tasks_of(n) for n in graph.nodes}
    assert sets == {"t1": ("a", "b", "c"), "t2": ("a", "b", "c"), "mid": ("a", "b"), "mid_act": ("a", "b"),
                    "out_a": ("a",), "out_b": ("b",), "pre_c": ("c",), "out_c": ("c",)}
    order = [graph.name(n) for n in graph.nodes]
    assert order.index("t1") < order.index("t2") < order.index("mid") < order.index("mid_act") < order.index("out_a")


def test_blocks_tree_and_layers_of_a_three_level_graph():
    cut = KerasCut(three_task_model())
    assert cut.tree.paths == {"a": ("trunk", "shared_a_b", "head_a"), "b": ("trunk", "shared_a_b", "head_b"),
                              "c": ("trunk", "head_c")}
    assert cut.tree.shared_blocks == ("trunk", "shared_a_b")
    assert {b: cut.layers(b) for b in cut.tree.blocks} == {
        "trunk": ["t1", "t2"], "shared_a_b": ["mid", "mid_act"], "head_a": ["out_a"], "head_b": ["out_b"],
        "head_c": ["pre_c", "out_c"]}
    text = str(cut.tree)
    assert "(layers: mid, mid_act)" in text and "(layers: pre_c, out_c)" in text


def test_list_outputs_take_the_output_layer_names():
    x = keras.Input((3,))
    h = L.Dense(4, name="h")(x)
    model = keras.Model(x, [L.Dense(1, name="price")(h), L.Dense(2, name="kind")(h)])
    cut = KerasCut(model)
    assert cut.tree.tasks == ("price", "kind") and cut.tree.path("kind") == ("trunk", "head_kind")


def unet(filters=4):
    x = keras.Input((16, 16, 3), name="image")
    e1 = L.Conv2D(filters, 3, padding="same", activation="relu", name="enc1")(x)
    e2 = L.Conv2D(2 * filters, 3, padding="same", activation="relu", name="enc2")(L.MaxPooling2D(name="pool1")(e1))
    bottom = L.Conv2D(4 * filters, 3, padding="same", activation="relu", name="bottom")(
        L.MaxPooling2D(name="pool2")(e2))

    def decoder(task, channels):
        u = L.UpSampling2D(name=f"{task}_up2")(bottom)
        u = L.Conv2D(2 * filters, 3, padding="same", name=f"{task}_dec2")(L.Concatenate(name=f"{task}_cat2")([u, e2]))
        u = L.UpSampling2D(name=f"{task}_up1")(u)
        u = L.Conv2D(filters, 3, padding="same", name=f"{task}_dec1")(L.Concatenate(name=f"{task}_cat1")([u, e1]))
        return L.Conv2D(channels, 1, name=f"{task}_out")(u)

    return keras.Model(x, {"seg": decoder("seg", 3), "depth": decoder("depth", 1)}, name="unet")


def test_unet_skip_connections_make_a_latent_of_several_tensors():
    cut = KerasCut(unet())
    assert cut.tree.paths == {"seg": ("trunk", "head_seg"), "depth": ("trunk", "head_depth")}
    assert cut.layers("trunk") == ["enc1", "pool1", "enc2", "pool2", "bottom"]
    latents = cut.latents("trunk")
    assert [t._keras_history[0].name for t in latents] == ["enc1", "enc2", "bottom"]
    trunk = cut.block_models()["trunk"]
    assert [tuple(t.shape) for t in trunk.outputs] == [(None, 16, 16, 4), (None, 8, 8, 8), (None, 4, 4, 16)]


def test_one_input_per_task_and_shared_inputs_go_to_the_root():
    xa, xb = keras.Input((4,), name="x_a"), keras.Input((3,), name="x_b")
    stems = [L.Dense(5, name="stem_a")(xa), L.Dense(5, name="stem_b")(xb)]
    shared = L.Dense(4, name="shared")(L.Concatenate(name="cat")(stems))
    model = keras.Model([xa, xb], {"a": L.Dense(1, name="out_a")(shared), "b": L.Dense(1, name="out_b")(shared)})
    cut = KerasCut(model)
    assert cut.layers("trunk") == ["stem_a", "stem_b", "cat", "shared"]
    root = cut.block_models()["trunk"]
    assert [t.name for t in root.inputs] == ["x_a", "x_b"]


def test_a_root_without_layers_hands_the_inputs_on():
    x = keras.Input((3,), name="x")
    model = keras.Model(x, {"a": L.Dense(1, name="out_a")(x), "b": L.Dense(2, name="out_b")(L.Dense(2, name="h_b")(x))})
    cut = KerasCut(model)
    assert cut.layers("trunk") == [] and cut.layers("head_b") == ["h_b", "out_b"]
    assert "(no layers: the inputs)" in str(cut.tree)
    data = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(np.asarray(cut.block_models()["trunk"](data)), data)


def test_shared_cuts_coarser_and_keeps_everything_it_depends_on():
    cut = KerasCut(three_task_model(), shared="mid_act")
    assert cut.tree.paths == {"a": ("trunk", "head_a"), "b": ("trunk", "head_b"), "c": ("trunk", "head_c")}
    assert cut.layers("trunk") == ["t1", "t2", "mid", "mid_act"]
    assert KerasCut(three_task_model(), shared=["mid"]).layers("shared_a_b") == ["mid_act"]


def test_block_names_avoid_the_input_names():
    x = keras.Input((3,), name="trunk")
    h = L.Dense(2, name="h")(x)
    cut = KerasCut(keras.Model(x, {"a": L.Dense(1, name="oa")(h), "b": L.Dense(1, name="ob")(h)}))
    assert cut.root == "trunk_block" and cut.tree.path("a") == ("trunk_block", "head_a")


def test_block_models_reuse_the_same_layer_objects():
    model = three_task_model()
    models = KerasCut(model).block_models()
    assert models["shared_a_b"].get_layer("mid") is model.get_layer("mid")
    assert models["head_c"].get_layer("out_c").kernel is model.get_layer("out_c").kernel


# ----------------------------------------------------------------- refusals
def refusal(model, **kwargs):
    with pytest.raises(ValueError) as info:
        KerasCut(model, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_refuses_cross_stitch_mixing_naming_the_layers_and_the_shared_fix():
    x = keras.Input((4,), name="x")
    h = L.Dense(4, name="trunk_dense")(x)
    p, q = L.Dense(3, name="p")(h), L.Dense(3, name="q")(h)  # p feeds a and b, q feeds a and c
    mix = L.Add(name="mix_a")([p, q])
    model = keras.Model(x, {"a": L.Dense(1, name="out_a")(mix), "b": L.Dense(1, name="out_b")(p),
                            "c": L.Dense(1, name="out_c")(q)}, name="stitch")
    message = refusal(model)
    assert "not a tree" in message and "'mix_a'" in message and "'p'" in message and "'q'" in message
    assert "shared=['p', 'q']" in message and "TreeNetwork" in message
    assert KerasCut(model, shared=["p", "q"]).tree.paths["a"] == ("trunk", "head_a")  # the fix it names works


def test_refuses_a_skip_from_a_grandparent_and_the_suggested_cut_works():
    x = keras.Input((4,), name="x")
    h = L.Dense(4, name="t")(x)
    mid = L.Dense(3, name="mid")(h)
    a = L.Dense(1, name="out_a")(L.Concatenate(name="cat_a")([mid, h]))
    model = keras.Model(x, {"a": a, "b": L.Dense(1, name="out_b")(mid), "c": L.Dense(1, name="out_c")(h)})
    message = refusal(model)
    assert "'cat_a'" in message and "'t'" in message and "'mid'" in message and "shared=['mid']" in message
    assert KerasCut(model, shared=["mid"]).tree.path("a") == ("trunk", "head_a")


def test_refuses_a_layer_used_at_two_places():
    xa, xb = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    encoder = L.Dense(3, name="siamese")
    za, zb = encoder(xa), encoder(xb)
    model = keras.Model([xa, xb], {"a": L.Dense(1, name="oa")(za), "b": L.Dense(1, name="ob")(zb)})
    message = refusal(model)
    assert "'siamese'" in message and "2 places" in message and "its own layer" in message


def test_refuses_a_subclassed_model():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return {"a": self.dense(x), "b": self.dense(x)}

    message = refusal(Net())
    assert "subclassed" in message and "functional API" in message and "TreeNetwork" in message


def test_refuses_one_output_and_sequential():
    x = keras.Input((3,))
    message = refusal(keras.Model(x, {"only": L.Dense(1, name="only_out")(x)}, name="single"))
    assert "one output" in message and "'only'" in message and "'single'" in message
    message = refusal(keras.Sequential([keras.Input((3,)), L.Dense(2)], name="seq"))
    assert "Sequential" in message and "'seq'" in message
    assert "keras.Model" in refusal("not a model")


def test_refuses_an_input_read_outside_the_root():
    image, meta = keras.Input((4,), name="image"), keras.Input((2,), name="meta")
    h = L.Dense(3, name="trunk_dense")(image)
    b = L.Dense(1, name="out_b")(L.Concatenate(name="cat_b")([h, meta]))
    model = keras.Model([image, meta], {"a": L.Dense(1, name="out_a")(h), "b": b})
    message = refusal(model)
    assert "'meta'" in message and "'cat_b'" in message and "shared=['cat_b']" in message


def test_refuses_a_task_output_that_feeds_another_task():
    x = keras.Input((4,), name="x")
    h = L.Dense(3, name="h")(x)
    a = L.Dense(2, name="out_a")(h)
    b = L.Dense(1, name="out_b")(L.Concatenate(name="cat")([a, h]))
    message = refusal(keras.Model(x, {"a": a, "b": b}))
    assert "task 'a'" in message and "'out_a'" in message and "Identity" in message
    x = keras.Input((4,), name="x")  # the fix the message names
    h = L.Dense(3, name="h")(x)
    a = L.Dense(2, name="out_a")(h)
    b = L.Dense(1, name="out_b")(L.Concatenate(name="cat")([a, h]))
    fixed = keras.Model(x, {"a": L.Identity(name="a_output")(a), "b": b})
    assert KerasCut(fixed).tree.path("a") == ("trunk", "head_a")


def test_refuses_an_unknown_shared_layer_with_close_names():
    message = refusal(three_task_model(), shared="mid_ac")
    assert "'mid_ac'" in message and "'mid_act'" in message
    assert "shared must be" in refusal(three_task_model(), shared=[3])
