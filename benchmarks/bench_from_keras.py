"""Benchmark ``MultiTaskModel.from_keras``: MGDA-UB's step cost on a keras.applications backbone, and the conversion.

Usage::

    python benchmarks/bench_from_keras.py [--batch-size 32] [--steps 40] [--rounds 10] [--out result.json]

Prints:
- the train-step time of ``mgda_ub`` against ``uniform`` on ``from_keras(MobileNetV3Small + 3 heads)``
  (64x64x3 inputs, ``weights=None``, ``include_top=False``, global average pooling, three dense heads),
  the same weights and the same batch for both; the timed steps are interleaved over ``--rounds``
  rounds and the ratio is the median over rounds of the ratio of the two medians (so load from other
  processes cancels out; :func:`mtlzoo.training.benchmark.paired_ratio`). Target: <= 1.10x.
- the seconds ``from_keras`` takes on ResNet50 + 3 heads (the Keras model already built): the first
  call and the median of ``--repeats`` more. Target: < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HEADS = {"species": 10, "pose": 5, "size": 1}
LOSSES = {"species": "sparse_categorical_crossentropy_from_logits",
          "pose": "sparse_categorical_crossentropy_from_logits", "size": "mse"}


def backbone_with_heads(name: str):
    """``keras.applications.<name>`` (64x64x3, no weights, no top) + global pooling + three dense heads."""
    import keras

    base = getattr(keras.applications, name)(input_shape=(64, 64, 3), include_top=False, weights=None)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(base.output)
    outputs = {task: keras.layers.Dense(units, name=f"{task}_head")(pooled) for task, units in HEADS.items()}
    return keras.Model(base.input, outputs, name=name.lower())


def step_ratio(batch_size: int, steps: int, rounds: int, warmup: int) -> dict:
    """Median ms per step of uniform and mgda_ub on from_keras(MobileNetV3Small + 3 heads), and their ratio."""
    import keras
    import numpy as np

    from mtlzoo.training import MultiTaskModel
    from mtlzoo.training.benchmark import paired_ratio, split_steps, synthetic_batch, time_steps

    keras.utils.set_random_seed(0)
    user = backbone_with_heads("MobileNetV3Small")
    runs = {}
    for balancer in ("uniform", "mgda_ub"):
        model = MultiTaskModel.from_keras(user, copy=True, name=f"mnv3_{balancer}")  # same weights, own layers
        model.compile(optimizer=keras.optimizers.SGD(1e-3), loss=LOSSES, balancer=balancer)
        x, y = synthetic_batch(model, batch_size, LOSSES, seed=0)
        start = time.perf_counter()
        model.train_on_batch(x, y)  # traces the step
        data = [(x, y, None)]
        runs[balancer] = {"step": (lambda m=model, d=data: float(m.train_function(d)["loss"])),
                          "first_s": time.perf_counter() - start, "rounds": []}
    for run in runs.values():
        time_steps(run["step"], warmup)
    for count in split_steps(steps, rounds):
        for run in runs.values():
            run["rounds"].append(time_steps(run["step"], count))
    out = {"batch_size": batch_size, "steps": steps, "rounds": rounds}
    for name, run in runs.items():
        flat = [t for r in run["rounds"] for t in r]
        out[name] = {"median_ms": 1000 * float(np.median(flat)), "min_ms": 1000 * float(np.min(flat)),
                     "first_step_s": run["first_s"]}
    out["ratio"] = paired_ratio(runs["mgda_ub"]["rounds"], runs["uniform"]["rounds"])
    out["ratio_of_minimums"] = out["mgda_ub"]["min_ms"] / out["uniform"]["min_ms"]
    return out


def conversion_time(repeats: int) -> dict:
    """Seconds of from_keras(ResNet50 + 3 heads): the first call, and the median of ``repeats`` more."""
    import numpy as np

    from mtlzoo.training import MultiTaskModel

    user = backbone_with_heads("ResNet50")
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        model = MultiTaskModel.from_keras(user)
        times.append(time.perf_counter() - start)
    return {"first_s": times[0], "median_s": float(np.median(times[1:])), "blocks": list(model.tree.blocks),
            "trunk_layers": len(model.tree.block_info["trunk"]["layers"]), "parameters": int(model.count_params())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per balancer")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="from_keras calls timed after the first")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    result = {"conversion": conversion_time(args.repeats),
              "step": step_ratio(args.batch_size, args.steps, args.rounds, args.warmup)}
    conv, step = result["conversion"], result["step"]
    print(f"from_keras(ResNet50 + 3 heads): first call {conv['first_s']:.3f} s, median of {args.repeats} more "
          f"{conv['median_s']:.3f} s (target < 1 s); blocks {conv['blocks']}, {conv['trunk_layers']} trunk layers")
    print(f"from_keras(MobileNetV3Small + 3 heads), batch {step['batch_size']} of 64x64x3: uniform "
          f"{step['uniform']['median_ms']:.1f} ms/step, mgda_ub {step['mgda_ub']['median_ms']:.1f} ms/step; "
          f"mgda_ub/uniform {step['ratio']:.3f}x paired over {step['rounds']} rounds (target <= 1.10x), "
          f"{step['ratio_of_minimums']:.3f}x of the fastest steps")
    if args.out:
        from mtlzoo.atomic_file import atomic_file

        with atomic_file(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
