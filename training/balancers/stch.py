"""``stch``: smooth Tchebycheff scalarization (Lin, Zhang, Yang, Liu, Wang & Zhang 2024, "Smooth Tchebycheff
Scalarization for Multi-Objective Optimization", ICML)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtlzoo.training.balancers.balancer import Balancer
from mtlzoo.training.balancers.epoch_losses import EpochLosses, presence, stacked_values


def stch_value(values, reference, preference, mu: float) -> tf.Tensor:
    """g_mu(L | lambda) = mu log sum_t exp(lambda_t (L_t - z_t) / mu) over the tasks present (eq. 8).

    Tends to max_t lambda_t (L_t - z_t) as mu -> 0 and to mu log T + mean_t lambda_t (L_t - z_t) as
    mu grows.

    Example:
        >>> round(float(stch_value(tf.constant([1.0, 2.0]), tf.zeros(2), tf.ones(2), 1e-3)), 4)
        2.0
    """
    values = tf.cast(values, tf.float32)
    a = tf.cast(preference, tf.float32) * (values - tf.cast(reference, tf.float32)) / mu
    a = tf.where(presence(values) > 0, a, -np.inf)
    return mu * tf.reduce_logsumexp(a)


def stch_weights(values, reference, preference, mu: float) -> tf.Tensor:
    """T d g_mu / d L_t = T lambda_t softmax_t(lambda (L - z) / mu) over the tasks present (0 for the others).

    Example:
        >>> stch_weights(tf.constant([1.0, 1.0]), tf.zeros(2), tf.ones(2), 1.0).numpy().tolist()
        [1.0, 1.0]
    """
    values = tf.cast(values, tf.float32)
    present = presence(values)
    preference = tf.cast(preference, tf.float32)
    a = preference * (values - tf.cast(reference, tf.float32)) / mu
    a = tf.where(present > 0, a, -np.inf)
    any_present = tf.reduce_sum(present) > 0
    soft = tf.nn.softmax(tf.where(any_present, a, tf.zeros_like(a)))
    size = float(values.shape[0])
    return tf.where(tf.logical_and(present > 0, any_present), size * preference * soft, 0.0)


@keras.saving.register_keras_serializable(package="mtlzoo")
class STCH(Balancer):
    """Minimize T g_mu(L | lambda), the smooth Tchebycheff scalarization with ideal point z (Lin et al. 2024).

    g_mu = mu log sum_t exp(lambda_t (L_t - z_t) / mu) (:func:`stch_value`) is a smooth upper bound
    of the Tchebycheff max_t lambda_t (L_t - z_t), tight as mu -> 0. The step's gradient is
    sum_t w_t grad L_t with w = :func:`stch_weights` (one backward pass). The reference z is
    ``reference`` if given, else the ideal point estimated as each task's lowest epoch-mean
    training loss so far (updated after every epoch). During the first ``warmup_epochs`` epochs
    (and until a reference exists) the step is the linear scalarization sum_t lambda_t L_t, as in
    the authors' multi-task code. The reference, its epoch sums and the epoch count are balancer
    state (saved, restored by ``BackupAndRestore``). Logs ``weight_<task>``.

    The preference lambda is normalized to mean 1 (uniform: lambda_t = 1), and the scalarization
    is multiplied by T as in the authors' multi-task code, so the weights sum to T in both phases
    (like ``uniform``) and tend to 1 each as mu grows. (With the paper's lambda on the simplex,
    lambda_paper = lambda / T, its mu is this mu / T.)

    Departures: the ideal point is the running minimum of the epoch-mean training losses (the paper
    assumes z known; the authors' MTL code instead normalizes log-losses by the mean loss of the last
    warm-up epoch and warms up for 4 epochs of 200; ``warmup_epochs=1`` here suits shorter runs).
    Tasks absent from a batch (loss 0) are left out of the softmax and get weight 0.

    Args:
        mu: the smoothing temperature mu > 0 (1.0, LibMTL's default for the authors' method).
        preference: lambda, ``{task: value}`` or one value per task (default uniform), all > 0.
        reference: z, a fixed ideal point (``{task: value}`` or one per task); ``None`` estimates it.
        warmup_epochs: epochs of linear scalarization before the Tchebycheff phase.
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("stch", mu=0.5).mu
        0.5
    """

    registry_name = "stch"

    def __init__(self, mu: float = 1.0, preference=None, reference=None, warmup_epochs: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not np.isfinite(mu) or mu <= 0:
            raise ValueError(f"stch: mu must be a finite number > 0, got {mu!r}.")
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, (int, np.integer)) or warmup_epochs < 0:
            raise ValueError(f"stch: warmup_epochs must be an integer >= 0, got {warmup_epochs!r}.")
        self.mu = float(mu)
        self.preference = _plain(preference, "preference")
        self.reference = _plain(reference, "reference")
        self.warmup_epochs = int(warmup_epochs)

    def create_state(self) -> None:
        size = len(self.tasks)
        lam = _per_task(self.preference, self.tasks, "preference", 1.0)
        if not (np.isfinite(lam).all() and (lam > 0).all()):
            raise ValueError(f"stch: preference values must be finite and > 0, got {self.preference!r}.")
        self._preference = (lam / lam.mean()).astype(np.float32)
        fixed = None if self.reference is None else _per_task(self.reference, self.tasks, "reference", None)
        if fixed is not None and not np.isfinite(fixed).all():
            raise ValueError(f"stch: reference values must be finite, got {self.reference!r}.")
        self.reference_point = self.state_variable(
            "reference_point", (size,), "zeros" if fixed is None else keras.initializers.Constant(fixed.tolist()))
        self.has_reference = self.state_variable("has_reference", (), "zeros" if fixed is None else "ones")
        self.epochs_seen = self.state_variable("epochs_seen")
        self.epoch_losses = EpochLosses(self)

    def log_names(self) -> tuple[str, ...]:
        return tuple(f"weight_{t}" for t in self.tasks)

    def gradients(self, step):
        values = stacked_values(step, self.tasks)
        present = presence(values)
        if self.reference is None:
            self.epoch_losses.add(values, present)
        active = tf.logical_and(self.has_reference > 0.5, self.epochs_seen >= float(self.warmup_epochs))
        w = tf.where(active, stch_weights(values, self.reference_point, self._preference, self.mu),
                     self._preference * present)
        grads = step.weighted_sum_gradients({t: w[k] for k, t in enumerate(self.tasks)})
        return grads, {f"weight_{t}": w[k] for k, t in enumerate(self.tasks)}

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        self.epochs_seen.assign_add(1.0)
        if self.reference is not None:
            return {}
        means, seen = self.epoch_losses.pop()
        z = np.asarray(self.reference_point.numpy(), np.float64)
        if self.has_reference.numpy() > 0.5:
            z = np.where(seen, np.minimum(z, means), z)
        elif seen.all():  # the first estimate needs every task once
            z = means
            self.has_reference.assign(1.0)
        self.reference_point.assign(z.astype(np.float32))
        return {}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mu": self.mu, "preference": self.preference, "reference": self.reference,
                "warmup_epochs": self.warmup_epochs}


def _plain(value, label):
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [float(v) for v in value]
    raise ValueError(f"stch: {label} must be {{task: value}} or a list with one value per task, got {value!r}.")


def _per_task(spec, tasks, label, default) -> np.ndarray:
    if spec is None:
        return np.full(len(tasks), default, np.float64)
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - set(tasks))
        missing = [t for t in tasks if t not in spec] if default is None else []
        if unknown or missing:
            raise ValueError(f"stch: {label} for unknown task(s) {unknown} / missing {missing}; tasks: {list(tasks)}.")
        return np.array([spec.get(t, default) for t in tasks], np.float64)
    if len(spec) != len(tasks):
        raise ValueError(f"stch: {len(spec)} {label} values for {len(tasks)} tasks {list(tasks)}.")
    return np.array(spec, np.float64)
