"""Benchmark the data pipelines: MultiMNIST build time and tf.data throughput beside a LeNet train step.

Usage::

    python benchmarks/bench_data.py [--data-dir ../shared/data] [--batch-size 256] [--repeats 3]

Prints:
- the time to build MultiMNIST 60k + 10k from ``mnist.npz`` (load + pair + canvas +
  resize; target < 5 s on 2 cores), cold (first) and best of ``--repeats``;
- input-pipeline throughput in examples/s for ``multimnist`` (one full training
  epoch, nothing else running), ``multidigits`` and ``mnist_triple`` (mixed and
  curriculum-sampled; MNIST stands in for Fashion-MNIST/KMNIST files that are absent);
- the training throughput of seed 002's MultiMNIST LeNet (shared conv trunk, two
  FC heads) with plain Keras ``fit`` on the same batches held in memory, so the
  two figures can be compared: the pipeline must not be the bottleneck.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]


def build_time(data_dir: Path, repeats: int) -> list[float]:
    """Seconds to load ``mnist.npz`` and build both MultiMNIST splits, per repeat."""
    from mtlzoo.data.multimnist import build_multimnist
    from mtlzoo.data.sources import load_mnist_family

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        arrays = load_mnist_family("mnist", data_dir, download=False)
        train = build_multimnist(arrays["x_train"], arrays["y_train"], seed=0, split="train")
        test = build_multimnist(arrays["x_test"], arrays["y_test"], seed=0, split="test")
        times.append(time.perf_counter() - start)
        assert len(train["images"]) == 60000 and len(test["images"]) == 10000
    return times


def throughput(ds, max_batches: int | None = None) -> tuple[float, int]:
    """Examples per second over one pass of ``ds`` (after one warm-up batch)."""
    it = iter(ds)
    next(it)
    count, start = 0, time.perf_counter()
    for i, batch in enumerate(it):
        count += int(batch[0].shape[0])
        if max_batches and i + 1 >= max_batches:
            break
    return count / (time.perf_counter() - start), count


def lenet_train_throughput(batch_size: int, steps: int) -> float:
    """Examples/s of Keras ``fit`` on seed 002's MultiMNIST LeNet, data already in memory."""
    import keras
    import numpy as np
    import tensorflow as tf

    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(10, 5, activation="relu")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(20, 5, activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Dense(50, activation="relu")(keras.layers.Flatten()(h))
    outputs = {t: keras.layers.Dense(10, name=t)(keras.layers.Dense(50, activation="relu")(h))
               for t in ("left", "right")}
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                  loss={t: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for t in outputs})
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, 28, 28, 1), dtype=np.float32)
    y = {t: rng.integers(0, 10, batch_size).astype("int32") for t in outputs}
    ds = tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(2)
    model.fit(ds, steps_per_epoch=5, epochs=1, verbose=0, shuffle=False)  # trace and warm up
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return steps * batch_size / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100, help="LeNet training steps to time")
    args = parser.parse_args(argv)
    if not (args.data_dir / "mnist.npz").is_file():
        print(f"mnist.npz not found in {args.data_dir}; pass --data-dir", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    import tensorflow as tf

    from mtlzoo import data

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs visible, batch size {args.batch_size}")
    times = build_time(args.data_dir, args.repeats)
    print(f"MultiMNIST build (60k + 10k from mnist.npz): first {times[0]:.2f} s, best {min(times):.2f} s "
          f"(target < 5 s)")
    for name, kwargs in (("multimnist", {"data_dir": args.data_dir}), ("multidigits", {})):
        start = time.perf_counter()
        ds = data.get(name, split="train", batch_size=args.batch_size, **kwargs)
        made = time.perf_counter() - start
        rate, n = throughput(ds)
        print(f"pipeline {name:>12}: {rate:,.0f} examples/s over {n} examples (get() took {made:.2f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        stand_in = []
        for name in ("mnist", "fashion_mnist", "kmnist"):
            src = args.data_dir / f"{name}.npz"
            if not src.is_file():
                src, _ = args.data_dir / "mnist.npz", stand_in.append(name)
            os.symlink(src.resolve(), Path(tmp) / f"{name}.npz")
        for label, kwargs in (("mixed", {}), ("curriculum", {"curriculum": "temperature"})):
            ds = data.get("mnist_triple", batch_size=args.batch_size, data_dir=tmp, **kwargs)
            rate, n = throughput(ds)
            note = f" (MNIST stands in for {', '.join(stand_in)})" if stand_in else ""
            print(f"pipeline mnist_triple {label}: {rate:,.0f} examples/s over {n} examples{note}")
    train_rate = lenet_train_throughput(args.batch_size, args.steps)
    print(f"LeNet (MultiMNIST, 2 heads) training step: {train_rate:,.0f} examples/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
