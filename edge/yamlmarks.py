"""Load YAML keeping where each value came from, so errors can name the file and line.

PyYAML's composed node tree carries a start mark (line, column) per node; pydantic's
error ``loc`` is a path of keys and indexes into the same structure. `line_of` walks the
node tree along the loc. Discriminated unions add the tag (``"yolox"``) to the loc,
which is not a key in the file: such steps are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import yaml

from edge.exceptions import ConfigError


def load_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """The parsed data and its node tree; `ConfigError` with file:line on a syntax error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {exc}") from exc
    return data, node


def locate(node: yaml.Node | None, loc: Sequence[str | int]) -> tuple[int | None, str]:
    """(1-based line, dotted field path) of the value at a pydantic error ``loc``.

    The line is that of the deepest part of the path the file has (a missing field
    points at its parent mapping). Steps that are not keys in the file, but are
    followed by ones that are, are union tags and are left out of the path.
    """
    path = ""
    current = node
    for i, step in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(step, int):
            path += f"[{step}]"
            if isinstance(current, yaml.SequenceNode) and 0 <= step < len(current.value):
                current = current.value[step]
            continue
        child = None
        if isinstance(current, yaml.MappingNode):
            child = next((v for k, v in current.value if isinstance(k, yaml.ScalarNode) and k.value == step), None)
        if child is None and not last and _is_tag(current, step):
            continue
        path += ("." if path else "") + step
        if child is not None:
            current = child
    line = current.start_mark.line + 1 if current is not None else None
    return line, path


def _is_tag(node: yaml.Node | None, step: str) -> bool:
    # A discriminated union puts the chosen `type` value (or a function-* name) in the loc.
    if step.startswith("function-"):
        return True
    if isinstance(node, yaml.MappingNode):
        return any(isinstance(k, yaml.ScalarNode) and k.value == "type" and getattr(v, "value", None) == step
                   for k, v in node.value)
    return False
