"""The tables, plot and report of ``multimnist_leaderboard`` from its finished units."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from mtlzoo.tools.reproduce.confidence import format_ci, mean_ci
from mtlzoo.tools.reproduce.multimnist_leaderboard import SINGLE_TASK, TASKS
from mtlzoo.tools.reproduce.report_figures import label_axes, pyplot
from mtlzoo.tools.reproduce.report_tables import markdown_table, missing, pm

COLUMNS = ("rank", "method", "seeds", "left_mean", "left_ci95", "right_mean", "right_ci95", "mean_mean", "mean_ci95",
           "delta_m", "delta_m_ci95", "vs_uniform", "vs_uniform_ci95", "seconds_per_epoch", "seconds_ci95",
           "time_vs_uniform")


def epoch_seconds(unit: dict) -> float:
    """A unit's training seconds per epoch: the median over its epochs after the first (which traces the
    step), the first alone when it trained one epoch, ``nan`` when it trained none in its last invocation."""
    seconds = list(unit.get("epoch_seconds") or [])
    if not seconds:
        return math.nan
    return float(statistics.median(seconds[1:] if len(seconds) > 1 else seconds))


def per_seed(results: dict, method: str, seeds) -> list[dict]:
    """Per seed: ``{"seed", "left", "right", "mean", "seconds"}`` (single task: both networks' seconds)."""
    out = []
    for seed in seeds:
        if method == SINGLE_TASK:
            units = [results[f"{SINGLE_TASK}-{t}-seed{seed}"] for t in TASKS]
            acc = [u["tasks"][t]["accuracy"] for u, t in zip(units, TASKS)]
            seconds = sum(epoch_seconds(u) for u in units)
        else:
            unit = results[f"{method}-seed{seed}"]
            acc = [unit["tasks"][t]["accuracy"] for t in TASKS]
            seconds = epoch_seconds(unit)
        out.append({"seed": seed, "left": acc[0], "right": acc[1], "mean": sum(acc) / len(acc), "seconds": seconds})
    return out


def table(methods, seeds, results) -> tuple[list[dict], list[dict]]:
    """``(rows, runs)``: one row per method, ranked (by Δm% with single task, else by mean accuracy)."""
    runs = {m: per_seed(results, m, seeds) for m in methods}
    single = None
    if SINGLE_TASK in runs:
        single = {t: mean_ci([r[t] for r in runs[SINGLE_TASK]])[0] for t in TASKS}
    uniform = runs.get("uniform")
    rows = []
    for method, seeded in runs.items():
        row = {"method": method, "seeds": len(seeded)}
        for key in ("left", "right", "mean"):
            row[f"{key}_mean"], row[f"{key}_ci95"] = mean_ci([r[key] for r in seeded])
            row[key] = format_ci([r[key] for r in seeded])
        if single is not None:  # Delta-m% of each seed against the mean single-task accuracies
            deltas = [100.0 / len(TASKS) * sum((r[t] - single[t]) / single[t] for t in TASKS) for r in seeded]
            row["delta_m"], row["delta_m_ci95"] = mean_ci(deltas)
        if uniform is not None:  # paired by seed: same initial weights and batches
            diffs = [100.0 * (r["mean"] - u["mean"]) for r, u in zip(seeded, uniform)]
            row["vs_uniform"], row["vs_uniform_ci95"] = mean_ci(diffs)
        seconds = [r["seconds"] for r in seeded if not math.isnan(r["seconds"])]
        row["seconds_per_epoch"], row["seconds_ci95"] = mean_ci(seconds) if seconds else (math.nan, math.nan)
        rows.append(row)
    base = next((r["seconds_per_epoch"] for r in rows if r["method"] == "uniform"), math.nan)
    key = "delta_m" if single is not None else "mean_mean"
    rows.sort(key=lambda r: -r[key])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
        row["time_vs_uniform"] = row["seconds_per_epoch"] / base if base and not math.isnan(base) else math.nan
    flat = [{"method": m, **r} for m, seeded in runs.items() for r in seeded]
    return rows, flat


def write_outputs(folder, options, base, methods, results, data) -> Path:
    """``leaderboard.csv``, ``runs.csv``, ``leaderboard.png`` and ``report.md``; returns the report's path."""
    rows, runs = table(methods, options.seed_list, results)
    folder.write_csv("leaderboard", rows, COLUMNS)
    folder.write_csv("runs", runs)
    plot(folder, rows)
    total = sum(u.get("seconds", 0.0) for u in results.values())
    folder.write_text("report.md", report(rows, base, options, data, total))
    return folder.report_path


def plot(folder, rows) -> None:
    fig, ax = pyplot().subplots(figsize=(7.5, 5.5))
    markers = iter("osD^vP*Xph<>8dH" * 3)
    for row in rows:
        if math.isnan(row["seconds_per_epoch"]):
            continue
        single = row["method"] == SINGLE_TASK
        ax.errorbar(row["seconds_per_epoch"], row["mean_mean"] * 100,
                    xerr=None if missing(row["seconds_ci95"]) else row["seconds_ci95"],
                    yerr=None if missing(row["mean_ci95"]) else row["mean_ci95"] * 100,
                    fmt="k*" if single else next(markers), markersize=10 if single else 6, capsize=3, alpha=0.85,
                    label=f"{row['rank']}. {row['method']}")
        ax.annotate(row["method"], (row["seconds_per_epoch"], row["mean_mean"] * 100), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    label_axes(ax, "training seconds per epoch (measured in this run; single task: both networks)",
               "mean test accuracy, left and right [%]",
               "MultiMNIST leaderboard: accuracy against cost (mean ± 95% CI over seeds)", fontsize=7, loc="best",
               ncol=2)
    folder.save_figure(fig, "leaderboard")


def report(rows, base, options, data, total_seconds) -> str:
    lines = ["# MultiMNIST leaderboard: every balancer and single task", ""]
    if options.command:
        lines += ["Command:", "", f"    {options.command}", ""]
    size = f"the first {options.limit} source images of each split" if options.limit else "60,000 / 10,000 images"
    config = (base.optimizer or {}).get("config", {})
    schedule = f", lr x {base.schedule['factor']} every {base.schedule['every']} epochs" if base.schedule else ""
    lines += [f"`{base.model}`" + (f" (width {options.width})" if options.width else "")
              + f" on `{data}` ({size}), {base.epochs} epoch{'s' * (base.epochs != 1)}, batch {base.batch_size}, "
              f"SGD lr "
              f"{config.get('learning_rate')} momentum {config.get('momentum')}{schedule}, dropout "
              f"{base.model_config.get('dropout', 0)}, every balancer with its defaults; seeds "
              f"{', '.join(map(str, options.seed_list))} (a seed fixes the initial weights and the batches of every "
              "method). Test accuracy in percent, mean ± 95% confidence half-width over seeds (Student's t); Δm% "
              "against the single-task accuracies (positive is better); \"vs uniform\": the mean accuracy minus "
              "uniform's, paired by seed, in points; s/epoch: training seconds per epoch measured in this run "
              "(median over each run's epochs after the first; single task: both networks), and its ratio to "
              "uniform's." + (" With one epoch per run the time is that epoch's, tracing the train step included: "
                              "train 3 or more epochs to compare costs." if base.epochs == 1 else ""), ""]
    lines += markdown_table(
        ["rank", "method", "left [%]", "right [%]", "mean [%]", "Δm%", "vs uniform [pts]", "s/epoch", "× uniform"],
        [[r["rank"], r["method"], r["left"], r["right"], r["mean"],
          pm(r.get("delta_m"), r.get("delta_m_ci95"), signed=True),
          "–" if r["method"] == "uniform" else pm(r.get("vs_uniform"), r.get("vs_uniform_ci95"), signed=True),
          pm(r["seconds_per_epoch"], digits=1), pm(r["time_vs_uniform"])] for r in rows], align="rlrrrrrrr")
    lines += ["", reading(rows), "", f"Training and evaluating the units took {total_seconds / 60:.1f} min in total "
              "(the units trained in earlier invocations included).", "", "![accuracy against cost](leaderboard.png)",
              "", "Files: `leaderboard.csv` (this table), `runs.csv` (every run), `runs/<method>-seed<k>/` (run "
              "folders), `units/` (finished units; delete one to rerun it).", ""]
    return "\n".join(lines)


def reading(rows) -> str:
    """Which methods separate from uniform beyond the paired 95% intervals, and which do not."""
    if not any(r["method"] == "uniform" for r in rows):
        return "Reading: uniform was not run, so no method is compared with it."
    others = [r for r in rows if r["method"] != "uniform"]
    if all(math.isnan(r.get("vs_uniform_ci95", math.nan)) for r in others):
        return "Reading: one seed gives no confidence intervals; rerun with --seeds 3 or more to separate methods."
    better = [r["method"] for r in others if r["vs_uniform"] - r["vs_uniform_ci95"] > 0]
    worse = [r["method"] for r in others if r["vs_uniform"] + r["vs_uniform_ci95"] < 0]
    tied = [r["method"] for r in others if r["method"] not in better + worse]
    text = ["Reading (paired by seed, 95% intervals):"]
    text.append(f"better than uniform beyond the interval: {', '.join(better) if better else 'none'};")
    text.append(f"worse: {', '.join(worse) if worse else 'none'};")
    text.append(f"indistinguishable from uniform: {', '.join(tied) if tied else 'none'}.")
    return " ".join(text)
