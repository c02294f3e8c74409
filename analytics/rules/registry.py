"""Which rule classes exist, and the `RuleConfig` discriminated union built from them.

Built-in rules live in this package. Other teams add rules as packages named
``analytics/rules/violations*/`` whose ``__init__`` exports ``RULES: tuple[type[Rule], ...]``;
they are found at import time, so a scene config may use their ``type`` keys and an
unknown key still fails when the config loads.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from typing import Annotated, Any, Union

from pydantic import Field

import analytics.rules as rules_pkg
from analytics.rules.base import Rule
from analytics.rules.counting import LineCountRule
from analytics.rules.security import CrowdingRule, LoiteringRule, ZoneIntrusionRule
from analytics.rules.traffic import IllegalStoppingRule, WrongWayRule

log = logging.getLogger(__name__)

BUILTIN_RULES: tuple[type[Rule], ...] = (
    LineCountRule,
    ZoneIntrusionRule,
    LoiteringRule,
    CrowdingRule,
    WrongWayRule,
    IllegalStoppingRule,
)


def _plugin_rules() -> list[type[Rule]]:
    found: list[type[Rule]] = []
    for mod in pkgutil.iter_modules(rules_pkg.__path__):
        if not mod.name.startswith("violations"):
            continue
        module = importlib.import_module(f"analytics.rules.{mod.name}")
        for cls in getattr(module, "RULES", ()):
            if not (isinstance(cls, type) and issubclass(cls, Rule)):
                raise TypeError(f"analytics.rules.{mod.name}.RULES contains {cls!r}, which is not a Rule subclass")
            found.append(cls)
    return found


def all_rules() -> dict[str, type[Rule]]:
    """Rule classes by config ``type`` key; a duplicate key is an error."""
    out: dict[str, type[Rule]] = {}
    for cls in (*BUILTIN_RULES, *_plugin_rules()):
        if cls.key in out and out[cls.key] is not cls:
            raise TypeError(f"two rules use type key {cls.key!r}: {out[cls.key].__name__} and {cls.__name__}")
        out[cls.key] = cls
    return out


RULE_CLASSES: dict[str, type[Rule]] = all_rules()

_configs: tuple[Any, ...] = tuple(cls.config_class for cls in RULE_CLASSES.values())
RuleConfig = Annotated[Union[_configs], Field(discriminator="type")]  # noqa: UP007 - built from a tuple
"""Discriminated union of every registered rule config (``type`` picks the class)."""


def build_rule(config: Any) -> Rule:
    """The rule instance for a validated rule config."""
    try:
        cls = RULE_CLASSES[config.type]
    except KeyError as exc:
        raise KeyError(f"no rule registered for type {config.type!r}; known: {sorted(RULE_CLASSES)}") from exc
    return cls(config)
