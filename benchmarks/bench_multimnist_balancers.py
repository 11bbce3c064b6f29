"""Train ``multimnist_lenet`` on real MultiMNIST with each balancer and report per-task test accuracy.

Usage::

    python benchmarks/bench_multimnist_balancers.py [--data-dir ../shared/data] [--epochs 10]
        [--balancers uniform,uncertainty,gradnorm,mgda_ub,hybrid] [--out results.json]

Every run uses the zoo recipe (SGD, lr 0.01, momentum 0.9, batch 256), the same
seed, the same initial weights and the same batches; only the balancer differs.
Prints one line per balancer: test accuracy of each digit, their mean, seconds
per epoch, and for min-norm balancers the last epoch's Pareto-stationary
fraction (seed 000 Fig. 4). ``--out`` also writes the histories as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BALANCERS = "uniform,uncertainty,gradnorm,mgda_ub,hybrid"


def run(balancer: str, data_dir: Path, epochs: int, seed: int, limit: int | None) -> dict:
    """Train one model with ``balancer``; returns its test metrics, history and timing."""
    import keras

    import mtlzoo
    from mtlzoo.seeding import seed_everything

    keras.backend.clear_session()
    seed_everything(seed)
    train = mtlzoo.data.get("multimnist", split="train", data_dir=data_dir, seed=seed, download=False)
    test = mtlzoo.data.get("multimnist", split="test", data_dir=data_dir, seed=seed, download=False)
    if limit:
        train, test = train.take(limit), test.take(max(1, limit // 6))
    model = mtlzoo.models.get("multimnist_lenet")
    model.compile(balancer=balancer)
    start = time.perf_counter()
    history = model.fit(train, epochs=epochs, verbose=0)
    seconds = (time.perf_counter() - start) / epochs
    results = model.evaluate(test, verbose=0, return_dict=True)
    return {"balancer": balancer, "test": {k: float(v) for k, v in results.items()},
            "history": {k: [float(x) for x in v] for k, v in history.history.items()},
            "seconds_per_epoch": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--balancers", default=DEFAULT_BALANCERS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="batches per epoch (quick check)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    print(f"{'balancer':<12} {'left acc':>9} {'right acc':>9} {'mean':>7} {'s/epoch':>8} {'stationary':>10}")
    for name in args.balancers.split(","):
        row = run(name.strip(), args.data_dir, args.epochs, args.seed, args.limit)
        rows.append(row)
        test = row["test"]
        stationary = row["history"].get("pareto_stationary", [float("nan")])[-1]
        mean = (test["left_accuracy"] + test["right_accuracy"]) / 2
        print(f"{row['balancer']:<12} {test['left_accuracy']:>9.4f} {test['right_accuracy']:>9.4f} "
              f"{mean:>7.4f} {row['seconds_per_epoch']:>8.1f} {stationary:>10.3f}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
