"""What every violation rule shares: evidence wishes, class lists, one hit per track."""

from __future__ import annotations

from pydantic import Field

from analytics.classes import VEHICLES, ClassNames
from analytics.rules.base import RuleConfigBase

# A violation goes to a police officer: the overview, the plate and the clip around it.
VIOLATION_EVIDENCE = ["overview", "plate", "clip"]
MOTOR_VEHICLES = [c for c in VEHICLES if c != "bicycle"]


class ViolationConfigBase(RuleConfigBase):
    """Base of violation rule configs: evidence for review by default, motor vehicles checked."""

    evidence: list[str] = Field(list(VIOLATION_EVIDENCE), max_length=8,
                                description="evidence kinds wished for each hit: overview, plate, clip, crop")
    classes: ClassNames = Field(list(MOTOR_VEHICLES), min_length=1, description="vehicle classes checked")

