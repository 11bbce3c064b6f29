"""Train the zoo's shipped weights from ``mnist.npz`` and write them with their model cards.

Usage::

    python benchmarks/make_zoo_weights.py --data-dir ../shared/data [--only multimnist_lenet-multimnist,...]
        [--from-run multimnist_lenet-multimnist=RUN_DIR] [--runs runs/zoo-weights] [--epochs N]
        [--set KEY=VALUE ...] [--out DIR] [--overwrite]

For every target ``<model>-<weights>`` of :data:`TARGETS` it

1. trains the target's recipe with seed 0 through ``mtlzoo train`` (a subprocess) into
   ``<runs>/<target>/``, a resumable run folder: rerunning the script resumes it. With
   ``--from-run TARGET=RUN_DIR`` it takes a run that already finished with the same
   recipe instead (e.g. the ``mgda_ub-seed0`` unit of ``mtlzoo reproduce multimnist_table3
   --epochs 100``, which is exactly the ``multimnist`` recipe with seed 0);
2. saves the trained network's weights (``save_weights``, no optimizer or balancer state);
3. builds a fresh model with ``mtlzoo.models.get(model, weights=<that file>)``, evaluates it on
   the test split as ``mtlzoo.data.get(data, split="test")`` builds it (default seed 0), and
   writes the measured per-task metrics into the card ``<model>-<weights>.json``;
4. moves both into ``models/weights/`` (the package's ``mtlzoo/models/weights``).

It also writes ``multimnist.examples.json``: the first :data:`EXAMPLES` test pairs of
``mtlzoo.data.get("multimnist", split="test")`` as uint8 pixels with their labels, which
``mtlzoo export ... --request FILE`` turns into an example predict request (no data files needed).

Existing shipped files are never replaced unless ``--overwrite`` is given. The script is not part
of the package (nothing imports it). Cost on 2 idle CPU cores: ``multimnist_lenet`` about 6-7 s per
epoch (100 epochs); ``cross_stitch_lenet`` several times that (30 epochs); ``lenet_bn_tree`` on
``planted_mnist`` (20 epochs) about 10 min in all on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "models" / "weights"


def _targets() -> dict:
    """``{target: (model, weights, data, Recipe)}``: what each shipped weights file is trained with."""
    from mtlzoo.training import Recipe

    parity = Recipe.load("multimnist").replace(seeds=[0])
    planted = Recipe({
        "model": "lenet_bn_tree", "model_config": {"tasks": ["digit", "shifted", "teacher"]},
        "data": "planted_mnist", "balancer": "hybrid",
        # Adam 1e-3, batch 128: the split-search reproduction's training (tools/reproduce/split_search.py)
        "optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.001}},
        "batch_size": 128, "epochs": 20, "seeds": [0]}, name="lenet_bn_tree-planted_mnist")
    return {
        # seed 002's "Ours": MGDA-UB with the authors' full setup (dropout 0.5, 100 epochs, lr x 0.85 / 10 epochs)
        "multimnist_lenet-multimnist": ("multimnist_lenet", "multimnist", "multimnist", parity),
        # seed 003's cross-stitch network on the same data and schedule, its zoo recipe's uniform balancer; 30
        # epochs: its two columns and stitch units cost several times a LeNet epoch on CPU
        "cross_stitch_lenet-multimnist": ("cross_stitch_lenet", "multimnist", "multimnist",
                                          parity.replace(model="cross_stitch_lenet", model_config={},
                                                         balancer="uniform", epochs=30)),
        # seed 000's truncated LeNet with batch norm, fully shared, on the planted three-task MNIST
        "lenet_bn_tree-planted_mnist": ("lenet_bn_tree", "planted_mnist", "planted_mnist", planted),
    }


#: The recipe keys that must agree between a reused run (``--from-run``) and the target's recipe.
SAME = ("model", "model_config", "data", "data_config", "task", "balancer", "line_search", "optimizer", "lr",
        "schedule", "batch_size", "epochs")
SEED = 0
#: Test images shipped for the example request (``mtlzoo export --request``).
EXAMPLES = 4


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path, help="folder with mnist.npz")
    parser.add_argument("--only", default=None, help="comma-separated targets (default: all)")
    parser.add_argument("--from-run", action="append", default=[], metavar="TARGET=RUN_DIR",
                        help="use this finished run of the same recipe instead of training (repeatable)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "zoo-weights", help="run folders")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipes' epochs (quick checks)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key as `mtlzoo train --set` does (e.g. model_config.dropout=0); "
                             "recorded in the card (repeatable)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the weights and cards go")
    parser.add_argument("--overwrite", action="store_true", help="replace existing weights and cards")
    args = parser.parse_args(argv)

    targets = _targets()
    chosen = list(targets) if args.only is None else [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in targets]
    if unknown or not chosen:
        parser.error(f"--only: unknown target(s) {unknown}; known: {', '.join(targets)}")
    reuse = {}
    for item in args.from_run:
        key, sep, path = item.partition("=")
        if not sep or key not in targets:
            parser.error(f"--from-run {item!r}: write TARGET=RUN_DIR with TARGET one of {', '.join(targets)}")
        reuse[key] = Path(path)
    _write_examples("multimnist", args)
    for target in chosen:
        model, weights, data, recipe = targets[target]
        if args.epochs is not None:
            recipe = recipe.replace(epochs=args.epochs)
        recipe = recipe.override(args.assignments)
        weights_file, card_file = args.out / f"{target}.weights.h5", args.out / f"{target}.json"
        if not args.overwrite and (weights_file.exists() or card_file.exists()):
            print(f"{target}: {weights_file} exists; skipped (pass --overwrite to regenerate it).")
            continue
        if target in reuse:
            run_dir = reuse[target]
            _check_reused(run_dir, recipe)
            command = None
        else:
            run_dir = args.runs / target
            command = _train(recipe, run_dir, args.data_dir, target)
        _publish(target, model, weights, data, recipe, run_dir, args, command)
    return 0


def _train(recipe, run_dir: Path, data_dir: Path, target: str) -> list[str]:
    """Run ``mtlzoo train`` on ``recipe`` (written as YAML beside the run) with seed 0; resumes ``run_dir``."""
    import yaml

    from mtlzoo.atomic_file import atomic_file

    recipe_file = run_dir.parent / f"{target}.yaml"
    with atomic_file(recipe_file, "w") as fh:
        yaml.safe_dump(recipe.to_dict(), fh, sort_keys=False)
    command = [sys.executable, "-m", "mtlzoo", "train", str(recipe_file), "--seed", str(SEED),
               "--run-dir", str(run_dir), "--data-dir", str(data_dir)]
    print(f"{target}: " + " ".join(command), flush=True)
    subprocess.run(command, check=True)
    return command


def _check_reused(run_dir: Path, recipe) -> None:
    """Stop unless ``run_dir`` finished training ``recipe`` with seed 0 (never train into someone else's run)."""
    config_file, evaluation = run_dir / "config.json", run_dir / "evaluation.json"
    if not config_file.is_file() or not evaluation.is_file() or not (run_dir / "model.keras").is_file():
        raise SystemExit(f"--from-run {run_dir}: not a finished run folder (no config.json, model.keras and "
                         f"evaluation.json yet); wait for it to finish, or leave --from-run out to train anew.")
    config = json.loads(config_file.read_text())
    saved = _plain(config.get("training_recipe", {}).get("values", {}))
    wanted = _plain(recipe.to_dict())
    differ = {k: (saved.get(k), wanted.get(k)) for k in SAME if saved.get(k) != wanted.get(k)}
    if config.get("options", {}).get("seed") != SEED:
        differ["seed"] = (config.get("options", {}).get("seed"), SEED)
    finished = json.loads(evaluation.read_text()).get("epochs")
    if finished != recipe.epochs:
        differ["finished epochs"] = (finished, recipe.epochs)
    if differ:
        listed = "; ".join(f"{k}: {a!r} (run) vs {b!r} (recipe)" for k, (a, b) in differ.items())
        raise SystemExit(f"--from-run {run_dir} was trained otherwise: {listed}.")


def _plain(values: dict) -> dict:
    """Recipe values compared as the library reads them: optimizer names are case-insensitive (SGD = sgd)."""
    out = dict(values)
    spec = out.get("optimizer")
    if isinstance(spec, str):
        out["optimizer"] = spec.lower()
    elif isinstance(spec, dict) and isinstance(spec.get("class_name"), str):
        out["optimizer"] = {**spec, "class_name": spec["class_name"].lower()}
    return out


def _publish(target, model_name, weights, data, recipe, run_dir: Path, args, command) -> None:
    """Save the run's weights, measure them on the test split, write weights + card into ``args.out``."""
    import tempfile

    import keras

    import mtlzoo
    from mtlzoo.atomic_file import atomic_file
    from mtlzoo.tools.evaluation import per_task
    from mtlzoo.tools.model_source import load_trained

    trained = load_trained(run_dir)  # compile=False: the network alone, no balancer or optimizer state
    scratch = Path(tempfile.mkdtemp(prefix=f"{target}-"))
    candidate = scratch / f"{target}.weights.h5"
    trained.save_weights(str(candidate))
    keras.backend.clear_session()
    fresh = mtlzoo.models.get(model_name, weights=candidate, **recipe.model_config)  # the loading path users take
    params = int(fresh.count_params())  # before compile() attaches the balancer's variables
    fresh.compile()  # the zoo recipe's losses and metrics
    test = mtlzoo.data.get(data, split="test", data_dir=args.data_dir, download=False)
    tasks = per_task({k: float(v) for k, v in fresh.evaluate(test, return_dict=True, verbose=0).items()},
                     fresh.tasks)
    examples = sum(int(keras.ops.shape(x)[0]) for x, _ in test)
    run_config = json.loads((run_dir / "config.json").read_text())
    run_evaluation = json.loads((run_dir / "evaluation.json").read_text())
    card = {
        "model": model_name,
        "weights": weights,
        "data": data,
        "description": mtlzoo.models.entry(model_name).description,
        "model_config": recipe.model_config,
        "recipe": {"name": recipe.name, **recipe.to_dict()},
        "balancer": recipe.balancer,
        "seed": SEED,
        "epochs": run_evaluation.get("epochs"),
        "params": params,
        "test": {"split": "test", "loader": f"mtlzoo.data.get({data!r}, split='test')", "data_options": {"seed": 0},
                 "source": "mnist.npz", "examples": examples, "tasks": tasks},
        "commit": _git("rev-parse", "HEAD"),
        "tree_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "trained": {"run_created": run_config.get("created"), "run_updated": run_config.get("updated"),
                    "versions": run_config.get("versions")},
        "sha256": hashlib.sha256(candidate.read_bytes()).hexdigest(),
        "command": f"python benchmarks/make_zoo_weights.py --data-dir DIR --only {target} --overwrite"
                   + "".join(f" --set {a}" for a in args.assignments),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_file(args.out / f"{target}.weights.h5", "wb") as fh:
        fh.write(candidate.read_bytes())
    with atomic_file(args.out / f"{target}.json", "w") as fh:
        json.dump(card, fh, indent=2)
        fh.write("\n")
    summary = ", ".join(f"{t} " + ", ".join(f"{k} {v:.4f}" for k, v in m.items()) for t, m in tasks.items())
    print(f"{target}: wrote {args.out / (target + '.weights.h5')} and its card; test: {summary}", flush=True)


def _write_examples(data: str, args) -> None:
    """``<out>/<data>.examples.json``: the first test images (uint8 pixels = value x 255) and their labels."""
    import numpy as np

    import mtlzoo
    from mtlzoo.atomic_file import atomic_file

    path = args.out / f"{data}.examples.json"
    if path.exists() and not args.overwrite:
        return
    x, y = next(iter(mtlzoo.data.get(data, split="test", batch_size=EXAMPLES, data_dir=args.data_dir,
                                     download=False)))
    x = np.asarray(x)
    pixels = np.round(x * 255).astype(np.uint8)
    if not np.array_equal(pixels.astype(np.float32) / 255, x):
        raise SystemExit(f"{data}: test images are not multiples of 1/255; cannot store them as uint8.")
    examples = {"data": data, "loader": f"mtlzoo.data.get({data!r}, split='test', batch_size={EXAMPLES}), "
                                         f"its first batch (seed 0, not shuffled)",
                "source": "mnist.npz", "shape": list(x.shape[1:]), "scale": "pixel / 255",
                "pixels": pixels.reshape(len(x), -1).tolist(),
                "labels": {t: np.asarray(v).astype(int).tolist() for t, v in y.items()}}
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w") as fh:
        json.dump(examples, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"{data}: wrote {path} ({EXAMPLES} test images)", flush=True)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


if __name__ == "__main__":
    sys.exit(main())
