"""The examples in mtlzoo.data's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mtlzoo.data

MODULES = ["mtlzoo.data"] + [f"mtlzoo.data.{m.name}" for m in pkgutil.iter_modules(mtlzoo.data.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
