"""A ``tf.distribute`` strategy from its name: what ``mtlzoo train --strategy`` and the recipe key ``strategy`` take.

- ``auto``: ``MirroredStrategy`` over every GPU when more than one is visible,
  otherwise TensorFlow's default strategy (one device, no replication).
- ``one_device``: ``OneDeviceStrategy`` on the first GPU, or the CPU.
- ``mirrored``: ``MirroredStrategy`` over every visible GPU; on a machine without
  GPUs over ``MTLZOO_LOGICAL_CPUS=N`` logical CPU devices (one CPU split in N, for
  tests and laptops), or over the one CPU.
- ``multi_worker``: ``MultiWorkerMirroredStrategy`` for the cluster in the
  standard ``TF_CONFIG`` environment variable (Keras' ``fit`` cannot train under it:
  see :func:`~mtlzoo.training.distributed_loop.fit_distributed`).

``MTLZOO_LOGICAL_CPUS`` must be in the environment before TensorFlow initialises its
devices (before the first op or device query of the process), because TensorFlow
fixes the logical devices then: set it in the shell that starts ``mtlzoo train``.
The global batch size stays the recipe's; each replica gets ``batch / replicas``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import tensorflow as tf

NAMES = ("auto", "one_device", "mirrored", "multi_worker")
#: Environment variable: split the CPU into this many logical devices for ``mirrored``.
LOGICAL_CPUS = "MTLZOO_LOGICAL_CPUS"


def logical_cpus(environ: Mapping[str, str] | None = None) -> int | None:
    """The ``MTLZOO_LOGICAL_CPUS`` count, or ``None`` when unset or empty.

    Args:
        environ: the environment to read (default ``os.environ``).

    Example:
        >>> logical_cpus({"MTLZOO_LOGICAL_CPUS": "2"}), logical_cpus({})
        (2, None)
    """
    value = (os.environ if environ is None else environ).get(LOGICAL_CPUS, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{LOGICAL_CPUS} must be a whole number >= 1 (logical CPU devices), got {value!r}.")
    return int(value)


def split_cpu(count: int) -> list[str]:
    """Split the first physical CPU into ``count`` logical devices; their names.

    Idempotent for the same count; raises ``ValueError`` once TensorFlow has fixed
    its devices with another layout.

    Args:
        count: how many logical CPU devices.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if not (current and len(current) == count):
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError:
            raise ValueError(f"{LOGICAL_CPUS}={count}: TensorFlow had already initialised its devices; set it "
                             "in the environment before the process's first TensorFlow call.") from None
    return [f"/cpu:{i}" for i in range(count)]


def configure_devices(name: str | None, environ: Mapping[str, str] | None = None) -> None:
    """Split the CPU for ``name`` (``mirrored`` without GPUs and with ``MTLZOO_LOGICAL_CPUS``) now, before
    anything initialises TensorFlow's devices; nothing for the other names. :func:`get` calls it too.

    Args:
        name: the strategy name.
        environ: the environment (default ``os.environ``).
    """
    cpus = logical_cpus(environ)
    if name == "mirrored" and cpus and not tf.config.list_physical_devices("GPU"):
        split_cpu(cpus)


def get(name: str | tf.distribute.Strategy | None = "auto",
        environ: Mapping[str, str] | None = None) -> tf.distribute.Strategy:
    """The strategy called ``name`` (see the module docstring); a strategy instance is returned as it is.

    Args:
        name: ``"auto"`` (also ``None``), ``"one_device"``, ``"mirrored"``, ``"multi_worker"``, or a strategy.
        environ: the environment to read ``MTLZOO_LOGICAL_CPUS`` and ``TF_CONFIG`` from (default ``os.environ``).

    Example:
        >>> get("auto").num_replicas_in_sync  # on a machine with at most one GPU
        1
        >>> get("two_gpus")
        Traceback (most recent call last):
        ...
        ValueError: strategy must be one of auto, one_device, mirrored, multi_worker; got 'two_gpus'.
    """
    if isinstance(name, tf.distribute.Strategy):
        return name
    name = "auto" if name is None else name
    if name not in NAMES:
        raise ValueError(f"strategy must be one of {', '.join(NAMES)}; got {name!r}.")
    environ = os.environ if environ is None else environ
    cpus = logical_cpus(environ)  # checked whatever the name: a typo should not pass silently
    if name == "multi_worker":
        if not environ.get("TF_CONFIG", "").strip():
            raise ValueError("strategy 'multi_worker' needs TF_CONFIG (the cluster and this worker's task) in the "
                             "environment; use 'mirrored' for the devices of one machine.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [f"/gpu:{i}" for i in range(len(tf.config.list_physical_devices("GPU")))]
    if name == "auto":
        return tf.distribute.MirroredStrategy(gpus) if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
    if gpus:
        return tf.distribute.MirroredStrategy(gpus)
    return tf.distribute.MirroredStrategy(split_cpu(cpus) if cpus else ["/cpu:0"])


__all__ = ["LOGICAL_CPUS", "NAMES", "configure_devices", "get", "logical_cpus", "split_cpu"]
