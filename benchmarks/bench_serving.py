"""`mtlzoo serve` latency and throughput for ``multimnist_lenet``, beside in-process ``model.predict``.

Usage::

    python benchmarks/bench_serving.py [--requests 300] [--warmup 30] [--batch 64] [--batch-requests 60]
        [--clients 1 4] [--rounds 5] [--stages single batch mixed local] [--mixed-clients 50]
        [--mixed-requests 40] [--mixed-bad 0.3] [--mixed-stalled 10] [--mixed-seconds 120] [--out results.json]

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

- HTTP, mixed load (``--stages mixed``): ``--mixed-clients`` (50) concurrent keep-alive
  clients (one asyncio client in this process, raw HTTP/1.1, so the client costs little
  CPU) each send ``--mixed-requests`` requests, a fraction ``--mixed-bad`` of them bad
  (malformed JSON, wrong shape, strings, a 5000-digit integer, an integer beyond float32, a
  5000-digit version, an unknown model, a JSON array), while ``--mixed-stalled``
  connections sit open sending nothing; p50/p99 latency of the valid (200) requests and
  of the bad ones (each must get its 4xx), requests/s. The whole stage stops after
  ``--mixed-seconds`` whatever happens.

Checks that the served predictions equal ``model.predict`` to 1e-5, then prints
a table with the ratios of each HTTP figure to ``model.predict`` and to the
direct signature call. ``--out`` writes everything as JSON. Only 127.0.0.1 is
contacted.
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
STAGES = ("single", "batch", "mixed", "local")
HOST = "127.0.0.1"  # the only address this benchmark contacts


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="timed single-example requests")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests first")
    parser.add_argument("--batch", type=int, default=64, help="rows per request in the throughput test")
    parser.add_argument("--batch-requests", type=int, default=60, help="batch requests per client")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4], help="concurrent clients to try")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the in-process timings")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES, help="what to measure")
    parser.add_argument("--mixed-clients", type=int, default=50, help="concurrent clients of the mixed load")
    parser.add_argument("--mixed-requests", type=int, default=40, help="requests per client of the mixed load")
    parser.add_argument("--mixed-bad", type=float, default=0.3, help="fraction of bad requests in the mixed load")
    parser.add_argument("--mixed-stalled", type=int, default=10, help="idle connections held during the mixed load")
    parser.add_argument("--mixed-seconds", type=float, default=120.0, help="the mixed load stops after this")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    return parser.parse_args(argv)


def start_server(directory: Path):
    """``mtlzoo serve directory --port 0`` in a child process; returns (process, base URL)."""
    process = subprocess.Popen([sys.executable, "-m", "mtlzoo", "serve", str(directory), "--host", HOST,
                                "--port", "0"],
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


def mixed_requests(x_one) -> tuple[bytes, list[tuple[str, bytes, str]]]:
    """The good request body and the bad requests ``(path, body, kind)`` of the mixed load."""
    good = json.dumps({"instances": x_one.tolist()}).encode()
    predict = f"/v1/models/{MODEL}:predict"
    row = x_one[0].tolist()
    bad = [
        (predict, good[: len(good) // 2], "malformed JSON"),
        (predict, json.dumps({"instances": [row[:20]]}).encode(), "wrong shape"),
        (predict, json.dumps({"instances": [["a"] * 28]}).encode(), "strings"),
        (predict, b'{"instances": [' + b"1" * 5000 + b"]}", "5000-digit integer"),
        (predict, json.dumps({"instances": [[[[10 ** 40]] * 28] * 28]}).encode(), "integer beyond float32"),
        (f"/v1/models/{MODEL}/versions/{'9' * 5000}:predict", good, "5000-digit version"),
        ("/v1/models/nope:predict", good, "unknown model"),
        (predict, b"[1, 2, 3]", "JSON array"),
    ]
    return good, bad


async def _exchange(reader, writer, path: str, body: bytes) -> tuple[int, bool]:
    """One POST on an open keep-alive connection: ``(status, server closes)``."""
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers.get("connection") == "close"


async def _mixed_load(port: int, good: bytes, bad: list, clients: int, per_client: int, bad_fraction: float,
                      stalled: int, seconds: float) -> dict:
    import asyncio
    import random

    good_path = f"/v1/models/{MODEL}:predict"
    records, failures = [], []
    idle = [await asyncio.open_connection(HOST, port) for _ in range(stalled)]  # they send nothing

    async def client(index: int) -> None:
        rng = random.Random(index)
        reader = writer = None
        for i in range(per_client):
            is_bad = rng.random() < bad_fraction
            path, body, kind = bad[(index + i) % len(bad)] if is_bad else (good_path, good, "good")
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                start = time.perf_counter()
                status, closes = await _exchange(reader, writer, path, body)
                records.append((kind, status, time.perf_counter() - start))
                if closes:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                failures.append(f"{kind}: {type(error).__name__}")
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()

    start = time.perf_counter()
    tasks = [asyncio.ensure_future(client(c)) for c in range(clients)]
    done, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    wall = time.perf_counter() - start
    for _, writer in idle:
        writer.close()
    valid = [t for kind, status, t in records if kind == "good" and status == 200]
    wrong = [(kind, status) for kind, status, _ in records if (kind == "good") != (status == 200)
             or (kind != "good" and not 400 <= status < 500)]
    invalid = [t for kind, status, t in records if kind != "good"]
    return {"clients": clients, "requests": len(records), "valid": len(valid), "bad": len(invalid),
            "wrong_status": len(wrong), "wrong_examples": sorted(set(map(str, wrong)))[:8],
            "connection_failures": len(failures), "unfinished_clients": len(pending), "wall_s": wall,
            "requests_per_s": len(records) / wall, "stalled_connections": stalled,
            "valid_p50_ms": 1e3 * percentile(valid, 0.50) if valid else None,
            "valid_p99_ms": 1e3 * percentile(valid, 0.99) if valid else None,
            "bad_p50_ms": 1e3 * percentile(invalid, 0.50) if invalid else None,
            "bad_p99_ms": 1e3 * percentile(invalid, 0.99) if invalid else None}


def mixed_load(base: str, x_one, args) -> dict:
    """The mixed stage against the server at ``base`` (http://127.0.0.1:PORT)."""
    import asyncio

    good, bad = mixed_requests(x_one)
    port = int(base.rsplit(":", 1)[1])
    return asyncio.run(_mixed_load(port, good, bad, args.mixed_clients, args.mixed_requests, args.mixed_bad,
                                   args.mixed_stalled, args.mixed_seconds))


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
    result = {"model": MODEL, "params": int(model.count_params()), "batch": args.batch, "stages": args.stages}

    if {"single", "batch", "mixed"} & set(args.stages):
        process, base = start_server(workdir)
        url = f"{base}/v1/models/{MODEL}:predict"
        try:
            one_body = json.dumps({"instances": x_one.tolist()}).encode()
            batch_body = json.dumps({"instances": x_batch.tolist()}).encode()
            served = requests.post(url, data=batch_body, timeout=60).json()["predictions"]
            want = model.predict(x_batch, verbose=0)
            for task in model.tasks:
                np.testing.assert_allclose([p[task] for p in served], want[task], atol=1e-5, rtol=1e-5)
            if "single" in args.stages:
                with requests.Session() as session:
                    latency = http_latency(session, url, one_body, args.requests, args.warmup)
                result.update(http_single_median_ms=1e3 * statistics.median(latency),
                              http_single_p99_ms=1e3 * percentile(latency, 0.99),
                              http_single_mean_ms=1e3 * statistics.fmean(latency))
            if "batch" in args.stages:
                result["http_batch_examples_per_s"] = {
                    str(c): http_throughput(url, batch_body, args.batch, args.batch_requests, c) for c in args.clients}
            if "mixed" in args.stages:
                result["mixed"] = mixed_load(base, x_one, args)
        finally:
            process.terminate()
            process.wait(timeout=60)

    if "local" in args.stages:
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
        result["in_process_ms"] = {name: 1e3 * t for name, t in local.items()}
        result["in_process_batch_examples_per_s"] = {name: args.batch / local[f"{name}_64"]
                                                     for name in ("predict", "predict_on_batch", "call", "signature")}
    report(result, args)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


LOCAL_LABELS = (("predict", "model.predict(x)"), ("predict_on_batch", "model.predict_on_batch(x)"),
                ("call", "model(x, training=False)"), ("signature", "SavedModel signature call"))


def report(r: dict, args) -> None:
    local = r.get("in_process_ms")
    print(f"\n{r['model']} ({r['params']:,} parameters), CPU, {os.cpu_count()} cores; "
          f"HTTP = mtlzoo serve in a child process, row format, serving_default (both tasks)\n")
    if "http_single_median_ms" in r:
        print(f"single example ({args.requests} requests)      median ms   p99 ms   x model.predict   x signature")
        median = r["http_single_median_ms"]
        ratios = f"{median / local['predict_1']:17.2f} {median / local['signature_1']:13.2f}" if local else ""
        print(f"  HTTP :predict                            {median:9.2f} {r['http_single_p99_ms']:8.2f} {ratios}")
    if local:
        for name, label in LOCAL_LABELS:
            ms = local[f"{name}_1"]
            print(f"  {label:<40} {ms:9.2f} {'':8} {ms / local['predict_1']:17.2f} "
                  f"{ms / local['signature_1']:13.2f}")
    if "http_batch_examples_per_s" in r or local:
        print(f"\nbatch {r['batch']}                                 examples/s   x model.predict   x signature")
    rates = r.get("in_process_batch_examples_per_s", {})
    for clients, rate in r.get("http_batch_examples_per_s", {}).items():
        label = f"HTTP :predict, {clients} client(s)"
        ratios = f"{rate / rates['predict']:17.2f} {rate / rates['signature']:13.2f}" if rates else ""
        print(f"  {label:<40} {rate:10.0f} {ratios}")
    for name, label in LOCAL_LABELS if rates else ():
        rate = rates[name]
        print(f"  {label:<40} {rate:10.0f} {rate / rates['predict']:17.2f} {rate / rates['signature']:13.2f}")
    if "mixed" in r:
        m = r["mixed"]
        print(f"\nmixed load: {m['clients']} clients, {m['requests']} requests ({m['valid']} valid, {m['bad']} bad), "
              f"{m['stalled_connections']} idle connections held, {m['wall_s']:.1f} s, {m['requests_per_s']:.0f} "
              f"requests/s")
        print(f"  valid requests (200):  p50 {m['valid_p50_ms']:.1f} ms   p99 {m['valid_p99_ms']:.1f} ms")
        if m["bad_p50_ms"] is not None:
            print(f"  bad requests (4xx):    p50 {m['bad_p50_ms']:.1f} ms   p99 {m['bad_p99_ms']:.1f} ms")
        print(f"  wrong statuses {m['wrong_status']} {m['wrong_examples']}, connection failures "
              f"{m['connection_failures']}, unfinished clients {m['unfinished_clients']}")


if __name__ == "__main__":
    main()
