"""Armijo line search on real MultiMNIST: fast vs classical backtracking vs SGD at fixed rates (seed 001 §5).

Usage::

    python benchmarks/bench_line_search.py [--data-dir ../shared/data] [--epochs 5] [--limit N]
        [--rates 8] [--lr-min 1e-3] [--lr-max 1e-1] [--timing-rounds 20] [--timing-steps 5]
        [--no-timing] [--out results.json]

Trains ``multimnist_lenet`` with balancer ``mgda_ub`` and the same seed, the
same initial weights and the same batches (batch 256), once per method:

- ``fast``: fast backtracking in the latent space (seed 001 Alg. 4.2, rule 4.2),
- ``classic``: classical backtracking in parameter space (Alg. 4.1, rule 4.1),
- ``sgd@<lr>``: plain SGD (no momentum) at ``--rates`` learning rates
  log-spaced in ``[--lr-min, --lr-max]`` (seed 001: 8 rates in [1e-3, 1e-1]).

The searches use seed 001's settings (eta_ub = 1, beta = 0.1, eps = 1e-10,
eta_ub halved every 10 epochs). Prints one line per run: test accuracy of each
digit after the last epoch and averaged over the last ``--smooth`` epochs
(``@k``; the test set is evaluated after every epoch, and large steps make the
last-epoch value swing by points), mean eta, mean trials and the share of steps
accepted at eta_ub, seconds per epoch (training only). Then the best fixed rate
(highest mean accuracy) and whether each search is within ``--tolerance``
(0.5 points) of it on both tasks: after the last epoch (the acceptance test)
and on the ``@k`` averages.

Timing: in one process, after warm-up, the three methods (fast, classic, SGD
at the best rate) run ``train_on_batch`` on one fixed batch, interleaved in
rounds (the order rotates each round) so machine noise hits all alike; the
median step times and their ratios are reported (seed 001 Table 1: fast/SGD
1.05, classic/SGD 1.37), once from the shared initial weights and once from
each method's trained weights (the number of trials, hence the cost of a
search, changes along training). ``--out`` writes everything as JSON,
including each line search's per-step eta/trials history.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
BALANCER = "mgda_ub"
#: Seed 001 §5: eta_ub = 1, beta = 0.1, eps = 1e-10, eta_ub halved every 10 epochs.
SEARCH = {"eta_max": 1.0, "beta": 0.1, "eps": 1e-10, "decay": 0.5, "decay_every": 10}
SEARCHES = ("fast", "classic")


def load_data(data_dir: Path, seed: int, limit: int | None, name: str = "multimnist"):
    """The seeded MultiMNIST train/test pipelines (rebuilt per run, so every run sees the same batches).

    ``name``: ``multimnist`` (seed 002's construction) or ``multimnist_shift`` (seed 001 §5.1's overlay).
    """
    import mtlzoo

    train = mtlzoo.data.get(name, split="train", data_dir=data_dir, seed=seed, download=False)
    test = mtlzoo.data.get(name, split="test", data_dir=data_dir, seed=seed, download=False)
    if limit:
        train, test = train.take(limit), test.take(max(1, limit // 6))
    return train, test


def build(method: str, lr: float | None, weights: list | None):
    """``multimnist_lenet`` compiled for ``method`` (``fast``/``classic``/``sgd``), starting from ``weights``.

    Args:
        method: ``"fast"``, ``"classic"`` or ``"sgd"``.
        lr: the SGD learning rate (``"sgd"`` only).
        weights: values of ``model.weights`` taken before compile (``None``: keep the fresh ones).

    Returns:
        ``(model, variables)``: the compiled model and its network weights (those ``weights`` filled).
    """
    import keras

    import mtlzoo

    model = mtlzoo.models.get("multimnist_lenet")
    variables = list(model.weights)
    if weights is not None:
        for variable, value in zip(variables, weights, strict=True):
            variable.assign(value)
    if method in SEARCHES:
        model.compile(balancer=BALANCER, line_search={"method": method, **SEARCH})
    elif method == "sgd":
        model.compile(balancer=BALANCER, optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=0.0))
    else:
        raise ValueError(f"method must be one of {SEARCHES + ('sgd',)}, got {method!r}.")
    return model, variables


def initial_weights(seed: int) -> list:
    """The seeded initial values of ``multimnist_lenet``'s weights (shared by every run)."""
    import keras

    import mtlzoo
    from mtlzoo.seeding import seed_everything

    keras.backend.clear_session()
    seed_everything(seed)
    return [v.numpy() for v in mtlzoo.models.get("multimnist_lenet").weights]


def step_history_callback(store: dict):
    """A callback filling ``store["eta"|"trials"|"skipped"]`` with per-step values.

    ``fit`` logs running epoch means; the step's own value is
    ``k * mean_k - (k - 1) * mean_(k-1)``. ``store["first_loss"]`` is the loss of
    the first step (equal across runs that share initial weights and batches).
    """
    import keras

    class StepHistory(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.previous = {}

        def on_train_batch_end(self, batch, logs=None):
            for name in ("eta", "trials", "skipped"):
                if logs and name in logs:
                    mean = float(logs[name])
                    value = (batch + 1) * mean - batch * self.previous.get(name, 0.0)
                    store.setdefault(name, []).append(value)
                    self.previous[name] = mean
            if logs and not store.get("first_loss"):
                store["first_loss"] = float(logs["loss"])

    return StepHistory()


def epoch_test_callback(test, store: dict):
    """A callback evaluating ``test`` after every epoch into ``store["<metric>"]`` lists (and its seconds)."""
    import keras

    class EpochTest(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            start = time.perf_counter()
            for k, v in self.model.evaluate(test, verbose=0, return_dict=True).items():
                store.setdefault(k, []).append(float(v))
            store["seconds"] = store.get("seconds", 0.0) + time.perf_counter() - start

    return EpochTest()


def summarize_steps(steps: dict) -> dict:
    """Statistics of a line search's per-step history (eta quantiles, trials, steps at eps)."""
    import numpy as np

    if not steps.get("eta"):
        return {}
    eta = np.asarray(steps["eta"])
    trials = np.rint(np.asarray(steps["trials"])).astype(int)
    counts = np.bincount(trials)
    return {"steps": int(eta.size), "eta_mean": float(eta.mean()),
            "eta_quantiles": {q: float(np.quantile(eta, float(q))) for q in ("0.05", "0.25", "0.5", "0.75", "0.95")},
            "trials_mean": float(trials.mean()), "trials_max": int(trials.max()),
            "fraction_at_eta_ub": float((trials == 1).mean()),
            "trials_histogram": {str(k): int(c) for k, c in enumerate(counts) if c},
            "steps_at_eps": int((eta <= SEARCH["eps"] * 1.5).sum()),
            "steps_skipped": int(np.rint(np.asarray(steps.get("skipped", [0.0]))).sum())}


def train_run(method: str, lr: float | None, weights: list, args) -> dict:
    """Train one method from ``weights``; returns its test metrics, history, step statistics and timing."""
    import keras

    from mtlzoo.seeding import seed_everything

    keras.backend.clear_session()
    seed_everything(args.seed)
    train, test = load_data(args.data_dir, args.seed, args.limit, args.data)
    model, variables = build(method, lr, weights)
    steps: dict = {}
    per_epoch: dict = {}
    start = time.perf_counter()
    history = model.fit(train, epochs=args.epochs, verbose=0,
                        callbacks=[step_history_callback(steps), epoch_test_callback(test, per_epoch)])
    seconds = (time.perf_counter() - start - per_epoch.pop("seconds", 0.0)) / args.epochs
    results = {k: v[-1] for k, v in per_epoch.items()}
    k = min(args.smooth, args.epochs)
    name = method if lr is None else f"sgd@{lr:.2e}"
    first_loss = steps.pop("first_loss", float("nan"))
    return {"name": name, "method": method, "learning_rate": lr,
            "test": results, "test_per_epoch": per_epoch,
            "test_last_epochs_mean": {name: float(sum(v[-k:]) / k) for name, v in per_epoch.items()},
            "history": {k: [float(x) for x in v] for k, v in history.history.items()},
            "steps": summarize_steps(steps),
            "step_history": {k: [round(x, 8) for x in v] for k, v in steps.items()},
            "seconds_per_epoch": seconds, "first_step_loss": first_loss,
            "diverged": not all(math.isfinite(float(v)) for v in results.values()),
            "trained_weights": [v.numpy() for v in variables]}


def time_steps(contenders: dict, args, label: str) -> dict:
    """Median ``train_on_batch`` time per step of each contender on one fixed batch, interleaved in rounds.

    Args:
        contenders: ``{name: (method, lr, weights)}``.
        args: the parsed arguments (seed, data, rounds, steps, warm-up).
        label: a name for this measurement (``"init"``/``"trained"``).
    """
    import keras
    import numpy as np

    from mtlzoo.seeding import seed_everything

    keras.backend.clear_session()
    seed_everything(args.seed)
    train, _ = load_data(args.data_dir, args.seed, args.limit, args.data)
    x, y = next(iter(train))
    from mtlzoo.training.step_timing import interleaved_rounds

    models = {name: build(method, lr, weights)[0] for name, (method, lr, weights) in contenders.items()}
    names = list(models)
    timed = interleaved_rounds({n: partial(models[n].train_on_batch, x, y, return_dict=True) for n in names},
                               [args.timing_steps] * args.timing_rounds, warmup=args.warmup, rotate=True)
    times = {n: [sum(part) / args.timing_steps for part in timed["seconds"][n]] for n in names}
    logs = timed["outputs"]
    median = {name: statistics.median(t) for name, t in times.items()}
    sgd = next(n for n in names if n.startswith("sgd"))
    ratios = {"fast/sgd": median["fast"] / median[sgd], "classic/sgd": median["classic"] / median[sgd],
              "fast/classic": median["fast"] / median["classic"]}
    searches = {name: {"eta_mean": float(np.mean([o["eta"] for o in logs[name]])),
                       "trials_mean": float(np.mean([o["trials"] for o in logs[name]]))}
                for name in SEARCHES}
    return {"weights": label, "sgd": sgd, "median_step_seconds": median, "ratios": ratios,
            "search_during_timing": searches, "step_seconds": times}


def verdict(runs: list, tolerance: float, key: str = "test") -> dict:
    """The best fixed rate (highest mean accuracy) and whether each search is within ``tolerance`` of it on both tasks.

    Args:
        runs: the rows of :func:`train_run`.
        tolerance: the allowed accuracy gap (0.005 = 0.5 points).
        key: ``"test"`` (after the last epoch) or ``"test_last_epochs_mean"`` (mean of the last epochs).
    """
    sgd = [r for r in runs if r["method"] == "sgd"]
    if not sgd:
        return {}
    mean = {r["name"]: (r[key]["left_accuracy"] + r[key]["right_accuracy"]) / 2 for r in sgd}
    best = max(sgd, key=lambda r: mean[r["name"]])
    out = {"accuracy": key, "best_fixed_rate": best["learning_rate"], "best_fixed": best["name"],
           "best_fixed_accuracy": {t: best[key][f"{t}_accuracy"] for t in ("left", "right")},
           "per_task_max_fixed_accuracy": {t: max(r[key][f"{t}_accuracy"] for r in sgd)
                                           for t in ("left", "right")},
           "tolerance": tolerance}
    for method in SEARCHES:
        run = next((r for r in runs if r["method"] == method), None)
        if run is None:
            continue
        gap = {t: run[key][f"{t}_accuracy"] - best[key][f"{t}_accuracy"] for t in ("left", "right")}
        out[method] = {"gap_to_best_fixed": gap, "within_tolerance": all(g >= -tolerance for g in gap.values())}
    return out


HEADER = (f"{'run':<14} {'left acc':>9} {'right acc':>9} {'mean':>7} {'left@k':>7} {'right@k':>7} "
          f"{'mean eta':>9} {'trials':>7} {'at ub':>6} {'s/epoch':>8}")


def print_run(row: dict) -> None:
    """One table line: final test accuracies, their means over the last k epochs (@k), search stats, speed."""
    test, smooth, steps = row["test"], row["test_last_epochs_mean"], row["steps"]
    mean = (test["left_accuracy"] + test["right_accuracy"]) / 2
    eta = f"{steps['eta_mean']:.3g}" if steps else "-"
    trials = f"{steps['trials_mean']:.2f}" if steps else "-"
    at_ub = f"{steps['fraction_at_eta_ub']:.0%}" if steps else "-"
    print(f"{row['name']:<14} {test['left_accuracy']:>9.4f} {test['right_accuracy']:>9.4f} {mean:>7.4f} "
          f"{smooth['left_accuracy']:>7.4f} {smooth['right_accuracy']:>7.4f} {eta:>9} {trials:>7} {at_ub:>6} "
          f"{row['seconds_per_epoch']:>8.1f}{'  DIVERGED' if row['diverged'] else ''}", flush=True)


def print_verdict(result: dict, label: str) -> None:
    best = result["best_fixed_accuracy"]
    print(f"[{label}] best fixed rate {result['best_fixed_rate']:.3e} (left {best['left']:.4f}, right "
          f"{best['right']:.4f})")
    for method in SEARCHES:
        if method in result:
            gap = result[method]["gap_to_best_fixed"]
            print(f"[{label}] {method}: gap to it left {gap['left'] * 100:+.2f} pts, right {gap['right'] * 100:+.2f} "
                  f"pts -> within {result['tolerance'] * 100:.1f} pts on both: {result[method]['within_tolerance']}")


def print_timing(timing: dict) -> None:
    med, ratios = timing["median_step_seconds"], timing["ratios"]
    search = timing["search_during_timing"]
    print(f"timing ({timing['weights']} weights, median s/step): "
          + ", ".join(f"{n} {s * 1000:.1f} ms" for n, s in med.items()))
    print("  ratios: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items())
          + "  (targets fast/sgd <= 1.15, fast/classic <= 0.75;"
          + " seed 001: fast/sgd 1.05, classic/sgd 1.37, fast/classic 0.77)")
    print("  during timing: " + ", ".join(f"{n} eta {s['eta_mean']:.3g} trials {s['trials_mean']:.2f}"
                                          for n, s in search.items()), flush=True)


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="batches per epoch (quick check)")
    parser.add_argument("--rates", type=int, default=8, help="number of fixed SGD rates")
    parser.add_argument("--lr-min", type=float, default=1e-3)
    parser.add_argument("--lr-max", type=float, default=1e-1)
    parser.add_argument("--tolerance", type=float, default=0.005, help="accuracy gap allowed (0.005 = 0.5 points)")
    parser.add_argument("--smooth", type=int, default=3,
                        help="also compare test accuracies averaged over the last SMOOTH epochs")
    parser.add_argument("--timing-rounds", type=int, default=20)
    parser.add_argument("--timing-steps", type=int, default=5, help="steps per method per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per method first")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--data", choices=("multimnist", "multimnist_shift"), default="multimnist",
                        help="multimnist (seed 002's pairs) or multimnist_shift (seed 001 §5.1's overlay)")
    parser.add_argument("--searches", default="fast,classic",
                        help="comma-separated line searches to train (fast, classic); timing needs both")
    args = parser.parse_args()
    if args.epochs < 1 or args.rates < 1 or args.smooth < 1 or not 0 < args.lr_min <= args.lr_max:
        parser.error("need --epochs >= 1, --rates >= 1, --smooth >= 1 and 0 < --lr-min <= --lr-max.")

    weights = initial_weights(args.seed)
    searches = [m for m in args.searches.split(",") if m]
    if not searches or any(m not in SEARCHES for m in searches):
        parser.error(f"--searches: a comma-separated subset of {SEARCHES}, got {args.searches!r}.")
    if set(searches) != set(SEARCHES) and not args.no_timing:
        parser.error("timing compares fast, classic and SGD: pass --searches fast,classic or --no-timing.")
    plan = [(m, None) for m in searches] + [("sgd", float(lr)) for lr in
                                                 np.geomspace(args.lr_min, args.lr_max, args.rates)]
    print(HEADER)
    runs = []
    for method, lr in plan:
        runs.append(train_run(method, lr, weights, args))
        print_run(runs[-1])
    result = verdict(runs, args.tolerance)
    smoothed = verdict(runs, args.tolerance, "test_last_epochs_mean")
    first = {round(r["first_step_loss"], 6) for r in runs}
    print(f"same start (first-step loss {sorted(first)}): {len(first) == 1}")
    print_verdict(result, "final epoch (acceptance)")
    print_verdict(smoothed, f"mean of last {min(args.smooth, args.epochs)} epochs")

    timings = []
    if not args.no_timing:
        best = next(r for r in runs if r["name"] == result["best_fixed"])
        trained = {r["method"]: r["trained_weights"] for r in runs if r["method"] in SEARCHES}
        for label, pick in (("init", lambda m: weights),
                            ("trained", lambda m: trained.get(m, best["trained_weights"]))):
            contenders = {"fast": ("fast", None, pick("fast")), "classic": ("classic", None, pick("classic")),
                          best["name"]: ("sgd", best["learning_rate"], pick("sgd"))}
            timings.append(time_steps(contenders, args, label))
            print_timing(timings[-1])

    if args.out:
        for r in runs:
            r.pop("trained_weights")
        report = {"settings": {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                               "balancer": BALANCER, "search": SEARCH, "batch_size": 256},
                  "runs": runs, "verdict": result,
                  "verdict_last_epochs_mean": smoothed, "timing": timings}
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
