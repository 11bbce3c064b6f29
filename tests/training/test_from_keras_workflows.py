"""A from_keras model in every workflow: each balancer in both spaces, split, BackupAndRestore, copies,
several inputs (predict, export, serve), and latents of several tensors that depend on each other."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
from mtlzoo.training import MultiTaskModel, balancers

L = keras.layers


def skip_mlp(name="skip_mlp"):
    """trunk (h1, h2 = f(h1)) -> {shared_a_b (reads h1 and h2) -> head_a, head_b; head_c (reads h2 and h1)}."""
    x = keras.Input((5,), name="x")
    h1 = L.Dense(6, activation="tanh", name="h1")(x)
    h2 = L.Dense(6, activation="tanh", name="h2")(h1)
    ab = L.Dense(4, activation="tanh", name="ab")(L.Concatenate(name="ab_cat")([h1, h2]))
    c = L.Dense(1, name="out_c")(L.Concatenate(name="c_cat")([h2, h1]))
    return keras.Model(x, {"a": L.Dense(2, name="out_a")(ab), "b": L.Dense(3, name="out_b")(ab), "c": c}, name=name)


def data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 5)).astype("float32"),
            {"a": rng.integers(0, 2, n), "b": rng.integers(0, 3, n), "c": rng.normal(size=(n, 1)).astype("float32")})


LOSSES = {"a": "sparse_categorical_crossentropy_from_logits", "b": "sparse_categorical_crossentropy_from_logits",
          "c": "mse"}


#: Run by default (one per kind: a loss weighting, a latent and a parameter min-norm method); the rest are slow.
DEFAULT = {("uniform", None), ("mgda_ub", "latent"), ("mgda", "parameters")}


def configurations():
    for name in balancers.names():
        for space in getattr(balancers.get(name), "spaces", (None,)):
            yield pytest.param(name, space, marks=() if (name, space) in DEFAULT else pytest.mark.slow)


def test_the_tree_of_the_skip_model():
    model = MultiTaskModel.from_keras(skip_mlp())
    assert model.tree.paths == {"a": ("trunk", "shared_a_b", "head_a"), "b": ("trunk", "shared_a_b", "head_b"),
                                "c": ("trunk", "head_c")}
    assert "trunk  [shared: a, b, c]  (layers: h1, h2)" in str(model.tree)


def test_latent_gradients_run_through_the_children_only():
    """Z_trunk = (h1, h2) with h2 = f(h1): dL_c/dh1 must be the path through head_c's concat alone (the
    total derivative would add the path through h2 and count it twice when assembled)."""
    model = MultiTaskModel.from_keras(skip_mlp())
    x, _ = data(4)
    with tf.GradientTape() as tape:
        outputs, latents = model.forward(x, latents=["trunk"])
        loss = tf.reduce_sum(outputs["c"])
    dh1 = tape.gradient(loss, latents["trunk"][0])
    kernel = model.get_layer("head_c").get_layer("out_c").kernel.numpy()  # rows 0-5: h2, rows 6-11: h1
    np.testing.assert_allclose(dh1.numpy(), np.tile(kernel[6:, 0], (4, 1)), rtol=1e-6)


@pytest.mark.parametrize(("name", "space"), list(configurations()))
def test_every_balancer_in_both_spaces_trains_the_model(name, space):
    model = MultiTaskModel.from_keras(skip_mlp())
    balancer = balancers.get(name) if space is None else balancers.get(name, space=space)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=LOSSES, balancer=balancer)
    variables = model.block_variables(model.tree.blocks)  # every trainable variable of the user's layers
    before = [v.numpy().copy() for v in variables]
    x, y = data()
    logs = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in logs.values()), logs
    unchanged = [v.path for v, b in zip(variables, before) if np.array_equal(v.numpy(), b)]
    assert not unchanged, unchanged


def test_split_of_a_from_keras_block_keeps_the_outputs_and_round_trips(tmp_path):
    model = MultiTaskModel.from_keras(skip_mlp())
    wider = mtlzoo.split(model, "shared_a_b", [["head_a"], ["head_b"]])
    assert wider.tree.paths["b"] == ("trunk", "shared_a_b_2", "head_b")
    x, y = data(4)
    expected = model.predict(x, verbose=0)
    mtlzoo.testing.assert_outputs_close(wider.predict(x, verbose=0), expected, atol=1e-6)
    wider.compile(optimizer="sgd", loss=LOSSES, balancer="mgda_ub")
    wider.fit(x, y, epochs=1, verbose=0)
    wider.save(tmp_path / "wider.keras")
    loaded = keras.models.load_model(tmp_path / "wider.keras")
    mtlzoo.testing.assert_outputs_close(loaded.predict(x, verbose=0), wider.predict(x, verbose=0), atol=1e-6)


def test_backup_and_restore_resumes_a_from_keras_model(tmp_path):
    x, y = data()
    first = MultiTaskModel.from_keras(skip_mlp("first"))
    first.compile(optimizer="adam", loss=LOSSES, balancer="mgda_ub")
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"), delete_checkpoint=False)
    first.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[backup], shuffle=False)

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.weights = epoch, [w.copy() for w in self.model.get_weights()]

    snapshot = Snapshot()
    second = MultiTaskModel.from_keras(skip_mlp("second"))  # other initial weights
    second.compile(optimizer="adam", loss=LOSSES, balancer="mgda_ub")
    history = second.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                         callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), snapshot])
    assert len(history.history["loss"]) == 1 and snapshot.epoch == 1  # resumed after epoch 0
    for restored, saved in zip(snapshot.weights, first.get_weights()):
        np.testing.assert_array_equal(restored, saved)


def test_same_layers_by_default_and_a_copy_when_asked():
    original = skip_mlp()
    shared = mtlzoo.from_keras(original, name="mtl")
    assert type(shared) is MultiTaskModel and shared.name == "mtl"
    assert shared.get_layer("trunk").get_layer("h1") is original.get_layer("h1")
    copied = MultiTaskModel.from_keras(original, copy=True)
    assert copied.get_layer("trunk").get_layer("h1") is not original.get_layer("h1")
    x, y = data(4)
    mtlzoo.testing.assert_outputs_close(copied.predict(x, verbose=0), original.predict(x, verbose=0), atol=0)
    before = original.get_layer("h1").kernel.numpy().copy()
    copied.compile(optimizer="sgd", loss=LOSSES)
    copied.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(original.get_layer("h1").kernel.numpy(), before)


def two_input_model():
    image, meta = keras.Input((6, 6, 1), name="image"), keras.Input((3,), name="meta", dtype="float32")
    h = L.Concatenate(name="cat")([L.Flatten(name="flat")(image), L.Dense(2, name="meta_dense")(meta)])
    z = L.Dense(4, activation="relu", name="joint")(h)
    return keras.Model([image, meta], {"a": L.Dense(2, name="out_a")(z), "b": L.Dense(1, name="out_b")(z)})


def test_several_inputs_predict_export_and_serve(tmp_path):
    from mtlzoo.tools.serving import ModelRepository

    original = two_input_model()
    model = MultiTaskModel.from_keras(original)
    assert model.input_specs() == [("image", (6, 6, 1), "float32"), ("meta", (3,), "float32")]
    rng = np.random.default_rng(0)
    image, meta = rng.random((3, 6, 6, 1), dtype="float32"), rng.normal(size=(3, 3)).astype("float32")
    expected = original.predict([image, meta], verbose=0)
    mtlzoo.testing.assert_outputs_close(model.predict([image, meta], verbose=0), expected, atol=0)
    mtlzoo.testing.assert_outputs_close(model.predict({"meta": meta, "image": image}, verbose=0), expected, atol=0)
    outputs, _ = model.forward({"meta": meta, "image": image})
    mtlzoo.testing.assert_outputs_close(outputs, expected, atol=1e-6)
    with pytest.raises(ValueError, match="'meta'"):
        model.forward({"image": image})
    mtlzoo.tools.export(model, tmp_path / "two")
    repository = ModelRepository(tmp_path)
    answer = repository.predict("two", None, {"signature_name": "task_b",
                                              "inputs": {"image": image.tolist(), "meta": meta.tolist()}})
    np.testing.assert_allclose(np.asarray(answer["outputs"]), expected["b"], rtol=1e-5, atol=1e-6)
    description = repository.metadata("two")["metadata"]["mtlzoo"]
    assert [i["name"] for i in description["inputs"]] == ["image", "meta"]
