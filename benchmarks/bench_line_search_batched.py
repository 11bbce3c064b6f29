"""Step time of the Armijo line search walked sequentially vs batched, on one device.

Usage::

    python benchmarks/bench_line_search_batched.py [--width 10] [--batch 256] [--steps 30] [--rounds 6]
        [--warmup 3] [--jit-compile] [--out results.json]

``multimnist_lenet`` with ``mgda_ub`` trains on one synthetic batch, once per
variant: plain SGD (the baseline), and ``fast`` / ``classic`` with seed 001's
settings (eta_ub = 1, beta = 0.1, eps = 1e-10: 35 candidates) walked
``sequential`` (stop at the first accepted candidate; the one-device default) or
``batched`` (every candidate and eps evaluated at once, as under a
``tf.distribute`` strategy). Every variant starts from the same weights; the
timed steps are spread over rounds that visit the variants in turn. Prints
median ms per step, the ratio to SGD (the median over rounds of the ratio of
the round medians) and the mean trials per step the search logged.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SEARCH = {"eta_max": 1.0, "beta": 0.1, "eps": 1e-10}
VARIANTS = {
    "sgd": None,
    "fast/sequential": {"method": "fast", "batched": False},
    "fast/batched": {"method": "fast", "batched": True},
    "classic/sequential": {"method": "classic", "batched": False},
    "classic/batched": {"method": "classic", "batched": True},
}


def build(search, width: int, jit_compile: bool):
    import keras

    import mtlzoo

    keras.utils.set_random_seed(0)
    net = mtlzoo.models.get("multimnist_lenet", width=width)
    net.compile(optimizer=keras.optimizers.SGD(1e-2), loss="sparse_categorical_crossentropy_from_logits",
                balancer="mgda_ub", line_search={**SEARCH, **search} if search else False, jit_compile=jit_compile)
    return net


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=10, help="multimnist_lenet width (10: the zoo's)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per variant, over all rounds")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--jit-compile", action="store_true", help="compile the steps with XLA")
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args(argv)

    import numpy as np

    from mtlzoo.training.benchmark import paired_ratio, split_steps, synthetic_batch, time_steps

    runs, batch, initial = {}, None, None
    for name, search in VARIANTS.items():
        net = build(search, args.width, args.jit_compile)
        initial = initial or [layer.get_weights() for layer in net.blocks.values()]
        for layer, weights in zip(net.blocks.values(), initial):
            layer.set_weights(weights)
        batch = batch or synthetic_batch(net, args.batch, "sparse_categorical_crossentropy_from_logits")
        start = time.perf_counter()
        net.train_on_batch(*batch)
        data = [(*batch, None)]
        trials = []

        def step(net=net, data=data, trials=trials):
            logs = net.train_function(data)
            trials.append(float(logs.get("trials", np.nan)))

        runs[name] = {"net": net, "step": step, "first_s": time.perf_counter() - start, "rounds": [], "trials": trials}
    for run in runs.values():
        time_steps(run["step"], args.warmup)
        run["net"].reset_metrics()  # the logs are running means: from here on, over the timed steps
        run["trials"].clear()
    for count in split_steps(args.steps, args.rounds):
        for run in runs.values():
            run["rounds"].append(time_steps(run["step"], count))
    rows = []
    for name, run in runs.items():
        times = [t for r in run["rounds"] for t in r]
        rows.append({"variant": name, "median_ms": 1000 * float(np.median(times)),
                     "ratio_to_sgd": paired_ratio(run["rounds"], runs["sgd"]["rounds"]),
                     "trials_mean": run["trials"][-1] if run["trials"] else None, "first_step_s": run["first_s"]})
    print(f"multimnist_lenet width {args.width}, batch {args.batch}, mgda_ub, jit_compile={args.jit_compile}, "
          f"{args.steps} steps in {args.rounds} rounds")
    print(f"{'variant':<20} {'ms/step':>9} {'/sgd':>6} {'trials':>7}")
    for row in rows:
        trials = "" if row["trials_mean"] is None or np.isnan(row["trials_mean"]) else f"{row['trials_mean']:.2f}"
        print(f"{row['variant']:<20} {row['median_ms']:9.1f} {row['ratio_to_sgd']:6.2f} {trials:>7}")
    result = {"args": vars(args), "results": rows}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
