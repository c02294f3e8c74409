"""What every violation rule shares: evidence wishes, class lists, one hit per track."""

from __future__ import annotations

from pydantic import Field, field_validator

from analytics.classes import CLASS_IDS, VEHICLES
from analytics.rules.base import RuleConfigBase

# A violation goes to a police officer: the overview, the plate and the clip around it.
VIOLATION_EVIDENCE = ["overview", "plate", "clip"]
MOTOR_VEHICLES = [c for c in VEHICLES if c != "bicycle"]


def known_classes(value: list[str]) -> list[str]:
    """Validator: every name is an analytics class."""
    unknown = [c for c in value if c not in CLASS_IDS]
    if unknown:
        raise ValueError(f"unknown classes {unknown}; known: {sorted(CLASS_IDS)}")
    return value


class ViolationConfigBase(RuleConfigBase):
    """Base of violation rule configs: evidence for review by default, motor vehicles checked."""

    evidence: list[str] = Field(list(VIOLATION_EVIDENCE), max_length=8,
                                description="evidence kinds wished for each hit: overview, plate, clip, crop")
    classes: list[str] = Field(list(MOTOR_VEHICLES), min_length=1, description="vehicle classes checked")

    _classes = field_validator("classes")(classmethod(lambda cls, v: known_classes(v)))
