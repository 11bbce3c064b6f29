"""``mtlzoo search split``: help, error paths, and a tiny end-to-end search on planted MNIST tasks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtlzoo.cli import main

MNIST = Path(os.environ.get("MTLZOO_TEST_MNIST", Path(__file__).resolve().parents[3] / "shared" / "data" /
                            "mnist.npz"))


def test_help_explains_the_search_with_examples():
    result = CliRunner().invoke(main, ["search", "split", "--help"])
    assert result.exit_code == 0
    assert "most stressed block" in result.output and "Examples:" in result.output
    assert "split" in CliRunner().invoke(main, ["search", "--help"]).output


@pytest.mark.parametrize("args, message", [
    (["--model", "nope"], "unknown model 'nope'"),
    (["--data", "nope"], "unknown data 'nope'"),
    (["--balancer", "nope"], "unknown balancer 'nope'"),
])
def test_unknown_names_are_rejected_with_the_known_ones(args, message):
    result = CliRunner().invoke(main, ["search", "split", *args])
    assert result.exit_code == 2 and message in result.output


def test_missing_data_names_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLZOO_OFFLINE", "1")
    result = CliRunner().invoke(main, ["search", "split", "--data", "planted_mnist", "--data-dir", str(tmp_path),
                                       "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1 and "mnist.npz" in result.output
    assert not (tmp_path / "run").exists()


def test_tiny_search_on_planted_mnist_writes_and_resumes_its_run_folder(tmp_path, monkeypatch):
    if not MNIST.is_file():
        pytest.skip(f"real MNIST not found at {MNIST} (set MTLZOO_TEST_MNIST)")
    monkeypatch.setenv("MTLZOO_OFFLINE", "1")
    args = ["search", "split", "--data", "planted_mnist", "--data-dir", str(MNIST.parent), "--limit", "256",
            "--width", "2", "--steps", "1", "--initial-epochs", "1", "--retrain-epochs", "0", "--batch-size", "64",
            "--max-batches", "1", "--run-dir", str(tmp_path / "run")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "step 1: split conv2 into" in result.output and "report.md" in result.output
    state = json.loads((tmp_path / "run" / "search.json").read_text())
    assert state["steps"][0]["block"] == "conv2" and (tmp_path / "run" / "report.md").is_file()
    again = CliRunner().invoke(main, args)  # finished: nothing is retrained, the same result is reported
    assert again.exit_code == 0 and "step 1: split conv2 into" in again.output
    changed = CliRunner().invoke(main, [a if a != "stress" else "random" for a in args] + ["--strategy", "random"])
    assert changed.exit_code == 1 and "other options" in changed.output
