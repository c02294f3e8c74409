"""The examples in the plates modules' docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    ["contract.plates.grammar", "contract.plates.provinces", "analytics.plates.colour", "analytics.plates.quality",
     "analytics.plates.synth", "analytics.plates.reader"],
)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
