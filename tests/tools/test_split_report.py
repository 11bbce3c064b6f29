"""The split search's report writers: valid PNGs, exact CSV round trips, markdown tables, atomic replacement."""

from __future__ import annotations

import csv
import doctest

import numpy as np
import pytest
from matplotlib.image import imread

import mtlzoo
from mtlzoo.tools.split_search import report
from mtlzoo.tools.split_search.report import (plot_affinity, plot_stress, plot_tree, tree_layout, write_markdown_report,
                                              write_matrix_csv, write_rows_csv)
from mtlzoo.tree_ops import split_tree

ORANGE = np.array([0xF6, 0xB2, 0x6B]) / 255.0  # the highlight colour


def _image(path):
    assert path.is_file() and path.stat().st_size > 1000
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4) and min(pixels.shape[:2]) > 50
    return pixels


def _has_colour(pixels, rgb, tol=0.02) -> bool:
    return bool((np.abs(pixels[..., :3] - rgb) < tol).all(axis=-1).any())


def _no_temp_files(folder):
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_affinity_heat_map(tmp_path):
    labels = ["digit", "shifted", "teacher"]
    m = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, np.nan]])
    path = plot_affinity(m, labels, tmp_path / "figs" / "affinity.png", "task affinity")
    assert path == tmp_path / "figs" / "affinity.png"
    _image(path)
    _no_temp_files(path.parent)
    with pytest.raises(ValueError, match="square matrix"):
        plot_affinity(np.ones((2, 3)), ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="2 labels for a 3x3"):
        plot_affinity(np.ones((3, 3)), ["a", "b"], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_tree_pictures_of_the_tiny_tree_and_a_split_tree(tmp_path):
    tree = mtlzoo.testing.tiny_tree(["d"])
    plain = _image(plot_tree(tree, tmp_path / "plain.png"))
    marked = _image(plot_tree(tree, tmp_path / "marked.png", title="before", highlight="trunk"))
    assert not _has_colour(plain, ORANGE) and _has_colour(marked, ORANGE)
    after, copies = split_tree(tree, "trunk", [["branch", "head_d"], ["head_c"]])
    _image(plot_tree(after, tmp_path / "after.png", "after splitting trunk", highlight=sorted(copies)))
    with pytest.raises(ValueError, match=r"highlight block\(s\) \['trunk'\] are not in the tree"):
        plot_tree(after, tmp_path / "bad.png", highlight="trunk")
    # a real zoo network's spec draws too
    _image(plot_tree(mtlzoo.models.get("lenet_bn_tree", width=2).tree, tmp_path / "zoo.png"))
    _no_temp_files(tmp_path)


def test_tree_layout_is_by_depth_with_parents_centred_on_children():
    tree = mtlzoo.testing.tiny_tree(["d"])
    where = tree_layout(tree)
    assert set(where) == set(tree.blocks)
    assert all(where[b][0] == tree.depth_of(b) for b in tree.blocks) and where[tree.root][0] == 0
    leaves = [b for b in tree.blocks if not tree.children(b)]
    assert sorted(where[b][1] for b in leaves) == list(range(len(leaves)))
    for b in tree.blocks:
        if tree.children(b):
            assert where[b][1] == pytest.approx(np.mean([where[c][1] for c in tree.children(b)]))


def test_matrix_csv_round_trips_exactly(tmp_path):
    m = np.random.default_rng(0).random((4, 4)) / 3.0
    labels = ["a", "b, with comma", "c", "d"]
    path = write_matrix_csv(m, labels, tmp_path / "m.csv")
    with open(path, newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["", *labels]
    assert [row[0] for row in table[1:]] == labels
    np.testing.assert_array_equal(np.array([[float(v) for v in row[1:]] for row in table[1:]]), m)
    with pytest.raises(ValueError, match="square matrix"):
        write_matrix_csv(np.ones(3), ["a", "b", "c"], tmp_path / "bad.csv")


def test_rows_csv_round_trips_and_fills_missing_values(tmp_path):
    rows = [{"step": 1, "block": "conv2", "stress": 0.125}, {"step": 2, "block": "fc", "stress": 1 / 3, "note": "x"}]
    path = write_rows_csv(rows, tmp_path / "rows.csv")
    with open(path, newline="") as fh:
        back = list(csv.DictReader(fh))
    assert list(back[0]) == ["step", "block", "stress", "note"]
    assert back[0]["note"] == "" and back[1]["note"] == "x"
    assert [float(r["stress"]) for r in back] == [0.125, 1 / 3] and [int(r["step"]) for r in back] == [1, 2]
    empty = write_rows_csv([], tmp_path / "empty.csv", fieldnames=["step", "block"])
    assert empty.read_text().splitlines() == ["step,block"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    path = write_rows_csv([{"a": 1}], tmp_path / "keep.csv")
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_rows_csv([{"a": 2, "b": 3}], path, fieldnames=["a"])  # "b" is not a column
    assert path.read_bytes() == before
    with pytest.raises(ValueError):
        plot_stress([{"step": 1}], tmp_path / "keep.png")
    _no_temp_files(tmp_path)


def test_stress_chart(tmp_path):
    rows = [{"step": 1, "block": "conv1", "stress": 0.3}, {"step": 1, "block": "conv2", "stress": 0.5},
            {"step": 2, "block": "conv1", "stress": 0.2}, {"step": 2, "block": "conv2_1", "stress": 0.1},
            {"step": 2, "block": "conv2_2", "stress": 0.4}]
    _image(plot_stress(rows, tmp_path / "stress.png"))
    with pytest.raises(ValueError, match="step, block, stress"):
        plot_stress([], tmp_path / "none.png")


def test_markdown_report(tmp_path):
    sections = [("Tree", "![tree](tree.png)"),
                ("Stress", [{"block": "a|b", "stress": 0.123456}, {"block": "fc", "stress": None}]),
                ("Splits", [])]
    text = write_markdown_report(tmp_path / "report.md", sections, title="Run 1").read_text()
    assert text.startswith("# Run 1\n\n## Tree\n\n![tree](tree.png)\n")
    assert "| block | stress |\n| --- | --- |\n| a\\|b | 0.1235 |\n| fc |  |" in text
    assert text.endswith("## Splits\n\n(none)\n")
    with pytest.raises(ValueError, match="section 'Bad' holds int"):
        write_markdown_report(tmp_path / "r2.md", [("Bad", 3)])
    with pytest.raises(ValueError, match="section 0 is"):
        write_markdown_report(tmp_path / "r2.md", ["just a heading"])
    assert not (tmp_path / "r2.md").exists()


def test_docstring_examples_run():
    result = doctest.testmod(report, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 5 and result.failed == 0
