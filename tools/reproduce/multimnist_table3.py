"""``multimnist_table3``: seed 002 Table 3 and Fig. 3 on MultiMNIST, every method over several seeds.

Methods (seed 002 §4, plus this library's hybrid rule and seed 001's fast line search), all on the
``multimnist`` recipe, the MGDA-UB authors' public setup (``multimnist_lenet`` with dropout 0.5, SGD lr 0.01
momentum 0.9, batch 256, learning rate x 0.85 every 10 epochs; ``--epochs 100`` is their length):

- ``single_task``: each task alone on its peeled network (two trainings per seed);
- ``uniform``: the sum of the losses;
- ``grid``: static weights c on the simplex, chosen once by the keras-tuner grid
  (``mtlzoo tune static-weights``) on a validation split held out of the training
  images (never the test set), then trained with every seed; the weights are
  scaled by T so that c = (1/T, ..., 1/T) is exactly ``uniform``;
- ``uncertainty`` (Kendall et al.), ``gradnorm``, ``mgda_ub`` ("Ours"), ``hybrid``;
- ``fast_line_search``: MGDA-UB direction with fast Armijo backtracking (seed 001 Alg. 4.2).

Every training is a unit (its own resumable run folder under ``runs/``), so an interrupted
reproduction resumes. Cost on 2 CPU cores: about 5 s per epoch and run on the full data;
``--epochs 10 --seeds 3`` trains 32 runs of 10 epochs (27 + 5 grid trials) in about an hour.
The full-length table (``--epochs 100 --seeds 2 --methods single_task,uniform,mgda_ub,gradnorm,hybrid``)
is 12 runs of 100 epochs (README "The zoo" has its measured cost). The grid search's keras-tuner trials
build the zoo entry with its defaults (no dropout, constant learning rate); only its final trainings
use the recipe.
"""

from __future__ import annotations

import math
from pathlib import Path

from mtlzoo.tools.reproduce.confidence import format_ci, mean_ci
from mtlzoo.tools.reproduce.multimnist_leaderboard import base_recipe, plan
from mtlzoo.tools.reproduce.report_figures import label_axes, pyplot
from mtlzoo.tools.reproduce.report_tables import markdown_table, missing
from mtlzoo.tools.reproduce.reproduce_options import ReproduceOptions
from mtlzoo.tools.reproduce.reproduction_folder import ReproductionFolder

#: ``mtlzoo reproduce NAME``: this experiment's name and one-line description (read by the package).
NAME = "multimnist_table3"
DESCRIPTION = ("seed 002 Table 3 and Fig. 3: single task, uniform, grid, uncertainty, GradNorm, MGDA-UB, hybrid "
               "and fast line search on MultiMNIST (mean +- 95% CI over seeds)")

DEFAULT_EPOCHS = 10
TASKS = ("left", "right")
#: method -> recipe changes (``single_task`` and ``grid`` are handled apart).
METHODS = {
    "single_task": {},
    "uniform": {"balancer": "uniform"},
    "grid": {},
    "uncertainty": {"balancer": "uncertainty"},
    "gradnorm": {"balancer": "gradnorm"},
    "mgda_ub": {"balancer": "mgda_ub"},
    "hybrid": {"balancer": "hybrid"},
    "fast_line_search": {"balancer": "mgda_ub", "line_search": "fast"},
}
#: Seed 002 Table 3, test accuracy in percent (left, right); grid search is only plotted there (Fig. 3).
PUBLISHED = {"single_task": (97.23, 95.90), "uniform": (96.46, 94.99), "uncertainty": (96.47, 95.29),
             "gradnorm": (96.27, 94.84), "mgda_ub": (97.26, 95.90)}
LABELS = {"single_task": "Single task", "uniform": "Uniform scaling", "grid": "Grid search (static weights)",
          "uncertainty": "Kendall et al. 2018 (uncertainty)", "gradnorm": "GradNorm", "mgda_ub": "MGDA-UB (Ours)",
          "hybrid": "Hybrid GradNorm→MGDA-UB (seed 000)", "fast_line_search": "MGDA-UB + fast line search (seed 001)"}
#: Grid resolution: weights k/6 for k = 1..5 (five interior points of the 2-task simplex).
GRID_RESOLUTION = 6


def reproduce(folder: ReproductionFolder, options: ReproduceOptions, methods=None, data: str = "multimnist") -> Path:
    """Train every method with every seed and write ``report.md``, ``table3.csv``, ``runs.csv`` and ``fig3.png``.

    Args:
        folder: the reproduction folder.
        options: epochs (default 10), seeds, data directory, ``limit`` (source images per split), ``width``,
            ``methods`` (used when ``methods`` is not given).
        methods: a subset of :data:`METHODS` (default: ``options.methods``, else all); units are trained
            in this order, seed by seed, and tabulated in the order of :data:`METHODS`.
        data: the dataset (``multimnist``; ``multidigits`` runs without files, for checks).

    Returns:
        The report's path.

    Example:
        >>> reproduce(ReproductionFolder("runs/t3"), ReproduceOptions(epochs=10, seeds=3,
        ...           data_dir="data"))  # doctest: +SKIP
    """
    from mtlzoo.training import Recipe

    methods = methods if methods is not None else options.methods
    methods = list(METHODS) if methods is None else list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"multimnist_table3: unknown method(s) {unknown}; known: {', '.join(METHODS)}.")
    base = _base_recipe(Recipe, options, data)
    units = _units(methods, options.seed_list)
    results: dict[str, dict] = {}
    for index, (key, method, seed, task) in enumerate(units):
        what = (f"{LABELS[method]}" + (f", task {task}" if task else "") + ("" if seed is None else f", seed {seed}")
                + (f": {GRID_RESOLUTION - 1} trials of {base.epochs} epochs" if key == "grid_search" else ""))
        options.progress(index, len(units), what)
        results[key] = folder.unit(key, lambda: _run_unit(folder, key, method, seed, task, base, options, results))
    methods = [m for m in METHODS if m in methods]  # units ran in the order asked; the table has the seed's
    rows, per_run = _table(methods, options.seed_list, results)
    folder.write_csv("table3", rows)
    folder.write_csv("runs", per_run)
    _plot(folder, methods, rows, results.get("grid_search"))
    switches = _hybrid_switches(folder, options.seed_list) if "hybrid" in methods else None
    folder.write_text("report.md", _report(rows, base, options, methods, results.get("grid_search"), data, switches))
    return folder.report_path


def _base_recipe(recipe_cls, options, data):
    return base_recipe(recipe_cls, options, data, DEFAULT_EPOCHS)


def _units(methods, seeds):
    """``(key, method, seed, task)`` in run order; the grid search (seed ``None``) precedes its trainings."""
    return [("grid_search", "grid", None, None)] * ("grid" in methods) + plan(methods, seeds)


def _run_unit(folder, key, method, seed, task, base, options, results) -> dict:
    import time

    from mtlzoo.cli.recipe_run import run_recipe

    if key == "grid_search":
        return _grid_search(folder, base, options)
    if method == "single_task":
        recipe = base.replace(task=task, balancer="uniform")
    elif method == "grid":
        weights = results["grid_search"]["best_weights"]
        scaled = {t: float(w) * len(weights) for t, w in weights.items()}
        recipe = base.replace(balancer={"class_name": "static", "config": {"weights": scaled}})
    else:
        recipe = base.replace(**METHODS[method])
    start = time.perf_counter()
    evaluation = run_recipe(recipe, seed=seed, run_dir=folder.run_dir(key), data_dir=options.data_dir, verbose=0)
    return {"method": method, "seed": seed, "task": task, "tasks": evaluation["tasks"],
            "seconds": time.perf_counter() - start, "epochs": evaluation["epochs"]}


def _grid_search(folder, base, options) -> dict:
    from mtlzoo.tools.static_weights import search_static_weights

    result = search_static_weights(
        model=base.model, data=base.data, directory=folder.run_dir("grid_search"), resolution=GRID_RESOLUTION,
        epochs=base.epochs, batch_size=base.batch_size, seed=0, data_dir=options.data_dir,
        limit=options.limit, width=options.width)
    trials = [{"weights": t["weights"], "objective": t["objective"],
               "validation": {task: t["metrics"].get(f"val_{task}_accuracy") for task in TASKS}}
              for t in result.trials]
    return {"best_weights": dict(result.best_weights), "objective": result.objective, "trials": trials}


def _accuracies(results, method, seed):
    if method == "single_task":
        return tuple(results[f"single_task-{t}-seed{seed}"]["tasks"][t]["accuracy"] for t in TASKS)
    tasks = results[f"{method}-seed{seed}"]["tasks"]
    return tuple(tasks[t]["accuracy"] for t in TASKS)


def _table(methods, seeds, results):
    from mtlzoo.tools.evaluation import delta_m

    single = None
    if "single_task" in methods:
        single = {t: {"accuracy": mean_ci([_accuracies(results, "single_task", s)[i] for s in seeds])[0]}
                  for i, t in enumerate(TASKS)}
    rows, per_run = [], []
    for method in methods:
        acc = [_accuracies(results, method, s) for s in seeds]
        for seed, pair in zip(seeds, acc):
            per_run.append({"method": method, "seed": seed, **{f"{t}_accuracy": a for t, a in zip(TASKS, pair)}})
        left, right = ([a[i] for a in acc] for i in range(2))
        mean = [(a + b) / 2 for a, b in acc]
        (left_mean, left_ci), (right_mean, right_ci) = mean_ci(left), mean_ci(right)
        row = {"method": method, "label": LABELS[method], "seeds": len(seeds),
               "left": format_ci(left), "right": format_ci(right), "mean": format_ci(mean),
               "left_mean": left_mean, "left_ci95": left_ci, "right_mean": right_mean, "right_ci95": right_ci,
               "published_left": PUBLISHED.get(method, (math.nan,))[0],
               "published_right": PUBLISHED.get(method, (math.nan, math.nan))[1]}
        if single is not None and method != "single_task":
            row["delta_m"] = delta_m({t: {"accuracy": row[f"{t}_mean"]} for t in TASKS}, single)
        rows.append(row)
    return rows, per_run


def _plot(folder, methods, rows, grid):
    fig, ax = pyplot().subplots(figsize=(6.5, 5.5))
    if grid:
        points = [t["validation"] for t in grid["trials"] if None not in t["validation"].values()]
        xs, ys = [p["left"] * 100 for p in points], [p["right"] * 100 for p in points]
        if xs:
            ax.scatter(xs, ys, s=12, c="0.6", marker="s", label="grid trials (validation accuracy)")
    markers = iter("osD^vP*X" * 2)
    for row in rows:
        if row["method"] == "single_task":
            ax.axvline(row["left_mean"] * 100, color="k", ls="--", lw=1, label="single task (left / right)")
            ax.axhline(row["right_mean"] * 100, color="k", ls="--", lw=1)
            continue
        xerr, yerr = (None if missing(row[k]) else row[k] * 100 for k in ("left_ci95", "right_ci95"))
        ax.errorbar(row["left_mean"] * 100, row["right_mean"] * 100, xerr=xerr, yerr=yerr, fmt=next(markers),
                    capsize=3, alpha=0.8, label=row["label"])
    label_axes(ax, "left digit accuracy [%]", "right digit accuracy [%]",
               "MultiMNIST accuracy profile (seed 002 Fig. 3; top-right is better)", fontsize=7, loc="lower left")
    folder.save_figure(fig, "fig3")


def _report(rows, base, options, methods, grid, data, switches=None) -> str:
    lines = ["# MultiMNIST: seed 002 Table 3 and Fig. 3", ""]
    if options.command:
        lines += ["Command:", "", f"    {options.command}", ""]
    size = f"the first {options.limit} source images of each split" if options.limit else "60,000 / 10,000 images"
    lines += [f"`{base.model}`" + (f" (width {options.width})" if options.width else "") + f" on `{data}` ({size}), "
              f"{base.epochs} epochs, batch {base.batch_size}, {_setup(base)} (the line search replaces "
              f"the optimizer's steps), seeds {', '.join(map(str, options.seed_list))}. Test accuracy in percent, "
              "mean ± 95% confidence half-width over seeds (Student's t); Δm% is the mean relative change "
              "against the single-task accuracies (positive is better). Seed 002's numbers are single runs of "
              "an unstated number of epochs.", ""]
    lines += markdown_table(
        ["method", "left [%]", "right [%]", "mean [%]", "Δm%", "seed 002 left", "seed 002 right"],
        [[r["label"], r["left"], r["right"], r["mean"], f"{r['delta_m']:+.2f}" if "delta_m" in r else "–",
          *("–" if missing(r[k]) else f"{r[k]:.2f}" for k in ("published_left", "published_right"))] for r in rows],
        align="lrrrrrr")
    if grid:
        weights = ", ".join(f"{t} {w:.3f}" for t, w in grid["best_weights"].items())
        lines += ["", f"Grid search: {len(grid['trials'])} static weightings on the simplex (keras-tuner grid, "
                  f"seed 0, validation split held out of the training images); best: {weights}."]
    lines += ["", *_reading(rows, grid, switches), "", "![accuracy profile](fig3.png)", "", "Files: `table3.csv` (this table), `runs.csv` (every run), "
              "`runs/<method>-seed<k>/` (run folders: history, model.keras, evaluation.json), `units/` "
              "(finished units; delete one to rerun it).", ""]
    return "\n".join(lines)


def _setup(recipe) -> str:
    """The optimizer, schedule and dropout of ``recipe`` in words, for the report."""
    config = (recipe.optimizer or {}).get("config", {})
    text = f"SGD lr {config.get('learning_rate', 0.01)} momentum {config.get('momentum', 0.9)}"
    if recipe.schedule:
        text += f", lr x {recipe.schedule['factor']} every {recipe.schedule['every']} epochs"
    dropout = recipe.model_config.get("dropout", 0)
    return text + (f", dropout {dropout} (the MGDA-UB authors' placement)" if dropout else ", no dropout")


def _hybrid_switches(folder, seeds) -> list[int | None]:
    """Per seed, the first epoch (1-based) the hybrid rule spent in its MGDA-UB phase, or ``None``."""
    import json

    out = []
    for seed in seeds:
        path = folder.run_dir(f"hybrid-seed{seed}") / "history.json"
        phase = json.loads(path.read_text()).get("hybrid_phase", []) if path.is_file() else []
        out.append(next((i + 1 for i, p in enumerate(phase) if p > 0), None))
    return out


def _reading(rows, grid, switches=None) -> list[str]:
    """Sentences read off the table: the best method, rows that coincide and why, and MGDA-UB against single task."""
    by = {r["method"]: r for r in rows}
    multi = [r for r in rows if r["method"] != "single_task"]
    out = []
    if multi:
        best = max(multi, key=lambda r: r["left_mean"] + r["right_mean"])
        out.append(f"Reading: the best mean accuracy among the multi-task methods is {best['label']}'s "
                   f"({best['mean']} %).")
    same = lambda a, b: a in by and b in by and (by[a]["left"], by[a]["right"]) == (by[b]["left"], by[b]["right"])  # noqa: E731
    if grid and same("grid", "uniform"):
        out.append("Grid search equals uniform scaling: the best static weights are the centre of the simplex, "
                   "which the grid trains as T·c = (1, ..., 1), exactly the uniform sum.")
    if switches and all(e is None for e in switches):
        out.append("The hybrid rule never left its GradNorm phase (its switch test, every task's loss decrease "
                   "below ε, did not fire in this many epochs)" + (", so it equals GradNorm." if same("hybrid", "gradnorm")
                                                                    else "."))
    elif switches:
        when = ", ".join("never" if e is None else f"epoch {e}" for e in switches)
        out.append(f"The hybrid rule switched from GradNorm to MGDA-UB at {when} (seed by seed).")
    if "mgda_ub" in by and "delta_m" in by["mgda_ub"]:
        out.append(f"Seed 002 reports MGDA-UB as good as the single-task models (Δm ≈ 0); here its Δm% is "
                   f"{by['mgda_ub']['delta_m']:+.2f}.")
    if "fast_line_search" in by and "mgda_ub" in by:
        gap = (by["fast_line_search"]["left_mean"] + by["fast_line_search"]["right_mean"]
               - by["mgda_ub"]["left_mean"] - by["mgda_ub"]["right_mean"]) * 50
        out.append(f"The fast line search is {gap:+.2f} points from MGDA-UB with SGD: it accepts its upper bound "
                   "η_ub on almost every step (README, Line search); η_ub = 1, halved every 10 epochs, is a far "
                   "larger step than SGD's 0.01 with momentum.")
    return [" ".join(out)] if out else []
