"""The one timing harness: warm-up, rounds, rotation, per-contender plans and hooks."""

import pytest

from mtlzoo.training.step_timing import interleaved_rounds, time_steps


def _recorder(calls, name):
    def step():
        calls.append(name)
        return name.upper()

    return step


def test_warmup_comes_first_then_the_rounds_rotate():
    calls = []
    out = interleaved_rounds({n: _recorder(calls, n) for n in "abc"}, [1, 1, 1], warmup=2, rotate=True)
    assert calls == list("aabbcc") + list("abc") + list("bca") + list("cab")
    assert out["outputs"] == {"a": ["A"] * 3, "b": ["B"] * 3, "c": ["C"] * 3}
    assert all(len(rounds) == 3 and all(len(r) == 1 and r[0] >= 0 for r in rounds)
               for rounds in out["seconds"].values())


def test_a_plan_per_contender_and_the_hooks():
    calls, seen = [], []
    out = interleaved_rounds({n: _recorder(calls, n) for n in "ab"}, {"a": [2, 0], "b": [1, 1]},
                             before=lambda r, name, count: seen.append((r, name, count)),
                             after_round=lambda r, seconds: seen.append((r, "done", len(seconds["a"]))))
    assert calls == ["a", "a", "b", "b"]
    assert seen == [(0, "a", 2), (0, "b", 1), (0, "done", 1), (1, "b", 1), (1, "done", 2)]
    assert [len(r) for r in out["seconds"]["a"]] == [2, 0]


@pytest.mark.parametrize("steps, plan, warmup, message", [
    ({}, [1], 0, "steps is empty"),
    ({"a": lambda: 0}, [1], -1, "warmup must be an integer >= 0"),
    ({"a": lambda: 0, "b": lambda: 0}, {"a": [1], "b": [1, 1]}, 0, "same number of rounds"),
])
def test_bad_arguments_are_one_line_errors(steps, plan, warmup, message):
    with pytest.raises(ValueError, match=message):
        interleaved_rounds(steps, plan, warmup=warmup)


def test_time_steps_keeps_the_outputs():
    out = []
    assert len(time_steps(lambda: 3, 2, out)) == 2 and out == [3, 3]
