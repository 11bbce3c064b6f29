"""``mtlzoo reproduce celeba_radar``: radar plot and table from synthetic errors, training loop on fake CelebA."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import mtlzoo
from mtlzoo.testing import seed_everything
from mtlzoo.tools import reproduce as r
from mtlzoo.tools.reproduce import celeba_radar
from mtlzoo.tools.reproduce.celeba_radar_plot import error_rows, radar_figure

ATTRIBUTES = [t.name for t in mtlzoo.data.info("celeba").tasks]


def _errors(methods=("uniform", "mgda_ub")):
    rng = np.random.default_rng(0)
    return {m: {a: float(rng.uniform(0.01, 0.4)) for a in ATTRIBUTES} for m in methods}


def test_radar_figure_has_one_labelled_spoke_per_attribute_and_one_polygon_per_method(tmp_path):
    errors = _errors(("uniform", "gradnorm", "mgda_ub"))
    fig = radar_figure(errors)
    ax = fig.axes[0]
    assert ax.name == "polar"
    assert [t.get_text() for t in ax.get_xticklabels()] == [a.replace("_", " ") for a in ATTRIBUTES]
    assert [line.get_label() for line in ax.get_lines()] == list(errors)
    first = ax.get_lines()[0].get_ydata()
    assert len(first) == 41 and first[0] == first[-1]  # closed polygon, in percent
    assert first[0] == pytest.approx(100 * errors["uniform"][ATTRIBUTES[0]])
    path = r.ReproductionFolder(tmp_path).save_figure(fig, "radar")
    assert path.stat().st_size > 10_000


def test_error_rows_give_percent_per_attribute_and_the_mean():
    errors = _errors()
    rows = error_rows(errors)
    assert [row["attribute"] for row in rows] == [*ATTRIBUTES, "mean"]
    assert rows[-1]["mgda_ub"] == pytest.approx(100 * np.mean(list(errors["mgda_ub"].values())))


def test_radar_rejects_mismatched_attributes():
    errors = _errors()
    del errors["mgda_ub"]["Young"]
    with pytest.raises(ValueError, match="mgda_ub"):
        radar_figure(errors)
    with pytest.raises(ValueError, match="at least 3"):
        error_rows({"uniform": {"a": 0.1, "b": 0.2}})


def _fake_celeba(calls):
    """A tiny tf.data in the celeba layout: (64x64x3 float images, {attribute: (1,) float32 0/1})."""
    import tensorflow as tf

    real_get = mtlzoo.data.get

    def get(name, split="train", batch_size=None, data_dir=None, seed=0, **options):
        if name != "celeba":
            return real_get(name, split=split, batch_size=batch_size, data_dir=data_dir, seed=seed, **options)
        calls.append(split)
        rng = np.random.default_rng(seed + (split == "test"))
        n = 48
        x = rng.uniform(0, 1, (n, 64, 64, 3)).astype("float32")
        y = {a: (x[:, :1, :1, i % 3].reshape(n, 1) > 0.5).astype("float32") for i, a in enumerate(ATTRIBUTES)}
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size or 256)

    return get


def _tiny_run(tmp_path, monkeypatch, methods):
    seed_everything(0)
    calls = []
    monkeypatch.setattr(mtlzoo.data, "get", _fake_celeba(calls))
    monkeypatch.setattr(celeba_radar, "METHODS", methods)
    folder = r.ReproductionFolder(tmp_path / "run")
    options = r.ReproduceOptions(epochs=1, seeds=1, limit=24, width=2)
    spec = mtlzoo.data.get("celeba", batch_size=4).element_spec
    assert spec[0].shape[1:] == (64, 64, 3) and set(spec[1]) == set(ATTRIBUTES)
    report = r.get("celeba_radar")(folder, options)
    assert set(calls) == {"train", "test"}
    text = report.read_text()
    labels = [celeba_radar.LABELS[m] for m in methods]
    assert "![radar chart](radar.png)" in text and all(label in text for label in labels)
    assert "8.25" in text  # seed 002 Table 1, MGDA-UB
    with open(folder.path / "errors.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["attribute"] for row in rows] == [*ATTRIBUTES, "mean"]
    assert list(rows[0]) == ["attribute", *labels]
    assert all(0.0 <= float(row[labels[-1]]) <= 100.0 for row in rows)
    assert (folder.path / "radar.png").stat().st_size > 10_000
    unit = folder.load_unit(f"{methods[-1]}-seed0")
    assert set(unit["error"]) == set(ATTRIBUTES)

    def boom(*args, **kwargs):
        raise AssertionError("a finished unit was trained again")

    monkeypatch.setattr(celeba_radar, "train_and_measure", boom)
    (folder.path / "report.md").unlink()
    assert r.get("celeba_radar")(folder, options).is_file()


@pytest.mark.slow  # ResNet-18 with 40 heads: ~60 s of tracing even at width 2
def test_training_loop_on_synthetic_celeba_writes_report_and_resumes(tmp_path, monkeypatch):
    _tiny_run(tmp_path, monkeypatch, ("uniform",))


@pytest.mark.slow
def test_mgda_ub_and_uniform_on_synthetic_celeba(tmp_path, monkeypatch):
    _tiny_run(tmp_path, monkeypatch, ("uniform", "mgda_ub"))


def test_missing_celeba_raises_data_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLZOO_OFFLINE", "1")
    with pytest.raises(mtlzoo.data.DataNotFoundError):
        r.get("celeba_radar")(r.ReproductionFolder(tmp_path), r.ReproduceOptions(seeds=1, data_dir=str(tmp_path)))


def test_bad_limit_is_named(tmp_path):
    with pytest.raises(ValueError, match="limit=2"):
        r.get("celeba_radar")(r.ReproductionFolder(tmp_path), r.ReproduceOptions(limit=2))
