"""``mtlzoo search split``: seed 000 §5's greedy min-stress split search."""

from __future__ import annotations

import click

from mtlzoo.cli.recipe_run import check_name as _check_name
from mtlzoo.cli.recipe_run import optimizer as _optimizer
from mtlzoo.cli.recipe_run import optimizer_config as _optimizer_config
from mtlzoo.cli.shared_options import data_dir_option


@click.command("split")
@click.option("--model", "model_name", default="lenet_bn_tree", show_default=True,
              help="Zoo model to grow; its searched blocks need batch norm (see `mtlzoo zoo`).")
@click.option("--data", "data_name", default="mnist_triple", show_default=True,
              help="Dataset (its tasks become the model's tasks when the model takes a task list).")
@data_dir_option
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Use only the first N training examples (datasets with a `limit` option, e.g. planted_mnist).")
@click.option("--steps", type=click.IntRange(min=0), default=2, show_default=True, help="Number of splits N.")
@click.option("--strategy", type=click.Choice(["stress", "random"]), default="stress", show_default=True,
              help="stress: split the most stressed block by task affinity (Alg. 5); random: the baseline.")
@click.option("--initial-epochs", type=click.IntRange(min=0), default=5, show_default=True,
              help="Most epochs of the first training (stops early at Pareto stationarity).")
@click.option("--fine-tune-epochs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Epochs of fine-tuning of each peeled network per step (k in Alg. 2/3).")
@click.option("--retrain-epochs", type=click.IntRange(min=0), default=1, show_default=True,
              help="Epochs of training after each split.")
@click.option("--balancer", default="hybrid", show_default=True, help="Balancer of every training.")
@click.option("--optimizer", default=None, help="Keras optimizer name. [default: the model's recipe]")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Learning rate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: the dataset's]")
@click.option("--slimming", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="Lambda of the L1 penalty on batch-norm gamma (eq. 5.6); 0 turns it off.")
@click.option("--max-batches", type=click.IntRange(min=1), default=20, show_default=True,
              help="Test batches used to compare activations.")
@click.option("--width", type=click.IntRange(min=1), default=None, help="Model width. [default: the zoo's]")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the weights, data order, fine-tuning, clustering and the random strategy.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Run folder. [default: runs/search-<model>-<data>-<strategy>-seed<seed>]")
def split(model_name, data_name, data_dir, limit, steps, strategy, initial_epochs, fine_tune_epochs, retrain_epochs,
          balancer, optimizer, lr, batch_size, slimming, max_batches, width, seed, run_dir):
    """Grow a tree network by splitting its most stressed block (seed 000 Alg. 5).

    Trains the model towards Pareto stationarity, then for each of --steps
    steps fine-tunes one peeled network per task, measures the stress of every
    splittable block, splits the most stressed one by spectral clustering of
    its children's affinity and retrains. The run folder gets search.json, the
    network after each step (models/), report.md, the affinity matrices (CSV
    and PNG), stress per block, per-task metrics and pictures of the trees.
    Rerunning the same command resumes an interrupted search.

    \b
    Examples:
      mtlzoo search split --data-dir ~/data --steps 2
      mtlzoo search split --data planted_mnist --data-dir ~/data --limit 10000 --steps 1
      mtlzoo search split --data planted_mnist --data-dir ~/data --strategy random --seed 1
    """
    import inspect

    import mtlzoo
    from mtlzoo.testing import seed_everything
    from mtlzoo.tools.split_search import GreedySplitSearch
    from mtlzoo.training import balancers

    _check_name("model", model_name, mtlzoo.models.names())
    _check_name("data", data_name, mtlzoo.data.names())
    _check_name("balancer", balancer, balancers.names())
    entry = mtlzoo.models.entry(model_name)
    info = mtlzoo.data.info(data_name)
    recipe = entry.recipe or {}
    opt = _optimizer(optimizer, lr, recipe)
    batch_size = int(batch_size or recipe.get("batch_size") or info.batch_size)
    options = {"limit": limit} if limit is not None else {}
    try:
        train = mtlzoo.data.get(data_name, split="train", batch_size=batch_size, data_dir=data_dir, seed=seed,
                                **options)
        test = mtlzoo.data.get(data_name, split="test", batch_size=batch_size, data_dir=data_dir, seed=seed)
        # activations are compared on the first --max-batches test batches: with per-task inputs (mnist_triple,
        # visual_decathlon) the test split runs task by task, so compare on mixed batches of every task's images
        mixable = "mode" in inspect.signature(mtlzoo.data.REGISTRY.factory(data_name).resolve()).parameters
        probe = (mtlzoo.data.get(data_name, split="test", batch_size=batch_size, data_dir=data_dir, seed=seed,
                                 mode="mixed", shuffle=True) if mixable else None)
    except (mtlzoo.data.DataNotFoundError, ValueError, TypeError) as e:
        raise click.ClickException(f"--data {data_name}: {e}") from None
    seed_everything(seed)
    kwargs = {"width": width} if width is not None else {}
    if "tasks" in entry.defaults:
        kwargs["tasks"] = [t.name for t in info.tasks]
    model = entry.build(**kwargs)
    try:
        info.check_model(model)
    except ValueError as e:
        raise click.ClickException(f"--model {model_name} cannot train on --data {data_name}: {e}") from None
    run_dir = run_dir or f"runs/search-{model_name}-{data_name}-{strategy}-seed{seed}"
    compile_args = {"optimizer": _optimizer_config(opt), "balancer": balancer}
    try:
        searcher = GreedySplitSearch(
            model, train, test, steps=steps, strategy=strategy, initial_epochs=initial_epochs,
            fine_tune_epochs=fine_tune_epochs, retrain_epochs=retrain_epochs, compile_args=compile_args,
            slimming=slimming, max_batches=max_batches, seed=seed, run_dir=run_dir, probe_data=probe)
        click.echo(f"Split search ({strategy}) on {model_name} / {data_name}, {steps} steps, into {run_dir}.")
        result = searcher.run()
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted; rerun the same command to resume from {run_dir}.", err=True)
        raise SystemExit(130) from None
    for record in result.steps:
        click.echo(f"step {record['step']}: split {record['block']} into {record['partition']}")
    click.echo(f"Final tree:\n{result.model.tree}\nReport: {run_dir}/report.md")
