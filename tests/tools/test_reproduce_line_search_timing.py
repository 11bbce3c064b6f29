"""``mtlzoo reproduce line_search_timing``: the interleaved timing, the Table 1 rows, resume and errors."""

import csv
import os
from pathlib import Path

import pytest

from mtlzoo.tools import reproduce
from mtlzoo.tools.reproduce import line_search_timing, line_search_timing_report, line_search_timing_rounds

MNIST = Path(os.environ.get("MTLZOO_TEST_MNIST", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
                            / "mnist.npz"))


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _timing(fast, classic, sgd, ub, trials=(1.0, 4.0)):
    return {"median_step_seconds": {"fast": fast, "classic": classic, "sgd": sgd, "mgda_ub": ub},
            "step_seconds": {}, "trials_mean": {"fast": trials[0], "classic": trials[1]},
            "eta_mean": {"fast": 1.0, "classic": 0.1}}


def _unit(seed, scale):
    return {"seed": seed, "epochs": 1, "batch_size": 256, "steps_per_epoch": 10,
            "init": _timing(0.11 * scale, 0.2 * scale, 0.1 * scale, 0.1 * scale),
            "trained": _timing(0.1, 0.3, 0.1, 0.12, trials=(1.0, 6.0))}


def test_table_rows_average_per_seed_ratios():
    rows = line_search_timing_report.table_rows([_unit(0, 1.0), _unit(1, 2.0)])
    by = {(r["weights"], r["method"]): r for r in rows}
    assert len(rows) == 8
    assert by["init", "fast"]["ratio_to_sgd"] == pytest.approx(1.1)
    assert by["init", "fast"]["ratio_to_sgd_sd"] == pytest.approx(0.0, abs=1e-12)
    assert by["trained", "classic"]["ratio_to_sgd"] == pytest.approx(3.0)
    assert by["trained", "classic"]["ratio_to_mgda_ub"] == pytest.approx(2.5)
    assert by["trained", "classic"]["trials_mean"] == 6.0 and by["trained", "sgd"]["trials_mean"] is None
    assert by["init", "classic"]["seconds_per_epoch"] == pytest.approx((0.2 + 0.4) / 2 * 10)
    assert by["init", "classic"]["published_ratio"] == 1.37


def test_reproduce_reuses_finished_units_and_writes_report(tmp_path, monkeypatch):
    folder = reproduce.ReproductionFolder(tmp_path)
    for seed, scale in ((0, 1.0), (1, 2.0)):
        folder.save_unit(f"timing-seed{seed}", _unit(seed, scale))

    def boom(*args, **kwargs):
        raise AssertionError("the finished units must be reused")

    monkeypatch.setattr(line_search_timing, "timing_unit", boom)
    options = reproduce.ReproduceOptions(seeds=2, command="mtlzoo reproduce line_search_timing")
    text = line_search_timing.reproduce(folder, options).read_text()
    assert "mtlzoo reproduce line_search_timing" in text and "| Backtracking | 2.00 ± 0.00" in text
    assert "1.37 (195)" in text and "![line_search_timing](line_search_timing.png)" in text
    rows = _rows(tmp_path / "line_search_timing.csv")
    assert [(r["weights"], r["method"]) for r in rows] == [(w, m) for w in ("init", "trained")
                                                           for m in ("fast", "classic", "sgd", "mgda_ub")]
    assert (tmp_path / "line_search_timing.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="after 1 epoch"):
        line_search_timing.reproduce(folder, reproduce.ReproduceOptions(seeds=1, epochs=2))


@pytest.mark.parametrize("kwargs, match", [({"limit": -5}, "limit=-5"), ({"width": 0}, "width=0")])
def test_bad_options_are_named(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        line_search_timing.reproduce(reproduce.ReproductionFolder(tmp_path), reproduce.ReproduceOptions(**kwargs))


def test_bad_method_and_rounds_are_named():
    with pytest.raises(ValueError, match="unknown method 'adam'; known: fast, classic, sgd, mgda_ub"):
        line_search_timing_rounds.compile_method(None, "adam")
    with pytest.raises(ValueError, match="rounds >= 1"):
        line_search_timing_rounds.time_rounds({}, None, None, rounds=0)


def test_time_rounds_interleaves_and_reports_searches():
    import mtlzoo

    data = mtlzoo.data.get("multidigits", batch_size=32)
    x, y = next(iter(data))
    weights = [v.numpy() for v in mtlzoo.models.get("multimnist_lenet", width=2).weights]
    models = {m: line_search_timing_rounds.build_method(m, weights, width=2)[0] for m in ("fast", "sgd")}
    out = line_search_timing_rounds.time_rounds(models, x, y, rounds=3, steps=1, warmup=1)
    assert set(out["median_step_seconds"]) == {"fast", "sgd"}
    assert all(len(s) == 3 and min(s) > 0 for s in out["step_seconds"].values())
    assert set(out["trials_mean"]) == {"fast"} and out["trials_mean"]["fast"] >= 1
    assert 0 < out["eta_mean"]["fast"] <= 1.0


@pytest.mark.slow
def test_tiny_end_to_end_on_multidigits(tmp_path, monkeypatch):
    monkeypatch.setattr(line_search_timing, "DATASET", "multidigits")
    for name, value in {"ROUNDS": 2, "STEPS": 1, "WARMUP": 1}.items():
        monkeypatch.setattr(line_search_timing_rounds, name, value)
    options = reproduce.ReproduceOptions(seeds=2, limit=300, width=2)
    line_search_timing.reproduce(reproduce.ReproductionFolder(tmp_path), options)
    rows = _rows(tmp_path / "line_search_timing.csv")
    assert len(rows) == 8 and all(float(r["step_ms"]) > 0 for r in rows)
    assert all(float(r["trials_mean"]) >= 1 for r in rows if r["method"] in ("fast", "classic"))
    unit = reproduce.ReproductionFolder(tmp_path).load_unit("timing-seed1")
    assert unit["steps_per_epoch"] == 2 and unit["batch_size"] == 256


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_file(), reason=f"real MNIST not found at {MNIST}")
def test_real_multimnist(tmp_path, monkeypatch):
    for name, value in {"ROUNDS": 3, "STEPS": 2, "WARMUP": 1}.items():
        monkeypatch.setattr(line_search_timing_rounds, name, value)
    options = reproduce.ReproduceOptions(seeds=1, limit=512, width=2, data_dir=str(MNIST.parent))
    line_search_timing.reproduce(reproduce.ReproductionFolder(tmp_path), options)
    assert "seed 001, MNIST" in (tmp_path / "report.md").read_text()
    assert len(_rows(tmp_path / "line_search_timing.csv")) == 8
