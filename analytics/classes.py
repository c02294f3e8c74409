"""The road users the analytics speak about: one product vocabulary, whatever the model.

Vietnamese traffic law is about the vehicle with its rider: a ``motorbike`` is the
two-wheeler *with* its rider or riders, one object. The product's classes are

    pedestrian, bicycle, motorbike, car, bus, truck, traffic_light, motion

Detectors take their class names from the model (ONNX metadata or a side file installed
with it, see `analytics.detectors.classmap`) and map each name onto this vocabulary through
`ALIASES` (a COCO model's ``person`` is a ``pedestrian`` until road-user fusion makes a
rider of it, its ``motorcycle`` a ``motorbike``). Model outputs with no product meaning
(a COCO ``dog``) are dropped by the detector. Ids are fixed here, so every stage and the
evidence speak the same numbers whichever model produced them; ``motion`` marks boxes
found by the motion detector (no class known).

Site files written before the vocabulary changed still load: config fields typed
`ClassNames` accept the old COCO spellings and store the product name.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator

ClassName = Literal["pedestrian", "bicycle", "motorbike", "car", "bus", "truck", "traffic_light", "motion"]

CLASS_IDS: dict[str, int] = {
    "pedestrian": 0,
    "bicycle": 1,
    "car": 2,
    "motorbike": 3,
    "bus": 5,
    "truck": 7,
    "traffic_light": 9,
    "motion": 100,
}
CLASS_NAMES: dict[int, str] = {v: k for k, v in CLASS_IDS.items()}

ALIASES: dict[str, str] = {
    "person": "pedestrian",
    "people": "pedestrian",
    "motorcycle": "motorbike",
    "motor": "motorbike",
    "scooter": "motorbike",
    "moped": "motorbike",
    "bike": "bicycle",
    "traffic light": "traffic_light",
    "van": "car",
}
"""Other spellings of product classes (COCO's, older site files', common data sets')."""

ROAD_USERS: tuple[ClassName, ...] = ("pedestrian", "bicycle", "motorbike", "car", "bus", "truck")
VEHICLES: tuple[ClassName, ...] = ("bicycle", "motorbike", "car", "bus", "truck")
TWO_WHEELERS: tuple[ClassName, ...] = ("bicycle", "motorbike")

FAMILIES: dict[str, str] = {
    "pedestrian": "person",
    "bicycle": "two_wheeler",
    "motorbike": "two_wheeler",
    "car": "four_wheeler",
    "bus": "four_wheeler",
    "truck": "four_wheeler",
    "traffic_light": "signal",
    "motion": "motion",
}
"""Class families: NMS never suppresses across families (a rider's box must not suppress the
bike under it), while a pickup seen as both ``car`` and ``truck`` is one box."""

TRACK_FAMILIES: dict[str, str] = FAMILIES | {"pedestrian": "two_wheeler"}
"""Families the tracker keeps apart: a track never jumps between a two-wheeler and a
four-wheeler (a rider's box swapping to the car behind). A pedestrian shares the
two-wheelers' family here: a rider whose bike the model missed in one frame comes out as
``pedestrian`` there, and must keep its track; its class is decided by vote
(`analytics.rules.base.TrackHistory.class_id`)."""


def canonical(name: str) -> str | None:
    """The product class for a model's or a config's class name, or None when it has none."""
    key = name.strip().lower().replace("-", "_")
    if key in CLASS_IDS:
        return key
    return ALIASES.get(key) or ALIASES.get(key.replace("_", " "))


def class_name(class_id: int) -> str:
    """The name of a class id; unknown ids read as ``"class_<id>"`` rather than failing."""
    return CLASS_NAMES.get(int(class_id), f"class_{int(class_id)}")


def class_ids(names: tuple[str, ...] | list[str]) -> list[int]:
    """Ids for class names (product names or their aliases), in the given order."""
    return [CLASS_IDS[canonical(name) or name] for name in names]


def family_of(class_id: int) -> str:
    """The family of a class id (``"two_wheeler"``, ``"four_wheeler"``, ...); unknown ids are their own."""
    return FAMILIES.get(class_name(class_id), f"class_{int(class_id)}")


def known_classes(names: list[str]) -> list[str]:
    """``names`` as product names (aliases resolved), else ValueError naming the unknown ones."""
    if not isinstance(names, list):
        return names  # pydantic reports the type error itself
    out, unknown = [], []
    for n in names:
        c = canonical(n) if isinstance(n, str) else None
        (out.append(c) if c else unknown.append(n))
    if unknown:
        raise ValueError(f"unknown classes {unknown}; known: {sorted(CLASS_IDS)} (or {sorted(ALIASES)})")
    return list(dict.fromkeys(out))


ClassNames = Annotated[list[str], BeforeValidator(known_classes)]
"""A config field holding class names, checked and resolved to product names when the config loads."""
