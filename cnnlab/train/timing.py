"""Where a run's wall time goes (``cnnlab train --profile``): ``lap(name)`` books the
time since the previous lap to ``name``, so consecutive parts add up to the total."""

from __future__ import annotations

import time


class Timings:
    def __init__(self):
        self.parts: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.parts[name] = self.parts.get(name, 0.0) + now - self._last
        self._last = now

    def rounded(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in self.parts.items()}

    def table(self) -> str:
        total = sum(self.parts.values()) or 1.0
        width = max(map(len, self.parts), default=0)
        rows = [f"  {name:<{width}}  {seconds:7.2f} s  {100 * seconds / total:5.1f} %" for name, seconds in self.parts.items()]
        return "\n".join(["time by part:", *rows, f"  {'total':<{width}}  {total:7.2f} s"])
