"""``mtlzoo bench``: median train-step time of each balancer on a zoo model, relative to ``uniform``."""

from __future__ import annotations

import json

import click

PRESET_NAMES = ("lenet", "resnet18", "all")


def _parse_options(pairs: tuple[str, ...]) -> dict:
    """``("width=2", "dataset=celeba")`` -> ``{"width": 2, "dataset": "celeba"}`` (values read as YAML)."""
    from mtlzoo.safe_yaml import load_yaml
    from mtlzoo.short_repr import short_repr

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{short_repr(pair)} is not KEY=VALUE (e.g. width=2).", param_hint="--option")
        try:
            options[key.strip()] = load_yaml(value, f"{short_repr(pair)}: the value")
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--option") from None
    return options


def _settings(preset, model, options, balancers, overrides) -> list[dict]:
    """One dict of ``run_benchmark`` arguments per preset to run."""
    from mtlzoo.training.benchmark import GENERIC, PRESETS

    if preset == "all" and model:
        raise click.UsageError("--model cannot be combined with --preset all; pick --preset lenet or resnet18.")
    chosen = list(PRESETS) if preset == "all" else [preset or ("lenet" if not model else None)]
    runs = []
    for name in chosen:
        base = dict(PRESETS[name]) if name else {**GENERIC, "model": model}
        if model and model != base["model"]:
            base.update(model=model, model_options={})  # the preset's options belong to its own model
        base["model_options"] = {**base["model_options"], **options}
        if balancers:
            base["balancers"] = balancers
        if overrides["steps"] is not None and overrides["slow_steps"] is None:
            base["slow_steps"] = min(overrides["steps"], base["slow_steps"])
        base.update({k: v for k, v in overrides.items() if v is not None})
        runs.append(base)
    return runs


def _check(settings: dict) -> None:
    from mtlzoo.training.benchmark import check_names

    for hint, balancers in (("--model", ()), ("--balancers", settings["balancers"])):
        try:
            check_names(settings["model"], balancers)
        except ValueError as err:
            raise click.BadParameter(str(err).replace("benchmark: ", ""), param_hint=hint) from None


def _table(result: dict) -> list[str]:
    shape = "x".join(map(str, result["input_shape"]))
    lines = [f"{result['model']} {result['model_options'] or ''}".rstrip()
             + f": T={result['tasks']}, input {shape}, batch {result['batch_size']}; "
               f"median of the timed steps after {result['warmup']} warm-up step(s), {result['rounds']} round(s)"]
    header = ("balancer", "steps", "median ms/step", "x uniform", "(of medians)", "min ms", "(of minimums)")
    rows = [(r["balancer"], str(r["steps"]), f"{r['median_ms']:.2f}", f"{r['ratio']:.3f}",
             f"{r['ratio_of_medians']:.3f}", f"{r['min_ms']:.2f}", f"{r['ratio_of_minimums']:.3f}")
            for r in result["results"]]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    if "mgda/mgda_ub" in result["ratios"]:
        lines.append(f"mgda / mgda_ub: {result['ratios']['mgda/mgda_ub']:.2f}")
    lines.append("x uniform: median over rounds of (the balancer's median / uniform's median in that round); "
                 "(of medians), (of minimums): over all timed steps")
    return lines


@click.command()
@click.option("--preset", type=click.Choice(PRESET_NAMES), default=None,
              help="lenet: multimnist_lenet (T=2, 28x28x1), batch 256, all balancers. resnet18: "
                   "resnet18_multihead on CelebA shapes (T=40, 64x64x3), batch 64, uniform/mgda_ub/mgda. "
                   "all: both. Default: lenet, unless --model is given.")
@click.option("--model", default=None, help="A zoo model (see `mtlzoo zoo`); replaces the preset's model.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A zoo builder option, e.g. --option width=2 --option dataset=celeba (repeatable).")
@click.option("--balancers", default=None, metavar="NAME,NAME,...",
              help="Comma-separated balancers; uniform (the baseline) is always run.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Samples per step.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Timed steps per balancer (lenet 60, resnet18 8).")
@click.option("--slow-steps", type=click.IntRange(min=1), default=None,
              help="Timed steps of mgda and pcgrad, which take one full backward pass per task "
                   "(lenet 60, resnet18 2; with --steps alone: the smaller of the two).")
@click.option("--warmup", type=click.IntRange(min=0), default=None,
              help="Untimed steps per balancer after tracing (lenet 5, resnet18 1).")
@click.option("--rounds", type=click.IntRange(min=1), default=None,
              help="Rounds the timed steps are spread over, visiting the balancers in turn (lenet 20, resnet18 4).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the weights and the synthetic batch.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per model instead of a table.")
def bench(preset, model, options, balancers, batch_size, steps, slow_steps, warmup, rounds, seed, as_json):
    """Median time of one train step of each balancer, relative to uniform on the same model and batch.

    Every balancer trains its own copy of the model (same weights) on one
    synthetic batch (random inputs and labels, no data needed) with SGD and
    the zoo recipe's loss, in this one process. Each step is traced, warmed
    up, then timed step by step over several rounds that alternate the
    balancers; the ratio to uniform is the median over rounds of the ratio
    of the two medians in each round, so load from other processes that
    comes and goes between rounds cancels out. Progress goes to stderr.

    Exact MGDA (and parameter-space PCGrad) takes one full backward pass per
    task: at T=40 a step costs about 25-40 plain steps and holds 40 copies
    of the gradients (the resnet18 preset peaks near 13 GB of memory and
    runs about 20 minutes on 2 CPU cores), so the resnet18 preset times only
    2 of its steps (see --slow-steps).

    \b
    Examples:
      mtlzoo bench --preset lenet
      mtlzoo bench --preset resnet18 --balancers uniform,mgda_ub,mgda
      mtlzoo bench --model lenet_bn_tree --balancers mgda_ub,hybrid --steps 30 --json
    """
    names = tuple(dict.fromkeys(b.strip() for b in balancers.split(",") if b.strip())) if balancers else None
    if balancers is not None and not names:
        raise click.BadParameter("give at least one balancer name, e.g. uniform,mgda_ub.", param_hint="--balancers")
    overrides = {"batch_size": batch_size, "steps": steps, "slow_steps": slow_steps, "warmup": warmup,
                 "rounds": rounds}
    runs = _settings(preset, model, _parse_options(options), names, overrides)
    for settings in runs:
        _check(settings)

    import tensorflow as tf

    from mtlzoo.training.benchmark import run_benchmark

    tf.get_logger().setLevel("ERROR")  # each balancer's step is its own tf.function: no retracing warning
    for settings in runs:
        click.echo(f"bench {settings['model']}: {', '.join(dict.fromkeys(['uniform', *settings['balancers']]))}",
                   err=True)
        try:
            result = run_benchmark(seed=seed, progress=lambda line: click.echo(f"  {line}", err=True), **settings)
        except ValueError as err:  # e.g. a builder option the model does not have
            raise click.ClickException(str(err)) from None
        if as_json:
            click.echo(json.dumps(result))
        else:
            click.echo("\n".join(_table(result)))
