"""What an event payload must be for the hub to store it: the rule edge and hub both apply.

PostgreSQL's ``jsonb`` and ``text`` refuse a NUL character and a lone UTF-16 surrogate,
JSON has no NaN or Infinity, and every reader of a payload recurses per nesting level.
The edge checks at enqueue (such an event never enters its outbox), the hub checks each
event of a batch (rejecting that one event, storing the rest).

Example::

    >>> value_problem({"plate": "59-X1 123.45", "speed": 41.5})
    >>> value_problem({"plate": "59\\x00X1"})
    'payload.plate: contains a NUL character (\\\\u0000), which PostgreSQL cannot store'
"""

from __future__ import annotations

import math
from typing import Any

MAX_PAYLOAD_DEPTH = 32
"""Deepest nesting of objects and arrays accepted in a payload (rule figures nest two or three)."""


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored, or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which PostgreSQL cannot store"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone UTF-16 surrogate (not valid Unicode text)"
    return None


def value_problem(value: Any, *, max_depth: int = MAX_PAYLOAD_DEPTH, root: str = "payload") -> str | None:
    """Why a JSON value cannot be stored as jsonb, or None: a NUL in a string or a key, a lone
    surrogate, NaN or an infinite number, nesting deeper than `max_depth`. Walks without
    recursion, so any depth is safe to check; ``root`` names the value in the message."""
    stack: list[tuple[Any, int, str]] = [(value, 1, root)]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return f"{where}: {problem}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{where}: {item!r} is not a finite number (NaN and Infinity cannot be stored)"
        elif isinstance(item, (dict, list, tuple)):
            if depth > max_depth:
                return f"{where}: nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key, child in item.items():
                    problem = text_problem(key) if isinstance(key, str) else None
                    if problem:
                        return f"{where}: key {key[:32]!r}: {problem}"
                    stack.append((child, depth + 1, f"{where}.{key}"[:80]))
            else:
                stack.extend((child, depth + 1, f"{where}[{i}]"[:80]) for i, child in enumerate(item))
    return None
