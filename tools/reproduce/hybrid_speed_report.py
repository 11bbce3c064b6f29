"""Plots and ``report.md`` of ``hybrid_speed`` (seed 000 Fig. 6 and Fig. 4 layouts).

>>> fmt(0.12345), fmt(None), fmt(123.4), fmt(0.91234, 4)
('0.123', '–', '123', '0.9123')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mtlzoo.tools.reproduce.hybrid_speed_summary import mean as mean_of
from mtlzoo.tools.reproduce.report_figures import label_axes, pyplot
from mtlzoo.tools.reproduce.report_tables import markdown_table

#: Seed 000's reported findings (no numbers are published; §4.4, Obs. 4.1 / Fig. 4, §4.5 / Fig. 6).
PUBLISHED = (
    ("§4.4", "solving the min-norm problem at every step slows training \"by several tens of times\" "
             "(MGDA-type rules against plain averaging)"),
    ("Obs. 4.1, Fig. 4", "the fraction of Pareto-stationary mini-batches is small at the start of training "
                         "and grows with time"),
    ("§4.5, Fig. 6", "early on GradNorm (latent, 4.11) is no worse than MGDA; in the last epochs MGDA's "
                     "objective pulls away from GradNorm's"),
    ("§4.5, Fig. 6", "the hybrid (Alg. 1) reaches the same quality as MGDA but runs significantly faster"),
)
SETUP_000 = ("seed 000 §4.5 trains a 3-task tree (MNIST, Fashion-MNIST, Kuzushiji-MNIST) on a truncated LeNet "
             "with batch norm, SGD lr 1e-3 with Nesterov momentum 0.9, on a GTX 1070 Ti, 20+ runs per "
             "algorithm")


def fmt(value, digits: int = 3) -> str:
    """A number for a table: ``digits`` significant digits, whole numbers from 100 on, "–" for ``None``."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.{digits}g}"


def plot_loss_vs_time(folder, curves: Sequence[Mapping], name: str = "hybrid_speed_loss_vs_time"):
    """Fig. 6 layout: training loss and test loss against cumulative training seconds, one line per balancer."""
    fig, axes = pyplot().subplots(1, 2, figsize=(11, 4))
    for balancer in dict.fromkeys(r["balancer"] for r in curves):
        rows = [r for r in curves if r["balancer"] == balancer]
        trained = [r for r in rows if r["epoch"] > 0]
        axes[0].plot([r["seconds"] for r in trained], [r["loss"] for r in trained], marker="o", ms=3,
                     label=balancer)
        axes[1].plot([r["seconds"] for r in rows], [r["val_loss"] for r in rows], marker="o", ms=3,
                     label=balancer)
    for ax, what in zip(axes, ("training loss (epoch mean, sum of tasks)", "test loss (sum of tasks)")):
        label_axes(ax, "training wall time (s, mean over seeds)", what)
    fig.suptitle("Loss against wall time (seed 000 Fig. 6 layout)")
    return folder.save_figure(fig, name)


def plot_stationary(folder, curves: Sequence[Mapping], balancers: Sequence[str],
                    name: str = "hybrid_speed_pareto_stationary"):
    """Fig. 4 layout: per epoch, the percentage of Pareto-stationary steps of the min-norm balancers."""
    fig, ax = pyplot().subplots(figsize=(6.5, 4))
    for balancer in balancers:
        rows = [r for r in curves if r["balancer"] == balancer and r["epoch"] > 0]
        if rows:
            ax.plot([r["epoch"] for r in rows], [100 * (r["pareto_stationary"] or 0.0) for r in rows],
                    marker="o", label=balancer)
        phase = [r for r in rows if balancer == "hybrid" and (r["hybrid_phase"] or 0) > 0]
        if phase:
            ax.axvspan(phase[0]["epoch"] + 0.5, rows[-1]["epoch"] + 0.5, color="grey", alpha=0.15,
                       label="hybrid in MGDA-UB phase (mean over seeds > 0)")
    top = max([100 * (r["pareto_stationary"] or 0.0) for r in curves if r["balancer"] in balancers] + [0.0])
    ax.set_ylim(0, max(10.0, 1.15 * top))
    label_axes(ax, "epoch", "Pareto-stationary steps (%)",
               "Pareto-stationary fraction per epoch (seed 000 Fig. 4 layout)")
    return folder.save_figure(fig, name)


def table(rows: Sequence[Mapping]) -> str:
    """The per-balancer summary as a markdown table."""
    head = ["balancer", "s/epoch", "× uniform", "1st epoch s", "train loss", "test loss", "test loss left / right",
            "test acc left / right", "s to uniform's final train loss (seeds)", "stationary, last epoch",
            "hybrid switch after epoch"]
    return "\n".join(markdown_table(head, [[
        r["balancer"], *(fmt(r[k]) for k in ("seconds_per_epoch", "ratio_to_uniform", "first_epoch_seconds",
                                             "train_loss", "test_loss")),
        f"{fmt(r['test_left_loss'])} / {fmt(r['test_right_loss'])}",
        f"{fmt(r['test_left_accuracy'], 4)} / {fmt(r['test_right_accuracy'], 4)}",
        ("not reached" if r["time_to_uniform_loss"] is None else fmt(r["time_to_uniform_loss"]))
        + f" ({r['reached']})",
        fmt(r["pareto_stationary_last"]), r["hybrid_switch_epochs"].replace(",", ", ") or "–"] for r in rows],
        align="lrrrrrrrrrl"))


def _loss(curves: Sequence[Mapping], balancer: str, key: str = "loss") -> list[float]:
    return [r[key] for r in curves if r["balancer"] == balancer and r["epoch"] > 0]


def reading(rows: Sequence[Mapping], curves: Sequence[Mapping], epochs: int) -> str:
    """The short paragraph comparing the measured numbers with seed 000's findings (built from the numbers)."""
    from mtlzoo.training import balancers

    by = {r["balancer"]: r for r in rows}
    parts = []
    if "mgda" in by and "mgda_ub" in by:
        parts.append(f"Speed: exact MGDA took {fmt(by['mgda']['ratio_to_uniform'])}× and MGDA-UB "
                     f"{fmt(by['mgda_ub']['ratio_to_uniform'])}× uniform's time per epoch, not seed 000's \"tens of "
                     "times\": this LeNet's shared trunk is small and the two-task min-norm problem has a closed form, "
                     "so the cost is the extra backward passes (T for MGDA, T to the latent for MGDA-UB).")
    if "hybrid" in by:
        h = by["hybrid"]
        if "mgda" in by and "mgda_ub" in by:
            parts.append(f"Hybrid ran at {fmt(h['seconds_per_epoch'] / by['mgda']['seconds_per_epoch'])}× exact "
                         f"MGDA's and {fmt(h['seconds_per_epoch'] / by['mgda_ub']['seconds_per_epoch'])}× MGDA-UB's "
                         "time per epoch.")
        switches = [s for s in h["hybrid_switch_epochs"].split(",") if s]
        if switches and all(s == "never" for s in switches):
            eps = balancers.get("hybrid").epsilon
            left, right = _loss(curves, "hybrid", "left_loss"), _loss(curves, "hybrid", "right_loss")
            drop = (f"; in the last epoch the per-task training losses still dropped by {fmt(left[-2] - left[-1])} "
                    f"and {fmt(right[-2] - right[-1])} (mean over seeds)" if len(left) > 1 and None not in left + right
                    else "")
            same = "gradnorm" in by and by["gradnorm"]["train_loss"] == h["train_loss"]
            parts.append(f"It never switched to MGDA-UB within {epochs} epochs: the switch needs an epoch in which "
                         f"some task's loss drops by less than ε = {eps:g}{drop}. So here it is latent GradNorm "
                         "throughout" + (" (the same losses as `gradnorm`, plus an MGDA-UB solve per step for the "
                                         "stationarity log)" if same else "") + ".")
        else:
            parts.append(f"Per seed, it switched to MGDA-UB after epoch: {h['hybrid_switch_epochs'].replace(',', ', ')}.")
        if "mgda" in by and h["test_loss"] is not None and by["mgda"]["test_loss"] is not None:
            parts.append(f"Quality: final test loss hybrid {fmt(h['test_loss'])}, exact MGDA "
                         f"{fmt(by['mgda']['test_loss'])}, MGDA-UB {fmt(by.get('mgda_ub', {}).get('test_loss'))}; "
                         "seed 000 has the hybrid matching MGDA.")
    if "gradnorm" in by and "mgda" in by:
        g, m = _loss(curves, "gradnorm"), _loss(curves, "mgda")
        below = sum(a < b for a, b in zip(m, g))
        parts.append(f"Training loss, GradNorm against MGDA: {fmt(g[0])} vs {fmt(m[0])} after epoch 1, "
                     f"{fmt(g[-1])} vs {fmt(m[-1])} after epoch {len(g)}; MGDA was below GradNorm in {below} of "
                     f"{len(g)} epochs (seed 000: MGDA pulls away in the last epochs of a longer run).")
    fractions = {b: _loss(curves, b, "pareto_stationary") for b in ("mgda", "mgda_ub", "hybrid")}
    fractions = {b: f for b, f in fractions.items() if f and None not in f}
    if fractions and all(max(f) == 0 for f in fractions.values()):
        parts.append(f"Stationarity: no step of {', '.join(fractions)} was Pareto-stationary in any of the {epochs} "
                     "epochs (tolerance: ||Σ α_t g_t|| ≤ 0.05 × the first step's largest task-gradient norm), so the "
                     "Fig. 4 curve stays at 0: training is still in the early part of Fig. 4, where the fraction is "
                     "near 0.")
    elif "mgda_ub" in fractions:
        f = fractions["mgda_ub"]
        parts.append(f"Stationarity: MGDA-UB's Pareto-stationary fraction went from {fmt(f[0])} (epoch 1) to "
                     f"{fmt(f[-1])} (epoch {len(f)}); seed 000 Fig. 4 shows it growing from near 0.")
    spread = mean_of([r["seconds_spread"] for r in rows])
    parts.append(f"Noise: runs went one after another on a shared 2-core CPU; within one run the slowest epoch "
                 f"(after the first) took {fmt(spread)}× the fastest on average, so speed ratios are rough. The "
                 "balancer order rotates with the seed.")
    return " ".join(parts)


def report_text(options, epochs: int, rows: Sequence[Mapping], curves: Sequence[Mapping], dataset: str,
                same: bool, figures: Sequence[str]) -> str:
    """The whole ``report.md``."""
    data = f"`{dataset}`" + (f", the first {options.limit} training and {max(2, options.limit // 6)} test source "
                             "images" if options.limit else ", full splits (60k train / 10k test)")
    published = "\n".join(f"- {where}: {what}." for where, what in PUBLISHED)
    plots = "\n\n".join(f"![{f}]({f}.png)" for f in figures)
    return f"""# hybrid_speed: loss against wall time and Pareto stationarity (seed 000 §4.5, Fig. 6 and Fig. 4)

Command: `{options.command or '(called from Python)'}`

Run: `multimnist_lenet`{f' (width {options.width})' if options.width else ''} on {data}, batch 256, the zoo recipe
(SGD lr 0.01, momentum 0.9), {epochs} epochs, seeds {options.seed_list}; balancers {', '.join(f'`{r["balancer"]}`'
for r in rows)}. Per seed every balancer starts from the same weights and sees the same batches (test loss before
training identical across balancers: {'yes' if same else 'NO'}). Wall time is training only (a callback's
`perf_counter` from epoch begin to the start of the epoch's test evaluation), cumulative over epochs. Training
loss is the `loss` log: the epoch mean of the sum of the task losses (unweighted, before any balancer weights).
Test loss and accuracy come from `validation_data=test` after every epoch. s/epoch is the median of epochs 2..E
(epoch 1 also traces the step; its time is the "1st epoch" column). All values are means over seeds.

## Results

{table(rows)}

## Seed 000's findings (no numeric table is published)

{published}

Setup there: {SETUP_000}; here: two-task MultiMNIST on CPU.

{plots}

## Reading

{reading(rows, curves, epochs)}
"""
