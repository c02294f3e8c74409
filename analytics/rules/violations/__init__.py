"""Traffic violation rules: each its own config (``type`` key) and ``traffic.*`` hits that wish
for evidence (overview, plate close-up, clip). Found by `analytics.rules.registry` through
``RULES``; docs/violations.md describes each rule and its configuration.

| type | event | needs |
| --- | --- | --- |
| ``red_light`` | traffic.red_light | stop line + signal (frame region or controller feed) |
| ``wrong_way_violation`` | traffic.wrong_way | lanes with a direction |
| ``no_stopping`` | traffic.illegal_stopping | no-stopping zone, limits per class |
| ``solid_line`` | traffic.solid_line | lines drawn on solid markings |
| ``lane_restriction`` | traffic.lane_violation | a zone over the restricted lane |
| ``speeding`` | traffic.speeding | two lines + a road-plane calibration |
| ``no_helmet`` | traffic.no_helmet | an ONNX classifier (off without one) |
"""

from analytics.rules.violations.helmet import NoHelmetConfig, NoHelmetRule
from analytics.rules.violations.lanes import LaneRestrictionConfig, LaneRestrictionRule, SolidLineConfig, SolidLineRule
from analytics.rules.violations.promoted import NoStoppingConfig, NoStoppingRule, WrongWayViolationConfig, WrongWayViolationRule
from analytics.rules.violations.red_light import ExternalSignalConfig, FrameSignalConfig, RedLightConfig, RedLightRule
from analytics.rules.violations.speed import CalibrationConfig, RoadPlane, SpeedingConfig, SpeedingRule

RULES = (
    RedLightRule,
    WrongWayViolationRule,
    NoStoppingRule,
    SolidLineRule,
    LaneRestrictionRule,
    SpeedingRule,
    NoHelmetRule,
)

__all__ = [
    "RULES",
    "CalibrationConfig",
    "ExternalSignalConfig",
    "FrameSignalConfig",
    "LaneRestrictionConfig",
    "LaneRestrictionRule",
    "NoHelmetConfig",
    "NoHelmetRule",
    "NoStoppingConfig",
    "NoStoppingRule",
    "RedLightConfig",
    "RedLightRule",
    "RoadPlane",
    "SolidLineConfig",
    "SolidLineRule",
    "SpeedingConfig",
    "SpeedingRule",
    "WrongWayViolationConfig",
    "WrongWayViolationRule",
]
