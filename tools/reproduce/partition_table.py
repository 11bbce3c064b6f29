"""The report of ``mtlzoo reproduce partition``: seed 004 Table 2 layout (mean ± 95% CI), bars and a scatter."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtlzoo.tools.reproduce.confidence import mean_ci
from mtlzoo.tools.reproduce.report_figures import grouped_bars, pyplot
from mtlzoo.tools.reproduce.report_tables import markdown_table, missing, pm
from mtlzoo.tools.reproduce.reproduce_options import ReproduceOptions
from mtlzoo.tools.reproduce.reproduction_folder import ReproductionFolder

#: Seed 004 §5.2 Table 2 (Visual Decathlon, validation accuracy %, mean ± CI over 5 trials).
SEED_TASKS = ("Airc.", "C100", "DPed", "DTD", "GTSR", "Flwr", "OGlt", "SVHN", "UCF", "Total")
SEED_TABLE2 = {
    "independent": ("53.2 ± 0.2", "74.1 ± 0.2", "97.8 ± 0.3", "49.4 ± 0.3", "99.7 ± 0.0", "78.3 ± 0.2",
                    "87.7 ± 0.1", "94.3 ± 0.1", "77.1 ± 0.3", "79.1 ± 0.1"),
    "share half": ("53.1 ± 0.3", "75.4 ± 0.2", "98.2 ± 0.1", "49.5 ± 0.3", "99.8 ± 0.0", "78.6 ± 0.3",
                   "87.7 ± 0.1", "94.0 ± 0.1", "78.2 ± 0.2", "79.4 ± 0.1"),
    "share all": ("54.4 ± 0.2", "76.3 ± 0.3", "98.1 ± 0.1", "50.0 ± 0.3", "99.7 ± 0.0", "78.9 ± 0.6",
                  "87.7 ± 0.1", "94.1 ± 0.1", "79.0 ± 0.3", "79.8 ± 0.2"),
    "es (wd 1e-3)": ("54.2 ± 0.2", "77.0 ± 0.1", "97.6 ± 0.2", "49.7 ± 0.1", "99.8 ± 0.0", "81.3 ± 0.4",
                     "88.3 ± 0.0", "94.0 ± 0.1", "79.4 ± 0.1", "80.1 ± 0.1"),
}


def table_rows(results: list[dict], tasks: list[str]) -> list[dict]:
    """One row per partitioning: per-task test accuracy (%), mean (%) and channel use, each mean and CI.

    Args:
        results: one dict per (partitioning, seed): ``partitioning``, ``accuracy`` ({task: fraction}),
            ``mean``, ``channel_use``.
        tasks: the task columns.

    Example:
        >>> table_rows([{"partitioning": "es", "accuracy": {"a": .5}, "mean": .5, "channel_use": .4}], ["a"])[0]["a"]
        50.0
    """
    rows = []
    for name in dict.fromkeys(r["partitioning"] for r in results):
        mine = [r for r in results if r["partitioning"] == name]
        row = {"partitioning": name, "seeds": len(mine)}
        for column, values in [*((t, [100 * r["accuracy"][t] for r in mine]) for t in tasks),
                               ("mean", [100 * r["mean"] for r in mine]),
                               ("channel_use", [r["channel_use"] for r in mine])]:
            row[column], row[f"{column}_ci95"] = mean_ci(values)
        rows.append(row)
    return rows


def label(name: str, weight_decay: float) -> str:
    """A partitioning's row label: ``share half`` for ``share_half``, ``es (wd 0.01)`` for a searched one.

    Example:
        >>> label("share_half", 0.01), label("es", 0.01)
        ('share half', 'es (wd 0.01)')
    """
    if name in ("independent", "share_half", "share_all"):
        return name.replace("_", " ")
    return f"{name} (wd {weight_decay:g})"


def table2_lines(rows: list[dict], tasks: list[str], weight_decay: float) -> list[str]:
    """Seed 004 Table 2's layout as markdown lines: one row per partitioning, accuracy (%) per task, mean
    and channel use, each ``mean ± 95% CI`` (the value alone for one seed).

    Args:
        rows: :func:`table_rows`.
        tasks: the task columns.
        weight_decay: λ of the search, named in the searched rows' labels.

    Example:
        >>> rows = table_rows([{"partitioning": "es", "accuracy": {"a": .5}, "mean": .5, "channel_use": .4}], ["a"])
        >>> table2_lines(rows, ["a"], 0.01)[2]
        '| es (wd 0.01) | 50.0 | 50.0 | 0.400 |'
    """
    return markdown_table(["Partitioning", *tasks, "mean", "channel use"], [
        [label(row["partitioning"], weight_decay), *(pm(row[c], row[f"{c}_ci95"], 1) for c in [*tasks, "mean"]),
         pm(row["channel_use"], row["channel_use_ci95"], 3)] for row in rows])


def figures(rows: list[dict], results: list[dict], tasks: list[str]):
    """``(bars, scatter)``: grouped per-task accuracy bars per partitioning; mean accuracy vs channel use."""
    plt = pyplot()
    bars, ax = plt.subplots(figsize=(1.6 * len(tasks) + 3.0, 3.6))
    grouped_bars(ax, tasks, [(row["partitioning"].replace("_", " "), [row[t] for t in tasks],
                              [0.0 if missing(row[f"{t}_ci95"]) else row[f"{t}_ci95"] for t in tasks]) for row in rows])
    ax.set_ylim(max(0.0, min(row[t] for row in rows for t in tasks) - 10), 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Per-task accuracy per partitioning (seed 004 Table 2 layout)")
    scatter, ax = plt.subplots(figsize=(5.0, 3.8))
    for k, name in enumerate(dict.fromkeys(r["partitioning"] for r in results)):
        mine = [r for r in results if r["partitioning"] == name]
        ax.scatter([r["channel_use"] for r in mine], [100 * r["mean"] for r in mine], color=f"C{k}", alpha=0.5,
                   s=18)
        row = next(r for r in rows if r["partitioning"] == name)
        ax.errorbar(row["channel_use"], row["mean"], yerr=0 if np.isnan(row["mean_ci95"]) else row["mean_ci95"],
                    fmt="o", color=f"C{k}", ms=8, capsize=3, label=name.replace("_", " "))
    ax.set_xlabel("average channel use (mean of diag P̃)")
    ax.set_ylabel("mean test accuracy (%)")
    ax.set_title("Accuracy vs channel use (small: seeds; large: mean ± 95% CI)")
    ax.legend(fontsize=8)
    return bars, scatter


def write_report(folder: ReproductionFolder, options: ReproduceOptions, tasks: list[str], results: list[dict],
                 settings: dict) -> Path:
    """Write ``table2.csv``, ``table2_per_seed.csv``, ``accuracy.png``, ``channel_use.png`` and ``report.md``."""
    rows = table_rows(results, tasks)
    columns = ["partitioning", "seeds"] + [c for t in [*tasks, "mean", "channel_use"] for c in (t, f"{t}_ci95")]
    folder.write_csv("table2", rows, columns)
    folder.write_csv("table2_per_seed", [{"partitioning": r["partitioning"], "seed": r["seed"],
                                          **{t: r["accuracy"][t] for t in tasks}, "mean": r["mean"],
                                          "channel_use": r["channel_use"], "seconds": r["seconds"]}
                                         for r in results])
    bars, scatter = figures(rows, results, tasks)
    folder.save_figure(bars, "accuracy")
    folder.save_figure(scatter, "channel_use")
    lines = table2_lines(rows, tasks, settings["weight_decay"])
    seed_lines = markdown_table(["Partitioning", *SEED_TASKS], [[name, *cells] for name, cells in SEED_TABLE2.items()])
    wd = settings["weight_decay"]
    by = {r["partitioning"]: r for r in rows}
    ranking = sorted(by, key=lambda n: -by[n]["mean"])
    es, best_fixed = by.get("es"), max((by[n] for n in by if n != "es"), key=lambda r: r["mean"], default=None)
    verdict = ("" if es is None or best_fixed is None else
               f"ES reaches {es['mean']:.1f}% mean accuracy at channel use {es['channel_use']:.3f}, against "
               f"{best_fixed['mean']:.1f}% for the best fixed partitioning ({label(best_fixed['partitioning'], wd)}, "
               f"channel use {best_fixed['channel_use']:.3f}); ")
    text = f"""# Feature partitioning: seed 004 Table 2 (ES partition vs fixed partitionings)

Command: `{options.command or '(called from Python)'}`

What `mtlzoo search partition` runs, once per seed ({', '.join(map(str, options.seed_list))}): on `{settings['data']}`
(tasks {', '.join(tasks)}; the first {settings['limit']} training images, 1/6 of them held out to score
partitions, test split capped at {settings['limit']}), single-task teachers ({settings['teacher_epochs']} epochs),
an ES search of {settings['trials']} partitions scored by distillation ({settings['distill_steps']} steps,
λ = {settings['weight_decay']:g}), then {settings['epochs']} epochs of full training with the accuracy
curriculum (temperature {settings['temperature']}) for each partitioning; `PartitionedNetwork` width
{settings['width']}, {settings['hidden']} dense units, batch {settings['batch_size']}.

## Table 2 layout: test accuracy (%) per task, mean ± 95% CI over {len(options.seed_list)} seed(s) (t-distribution)

{chr(10).join(lines)}

![per-task accuracy](accuracy.png)

![accuracy vs channel use](channel_use.png)

Seed 004 §5.2 Table 2 (Visual Decathlon, ResNet, validation accuracy %, 5 trials; other tasks than ours):

{chr(10).join(seed_lines)}

Per seed: `table2_per_seed.csv`; each search's trials: `runs/search-seed<s>/` and `units/search-seed<s>.json`.

## Reading

Ranking by mean accuracy here: {' > '.join(label(n, wd) for n in ranking)} (seed 004: es > share all > share half >
independent). {verdict}seed 004 finds ES best overall with less channel use than share all. Our tasks are four
labelings of the same digit (one shared feature set serves all), unlike Visual Decathlon's unrelated image
domains, so partitioning has less interference to remove; rows whose confidence intervals overlap are not
distinguishable with this many seeds.
"""
    folder.write_text("report.md", text)
    return folder.report_path
