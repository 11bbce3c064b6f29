"""Feature-partition search on MNIST attributes: distillation score vs final accuracy, ES vs random (seed 004 §5).

Usage::

    python benchmarks/bench_partition_search.py [--data-dir ../shared/data] [--limit 12000] [--samples 20]
        [--final-epochs 3] [--distill-steps 200] [--search-trials 40] [--weight-decay 0.02]
        [--out results/partition_search]

Tasks ``digit`` (10 classes), ``parity``, ``high`` (digit >= 5) and ``mod3`` of
``mnist_attributes`` (offline, from mnist.npz), the first ``--limit`` training
images, the first ``--eval-limit`` test images for every accuracy.

(a) One single-task teacher per task (:func:`train_teachers`).
(b) ``--samples`` random refined partitions ``P̃ = refine(sample_partition(4))``: each gets a
    distillation score (:class:`DistillationScorer`) and a full training of a
    :class:`PartitionedNetwork` with that partition (``--final-epochs`` epochs, same seed);
    the test accuracy after the first epoch of that run is the seed's "early training"
    baseline (Table 1's 5k/10k-iteration columns). Pearson and Spearman correlation with the
    final accuracy, per task and for the task mean (Table 1 layout).
(c) Evolutionary strategies vs random sampling, ``--search-trials`` distillation evaluations
    each (:class:`PartitionSearch`, reward ``score - weight_decay ||diag(P)||²``; the seed's
    1e-3 is for nine Decathlon tasks and a different score scale): best reward, its score
    and channel use.
(d) ``--out``: ``samples.csv`` (every sampled partition, its scores and accuracies),
    ``search_es.csv``/``search_random.csv``, ``fig4_score_vs_channel_use.png``,
    ``chosen_partition.png`` (the best ES ``P̃``), ``summary.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

TASKS = {"digit": 10, "parity": 2, "high": 2, "mod3": 3}


def _prepare(arrays):
    import numpy as np

    return (arrays["images"][..., None] / 255.0).astype(np.float32), {t: arrays[t] for t in TASKS}


def _correlations(x, y):
    from scipy import stats

    if len(set(x)) < 2 or len(set(y)) < 2:
        return float("nan"), float("nan")
    return float(stats.pearsonr(x, y)[0]), float(stats.spearmanr(x, y)[0])


def _full_training(P, train, test, args, seed):
    """(accuracy after epoch 1, final accuracy) per task of a PartitionedNetwork trained with partition P̃."""
    import keras

    from mtlzoo.tools.partition_search import PartitionedNetwork

    keras.utils.set_random_seed(seed)
    net = PartitionedNetwork(TASKS, partition=P, width=args.width, hidden=args.hidden, learning_rate=args.lr)
    net.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    early = {}

    class Early(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                logs = net.evaluate(*test, batch_size=500, verbose=0, return_dict=True)
                early.update({t: logs[f"{t}_accuracy"] for t in TASKS})

    net.fit(*train, batch_size=args.batch_size, epochs=args.final_epochs, shuffle=True, verbose=0,
            callbacks=[Early()])
    logs = net.evaluate(*test, batch_size=500, verbose=0, return_dict=True)
    return early, {t: logs[f"{t}_accuracy"] for t in TASKS}


def _table(rows, header):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(header, widths))]
    lines += ["  ".join(str(c).rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("MTLZOO_DATA_DIR", "../shared/data"))
    parser.add_argument("--limit", type=int, default=12000, help="training images")
    parser.add_argument("--eval-limit", type=int, default=2000, help="test images for every accuracy")
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (momentum 0.9; seed 004 A.2)")
    parser.add_argument("--teacher-epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=20, help="random partitions of the correlation study")
    parser.add_argument("--final-epochs", type=int, default=3)
    parser.add_argument("--distill-steps", type=int, default=200)
    parser.add_argument("--distill-lr", type=float, default=0.05)
    parser.add_argument("--search-trials", type=int, default=40, help="distillation evaluations per strategy")
    parser.add_argument("--directions", type=int, default=4, help="ES directions per iteration")
    parser.add_argument("--weight-decay", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/partition_search")
    args = parser.parse_args(argv)

    import numpy as np

    from mtlzoo.data.mnist_attributes import attribute_arrays
    from mtlzoo.tools import partition_search as ps

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        train = _prepare(attribute_arrays("train", data_dir=args.data_dir, limit=args.limit))
        test = _prepare(attribute_arrays("test", data_dir=args.data_dir, limit=args.eval_limit))
    except Exception as error:  # noqa: BLE001 - report the missing file plainly
        print(f"Cannot load MNIST from --data-dir {args.data_dir!r}: {error}", file=sys.stderr)
        return 2
    tasks = list(TASKS)

    # (a) teachers
    start = time.perf_counter()
    teachers = ps.train_teachers(train, TASKS, width=args.width, hidden=args.hidden, epochs=args.teacher_epochs,
                                 batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed)
    scorer = ps.DistillationScorer(teachers, train, test, steps=args.distill_steps, learning_rate=args.distill_lr,
                                   seed=args.seed)
    teacher_seconds = time.perf_counter() - start
    print(f"(a) teachers ({args.teacher_epochs} epochs on {len(train[0])} images, {teacher_seconds:.0f} s incl. "
          "feature precomputation), test accuracy:")
    print("    " + "  ".join(f"{t}={a:.4f}" for t, a in scorer.teacher_accuracy.items()))

    # (b) correlation study
    rng = np.random.default_rng(args.seed)
    samples = []
    for i in range(args.samples):
        P = ps.refine(ps.sample_partition(len(tasks), rng=rng))
        score = scorer(P)
        details = scorer.last_details
        t0 = time.perf_counter()
        early, final = _full_training(P, train, test, args, args.seed)
        samples.append({"sample": i, "channel_use": ps.channel_use(P), "P": P.tolist(), "distill": score,
                        "distill_seconds": details["seconds"], "train_seconds": time.perf_counter() - t0,
                        **{f"distill_{t}": details["tasks"][t]["accuracy"] for t in tasks},
                        **{f"early_{t}": early[t] for t in tasks}, **{f"final_{t}": final[t] for t in tasks},
                        "early": float(np.mean(list(early.values()))), "final": float(np.mean(list(final.values())))})
        s = samples[-1]
        print(f"    sample {i:2d}: channel use {s['channel_use']:.3f}  distill {score:.4f} "
              f"({s['distill_seconds']:.1f} s)  early {s['early']:.4f}  final {s['final']:.4f} ({s['train_seconds']:.0f} s)", flush=True)
    _write_samples(samples, tasks, out / "samples.csv")
    rows, corr = [], {}
    for name in [*tasks, "mean"]:
        key = (lambda kind: f"{kind}_{name}") if name != "mean" else (lambda kind: kind)
        final = [s[key("final")] for s in samples]
        early_r = _correlations([s[key("early")] for s in samples], final)
        dist_r = _correlations([s[key("distill")] for s in samples], final)
        corr[name] = {"early_pearson": early_r[0], "early_spearman": early_r[1], "distill_pearson": dist_r[0],
                      "distill_spearman": dist_r[1]}
        rows.append([name, *(f"{v:.3f}" for v in (*early_r, *dist_r))])
    distill_time = np.mean([s["distill_seconds"] for s in samples])
    train_time = np.mean([s["train_seconds"] for s in samples])
    print(f"\n(b) correlation with final test accuracy after {args.final_epochs} epochs, {args.samples} random "
          f"partitions (Table 1 layout; 'early' = after epoch 1 of the same run)")
    print(_table(rows, ["task", "early pearson", "early spearman", "distill pearson", "distill spearman"]))
    print(f"    mean seconds per partition: distillation {distill_time:.2f}, full training {train_time:.1f} "
          f"(ratio {train_time / distill_time:.0f}x; one epoch ~{train_time / args.final_epochs:.1f} s)")

    # (c) ES vs random
    searches = {}
    for strategy in ("es", "random"):
        extra = {"directions": args.directions} if strategy == "es" else {}
        t0 = time.perf_counter()
        search = ps.PartitionSearch(scorer, len(tasks), strategy=strategy, max_trials=args.search_trials,
                                    directory=out / "trials", project_name=strategy, seed=args.seed, overwrite=True,
                                    verbose=0, weight_decay=args.weight_decay, **extra).search()
        searches[strategy] = (search, time.perf_counter() - t0)
    rows, summary_search = [], {}
    for strategy, (search, seconds) in searches.items():
        results = search.results()
        best, best_score = search.best("reward"), search.best("score")
        summary_search[strategy] = {"trials": len(results), "seconds": seconds, "best_reward": best["reward"],
                                    "best_reward_score": best["score"], "best_reward_channel_use": best["channel_use"],
                                    "best_score": best_score["score"],
                                    "best_score_channel_use": best_score["channel_use"]}
        rows.append([strategy, len(results), f"{best['reward']:.4f}", f"{best['score']:.4f}",
                     f"{best['channel_use']:.3f}", f"{best_score['score']:.4f}", f"{best_score['channel_use']:.3f}",
                     f"{seconds:.0f}"])
        ps.write_results_csv(results, out / f"search_{strategy}.csv")
    print(f"\n(c) ES vs random sampling, {args.search_trials} distillation evaluations each, "
          f"weight_decay {args.weight_decay}")
    print(_table(rows, ["strategy", "trials", "best reward", "its score", "its channel use", "best score",
                        "its channel use", "seconds"]))

    # (d) pictures and summary
    es, rnd = searches["es"][0], searches["random"][0]
    ps.plot_score_vs_channel_use(rnd.results(), out / "fig4_score_vs_channel_use.png", es_results=es.results(),
                                 title="distillation score vs channel use (grey: random, line: ES centres)")
    chosen = es.best_partition("reward")
    ps.plot_partition(chosen, tasks, out / "chosen_partition.png", title="best ES P̃ (by reward)")
    summary = {"args": vars(args), "teacher_accuracy": scorer.teacher_accuracy, "correlation": corr,
               "seconds_per_partition": {"distillation": distill_time, "full_training": train_time},
               "search": summary_search, "chosen_partition": chosen.tolist()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\n(d) wrote {out}/: samples.csv, search_es.csv, search_random.csv, fig4_score_vs_channel_use.png, "
          "chosen_partition.png, summary.json")
    print("    chosen P̃ (best ES reward):\n" + np.array2string(chosen, precision=3))
    return 0


def _write_samples(samples, tasks, path):
    columns = ["sample", "channel_use", "distill", "early", "final", "distill_seconds", "train_seconds",
               *(f"{k}_{t}" for k in ("distill", "early", "final") for t in tasks),
               *(f"p_{i}_{j}" for i in range(len(tasks)) for j in range(i, len(tasks)))]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        for s in samples:
            row = {k: s[k] for k in columns if k in s}
            row.update({f"p_{i}_{j}": s["P"][i][j] for i in range(len(tasks)) for j in range(i, len(tasks))})
            writer.writerow(row)


if __name__ == "__main__":
    sys.exit(main())
