"""Train-step time with and without XLA (``jit_compile``) per balancer, on this machine's device.

Usage::

    python benchmarks/bench_xla.py [--balancers all] [--model multimnist_lenet] [--batch 256]
        [--steps 20] [--rounds 4] [--warmup 3] [--out results.json]

For each balancer, two copies of the model (same seed, same weights, the same
synthetic batch) are compiled with SGD and the recipe loss, one with
``jit_compile=False`` (TensorFlow graph: oneDNN kernels on CPU) and one with
``jit_compile=True`` (XLA). After every step function is traced and warmed up,
the timed steps are spread over rounds that visit every (balancer, mode) in
turn, so load from other processes hits all alike. Prints one row per balancer:
median ms per step without and with XLA, their ratio (XLA / graph, the median
over rounds of the ratio of the round medians; above 1 means XLA is slower),
and the seconds XLA took to compile the step (the first call).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build(model: str, balancer: str, jit_compile: bool, model_options: dict):
    import keras

    import mtlzoo
    from mtlzoo.training.benchmark import make_balancer, recipe_loss

    keras.utils.set_random_seed(0)
    net = mtlzoo.models.get(model, **model_options)
    net.compile(optimizer=keras.optimizers.SGD(1e-3), loss=recipe_loss(model), metrics=[],
                balancer=make_balancer(balancer), line_search=False, jit_compile=jit_compile)
    return net


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--balancers", default="all", help="comma-separated balancer specs, or all")
    parser.add_argument("--model", default="multimnist_lenet")
    parser.add_argument("--width", type=int, help="the zoo model's width option, if any")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per balancer and mode")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from mtlzoo.training.benchmark import (expand, paired_ratio, recipe_loss, split_steps, synthetic_batch,
                                           time_steps)

    options = {"width": args.width} if args.width else {}
    names = expand(args.balancers.split(","))
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    runs, batch, reference = {}, None, None
    for name in names:
        for jit in (False, True):
            net = build(args.model, name, jit, options)
            if reference is None:
                reference = net
            else:
                for block, layer in net.blocks.items():
                    layer.set_weights(reference.blocks[block].get_weights())
            batch = batch or synthetic_batch(net, args.batch, recipe_loss(args.model))
            start = time.perf_counter()
            net.train_on_batch(*batch)  # traces (and with XLA compiles) the step
            first = time.perf_counter() - start
            data = [(*batch, None)]

            def step(net=net, data=data):
                return float(net.train_function(data)["loss"])

            runs[name, jit] = {"step": step, "first_s": first, "rounds": []}
            print(f"{name} jit_compile={jit}: first step {first:.1f} s", flush=True)
    for run in runs.values():
        time_steps(run["step"], args.warmup)
    for count in split_steps(args.steps, args.rounds):
        for run in runs.values():
            run["rounds"].append(time_steps(run["step"], count))
    rows = []
    for name in names:
        graph, xla = runs[name, False], runs[name, True]
        rows.append({"balancer": name,
                     "graph_ms": 1000 * float(np.median([t for r in graph["rounds"] for t in r])),
                     "xla_ms": 1000 * float(np.median([t for r in xla["rounds"] for t in r])),
                     "xla_over_graph": paired_ratio(xla["rounds"], graph["rounds"]),
                     "xla_compile_s": xla["first_s"], "graph_trace_s": graph["first_s"]})
    print(f"\n{args.model} {options or ''} batch {args.batch} on {device}, {args.steps} steps in {args.rounds} rounds "
          f"(TF {tf.__version__})")
    print(f"{'balancer':<14} {'graph ms':>9} {'XLA ms':>9} {'XLA/graph':>10} {'XLA compile s':>14}")
    for row in rows:
        print(f"{row['balancer']:<14} {row['graph_ms']:9.1f} {row['xla_ms']:9.1f} {row['xla_over_graph']:10.2f} "
              f"{row['xla_compile_s']:14.1f}")
    result = {"args": vars(args), "device": device, "results": rows}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
