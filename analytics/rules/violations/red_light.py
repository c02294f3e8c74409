"""Red light: a vehicle crosses the stop line, into the junction, while the signal is red."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from analytics.rules.base import Rule, RuleHit, SceneState
from analytics.rules.violations.common import ViolationConfigBase
from analytics.rules.violations.exceptions import RuleConfigError
from analytics.rules.violations.signal import SIGNALS, SignalColour, SignalTimeline, classify_lamp
from contract import ConfigModel


class FrameSignalConfig(ConfigModel):
    """Read the signal from the picture: the lit colour inside a region around the signal head.

    Example::

        FrameSignalConfig(roi=(1180, 40, 1212, 120), debounce_frames=2)
    """

    source: Literal["frame"] = "frame"
    roi: tuple[int, int, int, int] = Field(description="x1, y1, x2, y2 of the signal head in frame pixels")
    min_saturation: int = Field(90, ge=0, le=255, description="HSV saturation of a lit lamp")
    min_value: int = Field(150, ge=0, le=255, description="HSV brightness of a lit lamp")
    min_lit_fraction: float = Field(0.02, gt=0.0, le=1.0, description="share of the region that must be lit")
    debounce_frames: int = Field(2, ge=1, le=30, description="readings in a row before the phase changes (LED flicker)")


class ExternalSignalConfig(ConfigModel):
    """Take the signal from the controller feed (HTTP POST or MQTT into the edge's signal board).

    Example::

        ExternalSignalConfig(signal_id="nga-tu-hang-xanh/bac")
    """

    source: Literal["external"] = "external"
    signal_id: str = Field(min_length=1, max_length=128, description="id the controller feed publishes under")


SignalSourceConfig = Annotated[Union[FrameSignalConfig, ExternalSignalConfig], Field(discriminator="source")]  # noqa: UP007


class RedLightConfig(ViolationConfigBase):
    """Crossing ``stop_line`` in ``direction`` while the signal is red.

    Amber is a grace (not a violation) unless ``amber_is_violation``; so are the first
    ``red_grace_s`` seconds of red, for the vehicle already committed when it turned.

    Example::

        RedLightConfig(stop_line="stop", direction="in",
                       signal=FrameSignalConfig(roi=(1180, 40, 1212, 120)), red_grace_s=0.5)
    """

    type: Literal["red_light"] = "red_light"
    stop_line: str = Field("stop_line", min_length=1, description="scene line drawn on the stop line")
    direction: str = Field("in", min_length=1, max_length=32, description="crossing direction that enters the junction")
    signal: SignalSourceConfig = Field(description="where the signal state comes from")
    red_grace_s: float = Field(0.5, ge=0.0, le=10.0, description="crossings this soon after red started are let go")
    amber_is_violation: bool = Field(False, description="also report crossings on amber")


class RedLightRule(Rule):
    """One ``traffic.red_light`` hit per vehicle that crosses on red.

    Example::

        rule = RedLightRule(RedLightConfig(stop_line="stop", signal=ExternalSignalConfig(signal_id="j1/n")))
        hits = rule.evaluate(state)   # payload: signal, red_for_s, stop_line
    """

    key = "red_light"
    config_class = RedLightConfig
    event_type = "traffic.red_light"
    default_severity = "warning"

    def __init__(self, config: RedLightConfig) -> None:
        super().__init__(config)
        self.config: RedLightConfig = config
        self._own = SignalTimeline()  # frame-read signal: this camera's own history
        self._pending: tuple[SignalColour, float, int] | None = None  # colour, first seen, count
        self._stable: SignalColour | None = None
        self._alerted: set[int] = set()

    def references(self) -> dict[str, list[str]]:
        return {"lines": [self.config.stop_line]}

    @property
    def timeline(self) -> SignalTimeline:
        """Where the signal state is read from (own frame readings or the shared board)."""
        sig = self.config.signal
        return SIGNALS.timeline(sig.signal_id) if isinstance(sig, ExternalSignalConfig) else self._own

    def _read_frame(self, state: SceneState) -> None:
        sig = self.config.signal
        if not isinstance(sig, FrameSignalConfig):
            return
        colour: SignalColour = "unknown"
        if state.frame is not None:
            colour = classify_lamp(state.frame, sig.roi, min_saturation=sig.min_saturation,
                                   min_value=sig.min_value, min_lit_fraction=sig.min_lit_fraction).colour
        if self._pending is None or self._pending[0] != colour:
            self._pending = (colour, state.ts, 1)
        else:
            self._pending = (colour, self._pending[1], self._pending[2] + 1)
        if self._pending[2] >= sig.debounce_frames and colour != self._stable:
            self._stable = colour
            self._own.record(self._pending[1], colour)  # the phase began at its first reading

    def evaluate(self, state: SceneState) -> list[RuleHit]:
        line = state.lines[self.config.stop_line].config
        if self.config.direction not in (line.in_name, line.out_name):
            # Caught on the first frame: a misspelt direction would otherwise never fire, silently.
            raise RuleConfigError(f"red_light direction {self.config.direction!r} is not a direction of line "
                                   f"{line.name!r} ({line.in_name!r} or {line.out_name!r})")
        self._read_frame(state)
        self._alerted -= state.ended
        hits: list[RuleHit] = []
        for c in state.crossings:
            if c.line != self.config.stop_line or c.direction != self.config.direction or c.track_id in self._alerted:
                continue
            h = state.history.get(c.track_id)
            if h is None or h.class_name not in self.config.classes:
                continue
            colour, since = self.timeline.state_at(c.ts)
            into = round(c.ts - since, 2)
            if colour == "red" and into >= self.config.red_grace_s or colour == "amber" and self.config.amber_is_violation:
                self._alerted.add(c.track_id)
                payload = {"line": self.config.stop_line, "signal": colour, "signal_for_s": into,
                           "signal_source": self.config.signal.source}
                if isinstance(self.config.signal, FrameSignalConfig):
                    payload["signal_roi"] = list(self.config.signal.roi)  # drawn on the evidence
                hits.append(self.hit(state, c.track_id, payload))
        return hits
