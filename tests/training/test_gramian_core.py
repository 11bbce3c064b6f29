"""The Gramian core: every gradient-based balancer, in both spaces, applies sum_t w_t^i dL_t/dtheta_i.

The references are independent tapes (one per block, on the weighted loss sum), not the core's own
per-task gradients.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tensorflow as tf

from mtlzoo import testing
from mtlzoo.training import MultiTaskModel, StepContext, VariableGroups, balancers


def gramian_specs() -> list[tuple[str, str]]:
    """(name, space) for every registered Gramian balancer and every space it supports."""
    out = []
    for name in balancers.names():
        balancer = balancers.get(name)
        if isinstance(balancer, balancers.GramianBalancer):
            out += [(name, space) for space in type(balancer).spaces]
    return out


def model_with(balancer, seed: int = 0) -> MultiTaskModel:
    testing.seed_everything(seed)
    model = testing.tiny_tree_network(model_class=MultiTaskModel)
    model.compile(optimizer="sgd", loss="mse", balancer=balancer)
    return model


def batch(model, seed=0, n=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    outputs, _ = model.forward(x)
    y = {t: rng.normal(size=tuple(outputs[t].shape)).astype("float32") for t in model.tasks}
    return tf.constant(x), {t: tf.constant(v) for t, v in y.items()}


def run_step(model, x, y):
    """The balancer's gradients and the direction the core recorded, traced like a train step."""
    groups = VariableGroups.of(model)

    @tf.function
    def run(x, y):
        with tf.GradientTape(persistent=True) as tape:
            outputs, latents = model.forward(x, training=True, latents=[b for b, _, _ in groups.shared])
            losses = model.task_losses(y, outputs)
        step = StepContext(model, tape, losses, losses, latents, model.trainable_variables, groups)
        grads, _ = model.balancer.gradients(step)
        return grads, dict(step.direction.block_weights) if step.direction is not None else {}

    return run(x, y)


def reference_block_gradient(model, x, y, block, tasks, weights):
    """d(sum_t w_t L_t)/d theta_block on a fresh tape, with w held constant."""
    variables = model.block_variables([block])
    with tf.GradientTape() as tape:
        outputs, _ = model.forward(x, training=True, latents=())
        losses = model.task_losses(y, outputs)
        total = tf.add_n([float(weights[k]) * losses[t] for k, t in enumerate(tasks)])
    return [np.asarray(g) for g in tape.gradient(total, variables)], variables


@pytest.mark.parametrize("name,space", gramian_specs())
def test_shared_gradient_is_the_weighted_sum_of_task_gradients(name, space):
    model = model_with(balancers.get(name, space=space))
    x, y = batch(model)
    grads, block_weights = run_step(model, x, y)
    index = {id(v): k for k, v in enumerate(model.trainable_variables)}
    groups = VariableGroups.of(model)
    checked = 0
    for block, tasks, _ in groups.shared:
        if block not in block_weights:  # a nonlinear combination (GradDrop, MoCo): tested on its own
            continue
        w = np.asarray(block_weights[block])
        assert np.all(np.isfinite(w)), (name, space, block, w)
        expected, variables = reference_block_gradient(model, x, y, block, tasks, w)
        for var, ref in zip(variables, expected):
            got = np.asarray(grads[index[id(var)]])
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=f"{name}/{space} {var.path}")
        checked += 1
    assert checked or not block_weights


def test_mgda_in_latent_space_is_mgda_ub():
    x = y = None
    out = {}
    for label, balancer in (("mgda_ub", balancers.get("mgda_ub")), ("mgda", balancers.get("mgda", space="latent"))):
        model = model_with(balancer)
        if x is None:
            x, y = batch(model)
        out[label] = [np.asarray(g) for g in run_step(model, x, y)[0]]
    for a, b in zip(out["mgda_ub"], out["mgda"]):
        np.testing.assert_array_equal(a, b)


def test_old_space_spelling_warns_and_means_parameters():
    with pytest.warns(DeprecationWarning, match="space='parameters'"):
        old = balancers.get("gradnorm", space="weights")
    assert old.space == "parameters" and not old.latent
    assert old.get_config()["space"] == "parameters"  # saved with the new spelling


def test_a_space_the_method_lacks_is_refused_naming_the_one_that_works():
    class OnlyParameters(balancers.GramianBalancer):
        registry_name = "only_parameters"
        spaces = ("parameters",)
        default_space = "parameters"

    with pytest.raises(ValueError, match="space='latent' is not defined for this method; use space='parameters'"):
        OnlyParameters(space="latent")
    with pytest.raises(ValueError, match="space must be one of"):
        OnlyParameters(space="weightz")


def test_non_finite_weights_fall_back_instead_of_reaching_the_parameters():
    class Broken(balancers.GramianBalancer):
        registry_name = "broken"

        def weigh(self, problem):
            return tf.fill((problem.size,), float("nan"))

    model = model_with(Broken())
    x, y = batch(model)
    grads, weights = run_step(model, x, y)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)
    for block, w in weights.items():
        np.testing.assert_allclose(np.asarray(w), 1.0 / len(w))


def test_every_gramian_balancer_is_registered_once_where_it_is_defined():
    import inspect

    for name in balancers.names():
        cls = type(balancers.get(name))
        assert cls.registry_name == name
        assert inspect.getmodule(cls).__name__.rsplit(".", 1)[-1] != "__init__"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        balancers.get("mgda", space="latent")  # the canonical spelling does not warn
