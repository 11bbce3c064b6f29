"""``mtlzoo bench``: JSON and table output, option handling, clear errors for bad names."""

from __future__ import annotations

import json
import math

from click.testing import CliRunner

from mtlzoo.cli import main
from mtlzoo.cli.bench import _settings

TINY = ["--model", "multimnist_lenet", "--option", "width=2", "--batch-size", "8", "--steps", "2",
        "--warmup", "1", "--rounds", "2"]


def test_json_result_has_every_balancer_and_finite_ratios():
    result = CliRunner().invoke(main, ["bench", *TINY, "--balancers", "mgda_ub, mgda", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["model"] == "multimnist_lenet" and row["model_options"] == {"width": 2}
    assert [r["balancer"] for r in row["results"]] == ["uniform", "mgda_ub", "mgda"]
    assert all(r["steps"] == 2 for r in row["results"])
    assert all(math.isfinite(v) and v > 0 for v in row["ratios"].values())
    assert set(row["ratios"]) == {"mgda_ub/uniform", "mgda/uniform", "mgda/mgda_ub"}
    assert "round 2/2 done" in result.stderr  # progress goes to stderr, not into the JSON


def test_table_lists_balancers_and_the_mgda_ratio():
    result = CliRunner().invoke(main, ["bench", *TINY, "--balancers", "mgda,mgda_ub"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("multimnist_lenet {'width': 2}: T=2, input 28x28x1, batch 8")
    names = [line.split()[0] for line in lines[3:6]]
    assert names == ["uniform", "mgda", "mgda_ub"]
    uniform = lines[3].split()
    assert (uniform[3], uniform[4], uniform[6]) == ("1.000", "1.000", "1.000")
    assert lines[-2].startswith("mgda / mgda_ub: ")


def test_unknown_balancer_and_model_are_named():
    bad = CliRunner().invoke(main, ["bench", *TINY, "--balancers", "uniform,mgda_fast"])
    assert bad.exit_code == 2
    assert "--balancers" in bad.output and "mgda_fast" in bad.output and "mgda_ub" in bad.output
    bad = CliRunner().invoke(main, ["bench", "--model", "lenet5"])
    assert bad.exit_code == 2 and "lenet5" in bad.output and "multimnist_lenet" in bad.output
    bad = CliRunner().invoke(main, ["bench", *TINY, "--option", "depth=3"])
    assert bad.exit_code == 1 and "depth" in bad.output and "width" in bad.output
    bad = CliRunner().invoke(main, ["bench", "--option", "width"])
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
    bad = CliRunner().invoke(main, ["bench", "--preset", "all", "--model", "multimnist_lenet"])
    assert bad.exit_code == 2 and "--preset all" in bad.output


def test_presets_and_overrides_resolve():
    none = {"batch_size": None, "steps": None, "slow_steps": None, "warmup": None, "rounds": None}
    (lenet,) = _settings(None, None, {}, None, none)
    assert (lenet["model"], lenet["batch_size"]) == ("multimnist_lenet", 256)
    lenet_run, resnet_run = _settings("all", None, {}, None, none)
    assert resnet_run["model_options"] == {"dataset": "celeba"} and resnet_run["batch_size"] == 64
    assert resnet_run["balancers"] == ("uniform", "mgda_ub", "mgda")
    (tiny,) = _settings("resnet18", None, {"width": 2}, ("mgda",), {**none, "steps": 1})
    assert tiny["model_options"] == {"dataset": "celeba", "width": 2}
    assert (tiny["steps"], tiny["slow_steps"], tiny["balancers"]) == (1, 1, ("mgda",))
    (other,) = _settings("resnet18", "lenet_bn_tree", {}, None, none)
    assert other["model"] == "lenet_bn_tree" and other["model_options"] == {}  # celeba is resnet18's option
