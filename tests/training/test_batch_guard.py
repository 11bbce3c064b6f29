"""Bad batches: ``check_batch`` (the first batch, in Python) and ``BatchGuard`` (every batch, in the train step).

The references are models trained on the clean batches alone: a batch the guard stops or
skips must leave the weights exactly where the clean batches put them.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import mtlzoo
from mtlzoo import testing
from mtlzoo.training import MultiTaskModel, check_batch

ROWS, BATCH = 48, 16  # three batches per epoch


def lenet(**compile_kwargs):
    testing.seed_everything(0)
    model = mtlzoo.models.get("multimnist_lenet", width=2)
    model.compile(optimizer="sgd", balancer="uniform", **compile_kwargs)
    return model


def tiny(loss="mse", **compile_kwargs):
    """A three-task Dense tree (heads of 2, 3 and 4 units); with ``mse``, float labels of 2, 3 and 4 values."""
    testing.seed_everything(0)
    model = testing.tiny_tree_network(model_class=MultiTaskModel)
    model.compile(optimizer="sgd", loss=loss, balancer="uniform", **compile_kwargs)
    return model


def digits(rows=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((rows, 28, 28, 1), dtype="float32")
    return x, {"left": rng.integers(0, 10, rows).astype("int32"), "right": rng.integers(0, 10, rows).astype("int32")}


def floats(rows=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, testing.TINY_INPUT_DIM)).astype("float32")
    y = {t: rng.standard_normal((rows, n)).astype("float32") for t, n in (("a", 2), ("b", 3), ("c", 4))}
    w = {t: np.ones(rows, "float32") for t in y}
    return x, y, w


def weights(model):
    return [np.asarray(v) for v in model.trainable_variables]


def assert_same_weights(a, b):
    for u, v in zip(weights(a), weights(b), strict=True):
        np.testing.assert_array_equal(u, v)


# ------------------------------------------------------------------ first batch, in Python
def test_a_clean_batch_passes_and_masked_labels_are_not_checked():
    x, y = digits()
    check_batch(lenet(), (x, y))
    y["left"][1] = 99  # out of range, but weight 0: a missing label's placeholder
    w = {"left": np.array([1, 0, 1, 1], "float32"), "right": np.ones(4, "float32")}
    check_batch(lenet(), (x, y, w))


@pytest.mark.parametrize("case, message", [
    ("nan_pixel", r"Batch 0: inputs hold 1 NaN/Inf value\(s\) \(the first at index \(2, 3, 4, 0\)\)"),
    ("wrong_size", r"inputs of shape \(14, 14, 1\) per example, but the model 'multimnist_lenet' takes \(28, 28, 1\)"),
    ("label_range", r"task 'right': labels\['right'\] span \[0, 10\], outside \[0, 10\) .* 11 units"),
    ("negative_label", r"task 'left': labels\['left'\] span \[-1, 3\], outside \[0, 10\)"),
    ("string_input", r"inputs have dtype <U1"),
    ("missing_task", r"Batch 0: The batch has no labels for task\(s\) \['right'\]"),
])
def test_first_batch_errors_name_the_batch_task_and_tensor(case, message):
    x, y = digits()
    if case == "nan_pixel":
        x[2, 3, 4, 0] = np.nan
    elif case == "wrong_size":
        x = x[:, :14, :14]
    elif case == "label_range":
        y["right"] = np.array([0, 1, 2, 10], "int32")
    elif case == "negative_label":
        y["left"] = np.array([-1, 1, 2, 3], "int32")
    elif case == "string_input":
        x = np.array([["a"]] * 4)
    elif case == "missing_task":
        del y["right"]
    with pytest.raises(ValueError, match=message) as info:
        check_batch(lenet(), (x, y))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("case, message", [
    ("nan_label", r"task 'b': labels\['b'\] holds 1 NaN/Inf value\(s\) \(the first at index \(5, 2\)\)"),
    ("nan_weight", r"task 'c': sample_weight\['c'\] holds 1 NaN/Inf"),
    ("negative_weight", r"task 'a': sample_weight\['a'\] holds negative values \(min -0.5\)"),
])
def test_first_batch_float_labels_and_weights(case, message):
    x, y, w = floats(8)
    if case == "nan_label":
        y["b"][5, 2] = np.nan
    elif case == "nan_weight":
        w["c"][1] = np.nan
    else:
        w["a"][6] = -0.5
    with pytest.raises(ValueError, match=message):
        check_batch(tiny(), (x, y, w), index=0)


# ------------------------------------------------------------------ every batch, in the train step
def test_a_nan_input_stops_fit_and_the_batch_is_not_applied():
    x, y, w = floats()
    x[BATCH + 4, 1] = np.nan  # batch 1 of epoch 1
    model = tiny()
    with pytest.raises(ValueError, match=r"^Training stopped at epoch 1, batch 1: inputs holds NaN/Inf values; "
                                         r"the batch was not applied\. .*on_nonfinite='skip'"):
        model.fit(x, y, sample_weight=w, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    reference = tiny()
    reference.fit(x[:BATCH], {t: v[:BATCH] for t, v in y.items()}, batch_size=BATCH, verbose=0, shuffle=False)
    assert_same_weights(model, reference)  # batch 0 applied, batch 1 not
    assert all(np.isfinite(v).all() for v in weights(model))
    assert int(model.optimizer.iterations) == 1


@pytest.mark.parametrize("case, task, tensor", [("nan_label", "b", "labels['b']"),
                                                ("nan_weight", "c", "sample_weight['c']"),
                                                ("negative_weight", "a", "sample_weight['a']")])
def test_bad_labels_and_weights_stop_fit_naming_task_and_tensor(case, task, tensor):
    x, y, w = floats()
    row = 2 * BATCH + 3  # batch 2
    if case == "nan_label":
        y["b"][row, 0] = np.nan
    elif case == "nan_weight":
        w["c"][row] = np.inf
    else:
        w["a"][row] = -1.0
    model = tiny(on_nonfinite="skip" if case == "negative_weight" else "raise")  # negative: even when skipping
    reason = "negative sample weights" if case == "negative_weight" else "NaN/Inf values"
    with pytest.raises(ValueError, match=rf"epoch 1, batch 2, task '{task}': {re.escape(tensor)} holds {reason}"):
        model.fit(x, y, sample_weight=w, batch_size=BATCH, epochs=2, verbose=0, shuffle=False)
    assert int(model.optimizer.iterations) == 2  # the two clean batches before it
    assert all(np.isfinite(v).all() for v in weights(model))


def test_a_label_out_of_range_in_a_later_batch_stops_fit():
    x, _, _ = floats()
    rng = np.random.default_rng(1)
    y = {t: rng.integers(0, n, ROWS).astype("int32") for t, n in (("a", 2), ("b", 3), ("c", 4))}
    y["c"][2 * BATCH] = 4  # head_c has 4 units
    model = tiny(loss="sparse_categorical_crossentropy_from_logits")
    with pytest.raises(ValueError, match=r"epoch 1, batch 2, task 'c': labels\['c'\] holds class labels "
                                         r"outside \[0, units\)"):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)


def test_skip_leaves_bad_batches_out_and_counts_them():
    x, y, w = floats()
    x[BATCH + 1, 0] = np.inf
    model = tiny(on_nonfinite="skip")
    history = model.fit(x, y, sample_weight=w, batch_size=BATCH, epochs=1, verbose=0, shuffle=False).history
    assert history["skipped_batches"] == [1.0]
    keep = np.r_[0:BATCH, 2 * BATCH:ROWS]  # the same batches without the bad one
    reference = tiny()
    reference.fit(x[keep], {t: v[keep] for t, v in y.items()}, batch_size=BATCH, verbose=0, shuffle=False)
    assert_same_weights(model, reference)
    assert int(model.optimizer.iterations) == 2


def test_on_nonfinite_round_trips_and_unknown_modes_are_refused():
    model = tiny(on_nonfinite="skip")
    assert model.get_compile_config()["on_nonfinite"] == "skip"
    assert "on_nonfinite" not in tiny().get_compile_config()  # the default is not written
    again = testing.tiny_tree_network(model_class=MultiTaskModel)
    again.compile_from_config(model.get_compile_config())
    assert again._mtl.guard.on_nonfinite == "skip"
    with pytest.raises(ValueError, match="on_nonfinite must be one of raise, skip; got 'ignore'"):
        tiny(on_nonfinite="ignore")


def test_docstring_examples_run():
    import doctest

    from mtlzoo.training import batch_check, batch_guard

    for module in (batch_check, batch_guard):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


MIRRORED = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from mtlzoo import testing
from mtlzoo.training import MultiTaskModel
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
rng = np.random.default_rng(0)
x = rng.standard_normal((32, 3)).astype("float32")
y = {t: rng.standard_normal((32, n)).astype("float32") for t, n in (("a", 2), ("b", 3), ("c", 4))}
y["b"][20, 1] = np.nan  # batch 1 of 2, on the second replica's half
for mode in ("raise", "skip"):
    with strategy.scope():
        testing.seed_everything(0)
        model = testing.tiny_tree_network(model_class=MultiTaskModel)
        model.compile(optimizer="sgd", loss="mse", balancer="uniform", on_nonfinite=mode)
    try:
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    except Exception as e:
        text = " ".join(str(e).replace(chr(92) + "'", "'").split())
        print(mode, type(e).__name__, int(model.optimizer.iterations.numpy()), text[-400:])
"""


@pytest.mark.slow
def test_under_mirrored_strategy_a_bad_batch_stops_before_any_update():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True, timeout=600)
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith(("raise", "skip"))}
    assert set(lines) == {"raise", "skip"}, done.stderr[-3000:]
    assert "InvalidArgumentError 1 " in lines["raise"]  # the first batch applied, the bad one not
    assert "task 'b': labels['b'] holds NaN/Inf values; the batch was not applied" in lines["raise"]
    assert "ValueError 0 on_nonfinite='skip' is not supported under a tf.distribute strategy" in lines["skip"]
