"""Fuzzing run folders: random corruptions of a whole run folder, read through ``RunFolder``'s public methods.

The base folder is written with ``RunFolder``'s own writers (config, two epochs of history,
the final model, the checkpoint, the backup, the evaluation). Each case copies it and applies
one to three corruptions -- a file deleted, truncated, filled with random bytes, bytes flipped,
replaced by random JSON or text, garbage appended, replaced by a folder, or a stray file
added -- then asks the folder what it holds (``check``, ``read_config``, ``history_rows``,
``epochs_done``, ``finished_epochs``; and, when ``check`` passed, as ``mtlzoo train`` goes on,
``conflicts`` and ``resume_point``). Every call returns or raises a one-line ValueError naming a
file; nothing is written; nothing else escapes.
50 examples in the default suite, ``MTLZOO_FUZZ_EXAMPLES`` (1000) in the slow run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtlzoo.cli.run_folder import RunFolder


def _harness():
    spec = importlib.util.spec_from_file_location("_fuzz_harness", Path(__file__).parents[1] / "fuzz_harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _harness()
OPTIONS = {"model": "tiny", "data": "toy", "balancer": "uniform", "epochs": 2, "batch_size": 4, "seed": 0,
           "optimizer": "sgd", "lr": 0.1}


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory) -> Path:
    """A finished two-epoch run folder, written by RunFolder's writers."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    run = RunFolder(tmp_path_factory.mktemp("fuzz_run") / "run")
    run.write_config({"command": "mtlzoo train", "options": OPTIONS})
    for epoch in range(2):
        run.append_history(epoch, {"loss": 1.0 / (epoch + 1), "left_accuracy": 0.5 + epoch / 10})
        run.save_checkpoint(model)
        if hasattr(run, "backup") and hasattr(run.backup, "save"):
            run.backup.save(model, epoch + 1)
    run.write_history()
    run.save_model(model)
    run.write_json(run.evaluation_path, {"epochs": 2, "split": "test", "tasks": {"left": {"accuracy": 0.6}}})
    return run.path


ACTIONS = ["delete", "truncate", "random bytes", "flip bytes", "random JSON", "random text", "append", "folder",
           "stray file", "empty"]
JSON_KEYS = st.sampled_from(["options", "epochs", "epoch", "weights", "sha256", "batch"]) | st.text(max_size=5)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10 ** 20, 10 ** 20) | st.floats()
                           | st.text(max_size=10),
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(JSON_KEYS, inner, max_size=4)), max_leaves=12)
CORRUPTIONS = st.lists(st.tuples(st.integers(0, 10 ** 6), st.sampled_from(ACTIONS), st.integers(0, 10 ** 9),
                                 st.binary(max_size=64), JSON_VALUES, st.text(max_size=64)),
                       min_size=1, max_size=3)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _corrupt(folder: Path, corruptions) -> None:
    for pick, action, number, raw, value, text in corruptions:
        files = _files(folder)
        if not files:
            return
        path = files[pick % len(files)]
        data = path.read_bytes()
        if action == "delete":
            path.unlink()
        elif action == "truncate":
            path.write_bytes(data[: number % (len(data) + 1)])
        elif action == "random bytes":
            path.write_bytes(np.random.default_rng(number).bytes(number % 4096))
        elif action == "flip bytes" and data:
            flipped = bytearray(data)
            for i in range(1 + number % 8):
                flipped[(number * (i + 7)) % len(flipped)] ^= 1 + (number >> i) % 255
            path.write_bytes(bytes(flipped))
        elif action == "random JSON":
            path.write_text(json.dumps(value))
        elif action == "random text":
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        elif action == "append":
            path.write_bytes(data + raw)
        elif action == "folder":
            path.unlink()
            path.mkdir()
        elif action == "stray file":
            (path.parent / f".{path.name}.tmp{number % 100}").write_bytes(raw)
        elif action == "empty":
            path.write_bytes(b"")


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.is_dir(), hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
                                         else None) for p in folder.rglob("*")}


#: Asked of every folder, whatever ``check`` says (each documents a ValueError for a bad file).
QUESTIONS = {
    "check": lambda run: run.check() if hasattr(run, "check") else None,
    "read_config": lambda run: run.read_config(),
    "history_rows": lambda run: run.history_rows(),
    "epochs_done": lambda run: run.epochs_done(),
    "finished_epochs": lambda run: run.finished_epochs(),
}
#: Asked once ``check`` passed, as ``mtlzoo train`` does (``resume_point``: "call check first").
AFTER_CHECK = {
    "conflicts": lambda run: run.conflicts({**OPTIONS, "lr": 0.2}),
    "resume_point": lambda run: run.resume_point() if hasattr(run, "resume_point") else None,
}


def _case(record, base: Path, corruptions) -> None:
    with record.case(corruptions), tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "run"
        shutil.copytree(base, folder)
        _corrupt(folder, corruptions)
        before = _snapshot(folder)
        run = RunFolder(folder)
        refused = []
        for name, ask in QUESTIONS.items():
            try:
                ask(run)
            except ValueError as error:
                message = harness.one_line(error, limit=1000)
                assert str(folder) in message, message  # it names the file at fault
                refused.append(name)
        for name, ask in AFTER_CHECK.items() if "check" not in refused else ():
            try:
                ask(run)
            except ValueError as error:
                assert str(folder) in harness.one_line(error, limit=1000)
                refused.append(name)
        assert _snapshot(folder) == before, "reading the folder changed it"
        record.outcome("check refused" if "check" in refused else "check passed")


def _run(settings, base):
    record = harness.FuzzRecord("run-folder corruptions")
    settings(given(CORRUPTIONS)(lambda corruptions: _case(record, base, corruptions)))()
    record.finish()


def test_fuzz_run_folder_corruptions(base_folder):
    _run(harness.FAST, base_folder)


def test_the_uncorrupted_base_folder_passes(base_folder):
    run = RunFolder(base_folder)
    for ask in [*QUESTIONS.values(), *AFTER_CHECK.values()]:
        ask(run)
    assert run.finished_epochs() == 2 and [r["epoch"] for r in run.history_rows()] == [0, 1]


@pytest.mark.parametrize("name", ["config.json", "history.csv", "evaluation.json", "history.json",
                                  "backup/training_metadata.json"])
def test_a_file_replaced_by_a_folder_is_a_value_error(base_folder, tmp_path, name):
    """Found by this fuzz (it escaped as IsADirectoryError), fixed in run_folder.py / run_backup.py."""
    folder = tmp_path / "run"
    shutil.copytree(base_folder, folder)
    path = folder / name
    path.unlink()
    path.mkdir()
    run = RunFolder(folder)
    refused = 0
    for ask in QUESTIONS.values():
        try:
            ask(run)
        except ValueError as error:
            assert name.split("/")[-1] in harness.one_line(error)
            refused += 1
    assert refused  # check() at least says so


@pytest.mark.slow
def test_fuzz_run_folder_corruptions_many(base_folder):
    _run(harness.SLOW, base_folder)
