"""Control modes (policy / teleop / hold) and the e-stop latch.

- ``policy``: only the policy's command stream drives the arm; ``teleop``: only the teleop stream;
  ``hold``: nobody, the arm holds position.
- e-stop latches: while engaged every command is refused and the mode is ``hold``; releasing it
  leaves the arm in ``hold`` until a mode is requested explicitly.
- On policy failure (reported, or its stream stalled for too long) the arm is handed to teleop
  (``fallback_to_teleop``) or held.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..errors import ConfigError


class Mode(StrEnum):
    POLICY = "policy"
    TELEOP = "teleop"
    HOLD = "hold"


SOURCES = ("policy", "teleop")


def parse_mode(text: str) -> Mode:
    try:
        return Mode(text.strip().lower())
    except ValueError:
        raise ConfigError(f"unknown control mode {text!r}; use one of {[m.value for m in Mode]}") from None


@dataclass(frozen=True)
class Transition:
    t: float
    old: Mode
    new: Mode
    reason: str


class ModeManager:
    def __init__(self, initial: Mode | str = Mode.HOLD, fallback_to_teleop: bool = True):
        self.mode = parse_mode(initial) if isinstance(initial, str) else initial
        self.fallback_to_teleop = fallback_to_teleop
        self.estopped = False
        self.estop_reason = ""
        self.history: list[Transition] = []

    def _switch(self, new: Mode, reason: str, now: float) -> None:
        if new != self.mode:
            self.history.append(Transition(now, self.mode, new, reason))
            self.mode = new

    def request(self, mode: Mode | str, now: float, reason: str = "requested") -> tuple[bool, str]:
        """Switch mode on request; refused while the e-stop is engaged."""
        try:
            new = parse_mode(mode) if isinstance(mode, str) else mode
        except ConfigError as exc:
            return False, str(exc)
        if self.estopped:
            return False, f"e-stop is engaged ({self.estop_reason}); release it before selecting '{new.value}'"
        old = self.mode
        self._switch(new, reason, now)
        return True, f"mode {old.value} -> {new.value}" if old != new else f"already in mode {new.value}"

    def engage_estop(self, now: float, reason: str = "e_stop requested") -> None:
        self.estopped, self.estop_reason = True, reason
        self._switch(Mode.HOLD, f"e-stop: {reason}", now)

    def release_estop(self, now: float) -> None:
        if self.estopped:
            self.estopped, self.estop_reason = False, ""
            self.history.append(Transition(now, self.mode, self.mode, "e-stop released"))

    def policy_failed(self, now: float, reason: str) -> Mode:
        """Hand the arm over after a policy failure; returns the new mode."""
        if self.mode == Mode.POLICY and not self.estopped:
            self._switch(Mode.TELEOP if self.fallback_to_teleop else Mode.HOLD, f"policy failure: {reason}", now)
        return self.mode

    def accepts(self, source: str) -> tuple[bool, str]:
        if source not in SOURCES:
            return False, f"unknown command source {source!r} (known: {list(SOURCES)})"
        if self.estopped:
            return False, f"e-stop engaged ({self.estop_reason})"
        if self.mode.value != source:
            return False, f"mode is '{self.mode.value}', commands from '{source}' are ignored"
        return True, ""
