"""The report of ``mtlzoo reproduce celeba_radar``: radar chart, per-attribute table, mean next to seed 002."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mtlzoo.tools.reproduce.report_tables import markdown_table
from mtlzoo.tools.reproduce.reproduce_options import ReproduceOptions
from mtlzoo.tools.reproduce.reproduction_folder import ReproductionFolder


def write_report(folder: ReproductionFolder, options: ReproduceOptions, errors: Mapping[str, Mapping[str, float]],
                 epochs: int) -> Path:
    """Write ``errors.csv`` (one row per attribute + mean), ``radar.png`` and ``report.md``.

    Args:
        folder: the run folder.
        options: for the command and the settings line.
        errors: ``{method label: {attribute: error fraction}}`` (mean over seeds).
        epochs: training epochs per run.
    """
    from mtlzoo.tools.reproduce.celeba_radar import SEED_TABLE1
    from mtlzoo.tools.reproduce.celeba_radar_plot import error_rows, radar_figure

    rows = error_rows(errors)
    methods = list(errors)
    folder.write_csv("errors", rows, ["attribute", *methods])
    folder.save_figure(radar_figure(errors, title="CelebA: test error (%) per attribute (seed 002 Fig. 2)"), "radar")
    mean = rows[-1]
    table = markdown_table(["attribute", *methods],
                           [[r["attribute"].replace("_", " "), *(f"{r[m]:.2f}" for m in methods)] for r in rows])
    compare = markdown_table(["method", "mean error (%), ours", "seed 002 Table 1"],
                             [[name, f"{mean[name]:.2f}" if name in mean else "-", f"{seed:.2f}"]
                              for name, seed in SEED_TABLE1.items()])
    best = min(methods, key=lambda m: mean[m])
    wins = {m: sum(1 for r in rows[:-1] if r[m] == min(r[k] for k in methods)) for m in methods}
    limit = "all 162,770 training / 19,962 test images" if options.limit is None else \
        f"the first {options.limit} training / {max(1, options.limit // 6)} test images"
    text = f"""# CelebA per-attribute error: seed 002 Fig. 2

Command: `{options.command or '(called from Python)'}`

`resnet18_multihead` (width {options.width or 64}) on CelebA 64x64 ({limit}), 40 binary attributes, SGD 0.01
with momentum 0.9, batch 256, {epochs} epoch(s); methods {', '.join(methods)}; seeds
{', '.join(map(str, options.seed_list))} (errors averaged over seeds). Single task (seed 002's fifth curve) is
not run: 40 separate ResNet-18s.

![radar chart](radar.png)

## Mean error over the 40 attributes (seed 002 §4.2 Table 1)

{chr(10).join(compare)}

## Test error (%) per attribute

{chr(10).join(table)}

## Reading

Lowest mean error here: {best} ({mean[best]:.2f}%); attributes where each method has the lowest error:
{', '.join(f'{m} {n}' for m, n in wins.items())} of 40. Seed 002 reports MGDA-UB lowest (8.25%) and best on a
clear majority of attributes. {'These runs are shorter than the seed''s (' + str(epochs) + ' epoch(s)' +
('' if options.limit is None else ', limited data') + '), so absolute errors are higher and the ranking is only '
'indicative.' if epochs < 10 or options.limit is not None else ''}
"""
    folder.write_text("report.md", text)
    return folder.report_path
