"""Exponential backoff with full jitter, for reconnecting and for retrying provisioning."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential backoff with full jitter: a delay drawn from [0, min(cap, base·2^n)]."""

    base_s: float = 1.0
    cap_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def ceiling(self) -> float:
        return min(self.cap_s, self.base_s * 2.0 ** min(self.attempt, 32))

    def next_delay(self) -> float:
        # Full jitter spreads 1,000 appliances that lost the console at once over the whole
        # window instead of letting them come back in synchronized waves.
        delay = self.rng.uniform(0, self.ceiling())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
