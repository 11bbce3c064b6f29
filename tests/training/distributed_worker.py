"""Distributed-training checks that must run in their own process (not a test module).

TensorFlow fixes its logical devices and its cluster when it initialises, so
``tests/training/test_distribution.py`` runs this script with ``sys.executable``
and asserts on what it writes. Every mode trains a tiny ``multimnist_lenet``
(``width=2``, global batch 8, SGD with momentum) on deterministic synthetic
data without sample weights.

Modes:
    ``mirrored OUT.json [--balancers ...]``: for each balancer, train the same
        model on one device and under ``MirroredStrategy`` over two logical CPU
        devices, and write the largest differences (weights, logs, balancer
        state) after the first step and after 3 epochs of ``fit`` (and, for the
        ``--train-on-batch`` balancers, after one more ``train_on_batch``), plus
        how far the replicas' copies of each variable differ from each other.
        ``NAME+fast`` / ``NAME+classic`` train with that Armijo line search (sequential on
        one device, batched under the strategy).
    ``batchnorm OUT.json [--balancers ...] [--synchronized-bn]``: the same
        comparison for ``lenet_bn_tree``, whose ``BatchNormalization`` layers
        normalize each replica's own half batch unless ``--synchronized-bn``.
    ``worker OUT.npz [--run-folder DIR]``: one ``MultiWorkerMirroredStrategy`` worker
        (``TF_CONFIG`` from the environment) running 6 ``mgda_ub`` train steps; writes its
        weights and logs (see :func:`replica_loop` for why not ``fit``), and, on the chief,
        the run folder's history and checkpoint.
    ``single OUT.npz``: the same training with ``fit`` in one process without a strategy.

Example:
    python tests/training/distributed_worker.py mirrored /tmp/out.json --balancers uniform mgda_ub
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402  (importing does not initialise TensorFlow's devices yet)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import mtlzoo  # noqa: E402
from mtlzoo.testing import seed_everything  # noqa: E402

#: Balancers checked by default; hybrid switches to its MGDA-UB phase after its second epoch.
BALANCERS = {
    "uniform": "uniform",
    "uncertainty": "uncertainty",
    "gradnorm": "gradnorm",
    "mgda": "mgda",
    "mgda_ub": "mgda_ub",
    "hybrid": {"class_name": "hybrid", "config": {"epsilon": 10.0}},
    "pcgrad": "pcgrad",
}
#: Balancers whose check also runs ``train_on_batch`` (Keras gives every replica the whole batch there).
TRAIN_ON_BATCH = ("mgda_ub",)
GLOBAL_BATCH = 8
TASKS = ("left", "right")


def synthetic_data(n: int = 32, seed: int = 0, weighted: bool = False):
    """``(x, {task: labels})``: uniform 28x28x1 images and random digit labels; with ``weighted``
    also ``{task: sample weights}`` (partial labels: random 0/1 masks with unequal sums per replica)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28, 1), dtype="float32")
    y = {t: rng.integers(0, 10, n).astype("int32") for t in TASKS}
    if not weighted:
        return x, y
    return x, y, {t: (rng.random(n) < 0.6).astype("float32") * rng.uniform(0.5, 2.0, n).astype("float32")
                  for t in TASKS}


def take(data, start: int, stop: int):
    return tuple({t: v[start:stop] for t, v in part.items()} if isinstance(part, dict) else part[start:stop]
                 for part in data)


def build(balancer, model: str = "multimnist_lenet", synchronized_bn: bool = False, line_search=None):
    """A seeded, compiled zoo model with tasks left/right (build it inside ``strategy.scope()`` to
    distribute it); ``synchronized_bn`` makes its batch norms use moments over all replicas."""
    seed_everything(0)
    net = mtlzoo.models.get(model, width=2, tasks=TASKS)
    for layer in sublayers(net):
        if synchronized_bn and isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True  # read at call time: the moments are all-reduced across replicas
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                loss="sparse_categorical_crossentropy_from_logits", balancer=balancer,
                line_search=line_search or False)
    return net


def sublayers(layer):
    """Every layer nested in ``layer`` (blocks are functional or sequential sub-models)."""
    for child in getattr(layer, "layers", []):
        yield child
        yield from sublayers(child)


def model_weights(model) -> dict:
    """``{path: array}`` of the network's variables (trainable, BN statistics), balancer excluded."""
    own = {id(v) for v in model.balancer.weights}
    return {v.path: np.array(v.numpy()) for v in model.weights if id(v) not in own}


def balancer_state(model) -> dict:
    """``{name: array}`` of the balancer's variables, keyed without the layer's own name."""
    return {v.path.split("/", 1)[-1]: np.array(v.numpy()) for v in model.balancer.weights}


def max_diff(a: dict, b: dict) -> float:
    """Largest absolute difference between two ``{name: array}`` dicts with the same keys."""
    if set(a) != set(b):
        raise ValueError(f"variables differ: {sorted(set(a) ^ set(b))}")
    return max((float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a if np.size(a[k])),
               default=0.0)


def logs_diff(a: dict, b: dict) -> float:
    """Largest absolute difference between two Keras logs / histories (same keys required)."""
    if set(a) != set(b):
        raise ValueError(f"logged keys differ: {sorted(set(a) ^ set(b))}")
    return max((float(np.max(np.abs(np.asarray(a[k], "float64") - np.asarray(b[k], "float64")))) for k in a),
               default=0.0)


def replica_spread(model, strategy) -> float:
    """Largest difference between the replicas' copies of any variable (0 when they agree)."""
    spread = 0.0
    for v in model.weights:
        copies = [c.numpy() for c in strategy.experimental_local_results(v.value)]  # one per device
        spread = max([spread] + [float(np.max(np.abs(c - copies[0]))) if c.size else 0.0 for c in copies])
    return spread


class FirstStep(keras.callbacks.Callback):
    """Keeps the weights, balancer state and logs after the first train step of a ``fit``."""

    def __init__(self):
        super().__init__()
        self.seen = None

    def on_train_batch_end(self, batch, logs=None):
        if self.seen is None:
            self.seen = {"weights": model_weights(self.model), "state": balancer_state(self.model),
                         "logs": {k: float(v) for k, v in (logs or {}).items()}}


def run_schedule(model, data, train_on_batch: bool = True) -> dict:
    """``fit`` 3 epochs of 2 global batches (hybrid switches phase after the second), then one
    ``train_on_batch``; the weights, balancer state and logs after the first step and each stage."""
    first = FirstStep()
    x, y, *weights = take(data, 0, 16)
    history = model.fit(x, y, sample_weight=weights[0] if weights else None, batch_size=GLOBAL_BATCH, epochs=3,
                        shuffle=False, verbose=0, callbacks=[first]).history
    out = {f"first_{k}": v for k, v in first.seen.items()}
    out.update(fit_logs=history, fit_weights=model_weights(model), fit_state=balancer_state(model))
    if train_on_batch:
        out["batch_logs"] = model.train_on_batch(*take(data, 16, 24), return_dict=True)
        out["batch_weights"], out["batch_state"] = model_weights(model), balancer_state(model)
    return out


def compare(single: dict, mirrored: dict) -> dict:
    """Largest differences, stage by stage, between the one-device and the mirrored run."""
    stages = [s for s in ("first", "fit", "batch") if f"{s}_logs" in single]
    report = {}
    for stage in stages:
        report[f"{stage}_weights"] = max_diff(single[f"{stage}_weights"], mirrored[f"{stage}_weights"])
        report[f"{stage}_state"] = max_diff(single[f"{stage}_state"], mirrored[f"{stage}_state"])
        report[f"{stage}_logs"] = logs_diff(single[f"{stage}_logs"], mirrored[f"{stage}_logs"])
    report["logs"] = {stage: {k: [float(x) for x in (v if isinstance(v, list) else [v])]
                              for k, v in mirrored[f"{stage}_logs"].items()} for stage in stages}
    report["state"] = {k: v.tolist() for k, v in mirrored["fit_state"].items()}
    return report


def two_cpus():
    """``mtlzoo train --strategy mirrored`` with ``MTLZOO_LOGICAL_CPUS=2``: the one physical CPU split into two
    logical devices (before TensorFlow initialises), mirrored over both."""
    from mtlzoo.training import strategies

    return strategies.get("mirrored", environ={"MTLZOO_LOGICAL_CPUS": "2"})


def mirrored(out: str, names, model: str = "multimnist_lenet", train_on_batch=(), synchronized_bn=False) -> None:
    # One strategy for every model: a second MirroredStrategy in the same process restarts the
    # collective instance keys, and TensorFlow's collective executor rejects the reused keys.
    strategy = two_cpus()
    report = {}
    for name in names:
        start = time.perf_counter()
        # "mgda_ub+weighted": with partial-label sample weights; "mgda_ub+fast": with that line search
        name, _, variant = name.partition("+")
        data = synthetic_data(weighted=variant == "weighted")
        # eta_ub too large for the first steps: the search backtracks (batched under the strategy)
        search = {"method": variant, "eta_max": 4.0} if variant in ("fast", "classic") else None
        if variant:
            name = f"{name}+{variant}"
        balancer = BALANCERS.get(name.partition("+")[0], name.partition("+")[0])
        if variant in ("latent", "parameters"):  # "imtl+parameters": that space
            balancer = {"class_name": balancer, "config": {"space": variant}}
        single = build(balancer, model, synchronized_bn, search)
        initial = single.get_weights()
        reference = run_schedule(single, data, name in train_on_batch)
        with strategy.scope():
            distributed = build(balancer, model, synchronized_bn, search)
        distributed.set_weights(initial)
        result = compare(reference, run_schedule(distributed, data, name in train_on_batch))
        result["replica_spread"] = replica_spread(distributed, strategy)
        result["replicas"] = strategy.num_replicas_in_sync
        result["seconds"] = time.perf_counter() - start
        report[name] = result
    with open(out, "w") as f:
        json.dump(report, f, indent=1)


def replica_loop(model, strategy, dataset, epochs: int, run_folder: str | None = None) -> dict:
    """The history of :func:`mtlzoo.training.distributed_loop.fit_distributed` (``model.train_step`` under
    ``strategy.run``, epoch by epoch): Keras 3's own ``fit`` cannot train under a multi-worker strategy
    (keras-team/keras#20585). With ``run_folder``, a ``RunFolderCallback`` writing there is passed, which
    only the chief runs."""
    from mtlzoo.cli.run_folder_callback import RunFolderCallback
    from mtlzoo.training.distributed_loop import fit_distributed

    callbacks = [RunFolderCallback(run_folder)] if run_folder else []
    return fit_distributed(model, dataset, epochs, strategy, callbacks=callbacks, verbose=0).history


def multi_worker_fit(out: str, strategy=None, epochs: int = 2, run_folder: str | None = None) -> None:
    """Train ``mgda_ub`` for 2 epochs of 3 global batches; save the weights and the history.

    Without a strategy this is plain ``fit`` (the reference); under one, :func:`replica_loop`
    (with ``run_folder``: the chief writes its history and checkpoint there).
    """
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = build("mgda_ub")
    x, y = synthetic_data(24)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    options = tf.data.Options()
    # each worker takes its half of every global batch (no input files to shard by)
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)
    initial = model_weights(model)
    if strategy is None:
        history = model.fit(dataset, epochs=epochs, verbose=0).history
    else:
        history = replica_loop(model, strategy, dataset, epochs, run_folder)
    arrays = {f"initial:{k}": v for k, v in initial.items()}
    arrays.update({f"final:{k}": v for k, v in model_weights(model).items()})
    arrays.update({f"history:{k}": np.asarray(v, "float64") for k, v in history.items()})
    arrays["replicas"] = np.asarray(strategy.num_replicas_in_sync if strategy is not None else 1)
    np.savez(out, **arrays)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("mirrored", "batchnorm", "worker", "single"))
    parser.add_argument("out", help="where to write the report (.json) or the weights (.npz)")
    parser.add_argument("--balancers", nargs="+", default=list(BALANCERS), help="balancers to check")
    parser.add_argument("--train-on-batch", nargs="*", default=list(TRAIN_ON_BATCH),
                        help="balancers whose check ends with a train_on_batch step")
    parser.add_argument("--run-folder", help="worker mode: the run folder this worker's callbacks write to")
    parser.add_argument("--synchronized-bn", action="store_true",
                        help="batchnorm mode: batch statistics over all replicas (synchronized=True)")
    args = parser.parse_args(argv)
    keras.config.disable_traceback_filtering()  # full tracebacks in the workers' stderr
    if args.mode == "mirrored":
        mirrored(args.out, args.balancers, train_on_batch=args.train_on_batch)
    elif args.mode == "batchnorm":
        mirrored(args.out, args.balancers, model="lenet_bn_tree", train_on_batch=args.train_on_batch,
                 synchronized_bn=args.synchronized_bn)
    elif args.mode == "worker":
        if "TF_CONFIG" not in os.environ:
            sys.exit("worker mode needs TF_CONFIG with the cluster and this worker's index")
        from mtlzoo.training import strategies

        multi_worker_fit(args.out, strategies.get("multi_worker"), run_folder=args.run_folder)
    else:
        multi_worker_fit(args.out)


if __name__ == "__main__":
    main()
