"""Why XLA is slower than TensorFlow's graph on CPU for a LeNet train step: the convolutions, op by op.

Usage::

    python benchmarks/bench_xla_conv.py [--batch 256] [--repeats 10]

Times LeNet's two 5x5 convolutions (with max-pool and ReLU, NHWC, float32) as
``tf.function`` without and with ``jit_compile``: the forward pass, the
gradient with respect to the input, the gradient with respect to the filters,
and that last one again inside a ``tf.cond`` (as a train step wrapped in a
data check runs it). Without XLA, TensorFlow runs its oneDNN kernels; XLA:CPU
lowers the convolutions to its own (Eigen) kernels and expresses a filter
gradient as a convolution with batch and features swapped and a 24x24 or 8x8
window. Inside a conditional branch XLA:CPU leaves that convolution in a
non-canonical layout (``dim_labels=f01b_i01o->01bf`` in the optimized HLO),
which its Eigen kernel does not take, and emits a generic loop nest instead.
Prints the median ms of each and the ratio XLA / graph.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    tf.random.set_seed(0)
    x = tf.random.normal((args.batch, 28, 28, 1))
    w1 = tf.Variable(tf.random.normal((5, 5, 1, 10)) * 0.1)
    w2 = tf.Variable(tf.random.normal((5, 5, 10, 20)) * 0.1)

    def forward(inputs):
        h = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(inputs, w1, 1, "VALID")), 2, 2, "VALID")
        h = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(h, w2, 1, "VALID")), 2, 2, "VALID")
        return tf.reduce_sum(h)

    def grad_input(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = forward(inputs)
        return tape.gradient(y, inputs)

    def grad_filter(inputs):
        with tf.GradientTape() as tape:
            y = forward(inputs)
        return tape.gradient(y, [w1, w2])

    def grad_filter_in_cond(inputs):
        return tf.cond(tf.reduce_all(tf.math.is_finite(inputs)), lambda: grad_filter(inputs),
                       lambda: [tf.zeros_like(w1), tf.zeros_like(w2)])

    def median_ms(fn) -> float:
        for _ in range(2):
            tf.nest.map_structure(lambda t: t.numpy(), fn(x))
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy(), fn(x))
            times.append(time.perf_counter() - start)
        return 1000 * float(np.median(times))

    rows = []
    print(f"LeNet convolutions, batch {args.batch}, TF {tf.__version__}, CPU")
    print(f"{'what':<24} {'graph ms':>9} {'XLA ms':>9} {'XLA/graph':>10}")
    for name, fn in (("forward", forward), ("grad wrt input", grad_input), ("grad wrt filters", grad_filter),
                     ("grad wrt filters, cond", grad_filter_in_cond)):
        graph, xla = median_ms(tf.function(fn)), median_ms(tf.function(fn, jit_compile=True))
        rows.append({"what": name, "graph_ms": graph, "xla_ms": xla, "ratio": xla / graph})
        print(f"{name:<24} {graph:9.1f} {xla:9.1f} {xla / graph:10.2f}")
    return rows


if __name__ == "__main__":
    main()
