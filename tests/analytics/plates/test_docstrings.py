"""The examples in the plates modules' docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    ["grammar", "provinces", "colour", "quality", "synth", "reader"],
)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(f"analytics.plates.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
