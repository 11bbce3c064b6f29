"""MultiTaskModel.from_keras on architectures nobody here wrote (keras.applications backbones with three heads),
a U-Net with skip connections into two decoders and a two-input model (issue 17's acceptance).

For each: the derived tree against the expected blocks, predictions against the original model, one MGDA-UB
step against the tape gradient of sum_t alpha_t L_t (alpha checked against a SciPy min-norm solve of the
latent Gram), a 30-step fit, the .keras round trip, the export and peel. The big backbones are slow on CPUs:
their full checks carry ``slow``; their tree derivation runs by default.
"""

from dataclasses import dataclass

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import minimize

import mtlzoo
from mtlzoo.training import MultiTaskModel, StepContext, VariableGroups, balancers

L = keras.layers
CE = "sparse_categorical_crossentropy_from_logits"
APPLICATIONS = {"mobilenet_v3_small": "MobileNetV3Small", "resnet50": "ResNet50", "efficientnet_b0": "EfficientNetB0"}


@dataclass
class Case:
    model: keras.Model
    blocks: dict  # expected {block: layer names}
    paths: dict
    losses: dict
    batch: object  # batch(n, seed) -> (x, y)
    latent_tensors: int  # tensors leaving the root


def applications(name):
    base = getattr(keras.applications, APPLICATIONS[name])(input_shape=(64, 64, 3), include_top=False, weights=None)
    pooled = L.GlobalAveragePooling2D(name="pool")(base.output)
    outputs = {"species": L.Dense(5, name="species_logits")(pooled), "pose": L.Dense(3, name="pose_logits")(pooled),
               "size": L.Dense(1, name="size_value")(pooled)}
    model = keras.Model(base.input, outputs, name=name)
    backbone = [layer["name"] for layer in base.get_config()["layers"] if layer["class_name"] != "InputLayer"]

    def batch(n, seed):
        rng = np.random.default_rng(seed)
        return (rng.random((n, 64, 64, 3), dtype="float32"),
                {"species": rng.integers(0, 5, n), "pose": rng.integers(0, 3, n),
                 "size": rng.normal(size=(n, 1)).astype("float32")})

    return Case(model, {"trunk": backbone + ["pool"], "head_species": ["species_logits"],
                        "head_pose": ["pose_logits"], "head_size": ["size_value"]},
                {t: ("trunk", f"head_{t}") for t in outputs}, {"species": CE, "pose": CE, "size": "mse"}, batch, 1)


def unet(size=32, filters=4):
    x = keras.Input((size, size, 3), name="image")
    e1 = L.Conv2D(filters, 3, padding="same", activation="relu", name="enc1")(x)
    e2 = L.Conv2D(2 * filters, 3, padding="same", activation="relu", name="enc2")(L.MaxPooling2D(name="pool1")(e1))
    mid = L.BatchNormalization(name="bn")(L.Conv2D(4 * filters, 3, padding="same", name="bottom")(
        L.MaxPooling2D(name="pool2")(e2)))
    bottom = L.Activation("relu", name="bottom_act")(mid)

    def decoder(task, channels):
        names = [f"{task}_{n}" for n in ("up2", "cat2", "dec2", "up1", "cat1", "dec1", "out")]
        u = L.UpSampling2D(name=names[0])(bottom)
        u = L.Conv2D(2 * filters, 3, padding="same", activation="relu", name=names[2])(
            L.Concatenate(name=names[1])([u, e2]))
        u = L.UpSampling2D(name=names[3])(u)
        u = L.Conv2D(filters, 3, padding="same", activation="relu", name=names[5])(
            L.Concatenate(name=names[4])([u, e1]))
        return L.Conv2D(channels, 1, name=names[6])(u), names

    seg, seg_layers = decoder("seg", 3)
    depth, depth_layers = decoder("depth", 1)
    model = keras.Model(x, {"seg": seg, "depth": depth}, name="unet")

    def batch(n, seed):
        rng = np.random.default_rng(seed)
        return (rng.random((n, size, size, 3), dtype="float32"),
                {"seg": rng.integers(0, 3, (n, size, size)), "depth": rng.random((n, size, size, 1), dtype="float32")})

    trunk = ["enc1", "pool1", "enc2", "pool2", "bottom", "bn", "bottom_act"]
    return Case(model, {"trunk": trunk, "head_seg": seg_layers, "head_depth": depth_layers},
                {"seg": ("trunk", "head_seg"), "depth": ("trunk", "head_depth")}, {"seg": CE, "depth": "mse"}, batch,
                3)


def two_inputs():
    image, meta = keras.Input((12, 12, 1), name="image"), keras.Input((4,), name="meta")
    h = L.Flatten(name="flat")(L.Conv2D(4, 3, activation="relu", name="conv")(image))
    m = L.Dense(4, activation="relu", name="meta_dense")(meta)
    z = L.Dense(8, activation="tanh", name="joint")(L.Concatenate(name="cat")([h, m]))
    a = L.Dense(3, name="a_logits")(z)
    b = L.Dense(1, name="b_value")(L.Dense(4, activation="relu", name="b_hidden")(z))
    model = keras.Model([image, meta], {"a": a, "b": b}, name="two_inputs")

    def batch(n, seed):
        rng = np.random.default_rng(seed)
        return ({"image": rng.random((n, 12, 12, 1), dtype="float32"),
                 "meta": rng.normal(size=(n, 4)).astype("float32")},
                {"a": rng.integers(0, 3, n), "b": rng.normal(size=(n, 1)).astype("float32")})

    return Case(model, {"trunk": ["conv", "flat", "meta_dense", "cat", "joint"], "head_a": ["a_logits"],
                        "head_b": ["b_hidden", "b_value"]},
                {"a": ("trunk", "head_a"), "b": ("trunk", "head_b")}, {"a": CE, "b": "mse"}, batch, 1)


def build(name) -> Case:
    return applications(name) if name in APPLICATIONS else unet() if name == "unet" else two_inputs()


SMALL = ["unet", "two_inputs"]
BIG = [pytest.param("mobilenet_v3_small", marks=pytest.mark.slow), pytest.param("resnet50", marks=pytest.mark.slow),
       pytest.param("efficientnet_b0", marks=pytest.mark.slow)]


def numpy_outputs(outputs):
    return {k: np.asarray(v) for k, v in outputs.items()}


# -------------------------------------------------------- tree and predictions
def check_tree(case, model):
    assert model.tree.paths == case.paths
    assert {b: model.tree.block_info[b]["layers"] for b in model.tree.blocks} == case.blocks


@pytest.mark.parametrize("name", ["resnet50", "efficientnet_b0"])
def test_derived_tree_of_big_backbones(name):
    case = build(name)
    check_tree(case, MultiTaskModel.from_keras(case.model))


@pytest.mark.parametrize("name", ["mobilenet_v3_small", *SMALL, *BIG[1:]])
def test_derived_tree_and_identical_predictions(name):
    case = build(name)
    model = MultiTaskModel.from_keras(case.model)
    check_tree(case, model)
    assert {id(v) for v in model.weights} == {id(v) for v in case.model.weights}  # the same variables, no copies
    x, _ = case.batch(2, seed=0)
    expected, actual = numpy_outputs(case.model(x, training=False)), numpy_outputs(model(x, training=False))
    for task in case.paths:
        np.testing.assert_allclose(actual[task], expected[task], rtol=0, atol=1e-6)
    _, latents = model.forward(x)
    assert len(tf.nest.flatten(latents["trunk"])) == case.latent_tensors


def scipy_min_norm(gram):
    t = len(gram)
    result = minimize(lambda a: a @ gram @ a, np.full(t, 1.0 / t), jac=lambda a: 2 * gram @ a,
                      bounds=[(0.0, 1.0)] * t, constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1.0}],
                      method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
    return result.x


# ------------------------------------------------------------ one MGDA-UB step
@pytest.fixture
def floatx():
    """Set Keras' default float type for one test."""
    yield keras.config.set_floatx
    keras.config.set_floatx("float32")


@pytest.mark.parametrize("name", [*SMALL, *BIG])
def test_mgda_ub_step_applies_the_gradient_of_the_alpha_weighted_loss(name, floatx):
    """The balancer's (dZ/dtheta)^T sum_t alpha_t dL_t/dZ against the tape's d(sum_t alpha_t L_t)/dtheta.

    The two orders of evaluation agree to float32 rounding only: through the batch-norm layers of a deep
    backbone (batch statistics of 4 samples) that is about 4e-5 relative (MobileNetV3Small). So the
    keras.applications backbones run in float64, where they agree to about 1e-13; the solver itself
    stays float32, as always."""
    if name in APPLICATIONS:
        floatx("float64")
    case = build(name)
    model = MultiTaskModel.from_keras(case.model)
    model.compile(optimizer="sgd", loss=case.losses, balancer=balancers.get("mgda_ub", normalization="none"))
    groups = VariableGroups.of(model)
    (root, tasks, shared), = groups.shared
    x, y = case.batch(4, seed=1)

    @tf.function
    def run(x, y):
        with tf.GradientTape(persistent=True) as tape:
            outputs, latents = model.forward(x, training=True, latents=[root])
            losses = model.task_losses(y, outputs)
        step = StepContext(model, tape, losses, losses, latents, model.trainable_variables, groups)
        grads, _ = model.balancer.gradients(step)
        alpha = tf.stop_gradient(step.record["block_weights"][root])
        with tape:
            total = tf.add_n([alpha[k] * losses[t] for k, t in enumerate(tasks)])
        expected = tape.gradient(total, shared)
        zs = tf.nest.flatten(latents[root])
        per_task = [tape.gradient(losses[t], zs) for t in tasks]
        return [grads[step.index_of(v)] for v in shared], expected, alpha, per_task

    applied, expected, alpha, per_task = run(x, y)
    assert len(per_task[0]) == case.latent_tensors
    for a, e in zip(applied, expected):
        e = np.asarray(e)
        np.testing.assert_allclose(np.asarray(a), e, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(e).max())))
    rows = np.stack([np.concatenate([np.asarray(g, np.float64).ravel() for g in grads]) for grads in per_task])
    gram, alpha = rows @ rows.T, np.asarray(alpha, np.float64)
    best = scipy_min_norm(gram)
    assert abs(alpha.sum() - 1) < 1e-5 and (alpha >= -1e-7).all()
    assert alpha @ gram @ alpha <= best @ gram @ best * (1 + 1e-4) + 1e-12  # the min-norm point over ALL latents


# ------------------------------------------------------------------ 30 steps
@pytest.mark.parametrize("name", [*SMALL, *BIG])
def test_thirty_mgda_ub_steps_lower_every_task_loss(name):
    case = build(name)
    model = MultiTaskModel.from_keras(case.model)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=case.losses, balancer="mgda_ub")
    x, y = case.batch(8, seed=2)

    def losses():  # training mode, as the steps see the batch (batch statistics)
        return {t: float(v) for t, v in model.task_losses(y, model.forward(x, training=True)[0]).items()}

    before = losses()
    steps = tf.data.Dataset.from_tensors((x, y)).repeat(30)
    model.fit(steps, epochs=1, verbose=0, shuffle=False)  # 30 steps in one epoch: one trace
    after = losses()
    assert model.optimizer.iterations.numpy() == 30
    for task in case.paths:
        assert after[task] < before[task], (task, before, after)


# ------------------------------------------------ .keras round trip, export, peel
@pytest.mark.parametrize("name", [*SMALL, *BIG])
def test_keras_round_trip_export_and_peel_reproduce_predictions(name, tmp_path):
    case = build(name)
    model = MultiTaskModel.from_keras(case.model)
    model.compile(optimizer="adam", loss=case.losses, balancer="mgda_ub")
    x, _ = case.batch(4, seed=3)
    rng = np.random.default_rng(3)  # weights and batch-norm statistics off their initial values, signs kept
    for v in model.variables:  # (a Normalization layer's mean and variance are constants it caches: left alone)
        if v.trainable or v.name in ("moving_mean", "moving_variance"):
            v.assign(v.numpy() * rng.uniform(0.5, 1.5, v.shape).astype(v.dtype) + 0.01)
    expected = numpy_outputs(model(x, training=False))
    model.optimizer.build(model.trainable_variables)  # its state is saved and restored too
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")  # no custom_objects
    assert type(loaded) is MultiTaskModel and loaded.tree == model.tree and loaded.balancer.name == "mgda_ub"
    reloaded = numpy_outputs(loaded(x, training=False))
    exported = tf.saved_model.load(str(mtlzoo.tools.export(model, tmp_path / "export")))
    feed = x if isinstance(x, dict) else {model.input_specs()[0][0]: x}
    for task in case.paths:
        np.testing.assert_allclose(reloaded[task], expected[task], rtol=1e-5, atol=1e-5)
        served = exported.signatures[f"task_{task}"](**{k: tf.constant(v) for k, v in feed.items()})
        np.testing.assert_allclose(served[task].numpy(), expected[task], rtol=1e-5, atol=1e-5)
        single = mtlzoo.peel(model, task)
        assert single.tasks == (task,) and single.tree.paths == {task: case.paths[task]}
        np.testing.assert_allclose(np.asarray(single(x, training=False)[task]), expected[task], rtol=1e-5, atol=1e-5)
