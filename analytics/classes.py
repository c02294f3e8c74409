"""Object classes the analytics speak about.

Class ids are COCO ids, so a YOLOX output needs no second mapping and a reader of
the raw model output sees the same numbers. Only the classes that matter for
Vietnamese streets are kept by default; `traffic_light` is available for the red
light rule, and `motion` marks boxes found by the motion detector (no class known).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator

ClassName = Literal["person", "bicycle", "car", "motorcycle", "bus", "truck", "traffic_light", "motion"]

CLASS_IDS: dict[str, int] = {
    "person": 0,
    "bicycle": 1,
    "car": 2,
    "motorcycle": 3,
    "bus": 5,
    "truck": 7,
    "traffic_light": 9,
    "motion": 100,
}
CLASS_NAMES: dict[int, str] = {v: k for k, v in CLASS_IDS.items()}

ROAD_USERS: tuple[ClassName, ...] = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
VEHICLES: tuple[ClassName, ...] = ("bicycle", "car", "motorcycle", "bus", "truck")


def class_name(class_id: int) -> str:
    """The name of a class id; unknown ids read as ``"class_<id>"`` rather than failing."""
    return CLASS_NAMES.get(int(class_id), f"class_{int(class_id)}")


def class_ids(names: tuple[str, ...] | list[str]) -> list[int]:
    """Ids for class names, in the given order."""
    return [CLASS_IDS[name] for name in names]


def known_classes(names: list[str]) -> list[str]:
    """``names`` unchanged if every one is a known class, else ValueError naming the unknown ones."""
    unknown = [n for n in names if n not in CLASS_IDS]
    if unknown:
        raise ValueError(f"unknown classes {unknown}; known: {sorted(CLASS_IDS)}")
    return names


ClassNames = Annotated[list[str], AfterValidator(known_classes)]
"""A config field holding class names, each checked by `known_classes` when the config loads."""
