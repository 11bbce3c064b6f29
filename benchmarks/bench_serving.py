"""`mtlzoo serve` latency and throughput for ``multimnist_lenet``, beside in-process ``model.predict``.

Usage::

    python benchmarks/bench_serving.py [--requests 300] [--warmup 30] [--batch 64] [--batch-requests 60]
        [--clients 1 4] [--rounds 5] [--out results.json]

Builds ``multimnist_lenet`` (default width, seed 0), exports it with
``mtlzoo.tools.export`` to a temporary folder and starts ``mtlzoo serve`` on it
in a separate process (127.0.0.1, a free port), as it is deployed, so client and
server do not share a GIL. The inputs are MultiDigits test images.

Measured, all in one run so machine noise hits every number alike:

- HTTP, single example: ``--requests`` sequential ``:predict`` calls (row
  format, one instance, ``serving_default``: both tasks) on one keep-alive
  connection after ``--warmup`` calls; median and p99 latency. The request body
  is encoded once, so the client's JSON encoding is not timed; the server's
  JSON decoding, validation, prediction and JSON encoding are.
- HTTP, batch ``--batch``: ``--batch-requests`` requests of ``--batch`` rows
  each, from each of ``--clients`` concurrent clients; throughput in examples/s.
- In process, same inputs: ``model.predict(x)`` (Keras' loop: about 45 ms of
  fixed cost per call on CPU, whatever the batch), ``model.predict_on_batch(x)``
  (the compiled predict step alone), the eager call ``model(x, training=False)``,
  and the exported ``serving_default`` signature called on a tensor; median over ``--rounds`` x repetitions,
  interleaved so drift hits them alike.

Checks that the served predictions equal ``model.predict`` to 1e-5, then prints
a table with the ratios of each HTTP figure to ``model.predict`` and to the
direct signature call. ``--out`` writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
MODEL = "multimnist_lenet"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="timed single-example requests")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests first")
    parser.add_argument("--batch", type=int, default=64, help="rows per request in the throughput test")
    parser.add_argument("--batch-requests", type=int, default=60, help="batch requests per client")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4], help="concurrent clients to try")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the in-process timings")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    return parser.parse_args(argv)


def start_server(directory: Path):
    """``mtlzoo serve directory --port 0`` in a child process; returns (process, base URL)."""
    process = subprocess.Popen([sys.executable, "-m", "mtlzoo", "serve", str(directory), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first = process.stdout.readline()
    if not first.startswith("Serving"):
        process.kill()
        raise RuntimeError(f"mtlzoo serve did not start: {first!r}")
    return process, first.split(" at ")[1].split(" ")[0]


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def http_latency(session, url: str, body: bytes, count: int, warmup: int) -> list[float]:
    """Seconds per request for ``count`` sequential requests after ``warmup`` untimed ones."""
    headers = {"Content-Type": "application/json"}
    times = []
    for i in range(warmup + count):
        start = time.perf_counter()
        reply = session.post(url, data=body, headers=headers, timeout=60)
        elapsed = time.perf_counter() - start
        if reply.status_code != 200:
            raise RuntimeError(f"{reply.status_code}: {reply.text[:300]}")
        if i >= warmup:
            times.append(elapsed)
    return times


def http_throughput(url: str, body: bytes, rows: int, per_client: int, clients: int) -> float:
    """Examples per second with ``clients`` concurrent keep-alive clients sending ``per_client`` requests each."""
    import requests

    def client(_):
        with requests.Session() as session:
            http_latency(session, url, body, per_client, warmup=0)

    with ThreadPoolExecutor(clients) as pool:  # one warm-up request per client first
        list(pool.map(lambda _: requests.post(url, data=body, timeout=60), range(clients)))
        start = time.perf_counter()
        list(pool.map(client, range(clients)))
        elapsed = time.perf_counter() - start
    return rows * per_client * clients / elapsed


def in_process_times(calls: dict, rounds: int, repeats: int) -> dict[str, float]:
    """Median seconds per call of each callable, interleaved over ``rounds`` rounds of ``repeats`` calls."""
    samples = {name: [] for name in calls}
    for fn in calls.values():  # warm-up (tracing, tf.data set-up)
        for _ in range(3):
            fn()
    for r in range(rounds):
        names = list(calls)
        names = names[r % len(names):] + names[:r % len(names)]
        for name in names:
            for _ in range(repeats):
                start = time.perf_counter()
                calls[name]()
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    import numpy as np
    import requests
    import tensorflow as tf

    import mtlzoo
    from mtlzoo.testing import seed_everything

    seed_everything(0)
    model = mtlzoo.models.get(MODEL)
    images, _ = next(iter(mtlzoo.data.get("multidigits", split="test", batch_size=args.batch, seed=0)))
    x_batch = np.asarray(images, dtype="float32")
    x_one = x_batch[:1]
    workdir = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    path = mtlzoo.tools.export(model, workdir / MODEL)
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    input_name = next(iter(signature.structured_input_signature[1]))

    process, base = start_server(workdir)
    url = f"{base}/v1/models/{MODEL}:predict"
    try:
        one_body = json.dumps({"instances": x_one.tolist()}).encode()
        batch_body = json.dumps({"instances": x_batch.tolist()}).encode()
        served = requests.post(url, data=batch_body, timeout=60).json()["predictions"]
        want = model.predict(x_batch, verbose=0)
        for task in model.tasks:
            np.testing.assert_allclose([p[task] for p in served], want[task], atol=1e-5, rtol=1e-5)
        with requests.Session() as session:
            latency = http_latency(session, url, one_body, args.requests, args.warmup)
        throughput = {c: http_throughput(url, batch_body, args.batch, args.batch_requests, c) for c in args.clients}
    finally:
        process.terminate()
        process.wait(timeout=60)

    t_one, t_batch = tf.constant(x_one), tf.constant(x_batch)
    local = in_process_times({
        "predict_1": lambda: model.predict(x_one, verbose=0),
        "predict_64": lambda: model.predict(x_batch, verbose=0),
        "predict_on_batch_1": lambda: model.predict_on_batch(x_one),
        "predict_on_batch_64": lambda: model.predict_on_batch(x_batch),
        "call_1": lambda: model(t_one, training=False),
        "call_64": lambda: model(t_batch, training=False),
        "signature_1": lambda: signature(**{input_name: t_one}),
        "signature_64": lambda: signature(**{input_name: t_batch}),
    }, rounds=args.rounds, repeats=max(10, args.requests // (2 * args.rounds)))

    result = {
        "model": MODEL, "params": int(model.count_params()), "batch": args.batch,
        "http_single_median_ms": 1e3 * statistics.median(latency),
        "http_single_p99_ms": 1e3 * percentile(latency, 0.99),
        "http_single_mean_ms": 1e3 * statistics.fmean(latency),
        "http_batch_examples_per_s": {str(c): v for c, v in throughput.items()},
        "in_process_ms": {name: 1e3 * t for name, t in local.items()},
        "in_process_batch_examples_per_s": {name: args.batch / local[f"{name}_64"]
                                            for name in ("predict", "predict_on_batch", "call", "signature")},
    }
    report(result, args)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


LOCAL_LABELS = (("predict", "model.predict(x)"), ("predict_on_batch", "model.predict_on_batch(x)"),
                ("call", "model(x, training=False)"), ("signature", "SavedModel signature call"))


def report(r: dict, args) -> None:
    local = r["in_process_ms"]
    print(f"\n{r['model']} ({r['params']:,} parameters), CPU, {os.cpu_count()} cores; "
          f"HTTP = mtlzoo serve in a child process, row format, serving_default (both tasks)\n")
    print(f"single example ({args.requests} requests)      median ms   p99 ms   x model.predict   x signature")
    median = r["http_single_median_ms"]
    print(f"  HTTP :predict                            {median:9.2f} {r['http_single_p99_ms']:8.2f} "
          f"{median / local['predict_1']:17.2f} {median / local['signature_1']:13.2f}")
    for name, label in LOCAL_LABELS:
        ms = local[f"{name}_1"]
        print(f"  {label:<40} {ms:9.2f} {'':8} {ms / local['predict_1']:17.2f} {ms / local['signature_1']:13.2f}")
    print(f"\nbatch {r['batch']}                                 examples/s   x model.predict   x signature")
    base_predict = r["in_process_batch_examples_per_s"]["predict"]
    base_signature = r["in_process_batch_examples_per_s"]["signature"]
    for clients, rate in r["http_batch_examples_per_s"].items():
        label = f"HTTP :predict, {clients} client(s)"
        print(f"  {label:<40} {rate:10.0f} {rate / base_predict:17.2f} {rate / base_signature:13.2f}")
    for name, label in LOCAL_LABELS:
        rate = r["in_process_batch_examples_per_s"][name]
        print(f"  {label:<40} {rate:10.0f} {rate / base_predict:17.2f} {rate / base_signature:13.2f}")


if __name__ == "__main__":
    main()
